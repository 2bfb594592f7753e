//! A tiny scenario end to end on real nodes and clients: every acknowledged
//! message reaches its recipient exactly once across a stop and restart of a
//! swarm member, and the report says so.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/run.rs"]
mod support;

use std::time::Duration;

use support::run_scenario;
use swarm_sim::Scenario;
use swarm_sim::scenario::FaultKind;

const TINY: &str = r#"
name = "tiny"
seed = 9
nodes = 9
clients = 2
duration_s = 8
drain_s = 15

[messages]
count = 10

[[offline]]
client = 1
from_s = 1
to_s = 4

[network]
swarm_size = 5
handoff_grace_ms = 2000

[[faults]]
at_s = 2
kind = "stop"
swarm_of = 0
count = 1

[[faults]]
at_s = 5
kind = "restart"
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tiny_scenario_delivers_every_acked_message_once() {
    let report = run_scenario(TINY, Duration::from_secs(120)).await;
    assert_eq!(report.scenario, "tiny");
    assert_eq!(report.messages_sent, 10);
    assert_eq!(report.messages_acked, 10, "{}", report.table());
    assert_eq!(report.messages_delivered, 10, "{}", report.table());
    assert_eq!(report.lost, 0);
    assert_eq!(report.duplicates, 0);
    assert_eq!(report.strays, 0);
    assert_eq!(report.replication.messages, 10);
    // The stop took one member of client 0's swarm, and the restart brought
    // back the same node.
    assert_eq!(report.faults.len(), 2);
    assert_eq!(report.faults[0].kind, "stop");
    assert_eq!(report.faults[0].nodes.len(), 1);
    assert_eq!(report.faults[1].nodes, report.faults[0].nodes);
    assert_eq!(report.nodes_at_end, 9);
    assert!(report.latency_ms.p50 <= report.latency_ms.max);
    assert!(report.latency_ms.max > 0);
    let phase_total: u64 = report.phases.iter().map(|p| p.delivered).sum();
    assert_eq!(phase_total, 10);
    assert!(report.peak_rss_mb.is_some_and(|m| m > 0.0));

    let dir = tempfile::tempdir().unwrap();
    report.write(dir.path()).unwrap();
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["lost"], 0);
    assert_eq!(json["duplicates"], 0);
    assert_eq!(json["messages_delivered"], 10);
    assert!(json["latency_ms"]["p99"].is_u64());
    assert!(dir.path().join("latency.svg").exists());
    assert!(dir.path().join("deliveries.svg").exists());
}

#[test]
fn the_shipped_scenarios_parse() {
    let default = Scenario::parse(swarm_sim::DEFAULT_SCENARIO).unwrap();
    assert!(default.nodes >= 25 && default.clients == 8 && !default.offline.is_empty());
    let churn = Scenario::parse(include_str!("../../config/scenarios/churn.toml")).unwrap();
    assert!(churn.faults.iter().any(|f| f.kind == FaultKind::Crash));
    let ph = Scenario::parse(include_str!("../../config/scenarios/partition-heal.toml")).unwrap();
    assert!(ph.faults.iter().any(|f| f.kind == FaultKind::Partition));
    assert!(ph.faults.iter().any(|f| f.kind == FaultKind::Heal));
    let wave = Scenario::parse(include_str!("../../config/scenarios/join-wave.toml")).unwrap();
    assert!(wave.faults.iter().all(|f| f.kind == FaultKind::AddNodes));
    let epochs = Scenario::parse(include_str!("../../config/scenarios/epochs.toml")).unwrap();
    let p = epochs.params().unwrap();
    assert!(p.position_period_ms > 0 && p.position_period_ms >= 4 * p.record_lifetime_ms);
    let flood = Scenario::parse(include_str!("../../config/scenarios/flood.toml")).unwrap();
    assert!(flood.flood.is_some() && flood.node.max_account_bytes.is_some());
    for (text, kind) in [
        (
            include_str!("../../config/scenarios/attack-deletes.toml"),
            swarm_sim::attack::AttackKind::Deletes,
        ),
        (
            include_str!("../../config/scenarios/attack-polls.toml"),
            swarm_sim::attack::AttackKind::Polls,
        ),
        (
            include_str!("../../config/scenarios/attack-connections.toml"),
            swarm_sim::attack::AttackKind::Connections,
        ),
        (
            include_str!("../../config/scenarios/attack-gossip.toml"),
            swarm_sim::attack::AttackKind::Gossip,
        ),
        (
            include_str!("../../config/scenarios/attack-replicate.toml"),
            swarm_sim::attack::AttackKind::Replicate,
        ),
    ] {
        let s = Scenario::parse(text).unwrap();
        let a = s.attack.as_ref().unwrap();
        assert_eq!(a.kind, kind);
        // The attacker is left out of the message schedule.
        assert!(!swarm_sim::scenario::scheduled(&s, a.client));
    }
    // A bad admission proof needs a difficulty above devnet's 0.
    let gossip =
        Scenario::parse(include_str!("../../config/scenarios/attack-gossip.toml")).unwrap();
    assert!(gossip.params().unwrap().admission_difficulty > 0);
}
