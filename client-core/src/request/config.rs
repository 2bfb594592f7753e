//! What a [`super::Client`] is started with.

use std::path::PathBuf;
use std::time::Duration;

use libp2p::Multiaddr;
use sotto_protocol::NetworkParams;

/// The client's configuration.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The network's parameters.
    pub params: NetworkParams,
    /// Nodes to fetch the directory from, each ending in `/p2p/<peer id>`.
    pub bootstrap: Vec<Multiaddr>,
    /// Where the guard file lives; `None` keeps guards in memory only.
    pub state_dir: Option<PathBuf>,
    /// Use the in-process memory transport (tests and the simulator).
    pub memory: bool,
    /// Over the memory transport, the endpoint number the simulator's
    /// network model knows this client by (`sotto_p2p::simlink`); `None`
    /// outside a simulation.
    pub memory_origin: Option<u64>,
    /// How far the device clock is off (tests and the simulator model a wrong
    /// clock with it; 0 in real use).
    pub clock_offset_ms: i64,
    /// How often the directory is fetched again from the bootstrap nodes.
    pub directory_refresh: Duration,
    /// How often, once paths are ready, a few random directory nodes are also
    /// asked for their directory through onion paths, so that no bootstrap
    /// node decides alone which nodes the client knows.
    pub path_directory_interval: Duration,
    /// Timeout of a direct RPC (directory fetches).
    pub rpc_timeout: Duration,
    /// Timeout of a request over a path: every hop plus a long poll of up to
    /// 25 s at the destination.
    pub onion_timeout: Duration,
    /// Most requests in flight at once; more wait for a slot.
    pub max_requests: usize,
    /// A ready path no request has succeeded over for this long is tested
    /// with a `Ping`, so a relay that died while the path sat idle is found
    /// before a user's request needs the path.
    pub path_probe_interval: Duration,
    /// Chat: the range of the random delay before a delivery receipt
    /// leaves (receipts waiting for one peer leave together). 5–60 s by
    /// default; see `chat/metadata.rs` for why.
    pub receipt_delay: (Duration, Duration),
}

impl ClientConfig {
    /// Defaults for `params` and `bootstrap`: no state directory, real
    /// transports, the directory fetched every 10 minutes.
    pub fn new(params: NetworkParams, bootstrap: Vec<Multiaddr>) -> Self {
        Self {
            params,
            bootstrap,
            state_dir: None,
            memory: false,
            memory_origin: None,
            clock_offset_ms: 0,
            directory_refresh: Duration::from_secs(10 * 60),
            path_directory_interval: Duration::from_secs(10 * 60),
            rpc_timeout: Duration::from_secs(10),
            onion_timeout: Duration::from_secs(45),
            max_requests: 64,
            path_probe_interval: Duration::from_secs(60),
            receipt_delay: crate::chat::DEFAULT_RECEIPT_DELAY,
        }
    }
}
