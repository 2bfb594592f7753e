//! An in-process network of real service nodes over libp2p's memory transport
//! (sotto-node's `localnet`), and clients started
//! against it.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use sotto_client::{Client, ClientConfig, PathStatus};
use sotto_node::localnet::LocalNet;
use sotto_protocol::namespace::Namespace;
use sotto_protocol::rpc::MessageHash;
use sotto_protocol::{AccountId, NodeId};

/// Test network parameters: devnet with a short handoff grace.
pub use sotto_node::localnet::fast_params as params;

/// How long a test waits for the directories to fill.
const DIRECTORY_WAIT: Duration = Duration::from_secs(60);

/// The shared [`LocalNet`] with panicking shortcuts and client helpers.
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
    pub async fn start(n: usize) -> TestNet {
        TestNet {
            net: LocalNet::start(params(), n, DIRECTORY_WAIT).await.unwrap(),
        }
    }

    pub async fn add_node(&mut self) -> usize {
        self.net.add_node().await.unwrap()
    }

    pub async fn stop(&mut self, i: usize) {
        self.net.stop(i).await.unwrap();
    }

    pub fn index_of(&self, node: &NodeId) -> usize {
        self.net.index_of(node).unwrap()
    }

    pub async fn wait_directories(&self, n: usize) {
        self.net.wait_directories(n, DIRECTORY_WAIT).await.unwrap();
    }

    /// The swarm of `account` by the first running node's view.
    pub fn swarm(&self, account: &AccountId) -> Vec<NodeId> {
        assert!(self.running().next().is_some(), "no node runs");
        self.net.swarm(account)
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
                        0,
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
        // Delivery receipts wait a random 5-60 s in real use; tests that
        // wait for "delivered" should not.
        c.receipt_delay = (Duration::ZERO, Duration::from_millis(200));
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
