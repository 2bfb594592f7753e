//! The supervisor's life: prepare and start the nodes, wait until every
//! directory is complete, publish the bootstrap addresses, watch the nodes
//! until SIGINT or SIGTERM, and stop them all.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::time::Instant;

use super::metrics::{self, DIRECTORY_NODES};
use super::node::NodeProc;
use super::plan::{BOOTSTRAP_FILE, NodePlan};
use super::{DevnetError, Result};
use sotto_node::{errln, outln};

/// How often directories are checked while waiting for them.
const READY_POLL: Duration = Duration::from_millis(500);
/// How often running nodes are checked for an exit.
const WATCH_POLL: Duration = Duration::from_millis(500);
/// How long nodes get to stop after SIGTERM before SIGKILL: a node flushes
/// its store on the way out, which takes well under a second normally.
const STOP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a SIGKILLed node may take to be reaped.
const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// How many nodes bootstrap.txt lists: more than one, so a client can still
/// join when node-0 is down.
const BOOTSTRAP_COUNT: usize = 3;

/// What the supervisor needs besides the plan.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `sotto-node` binary.
    pub bin: PathBuf,
    /// The devnet's directory.
    pub data_dir: PathBuf,
    /// How long to wait for complete directories.
    pub ready_timeout: Duration,
    /// Whether a node's own exit stops the devnet.
    pub stop_on_node_exit: bool,
    /// The nodes' log level.
    pub log: String,
}

/// SIGINT and SIGTERM, watched from the start so that neither kills the
/// supervisor before it has stopped its nodes.
struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    fn new() -> Result<Signals> {
        let watch = |kind, name| {
            signal(kind).map_err(|source| DevnetError::Signal {
                signal: name,
                source,
            })
        };
        Ok(Signals {
            int: watch(SignalKind::interrupt(), "SIGINT")?,
            term: watch(SignalKind::terminate(), "SIGTERM")?,
        })
    }

    /// The next signal's name.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.int.recv() => "SIGINT",
            _ = self.term.recv() => "SIGTERM",
        }
    }
}

/// Runs the devnet to its end; every node started is stopped before this
/// returns, whatever happened.
pub async fn supervise(s: Settings, plans: Vec<NodePlan>) -> Result<()> {
    let mut signals = Signals::new()?;
    let bootstrap = s.data_dir.join(BOOTSTRAP_FILE);
    // A file from an earlier run would point clients at a network that is
    // not up yet.
    remove_if_present(&bootstrap)?;
    let mut nodes = Vec::with_capacity(plans.len());
    for plan in plans {
        let name = plan.name();
        tokio::select! {
            sig = signals.recv() => {
                errln!("swarm-sim devnet: {sig} while preparing {name}; nothing is running");
                return Ok(());
            }
            prepared = NodeProc::prepare(&s.bin, plan) => nodes.push(prepared?),
        }
    }
    let result = run_nodes(&s, &mut nodes, &mut signals, &bootstrap).await;
    stop_all(&mut nodes, &mut signals).await;
    let _ = std::fs::remove_file(&bootstrap);
    result
}

async fn run_nodes(
    s: &Settings,
    nodes: &mut [NodeProc],
    signals: &mut Signals,
    bootstrap: &Path,
) -> Result<()> {
    let Some(boot) = nodes.first().map(NodeProc::p2p_addr) else {
        return Ok(());
    };
    for (i, n) in nodes.iter_mut().enumerate() {
        n.spawn(&s.bin, (i > 0).then_some(&boot), &s.log)?;
    }
    errln!(
        "swarm-sim devnet: started {} nodes in {}; waiting for every directory to list all of them",
        nodes.len(),
        s.data_dir.display()
    );
    if !wait_ready(s, nodes, signals).await? {
        return Ok(());
    }
    let addrs = bootstrap_addrs(nodes);
    write_bootstrap(bootstrap, &addrs)?;
    print_ready(nodes, bootstrap, &addrs);
    watch(s, nodes, signals, bootstrap).await
}

/// Waits until every node's directory counts every node: `Ok(true)` then,
/// `Ok(false)` on a signal.
async fn wait_ready(s: &Settings, nodes: &mut [NodeProc], signals: &mut Signals) -> Result<bool> {
    let want = i64::try_from(nodes.len()).unwrap_or(i64::MAX);
    let deadline = Instant::now() + s.ready_timeout;
    let mut shown = None;
    loop {
        tokio::select! {
            sig = signals.recv() => {
                errln!("swarm-sim devnet: {sig} before the devnet was ready; stopping");
                return Ok(false);
            }
            _ = tokio::time::sleep(READY_POLL) => {}
        }
        // A node that dies while starting (a bad data directory, a port taken
        // meanwhile) will not come back by itself: fail now, with its log.
        for n in nodes.iter_mut() {
            if let Some(exit) = n.exited() {
                return Err(exited(n, exit.status).await);
            }
        }
        let mut behind = Vec::new();
        for n in nodes.iter() {
            let seen = metrics::scrape(&n.plan.metrics_addr(), DIRECTORY_NODES).await;
            let why = match seen {
                Ok(v) if v == want => continue,
                Ok(v) if v > want => format!("sees {v} nodes, more than the {want} started"),
                Ok(v) => format!("sees {v} of {want}"),
                Err(e) => e,
            };
            behind.push(format!(
                "{} {why} (log: {})",
                n.plan.name(),
                n.plan.log_path().display()
            ));
        }
        if behind.is_empty() {
            return Ok(true);
        }
        let complete = nodes.len() - behind.len();
        if shown != Some(complete) {
            errln!(
                "swarm-sim devnet: {complete} of {} directories complete",
                nodes.len()
            );
            shown = Some(complete);
        }
        if Instant::now() >= deadline {
            return Err(DevnetError::NotReady {
                want: nodes.len(),
                secs: s.ready_timeout.as_secs(),
                behind: behind.iter().map(|b| format!("\n  {b}")).collect(),
            });
        }
    }
}

/// Watches the running nodes until a signal (`Ok`), or until a node exits
/// with `--stop-on-node-exit`, or until none is left (errors).
async fn watch(
    s: &Settings,
    nodes: &mut [NodeProc],
    signals: &mut Signals,
    bootstrap: &Path,
) -> Result<()> {
    loop {
        tokio::select! {
            sig = signals.recv() => {
                errln!("swarm-sim devnet: {sig}: stopping every node");
                return Ok(());
            }
            _ = tokio::time::sleep(WATCH_POLL) => {}
        }
        let mut lost = false;
        for n in nodes.iter_mut() {
            let Some(exit) = n.exited() else { continue };
            lost = true;
            let err = exited(n, exit.status).await;
            if s.stop_on_node_exit {
                return Err(err);
            }
            errln!(
                "swarm-sim devnet: {err}\nswarm-sim devnet: going on with the other nodes \
                 (--stop-on-node-exit stops the devnet instead)"
            );
        }
        if !nodes.iter().any(NodeProc::is_running) {
            return Err(DevnetError::AllExited);
        }
        if lost {
            // New clients should not be sent to a node that is gone.
            let addrs = bootstrap_addrs(nodes);
            write_bootstrap(bootstrap, &addrs)?;
            errln!(
                "swarm-sim devnet: {} now lists {}",
                bootstrap.display(),
                addrs.join(" ")
            );
        }
    }
}

/// The first [`BOOTSTRAP_COUNT`] running nodes' addresses.
fn bootstrap_addrs(nodes: &[NodeProc]) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| n.is_running())
        .take(BOOTSTRAP_COUNT)
        .map(|n| n.p2p_addr().to_string())
        .collect()
}

async fn exited(n: &mut NodeProc, status: String) -> DevnetError {
    DevnetError::NodeExited {
        node: n.plan.name(),
        status,
        log: n.plan.log_path(),
        tail: n.log_tail().await,
    }
}

/// SIGTERM to every running node, then waits; stragglers get SIGKILL, and
/// so does everyone on a second SIGINT/SIGTERM (a person in a hurry).
async fn stop_all(nodes: &mut [NodeProc], signals: &mut Signals) {
    let running = nodes.iter().filter(|n| n.is_running()).count();
    if running == 0 {
        return;
    }
    errln!("swarm-sim devnet: stopping {running} nodes (SIGTERM)");
    for n in nodes.iter() {
        n.terminate();
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    let mut killing = false;
    loop {
        for n in nodes.iter_mut() {
            if let Some(exit) = n.exited()
                && !exit.clean
                && !killing
            {
                errln!(
                    "swarm-sim devnet: {} stopped with {}; see {}",
                    n.plan.name(),
                    exit.status,
                    n.plan.log_path().display()
                );
            }
        }
        if !nodes.iter().any(NodeProc::is_running) {
            break;
        }
        let now = Instant::now();
        if killing && now >= deadline + KILL_TIMEOUT {
            for n in nodes.iter().filter(|n| n.is_running()) {
                errln!(
                    "swarm-sim devnet: {} is still there after SIGKILL; giving up on it",
                    n.plan.name()
                );
            }
            break;
        }
        let hurry = tokio::select! {
            sig = signals.recv() => Some(sig),
            _ = tokio::time::sleep(Duration::from_millis(100)) => None,
        };
        if !killing && (hurry.is_some() || now >= deadline) {
            killing = true;
            for n in nodes.iter().filter(|n| n.is_running()) {
                let why = match hurry {
                    Some(sig) => format!("second {sig}"),
                    None => format!("not stopped {} s after SIGTERM", STOP_TIMEOUT.as_secs()),
                };
                errln!("swarm-sim devnet: {} {why}: sending SIGKILL", n.plan.name());
                n.kill();
            }
        }
    }
    for n in nodes.iter_mut() {
        n.wait_log().await;
    }
    errln!("swarm-sim devnet: every node has stopped");
}

fn remove_if_present(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(DevnetError::Io {
            what: format!("cannot remove the old {}", path.display()),
            source: e,
        }),
        _ => Ok(()),
    }
}

/// Writes the file whole or not at all, so a client reading it while it is
/// written never sees half an address.
fn write_bootstrap(path: &Path, addrs: &[String]) -> Result<()> {
    let tmp = path.with_extension("txt.tmp");
    let text: String = addrs.iter().map(|a| format!("{a}\n")).collect();
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|source| DevnetError::Io {
            what: format!("cannot write {}", path.display()),
            source,
        })
}

fn print_ready(nodes: &[NodeProc], bootstrap: &Path, addrs: &[String]) {
    outln!(
        "devnet ready: {} sotto-node processes, every directory complete",
        nodes.len()
    );
    for n in nodes {
        outln!(
            "  {:<8} {}  metrics http://{}/metrics  log {}",
            n.plan.name(),
            n.p2p_addr(),
            n.plan.metrics_addr(),
            n.plan.log_path().display()
        );
    }
    outln!("bootstrap addresses (in {}):", bootstrap.display());
    for a in addrs {
        outln!("  {a}");
    }
    outln!(
        "chat over it: sotto --network devnet --bootstrap {} ... (every client of this devnet uses both)",
        bootstrap.display()
    );
    outln!("Ctrl-C stops every node.");
}
