//! Building the `Swarm`: TCP, QUIC and DNS for a real node, or the in-process
//! memory transport for tests; noise and yamux on every stream transport.

use std::time::Duration;

use libp2p::core::transport::MemoryTransport;
use libp2p::core::upgrade::Version;
use libp2p::identity::Keypair;
use libp2p::{Swarm, SwarmBuilder, Transport, noise, tcp, yamux};

use super::NetConfig;
use super::behaviour::Behaviour;
use crate::net::NetError;

/// How long a connection with no stream open is kept. Gossipsub, Kademlia and
/// ping keep useful connections busy; this only reaps ones nobody uses.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

fn setup_error(what: &str, e: impl std::fmt::Display) -> NetError {
    NetError::Listen(format!("cannot set up {what}: {e}"))
}

/// A swarm for `keypair` on `network`. Must run inside a tokio runtime.
pub fn build(
    keypair: Keypair,
    network: &str,
    cfg: &NetConfig,
) -> Result<Swarm<Behaviour>, NetError> {
    // The behaviour is built first so its errors come back typed; the builder
    // closure only hands it over.
    let behaviour = Behaviour::new(&keypair, network, cfg)?;
    let swarm_config =
        |c: libp2p::swarm::Config| c.with_idle_connection_timeout(IDLE_CONNECTION_TIMEOUT);
    let builder = SwarmBuilder::with_existing_identity(keypair).with_tokio();
    let swarm = if cfg.memory {
        builder
            .with_other_transport(|key| {
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(
                    MemoryTransport::default()
                        .upgrade(Version::V1)
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
