//! A devnet of real `sotto-node` processes on loopback for end-to-end tests
//! (the same setup as `tests/cli.rs`, shared by the browser test).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sotto_node::config::NodeConfig;

/// Nodes in the devnet. A request to an account's swarm keeps that whole
/// swarm (5 on a devnet) off its onion path, which needs 3 other relays.
pub const NODES: usize = 8;

/// `sotto-node` beside `sotto` in the target directory, built if missing.
pub fn node_bin(sotto: &str) -> PathBuf {
    let bin = Path::new(sotto).with_file_name("sotto-node");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "-p", "sotto-node", "--bin", "sotto-node"])
            .status()
            .unwrap();
        assert!(ok.success(), "building sotto-node failed");
    }
    bin
}

/// One running node.
pub struct Node {
    dir: tempfile::TempDir,
    peer: String,
    port: u16,
    metrics: String,
    child: Option<Child>,
}

impl Node {
    /// Its multiaddr with peer id.
    pub fn p2p(&self) -> String {
        format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", self.port, self.peer)
    }

    /// Its log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("node.log")).unwrap_or_default()
    }

    fn directory_size(&self) -> f64 {
        use std::io::{Read, Write};
        let Ok(mut s) = std::net::TcpStream::connect(&self.metrics) else {
            return 0.0;
        };
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        if s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .is_err()
        {
            return 0.0;
        }
        let mut body = String::new();
        let _ = s.read_to_string(&mut body);
        body.lines()
            .find_map(|l| {
                l.strip_prefix("sotto_directory_nodes ")
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0.0)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts `NODES` nodes and waits (up to 2 minutes) until every one knows
/// all of them. Ports are chosen by binding port 0 and holding every
/// listener until all are chosen, so no two nodes get the same port.
pub fn start(sotto: &str) -> Vec<Node> {
    let bin = node_bin(sotto);
    let held: Vec<TcpListener> = (0..NODES * 2)
        .map(|_| TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = held
        .iter()
        .map(|l| l.local_addr().unwrap().port())
        .collect();
    let mut nodes = Vec::new();
    for i in 0..NODES {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(&bin)
            .args(["init", "--network", "devnet", "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let info = Command::new(&bin)
            .args(["info", "--json", "--data-dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
        nodes.push(Node {
            dir,
            peer: v["peer_id"].as_str().unwrap().to_string(),
            port: ports[2 * i],
            metrics: format!("127.0.0.1:{}", ports[2 * i + 1]),
            child: None,
        });
    }
    let boot = nodes[0].p2p();
    for (i, n) in nodes.iter().enumerate() {
        let mut c = NodeConfig::default();
        c.network = "devnet".into();
        c.listen = vec![format!("/ip4/127.0.0.1/tcp/{}", n.port)];
        c.bootstrap = if i == 0 { vec![] } else { vec![boot.clone()] };
        c.metrics = n.metrics.clone();
        c.replication.anti_entropy_interval_ms = 1_000;
        c.replication.retry_interval_ms = 500;
        c.directory.check_interval_ms = 1_000;
        c.directory.pull_interval_ms = 1_000;
        std::fs::write(n.dir.path().join("node.toml"), toml::to_string(&c).unwrap()).unwrap();
    }
    // Let go of the ports only now, right before the nodes bind them.
    drop(held);
    for n in &mut nodes {
        let log = std::fs::File::create(n.dir.path().join("node.log")).unwrap();
        n.child = Some(
            Command::new(&bin)
                .args(["run", "--log", "info", "--data-dir"])
                .arg(n.dir.path())
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while !nodes.iter().all(|n| n.directory_size() == NODES as f64) {
        if Instant::now() > deadline {
            for n in &nodes {
                eprintln!("--- node {}:\n{}", n.peer, n.log());
            }
            panic!("the devnet did not form one directory of {NODES}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    nodes
}

/// Writes the devnet's bootstrap file into `dir` and returns its path.
pub fn bootstrap_file(nodes: &[Node], dir: &Path) -> PathBuf {
    let path = dir.join("bootstrap.txt");
    let lines: Vec<String> = nodes.iter().map(Node::p2p).collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}
