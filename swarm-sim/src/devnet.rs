//! `swarm-sim devnet`: a network of real `sotto-node` processes on loopback,
//! for trying the client against something that behaves like the real network.
//!
//! Unlike the scenario runner, nothing here runs in process: each node is its
//! own `sotto-node run` with its own data directory, log file and ports, so
//! what a developer sees is what an operator would see. This module only
//! supervises them: it prepares their directories, starts them with the first
//! as everyone's bootstrap, waits until every node's directory lists every
//! node, publishes the bootstrap addresses, watches for nodes dying and stops
//! them all on SIGINT or SIGTERM.

mod error;
mod logfile;
mod metrics;
mod node;
mod plan;
mod supervise;

use sotto_node::errln;
use std::path::PathBuf;
use std::time::Duration;

pub use error::{DevnetError, Result};
pub use plan::{BOOTSTRAP_FILE, MAX_NODES, METRICS_PORT_OFFSET, MIN_NODES, NodePlan};

/// Nodes started when `--nodes` is not given: the fewest with which a client
/// can reach an account's swarm ([`nodes_for_chat`]).
pub const DEFAULT_NODES: usize = 8;
/// Where the nodes' data directories go when `--data-dir` is not given
/// (relative to the current directory, beside cargo's own output).
pub const DEFAULT_DATA_DIR: &str = "target/devnet";
/// First listen port when `--base-port` is not given: far from the public
/// network's 4600. It lies in Linux's ephemeral range, so an outgoing
/// connection can hold one of the ports now and then; the port check before
/// starting names the port and suggests another base.
pub const DEFAULT_BASE_PORT: u16 = 47_000;

/// The fewest nodes a client needs to store or read messages: a request to a
/// swarm member keeps the whole swarm off its onion path, so the network needs
/// a full swarm plus three other nodes to relay.
pub fn nodes_for_chat() -> usize {
    usize::from(sotto_protocol::NetworkParams::devnet().swarm_size) + sotto_client::paths::RELAYS
}

/// `swarm-sim devnet`'s options.
#[derive(Debug, Clone, clap::Args)]
pub struct DevnetArgs {
    /// How many nodes to run (3 to 64). Clients need at least 8 (a swarm of 5
    /// plus 3 relays) to store or read messages.
    #[arg(long, default_value_t = DEFAULT_NODES)]
    pub nodes: usize,
    /// Directory holding node-0 .. node-(N-1) (data and node.log each) and
    /// bootstrap.txt. Reused when it exists: nodes keep their identities and data.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
    /// Node i listens on 127.0.0.1 TCP port P+i and serves metrics on
    /// 127.0.0.1:(P+1000+i).
    #[arg(long, value_name = "P", default_value_t = DEFAULT_BASE_PORT)]
    pub base_port: u16,
    /// Seconds to wait for every node's directory to list every node.
    #[arg(long, value_name = "SECS", default_value_t = 120)]
    pub ready_timeout: u64,
    /// When a node exits on its own, stop the whole devnet (exit status 1)
    /// instead of reporting it and going on with the others.
    #[arg(long)]
    pub stop_on_node_exit: bool,
    /// The sotto-node binary to run (default: the one next to swarm-sim).
    #[arg(long, value_name = "PATH")]
    pub sotto_node: Option<PathBuf>,
    /// Log level or filter passed to every node (`sotto-node run --log`).
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log: String,
}

/// Runs the devnet until SIGINT or SIGTERM, then stops every node. Returns
/// once they are all gone; an error says what went wrong and where to look.
pub fn run(args: &DevnetArgs) -> Result<()> {
    let plans = plan::plan(args.nodes, &args.data_dir, args.base_port)?;
    let bin = node::find_binary(args.sotto_node.as_deref())?;
    plan::check_ports(&plans, &args.data_dir)?;
    if args.nodes < nodes_for_chat() {
        errln!(
            "swarm-sim devnet: note: with {} nodes clients cannot store or read messages \
             (a request keeps the account's swarm of {} off its path of {} relays); \
             use --nodes {} or more for chat",
            args.nodes,
            sotto_protocol::NetworkParams::devnet().swarm_size,
            sotto_client::paths::RELAYS,
            nodes_for_chat()
        );
    }
    std::fs::create_dir_all(&args.data_dir).map_err(|source| DevnetError::Io {
        what: format!("cannot create {}", args.data_dir.display()),
        source,
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| DevnetError::Io {
            what: "cannot start the async runtime".into(),
            source,
        })?;
    let settings = supervise::Settings {
        bin,
        data_dir: args.data_dir.clone(),
        ready_timeout: Duration::from_secs(args.ready_timeout),
        stop_on_node_exit: args.stop_on_node_exit,
        log: args.log.clone(),
    };
    runtime.block_on(supervise::supervise(settings, plans))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_devnet_is_big_enough_to_chat_on() {
        assert!(DEFAULT_NODES >= nodes_for_chat());
        assert!((MIN_NODES..=MAX_NODES).contains(&DEFAULT_NODES));
        assert!((MIN_NODES..=MAX_NODES).contains(&nodes_for_chat()));
    }
}
