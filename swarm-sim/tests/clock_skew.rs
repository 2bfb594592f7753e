//! Clock skew at the edges of what the protocol accepts: swarm nodes 4 minutes
//! slow and 4 minutes fast (8 minutes apart), one client whose device clock
//! is 10 minutes fast and one 10 minutes slow, and a slow node crashed and
//! restarted on its data mid-run. Every acknowledged message is delivered,
//! once: members number messages in the order they take them in, so a slow
//! member cannot file one behind a reader's cursor, and the skewed clients
//! learn the network's time from the nodes' answers.
//!
//! This scenario found the loss that wave 1 shipped with (a member 2 minutes
//! slow backdated messages behind cursors that correct members had handed
//! out); it runs in every `cargo test`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/run.rs"]
mod support;

use std::time::Duration;

use support::run_scenario;

const SKEW: &str = r#"
name = "skew-test"
seed = 13
nodes = 12
clients = 3
duration_s = 8
drain_s = 15

[messages]
count = 36

[network]
swarm_size = 5

[[clock_skew]]
client = 1
offset_ms = 600000

[[clock_skew]]
client = 2
offset_ms = -600000

[[faults]]
at_s = 0
kind = "clock_skew"
nodes = [2, 3, 4]
offset_ms = -240000

[[faults]]
at_s = 0
kind = "clock_skew"
nodes = [5, 6, 7]
offset_ms = 240000

[[faults]]
at_s = 3
kind = "crash"
nodes = [3]

[[faults]]
at_s = 5
kind = "restart"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skewed_clocks_do_not_lose_messages() {
    let report = run_scenario(SKEW, Duration::from_secs(120)).await;
    let table = report.table();
    assert_eq!(report.faults[0].kind, "clock_skew");
    assert_eq!(report.faults[0].nodes, vec![2, 3, 4]);
    assert!(report.messages_acked >= 30, "{table}");
    for skewed in [1, 2] {
        let c = &report.per_client[skewed];
        assert!(c.sent > 0 && c.acked > 0, "client {skewed} sends: {table}");
        assert!(c.received > 0, "client {skewed} reads its inbox: {table}");
    }
    assert_eq!(report.lost, 0, "{table}");
    assert_eq!(report.duplicates, 0, "{table}");
}
