//! The client's `Swarm` (transports as `sotto_p2p::build_swarm` makes them for
//! both sides) with the RPC and onion request-response protocols and identify asking,
//! all outbound only.

use std::time::Duration;

use libp2p::Swarm;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use sotto_p2p::{FrameCodec, onion_protocol, stream_protocol};
use sotto_protocol::constants::{
    MAX_RPC_REQUEST_LEN, MAX_RPC_RESPONSE_LEN, ONION_REQUEST_CLASSES, ONION_RESPONSE_CLASSES,
};
use sotto_protocol::rpc::rpc_protocol;

use super::identify::{IDENTIFY_PROTOCOL, IdentifyCodec};
use super::{NetConfig, NetError};

/// How long an unused connection stays open. Long enough that a guard used
/// for every request keeps one connection, short enough not to hoard them.
const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(120);

/// Streams one connection may have open per protocol: the client's own
/// concurrent requests to one guard.
const MAX_STREAMS: usize = 64;

/// The client's two protocols.
#[derive(NetworkBehaviour)]
pub(super) struct Behaviour {
    /// Direct RPC (directory fetches).
    pub(super) rpc: request_response::Behaviour<FrameCodec>,
    /// Onion packets to guards.
    pub(super) onion: request_response::Behaviour<FrameCodec>,
    /// Asking nodes which network they are on.
    pub(super) identify: request_response::Behaviour<IdentifyCodec>,
}

/// The largest onion request and response: the largest size classes.
fn onion_limits() -> (usize, usize) {
    let req = ONION_REQUEST_CLASSES.iter().copied().max().unwrap_or(0);
    let resp = ONION_RESPONSE_CLASSES.iter().copied().max().unwrap_or(0);
    (req, resp)
}

fn behaviour(network: &str, cfg: &NetConfig) -> Result<Behaviour, NetError> {
    let proto = |name: String| {
        stream_protocol(name.clone())
            .ok_or_else(|| NetError::Setup(format!("bad protocol name {name:?}")))
    };
    let rpc = request_response::Behaviour::with_codec(
        FrameCodec::new(MAX_RPC_REQUEST_LEN, MAX_RPC_RESPONSE_LEN),
        [(proto(rpc_protocol(network))?, ProtocolSupport::Outbound)],
        request_response::Config::default()
            .with_request_timeout(cfg.rpc_timeout)
            .with_max_concurrent_streams(MAX_STREAMS),
    );
    let (max_req, max_resp) = onion_limits();
    let onion = request_response::Behaviour::with_codec(
        FrameCodec::new(max_req, max_resp),
        [(proto(onion_protocol(network))?, ProtocolSupport::Outbound)],
        request_response::Config::default()
            .with_request_timeout(cfg.onion_timeout)
            .with_max_concurrent_streams(MAX_STREAMS),
    );
    let identify = request_response::Behaviour::with_codec(
        IdentifyCodec,
        [(
            proto(IDENTIFY_PROTOCOL.to_string())?,
            ProtocolSupport::Outbound,
        )],
        request_response::Config::default()
            .with_request_timeout(cfg.rpc_timeout)
            .with_max_concurrent_streams(MAX_STREAMS),
    );
    Ok(Behaviour {
        rpc,
        onion,
        identify,
    })
}

/// A swarm for `keypair` on `network`. Must run inside a tokio runtime.
pub(super) fn build(
    keypair: Keypair,
    network: &str,
    cfg: &NetConfig,
) -> Result<Swarm<Behaviour>, NetError> {
    let behaviour = behaviour(network, cfg)?;
    sotto_p2p::build_swarm_from(
        keypair,
        behaviour,
        cfg.memory,
        cfg.memory_origin,
        IDLE_CONNECTION_TIMEOUT,
    )
    .map_err(|e| NetError::Setup(e.to_string()))
}
