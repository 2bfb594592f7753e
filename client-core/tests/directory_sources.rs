//! No single node decides which nodes a client knows (issue 13, "a directory no
//! single node controls"): the client merges the directories of several
//! bootstrap nodes, and later asks directory nodes through its onion paths.
//! Real nodes over the memory transport.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{TestNet, wait_status};
use sotto_client::{Client, PathStatus};

/// Bound of each test.
const LIMIT: Duration = Duration::from_secs(180);

/// Waits (bounded) until the client knows `n` nodes.
async fn wait_known(client: &Client, n: usize) {
    let waited = tokio::time::timeout(Duration::from_secs(90), async {
        while client.directory_len() < n {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "the client knows {} nodes, not {n}",
        client.directory_len()
    );
}

/// Two bootstrap nodes that each know only part of the network (here: two
/// networks that never met, the strongest form of "leaving nodes out"): the
/// client's directory is the union after one fetch, whichever answers first.
/// (Nothing else may add nodes: the next fetch is an hour away.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_directory_is_the_union_of_several_bootstraps() {
    tokio::time::timeout(LIMIT, async {
        let a = TestNet::start(3).await;
        let b = TestNet::start(3).await;
        let mut config = a.client_config();
        config.bootstrap = vec![a.bootstrap.clone(), b.bootstrap.clone()];
        config.directory_refresh = Duration::from_secs(3600);
        config.path_directory_interval = Duration::from_secs(3600);
        let client = Client::start(config).await.unwrap();
        wait_known(&client, 6).await;
        client.shutdown().await;
    })
    .await
    .expect("test timed out");
}

/// Once paths are ready, a node the bootstrap node is never asked about again
/// (its next fetch is an hour away) still reaches the client: it asks
/// directory nodes through its paths.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_reached_through_paths_add_to_the_directory() {
    tokio::time::timeout(LIMIT, async {
        let mut net = TestNet::start(4).await;
        let mut config = net.client_config();
        config.directory_refresh = Duration::from_secs(3600);
        config.path_directory_interval = Duration::from_secs(1);
        let client = Client::start(config).await.unwrap();
        wait_known(&client, 4).await;
        wait_status(&client, "a ready path", |s| {
            matches!(s, PathStatus::Ready { .. })
        })
        .await;
        net.add_node().await;
        net.wait_directories(5).await;
        wait_known(&client, 5).await;
        client.shutdown().await;
    })
    .await
    .expect("test timed out");
}
