//! Clients with a wrong device clock join and chat: one a day slow, one a
//! day fast and one a minute slow (the case that never built a path) each
//! send and receive, and every acknowledged message is delivered. They learn
//! the network's time from the bootstrap node before checking any record.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/run.rs"]
mod support;

use std::time::Duration;

use support::run_scenario;

const CLOCKS: &str = r#"
name = "client-clock"
seed = 21
nodes = 9
clients = 4
duration_s = 8
drain_s = 15

[messages]
count = 24

[network]
swarm_size = 5

[[clock_skew]]
client = 1
offset_ms = -86400000

[[clock_skew]]
client = 2
offset_ms = 86400000

[[clock_skew]]
client = 3
offset_ms = -60000
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_a_day_off_send_and_receive() {
    let report = run_scenario(CLOCKS, Duration::from_secs(150)).await;
    let table = report.table();
    for skewed in &report.per_client[1..] {
        assert!(
            skewed.sent > 0 && skewed.acked == skewed.sent,
            "client {} sends: {table}",
            skewed.client
        );
        assert!(
            skewed.addressed > 0 && skewed.received == skewed.addressed,
            "client {} receives: {table}",
            skewed.client
        );
    }
    assert_eq!(report.messages_acked, report.messages_sent, "{table}");
    assert_eq!(report.messages_delivered, report.messages_acked, "{table}");
    assert_eq!(report.lost, 0, "{table}");
    assert_eq!(report.duplicates, 0, "{table}");
}
