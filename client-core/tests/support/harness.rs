//! An in-process network of real service nodes over libp2p's memory transport
//! (adapted from sotto-node's multi-node test harness), and clients started
//! against it.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::field_reassign_with_default
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use libp2p::Multiaddr;
use sotto_client::{Client, ClientConfig, PathStatus};
use sotto_node::config::NodeConfig;
use sotto_node::directory::peer_id_of;
use sotto_node::identity::Identity;
use sotto_node::node::{Node, NodeOptions};
use sotto_protocol::namespace::Namespace;
use sotto_protocol::rpc::MessageHash;
use sotto_protocol::{AccountId, NetworkParams, NodeId};
use tempfile::TempDir;

static NEXT_PORT: AtomicU64 = AtomicU64::new(0);

fn memory_port() -> u64 {
    // Per-process base, above the node crate's tests' range.
    let base = 5_000_000 + u64::from(std::process::id()) * 10_000;
    base + NEXT_PORT.fetch_add(1, Ordering::Relaxed)
}

pub fn params() -> NetworkParams {
    let mut p = NetworkParams::devnet();
    p.handoff_grace_ms = 2_000;
    p
}

pub struct Slot {
    pub dir: TempDir,
    pub addr: Multiaddr,
    pub node_id: NodeId,
    pub node: Option<Node>,
}

pub struct TestNet {
    pub params: NetworkParams,
    pub slots: Vec<Slot>,
    pub bootstrap: Multiaddr,
}

fn node_config(listen: &Multiaddr, bootstrap: Option<&Multiaddr>) -> NodeConfig {
    let mut c = NodeConfig::default();
    c.network = "devnet".into();
    c.listen = vec![listen.to_string()];
    c.bootstrap = bootstrap.iter().map(|b| b.to_string()).collect();
    c.replication.anti_entropy_interval_ms = 1_000;
    c.replication.retry_interval_ms = 500;
    c.directory.check_interval_ms = 1_000;
    c.directory.pull_interval_ms = 1_000;
    c.limits.request_timeout_ms = 5_000;
    c
}

impl TestNet {
    pub async fn start(n: usize) -> TestNet {
        let mut net = TestNet {
            params: params(),
            slots: Vec::new(),
            bootstrap: Multiaddr::empty(),
        };
        for _ in 0..n {
            net.add_node().await;
        }
        net.wait_directories(n).await;
        net
    }

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
            node_id,
            node: None,
        });
        let i = self.slots.len() - 1;
        let bootstrap = (i != 0).then_some(&self.bootstrap);
        let mut o = NodeOptions::new(
            self.slots[i].dir.path().to_path_buf(),
            node_config(&self.slots[i].addr, bootstrap),
            self.params.clone(),
        );
        o.memory = true;
        self.slots[i].node = Some(Node::start(o).await.unwrap());
        i
    }

    pub async fn stop(&mut self, i: usize) {
        if let Some(node) = self.slots[i].node.take() {
            node.shutdown().await.unwrap();
        }
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
            assert!(Instant::now() < deadline, "directories stuck at {sizes:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The swarm of `account` by the first running node's view.
    pub fn swarm(&self, account: &AccountId) -> Vec<NodeId> {
        let (_, n) = self.running().next().unwrap();
        n.context().dir(|d| d.swarm(account))
    }

    /// Which running nodes hold the message `hash` of `account`'s inbox, and
    /// how many copies each holds.
    pub fn holders(&self, account: &AccountId, hash: &MessageHash) -> Vec<(NodeId, usize)> {
        self.running()
            .filter_map(|(i, node)| {
                let page = node
                    .context()
                    .store
                    .retrieve(
                        account,
                        Namespace::INBOX,
                        None,
                        0,
                        u32::MAX,
                        sotto_client_now(),
                    )
                    .unwrap();
                let copies = page.messages.iter().filter(|m| m.hash == *hash).count();
                (copies > 0).then_some((self.slots[i].node_id, copies))
            })
            .collect()
    }

    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new(self.params.clone(), vec![self.bootstrap.clone()]);
        c.memory = true;
        c.directory_refresh = Duration::from_secs(1);
        c.onion_timeout = Duration::from_secs(35);
        c
    }
}

pub fn sotto_client_now() -> u64 {
    sotto_node::clock::Clock::system().now()
}

/// Waits (bounded) until the client's path status satisfies `ok`.
pub async fn wait_status(
    client: &Client,
    what: &str,
    ok: impl Fn(&PathStatus) -> bool,
) -> PathStatus {
    let mut rx = client.path_status();
    let found = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let now = rx.borrow_and_update().clone();
            if ok(&now) {
                return now;
            }
            if rx.changed().await.is_err() {
                panic!("the client stopped");
            }
        }
    })
    .await;
    match found {
        Ok(s) => s,
        Err(_) => panic!("path status never became {what}: {:?}", rx.borrow().clone()),
    }
}
