//! Real `sotto-node` processes on loopback (DESIGN §12, level 4): five form one
//! directory; a node killed with SIGKILL during stores restarts on its data dir,
//! serves what it acknowledged and catches up from its swarm.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::field_reassign_with_default
)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use sotto_node::clock::Clock;
use sotto_node::config::NodeConfig;
use sotto_node::metrics::Metrics;
use sotto_node::net::{self, NetConfig, NetHandle};
use sotto_node::runinfo::RunInfo;
use sotto_protocol::rpc::{Request, Response, RetrieveRequest, StoreRequest};
use sotto_protocol::{AccountKey, Namespace};

const BIN: &str = env!("CARGO_BIN_EXE_sotto-node");

fn now() -> u64 {
    Clock::system().now()
}

/// A node process with its data dir and addresses.
struct Proc {
    dir: tempfile::TempDir,
    peer: PeerId,
    /// The TCP address the node bound on its first start (port 0 resolved
    /// by the kernel, read from run.json); restarts listen on it again.
    addr: Option<Multiaddr>,
    metrics: String,
    child: Option<Child>,
}

impl Proc {
    fn init() -> Proc {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(BIN)
            .args(["init", "--network", "devnet", "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let info = Command::new(BIN)
            .args(["info", "--json", "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(info.status.success());
        let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
        let peer: PeerId = v["peer_id"].as_str().unwrap().parse().unwrap();
        Proc {
            dir,
            peer,
            addr: None,
            metrics: String::new(),
            child: None,
        }
    }

    fn addr(&self) -> Multiaddr {
        self.addr.clone().expect("the node has started once")
    }

    fn p2p_addr(&self) -> Multiaddr {
        self.addr()
            .with(libp2p::multiaddr::Protocol::P2p(self.peer))
    }

    /// Writes the node's config (short intervals for the test) and starts it.
    fn start(&mut self, bootstrap: Option<Multiaddr>) {
        let mut c = NodeConfig::default();
        c.network = "devnet".into();
        // Port 0 everywhere a port is new: the kernel picks, run.json tells.
        // Picking "free" ports in the test raced with the other test's nodes.
        c.listen = vec![
            self.addr
                .as_ref()
                .map_or("/ip4/127.0.0.1/tcp/0".to_string(), |a| a.to_string()),
        ];
        c.bootstrap = bootstrap.iter().map(|b| b.to_string()).collect();
        c.metrics = "127.0.0.1:0".into();
        c.replication.anti_entropy_interval_ms = 1_000;
        c.replication.retry_interval_ms = 500;
        c.directory.check_interval_ms = 1_000;
        c.directory.pull_interval_ms = 1_000;
        std::fs::write(
            self.dir.path().join("node.toml"),
            toml::to_string(&c).unwrap(),
        )
        .unwrap();
        let log = std::fs::File::create(self.dir.path().join("node.log")).unwrap();
        let child = Command::new(BIN)
            .args(["run", "--log", "info", "--data-dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        let pid = child.id();
        self.child = Some(child);
        self.read_run_info(pid);
    }

    /// Waits for the run.json of process `pid` and takes its addresses.
    fn read_run_info(&mut self, pid: u32) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let info = loop {
            match RunInfo::read(self.dir.path()).unwrap() {
                Some(info) if info.pid == pid => break info,
                _ => {}
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("node exited with {status}: {}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "no run.json after 30 s: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        let tcp: Multiaddr = info
            .listen
            .iter()
            .filter_map(|a| a.parse::<Multiaddr>().ok())
            .find(|a| {
                a.iter()
                    .any(|p| matches!(p, libp2p::multiaddr::Protocol::Tcp(_)))
            })
            .expect("a TCP listen address in run.json");
        let without_p2p: Multiaddr = tcp
            .iter()
            .filter(|p| !matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
            .collect();
        self.addr = Some(without_p2p);
        self.metrics = info.metrics.expect("metrics address in run.json");
    }

    fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }

    /// SIGTERM, and the exit status must be success (clean shutdown).
    fn terminate(&mut self) {
        if let Some(mut c) = self.child.take() {
            let pid = c.id().to_string();
            let ok = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
            assert!(ok.success());
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Some(status) = c.try_wait().unwrap() {
                    assert!(
                        status.success(),
                        "node exited with {status}: {}",
                        self.log()
                    );
                    assert_eq!(
                        RunInfo::read(self.dir.path()).unwrap(),
                        None,
                        "a clean stop removes run.json"
                    );
                    return;
                }
                assert!(Instant::now() < deadline, "node did not stop on SIGTERM");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default()
    }

    /// A gauge or counter value from the node's /metrics.
    fn metric(&self, name: &str) -> Option<f64> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&self.metrics).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .ok()?;
        let mut body = String::new();
        s.read_to_string(&mut body).ok()?;
        body.lines().find_map(|l| {
            l.strip_prefix(&format!("{name} "))
                .and_then(|v| v.parse().ok())
        })
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn wait_for(what: &str, secs: u64, mut check: impl FnMut() -> bool, logs: &[&Proc]) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        if Instant::now() > deadline {
            for p in logs {
                eprintln!("--- log of {}:\n{}", p.peer, p.log());
            }
            panic!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn directory_size(p: &Proc) -> f64 {
    p.metric("sotto_directory_nodes").unwrap_or(0.0)
}

#[test]
fn five_processes_form_one_directory() {
    let mut procs: Vec<Proc> = (0..5).map(|_| Proc::init()).collect();
    procs[0].start(None);
    let boot = procs[0].p2p_addr();
    for p in procs.iter_mut().skip(1) {
        p.start(Some(boot.clone()));
    }
    let refs: Vec<&Proc> = procs.iter().collect();
    wait_for(
        "a directory of 5 on every node",
        60,
        || refs.iter().all(|p| directory_size(p) == 5.0),
        &refs,
    );
    for p in &mut procs {
        p.terminate();
    }
}

async fn client(
    boot: &Multiaddr,
    nodes: &[(PeerId, Multiaddr)],
) -> (NetHandle, tokio::task::JoinHandle<()>) {
    let mut cfg = NetConfig::from_limits(
        &NodeConfig::default().limits,
        Vec::new(),
        vec![boot.clone()],
        false,
    );
    cfg.request_timeout = Duration::from_secs(5);
    let net = net::spawn(
        Keypair::generate_ed25519(),
        "devnet",
        cfg,
        Arc::new(Clock::system()),
        Arc::new(Metrics::default()),
    )
    .unwrap();
    for (peer, addr) in nodes {
        net.handle
            .add_addresses(*peer, vec![addr.clone()])
            .await
            .unwrap();
    }
    (net.handle, net.task)
}

fn data_dir_has_store(dir: &Path) -> bool {
    dir.join("store").exists()
}

#[test]
fn sigkill_during_stores_then_restart_serves_acknowledged_and_catches_up() {
    let mut procs: Vec<Proc> = (0..3).map(|_| Proc::init()).collect();
    procs[0].start(None);
    let boot = procs[0].p2p_addr();
    procs[1].start(Some(boot.clone()));
    procs[2].start(Some(boot.clone()));
    {
        let refs: Vec<&Proc> = procs.iter().collect();
        wait_for(
            "a directory of 3",
            60,
            || refs.iter().all(|p| directory_size(p) == 3.0),
            &refs,
        );
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let nodes: Vec<(PeerId, Multiaddr)> = procs.iter().map(|p| (p.peer, p.addr())).collect();
    let key = AccountKey::from_entropy([9; 16]);
    let a = key.account_id();
    let victim = procs[1].peer;
    let other = procs[2].peer;
    let (handle, _task) = rt.block_on(client(&boot, &nodes));

    // Stores through the victim; it is killed while they run.
    let h = handle.clone();
    let writer = rt.spawn(async move {
        let mut acked = Vec::new();
        for i in 0..400u32 {
            let data = format!("m{i}").into_bytes();
            let req = StoreRequest::unsigned(a, Namespace::INBOX, data, 3_600_000);
            match h.rpc(victim, Request::Store(req)).await {
                Ok(Response::Stored { hash, .. }) => acked.push(hash),
                _ => break,
            }
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(1500));
    procs[1].kill9();
    let mut acked = rt.block_on(writer).unwrap();
    eprintln!("{} stores acknowledged before the SIGKILL", acked.len());
    assert!(
        !acked.is_empty(),
        "nothing was acknowledged before the kill"
    );
    assert!(acked.len() < 400, "the kill came after every store");
    assert!(data_dir_has_store(procs[1].dir.path()));

    // While it is down, more messages go through another member.
    rt.block_on(async {
        for i in 0..10u32 {
            let req = StoreRequest::unsigned(
                a,
                Namespace::INBOX,
                format!("late{i}").into_bytes(),
                3_600_000,
            );
            match handle.rpc(other, Request::Store(req)).await.unwrap() {
                Response::Stored { hash, .. } => acked.push(hash),
                r => panic!("{r:?}"),
            }
        }
    });

    procs[1].start(Some(boot.clone()));
    let want: std::collections::BTreeSet<_> = acked.iter().copied().collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = rt.block_on(async {
            let mut got = std::collections::BTreeSet::new();
            let mut after = None;
            for _ in 0..50 {
                // Follow-up pages go on from the node's cursor, as a client does.
                let req = RetrieveRequest::unsigned(a, Namespace::INBOX, after);
                let req = req.sign(&key, "devnet", now()).unwrap();
                match handle.rpc(victim, Request::Retrieve(req)).await {
                    Ok(Response::Messages {
                        messages,
                        cursor,
                        more,
                    }) => {
                        got.extend(messages.iter().map(|m| m.hash));
                        after = Some(cursor);
                        if !more {
                            break;
                        }
                    }
                    _ => break,
                }
            }
            got
        });
        if want.is_subset(&got) {
            break;
        }
        if Instant::now() > deadline {
            eprintln!("{}", procs[1].log());
            panic!(
                "restarted node serves {} of {} acknowledged messages",
                want.intersection(&got).count(),
                want.len()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    for p in &mut procs {
        p.terminate();
    }
}
