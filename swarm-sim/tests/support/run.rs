//! Runs a scenario given as TOML text to its end, bounded in time, and prints
//! its summary table (shown when an assertion fails).

use std::time::Duration;

use swarm_sim::{Report, Scenario};

/// The report of `toml`'s run; panics if it does not parse, fails, or takes
/// longer than `limit`.
pub async fn run_scenario(toml: &str, limit: Duration) -> Report {
    let s = Scenario::parse(toml).expect("the scenario parses");
    let report = tokio::time::timeout(limit, swarm_sim::run(&s, false))
        .await
        .expect("the run finishes in time")
        .expect("the run succeeds");
    println!("{}", report.table());
    report
}
