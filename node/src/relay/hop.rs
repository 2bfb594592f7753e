//! The I/O after a layer is peeled: forwarding to the next hop and wrapping
//! its answer, or handling the request at the destination and sealing the
//! answer.

use std::sync::Arc;

use libp2p::PeerId;
use sotto_protocol::NodeId;
use sotto_protocol::constants::{MAX_ONION_RESPONSE, ONION_RESPONSE_CLASSES};
use sotto_protocol::onion::{ReplayTag, ReplyKey, replay_tag, seal_response, wrap_response};
use sotto_protocol::rpc::{ErrorKind, Request, Response, RpcError};

use super::{Next, Relay, Then};
use crate::net::{NetError, OnionThen, SlotRelease};

impl Relay {
    /// Sends `packet` on to `next`; `then` gets its answer wrapped in this
    /// hop's layer, or this hop's own sealed error if that fails.
    ///
    /// While it waits for the next hop the forward is parked: the request's
    /// in-flight `slot` is given back (the wait, up to the onion timeout, is
    /// the next hop's, not this node's work), no task waits (the answer's way
    /// back is a callback kept by the swarm task with the outbound request),
    /// and the forward is bounded by [`super::ParkedForwards`] instead, in
    /// all and per previous hop `from`.
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn forward(
        self: &Arc<Self>,
        from: PeerId,
        tag: ReplayTag,
        next: NodeId,
        packet: Vec<u8>,
        reply: ReplyKey,
        slot: Option<SlotRelease>,
        then: Then,
    ) {
        // Only nodes of the directory: a relay is not a proxy to any peer id a
        // client names.
        let Some(peer) = self.ctx.dir(|d| d.get(&next).map(|e| e.peer)) else {
            self.count("unreachable");
            return then(self.seal_error(
                reply,
                ErrorKind::Unavailable,
                "relay could not reach the next hop: it is not in the directory",
            ));
        };
        self.observe(from, tag, Next::Forward(peer), replay_tag(&packet).ok());
        let parked = match self.forwards.park(from) {
            Ok(parked) => parked,
            Err(refused) => {
                self.count("busy");
                self.ctx.metrics.rejected.inc("onion", refused.reason());
                let why = format!("relay could not reach the next hop: {refused}");
                return then(self.seal_error(reply, ErrorKind::Unavailable, &why));
            }
        };
        if let Some(slot) = slot {
            slot.release();
        }
        let relay = Arc::clone(self);
        // Called once, bounded by the onion protocol's request timeout.
        let answered = OnionThen::new(move |answer| {
            drop(parked);
            then(relay.forwarded(reply, answer));
        });
        self.ctx.net.onion_then(peer, packet, answered).await;
    }

    /// The next hop's `answer`, wrapped in this hop's layer, or this hop's
    /// own sealed error.
    fn forwarded(&self, reply: ReplyKey, answer: Result<Vec<u8>, NetError>) -> Vec<u8> {
        match answer {
            Ok(mut answer) if ONION_RESPONSE_CLASSES.contains(&answer.len()) => {
                match wrap_response(reply, &mut answer) {
                    Ok(()) => {
                        self.count("forwarded");
                        answer
                    }
                    // Cannot happen after the class check; the key is spent.
                    Err(e) => {
                        tracing::warn!("cannot wrap an onion response: {e}");
                        self.count("malformed");
                        Vec::new()
                    }
                }
            }
            Ok(answer) => {
                // Empty: the next hop refused the packet (or was busy); any
                // other length is not a response and is not passed on.
                self.count("unreachable");
                let why = if answer.is_empty() {
                    "relay could not reach the next hop: it refused the packet".to_string()
                } else {
                    format!(
                        "relay could not reach the next hop: it answered {} bytes, not a response class",
                        answer.len()
                    )
                };
                self.seal_error(reply, ErrorKind::Unavailable, &why)
            }
            Err(e @ NetError::Timeout(..)) => {
                self.count("timed_out");
                let why = format!("relay could not reach the next hop: {e}");
                self.seal_error(reply, ErrorKind::Timeout, &why)
            }
            Err(NetError::Busy) => {
                self.count("busy");
                self.seal_error(
                    reply,
                    ErrorKind::Unavailable,
                    "relay could not reach the next hop: too many requests in flight",
                )
            }
            Err(e) => {
                self.count("unreachable");
                let why = format!("relay could not reach the next hop: {e}");
                self.seal_error(reply, ErrorKind::Unavailable, &why)
            }
        }
    }

    /// Handles the client's `request` at this node; `then` gets the answer
    /// sealed under the packet's reply key. A waiting retrieve is parked at
    /// the service (answered later from the task serving waiters) and gives
    /// its request `slot` back.
    pub(super) async fn deliver(
        self: &Arc<Self>,
        from: PeerId,
        tag: ReplayTag,
        request: &[u8],
        reply: ReplyKey,
        slot: Option<SlotRelease>,
        then: Then,
    ) {
        self.observe(from, tag, Next::Deliver, None);
        match Request::decode(request) {
            Ok(request) => {
                self.count("delivered");
                let relay = Arc::clone(self);
                let parked = self
                    .service
                    .handle_then(request, move |(_, bytes)| {
                        then(relay.seal_answer(reply, bytes));
                    })
                    .await;
                if parked && let Some(slot) = slot {
                    slot.release();
                }
            }
            Err(e) => {
                // Authentic (it peeled) but not a request: the client gets a
                // sealed error it can read.
                self.count("malformed");
                self.ctx.metrics.rejected.inc("onion", "bad_request");
                let message = format!("not a request: {e}");
                then(self.seal_error(reply, ErrorKind::BadRequest, &message));
            }
        }
    }

    /// An encoded response sealed under `reply`, or an `Internal` error if it
    /// does not fit an onion response.
    fn seal_answer(&self, reply: ReplyKey, bytes: Vec<u8>) -> Vec<u8> {
        if bytes.len() <= MAX_ONION_RESPONSE {
            return self.seal(reply, &bytes);
        }
        tracing::warn!(
            "a response of {} bytes does not fit an onion response",
            bytes.len()
        );
        self.seal_error(reply, ErrorKind::Internal, "the response is too large")
    }

    /// This hop's own error, sealed under its reply key.
    fn seal_error(&self, reply: ReplyKey, kind: ErrorKind, message: &str) -> Vec<u8> {
        let error = RpcError::new(kind, message, self.ctx.clock.now());
        match Response::Error(error).encode() {
            Ok(bytes) => self.seal(reply, &bytes),
            Err(e) => {
                tracing::warn!("cannot encode a relay error: {e}");
                Vec::new()
            }
        }
    }

    fn seal(&self, reply: ReplyKey, body: &[u8]) -> Vec<u8> {
        match seal_response(reply, body) {
            Ok(sealed) => sealed,
            // Only a body over the largest class fails, and callers bound it;
            // an empty answer still tells the client the request failed.
            Err(e) => {
                tracing::warn!("cannot seal an onion response: {e}");
                Vec::new()
            }
        }
    }
}
