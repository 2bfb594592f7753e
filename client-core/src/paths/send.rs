//! Sending one request packet over one path and reading what came back: the
//! destination's answer, a relay's error (and whom it blames), or a failure of
//! the path itself.

use libp2p::{Multiaddr, PeerId};
use sotto_protocol::NodeId;
use sotto_protocol::onion::{Hop, OpenedResponse, build_request, open_response};
use sotto_protocol::{UnixMillis, rpc::Response};

use crate::directory::Directory;
use crate::net::{NetError, NetHandle, Proto, Rejected};

/// Which node a relay's error points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// A relay of the path could not be reached by the one before it.
    Relay(NodeId),
    /// The exit could not reach the destination.
    Destination,
}

/// What became of a request sent over a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The destination's answer (the encoded response, not yet decoded).
    Answer(Vec<u8>),
    /// A relay answered in the destination's place.
    RelayError {
        /// Whom the relay says it could not reach.
        blame: Blame,
        /// Its error, decoded if it was a well-formed error response.
        error: Option<sotto_protocol::rpc::RpcError>,
    },
    /// A relay refused the packet (an empty answer): for example an onion key
    /// it no longer holds.
    Refused,
    /// The answer did not open under any hop's key: changed on the way.
    Garbled,
    /// The guard could not be reached or did not answer in time.
    Transport(NetError),
}

/// Why a request could not even be sent.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    /// A node of the path is not in the directory, or has no onion key valid now.
    #[error("node {0:?} has no usable record")]
    Unknown(NodeId),
    /// The packet could not be built (the request is too large for any class).
    #[error("cannot build the onion packet: {0}")]
    Build(String),
}

/// What is needed to send over a path, taken from the directory (so no lock is
/// held while waiting on the network).
#[derive(Debug, Clone)]
pub struct Plan {
    hops: Vec<Hop>,
    guard: PeerId,
    guard_addrs: Vec<Multiaddr>,
}

impl Plan {
    /// The hops `relays` then `destination`, with their onion keys at `now`.
    pub fn new(
        dir: &Directory,
        relays: &[NodeId],
        destination: NodeId,
        now: UnixMillis,
    ) -> Result<Self, PlanError> {
        let mut hops = Vec::with_capacity(relays.len() + 1);
        for node in relays.iter().chain(std::iter::once(&destination)) {
            let hop = dir
                .get(node)
                .and_then(|n| n.hop(now))
                .ok_or(PlanError::Unknown(*node))?;
            hops.push(hop);
        }
        let first = relays.first().copied().unwrap_or(destination);
        let guard = dir.get(&first).ok_or(PlanError::Unknown(first))?;
        Ok(Self {
            hops,
            guard: guard.peer,
            guard_addrs: guard.addrs.clone(),
        })
    }
}

/// Sends `request` (an encoded `Request`) along `plan` and opens the answer.
/// `now` is the client's clock, for decoding a relay's error.
pub async fn send_through(
    net: &NetHandle,
    plan: &Plan,
    request: &[u8],
    now: UnixMillis,
    rejected: &Rejected,
) -> Result<Outcome, PlanError> {
    // The generator is not held across the await: it is not `Send`.
    let (packet, reply) = {
        let mut rng = rand::rng();
        build_request(&mut rng, &plan.hops, request, now)
            .map_err(|e| PlanError::Build(e.to_string()))?
    };
    let answer = match net
        .send(Proto::Onion, plan.guard, plan.guard_addrs.clone(), packet)
        .await
    {
        Ok(a) => a,
        Err(e) => return Ok(Outcome::Transport(e)),
    };
    if answer.is_empty() {
        return Ok(Outcome::Refused);
    }
    Ok(match open_response(&reply, &answer) {
        Ok(OpenedResponse::Destination(body)) => Outcome::Answer(body),
        Ok(OpenedResponse::RelayError { hop, body }) => {
            // Relay `hop` speaks for itself: the node after it did not answer.
            let next = hop.saturating_add(1);
            let blame = match plan.hops.get(next) {
                Some(h) if next + 1 < plan.hops.len() => Blame::Relay(h.node),
                _ => Blame::Destination,
            };
            let error = match Response::decode(&body, now) {
                Ok(Response::Error(e)) => Some(e),
                _ => {
                    rejected.inc("onion", "bad_relay_error");
                    None
                }
            };
            Outcome::RelayError { blame, error }
        }
        Err(_) => {
            rejected.inc("onion", "garbled_response");
            Outcome::Garbled
        }
    })
}
