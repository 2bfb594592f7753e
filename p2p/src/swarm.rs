//! Building a `Swarm` the same way on both sides: TCP (noise, yamux), QUIC and
//! DNS for real networks, or libp2p's in-process memory transport (noise, yamux)
//! for tests and the simulator.

use std::time::Duration;

use libp2p::core::upgrade::{NegotiationError, Version};
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
///
/// Streams it opens name their protocol and carry their first bytes in the
/// same write, without waiting for the peer to confirm the protocol
/// (multistream-select's lazy dialer): one round trip less per request, and
/// every onion hop, replication push, directory pull and client request
/// opens a stream. A stream proposing several protocols (gossipsub's
/// versions) still negotiates. A peer that does not speak the protocol then
/// fails the stream instead of refusing the proposal;
/// [`refused_protocol`] tells that failure apart.
pub fn build_swarm<B: NetworkBehaviour>(
    keypair: Keypair,
    behaviour: B,
    memory: bool,
    idle: Duration,
) -> Result<Swarm<B>, SetupError> {
    build_swarm_from(keypair, behaviour, memory, None, idle)
}

/// Whether a stream failed because the peer does not speak the protocol it
/// was opened for (which, with lazy negotiation, shows only once the stream
/// is read): for a Sotto peer, it is on another network.
pub fn refused_protocol(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<NegotiationError>())
        .is_some_and(|n| matches!(n, NegotiationError::Failed))
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
    let swarm_config = |c: libp2p::swarm::Config| {
        c.with_idle_connection_timeout(idle)
            .with_substream_upgrade_protocol_override(Version::V1Lazy)
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
