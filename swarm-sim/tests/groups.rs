//! A small group end to end on real nodes and clients (issue 18): six
//! members message each other while the admin removes one and adds one; every
//! expected delivery happens, and the removed member gets nothing of the
//! epochs after its removal.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/run.rs"]
mod support;

use std::time::Duration;

use support::run_scenario;

/// No network model, a short settle time: the run is about what arrives,
/// not how fast. Member 2 is removed at 3 s, a seventh member added at 6 s;
/// the drain ends as soon as every expected delivery happened.
const SMALL_GROUP: &str = r#"
name = "groups-small"
seed = 18
nodes = 8
clients = 0
duration_s = 10
drain_s = 30

[network]
swarm_size = 3
handoff_grace_ms = 2000

[latency]
model = "none"

[groups]
members = 6
messages = 16
wait_ms = 5000
settle_ms = 1000

[[groups.removals]]
at_s = 3
members = [2]

[[groups.additions]]
at_s = 6

[check]
max_groups_lost = 0
max_groups_after_removal = 0
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_group_delivers_everything_through_a_removal_and_an_addition() {
    let report = run_scenario(SMALL_GROUP, Duration::from_secs(150)).await;
    let g = report.groups.as_ref().expect("the report has groups");
    let table = report.table();
    assert_eq!(g.members_start, 6);
    assert_eq!(g.messages, 16, "{table}");
    assert_eq!(g.messages_stored, 16, "{table}");
    // Both changes were committed and applied: epoch 1, then 2 and 3.
    assert_eq!(g.changes.len(), 2, "{table}");
    assert!(g.changes.iter().all(|c| c.applied_ms.is_some()), "{table}");
    assert_eq!(g.epoch_end, 3, "{table}");
    assert_eq!(g.members_end, 6, "{table}");
    // Every expected delivery happened; each message is expected at four
    // or five members (six or seven, less the sender and maybe member 2).
    assert!(g.deliveries_expected >= 16 * 4, "{table}");
    assert_eq!(g.delivered, g.deliveries_expected, "{table}");
    assert_eq!(g.lost, 0, "{table}");
    assert_eq!(g.messages_complete, 16, "{table}");
    // The removed member processed its removal and got nothing sent in
    // the epochs after it; nothing came twice or from nowhere.
    assert_eq!((g.removed, g.removals_seen), (1, 1), "{table}");
    assert_eq!(g.after_removal, 0, "{table}");
    assert_eq!(g.duplicates, 0, "{table}");
    assert_eq!(g.strays, 0, "{table}");
    assert!(g.latency_all_ms.max >= g.latency_all_ms.p50, "{table}");
    assert_eq!(report.failed_checks(), 0, "{table}");
    assert!(table.contains("groups messages"), "{table}");

    let dir = tempfile::tempdir().unwrap();
    report.write(dir.path()).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["groups"]["lost"], 0);
    assert!(json["groups"]["latency_all_ms"]["p99"].is_u64());
}
