//! Building the node's `Swarm` (transports as `sotto_p2p::build_swarm` makes
//! them for both sides).

use std::time::Duration;

use libp2p::Swarm;
use libp2p::identity::Keypair;

use super::behaviour::Behaviour;
use super::{NetConfig, PeerRoles};
use crate::metrics::Metrics;
use crate::net::NetError;
use std::sync::Arc;

/// How long a connection with no stream open is kept. Gossipsub keeps useful
/// connections busy; this only reaps ones nobody uses.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

/// A swarm for `keypair` on `network`. Must run inside a tokio runtime.
pub fn build(
    keypair: Keypair,
    network: &str,
    cfg: &NetConfig,
    roles: Arc<PeerRoles>,
    metrics: Arc<Metrics>,
) -> Result<Swarm<Behaviour>, NetError> {
    // The behaviour is built first so its errors come back typed.
    let behaviour = Behaviour::new(&keypair, network, cfg, roles, metrics)?;
    sotto_p2p::build_swarm(keypair, behaviour, cfg.memory, IDLE_CONNECTION_TIMEOUT)
        .map_err(|e| NetError::Listen(e.to_string()))
}
