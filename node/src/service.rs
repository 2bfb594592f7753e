//! Client RPC handling (DESIGN §5): every request a client sends to this node,
//! directly or at the end of an onion path, goes through [`Service`].
//!
//! Checks run cheapest first: the bounded decode and field checks of the
//! protocol, then whether this node is in the account's swarm, then the
//! owner's signature (one Ed25519 verification), then the account's store
//! rate; only then does the node touch its store. Every refusal is a typed
//! [`Response::Error`] carrying the node's clock, and every request is
//! counted by kind and outcome.
//!
//! Stores are acknowledged only once they are on this node's disk and a
//! quorum of the swarm holds them (the [`Pusher`] does the pushing). Deletes
//! and expiry changes are pushed in the background: the owner's signed request
//! reaches the rest of the swarm by retries or anti-entropy even if no member
//! answers now.

mod blocking;
mod rate;
mod read;
mod write;

use std::sync::{Arc, Mutex};

use libp2p::PeerId;
use sotto_protocol::rpc::{ErrorKind, Request, Response, RpcError};
use sotto_protocol::{AccountId, UnixMillis};
use tokio::sync::Semaphore;

use crate::context::{Context, Pusher};

pub use rate::RateLimiter;

/// Handles client RPC requests for one node.
#[derive(Debug)]
pub struct Service {
    ctx: Arc<Context>,
    pusher: Arc<dyn Pusher>,
    rate: Mutex<RateLimiter>,
    /// Permits for retrieves waiting for a message (long polls).
    long_polls: Arc<Semaphore>,
    /// Permits for delete and expiry pushes running in the background.
    background: Arc<Semaphore>,
}

/// The metrics label of requests that did not decode.
const UNDECODED: &str = "undecoded";

impl Service {
    /// A service over the node's shared state, pushing writes with `pusher`.
    pub fn new(ctx: Arc<Context>, pusher: Arc<dyn Pusher>) -> Self {
        let limits = &ctx.config.limits;
        let rate = RateLimiter::new(
            limits.store_rate_per_minute,
            limits.store_burst,
            limits.rate_tracked_accounts,
        );
        // tokio refuses (panics on) more permits than MAX_PERMITS; a config
        // asking for more gets the most there can be.
        let permits = |n: usize| n.min(Semaphore::MAX_PERMITS);
        let long_polls = Arc::new(Semaphore::new(permits(limits.max_long_polls)));
        let background = Arc::new(Semaphore::new(permits(
            limits.max_concurrent_requests.max(1),
        )));
        Self {
            ctx,
            pusher,
            rate: Mutex::new(rate),
            long_polls,
            background,
        }
    }

    /// Decodes, checks and runs one request from `peer`; always returns an
    /// encoded Response (an error response for bad input). Never panics on any
    /// input.
    pub async fn handle_bytes(&self, peer: PeerId, bytes: &[u8]) -> Vec<u8> {
        let request = match Request::decode(bytes) {
            Ok(r) => r,
            Err(e) => {
                let error = RpcError::from_error(&e, self.now());
                tracing::debug!(%peer, len = bytes.len(), "refused RPC request: {e}");
                self.ctx.metrics.rejected.inc("rpc", error.kind.name());
                return self.finish(UNDECODED, Response::Error(error)).1;
            }
        };
        let kind = request.kind();
        let response = self.run(request).await;
        self.finish(kind, response).1
    }

    /// The same, from a decoded request (the onion relay will call this later
    /// for requests that arrive in a packet).
    pub async fn handle(&self, request: Request) -> Response {
        let kind = request.kind();
        // Decoding validated a request from the wire; one built in-process has
        // not been, and validation is cheap.
        let response = match request.validate() {
            Ok(()) => self.run(request).await,
            Err(e) => {
                let error = RpcError::from_error(&e, self.now());
                self.ctx.metrics.rejected.inc("rpc", error.kind.name());
                Response::Error(error)
            }
        };
        self.finish(kind, response).0
    }

    /// The checks after decoding, then the request itself.
    async fn run(&self, request: Request) -> Response {
        let now = self.now();
        if self.ctx.store.failed().is_some() {
            // The node is on its way down: say so rather than half-answer.
            return self.error(
                ErrorKind::Unavailable,
                "the node is stopping after a storage failure",
            );
        }
        let mut swarm_len = 1;
        if let Some(account) = request.swarm_account() {
            match self.swarm_check(&account) {
                Ok(len) => swarm_len = len,
                Err(refusal) => return refusal,
            }
        }
        if let Err(e) = request.authorize(&self.ctx.params.name, now) {
            let error = RpcError::from_auth(&e, self.now());
            self.ctx.metrics.rejected.inc("rpc", error.kind.name());
            return Response::Error(error);
        }
        match request {
            Request::Store(req) => {
                if let Err(retry_after_ms) = self.rate_check(&req.account, now) {
                    self.ctx.metrics.rejected.inc("rpc", "rate_limited");
                    return self.error(
                        ErrorKind::RateLimited { retry_after_ms },
                        "this account's store rate on this node is used up",
                    );
                }
                self.store(req, now, swarm_len).await
            }
            Request::Retrieve(req) => self.retrieve(req).await,
            Request::Delete(req) => self.delete(req, now).await,
            Request::Expire(req) => self.expire(req, now).await,
            Request::GetSwarm { account } => {
                let records = self.ctx.dir(|d| d.signed_records(&d.swarm(&account)));
                Response::Swarm { records }
            }
            Request::GetDirectory { after, limit } => {
                let (records, next) = self.ctx.dir(|d| d.page(after, usize::from(limit)));
                Response::Directory { records, next }
            }
            Request::Ping => Response::Pong { node_time: now },
        }
    }

    /// `Ok(members)` if this node is in `account`'s swarm (by its directory),
    /// or the `WrongSwarm` answer pointing to the swarm it believes in.
    fn swarm_check(&self, account: &AccountId) -> Result<usize, Response> {
        let node = self.ctx.node_id;
        self.ctx.dir(|d| {
            let swarm = d.swarm(account);
            if swarm.contains(&node) {
                Ok(swarm.len())
            } else {
                let swarm = d.signed_records(&swarm);
                Err(Response::error(
                    ErrorKind::WrongSwarm { swarm },
                    "ask a member of the account's swarm",
                    self.now(),
                ))
            }
        })
    }

    fn rate_check(&self, account: &AccountId, now: UnixMillis) -> Result<(), u64> {
        // The critical section is a few map operations; a poisoned lock only
        // means another thread panicked between them, and every bucket is
        // valid on its own.
        let mut rate = match self.rate.lock() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        rate.check(account, now)
    }

    /// Encodes `response` (an `Internal` error if it does not encode within the
    /// protocol's bounds) and counts the request by `kind` and outcome.
    fn finish(&self, kind: &'static str, response: Response) -> (Response, Vec<u8>) {
        let (response, bytes) = match response.encode() {
            Ok(bytes) => (response, bytes),
            Err(e) => {
                tracing::error!(kind, "could not encode the answer: {e}");
                let internal = self.error(ErrorKind::Internal, "the answer could not be encoded");
                // A short error always encodes; were it not to, the peer gets
                // an empty answer, which its decoder refuses.
                let bytes = internal.encode().unwrap_or_default();
                (internal, bytes)
            }
        };
        let outcome = match &response {
            Response::Error(e) => e.kind.name(),
            _ => "ok",
        };
        self.ctx.metrics.requests.inc(kind, outcome);
        (response, bytes)
    }

    /// An error answer carrying the node's clock now.
    fn error(&self, kind: ErrorKind, message: impl Into<String>) -> Response {
        Response::error(kind, message, self.now())
    }

    fn now(&self) -> UnixMillis {
        self.ctx.clock.now()
    }
}
