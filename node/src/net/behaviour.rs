//! The node's libp2p behaviour: identify, ping, an address book, gossipsub
//! for node records, the three request-response protocols (client RPC, outbound
//! replication, onion packets), raw streams for inbound replication and
//! connection limits.

use std::sync::Arc;
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::NetworkBehaviour;
use libp2p::{StreamProtocol, allow_block_list, connection_limits, gossipsub, identify, ping};
use sotto_protocol::constants::{
    MAX_NODE_REQUEST_LEN, MAX_NODE_RESPONSE_LEN, MAX_RECORD_LEN, MAX_RPC_REQUEST_LEN,
    MAX_RPC_RESPONSE_LEN, ONION_REQUEST_CLASSES, ONION_RESPONSE_CLASSES,
};
use sotto_protocol::rpc::{replication_protocol, rpc_protocol};

use super::addresses::AddressBook;
use super::guard::{Guard, GuardLimits};
use super::inbound_streams::InboundStreams;
use super::{NetConfig, PeerRoles};
use crate::metrics::Metrics;
use crate::net::NetError;
use sotto_p2p::FrameCodec;

/// How much longer than a node request an RPC may take: a retrieve may wait up
/// to 25 s for new messages before it answers (long poll).
pub const RPC_EXTRA_TIMEOUT: Duration = Duration::from_secs(30);

/// How much longer than a node request an onion packet may take: it crosses
/// up to three relays and may end in a 25 s long poll at the destination.
pub const ONION_EXTRA_TIMEOUT: Duration = Duration::from_secs(40);

/// The largest onion request packet (the largest request size class).
pub const MAX_ONION_PACKET: usize = match ONION_REQUEST_CLASSES.last() {
    Some(class) => *class,
    None => 0,
};

/// The largest onion response packet (the largest response size class).
pub const MAX_ONION_ANSWER: usize = match ONION_RESPONSE_CLASSES.last() {
    Some(class) => *class,
    None => 0,
};

/// Most inbound handshakes (noise, multiplexer) in progress at once: each
/// costs a task and crypto work before the peer is known.
const MAX_PENDING_HANDSHAKES: u32 = 128;
/// Most of them from one IP address.
const MAX_PENDING_HANDSHAKES_PER_IP: usize = 16;

/// Room on top of a record for gossipsub's own framing (topic, message
/// fields; records travel unsigned by gossip, see [`records_topic`]).
const GOSSIP_OVERHEAD: usize = 1024;

/// The identify protocol version of `network`: peers announcing another one are
/// on another network and are dropped.
pub fn protocol_version(network: &str) -> String {
    format!("/sotto/{network}/1")
}

/// The gossipsub topic carrying node records on `network`. Version 2 carries
/// anonymous gossip messages (no author, sequence number or gossip
/// signature): a record is signed by its node's key already, and gossipsub
/// checks its own signature on every copy that arrives, duplicates included,
/// an Ed25519 verification per copy for nothing (at 998 nodes starting
/// together, dropping it let about 15% more records through in the first
/// 90 s). Version 1 peers signed every message and refused unsigned ones;
/// the two do not mix.
pub fn records_topic(network: &str) -> gossipsub::IdentTopic {
    gossipsub::IdentTopic::new(format!("/sotto/{network}/records/2"))
}

/// Heartbeats (1 s each) a received record stays in gossip's message cache,
/// waiting for its verdict; of them, gossip advertises the last 3 to peers as
/// before. The cache holds what arrived in that time (at 1,000 nodes
/// starting together, some thousands of records of at most `MAX_RECORD_LEN`).
const GOSSIP_HISTORY: usize = 15;

/// Peers a node forwards each record to (gossipsub's `D`; its default is 6,
/// with 5 and 12 as the bounds). Every node receives each record about once
/// from each mesh peer, so the network carries about `N × D` copies of
/// every record: at 998 nodes starting together, copies of records (each a
/// noise frame, a yamux frame and a gossip decode on both sides) were most
/// of the process's CPU (about 40% in connection tasks). With a mesh of 3,
/// pings every minute and one publication per record at start
/// (`announce::task`), the median node knew 649 nodes after 90 s instead of
/// 384 (one run each, same seed). A mesh of 3 in a random graph of about 26 connections per node still
/// reaches every node in a few hops; the 3 peers told of recent records
/// every heartbeat (`gossip_lazy`) and the periodic directory pull from a
/// random peer repair what a hostile mesh peer withholds.
pub const GOSSIP_MESH: usize = 3;
/// Below this many mesh peers gossipsub grafts more (its default: 5).
pub const GOSSIP_MESH_LOW: usize = 2;
/// Above this many it prunes (its default: 12).
const GOSSIP_MESH_HIGH: usize = 5;

/// How often a connection is pinged (libp2p's default is 15 s). Nothing
/// reads the round trips; a ping only shows a connection alive, which
/// yamux and the idle timeout do too, and at 26 connections a node, a
/// thousand nodes pinged 1,700 times a second (3% of the simulator's CPU).
const PING_EVERY: Duration = Duration::from_secs(60);

/// How long a gossip message may wait in a connection's send queue before it
/// is dropped (and counted as `rejected{gossip,send_dropped}`).
const GOSSIP_SEND_DEADLINE: Duration = Duration::from_secs(30);
/// Gossip messages one connection queues for sending at most: a peer that
/// reads none costs at most this many records (of `MAX_RECORD_LEN`) here.
const GOSSIP_QUEUE: usize = 2_048;

/// The replication protocol of `network`, as inbound streams are accepted on it.
fn node_protocol(network: &str) -> Result<StreamProtocol, NetError> {
    stream_protocol(replication_protocol(network))
}

fn stream_protocol(name: String) -> Result<StreamProtocol, NetError> {
    StreamProtocol::try_from_owned(name.clone())
        .map_err(|e| NetError::Listen(format!("bad protocol name {name:?}: {e}")))
}

/// Everything the swarm runs.
#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// Refuses connections from peers found to be on another network.
    pub blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    /// Refuses connections over the configured counts.
    pub limits: connection_limits::Behaviour,
    /// Refuses connections over the bounds per IP address and past the
    /// strangers' share of the slots.
    pub guard: Guard,
    /// Exchanges protocol versions and listen addresses.
    pub identify: identify::Behaviour,
    /// Keeps connections alive and measures them.
    pub ping: ping::Behaviour,
    /// Where directory nodes can be dialled.
    pub addresses: AddressBook,
    /// Node records spread by gossip.
    pub gossip: gossipsub::Behaviour,
    /// Client RPC.
    pub rpc: request_response::Behaviour<FrameCodec>,
    /// Node-to-node replication we send. Inbound replication comes as raw
    /// streams ([`Behaviour::node_streams`]), so the peer is checked before
    /// its frame is read.
    pub node: request_response::Behaviour<FrameCodec>,
    /// Inbound replication streams, handed over unread (see `net::streams`).
    pub node_streams: InboundStreams,
    /// Onion request packets, relayed hop to hop.
    pub onion: request_response::Behaviour<FrameCodec>,
}

/// Streams one connection may have open per request-response protocol. It is
/// above the per-peer in-flight bound so that requests over it still get a
/// quick "busy" answer instead of a reset stream, and it leaves room for our
/// own outbound requests on the same connection.
pub(super) fn max_streams(cfg: &NetConfig) -> usize {
    cfg.max_requests_per_peer.saturating_mul(2).clamp(8, 1024)
}

impl Behaviour {
    /// The behaviour of a node with `keypair` on `network`.
    pub fn new(
        keypair: &Keypair,
        network: &str,
        cfg: &NetConfig,
        roles: Arc<PeerRoles>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, NetError> {
        let limits = connection_limits::Behaviour::new(
            connection_limits::ConnectionLimits::default()
                .with_max_established(Some(cfg.max_connections))
                .with_max_established_per_peer(Some(cfg.max_connections_per_peer))
                .with_max_pending_incoming(Some(MAX_PENDING_HANDSHAKES)),
        );
        let max_connections = usize::try_from(cfg.max_connections).unwrap_or(usize::MAX);
        let guard = Guard::new(
            GuardLimits {
                pending_per_ip: MAX_PENDING_HANDSHAKES_PER_IP,
                established_per_ip: cfg.max_connections_per_ip,
                max_connections,
                reserved_for_nodes: max_connections / 4,
            },
            roles,
            metrics,
        );

        let identify = identify::Behaviour::new(
            identify::Config::new(protocol_version(network), keypair.public())
                .with_agent_version(format!("sotto-node/{}", env!("CARGO_PKG_VERSION")))
                // No cache of the addresses peers claim: dials use the
                // address book, which holds only what records signed.
                .with_cache_size(0),
        );

        let gossip_config = gossipsub::ConfigBuilder::default()
            .max_transmit_size(MAX_RECORD_LEN + GOSSIP_OVERHEAD)
            // A smaller mesh than gossipsub's 6 (see `GOSSIP_MESH`).
            .mesh_n(GOSSIP_MESH)
            .mesh_n_low(GOSSIP_MESH_LOW)
            .mesh_n_high(GOSSIP_MESH_HIGH)
            .mesh_outbound_min(1)
            .gossip_lazy(GOSSIP_MESH)
            // Messages carry no author, sequence number or signature, and
            // one that does is refused: the record inside is signed.
            .validation_mode(gossipsub::ValidationMode::Anonymous)
            // Equal records are one message whoever forwards them.
            .message_id_fn(|m: &gossipsub::Message| {
                gossipsub::MessageId::from(blake3::hash(&m.data).as_bytes().to_vec())
            })
            // A node publishes its record to every subscribed peer it knows,
            // not only its mesh, so a small network learns it at once.
            .flood_publish(true)
            // A record is forwarded only once the node has verified it
            // (`Command::Validated`): an invalid one stops at the first hop
            // and costs its sender score.
            .validate_messages()
            // A record waits in the node's bounded check queue before its
            // verdict; gossip forwards it only while it is still in the
            // message cache, which by default lasts 5 heartbeats (5 s), less
            // than a large network's start-up burst takes to check.
            .history_length(GOSSIP_HISTORY)
            // A record stays good for hours, so a forward that waits its turn
            // behind others still helps; gossipsub's default gives up on it
            // after 1 s, which at 1,000 nodes starting together dropped
            // 418,601 forwards, most of what the network sent. The queue's
            // length (`GOSSIP_QUEUE`) bounds what a slow peer holds.
            .forward_queue_duration(GOSSIP_SEND_DEADLINE)
            .publish_queue_duration(GOSSIP_SEND_DEADLINE)
            .connection_handler_queue_len(GOSSIP_QUEUE)
            .build()
            .map_err(|e| NetError::Listen(format!("gossipsub configuration: {e}")))?;
        let mut gossip =
            gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, gossip_config)
                .map_err(|e| NetError::Listen(format!("gossipsub: {e}")))?;
        // Basic peer scoring: rejected records and broken promises lower a
        // peer's score, and peers far below zero are no longer gossiped with.
        gossip
            .with_peer_score(
                gossipsub::PeerScoreParams::default(),
                gossipsub::PeerScoreThresholds::default(),
            )
            .map_err(|e| NetError::Listen(format!("gossipsub scoring: {e}")))?;
        gossip
            .subscribe(&records_topic(network))
            .map_err(|e| NetError::Listen(format!("gossipsub subscribe: {e}")))?;

        let rpc = request_response::Behaviour::with_codec(
            FrameCodec::new(MAX_RPC_REQUEST_LEN, MAX_RPC_RESPONSE_LEN),
            [(
                stream_protocol(rpc_protocol(network))?,
                ProtocolSupport::Full,
            )],
            request_response::Config::default()
                .with_request_timeout(cfg.request_timeout.saturating_add(RPC_EXTRA_TIMEOUT))
                .with_max_concurrent_streams(max_streams(cfg)),
        );
        let node = request_response::Behaviour::with_codec(
            FrameCodec::new(MAX_NODE_REQUEST_LEN, MAX_NODE_RESPONSE_LEN),
            [(
                stream_protocol(replication_protocol(network))?,
                ProtocolSupport::Outbound,
            )],
            request_response::Config::default()
                .with_request_timeout(cfg.request_timeout)
                .with_max_concurrent_streams(max_streams(cfg)),
        );

        let onion = request_response::Behaviour::with_codec(
            FrameCodec::new(MAX_ONION_PACKET, MAX_ONION_ANSWER),
            [(
                stream_protocol(sotto_p2p::onion_protocol(network))?,
                ProtocolSupport::Full,
            )],
            request_response::Config::default()
                .with_request_timeout(cfg.request_timeout.saturating_add(ONION_EXTRA_TIMEOUT))
                .with_max_concurrent_streams(max_streams(cfg)),
        );

        Ok(Self {
            blocked: allow_block_list::Behaviour::default(),
            limits,
            guard,
            identify,
            ping: ping::Behaviour::new(ping::Config::new().with_interval(PING_EVERY)),
            addresses: AddressBook::new(),
            gossip,
            rpc,
            node,
            node_streams: InboundStreams::new(node_protocol(network)?),
            onion,
        })
    }
}
