//! The `swarm-sim` command: runs a scenario and writes its report.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sotto_node::{errln, outln};
use swarm_sim::{DEFAULT_SCENARIO, Scenario, SimError};

/// jemalloc rather than the system's allocator: a thousand nodes in one
/// process allocate on one thread and free on another all the time, and with
/// glibc's malloc the directories' median after 90 s at 998 nodes was 800 of
/// 998 (peak RSS 5.4 GB) against 978 (6.5 GB) with jemalloc (mimalloc: 995,
/// but 12.4 GB). One run each of `config/scenarios/scale.toml`, seed 14.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Run real Sotto nodes and clients under a scenario and report what happened.
#[derive(Parser)]
#[command(name = "swarm-sim", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run a scenario file.
    Run {
        /// The scenario (TOML).
        scenario: PathBuf,
        /// Use this seed instead of the file's.
        #[arg(long)]
        seed: Option<u64>,
        /// Where to write the report (default target/swarm-sim/NAME/).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Exit with status 3 when the run misses one of the scenario's
        /// `[check]` criteria (the report shows PASS or FAIL for each either way).
        #[arg(long)]
        check: bool,
        /// Also run the same scenario without its `[attack]` (same seed, same
        /// invocation, report in OUT/baseline) and print the ratio of the
        /// honest clients' p99 latencies.
        #[arg(long)]
        baseline: bool,
        /// Every node and client checks every record signature itself, as
        /// separate machines would; by default the nodes and clients of this
        /// process share the signatures they found good (each is still
        /// checked once, and every other check of a record runs in each).
        #[arg(long)]
        own_checks: bool,
    },
    /// Run N real sotto-node processes on loopback until Ctrl-C.
    Devnet(swarm_sim::devnet::DevnetArgs),
}

/// Exit status of `run --check` when a criterion failed (1 is any other error).
const EXIT_CHECK_FAILED: u8 = 3;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(EXIT_CHECK_FAILED),
        Err(e) => {
            errln!("swarm-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command; `Ok(false)` when `--check` found a failed criterion.
fn real_main(cli: Cli) -> Result<bool, SimError> {
    let (text, seed, out, check, baseline, own_checks) = match cli.command {
        None => (
            DEFAULT_SCENARIO.to_string(),
            None,
            None,
            false,
            false,
            false,
        ),
        Some(Command::Run {
            scenario,
            seed,
            out,
            check,
            baseline,
            own_checks,
        }) => {
            let text = std::fs::read_to_string(&scenario)
                .map_err(|e| SimError::Setup(format!("{}: {e}", scenario.display())))?;
            (text, seed, out, check, baseline, own_checks)
        }
        Some(Command::Devnet(args)) => {
            swarm_sim::devnet::run(&args)?;
            return Ok(true);
        }
    };
    let mut s = Scenario::parse(&text)?;
    if let Some(seed) = seed {
        s.seed = seed;
    }
    let out = out.unwrap_or_else(|| PathBuf::from("target/swarm-sim").join(&s.name));
    // A thousand nodes in one process would check each record's signature a
    // thousand times (a quarter of the CPU at 998 nodes); see
    // `sotto_protocol::record::shared_checks`.
    if !own_checks {
        sotto_protocol::record::shared_checks::share_in_process();
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| SimError::Setup(format!("runtime: {e}")))?;
    // The progress bar counts sending and drain together: say both.
    errln!(
        "swarm-sim: scenario {} (seed {}): {} nodes, {} clients, {} s sending + up to {} s drain",
        s.name,
        s.seed,
        s.nodes,
        s.clients,
        s.duration_s,
        s.drain_s
    );
    let report = rt.block_on(swarm_sim::run(&s, true))?;
    let files = report.write(&out)?;
    outln!("{}", report.table());
    for f in &files {
        outln!("  wrote {}", f.display());
    }
    if baseline {
        // The attacker stays out of the schedule but sends nothing: the same
        // messages, the same seed, no attack.
        let mut calm = s.clone();
        if let Some(a) = calm.attack.as_mut() {
            a.to_s = a.from_s;
        }
        errln!("swarm-sim: baseline: the same scenario without its attack");
        let base = rt.block_on(swarm_sim::run(&calm, true))?;
        base.write(&out.join("baseline"))?;
        outln!("baseline:\n{}", base.table());
        let (attacked, calm_p99) = (report.latency_ms.p99, base.latency_ms.p99);
        let ratio = attacked as f64 / calm_p99.max(1) as f64;
        outln!(
            "honest p99 latency with attack ÷ baseline: {ratio:.2} ({attacked} ms / {calm_p99} ms); lost {} vs {}",
            report.lost,
            base.lost
        );
    }
    Ok(!check || report.failed_checks() == 0)
}
