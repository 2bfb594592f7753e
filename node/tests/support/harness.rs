//! An in-process network of real nodes over libp2p's memory transport, and a
//! client that talks to them over the same transport, for the multi-node tests.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::field_reassign_with_default
)]

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use sotto_node::clock::Clock;
use sotto_node::config::NodeConfig;
use sotto_node::directory::peer_id_of;
use sotto_node::identity::Identity;
use sotto_node::metrics::Metrics;
use sotto_node::net::{self, NetConfig, NetHandle};
use sotto_node::node::{Node, NodeOptions};
use sotto_protocol::rpc::{ErrorKind, Request, Response, StoreRequest};
use sotto_protocol::{AccountId, NetworkParams, NodeId};
use tempfile::TempDir;

/// Memory addresses are process-wide: every test takes its own range.
static NEXT_PORT: AtomicU64 = AtomicU64::new(0);

fn memory_port() -> u64 {
    // High, per-process-random base so that two test binaries never meet.
    let base = 1_000_000 + u64::from(std::process::id()) * 10_000;
    base + NEXT_PORT.fetch_add(1, Ordering::Relaxed)
}

/// Test network parameters: devnet with a short handoff grace.
pub fn params() -> NetworkParams {
    let mut p = NetworkParams::devnet();
    p.handoff_grace_ms = 2_000;
    p
}

/// One node slot: its data dir and address survive restarts.
pub struct Slot {
    pub dir: TempDir,
    pub addr: Multiaddr,
    pub peer: PeerId,
    pub node_id: NodeId,
    pub node: Option<Node>,
}

/// A network of in-process nodes.
pub struct TestNet {
    pub params: NetworkParams,
    pub slots: Vec<Slot>,
    pub bootstrap: Multiaddr,
}

pub fn node_config(listen: &Multiaddr, bootstrap: Option<&Multiaddr>) -> NodeConfig {
    let mut c = NodeConfig::default();
    c.network = "devnet".into();
    c.listen = vec![listen.to_string()];
    c.bootstrap = bootstrap.iter().map(|b| b.to_string()).collect();
    c.replication.anti_entropy_interval_ms = 1_000;
    c.replication.retry_interval_ms = 500;
    c.replication.handoff_check_interval_ms = 500;
    c.directory.check_interval_ms = 1_000;
    c.directory.pull_interval_ms = 1_000;
    c.store.purge_interval_ms = 1_000;
    c.limits.request_timeout_ms = 5_000;
    c
}

impl TestNet {
    /// Starts `n` nodes; node 0 is everyone's bootstrap. Waits until every
    /// directory holds all `n`.
    pub async fn start(n: usize) -> TestNet {
        let params = params();
        let mut net = TestNet {
            params,
            slots: Vec::new(),
            bootstrap: Multiaddr::empty(),
        };
        for _ in 0..n {
            net.add_node().await;
        }
        net.wait_directories(n).await;
        net
    }

    /// Makes and starts one more node, bootstrapping from node 0.
    pub async fn add_node(&mut self) -> usize {
        let dir = tempfile::tempdir().unwrap();
        let identity = Identity::init(dir.path(), &self.params).unwrap();
        let node_id = identity.node_id();
        let peer = peer_id_of(&node_id).unwrap();
        let addr: Multiaddr = format!("/memory/{}", memory_port()).parse().unwrap();
        if self.slots.is_empty() {
            self.bootstrap = addr.clone().with(libp2p::multiaddr::Protocol::P2p(peer));
        }
        self.slots.push(Slot {
            dir,
            addr,
            peer,
            node_id,
            node: None,
        });
        let i = self.slots.len() - 1;
        self.restart(i).await;
        i
    }

    fn options(&self, i: usize) -> NodeOptions {
        let slot = &self.slots[i];
        let bootstrap = (i != 0).then_some(&self.bootstrap);
        let mut o = NodeOptions::new(
            slot.dir.path().to_path_buf(),
            node_config(&slot.addr, bootstrap),
            self.params.clone(),
        );
        o.memory = true;
        o
    }

    /// Starts node `i` (again) on its data dir and address.
    pub async fn restart(&mut self, i: usize) {
        assert!(self.slots[i].node.is_none(), "node {i} is running");
        let node = Node::start(self.options(i)).await.unwrap();
        self.slots[i].node = Some(node);
    }

    /// Stops node `i` cleanly.
    pub async fn stop(&mut self, i: usize) {
        if let Some(node) = self.slots[i].node.take() {
            node.shutdown().await.unwrap();
        }
    }

    pub fn node(&self, i: usize) -> &Node {
        self.slots[i].node.as_ref().expect("node running")
    }

    pub fn running(&self) -> impl Iterator<Item = (usize, &Node)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.node.as_ref().map(|n| (i, n)))
    }

    pub fn index_of(&self, node: &NodeId) -> usize {
        self.slots.iter().position(|s| s.node_id == *node).unwrap()
    }

    /// Waits (bounded) until every running node's directory holds `n` records.
    pub async fn wait_directories(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let sizes: Vec<usize> = self
                .running()
                .map(|(_, node)| node.context().dir(|d| d.len()))
                .collect();
            if sizes.iter().all(|s| *s >= n) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "directories did not reach {n} nodes: {sizes:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The swarm of `account` by node 0's view (or the first running node's).
    pub fn swarm(&self, account: &AccountId) -> Vec<NodeId> {
        let (_, n) = self.running().next().unwrap();
        n.context().dir(|d| d.swarm(account))
    }

    /// Runs anti-entropy and handoff once on every running node.
    pub async fn converge(&self) {
        for (_, node) in self.running() {
            node.replicator().anti_entropy_once().await;
        }
        for (_, node) in self.running() {
            node.replicator().handoff_once().await;
        }
    }

    /// A client on the memory transport that knows every node's address.
    pub async fn client(&self) -> Client {
        let metrics = Arc::new(Metrics::default());
        let mut cfg = NetConfig::from_limits(
            &NodeConfig::default().limits,
            Vec::new(),
            vec![self.bootstrap.clone()],
            true,
        );
        cfg.request_timeout = Duration::from_secs(10);
        let net = net::spawn(
            Keypair::generate_ed25519(),
            &self.params.name,
            cfg,
            Arc::new(Clock::system()),
            metrics,
        )
        .unwrap();
        for s in &self.slots {
            net.handle
                .add_addresses(s.peer, vec![s.addr.clone()])
                .await
                .unwrap();
        }
        Client {
            handle: net.handle,
            _task: net.task,
        }
    }

    pub fn data_dir(&self, i: usize) -> PathBuf {
        self.slots[i].dir.path().to_path_buf()
    }
}

/// A client of the test network.
pub struct Client {
    pub handle: NetHandle,
    _task: tokio::task::JoinHandle<()>,
}

impl Client {
    pub async fn rpc(&self, peer: PeerId, req: Request) -> Response {
        self.handle.rpc(peer, req).await.unwrap()
    }

    /// Stores through `entry`, following `WrongSwarm` to a member (at most twice,
    /// as a real client does).
    pub async fn store(&self, mut entry: PeerId, req: StoreRequest) -> Response {
        for _ in 0..3 {
            let resp = self.rpc(entry, Request::Store(req.clone())).await;
            match &resp {
                Response::Error(e) => match &e.kind {
                    ErrorKind::WrongSwarm { swarm } => {
                        let first = swarm.first().expect("a swarm");
                        let rec = first.verify(&params(), now()).unwrap();
                        entry = peer_id_of(&rec.node).unwrap();
                    }
                    _ => return resp,
                },
                _ => return resp,
            }
        }
        panic!("WrongSwarm more than twice");
    }
}

pub fn now() -> u64 {
    Clock::system().now()
}
