//! Building a `Swarm` the same way on both sides: TCP (noise, yamux), QUIC and
//! DNS for real networks, or libp2p's in-process memory transport (noise, yamux)
//! for tests and the simulator.

use std::time::Duration;

use libp2p::core::upgrade::Version;
use libp2p::identity::Keypair;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{Swarm, SwarmBuilder, Transport, noise, tcp, yamux};

use crate::simlink::LinkedMemory;

/// Why a swarm could not be built: which part, and what it said.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("cannot set up {what}: {reason}")]
pub struct SetupError {
    /// The part that failed (`TCP`, `DNS`, `the memory transport`, …).
    pub what: &'static str,
    /// What it said.
    pub reason: String,
}

fn setup_error(what: &'static str, e: impl std::fmt::Display) -> SetupError {
    SetupError {
        what,
        reason: e.to_string(),
    }
}

/// A swarm for `keypair` running `behaviour`, over the memory transport when
/// `memory` is set and over TCP, QUIC and DNS otherwise; a connection with no
/// stream open is closed after `idle`. Must run inside a tokio runtime.
///
/// Over the memory transport, the swarm's simulated-link endpoint (see
/// [`crate::simlink`]) is its first listen port.
pub fn build_swarm<B: NetworkBehaviour>(
    keypair: Keypair,
    behaviour: B,
    memory: bool,
    idle: Duration,
) -> Result<Swarm<B>, SetupError> {
    build_swarm_from(keypair, behaviour, memory, None, idle)
}

/// [`build_swarm`] for a swarm whose simulated-link endpoint over the memory
/// transport is `origin` (a swarm that never listens, such as a client, has
/// no other); `None` means its first listen port.
pub fn build_swarm_from<B: NetworkBehaviour>(
    keypair: Keypair,
    behaviour: B,
    memory: bool,
    origin: Option<u64>,
    idle: Duration,
) -> Result<Swarm<B>, SetupError> {
    build(
        keypair,
        behaviour,
        memory,
        origin,
        idle,
        Negotiation::Confirmed,
    )
}

/// [`build_swarm`] for a service node: the streams it opens name their
/// protocol and carry their first bytes in the same write, without waiting
/// for the peer to confirm the protocol (multistream-select's lazy dialer).
/// That saves one round trip per request: every forward of an onion packet,
/// every replication push and directory pull opens a stream. A peer that
/// does not speak the protocol then shows as a failed read instead of a
/// refused protocol, which no node code tells apart (a client does: it asks
/// a node that refused its directory protocol which network it is on, so
/// clients keep [`build_swarm_from`]).
pub fn build_node_swarm<B: NetworkBehaviour>(
    keypair: Keypair,
    behaviour: B,
    memory: bool,
    idle: Duration,
) -> Result<Swarm<B>, SetupError> {
    build(keypair, behaviour, memory, None, idle, Negotiation::Lazy)
}

/// Whether a stream's opener waits for its protocol to be confirmed before
/// it writes.
#[derive(Clone, Copy)]
enum Negotiation {
    Confirmed,
    Lazy,
}

fn build<B: NetworkBehaviour>(
    keypair: Keypair,
    behaviour: B,
    memory: bool,
    origin: Option<u64>,
    idle: Duration,
    negotiation: Negotiation,
) -> Result<Swarm<B>, SetupError> {
    let swarm_config = |c: libp2p::swarm::Config| {
        let c = c.with_idle_connection_timeout(idle);
        match negotiation {
            Negotiation::Confirmed => c,
            // A stream proposing several protocols (gossipsub's versions)
            // still negotiates: lazy applies only to a single proposal.
            Negotiation::Lazy => c.with_substream_upgrade_protocol_override(Version::V1Lazy),
        }
    };
    let builder = SwarmBuilder::with_existing_identity(keypair).with_tokio();
    let swarm = if memory {
        builder
            .with_other_transport(|key| {
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                    // As libp2p's TCP set-up does: the security and muxer
                    // proposals go with their first bytes.
                    LinkedMemory::new(origin)
                        .upgrade(Version::V1Lazy)
                        .authenticate(noise::Config::new(key)?)
                        .multiplex(yamux::Config::default())
                        .boxed(),
                )
            })
            .map_err(|e| setup_error("the memory transport", e))?
            .with_behaviour(|_| behaviour)
            .map_err(|e| setup_error("the behaviour", e))?
            .with_swarm_config(swarm_config)
            .build()
    } else {
        builder
            .with_tcp(
                tcp::Config::default().nodelay(true),
                noise::Config::new,
                yamux::Config::default,
            )
            .map_err(|e| setup_error("TCP", e))?
            .with_quic()
            .with_dns()
            .map_err(|e| setup_error("DNS", e))?
            .with_behaviour(|_| behaviour)
            .map_err(|e| setup_error("the behaviour", e))?
            .with_swarm_config(swarm_config)
            .build()
    };
    Ok(swarm)
}
