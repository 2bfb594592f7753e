//! # sotto-p2p
//!
//! What the service node and the client both need on top of libp2p, kept in
//! one place so the two sides cannot drift: the names of Sotto's libp2p
//! protocols (each carries the network name, so a devnet and the public network
//! never mix, DESIGN §4), the framing codec of its request-response
//! protocols, how a swarm's transports are built, and the simulated links the
//! swarm simulator puts on memory connections.
//!
//! Wire rules (what a frame's bytes mean) stay in `sotto-protocol`, which knows
//! nothing of libp2p.

pub mod codec;
pub mod simlink;
pub mod swarm;

pub use codec::{FrameCodec, read_body, read_frame, read_prefix, write_frame};
pub use swarm::{SetupError, build_swarm, build_swarm_from, refused_protocol};

use libp2p::StreamProtocol;

/// Last part of the onion relay protocol name. Version 2: the requests inside
/// the packets are those of `rpc/2` (sequence cursors in `Retrieve`).
pub const ONION_PROTOCOL_SUFFIX: &str = "onion/2";

/// The libp2p protocol name for onion packets on `network`:
/// `/sotto/<network>/onion/2`.
pub fn onion_protocol(network: &str) -> String {
    format!("/sotto/{network}/{ONION_PROTOCOL_SUFFIX}")
}

/// A protocol name as libp2p takes it. Fails only for a name that does not start
/// with `/`, which no Sotto name does.
pub fn stream_protocol(name: String) -> Option<StreamProtocol> {
    StreamProtocol::try_from_owned(name).ok()
}
