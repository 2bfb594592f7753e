//! `swarm-sim devnet` as a person runs it: the real binary starts real
//! `sotto-node` processes, a real client joins through the bootstrap file and
//! stores and reads a message through an onion path, and SIGINT stops
//! everything with exit status 0.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sotto_client::{Account, Client, ClientConfig, PathStatus};
use sotto_protocol::NetworkParams;
use sotto_protocol::namespace::Namespace;
use sotto_protocol::rpc::{Request, Response, RetrieveRequest, StoreRequest};
use sotto_protocol::time::MINUTE_MS;

const SIM: &str = env!("CARGO_BIN_EXE_swarm-sim");
/// The fewest that carry a message: a store keeps the whole swarm (5) off its
/// path of 3 relays.
const NODES: u16 = 8;

/// Builds sotto-node beside swarm-sim when it is not there (a plain
/// `cargo test -p swarm-sim` builds only this package's binaries).
fn ensure_node_binary() {
    let node = Path::new(SIM).with_file_name("sotto-node");
    if node.is_file() {
        return;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "-p", "sotto-node"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .unwrap();
    assert!(status.success(), "cargo build -p sotto-node failed");
    assert!(node.is_file(), "{} still missing", node.display());
}

fn free(port: u16) -> bool {
    TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A base port whose node and metrics ports are all free now, below the
/// ephemeral range so outgoing connections do not take them meanwhile. Each
/// test of this file passes its own `slot`, so tests running at once never
/// pick the same ports.
fn free_base(slot: u16) -> u16 {
    let offset = (std::process::id() % 100) as u16 * 100;
    (0..100)
        .map(|k| 20_000 + (offset + k * 100) % 10_000 + slot * 20)
        .find(|&b| (0..NODES).all(|i| free(b + i) && free(b + 1_000 + i)))
        .expect("no free base port")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The devnet process; killed (and its nodes with it) if the test fails.
struct Devnet {
    child: Child,
    dir: PathBuf,
    out: PathBuf,
    err: PathBuf,
}

impl Devnet {
    /// Starts `swarm-sim devnet` on `dir`, its output going to files beside it.
    fn start(dir: &Path, nodes: u16, base: u16, extra: &[&str]) -> Devnet {
        Devnet::start_with(dir, nodes, base, extra, None)
    }

    /// As [`Devnet::start`], with stdout going to `stdout` if given.
    fn start_with(
        dir: &Path,
        nodes: u16,
        base: u16,
        extra: &[&str],
        stdout: Option<Stdio>,
    ) -> Devnet {
        let parent = dir.parent().unwrap();
        let run = std::fs::read_dir(parent).unwrap().count();
        let out = parent.join(format!("out-{run}.txt"));
        let err = parent.join(format!("err-{run}.txt"));
        let mut cmd = Command::new(SIM);
        cmd.args(["devnet", "--nodes", &nodes.to_string(), "--base-port"])
            .arg(base.to_string())
            .arg("--data-dir")
            .arg(dir)
            .args(extra);
        if !extra.contains(&"--ready-timeout") {
            cmd.args(["--ready-timeout", "50"]);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(stdout.unwrap_or_else(|| std::fs::File::create(&out).unwrap().into()))
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Devnet {
            child,
            dir: dir.to_path_buf(),
            out,
            err,
        }
    }

    fn output(&self) -> String {
        format!(
            "--- stdout:\n{}\n--- stderr:\n{}",
            read(&self.out),
            read(&self.err)
        )
    }

    fn bootstrap_file(&self) -> PathBuf {
        self.dir.join("bootstrap.txt")
    }

    /// Waits (at most 60 s) for bootstrap.txt and parses it.
    fn wait_bootstrap(&mut self) -> Vec<Multiaddr> {
        let file = self.bootstrap_file();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !file.exists() {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "devnet exited with {status} before it was ready\n{}",
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no bootstrap.txt within 60 s\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let text = read(&file);
        let addrs: Vec<Multiaddr> = text.lines().map(|l| l.parse().unwrap()).collect();
        assert!(!addrs.is_empty(), "{text:?}");
        for a in &addrs {
            assert!(
                a.iter().any(|p| matches!(p, Protocol::P2p(_))),
                "{a} has no /p2p"
            );
        }
        addrs
    }

    /// The pid of each running node, from the pid files the devnet writes.
    fn pids(&self, nodes: u16) -> Vec<i32> {
        (0..nodes)
            .map(|i| {
                let f = self.dir.join(format!("node-{i}/node.pid"));
                read(&f)
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{}", f.display()))
            })
            .collect()
    }

    /// Waits at most `secs` for the devnet to exit.
    fn wait_exit(&mut self, secs: u64) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "devnet did not stop within {secs} s\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGINT, as Ctrl-C sends; returns how it exited.
    fn interrupt(&mut self) -> ExitStatus {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGINT).unwrap();
        self.wait_exit(30)
    }

    /// Waits at most 10 s for `text` on the devnet's stderr.
    fn wait_stderr(&self, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !read(&self.err).contains(text) {
            assert!(
                Instant::now() < deadline,
                "no {text:?} on stderr\n{}",
                self.output()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // A failed test must not leave node processes behind.
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            if let Ok(pid) = read(&entry.path().join("node.pid")).trim().parse::<i32>() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

fn alive(pid: i32) -> bool {
    // A zombie still has a /proc entry but is no longer running.
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

async fn store_and_read_back(bootstrap: Vec<Multiaddr>) {
    let params = NetworkParams::preset("devnet").unwrap();
    let network = params.name.clone();
    let client = Client::start(ClientConfig::new(params, bootstrap))
        .await
        .unwrap();
    let mut status = client.path_status();
    tokio::time::timeout(Duration::from_secs(30), async {
        while !matches!(*status.borrow_and_update(), PathStatus::Ready { .. }) {
            status.changed().await.unwrap();
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no path ready: {:?}", client.path_status().borrow().clone()));

    let account = Account::create();
    let id = account.id();
    let store = StoreRequest::unsigned(
        id,
        Namespace::INBOX,
        b"over the devnet".to_vec(),
        10 * MINUTE_MS,
    );
    let stored = client
        .swarm_request(&id, move |_| Request::Store(store.clone()))
        .await
        .unwrap();
    let Response::Stored { hash, .. } = stored else {
        panic!("{stored:?}")
    };
    // Acknowledged once a quorum held it: the member this read reaches may
    // get its copy by replication a moment later, so the read is a long poll
    // (answered at once when the message is there) rather than a race.
    let key = account.key();
    let page = client
        .swarm_request(&id, |now| {
            Request::Retrieve(
                RetrieveRequest::signed(key, &network, Namespace::INBOX, None, 10_000, now)
                    .unwrap(),
            )
        })
        .await
        .unwrap();
    let Response::Messages { messages, .. } = page else {
        panic!("{page:?}")
    };
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].hash, hash);
    assert_eq!(messages[0].data, b"over the devnet");
    client.shutdown().await;
}

#[test]
fn devnet_serves_a_client_and_stops_cleanly_on_sigint() {
    ensure_node_binary();
    let tmp = tempfile::tempdir().unwrap();
    let base = free_base(0);
    let started = Instant::now();
    let mut devnet = Devnet::start(&tmp.path().join("devnet"), NODES, base, &[]);
    let addrs = devnet.wait_bootstrap();
    eprintln!(
        "{NODES} nodes with complete directories after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(addrs[0].to_string().contains(&format!("/tcp/{base}/")));
    assert!(
        read(&devnet.out).contains("sotto --network devnet --bootstrap"),
        "{}",
        devnet.output()
    );
    let pids = devnet.pids(NODES);
    assert!(pids.iter().all(|&p| alive(p)));

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), store_and_read_back(addrs))
            .await
            .expect("store and retrieve took over 60 s")
    });

    let status = devnet.interrupt();
    assert!(
        status.success(),
        "devnet exited with {status}\n{}",
        devnet.output()
    );
    for &p in &pids {
        assert!(!alive(p), "node process {p} is still running");
    }
    let stderr = read(&devnet.err);
    assert!(stderr.contains("every node has stopped"), "{stderr}");
    assert!(
        !stderr.contains("SIGKILL"),
        "a node needed SIGKILL\n{stderr}"
    );
    assert!(
        !devnet.bootstrap_file().exists(),
        "bootstrap.txt outlived the devnet"
    );
}

/// `swarm-sim devnet | tee log`, then Ctrl-C: Ctrl-C stops `tee` too, so
/// the devnet's stdout is a pipe nobody reads. It still stops every node
/// cleanly, removes what it wrote, and does not panic.
#[test]
fn a_closed_stdout_is_no_panic_and_sigint_still_cleans_up() {
    ensure_node_binary();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("devnet");
    let base = free_base(4);
    let (reader, writer) = std::io::pipe().unwrap();
    // Closed before the devnet prints its first line.
    drop(reader);
    let mut devnet = Devnet::start_with(&dir, 3, base, &[], Some(Stdio::from(writer)));
    devnet.wait_bootstrap();
    let pids = devnet.pids(3);
    let status = devnet.interrupt();
    let stderr = read(&devnet.err);
    assert_ne!(status.code(), Some(101), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.success(), "{status}\n{stderr}");
    assert!(stderr.contains("every node has stopped"), "{stderr}");
    assert!(pids.iter().all(|&p| !alive(p)));
    assert!(
        !devnet.bootstrap_file().exists(),
        "bootstrap.txt left behind"
    );
    for i in 0..3 {
        for f in ["node.pid", "run.json"] {
            let path = dir.join(format!("node-{i}/{f}"));
            assert!(!path.exists(), "{} left behind", path.display());
        }
    }
}

#[test]
fn a_rerun_keeps_identities_and_dead_nodes_are_reported() {
    ensure_node_binary();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("devnet");
    let base = free_base(1);

    // First run: a node killed behind the devnet's back is reported, with
    // its log, and the others go on.
    let mut first = Devnet::start(&dir, 3, base, &[]);
    let before = first.wait_bootstrap();
    let pids = first.pids(3);
    kill(Pid::from_raw(pids[2]), Signal::SIGKILL).unwrap();
    first.wait_stderr("node-2 exited unexpectedly (killed by SIGKILL)");
    first.wait_stderr("going on with the other nodes");
    let stderr = read(&first.err);
    assert!(stderr.contains("node-2/node.log"), "{stderr}");
    assert!(stderr.contains("node running"), "no log tail\n{stderr}");
    // New clients are no longer sent to the dead node.
    first.wait_stderr("bootstrap.txt now lists");
    let now: Vec<Multiaddr> = read(&first.bootstrap_file())
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(now, before[..2].to_vec());
    assert!(
        first.child.try_wait().unwrap().is_none(),
        "the devnet stopped"
    );
    assert!(alive(pids[0]) && alive(pids[1]));
    let status = first.interrupt();
    assert!(status.success(), "{status}\n{}", first.output());
    assert!(pids.iter().all(|&p| !alive(p)));

    // Second run on the same directory: same identities, no init; with
    // --stop-on-node-exit a dead node ends the devnet with an error.
    let mut second = Devnet::start(&dir, 3, base, &["--stop-on-node-exit"]);
    let after = second.wait_bootstrap();
    assert_eq!(before, after, "identities or ports changed on a rerun");
    let pids = second.pids(3);
    kill(Pid::from_raw(pids[1]), Signal::SIGKILL).unwrap();
    let status = second.wait_exit(30);
    assert!(!status.success(), "{}", second.output());
    let stderr = read(&second.err);
    assert!(stderr.contains("node-1 exited unexpectedly"), "{stderr}");
    assert!(stderr.contains("every node has stopped"), "{stderr}");
    assert!(pids.iter().all(|&p| !alive(p)));
}

#[test]
fn a_taken_port_is_refused_before_anything_starts() {
    ensure_node_binary();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("devnet");
    let base = free_base(2);
    let _held = TcpListener::bind(("127.0.0.1", base + 1_001)).unwrap();
    let mut devnet = Devnet::start(&dir, 3, base, &[]);
    let status = devnet.wait_exit(30);
    assert!(!status.success());
    let stderr = read(&devnet.err);
    assert!(
        stderr.contains(&format!("port {}", base + 1_001)),
        "{stderr}"
    );
    assert!(stderr.contains("node-1 metrics"), "{stderr}");
    assert!(stderr.contains("--base-port"), "{stderr}");
    assert!(!dir.join("node-0").exists(), "a node was prepared anyway");
}

#[test]
fn directories_that_never_complete_are_named_with_their_logs() {
    ensure_node_binary();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("devnet");
    let base = free_base(3);
    // node-2 already belongs to another network: the devnet keeps its
    // identity and configuration as they are, so it can never join.
    let node = Path::new(SIM).with_file_name("sotto-node");
    let out = Command::new(node)
        .args(["init", "--network", "public", "--data-dir"])
        .arg(dir.join("node-2"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let mut devnet = Devnet::start(&dir, 3, base, &["--ready-timeout", "4"]);
    let status = devnet.wait_exit(40);
    assert!(!status.success(), "{}", devnet.output());
    let stderr = read(&devnet.err);
    assert!(stderr.contains("not every node's directory"), "{stderr}");
    // A public-network node on loopback cannot even list itself: public
    // records carry no loopback address (issue 13), so it has no record.
    assert!(stderr.contains("node-2 sees 0 of 3"), "{stderr}");
    assert!(stderr.contains("node-2/node.log"), "{stderr}");
    assert!(stderr.contains("every node has stopped"), "{stderr}");
    assert!(!devnet.bootstrap_file().exists());
    // Nothing outlives the failed start.
    for i in 0..3 {
        assert!(!dir.join(format!("node-{i}/node.pid")).exists());
    }
}
