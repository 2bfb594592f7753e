//! The node's libp2p side: one task owns the `Swarm` and everything else talks to
//! it through a [`NetHandle`] (commands in) and an [`Inbound`] channel (requests,
//! gossip and peer events out). Keeping libp2p behind these two channels lets
//! the RPC and replication code be tested with a plain channel standing in for
//! the network.
//!
//! [`spawn`] builds the swarm (identify, ping, an address book, gossipsub for
//! node records, client RPC, outbound replication and onion packets over
//! request-response, inbound replication over raw streams refused to peers
//! that are not nodes before anything is read, connection limits) and starts
//! the task. The task only moves bytes: it bounds their
//! size and how many requests are in flight, and the protocol crate decodes
//! and checks them.

mod addresses;
mod behaviour;
mod event_loop;
mod guard;
mod handle;
mod inbound_streams;
mod inflight;
mod requests;
mod streams;
mod transport;
mod trim;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::FuturesUnordered;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::mpsc;

pub use behaviour::{
    GOSSIP_MESH, GOSSIP_MESH_LOW, MAX_ONION_ANSWER, MAX_ONION_PACKET, ONION_EXTRA_TIMEOUT,
    RPC_EXTRA_TIMEOUT, protocol_version, records_topic,
};
pub use handle::{
    Command, GossipId, Inbound, NetError, NetHandle, OnionThen, Responder, SlotRelease, Verdict,
};
pub use sotto_p2p::{FrameCodec, read_frame, write_frame};

use crate::clock::Clock;
use crate::config::LimitsConfig;
use crate::metrics::Metrics;

/// Inbound replication streams on their way to the acceptor, and requests
/// read from them on their way back to the swarm task (each way). A stream
/// that finds the channel full is reset, counted as `busy_streams`.
const STREAM_REQUEST_ROOM: usize = 256;

/// Commands queued for the swarm task before senders wait.
const COMMAND_CAPACITY: usize = 1024;
/// Most peers one partition cut names (a cut is a test and simulator tool;
/// this bounds the block list it builds).
const MAX_CUT_PEERS: usize = 4096;

/// Room in the inbound channel on top of the requests in flight, for gossiped
/// records and peer events arriving while the node is busy.
const INBOUND_EVENT_ROOM: usize = 1024;

/// How the network task runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// Addresses to listen on, e.g. `/ip4/127.0.0.1/tcp/0`,
    /// `/ip4/127.0.0.1/udp/0/quic-v1`, or `/memory/N` with `memory`.
    pub listen: Vec<Multiaddr>,
    /// Peers dialled at start (with `/p2p/<peer>` where known).
    pub bootstrap: Vec<Multiaddr>,
    /// Use only the in-process memory transport (tests).
    pub memory: bool,
    /// Most established connections in all.
    pub max_connections: u32,
    /// Most established connections with one peer.
    pub max_connections_per_peer: u32,
    /// Most established connections of peers at one IP address (directory
    /// nodes not counted).
    pub max_connections_per_ip: usize,
    /// Most inbound requests (RPC and replication) in flight in all.
    pub max_concurrent_requests: usize,
    /// Most inbound requests in flight from one peer.
    pub max_requests_per_peer: usize,
    /// Most inbound requests in flight from one IP address (peers that are
    /// not directory nodes), per protocol.
    pub max_requests_per_ip: usize,
    /// Timeout of an outbound replication request; RPC gets
    /// [`RPC_EXTRA_TIMEOUT`] more for long polls.
    pub request_timeout: Duration,
    /// Size of the [`Inbound`] channel.
    pub inbound_capacity: usize,
}

impl NetConfig {
    /// The configuration the node's `[limits]` give, listening on `listen` and
    /// dialling `bootstrap`.
    pub fn from_limits(
        l: &LimitsConfig,
        listen: Vec<Multiaddr>,
        bootstrap: Vec<Multiaddr>,
        memory: bool,
    ) -> Self {
        Self {
            listen,
            bootstrap,
            memory,
            max_connections: l.max_connections,
            max_connections_per_peer: l.max_connections_per_peer,
            max_connections_per_ip: l.max_connections_per_ip,
            max_concurrent_requests: l.max_concurrent_requests,
            max_requests_per_peer: l.max_requests_per_peer,
            max_requests_per_ip: l.max_requests_per_ip,
            request_timeout: Duration::from_millis(l.request_timeout_ms),
            // Three protocols, each with its own budget.
            inbound_capacity: l
                .max_concurrent_requests
                .saturating_mul(3)
                .saturating_add(INBOUND_EVENT_ROOM),
        }
    }
}

/// The test of [`PeerRoles`].
type IsNode = Box<dyn Fn(&PeerId) -> bool + Send + Sync>;

/// Which peers are nodes of the directory, as the node tells the swarm task
/// once its directory exists: they may use the shares of the request
/// budgets kept for nodes, and are not bounded per IP address.
#[derive(Default)]
pub struct PeerRoles {
    is_node: std::sync::OnceLock<IsNode>,
}

impl std::fmt::Debug for PeerRoles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerRoles")
            .field("set", &self.is_node.get().is_some())
            .finish()
    }
}

impl PeerRoles {
    /// Sets the test (once; later calls are ignored).
    pub fn set(&self, is_node: impl Fn(&PeerId) -> bool + Send + Sync + 'static) {
        let _ = self.is_node.set(Box::new(is_node));
    }

    /// Whether `peer` is a directory node (`false` until [`PeerRoles::set`]).
    pub fn is_node(&self, peer: &PeerId) -> bool {
        self.is_node.get().is_some_and(|f| f(peer))
    }
}

/// Of each protocol's request budget, the share kept for directory nodes.
const RESERVED_FOR_NODES_DIVISOR: usize = 4;

/// A running network task.
#[derive(Debug)]
pub struct Net {
    /// Commands to the task; it stops when every clone is dropped.
    pub handle: NetHandle,
    /// Requests, records and peer events from the network.
    pub inbound: mpsc::Receiver<Inbound>,
    /// This node's libp2p identity.
    pub peer_id: PeerId,
    /// Tell the task which peers are directory nodes here.
    pub roles: Arc<PeerRoles>,
    /// The task.
    pub task: tokio::task::JoinHandle<()>,
}

/// The peer id at the end of `addr` (`.../p2p/<peer>`), and the address without it.
pub fn split_peer(addr: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    let mut base = addr.clone();
    match base.pop() {
        Some(Protocol::P2p(peer)) => Some((peer, base)),
        _ => None,
    }
}

/// Starts the network task of the node with `keypair` on `network`. Must be
/// called within a tokio runtime.
///
/// Listens on every `cfg.listen` address (an address that cannot be listened
/// on is an error, not a log line: a node that silently listens nowhere is
/// useless), dials the bootstrap peers, and runs until every [`NetHandle`]
/// clone is dropped or the task is aborted.
pub fn spawn(
    keypair: libp2p::identity::Keypair,
    network: &str,
    cfg: NetConfig,
    clock: Arc<Clock>,
    metrics: Arc<Metrics>,
) -> Result<Net, NetError> {
    let peer_id = keypair.public().to_peer_id();
    let roles = Arc::new(PeerRoles::default());
    let mut swarm = transport::build(keypair, network, &cfg, roles.clone(), metrics.clone())?;
    let (streams_tx, incoming) = mpsc::channel(STREAM_REQUEST_ROOM);
    let per_peer = behaviour::max_streams(&cfg);
    let acceptor = streams::NodeStreams::new(
        incoming,
        streams::StreamBounds {
            per_peer,
            total: cfg.max_concurrent_requests.saturating_mul(2).max(per_peer),
            timeout: cfg.request_timeout,
        },
    );
    let (requests_tx, node_streams) = mpsc::channel(STREAM_REQUEST_ROOM);
    let metrics_for_streams = metrics.clone();
    let mut listeners = Vec::with_capacity(cfg.listen.len());
    for addr in &cfg.listen {
        let id = swarm
            .listen_on(addr.clone())
            .map_err(|e| NetError::Listen(format!("cannot listen on {addr}: {e}")))?;
        listeners.push(id);
    }
    for addr in &cfg.bootstrap {
        if let Some((peer, base)) = split_peer(addr) {
            swarm.behaviour_mut().addresses.add(peer, base);
        }
        // An unreachable bootstrap peer must not stop the node: others may
        // answer, and the overlay redials the bootstrap list while no
        // directory node is connected.
        if let Err(e) = swarm.dial(addr.clone()) {
            tracing::warn!("cannot dial bootstrap peer {addr}: {e}");
        }
    }

    let (commands_tx, commands) = mpsc::channel(COMMAND_CAPACITY);
    let (inbound_tx, inbound) = mpsc::channel(cfg.inbound_capacity.max(1));
    let (released_tx, released) = mpsc::unbounded_channel();
    let bounds = inflight::Bounds {
        total: cfg.max_concurrent_requests,
        per_peer: cfg.max_requests_per_peer,
        per_ip: cfg.max_requests_per_ip,
        reserved: cfg.max_concurrent_requests / RESERVED_FOR_NODES_DIVISOR,
    };
    let event_loop = event_loop::EventLoop {
        swarm,
        listeners,
        blocked: std::collections::HashSet::new(),
        cut: std::collections::HashSet::new(),
        commands,
        inbound: inbound_tx,
        clock,
        metrics,
        protocol_version: protocol_version(network),
        topic: records_topic(network),
        budgets: event_loop::Budgets {
            rpc: inflight::InFlight::new(bounds),
            node: inflight::InFlight::new(bounds),
            onion: inflight::InFlight::new(bounds),
        },
        peer_ips: HashMap::new(),
        roles: roles.clone(),
        released,
        released_tx,
        next_id: 0,
        waiting: HashMap::new(),
        node_streams,
        new_streams: streams_tx,
        answers: FuturesUnordered::new(),
        rpc_out: HashMap::new(),
        node_out: HashMap::new(),
        onion_out: HashMap::new(),
        rpc_timeout: cfg.request_timeout.saturating_add(RPC_EXTRA_TIMEOUT),
        onion_timeout: cfg.request_timeout.saturating_add(ONION_EXTRA_TIMEOUT),
        node_timeout: cfg.request_timeout,
        trim: trim::Trim::new(std::time::Instant::now()),
    };
    let task = tokio::spawn(event_loop.run());
    tokio::spawn(acceptor.run(roles.clone(), metrics_for_streams, requests_tx));
    Ok(Net {
        handle: NetHandle::new(commands_tx, cfg.request_timeout),
        inbound,
        peer_id,
        roles,
        task,
    })
}
