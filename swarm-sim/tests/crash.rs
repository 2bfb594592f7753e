//! A crash (no clean stop, no final flush) of two members of a busy swarm
//! and their restart on what their disks held: nothing acknowledged is lost
//! and every member holds every message at the end.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/run.rs"]
mod support;

use std::time::Duration;

use support::run_scenario;

const CRASH: &str = r#"
name = "crash-test"
seed = 11
nodes = 9
clients = 2
duration_s = 8
drain_s = 20

[messages]
count = 16

[network]
swarm_size = 5
handoff_grace_ms = 2000

[[faults]]
at_s = 2
kind = "crash"
swarm_of = 0
count = 2

[[faults]]
at_s = 5
kind = "restart"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_members_come_back_with_what_they_acknowledged() {
    let report = run_scenario(CRASH, Duration::from_secs(90)).await;
    let table = report.table();
    assert_eq!(report.faults[0].kind, "crash");
    assert_eq!(report.faults[0].nodes.len(), 2);
    assert_eq!(report.faults[1].nodes, report.faults[0].nodes, "{table}");
    assert_eq!(report.nodes_at_end, 9);
    assert!(report.messages_acked > 0, "{table}");
    assert_eq!(report.lost, 0, "{table}");
    assert_eq!(report.duplicates, 0, "{table}");
    assert_eq!(report.replication.fraction, 1.0, "{table}");
}
