//! `swarm-sim run --check` as a person runs it: the summary prints PASS or
//! FAIL for each `[check]` criterion, names the files it wrote, and the exit
//! status is 3 when a criterion fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

const SIM: &str = env!("CARGO_BIN_EXE_swarm-sim");

/// A small run whose criteria are one that holds (nothing sent is that
/// many times lost) and one that cannot (every delivery takes at least 1 ms).
const SCENARIO: &str = r#"
name = "check-exit"
seed = 11
nodes = 8
clients = 2
duration_s = 2
drain_s = 15

[messages]
count = 4

[network]
swarm_size = 5

[check]
max_lost = 4
max_p99_latency_ms = 0
"#;

#[test]
fn check_prints_verdicts_and_fails_the_exit_status() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("check.toml");
    std::fs::write(&file, SCENARIO).unwrap();
    let out_dir = tmp.path().join("out");
    let out = Command::new(SIM)
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out_dir)
        .arg("--check")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let all = format!("--- stdout\n{stdout}\n--- stderr\n{stderr}");
    let delivered: u64 = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("messages delivered"))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no delivered count: {all}"));
    assert!(
        delivered > 0,
        "nothing delivered, no latency to fail on: {all}"
    );
    assert!(stdout.contains("check lost <= 4"), "{all}");
    assert!(stdout.contains("PASS (measured 0)"), "{all}");
    assert!(stdout.contains("check p99_latency_ms <= 0"), "{all}");
    assert!(stdout.contains("FAIL (measured"), "{all}");
    assert!(stdout.contains("verdict"), "{all}");
    assert!(stdout.contains("FAIL (1 of 2 checks)"), "{all}");
    for f in ["report.json", "latency.svg", "deliveries.svg"] {
        assert!(
            stdout.contains(&out_dir.join(f).display().to_string()),
            "{f} not named: {all}"
        );
        assert!(out_dir.join(f).exists(), "{f} not written");
    }
    assert!(stderr.contains("2 s sending + up to 15 s drain"), "{all}");
    assert_eq!(out.status.code(), Some(3), "{all}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["checks"][0]["criterion"], "lost <= 4");
    assert_eq!(json["checks"][0]["pass"], true);
    assert_eq!(json["checks"][1]["pass"], false);
}
