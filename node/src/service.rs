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
mod deliver;
mod rate;
mod read;
mod wait;
mod write;

use std::sync::{Arc, Mutex};

use libp2p::PeerId;
use sotto_protocol::constants::MAX_DIRECTORY_SCAN;
use sotto_protocol::rpc::{ErrorKind, Pass, Request, Response, RpcError};
use sotto_protocol::{AccountId, Namespace, UnixMillis};
use tokio::sync::{Semaphore, oneshot};

use crate::context::{Context, Pusher};

use blocking::Failure;
pub use rate::RateLimiter;
pub use wait::{DEFAULT_MAX_WAITERS_PER_ACCOUNT, Reply, Waiters};

/// What a client is told to wait when the node holds all the waiting
/// retrieves it allows: long enough that a crowd of pollers spreads out.
const WAITERS_FULL_RETRY_MS: u64 = 5_000;

/// Where a request got to.
enum Step {
    /// Its answer.
    Now(Response),
    /// A retrieve that found nothing and waits: the caller parks it.
    Wait(read::Wait),
}

/// Handles client RPC requests for one node.
#[derive(Debug)]
pub struct Service {
    ctx: Arc<Context>,
    pusher: Arc<dyn Pusher>,
    rate: Mutex<RateLimiter>,
    /// The node's one bucket for clients' chunk stores (chunks have no owner
    /// to charge: [`Service::charge_chunk`]).
    chunk_rate: Mutex<RateLimiter>,
    /// Message-request buckets per account ([`Service::charge_request`]):
    /// strangers' deliveries never take from the contacts' store rate.
    request_rate: Mutex<RateLimiter>,
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
        ctx.waiters
            .set_limits(limits.max_long_polls, DEFAULT_MAX_WAITERS_PER_ACCOUNT);
        let background = Arc::new(Semaphore::new(permits(
            limits.max_concurrent_requests.max(1),
        )));
        let chunk_rate = RateLimiter::new(limits.chunk_rate_per_minute, limits.chunk_burst, 1);
        let request_rate = RateLimiter::new(
            limits.request_rate_per_minute,
            limits.request_burst,
            limits.rate_tracked_accounts,
        );
        Self {
            ctx,
            pusher,
            rate: Mutex::new(rate),
            chunk_rate: Mutex::new(chunk_rate),
            request_rate: Mutex::new(request_rate),
            background,
        }
    }

    /// Decodes, checks and runs one request from `peer`; always returns an
    /// encoded Response (an error response for bad input). Never panics on any
    /// input. A waiting retrieve is parked and awaited here.
    pub async fn handle_bytes(&self, peer: PeerId, bytes: &[u8]) -> Vec<u8> {
        let (tx, rx) = oneshot::channel();
        self.handle_bytes_then(peer, bytes, move |out| {
            let _ = tx.send(out);
        })
        .await;
        match rx.await {
            Ok(out) => out,
            // The waiter was dropped (the node is stopping).
            Err(_) => {
                let stopping = self.error(ErrorKind::Unavailable, "the node is stopping");
                stopping.encode().unwrap_or_default()
            }
        }
    }

    /// The same, answering through `respond`. Returns `true` when the request
    /// was parked (a waiting retrieve): `respond` is then called later, from
    /// the task serving waiters, and the caller's request slot can be freed.
    pub async fn handle_bytes_then(
        &self,
        peer: PeerId,
        bytes: &[u8],
        respond: impl FnOnce(Vec<u8>) + Send + 'static,
    ) -> bool {
        let request = match Request::decode(bytes) {
            Ok(r) => r,
            Err(e) => {
                let error = RpcError::from_error(&e, self.now());
                tracing::debug!(%peer, len = bytes.len(), "refused RPC request: {e}");
                self.ctx.metrics.rejected.inc("rpc", error.kind.name());
                respond(self.finish(UNDECODED, Response::Error(error)).1);
                return false;
            }
        };
        let kind = request.kind();
        match self.run(request).await {
            Step::Now(response) => {
                respond(self.finish(kind, response).1);
                false
            }
            Step::Wait(wait) => {
                let ctx = self.ctx.clone();
                self.park(
                    wait,
                    Box::new(move |response| respond(finish(&ctx, kind, response).1)),
                )
            }
        }
    }

    /// The same, from a decoded request (the onion relay calls this for
    /// requests that arrive in a packet).
    pub async fn handle(&self, request: Request) -> Response {
        let (tx, rx) = oneshot::channel();
        self.handle_then(request, move |(response, _)| {
            let _ = tx.send(response);
        })
        .await;
        match rx.await {
            Ok(response) => response,
            Err(_) => self.error(ErrorKind::Unavailable, "the node is stopping"),
        }
    }

    /// [`Service::handle`], answering through `respond` with the response
    /// and its encoding (counted). Returns `true` when the request was
    /// parked (a waiting retrieve): `respond` is then called later, from the
    /// task serving waiters, nothing else waits for it, and the caller can
    /// free its request slot.
    pub async fn handle_then(
        &self,
        request: Request,
        respond: impl FnOnce((Response, Vec<u8>)) + Send + 'static,
    ) -> bool {
        let kind = request.kind();
        // Decoding validated a request from the wire; one built in-process has
        // not been, and validation is cheap.
        let step = match request.validate() {
            Ok(()) => self.run(request).await,
            Err(e) => {
                let error = RpcError::from_error(&e, self.now());
                self.ctx.metrics.rejected.inc("rpc", error.kind.name());
                Step::Now(Response::Error(error))
            }
        };
        match step {
            Step::Now(response) => {
                respond(self.finish(kind, response));
                false
            }
            Step::Wait(wait) => {
                let ctx = self.ctx.clone();
                self.park(
                    wait,
                    Box::new(move |response| respond(finish(&ctx, kind, response))),
                )
            }
        }
    }

    /// Parks a waiting retrieve; `true` if it is parked, `false` if it was
    /// answered at once (`RateLimited`: the node holds all the waiters it
    /// allows).
    fn park(&self, wait: read::Wait, reply: Reply) -> bool {
        self.serve_waiters();
        let (parked, epoch) = wait.into_parked(reply);
        match self.ctx.waiters.park(parked, epoch) {
            Ok(()) => true,
            Err((why, reply)) => {
                let reason = match why {
                    wait::ParkRefused::Full => "waiters_full",
                    wait::ParkRefused::AccountFull => "account_waiters_full",
                };
                self.ctx.metrics.rejected.inc("rpc", reason);
                reply(self.error(
                    ErrorKind::RateLimited {
                        retry_after_ms: WAITERS_FULL_RETRY_MS,
                    },
                    "this node holds as many waiting retrieves as it allows: ask again later",
                ));
                false
            }
        }
    }

    /// The checks after decoding, then the request itself.
    async fn run(&self, request: Request) -> Step {
        let now = self.now();
        if self.ctx.store.failed().is_some() {
            // The node is on its way down: say so rather than half-answer.
            return Step::Now(self.error(
                ErrorKind::Unavailable,
                "the node is stopping after a storage failure",
            ));
        }
        let mut swarm_len = 1;
        if let Some(account) = request.swarm_account() {
            match self.swarm_check(&account) {
                Ok(len) => swarm_len = len,
                Err(refusal) => return Step::Now(refusal),
            }
        }
        if let Err(e) = request.authorize(&self.ctx.params.name, now) {
            let error = RpcError::from_auth(&e, self.now());
            self.ctx.metrics.rejected.inc("rpc", error.kind.name());
            return Step::Now(Response::Error(error));
        }
        let response = match request {
            Request::Store(req) => {
                // A plain store into an inbox whose owner gave out a delivery
                // token is a stranger's: it goes to the requests, with postage.
                if req.namespace == Namespace::INBOX
                    && let Err(refusal) = self.check_token(&req.account, None, now).await
                {
                    return Step::Now(refusal);
                }
                if let Err(refusal) = self.charge(&req.account, 1, now) {
                    return Step::Now(refusal);
                }
                self.store(req, now, swarm_len).await
            }
            Request::Deliver(d) => {
                let account = d.store.account;
                let charged = match d.pass {
                    Pass::Token(token) => {
                        match self.check_token(&account, Some(token), now).await {
                            Ok(()) => self.charge(&account, 1, now),
                            Err(refusal) => Err(refusal),
                        }
                    }
                    // The postage was checked with the request's shape.
                    Pass::Postage(_) => self.charge_request(&account, now),
                };
                if let Err(refusal) = charged {
                    return Step::Now(refusal);
                }
                self.store(d.store, now, swarm_len).await
            }
            Request::StoreChunk(req) => {
                if let Err(refusal) = self.charge_chunk(now) {
                    return Step::Now(refusal);
                }
                self.store(req.to_store(), now, swarm_len).await
            }
            Request::Retrieve(req) => return self.retrieve(req).await,
            // Deletes and expiry changes write (tombstones, records) on every
            // member and flush: they take from the same bucket as stores, by
            // how many hashes they name.
            Request::Delete(req) => {
                if let Err(refusal) = self.charge(&req.account, write_cost(req.hashes.len()), now) {
                    return Step::Now(refusal);
                }
                self.delete(req, now).await
            }
            Request::Expire(req) => {
                if let Err(refusal) = self.charge(&req.account, write_cost(req.hashes.len()), now) {
                    return Step::Now(refusal);
                }
                self.expire(req, now).await
            }
            Request::GetSwarm { account } => {
                let records = self.ctx.dir(|d| d.signed_records(&d.swarm(&account)));
                Response::Swarm { records }
            }
            Request::GetDirectory { after, limit } => {
                let (records, next) = self.ctx.dir(|d| d.page(after, usize::from(limit)));
                Response::Directory { records, next }
            }
            Request::GetDirectoryDelta { after, limit, held } => {
                let (records, next) = self
                    .ctx
                    .dir(|d| d.page_missing(after, usize::from(limit), &held, MAX_DIRECTORY_SCAN));
                Response::Directory { records, next }
            }
            Request::Ping => Response::Pong { node_time: now },
        };
        Step::Now(response)
    }

    /// Takes `cost` tokens of `account`'s write rate, or the `RateLimited`
    /// answer saying when to come back.
    fn charge(&self, account: &AccountId, cost: u64, now: UnixMillis) -> Result<(), Response> {
        self.rate_check(account, cost, now)
            .map_err(|retry_after_ms| {
                self.ctx.metrics.rejected.inc("rpc", "rate_limited");
                self.error(
                    ErrorKind::RateLimited { retry_after_ms },
                    "this account's write rate on this node is used up",
                )
            })
    }

    /// Takes one token of the node's chunk bucket, or the `RateLimited`
    /// answer. Chunks come from anyone through onion paths, so no sender can
    /// be told apart: the bucket bounds how fast the node's chunk space and
    /// disk are written, postage bounds what filling it costs, and an honest
    /// uploader told to wait tries another member of the chunk's swarm.
    fn charge_chunk(&self, now: UnixMillis) -> Result<(), Response> {
        let mut rate = match self.chunk_rate.lock() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        rate.check(&chunk_bucket(), now).map_err(|retry_after_ms| {
            self.ctx.metrics.rejected.inc("rpc", "chunk_rate_limited");
            self.error(
                ErrorKind::RateLimited { retry_after_ms },
                "this node takes no more attachment chunks for now",
            )
        })
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

    fn rate_check(&self, account: &AccountId, cost: u64, now: UnixMillis) -> Result<(), u64> {
        // The critical section is a few map operations; a poisoned lock only
        // means another thread panicked between them, and every bucket is
        // valid on its own.
        let mut rate = match self.rate.lock() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        rate.check_n(account, cost, now)
    }

    /// Encodes `response` and counts it ([`finish`]).
    fn finish(&self, kind: &'static str, response: Response) -> (Response, Vec<u8>) {
        finish(&self.ctx, kind, response)
    }

    /// An error answer carrying the node's clock now.
    fn error(&self, kind: ErrorKind, message: impl Into<String>) -> Response {
        Response::error(kind, message, self.now())
    }

    fn now(&self) -> UnixMillis {
        self.ctx.clock.now()
    }
}

/// Encodes `response` (an `Internal` error if it does not encode within the
/// protocol's bounds) and counts the request by `kind` and outcome.
fn finish(ctx: &Context, kind: &'static str, response: Response) -> (Response, Vec<u8>) {
    let (response, bytes) = match response.encode() {
        Ok(bytes) => (response, bytes),
        Err(e) => {
            tracing::error!(kind, "could not encode the answer: {e}");
            let internal = Response::error(
                ErrorKind::Internal,
                "the answer could not be encoded",
                ctx.clock.now(),
            );
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
    ctx.metrics.requests.inc(kind, outcome);
    (response, bytes)
}

/// The key of the chunk bucket: any valid account id does, as the limiter
/// holds this one bucket only.
fn chunk_bucket() -> AccountId {
    static KEY: std::sync::OnceLock<AccountId> = std::sync::OnceLock::new();
    *KEY.get_or_init(|| sotto_protocol::attachment::ChunkHash([0; 32]).account())
}

/// Rate tokens a delete or expiry change of `hashes` hashes takes: one per
/// started group of [`HASHES_PER_TOKEN`], as a store takes one.
fn write_cost(hashes: usize) -> u64 {
    (hashes as u64).div_ceil(HASHES_PER_TOKEN).max(1)
}

/// Hashes of a delete or expiry change that cost as much as one store: a
/// tombstone or expiry record is small next to a message, but each is a
/// write on every member.
const HASHES_PER_TOKEN: u64 = 16;
