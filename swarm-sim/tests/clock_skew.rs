//! Clock skew: a client whose device clock is 10 minutes fast (outside the
//! nodes' ±5 min window) and a swarm node 2 minutes slow still get every
//! acknowledged message delivered: the client learns the correction from
//! the nodes' answers.

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
count = 15

[network]
swarm_size = 5

[[clock_skew]]
client = 1
offset_ms = 600000

[[faults]]
at_s = 1
kind = "clock_skew"
nodes = [2, 3]
offset_ms = -120000
"#;

// Open bug, found by this very scenario: with two nodes 2 min slow (and a
// client 10 min fast) some acknowledged messages are never delivered, in
// about one run of three (seen: client 0, not skewed itself, "to it 10
// received 3 lost 5"). Until it is fixed this runs on demand
// (`cargo test -p swarm-sim --test clock_skew -- --ignored`), not in CI.
#[ignore = "open bug: node clock skew loses acknowledged messages (README, known problems)"]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skewed_clocks_do_not_lose_messages() {
    let report = run_scenario(SKEW, Duration::from_secs(90)).await;
    let table = report.table();
    assert_eq!(report.faults[0].kind, "clock_skew");
    assert_eq!(report.faults[0].nodes, vec![2, 3]);
    let skewed = &report.per_client[1];
    assert!(skewed.sent > 0 && skewed.acked > 0, "{table}");
    assert!(
        skewed.received > 0,
        "the skewed client reads its inbox: {table}"
    );
    assert_eq!(report.lost, 0, "{table}");
    assert_eq!(report.duplicates, 0, "{table}");
}
