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
use std::process::{Child, Command, Stdio};
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
/// ephemeral range so outgoing connections do not take them meanwhile.
fn free_base() -> u16 {
    let start = 20_000 + (std::process::id() % 500) as u16 * 20;
    (0..200)
        .map(|k| 20_000 + (start - 20_000 + k * 20) % 10_000)
        .find(|&b| (0..NODES).all(|i| free(b + i) && free(b + 1_000 + i)))
        .expect("no free base port")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The devnet process; killed (and its nodes with it) if the test fails.
struct Devnet {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Devnet {
    fn output(&self) -> String {
        format!(
            "--- stdout:\n{}\n--- stderr:\n{}",
            read(&self.out),
            read(&self.err)
        )
    }
}

impl Drop for Devnet {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
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
    let key = account.key();
    let page = client
        .swarm_request(&id, |now| {
            Request::Retrieve(
                RetrieveRequest::signed(key, &network, Namespace::INBOX, None, 0, now).unwrap(),
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
    let dir = tmp.path().join("devnet");
    let base = free_base();
    let (out, err) = (tmp.path().join("out.txt"), tmp.path().join("err.txt"));
    let child = Command::new(SIM)
        .args(["devnet", "--nodes", &NODES.to_string(), "--base-port"])
        .arg(base.to_string())
        .arg("--data-dir")
        .arg(&dir)
        .args(["--ready-timeout", "50"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let mut devnet = Devnet { child, out, err };

    let bootstrap_file = dir.join("bootstrap.txt");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !bootstrap_file.exists() {
        if let Some(status) = devnet.child.try_wait().unwrap() {
            panic!(
                "devnet exited with {status} before it was ready\n{}",
                devnet.output()
            );
        }
        assert!(
            Instant::now() < deadline,
            "no bootstrap.txt within 60 s\n{}",
            devnet.output()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = read(&bootstrap_file);
    let addrs: Vec<Multiaddr> = text.lines().map(|l| l.parse().unwrap()).collect();
    assert!(!addrs.is_empty(), "{text:?}");
    for a in &addrs {
        assert!(
            a.iter().any(|p| matches!(p, Protocol::P2p(_))),
            "{a} has no /p2p"
        );
    }
    assert!(addrs[0].to_string().contains(&format!("/tcp/{base}/")));
    assert!(
        read(&devnet.out).contains("sotto --bootstrap"),
        "{}",
        devnet.output()
    );

    let pids: Vec<i32> = (0..NODES)
        .map(|i| {
            let f = dir.join(format!("node-{i}/node.pid"));
            read(&f)
                .trim()
                .parse()
                .unwrap_or_else(|_| panic!("{}", f.display()))
        })
        .collect();
    assert!(pids.iter().all(|&p| alive(p)));

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), store_and_read_back(addrs))
            .await
            .expect("store and retrieve took over 60 s")
    });

    kill(Pid::from_raw(devnet.child.id() as i32), Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = devnet.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "devnet did not stop\n{}",
            devnet.output()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
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
        !bootstrap_file.exists(),
        "bootstrap.txt outlived the devnet"
    );
}
