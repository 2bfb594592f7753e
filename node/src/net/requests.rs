//! Requests on the three request-response protocols (and inbound replication
//! requests read from raw streams by `streams`): inbound ones handed to the
//! node within the in-flight bounds and answered when it is done, outbound
//! ones sent for the handles and their answers decoded.

use std::collections::HashMap;
use std::time::Duration;

use futures::FutureExt;
use libp2p::PeerId;
use libp2p::request_response::{
    Event, InboundFailure, Message, OutboundFailure, OutboundRequestId,
};
use sotto_protocol::constants::{MAX_NODE_RESPONSE_LEN, MAX_RPC_RESPONSE_LEN};
use sotto_protocol::rpc::{ErrorKind, NodeRequest, NodeResponse, Request, Response, RpcError};
use tokio::sync::oneshot;

use super::behaviour::MAX_ONION_ANSWER;
use super::event_loop::{Channel, EventLoop, MAX_OUTBOUND, Offered, Reply, Waiting};
use super::inflight::InFlight;
use crate::net::{Inbound, NetError, OnionThen, Responder};

/// What a refused peer is told to wait before it tries again.
const BUSY_RETRY_AFTER_MS: u64 = 1000;

/// Which request-response protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Proto {
    /// Client RPC.
    Rpc,
    /// Node-to-node replication.
    Node,
    /// Onion packets.
    Onion,
}

impl Proto {
    fn max_response(self) -> usize {
        match self {
            Proto::Rpc => MAX_RPC_RESPONSE_LEN,
            Proto::Node => MAX_NODE_RESPONSE_LEN,
            Proto::Onion => MAX_ONION_ANSWER,
        }
    }
}

/// What became of an inbound request handed to the node.
pub(super) enum Answer {
    /// The node answered with these bytes.
    Ready(Vec<u8>),
    /// The node dropped the responder without answering.
    Dropped,
    /// The node did not answer before the peer stopped waiting.
    TimedOut,
}

impl EventLoop {
    pub(super) fn on_request_response(&mut self, proto: Proto, event: Event<Vec<u8>, Vec<u8>>) {
        match event {
            Event::Message {
                peer,
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            } => self.on_request(proto, peer, request, Channel::Response(channel)),
            Event::Message {
                peer,
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => self.on_response(proto, peer, request_id, response),
            Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!("request to {peer} failed: {error}");
                let err = match error {
                    OutboundFailure::Timeout => NetError::Timeout(peer, self.timeout(proto)),
                    other => NetError::Unreachable {
                        peer,
                        reason: other.to_string(),
                    },
                };
                self.fail_outbound(proto, request_id, err);
            }
            Event::InboundFailure { peer, error, .. } => {
                let reason = match &error {
                    InboundFailure::Io(_) => Some("bad_frame"),
                    InboundFailure::Timeout => Some("inbound_timeout"),
                    InboundFailure::UnsupportedProtocols => Some("unsupported_protocol"),
                    InboundFailure::ConnectionClosed | InboundFailure::ResponseOmission => None,
                };
                if let Some(reason) = reason {
                    self.metrics.rejected.inc("net", reason);
                }
                tracing::debug!("inbound request from {peer} failed: {error}");
            }
            Event::ResponseSent { .. } => {}
        }
    }

    fn timeout(&self, proto: Proto) -> Duration {
        match proto {
            Proto::Rpc => self.rpc_timeout,
            Proto::Node => self.node_timeout,
            Proto::Onion => self.onion_timeout,
        }
    }

    fn budget(&mut self, proto: Proto) -> &mut InFlight {
        match proto {
            Proto::Rpc => &mut self.budgets.rpc,
            Proto::Node => &mut self.budgets.node,
            Proto::Onion => &mut self.budgets.onion,
        }
    }

    /// Hands a request to the node if its protocol's budget allows, else
    /// answers `RateLimited`.
    pub(super) fn on_request(
        &mut self,
        proto: Proto,
        peer: PeerId,
        bytes: Vec<u8>,
        channel: Channel,
    ) {
        self.trim.used(peer, std::time::Instant::now());
        let ip = self.peer_ips.get(&peer).copied();
        let node = self.roles.is_node(&peer);
        let slot = match self.budget(proto).try_acquire(peer, ip, node) {
            Ok(slot) => slot,
            Err(refused) => {
                self.metrics.rejected.inc("net", refused.reason());
                let kind = ErrorKind::RateLimited {
                    retry_after_ms: BUSY_RETRY_AFTER_MS,
                };
                self.respond_error(proto, channel, kind, "too many requests in flight");
                return;
            }
        };
        // A request the budget took (a refused one costs its sender too
        // little to count) makes its sender's connections worth keeping.
        if !node {
            self.swarm.behaviour_mut().guard.saw_request(peer);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1);
        let (respond, answer) = oneshot::channel();
        let respond = Responder::new(respond, id, self.released_tx.clone());
        let item = match proto {
            Proto::Rpc => Inbound::Rpc {
                peer,
                bytes,
                respond,
            },
            Proto::Node => Inbound::Node {
                peer,
                bytes,
                respond,
            },
            Proto::Onion => Inbound::Onion {
                peer,
                bytes,
                respond,
            },
        };
        let why = match self.offer(item, "busy") {
            Offered::Sent => None,
            Offered::Full => Some("the node is overloaded"),
            Offered::Closed => Some("the node is shutting down"),
        };
        if let Some(why) = why {
            self.budget(proto).release(slot);
            self.respond_error(proto, channel, ErrorKind::Unavailable, why);
            return;
        }
        self.waiting.insert(
            id,
            Waiting {
                proto,
                channel,
                slot: Some(slot),
            },
        );
        // The peer stops waiting after the protocol's timeout; by then the
        // answer is useless, so the slot is freed even if the node never
        // answers nor drops the responder.
        let limit = self.timeout(proto);
        self.answers.push(
            async move {
                let answer = match tokio::time::timeout(limit, answer).await {
                    Ok(Ok(bytes)) => Answer::Ready(bytes),
                    Ok(Err(_)) => Answer::Dropped,
                    Err(_) => Answer::TimedOut,
                };
                (id, answer)
            }
            .boxed(),
        );
    }

    /// The node parked request `id` (a waiting retrieve): its slot is free
    /// for others while the answer still goes back when it comes.
    pub(super) fn on_released(&mut self, id: u64) {
        let Some(w) = self.waiting.get_mut(&id) else {
            return;
        };
        let proto = w.proto;
        if let Some(slot) = w.slot.take() {
            self.budget(proto).release(slot);
        }
    }

    /// Sends the node's answer (or an error standing for it) and frees the slot.
    pub(super) fn on_answer(&mut self, id: u64, answer: Answer) {
        let Some(Waiting {
            proto,
            channel,
            slot,
        }) = self.waiting.remove(&id)
        else {
            return;
        };
        if let Some(slot) = slot {
            self.budget(proto).release(slot);
        }
        let bytes = match answer {
            Answer::Ready(bytes) if bytes.len() <= proto.max_response() => bytes,
            Answer::Ready(bytes) => {
                tracing::warn!(
                    "the node answered {} bytes, over the protocol limit: sending an error",
                    bytes.len()
                );
                return self.respond_error(proto, channel, ErrorKind::Internal, "answer too large");
            }
            Answer::Dropped => {
                return self.respond_error(
                    proto,
                    channel,
                    ErrorKind::Internal,
                    "the request was dropped unanswered",
                );
            }
            Answer::TimedOut => {
                return self.respond_error(proto, channel, ErrorKind::Timeout, "no answer in time");
            }
        };
        self.respond(proto, channel, bytes);
    }

    fn respond(&mut self, proto: Proto, channel: Channel, bytes: Vec<u8>) {
        let behaviour = self.swarm.behaviour_mut();
        let sent = match (channel, proto) {
            (Channel::Stream(to), _) => to.send(bytes).map_err(|_| ()),
            (Channel::Response(c), Proto::Rpc) => {
                behaviour.rpc.send_response(c, bytes).map_err(|_| ())
            }
            (Channel::Response(c), Proto::Node) => {
                behaviour.node.send_response(c, bytes).map_err(|_| ())
            }
            (Channel::Response(c), Proto::Onion) => {
                behaviour.onion.send_response(c, bytes).map_err(|_| ())
            }
        };
        if sent.is_err() {
            tracing::debug!("the peer left before its answer was sent");
        }
    }

    fn respond_error(&mut self, proto: Proto, channel: Channel, kind: ErrorKind, message: &str) {
        let error = RpcError::new(kind, message, self.clock.now());
        let encoded = match proto {
            Proto::Rpc => Response::Error(error).encode(),
            Proto::Node => NodeResponse::Error(error).encode(),
            // An onion answer must be sealed under the packet's reply key, which
            // only the relay has: the swarm task can only answer empty, which the
            // client takes for a failed hop.
            Proto::Onion => Ok(Vec::new()),
        };
        match encoded {
            Ok(bytes) => self.respond(proto, channel, bytes),
            // Dropping the channel resets the stream: the peer still learns
            // the request failed.
            Err(e) => tracing::warn!("cannot encode an error answer: {e}"),
        }
    }

    fn outbound_full(&self) -> bool {
        self.rpc_out
            .len()
            .saturating_add(self.node_out.len())
            .saturating_add(self.onion_out.len())
            >= MAX_OUTBOUND
    }

    pub(super) fn send_rpc(
        &mut self,
        peer: PeerId,
        request: &Request,
        reply: oneshot::Sender<Result<Response, NetError>>,
    ) {
        if self.outbound_full() {
            let _ = reply.send(Err(NetError::Busy));
            return;
        }
        match request.encode() {
            Ok(bytes) => {
                self.trim.used(peer, std::time::Instant::now());
                let id = self.swarm.behaviour_mut().rpc.send_request(&peer, bytes);
                self.rpc_out.insert(id, (peer, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(unsendable(peer, &e)));
            }
        }
    }

    pub(super) fn send_node(
        &mut self,
        peer: PeerId,
        request: &NodeRequest,
        reply: oneshot::Sender<Result<NodeResponse, NetError>>,
    ) {
        if self.outbound_full() {
            let _ = reply.send(Err(NetError::Busy));
            return;
        }
        match request.encode() {
            Ok(bytes) => {
                self.trim.used(peer, std::time::Instant::now());
                let id = self.swarm.behaviour_mut().node.send_request(&peer, bytes);
                self.node_out.insert(id, (peer, reply));
            }
            Err(e) => {
                let _ = reply.send(Err(unsendable(peer, &e)));
            }
        }
    }

    pub(super) fn send_onion(&mut self, peer: PeerId, packet: Vec<u8>, then: OnionThen) {
        if self.outbound_full() {
            then.call(Err(NetError::Busy));
            return;
        }
        self.trim.used(peer, std::time::Instant::now());
        let id = self.swarm.behaviour_mut().onion.send_request(&peer, packet);
        self.onion_out.insert(id, (peer, then));
    }

    fn on_response(&mut self, proto: Proto, peer: PeerId, id: OutboundRequestId, bytes: Vec<u8>) {
        let now = self.clock.now();
        match proto {
            Proto::Rpc => {
                let decoded = Response::decode(&bytes, now).map_err(|e| bad(peer, &e));
                finish(&mut self.rpc_out, id, decoded);
            }
            Proto::Node => {
                let decoded = NodeResponse::decode(&bytes, now).map_err(|e| bad(peer, &e));
                finish(&mut self.node_out, id, decoded);
            }
            // Opaque to everyone but the client: the relay checks its size
            // class (the codec already bounded its length).
            Proto::Onion => {
                if let Some((_, then)) = self.onion_out.remove(&id) {
                    then.call(Ok(bytes));
                }
            }
        }
    }

    fn fail_outbound(&mut self, proto: Proto, id: OutboundRequestId, error: NetError) {
        match proto {
            Proto::Rpc => finish(&mut self.rpc_out, id, Err(error)),
            Proto::Node => finish(&mut self.node_out, id, Err(error)),
            Proto::Onion => {
                if let Some((_, then)) = self.onion_out.remove(&id) {
                    then.call(Err(error));
                }
            }
        }
    }
}

/// Hands the outcome of outbound request `id` to its caller (who may have
/// given up already: then it is dropped).
fn finish<T>(
    pending: &mut HashMap<OutboundRequestId, Reply<T>>,
    id: OutboundRequestId,
    outcome: Result<T, NetError>,
) {
    if let Some((_, reply)) = pending.remove(&id) {
        let _ = reply.send(outcome);
    }
}

fn bad(peer: PeerId, e: &sotto_protocol::Error) -> NetError {
    NetError::BadResponse {
        peer,
        reason: e.to_string(),
    }
}

/// Our own request did not encode: a bug on this side, reported without
/// sending anything.
fn unsendable(peer: PeerId, e: &sotto_protocol::Error) -> NetError {
    NetError::BadResponse {
        peer,
        reason: format!("the request was not sent: it does not encode: {e}"),
    }
}
