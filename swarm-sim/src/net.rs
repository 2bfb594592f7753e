//! Real nodes in this process over libp2p's memory transport, each on its own
//! temporary data directory that survives its restarts.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use sotto_client::ClientConfig;
use sotto_node::clock::Clock;
use sotto_node::config::NodeConfig;
use sotto_node::directory::peer_id_of;
use sotto_node::identity::Identity;
use sotto_node::node::{Node, NodeOptions};
use sotto_protocol::{AccountId, NetworkParams, NodeId};
use tempfile::TempDir;

use crate::SimError;
use crate::scenario::NodeOverrides;

/// Memory addresses are process-wide; each net takes fresh ones.
static NEXT_PORT: AtomicU64 = AtomicU64::new(0);

fn memory_port() -> u64 {
    // A per-process base away from the test harnesses' ranges, so that a
    // simulator run inside a test binary never meets another test's nodes.
    let base = 20_000_000 + u64::from(std::process::id()) * 10_000;
    base + NEXT_PORT.fetch_add(1, Ordering::Relaxed)
}

/// One node: its data dir and address are kept across restarts.
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
    /// The running node, if it runs.
    pub node: Option<Node>,
}

/// The simulated network.
#[derive(Debug)]
pub struct SimNet {
    /// Its parameters.
    pub params: NetworkParams,
    /// Every node ever started, by index.
    pub slots: Vec<Slot>,
    /// Node 0's address, everyone's bootstrap.
    pub bootstrap: Multiaddr,
    /// Node settings the scenario changes.
    pub overrides: NodeOverrides,
    /// The partition in force: groups of node indices (the nodes in none
    /// form one more group), or `None` when the net is whole.
    pub partition: Option<Vec<Vec<usize>>>,
}

/// Node settings for a fast-moving test network: replication, handoff and
/// directory work run every second or so, so that a run of a minute shows
/// them.
fn node_config(listen: &Multiaddr, bootstrap: Option<&Multiaddr>, o: &NodeOverrides) -> NodeConfig {
    let mut c = NodeConfig {
        network: "devnet".into(),
        listen: vec![listen.to_string()],
        bootstrap: bootstrap.iter().map(|b| b.to_string()).collect(),
        ..NodeConfig::default()
    };
    c.replication.anti_entropy_interval_ms = 1_000;
    c.replication.retry_interval_ms = 500;
    c.replication.handoff_check_interval_ms = 500;
    c.directory.check_interval_ms = 1_000;
    c.directory.pull_interval_ms = 1_000;
    c.store.purge_interval_ms = 1_000;
    c.limits.request_timeout_ms = 5_000;
    if let Some(v) = o.store_rate_per_minute {
        c.limits.store_rate_per_minute = v;
    }
    if let Some(v) = o.store_burst {
        c.limits.store_burst = v;
    }
    if let Some(v) = o.max_account_bytes {
        c.store.max_account_bytes = v;
    }
    c
}

/// Copies the directory `from` into `to` as it is on disk now.
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

impl SimNet {
    /// An empty net.
    pub fn new(params: NetworkParams) -> SimNet {
        SimNet {
            params,
            slots: Vec::new(),
            bootstrap: Multiaddr::empty(),
            overrides: NodeOverrides::default(),
            partition: None,
        }
    }

    /// Makes and starts one more node (node 0 bootstraps everyone).
    pub async fn add_node(&mut self) -> Result<usize, SimError> {
        let dir = tempfile::tempdir().map_err(|e| SimError::Setup(format!("tempdir: {e}")))?;
        let identity = Identity::init(dir.path(), &self.params)
            .map_err(|e| SimError::Setup(format!("node identity: {e}")))?;
        let node_id = identity.node_id();
        let peer = peer_id_of(&node_id)
            .ok_or_else(|| SimError::Setup("node id is not a peer id".into()))?;
        let addr: Multiaddr = Multiaddr::empty().with(Protocol::Memory(memory_port()));
        if self.slots.is_empty() {
            self.bootstrap = addr.clone().with(Protocol::P2p(peer));
        }
        self.slots.push(Slot {
            dir,
            addr,
            node_id,
            peer,
            clock: Arc::new(Clock::system()),
            node: None,
        });
        let i = self.slots.len() - 1;
        self.restart(i).await?;
        Ok(i)
    }

    /// Starts node `i` on its data dir and address; a running node is left
    /// as it is.
    pub async fn restart(&mut self, i: usize) -> Result<(), SimError> {
        let bootstrap = (i != 0).then(|| self.bootstrap.clone());
        let Some(slot) = self.slots.get_mut(i) else {
            return Err(SimError::Setup(format!("no node {i}")));
        };
        if slot.node.is_some() {
            return Ok(());
        }
        let mut o = NodeOptions::new(
            slot.dir.path().to_path_buf(),
            node_config(&slot.addr, bootstrap.as_ref(), &self.overrides),
            self.params.clone(),
        );
        o.memory = true;
        o.clock = slot.clock.clone();
        let node = Node::start(o)
            .await
            .map_err(|e| SimError::Setup(format!("node {i} start: {e}")))?;
        slot.node = Some(node);
        // A node that comes back during a partition is on its side of it,
        // and the others must refuse it too.
        self.apply_partition().await
    }

    /// Kills node `i` as `kill -9` would: its tasks are aborted without a
    /// flush, and its data directory is replaced by a copy of what was on
    /// disk at that moment (the killed node's store handle may still flush
    /// its buffers as it is dropped; those writes go to the old directory,
    /// which is then thrown away). A crashed node is left as it is.
    pub async fn crash(&mut self, i: usize) -> Result<(), SimError> {
        let Some(slot) = self.slots.get_mut(i) else {
            return Err(SimError::Setup(format!("no node {i}")));
        };
        let Some(node) = slot.node.take() else {
            return Ok(());
        };
        node.crash().await;
        let fresh = tempfile::tempdir().map_err(|e| SimError::Setup(format!("tempdir: {e}")))?;
        let (from, to) = (slot.dir.path().to_path_buf(), fresh.path().to_path_buf());
        tokio::task::spawn_blocking(move || copy_dir(&from, &to))
            .await
            .map_err(|e| SimError::Setup(format!("node {i} crash copy: {e}")))?
            .map_err(|e| SimError::Setup(format!("node {i} crash copy: {e}")))?;
        slot.dir = fresh;
        Ok(())
    }

    /// Splits the running nodes into `groups` (indices; the nodes in no
    /// group form one more group): nodes of different groups close their
    /// connections and refuse each other until [`SimNet::heal`].
    pub async fn partition(&mut self, groups: Vec<Vec<usize>>) -> Result<(), SimError> {
        self.partition = Some(groups);
        self.apply_partition().await
    }

    /// Lifts the partition: every node accepts every other again.
    pub async fn heal(&mut self) -> Result<(), SimError> {
        self.partition = None;
        for (i, node) in self.running() {
            node.context()
                .net
                .cut(Vec::new())
                .await
                .map_err(|e| SimError::Setup(format!("node {i} heal: {e}")))?;
        }
        Ok(())
    }

    /// The group of node `i` under the partition in force.
    pub fn group_of(&self, i: usize) -> usize {
        let groups = self.partition.as_deref().unwrap_or_default();
        groups
            .iter()
            .position(|g| g.contains(&i))
            .unwrap_or(groups.len())
    }

    /// Tells every running node which peers the partition cuts it off from.
    async fn apply_partition(&self) -> Result<(), SimError> {
        if self.partition.is_none() {
            return Ok(());
        }
        for (i, node) in self.running() {
            let mine = self.group_of(i);
            let others: Vec<PeerId> = (0..self.slots.len())
                .filter(|&j| self.group_of(j) != mine)
                .filter_map(|j| self.slots.get(j).map(|s| s.peer))
                .collect();
            node.context()
                .net
                .cut(others)
                .await
                .map_err(|e| SimError::Setup(format!("node {i} partition: {e}")))?;
        }
        Ok(())
    }

    /// Sets node `i`'s clock `offset_ms` off the system clock (it stays so
    /// across restarts).
    pub fn skew(&self, i: usize, offset_ms: i64) -> Result<(), SimError> {
        let slot = self
            .slots
            .get(i)
            .ok_or_else(|| SimError::Setup(format!("no node {i}")))?;
        slot.clock.set_offset(offset_ms);
        Ok(())
    }

    /// Stops node `i` cleanly (flushing its store); a stopped node is left
    /// as it is.
    pub async fn stop(&mut self, i: usize) -> Result<(), SimError> {
        if let Some(node) = self.slots.get_mut(i).and_then(|s| s.node.take()) {
            node.shutdown()
                .await
                .map_err(|e| SimError::Setup(format!("node {i} stop: {e}")))?;
        }
        Ok(())
    }

    /// Stops every node.
    pub async fn stop_all(&mut self) -> Result<(), SimError> {
        for i in 0..self.slots.len() {
            self.stop(i).await?;
        }
        Ok(())
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
        (0..self.slots.len())
            .filter(|&i| self.slots.get(i).is_some_and(|s| s.node.is_none()))
            .collect()
    }

    /// The index of a node id.
    pub fn index_of(&self, node: &NodeId) -> Option<usize> {
        self.slots.iter().position(|s| s.node_id == *node)
    }

    /// The swarm of `account` by the first running node's view.
    pub fn swarm(&self, account: &AccountId) -> Vec<NodeId> {
        self.running()
            .next()
            .map(|(_, n)| n.context().dir(|d| d.swarm(account)))
            .unwrap_or_default()
    }

    /// Waits (up to `limit`) until every running node's directory holds at
    /// least `n` records.
    pub async fn wait_directories(&self, n: usize, limit: Duration) -> Result<(), SimError> {
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
                return Err(SimError::Setup(format!(
                    "directories did not reach {n} nodes: {sizes:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A client configuration for this net (memory transport).
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new(self.params.clone(), vec![self.bootstrap.clone()]);
        c.memory = true;
        // Faults change the network within seconds; a client must see it.
        c.directory_refresh = Duration::from_secs(2);
        c.onion_timeout = Duration::from_secs(35);
        c
    }
}
