//! A partition is a real connection cut between node groups, and healing it
//! lets replication and anti-entropy bring every swarm member back to the
//! full set of messages.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
#[path = "support/run.rs"]
mod support;

use std::time::Duration;

use sotto_protocol::NetworkParams;
use support::run_scenario;
use swarm_sim::net::SimNet;

const PARTITION: &str = r#"
name = "partition-test"
seed = 12
nodes = 10
clients = 2
duration_s = 10
drain_s = 25

[messages]
count = 16

[network]
swarm_size = 5
handoff_grace_ms = 2000

[[faults]]
at_s = 2
kind = "partition"
groups = [[5, 6, 7, 8, 9]]

[[faults]]
at_s = 7
kind = "heal"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_cuts_connections_and_a_heal_repairs_replication() {
    let report = run_scenario(PARTITION, Duration::from_secs(90)).await;
    let table = report.table();
    assert_eq!(report.faults[0].kind, "partition");
    assert_eq!(report.faults[0].nodes, vec![5, 6, 7, 8, 9]);
    assert_eq!(report.faults[1].kind, "heal");
    assert!(report.messages_acked > 0, "{table}");
    assert_eq!(report.lost, 0, "{table}");
    assert_eq!(report.duplicates, 0, "{table}");
    assert_eq!(report.replication.fraction, 1.0, "{table}");
}

/// The cut itself, seen from the nodes: no connection crosses it while it
/// holds, and connections may cross it again once it is healed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_connection_crosses_a_partition() {
    let mut net = SimNet::new(NetworkParams::devnet());
    for _ in 0..6 {
        net.add_node().await.unwrap();
    }
    net.wait_directories(6, Duration::from_secs(30))
        .await
        .unwrap();
    net.partition(vec![vec![3, 4, 5]]).await.unwrap();
    let side: HashSet<_> = [3, 4, 5].iter().map(|&i| net.slots[i].peer).collect();
    let crossing = || async {
        let mut n = 0;
        for (i, node) in net.running() {
            let peers = node.context().net.connected_peers().await.unwrap();
            let mine = side.contains(&net.slots[i].peer);
            n += peers.iter().filter(|p| side.contains(p) != mine).count();
        }
        n
    };
    // The cut closes connections asynchronously; wait (bounded) for it.
    let cut = tokio::time::timeout(Duration::from_secs(10), async {
        while crossing().await > 0 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(cut.is_ok(), "connections still cross the partition");
    // Dialling across it is refused while it holds.
    let target = net.slots[3].addr.clone();
    net.slots[0]
        .node
        .as_ref()
        .unwrap()
        .context()
        .net
        .dial(target.clone())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(crossing().await, 0);
    net.heal().await.unwrap();
    let node0 = net.slots[0].node.as_ref().unwrap().context().net.clone();
    let peer3 = net.slots[3].peer;
    let healed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            node0.dial(target.clone()).await.unwrap();
            if node0.connected_peers().await.unwrap().contains(&peer3) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    assert!(healed.is_ok(), "node 0 could not reach node 3 after heal");
    net.stop_all().await.unwrap();
}
