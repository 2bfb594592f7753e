//! The I/O after a layer is peeled: forwarding to the next hop and wrapping
//! its answer, or handling the request at the destination and sealing the
//! answer.

use libp2p::PeerId;
use sotto_protocol::NodeId;
use sotto_protocol::constants::{MAX_ONION_RESPONSE, ONION_RESPONSE_CLASSES};
use sotto_protocol::onion::{ReplayTag, ReplyKey, replay_tag, seal_response, wrap_response};
use sotto_protocol::rpc::{ErrorKind, Request, Response, RpcError};

use super::{Next, Relay};
use crate::net::{NetError, SlotRelease};

impl Relay {
    /// Sends `packet` on to `next` and returns its answer wrapped in this
    /// hop's layer, or this hop's own sealed error if that fails.
    ///
    /// While it waits for the next hop the forward is parked: the request's
    /// in-flight `slot` is given back (the wait, up to the onion timeout, is
    /// the next hop's, not this node's work) and the forward is bounded by
    /// [`super::ParkedForwards`] instead, in all and per previous hop `from`.
    pub(super) async fn forward(
        &self,
        from: PeerId,
        tag: ReplayTag,
        next: NodeId,
        packet: Vec<u8>,
        reply: ReplyKey,
        slot: Option<SlotRelease>,
    ) -> Vec<u8> {
        // Only nodes of the directory: a relay is not a proxy to any peer id a
        // client names.
        let Some(peer) = self.ctx.dir(|d| d.get(&next).map(|e| e.peer)) else {
            self.count("unreachable");
            return self.seal_error(
                reply,
                ErrorKind::Unavailable,
                "relay could not reach the next hop: it is not in the directory",
            );
        };
        self.observe(from, tag, Next::Forward(peer), replay_tag(&packet).ok());
        let parked = match self.forwards.park(from) {
            Ok(parked) => parked,
            Err(refused) => {
                self.count("busy");
                self.ctx.metrics.rejected.inc("onion", refused.reason());
                let why = format!("relay could not reach the next hop: {refused}");
                return self.seal_error(reply, ErrorKind::Unavailable, &why);
            }
        };
        if let Some(slot) = slot {
            slot.release();
        }
        // Bounded by the handle's onion timeout.
        let answer = self.ctx.net.onion(peer, packet).await;
        drop(parked);
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

    /// Handles the client's `request` at this node and seals the answer.
    pub(super) async fn deliver(
        &self,
        from: PeerId,
        tag: ReplayTag,
        request: &[u8],
        reply: ReplyKey,
        slot: Option<SlotRelease>,
    ) -> Vec<u8> {
        self.observe(from, tag, Next::Deliver, None);
        let response = match Request::decode(request) {
            Ok(request) => {
                self.count("delivered");
                // A waiting retrieve gives its request slot back while it
                // waits: the wait is bounded by the waiters' own limits.
                let on_park = move || {
                    if let Some(slot) = slot {
                        slot.release();
                    }
                };
                self.service.handle_parking(request, on_park).await
            }
            Err(e) => {
                // Authentic (it peeled) but not a request: the client gets a
                // sealed error it can read.
                self.count("malformed");
                self.ctx.metrics.rejected.inc("onion", "bad_request");
                let error = RpcError::new(
                    ErrorKind::BadRequest,
                    format!("not a request: {e}"),
                    self.ctx.clock.now(),
                );
                Response::Error(error)
            }
        };
        match response.encode() {
            Ok(bytes) if bytes.len() <= MAX_ONION_RESPONSE => self.seal(reply, &bytes),
            Ok(bytes) => {
                tracing::warn!(
                    "a response of {} bytes does not fit an onion response",
                    bytes.len()
                );
                self.seal_error(reply, ErrorKind::Internal, "the response is too large")
            }
            Err(e) => {
                tracing::warn!("cannot encode a response: {e}");
                self.seal_error(reply, ErrorKind::Internal, "the response does not encode")
            }
        }
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
