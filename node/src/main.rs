//! `sotto-node`: the command line of a Sotto service node. It parses
//! arguments, reads files and calls into the `sotto_node` library, which does
//! all the work (`Node::start` opens the store, loads the identity and runs
//! the network, the announcer and the metrics endpoint).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::{Args, Parser, Subcommand};
use sotto_node::config::NodeConfig;
use sotto_node::identity::{Identity, NODE_KEY_FILE, ONION_KEY_FILE};
use sotto_node::node::{Node, NodeOptions};
use sotto_node::runinfo::{RUN_FILE, RunInfo};
use sotto_node::stdio::{LossyStderr, stderr_colour};
use sotto_node::{errln, outln};
use sotto_protocol::{NetworkParams, Position};

/// The configuration file `init` writes into the data directory.
const CONFIG_FILE: &str = "node.toml";

/// A Sotto service node: stores offline messages for the accounts whose swarm
/// it belongs to and relays onion requests.
///
/// Start with `sotto-node init --data-dir DIR`, then `sotto-node run --data-dir DIR`.
#[derive(Parser, Debug)]
#[command(name = "sotto-node", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a node identity (mining its admission proof) and a node.toml in
    /// the data directory.
    Init(InitArgs),
    /// Run the node until SIGINT or SIGTERM.
    Run(RunArgs),
    /// Print the node's peer id, node id, position, network and listen addresses,
    /// and, while it runs, the addresses it bound (from DIR/run.json).
    Info(InfoArgs),
}

#[derive(Args, Debug)]
struct InitArgs {
    /// Data directory to create (mode 0700): keys, configuration and store live here.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Network to join: the preset "public" or "devnet", or the path of a TOML
    /// file of network parameters.
    #[arg(long, value_name = "NETWORK", default_value = "public")]
    network: String,
    /// Replace an identity already in DIR. The node gets a new identity, and
    /// with it a new position in the network: the data it held is no longer its own.
    #[arg(long)]
    force: bool,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Data directory made by `init`.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Configuration file to use instead of DIR/node.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Multiaddr to listen on, e.g. /ip4/0.0.0.0/tcp/4600 (repeatable). When
    /// given, replaces the `listen` list of the configuration file.
    #[arg(long, value_name = "MULTIADDR")]
    listen: Vec<String>,
    /// Multiaddr of a peer to join through, ending in /p2p/<peer id>
    /// (repeatable). When given, replaces the `bootstrap` list of the
    /// configuration file.
    #[arg(long, value_name = "MULTIADDR")]
    bootstrap: Vec<String>,
    /// Address and port to serve Prometheus metrics on (GET /metrics), e.g.
    /// 127.0.0.1:9600. Overrides `metrics` in the configuration file.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<String>,
    /// Log level or filter (error, warn, info, debug, trace, or e.g.
    /// "info,sotto_node=debug"). The RUST_LOG environment variable, when set,
    /// takes precedence.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    log: String,
}

#[derive(Args, Debug)]
struct InfoArgs {
    /// Data directory made by `init`.
    #[arg(long, value_name = "DIR")]
    data_dir: PathBuf,
    /// Configuration file to use instead of DIR/node.toml.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Init(a) => init(a),
        Command::Run(a) => run(a),
        Command::Info(a) => info(a),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, so it reads well in a journal.
            errln!("sotto-node: {}", e.replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

type CliResult<T> = Result<T, String>;

/// The network as an operator knows it: the preset the configuration names
/// (`public`, `devnet`), or the name inside a network file. The public
/// preset's name on the wire is `sotto`, which nobody types.
fn network_name(configured: &str, params: &NetworkParams) -> String {
    match NetworkParams::preset(configured) {
        Ok(p) if p == NetworkParams::public() => "public".into(),
        Ok(_) => configured.to_string(),
        Err(_) => params.name.clone(),
    }
}

fn init(args: InitArgs) -> CliResult<()> {
    let cwd = std::env::current_dir().map_err(|e| format!("current directory: {e}"))?;
    // A network file is recorded by its absolute path: node.toml lives in the
    // data directory, so a path relative to where `init` ran would break.
    let network = match NetworkParams::preset(&args.network) {
        Ok(_) => args.network.clone(),
        Err(_) => cwd.join(&args.network).display().to_string(),
    };
    let config = NodeConfig {
        network,
        ..NodeConfig::default()
    };
    let params = config.resolve_network(&cwd).map_err(|e| e.to_string())?;
    if params.admission_difficulty > 0 {
        outln!(
            "Mining the admission proof ({} bits)...",
            params.admission_difficulty
        );
    }
    let started = Instant::now();
    let identity = if args.force {
        Identity::init_replacing(&args.data_dir, &params)
    } else {
        Identity::init(&args.data_dir, &params)
    }
    .map_err(|e| e.to_string())?;
    let took = started.elapsed();

    let config_path = args.data_dir.join(CONFIG_FILE);
    let config_note = if config_path.exists() && !args.force {
        "kept as it was"
    } else {
        config.save(&config_path).map_err(|e| e.to_string())?;
        "written"
    };
    outln!("Node identity created in {:.2} s.", took.as_secs_f64());
    outln!("  peer id:  {}", identity.peer_id());
    outln!("  node id:  {}", identity.node_id());
    outln!("  network:  {}", network_name(&config.network, &params));
    outln!("Files in {}:", args.data_dir.display());
    outln!("  {NODE_KEY_FILE}   identity key and admission proof (secret, 0600)");
    outln!("  {ONION_KEY_FILE}  onion keys (secret, 0600)");
    outln!("  {CONFIG_FILE}  configuration ({config_note})");
    outln!(
        "Start it with: sotto-node run --data-dir {}",
        args.data_dir.display()
    );
    Ok(())
}

/// The configuration (`--config` or DIR/node.toml) and the directory that
/// relative network paths in it are resolved against.
fn load_config(data_dir: &Path, config: Option<&Path>) -> CliResult<(NodeConfig, PathBuf)> {
    let path = match config {
        Some(p) => p.to_path_buf(),
        None => data_dir.join(CONFIG_FILE),
    };
    if config.is_none() && !path.exists() {
        return Err(format!(
            "{} not found: run `sotto-node init --data-dir {}` first",
            path.display(),
            data_dir.display()
        ));
    }
    let loaded = NodeConfig::load(&path).map_err(|e| e.to_string())?;
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    Ok((loaded, base))
}

fn run(args: RunArgs) -> CliResult<()> {
    let (mut config, base) = load_config(&args.data_dir, args.config.as_deref())?;
    if !args.listen.is_empty() {
        config.listen = args.listen;
    }
    if !args.bootstrap.is_empty() {
        config.bootstrap = args.bootstrap;
    }
    if let Some(m) = args.metrics {
        config.metrics = m;
    }
    config.validate().map_err(|e| e.to_string())?;
    let params = config.resolve_network(&base).map_err(|e| e.to_string())?;
    init_logging(&args.log)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    runtime.block_on(async move {
        let data_dir = args.data_dir.clone();
        let opts = NodeOptions::new(args.data_dir, config, params);
        let node = Node::start(opts).await.map_err(|e| e.to_string())?;
        tracing::info!(peer_id = %node.context().peer_id, "node running");
        // A store failure the node cannot go on from ends the process with an
        // error, so that systemd (Restart=on-failure) starts it again.
        let failed = |e: std::sync::Arc<str>| {
            Err(format!(
                "stopped because the message store failed: {e}; \
                 check the disk holding the data directory"
            ))
        };
        let stopped = tokio::select! {
            r = write_run_info(&node, &data_dir) => {
                if let Err(e) = r {
                    // Only scripts miss the file; the node itself is fine.
                    tracing::warn!("{e}");
                }
                tokio::select! {
                    r = wait_for_signal() => r,
                    e = node.failed() => failed(e),
                }
            }
            r = wait_for_signal() => r,
            e = node.failed() => failed(e),
        };
        tracing::info!("shutting down");
        let shut = node.shutdown().await.map_err(|e| e.to_string());
        if let Err(e) = RunInfo::remove(&data_dir) {
            tracing::warn!("cannot remove {}: {e}", data_dir.join(RUN_FILE).display());
        }
        stopped.and(shut)
    })
}

/// Writes `run.json` once the node listens: the bound addresses are only known
/// then (port 0 is resolved by the kernel, asynchronously to `Node::start`).
/// It waits (up to 5 s) until every configured address is bound: one listen
/// address may expand to several (0.0.0.0), never to fewer.
async fn write_run_info(node: &Node, data_dir: &Path) -> CliResult<()> {
    let peer = node.peer_id();
    let want = node.context().config.listen.len().max(1);
    let mut listen = Vec::new();
    for _ in 0..500 {
        listen = node.listen_addrs().await;
        if listen.len() >= want {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    if listen.is_empty() {
        tracing::warn!("the node listens on no address after 5 s; run.json lists none");
    }
    let info = RunInfo {
        pid: std::process::id(),
        peer_id: peer.to_string(),
        listen: listen
            .into_iter()
            .map(|a| format!("{a}/p2p/{peer}"))
            .collect(),
        metrics: node.metrics_addr().map(|a| a.to_string()),
    };
    info.write(data_dir)
        .map_err(|e| format!("cannot write {}: {e}", data_dir.join(RUN_FILE).display()))
}

/// Logs to stderr, in colour only on a terminal (and not with `NO_COLOR`);
/// a closed stderr drops the logs instead of stopping the node. RUST_LOG,
/// when set, wins over `--log`.
fn init_logging(level: &str) -> CliResult<()> {
    use tracing_subscriber::EnvFilter;
    let filter = match EnvFilter::try_from_default_env() {
        Ok(f) => f,
        Err(_) => EnvFilter::try_new(level).map_err(|e| format!("--log {level:?}: {e}"))?,
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(stderr_colour())
        .with_writer(LossyStderr::default)
        .try_init()
        .map_err(|e| format!("cannot set up logging: {e}"))
}

async fn wait_for_signal() -> CliResult<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot watch SIGINT: {e}"))?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

fn info(args: InfoArgs) -> CliResult<()> {
    let (config, base) = load_config(&args.data_dir, args.config.as_deref())?;
    let params = config.resolve_network(&base).map_err(|e| e.to_string())?;
    let identity = Identity::load(&args.data_dir, &params).map_err(|e| e.to_string())?;
    let node_id = identity.node_id();
    let peer_id = identity.peer_id().to_string();
    let position = Position::of_node(&node_id, identity.admission()).to_hex();
    // A run file left by a crashed node names a dead process: not running.
    // A damaged run file says nothing about the node; the rest still prints.
    let running = match RunInfo::read(&args.data_dir) {
        Ok(r) => r.filter(|r| r.is_alive() != Some(false)),
        Err(e) => {
            errln!("sotto-node: {e}; showing the node as not running");
            None
        }
    };
    if args.json {
        let out = serde_json::json!({
            "peer_id": peer_id,
            "node_id": node_id.to_string(),
            "position": position,
            "network": network_name(&config.network, &params),
            "listen": config.listen,
            "data_dir": args.data_dir.display().to_string(),
            "running": running.as_ref().map(|r| serde_json::json!({
                "pid": r.pid,
                "listen": r.listen,
                "metrics": r.metrics,
            })),
        });
        outln!("{out}");
    } else {
        outln!("peer id:   {peer_id}");
        outln!("node id:   {node_id}");
        outln!("position:  {position}");
        outln!("network:   {}", network_name(&config.network, &params));
        outln!("listen:    {}", config.listen.join(" "));
        outln!("data dir:  {}", args.data_dir.display());
        match &running {
            Some(r) => {
                outln!("running:   pid {}", r.pid);
                for a in &r.listen {
                    outln!("bound:     {a}");
                }
                if let Some(m) = &r.metrics {
                    outln!("metrics:   http://{m}/metrics");
                }
            }
            None => outln!("running:   no"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_network_is_named_as_configured() {
        let public = NetworkParams::public();
        assert_eq!(network_name("public", &public), "public");
        assert_eq!(network_name("sotto", &public), "public");
        assert_eq!(network_name("devnet", &NetworkParams::devnet()), "devnet");
        let mut custom = NetworkParams::devnet();
        custom.name = "lab".into();
        assert_eq!(network_name("/etc/sotto/lab.toml", &custom), "lab");
    }
}
