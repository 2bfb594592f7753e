//! The `swarm-sim` command: runs a scenario and writes its report.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use swarm_sim::{DEFAULT_SCENARIO, Scenario, SimError};

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
    },
    /// Run N real sotto-node processes on loopback until Ctrl-C.
    Devnet(swarm_sim::devnet::DevnetArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match real_main(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("swarm-sim: {e}");
            ExitCode::FAILURE
        }
    }
}

fn real_main(cli: Cli) -> Result<(), SimError> {
    let (text, seed, out) = match cli.command {
        None => (DEFAULT_SCENARIO.to_string(), None, None),
        Some(Command::Run {
            scenario,
            seed,
            out,
        }) => {
            let text = std::fs::read_to_string(&scenario)
                .map_err(|e| SimError::Setup(format!("{}: {e}", scenario.display())))?;
            (text, seed, out)
        }
        Some(Command::Devnet(args)) => {
            return Ok(swarm_sim::devnet::run(&args)?);
        }
    };
    let mut s = Scenario::parse(&text)?;
    if let Some(seed) = seed {
        s.seed = seed;
    }
    let out = out.unwrap_or_else(|| PathBuf::from("target/swarm-sim").join(&s.name));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| SimError::Setup(format!("runtime: {e}")))?;
    eprintln!(
        "swarm-sim: scenario {} (seed {}): {} nodes, {} clients, {} s",
        s.name, s.seed, s.nodes, s.clients, s.duration_s
    );
    let report = rt.block_on(swarm_sim::run(&s, true))?;
    report.write(&out)?;
    println!("{}", report.table());
    println!("  report: {}", out.join("report.json").display());
    Ok(())
}
