//! An in-process network of real nodes over libp2p's memory transport, and a
//! client that talks to them over the same transport, for the multi-node tests.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::ops::{Deref, DerefMut};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use libp2p::PeerId;
use libp2p::identity::Keypair;
use sotto_node::clock::Clock;
use sotto_node::config::NodeConfig;
use sotto_node::directory::peer_id_of;
use sotto_node::localnet::LocalNet;
use sotto_node::metrics::Metrics;
use sotto_node::net::{self, NetConfig, NetHandle};
use sotto_node::node::Node;
use sotto_protocol::rpc::{ErrorKind, Request, Response, StoreRequest};
use sotto_protocol::{AccountId, NodeId};

/// Test network parameters: devnet with a short handoff grace.
pub use sotto_node::localnet::fast_params as params;

/// How long a test waits for the directories to fill.
const DIRECTORY_WAIT: Duration = Duration::from_secs(60);

/// A network of in-process nodes: the shared [`LocalNet`] with panicking
/// shortcuts for tests.
pub struct TestNet {
    pub net: LocalNet,
}

impl Deref for TestNet {
    type Target = LocalNet;
    fn deref(&self) -> &LocalNet {
        &self.net
    }
}

impl DerefMut for TestNet {
    fn deref_mut(&mut self) -> &mut LocalNet {
        &mut self.net
    }
}

impl TestNet {
    /// Starts `n` nodes; node 0 is everyone's bootstrap. Waits until every
    /// directory holds all `n`.
    pub async fn start(n: usize) -> TestNet {
        TestNet {
            net: LocalNet::start(params(), n, DIRECTORY_WAIT).await.unwrap(),
        }
    }

    /// Makes and starts one more node, bootstrapping from node 0.
    pub async fn add_node(&mut self) -> usize {
        self.net.add_node().await.unwrap()
    }

    /// Starts node `i` (again) on its data dir and address.
    pub async fn restart(&mut self, i: usize) {
        assert!(self.slots[i].node.is_none(), "node {i} is running");
        self.net.restart(i).await.unwrap();
    }

    /// Stops node `i` cleanly.
    pub async fn stop(&mut self, i: usize) {
        self.net.stop(i).await.unwrap();
    }

    pub fn node(&self, i: usize) -> &Node {
        self.net.node(i).expect("node running")
    }

    pub fn index_of(&self, node: &NodeId) -> usize {
        self.net.index_of(node).unwrap()
    }

    /// Waits (bounded) until every running node's directory holds `n` records.
    pub async fn wait_directories(&self, n: usize) {
        self.net.wait_directories(n, DIRECTORY_WAIT).await.unwrap();
    }

    /// The swarm of `account` by the first running node's view.
    pub fn swarm(&self, account: &AccountId) -> Vec<NodeId> {
        assert!(self.running().next().is_some(), "no node runs");
        self.net.swarm(account)
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
        self.net.data_dir(i).unwrap()
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
