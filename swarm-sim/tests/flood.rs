//! A flooding client meets the nodes' per-account rate limit and quota
//! (typed refusals, counted), while the other clients' messages are all
//! delivered.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/run.rs"]
mod support;

use std::time::Duration;

use support::run_scenario;

const FLOOD: &str = r#"
name = "flood-test"
seed = 14
nodes = 9
clients = 3
duration_s = 8
drain_s = 15

[messages]
count = 12

[network]
swarm_size = 5

[node]
store_rate_per_minute = 60
store_burst = 3
max_account_bytes = 131072

[flood]
client = 2
rate = 20.0
from_s = 1
to_s = 7
size = 8000
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_refused_and_the_others_are_unaffected() {
    let report = run_scenario(FLOOD, Duration::from_secs(90)).await;
    let table = report.table();
    let f = report.flood.expect("the flood is reported");
    assert!(f.attempted + f.skipped >= 100, "{table}");
    assert!(f.rate_limited > 0, "the rate limit refused some: {table}");
    assert!(f.over_quota > 0, "the quota refused some: {table}");
    assert!(f.stored < f.attempted, "{table}");
    // The flooder is out of the schedule; the others lose nothing.
    assert_eq!(report.per_client[2].sent, 0);
    assert_eq!(report.messages_sent, 12);
    assert_eq!(report.messages_acked, 12, "{table}");
    assert_eq!(report.lost, 0, "{table}");
    for c in &report.per_client[..2] {
        assert_eq!(c.acked, c.delivered, "{table}");
        assert_eq!(c.lost, 0, "{table}");
    }
    let json = serde_json::to_value(&report).unwrap();
    assert!(json["per_client"].is_array());
    assert!(json["flood"]["rate_limited"].is_u64());
}
