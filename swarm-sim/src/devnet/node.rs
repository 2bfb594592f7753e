//! One `sotto-node` process of the devnet: preparing its data directory
//! (`init` only when it has no identity yet), starting it, signalling it and
//! reading the end of its log.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sotto_node::config::NodeConfig;
use sotto_node::identity::NODE_KEY_FILE;
use tokio::process::{Child, Command};
use tokio::sync::oneshot;

use super::logfile;
use super::plan::NodePlan;
use super::{DevnetError, Result};

/// The binary's file name.
const NODE_BIN: &str = "sotto-node";
/// How long `init` (no admission proof on a devnet) or `info` may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an exited node's log may take to be written out.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);
/// How much of a log's end is read for a report.
const TAIL_BYTES: u64 = 4 * 1024;
/// How many of its last lines a report shows.
const TAIL_LINES: usize = 12;
/// The configuration file `init` writes and `run` reads.
const CONFIG_FILE: &str = "node.toml";

/// The `sotto-node` binary: `explicit` when given, else the one beside the
/// running executable (cargo builds every binary of the workspace into one
/// directory).
pub fn find_binary(explicit: Option<&Path>) -> Result<PathBuf> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let exe = std::env::current_exe().map_err(|source| DevnetError::Io {
                what: "cannot find the swarm-sim executable".into(),
                source,
            })?;
            exe.with_file_name(NODE_BIN)
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(DevnetError::NodeBinary { path })
    }
}

/// The node configuration a devnet writes: the devnet preset, and directory
/// and replication timings short enough that a new node is seen everywhere
/// within seconds rather than the public network's minutes. The addresses
/// written here let a person run the node by hand on the same ports; the
/// devnet itself passes them on the command line at every start, so a rerun
/// with another `--base-port` needs no edit.
pub fn devnet_config(plan: &NodePlan) -> NodeConfig {
    let mut c = NodeConfig {
        network: "devnet".into(),
        listen: vec![plan.listen_addr().to_string()],
        metrics: plan.metrics_addr(),
        ..NodeConfig::default()
    };
    c.directory.pull_interval_ms = 3_000;
    c.directory.check_interval_ms = 3_000;
    c.replication.anti_entropy_interval_ms = 10_000;
    c.replication.retry_interval_ms = 1_000;
    c.replication.handoff_check_interval_ms = 10_000;
    c
}

/// How a node's process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// It exited with status 0.
    pub clean: bool,
    /// `exit status 1`, `killed by SIGKILL`, ...
    pub status: String,
}

/// A devnet node and, while it runs, its process.
#[derive(Debug)]
pub struct NodeProc {
    /// Where it lives.
    pub plan: NodePlan,
    /// Its libp2p identity, read from its data directory.
    pub peer: PeerId,
    child: Option<Child>,
    /// Completes once everything the last process wrote is in its log.
    flushed: Option<oneshot::Receiver<()>>,
}

impl NodeProc {
    /// Makes the node's data directory usable: `init` when it has no
    /// identity, a devnet `node.toml` when it has none or was just made, and
    /// reads the peer id. An existing identity is never replaced.
    pub async fn prepare(bin: &Path, plan: NodePlan) -> Result<NodeProc> {
        let name = plan.name();
        let fresh = !plan.dir.join(NODE_KEY_FILE).exists();
        if fresh {
            let mut cmd = Command::new(bin);
            cmd.args(["init", "--network", "devnet", "--data-dir"])
                .arg(&plan.dir);
            tool(&name, cmd).await?;
        }
        let config = plan.dir.join(CONFIG_FILE);
        if fresh || !config.exists() {
            devnet_config(&plan)
                .save(&config)
                .map_err(|e| DevnetError::Prepare {
                    node: name.clone(),
                    message: e.to_string(),
                })?;
        }
        let mut cmd = Command::new(bin);
        cmd.args(["info", "--json", "--data-dir"]).arg(&plan.dir);
        let out = tool(&name, cmd).await?;
        let peer = parse_peer_id(&out).map_err(|message| DevnetError::Prepare {
            node: name,
            message,
        })?;
        Ok(NodeProc {
            plan,
            peer,
            child: None,
            flushed: None,
        })
    }

    /// The address others dial it at, with `/p2p/<peer id>`.
    pub fn p2p_addr(&self) -> Multiaddr {
        self.plan.listen_addr().with(Protocol::P2p(self.peer))
    }

    /// Starts `sotto-node run` with its output going to its log file (made
    /// anew each start). The process gets its own process group, so a Ctrl-C
    /// in the terminal reaches only the supervisor, which then stops the
    /// nodes in order and can tell a crash from a requested stop.
    pub fn spawn(&mut self, bin: &Path, bootstrap: Option<&Multiaddr>, level: &str) -> Result<()> {
        let name = self.plan.name();
        let io = |what: &str, source| DevnetError::Io {
            what: format!("{name}: {what}"),
            source,
        };
        // One pipe for stdout and stderr, so the log keeps their order.
        let (reader, writer) = std::io::pipe().map_err(|e| io("cannot make a pipe", e))?;
        let err = writer
            .try_clone()
            .map_err(|e| io("cannot make a pipe", e))?;
        let mut cmd = Command::new(bin);
        cmd.args(["run", "--log", level, "--data-dir"])
            .arg(&self.plan.dir)
            .arg("--listen")
            .arg(self.plan.listen_addr().to_string())
            .arg("--metrics")
            .arg(self.plan.metrics_addr());
        if let Some(b) = bootstrap {
            cmd.arg("--bootstrap").arg(b.to_string());
        }
        cmd.stdin(Stdio::null())
            // The log is a file: colour codes would only clutter it.
            .env("NO_COLOR", "1")
            .stdout(Stdio::from(writer))
            .stderr(Stdio::from(err))
            .process_group(0)
            // If the supervisor fails between spawn and stop, no node outlives it.
            .kill_on_drop(true);
        let child = cmd.spawn().map_err(|e| io("cannot start sotto-node", e))?;
        // The command holds our copies of the pipe's writing end; without
        // dropping them the log would never see the node's end.
        drop(cmd);
        let log = self.plan.log_path();
        let flushed = logfile::pump(reader, log.clone(), logfile::MAX_LOG_BYTES)
            .map_err(|e| io(&format!("cannot write {}", log.display()), e))?;
        self.flushed = Some(flushed);
        if let Some(pid) = child.id() {
            // Only a hint for a person cleaning up after a killed supervisor.
            let _ = std::fs::write(self.plan.pid_path(), format!("{pid}\n"));
        }
        self.child = Some(child);
        Ok(())
    }

    /// Whether a process of this node is running (as far as we know).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// If the process has exited, how; it is then forgotten.
    pub fn exited(&mut self) -> Option<Exit> {
        let child = self.child.as_mut()?;
        let exit = match child.try_wait() {
            Ok(Some(s)) => Exit {
                clean: s.success(),
                status: describe(s),
            },
            Ok(None) => return None,
            Err(e) => Exit {
                clean: false,
                status: format!("cannot be watched: {e}"),
            },
        };
        self.forget();
        Some(exit)
    }

    /// Sends SIGTERM (a node's clean shutdown).
    pub fn terminate(&self) {
        self.signal(Signal::SIGTERM);
    }

    /// Sends SIGKILL.
    pub fn kill(&self) {
        self.signal(Signal::SIGKILL);
    }

    fn signal(&self, sig: Signal) {
        let pid = self
            .child
            .as_ref()
            .and_then(Child::id)
            .and_then(|id| i32::try_from(id).ok());
        if let Some(pid) = pid {
            // ESRCH (already gone) is fine: the exit is collected by `exited`.
            let _ = kill(Pid::from_raw(pid), sig);
        }
    }

    fn forget(&mut self) {
        self.child = None;
        let _ = std::fs::remove_file(self.plan.pid_path());
    }

    /// The last lines of its log, indented, or why they cannot be read. Once
    /// the process has exited, waits (briefly) for its last words to reach
    /// the file first.
    pub async fn log_tail(&mut self) -> String {
        self.wait_log().await;
        tail(&self.plan.log_path())
    }

    /// Once the process has exited, waits (briefly) until what it wrote last
    /// is in its log file; at once while it runs.
    pub async fn wait_log(&mut self) {
        if !self.is_running()
            && let Some(flushed) = self.flushed.take()
        {
            let _ = tokio::time::timeout(FLUSH_TIMEOUT, flushed).await;
        }
    }
}

/// Runs a short `sotto-node` subcommand and returns its stdout.
async fn tool(node: &str, mut cmd: Command) -> Result<String> {
    cmd.stdin(Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(TOOL_TIMEOUT, cmd.output())
        .await
        .map_err(|_| DevnetError::Prepare {
            node: node.into(),
            message: format!("sotto-node did not finish within {TOOL_TIMEOUT:?}"),
        })?
        .map_err(|source| DevnetError::Io {
            what: format!("{node}: cannot run sotto-node"),
            source,
        })?;
    if !out.status.success() {
        return Err(DevnetError::Prepare {
            node: node.into(),
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn parse_peer_id(info_json: &str) -> std::result::Result<PeerId, String> {
    let v: serde_json::Value = serde_json::from_str(info_json)
        .map_err(|e| format!("`sotto-node info --json` printed something else ({e})"))?;
    let text = v
        .get("peer_id")
        .and_then(serde_json::Value::as_str)
        .ok_or("`sotto-node info --json` has no peer_id")?;
    text.parse()
        .map_err(|e| format!("peer id {text:?} does not parse: {e}"))
}

/// `exit status 1`, `killed by SIGKILL`, ...
fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(sig)) => match Signal::try_from(sig) {
            Ok(s) => format!("killed by {s}"),
            Err(_) => format!("killed by signal {sig}"),
        },
        (None, None) => status.to_string(),
    }
}

/// The last [`TAIL_LINES`] lines of the file, reading at most [`TAIL_BYTES`].
fn tail(path: &Path) -> String {
    let read = || -> std::io::Result<String> {
        let mut f = std::fs::File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
        let mut buf = Vec::new();
        f.take(TAIL_BYTES).read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).into_owned())
    };
    match read() {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            let from = lines.len().saturating_sub(TAIL_LINES);
            let shown = lines.get(from..).unwrap_or_default();
            if shown.is_empty() {
                "    (the log is empty)".into()
            } else {
                shown
                    .iter()
                    .map(|l| format!("    {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            }
        }
        Err(e) => format!("    (cannot read {}: {e})", path.display()),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_tail_is_the_last_lines_only() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("node.log");
        let text: String = (0..1_000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&log, text).unwrap();
        let t = tail(&log);
        assert_eq!(t.lines().count(), TAIL_LINES);
        assert!(t.ends_with("line 999"), "{t}");
        assert!(!t.contains("line 987\n"), "{t}");
        std::fs::write(&log, "").unwrap();
        assert!(tail(&log).contains("empty"));
        assert!(tail(&dir.path().join("missing")).contains("cannot read"));
    }

    #[test]
    fn peer_ids_come_from_info_json_and_garbage_is_explained() {
        let peer = PeerId::random();
        let json = format!("{{\"peer_id\":\"{peer}\",\"network\":\"devnet\"}}");
        assert_eq!(parse_peer_id(&json).unwrap(), peer);
        assert!(
            parse_peer_id("peer id: x")
                .unwrap_err()
                .contains("something else")
        );
        assert!(parse_peer_id("{}").unwrap_err().contains("no peer_id"));
        assert!(
            parse_peer_id("{\"peer_id\":\"nope\"}")
                .unwrap_err()
                .contains("does not parse")
        );
    }

    #[test]
    fn the_devnet_config_is_valid_and_survives_a_round_trip() {
        let plan = NodePlan {
            index: 0,
            dir: PathBuf::from("d"),
            listen_port: 47_000,
            metrics_port: 48_000,
        };
        let c = devnet_config(&plan);
        c.validate().unwrap();
        let back = NodeConfig::from_toml(&c.to_toml().unwrap()).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.network, "devnet");
        assert_eq!(back.listen, vec!["/ip4/127.0.0.1/tcp/47000".to_string()]);
        assert_eq!(back.metrics, "127.0.0.1:48000");
    }

    #[test]
    fn a_missing_binary_says_how_to_build_it() {
        let e = find_binary(Some(Path::new("/nonexistent/sotto-node"))).unwrap_err();
        assert!(e.to_string().contains("cargo build"), "{e}");
    }
}
