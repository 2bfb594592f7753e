//! The node's configuration: `DIR/node.toml`, every key with a default
//! (`config/node.toml` lists them all with comments; a test keeps the two equal).

mod file;

use serde::{Deserialize, Serialize};

pub use file::{ConfigError, MAX_CONFIG_FILE_LEN};

use crate::store::{DEFAULT_MIN_FREE_DISK_BYTES, StoreLimits};

/// The whole node configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// The network: a preset name (`devnet`, `public`) or the path of a TOML file
    /// of network parameters.
    pub network: String,
    /// Multiaddrs to listen on (TCP and QUIC).
    pub listen: Vec<String>,
    /// Multiaddrs of bootstrap peers, with their `/p2p/<peer id>`.
    pub bootstrap: Vec<String>,
    /// Multiaddrs others reach this node at, announced in its record before
    /// the listen addresses: the public address of a node behind NAT or a
    /// port forward (whose interfaces have only private addresses, which
    /// public records refuse).
    pub external: Vec<String>,
    /// Where to serve `/metrics` (Prometheus text); empty: not served.
    pub metrics: String,
    /// Store limits.
    pub store: StoreConfig,
    /// Limits on peers and requests.
    pub limits: LimitsConfig,
    /// Replication timings.
    pub replication: ReplicationConfig,
    /// Directory timings.
    pub directory: DirectoryConfig,
}

impl Default for NodeConfig {
    fn default() -> Self {
        Self {
            network: "public".into(),
            listen: vec![
                "/ip4/0.0.0.0/tcp/4600".into(),
                "/ip4/0.0.0.0/udp/4600/quic-v1".into(),
            ],
            bootstrap: Vec::new(),
            external: Vec::new(),
            metrics: String::new(),
            store: StoreConfig::default(),
            limits: LimitsConfig::default(),
            replication: ReplicationConfig::default(),
            directory: DirectoryConfig::default(),
        }
    }
}

/// `[store]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Most bytes one account may hold on this node.
    pub max_account_bytes: u64,
    /// Most bytes the node holds in all.
    pub max_total_bytes: u64,
    /// Most bytes attachment chunks take on the node, together (part of
    /// `max_total_bytes`).
    pub max_chunk_bytes: u64,
    /// Most bytes one account's message requests (stores without its delivery
    /// token) may hold on this node, apart from `max_account_bytes`.
    pub max_request_bytes: u64,
    /// New messages are refused (`Unavailable`, "disk nearly full") while the
    /// store's file system has less than this free; 0 turns the check off.
    /// Default [`DEFAULT_MIN_FREE_DISK_BYTES`] (256 MiB; the constant says why).
    pub min_free_disk_bytes: u64,
    /// How often expired messages are purged, ms.
    pub purge_interval_ms: u64,
    /// Most items one purge batch removes.
    pub purge_batch: usize,
    /// How often sled writes unflushed work to disk in the background, ms
    /// (default [`crate::store::FLUSH_EVERY_MS`]). 0: no background flusher
    /// thread, and no compaction of sled's log: only for many nodes in one
    /// short-lived process (the simulator). Acknowledged writes are flushed
    /// before they are acknowledged either way.
    pub background_flush_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            max_account_bytes: StoreLimits::DEFAULT.max_account_bytes,
            max_total_bytes: StoreLimits::DEFAULT.max_total_bytes,
            max_chunk_bytes: StoreLimits::DEFAULT.max_chunk_bytes,
            max_request_bytes: StoreLimits::DEFAULT.max_request_bytes,
            min_free_disk_bytes: DEFAULT_MIN_FREE_DISK_BYTES,
            purge_interval_ms: 60_000,
            purge_batch: 1_000,
            background_flush_ms: crate::store::FLUSH_EVERY_MS,
        }
    }
}

impl StoreConfig {
    /// The store limits this section sets.
    pub fn limits(&self) -> StoreLimits {
        StoreLimits {
            max_account_bytes: self.max_account_bytes,
            max_total_bytes: self.max_total_bytes,
            max_chunk_bytes: self.max_chunk_bytes,
            max_request_bytes: self.max_request_bytes,
        }
    }
}

/// `[limits]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Most established connections in all.
    pub max_connections: u32,
    /// Most established connections with one peer.
    pub max_connections_per_peer: u32,
    /// Most established connections of peers at one IP address (directory
    /// nodes are not counted; a quarter of `max_connections` is kept for them).
    pub max_connections_per_ip: usize,
    /// Most inbound requests handled at once, for each protocol (client RPC,
    /// replication, onion) separately; a quarter of each is kept for
    /// directory nodes.
    pub max_concurrent_requests: usize,
    /// Most inbound requests from one peer handled at once, per protocol.
    pub max_requests_per_peer: usize,
    /// Most inbound requests from one IP address handled at once, per
    /// protocol (directory nodes are not bounded by address).
    pub max_requests_per_ip: usize,
    /// How long an outbound request to a peer may take, dial included, ms.
    pub request_timeout_ms: u64,
    /// Most long-poll retrieves waiting at once. A waiting retrieve is parked
    /// (its request and a callback, a few hundred bytes), not a task nor a
    /// request slot.
    pub max_long_polls: usize,
    /// Stores one account may make per minute on this node (token bucket).
    pub store_rate_per_minute: u32,
    /// How many stores an account may make at once above the rate.
    pub store_burst: u32,
    /// Most accounts whose store rate is tracked (least recently seen are dropped).
    pub rate_tracked_accounts: usize,
    /// Attachment chunks clients may store on this node per minute, all
    /// together (token bucket; chunks pushed by co-members do not count).
    pub chunk_rate_per_minute: u32,
    /// How many chunks clients may store at once above that rate.
    pub chunk_burst: u32,
    /// Message requests (stores without the recipient's delivery token) one
    /// account may receive per minute on this node, apart from its store
    /// rate, so that strangers cannot use up its contacts' rate.
    pub request_rate_per_minute: u32,
    /// How many message requests an account may receive at once above that
    /// rate.
    pub request_burst: u32,
    /// Most records the directory holds.
    pub max_directory_nodes: usize,
    /// Most onion replay tags kept (32 bytes each); when full, new onion
    /// packets are refused (failing closed: dropping a tag would let its
    /// replay through).
    pub max_replay_tags: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            max_connections: 512,
            max_connections_per_peer: 4,
            max_connections_per_ip: 64,
            max_concurrent_requests: 256,
            max_requests_per_peer: 32,
            max_requests_per_ip: 64,
            request_timeout_ms: 10_000,
            max_long_polls: 65_536,
            store_rate_per_minute: 600,
            store_burst: 120,
            rate_tracked_accounts: 100_000,
            chunk_rate_per_minute: 3_000,
            chunk_burst: 1_000,
            request_rate_per_minute: 30,
            request_burst: 30,
            max_directory_nodes: 20_000,
            max_replay_tags: 2_000_000,
        }
    }
}

/// `[replication]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationConfig {
    /// How often a node compares digests with each co-member, ms.
    pub anti_entropy_interval_ms: u64,
    /// How often failed pushes are retried, ms.
    pub retry_interval_ms: u64,
    /// Most pushes waiting for a retry; the oldest is dropped beyond it (anti-entropy
    /// still repairs what it carried).
    pub max_backlog: usize,
    /// How often the node checks which accounts it no longer serves, ms.
    pub handoff_check_interval_ms: u64,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        Self {
            anti_entropy_interval_ms: 60_000,
            retry_interval_ms: 5_000,
            max_backlog: 10_000,
            handoff_check_interval_ms: 60_000,
        }
    }
}

/// `[directory]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectoryConfig {
    /// Re-announce the node's record this long before it expires, ms.
    pub reannounce_margin_ms: u64,
    /// How often expired records are dropped and the own record checked, ms.
    pub check_interval_ms: u64,
    /// How often the whole directory is pulled again from a random peer, ms.
    pub pull_interval_ms: u64,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        Self {
            reannounce_margin_ms: 30 * 60_000,
            check_interval_ms: 30_000,
            pull_interval_ms: 10 * 60_000,
        }
    }
}
