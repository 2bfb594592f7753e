//! A network of real nodes in one process: libp2p's memory transport,
//! temporary data directories, devnet-style parameters and node settings
//! that make replication, handoff and directory work run every second or so.
//!
//! The multi-node tests of the node and client crates and the swarm simulator
//! all build on it. Each node sits in a [`Slot`] that keeps its data
//! directory, address and clock across stops and restarts; node 0 is every
//! other node's bootstrap. Crashes, partitions and clock skews live in
//! [`faults`](self::faults).

pub mod faults;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use sotto_protocol::{AccountId, NetworkParams, NodeId};
use tempfile::TempDir;

use crate::clock::Clock;
use crate::config::NodeConfig;
use crate::directory::peer_id_of;
use crate::identity::{Identity, IdentityError};
use crate::net::NetError;
use crate::node::{Node, NodeError, NodeOptions};

/// Memory addresses are process-wide, and so is this counter: every net in
/// the process takes fresh addresses from it, so two nets never meet.
static NEXT_PORT: AtomicU64 = AtomicU64::new(0);

fn memory_port() -> u64 {
    // High and per-process, so that the addresses stand out in logs and do
    // not meet the small literal ports some tests listen on.
    let base = 1_000_000 + u64::from(std::process::id()) * 10_000;
    base + NEXT_PORT.fetch_add(1, Ordering::Relaxed)
}

/// Why the local network could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum LocalNetError {
    /// A temporary data directory could not be made.
    #[error("temporary data directory: {0}")]
    TempDir(#[source] std::io::Error),
    /// A new node's identity could not be written.
    #[error("node identity: {0}")]
    Identity(#[from] IdentityError),
    /// A node id that is no ed25519 key (cannot happen for ids we made).
    #[error("node {0} has an id that is not a libp2p peer id")]
    NotPeerId(usize),
    /// There is no node with this index.
    #[error("there is no node {0}")]
    NoNode(usize),
    /// The node with this index is stopped.
    #[error("node {0} is not running")]
    NotRunning(usize),
    /// A node failed to start or to stop.
    #[error("node {index}: {source}")]
    Node {
        /// The node's index.
        index: usize,
        /// What went wrong.
        #[source]
        source: NodeError,
    },
    /// A node's network task refused a command (it has stopped).
    #[error("node {index} network: {source}")]
    Net {
        /// The node's index.
        index: usize,
        /// What went wrong.
        #[source]
        source: NetError,
    },
    /// A crashed node's data directory could not be copied.
    #[error("node {index}: copying the data directory after a crash: {reason}")]
    CrashCopy {
        /// The node's index.
        index: usize,
        /// What went wrong.
        reason: String,
    },
    /// The directories did not fill in time.
    #[error("directories did not reach {want} nodes within {limit:?}: sizes {sizes:?}")]
    Directories {
        /// The number of records waited for.
        want: usize,
        /// How long it waited.
        limit: Duration,
        /// Each running node's directory size at the end.
        sizes: Vec<usize>,
    },
}

/// One node: its data directory, address and clock survive its restarts.
#[derive(Debug)]
pub struct Slot {
    /// The data directory (removed when the net is dropped).
    pub dir: TempDir,
    /// Its memory address.
    pub addr: Multiaddr,
    /// Its node id.
    pub node_id: NodeId,
    /// Its libp2p peer id.
    pub peer: PeerId,
    /// Its clock, kept across restarts so that a skew stays.
    pub clock: Arc<Clock>,
    /// Addresses it announces besides its memory address (its config's
    /// `external`): the simulator gives nodes public addresses this way, so
    /// that rules keyed to subnets see who shares one.
    pub external: Vec<String>,
    /// The running node, if it runs.
    pub node: Option<Node>,
}

/// A network of real nodes in this process.
#[derive(Debug)]
pub struct LocalNet {
    /// Its parameters.
    pub params: NetworkParams,
    /// The settings every node starts with (listen and bootstrap are filled
    /// in per node); change them before starting the nodes they should
    /// affect.
    pub base: NodeConfig,
    /// Every node ever added, by index.
    pub slots: Vec<Slot>,
    /// Node 0's address with its peer id, the clients' bootstrap (and the
    /// nodes' while `seeds` is 1).
    pub bootstrap: Multiaddr,
    /// How many of the first nodes the others bootstrap from, spread evenly,
    /// two each where there are several (1: everyone from node 0). A large
    /// net spreads its joins so that no node takes a connection from every
    /// other.
    pub seeds: usize,
    /// The partition in force: groups of node indices (the nodes in none
    /// form one more group), or `None` when the net is whole.
    pub partition: Option<Vec<Vec<usize>>>,
}

impl Drop for LocalNet {
    /// Flushes every running node's store before the nodes go. A net dropped
    /// without [`LocalNet::stop_all`] (most tests) otherwise leaves each
    /// store's last handle to a node task ending while the runtime shuts
    /// down, and sled flushes in that drop; with several databases in one
    /// process, sled 0.34 was seen to hang there for good, waiting for a
    /// write its shared IO threads never got (a test stuck after its last
    /// line). With nothing left to write, that last flush does not wait.
    fn drop(&mut self) {
        for slot in &self.slots {
            if let Some(node) = &slot.node
                && let Err(e) = node.context().store.flush()
            {
                tracing::debug!("flushing a node's store as the net is dropped: {e}");
            }
        }
    }
}

/// Node settings for a fast-moving network: replication, handoff, purges
/// and directory work run every second or so, so that tests and short
/// simulations see them happen.
pub fn fast_config() -> NodeConfig {
    let mut c = NodeConfig {
        network: "devnet".into(),
        ..NodeConfig::default()
    };
    c.replication.anti_entropy_interval_ms = 1_000;
    c.replication.retry_interval_ms = 500;
    c.replication.handoff_check_interval_ms = 500;
    c.directory.check_interval_ms = 1_000;
    c.directory.pull_interval_ms = 1_000;
    c.store.purge_interval_ms = 1_000;
    // The nodes share the machine's temporary disk with everything else and
    // hold little: a small watermark keeps the check live without failing a
    // test on a crowded CI disk (the default is for a node's own disk).
    c.store.min_free_disk_bytes = 8 * 1024 * 1024;
    c.limits.request_timeout_ms = 5_000;
    c
}

/// Devnet parameters with a 2 s handoff grace, so that a handoff started in
/// a test finishes within the test's patience.
pub fn fast_params() -> NetworkParams {
    let mut p = NetworkParams::devnet();
    p.handoff_grace_ms = 2_000;
    p
}

impl LocalNet {
    /// An empty net with [`fast_config`] settings.
    pub fn new(params: NetworkParams) -> LocalNet {
        LocalNet {
            params,
            base: fast_config(),
            slots: Vec::new(),
            bootstrap: Multiaddr::empty(),
            seeds: 1,
            partition: None,
        }
    }

    /// Starts `n` nodes and waits (up to `limit`) until every directory
    /// holds all of them.
    pub async fn start(
        params: NetworkParams,
        n: usize,
        limit: Duration,
    ) -> Result<LocalNet, LocalNetError> {
        let mut net = LocalNet::new(params);
        for _ in 0..n {
            net.add_node().await?;
        }
        net.wait_directories(n, limit).await?;
        Ok(net)
    }

    /// Makes and starts one more node (node 0 bootstraps everyone); returns
    /// its index.
    pub async fn add_node(&mut self) -> Result<usize, LocalNetError> {
        let i = self.add_slot()?;
        self.restart(i).await?;
        Ok(i)
    }

    /// Makes one more node (identity, data directory and address) without
    /// starting it, so that a caller can prepare for its address (the
    /// simulator places it in its network model) before
    /// [`LocalNet::restart`] starts it; returns its index.
    pub fn add_slot(&mut self) -> Result<usize, LocalNetError> {
        let i = self.slots.len();
        let dir = tempfile::tempdir().map_err(LocalNetError::TempDir)?;
        let identity = Identity::init(dir.path(), &self.params)?;
        let node_id = identity.node_id();
        let peer = peer_id_of(&node_id).ok_or(LocalNetError::NotPeerId(i))?;
        let addr = Multiaddr::empty().with(Protocol::Memory(memory_port()));
        if self.slots.is_empty() {
            self.bootstrap = addr.clone().with(Protocol::P2p(peer));
        }
        self.slots.push(Slot {
            dir,
            addr,
            node_id,
            peer,
            clock: Arc::new(Clock::system()),
            external: Vec::new(),
            node: None,
        });
        Ok(i)
    }

    /// The settings node `i` starts with.
    pub fn node_config(&self, i: usize) -> Result<NodeConfig, LocalNetError> {
        let slot = self.slots.get(i).ok_or(LocalNetError::NoNode(i))?;
        let mut c = self.base.clone();
        c.listen = vec![slot.addr.to_string()];
        if !slot.external.is_empty() {
            c.external = slot.external.clone();
        }
        c.bootstrap = if i == 0 {
            Vec::new()
        } else {
            // Two seeds where there are several (as a real node lists a few
            // bootstrap peers): one slow seed then does not leave a newcomer
            // knowing no one.
            let seeds = self.seeds.clamp(1, i);
            let first = (i - 1) % seeds;
            let mut picked = vec![first];
            if seeds > 1 {
                picked.push((first + seeds / 2) % seeds);
            }
            let mut list = Vec::with_capacity(picked.len());
            for seed in picked {
                let slot = self.slots.get(seed).ok_or(LocalNetError::NoNode(seed))?;
                list.push(slot.addr.clone().with(Protocol::P2p(slot.peer)).to_string());
            }
            list
        };
        Ok(c)
    }

    /// Starts node `i` on its data dir, address and clock; a running node is
    /// left as it is.
    pub async fn restart(&mut self, i: usize) -> Result<(), LocalNetError> {
        let config = self.node_config(i)?;
        let params = self.params.clone();
        let slot = self.slots.get_mut(i).ok_or(LocalNetError::NoNode(i))?;
        if slot.node.is_some() {
            return Ok(());
        }
        let mut o = NodeOptions::new(slot.dir.path().to_path_buf(), config, params);
        o.memory = true;
        o.clock = slot.clock.clone();
        let node = Node::start(o)
            .await
            .map_err(|source| LocalNetError::Node { index: i, source })?;
        slot.node = Some(node);
        // A node that comes back during a partition is on its side of it,
        // and the others must refuse it too.
        self.apply_partition().await
    }

    /// Stops node `i` cleanly (flushing its store); a stopped node is left
    /// as it is.
    pub async fn stop(&mut self, i: usize) -> Result<(), LocalNetError> {
        let slot = self.slots.get_mut(i).ok_or(LocalNetError::NoNode(i))?;
        if let Some(node) = slot.node.take() {
            node.shutdown()
                .await
                .map_err(|source| LocalNetError::Node { index: i, source })?;
        }
        Ok(())
    }

    /// Stops every node.
    pub async fn stop_all(&mut self) -> Result<(), LocalNetError> {
        for i in 0..self.slots.len() {
            self.stop(i).await?;
        }
        Ok(())
    }

    /// Node `i`, if it runs.
    pub fn node(&self, i: usize) -> Result<&Node, LocalNetError> {
        let slot = self.slots.get(i).ok_or(LocalNetError::NoNode(i))?;
        slot.node.as_ref().ok_or(LocalNetError::NotRunning(i))
    }

    /// The running nodes with their indices.
    pub fn running(&self) -> impl Iterator<Item = (usize, &Node)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.node.as_ref().map(|n| (i, n)))
    }

    /// The indices of stopped nodes.
    pub fn stopped(&self) -> Vec<usize> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.node.is_none())
            .map(|(i, _)| i)
            .collect()
    }

    /// The index of a node id.
    pub fn index_of(&self, node: &NodeId) -> Option<usize> {
        self.slots.iter().position(|s| s.node_id == *node)
    }

    /// Node `i`'s data directory.
    pub fn data_dir(&self, i: usize) -> Result<PathBuf, LocalNetError> {
        let slot = self.slots.get(i).ok_or(LocalNetError::NoNode(i))?;
        Ok(slot.dir.path().to_path_buf())
    }

    /// The swarm of `account` by the first running node's view (empty when
    /// none runs).
    pub fn swarm(&self, account: &AccountId) -> Vec<NodeId> {
        self.running()
            .next()
            .map(|(_, n)| n.context().dir(|d| d.swarm(account)))
            .unwrap_or_default()
    }

    /// Waits (up to `limit`) until every running node's directory holds at
    /// least `n` records.
    pub async fn wait_directories(&self, n: usize, limit: Duration) -> Result<(), LocalNetError> {
        let deadline = Instant::now() + limit;
        loop {
            let sizes: Vec<usize> = self
                .running()
                .map(|(_, node)| node.context().dir(|d| d.len()))
                .collect();
            if sizes.iter().all(|s| *s >= n) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(LocalNetError::Directories {
                    want: n,
                    limit,
                    sizes,
                });
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[cfg(test)]
mod tests;
