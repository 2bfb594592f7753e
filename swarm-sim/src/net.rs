//! Real nodes in this process over libp2p's memory transport, each on its own
//! temporary data directory that survives its restarts.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use sotto_client::ClientConfig;
use sotto_node::config::NodeConfig;
use sotto_node::directory::peer_id_of;
use sotto_node::identity::Identity;
use sotto_node::node::{Node, NodeOptions};
use sotto_protocol::{AccountId, NetworkParams, NodeId};
use tempfile::TempDir;

use crate::SimError;

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
}

/// Node settings for a fast-moving test network: replication, handoff and
/// directory work run every second or so, so that a run of a minute shows
/// them.
fn node_config(listen: &Multiaddr, bootstrap: Option<&Multiaddr>) -> NodeConfig {
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
    c
}

impl SimNet {
    /// An empty net.
    pub fn new(params: NetworkParams) -> SimNet {
        SimNet {
            params,
            slots: Vec::new(),
            bootstrap: Multiaddr::empty(),
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
            node_config(&slot.addr, bootstrap.as_ref()),
            self.params.clone(),
        );
        o.memory = true;
        let node = Node::start(o)
            .await
            .map_err(|e| SimError::Setup(format!("node {i} start: {e}")))?;
        slot.node = Some(node);
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
