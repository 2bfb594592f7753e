//! Where each devnet node lives: its directory, log file and ports, and the
//! check that those ports are free before anything starts.

use std::net::TcpListener;
use std::path::{Path, PathBuf};

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;

use super::{DevnetError, Result};

/// Fewest nodes: a directory of fewer is hardly a network.
pub const MIN_NODES: usize = 3;
/// Most nodes: each is a full process with its own sled store, and the
/// machines this runs on are laptops.
pub const MAX_NODES: usize = 64;
/// Node i serves metrics on `base port + METRICS_PORT_OFFSET + i`; larger
/// than [`MAX_NODES`] so the two ranges never overlap.
pub const METRICS_PORT_OFFSET: u16 = 1_000;
/// The file in the data directory listing bootstrap multiaddrs, one per line.
pub const BOOTSTRAP_FILE: &str = "bootstrap.txt";
/// The log file in each node's directory.
pub const LOG_FILE: &str = "node.log";
/// The file in each node's directory holding the pid of its running process.
pub const PID_FILE: &str = "node.pid";

/// One node of the devnet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlan {
    /// Its position, 0 being the bootstrap node.
    pub index: usize,
    /// Its data directory (`DIR/node-i`).
    pub dir: PathBuf,
    /// Its TCP listen port on 127.0.0.1.
    pub listen_port: u16,
    /// Its metrics port on 127.0.0.1.
    pub metrics_port: u16,
}

impl NodePlan {
    /// Its name in messages and its directory's name: `node-i`.
    pub fn name(&self) -> String {
        format!("node-{}", self.index)
    }

    /// Where its log goes.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    /// Where its pid is kept while it runs.
    pub fn pid_path(&self) -> PathBuf {
        self.dir.join(PID_FILE)
    }

    /// The multiaddr it listens on.
    pub fn listen_addr(&self) -> Multiaddr {
        Multiaddr::empty()
            .with(Protocol::Ip4(std::net::Ipv4Addr::LOCALHOST))
            .with(Protocol::Tcp(self.listen_port))
    }

    /// Its metrics address, `127.0.0.1:port`.
    pub fn metrics_addr(&self) -> String {
        format!("127.0.0.1:{}", self.metrics_port)
    }
}

/// Lays out `nodes` nodes under `dir` from `base_port`, refusing counts and
/// ports out of range.
pub fn plan(nodes: usize, dir: &Path, base_port: u16) -> Result<Vec<NodePlan>> {
    if !(MIN_NODES..=MAX_NODES).contains(&nodes) {
        return Err(DevnetError::Args(format!(
            "--nodes {nodes}: a devnet has {MIN_NODES} to {MAX_NODES} nodes"
        )));
    }
    let count = u16::try_from(nodes).map_err(|_| DevnetError::Args("--nodes too large".into()))?;
    let top = u32::from(base_port) + u32::from(METRICS_PORT_OFFSET) + u32::from(count) - 1;
    if base_port < 1024 || top > u32::from(u16::MAX) {
        return Err(DevnetError::Args(format!(
            "--base-port {base_port}: node and metrics ports would run from {base_port} to {top}; \
             choose a base from 1024 to {}",
            u16::MAX - METRICS_PORT_OFFSET - count + 1
        )));
    }
    Ok((0..count)
        .map(|i| NodePlan {
            index: usize::from(i),
            dir: dir.join(format!("node-{i}")),
            listen_port: base_port + i,
            metrics_port: base_port + METRICS_PORT_OFFSET + i,
        })
        .collect())
}

/// Fails with the first port that cannot be bound on 127.0.0.1, naming its
/// use and what to do. A stale devnet (its supervisor killed with SIGKILL
/// leaves the nodes running) is the usual cause, so the hint points at the
/// pid files.
pub fn check_ports(plans: &[NodePlan], dir: &Path) -> Result<()> {
    for p in plans {
        for (port, what) in [
            (p.listen_port, format!("{} listen", p.name())),
            (p.metrics_port, format!("{} metrics", p.name())),
        ] {
            if TcpListener::bind(("127.0.0.1", port)).is_err() {
                let stale = p.pid_path();
                let hint = if stale.exists() {
                    format!(
                        "a devnet may still be running from {}: stop the process whose pid is in {} \
                         or choose another --base-port",
                        dir.display(),
                        stale.display()
                    )
                } else {
                    "another program holds it; choose another --base-port".to_string()
                };
                return Err(DevnetError::PortBusy { port, what, hint });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn ports_follow_the_base_and_never_overlap() {
        let plans = plan(64, Path::new("d"), 47_000).unwrap();
        assert_eq!(plans.len(), 64);
        assert_eq!(plans[0].listen_port, 47_000);
        assert_eq!(plans[63].listen_port, 47_063);
        assert_eq!(plans[0].metrics_port, 48_000);
        assert_eq!(plans[5].dir, Path::new("d/node-5"));
        assert_eq!(plans[5].log_path(), Path::new("d/node-5/node.log"));
        assert_eq!(
            plans[2].listen_addr().to_string(),
            "/ip4/127.0.0.1/tcp/47002"
        );
        let mut all: Vec<u16> = plans
            .iter()
            .flat_map(|p| [p.listen_port, p.metrics_port])
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 128);
    }

    #[test]
    fn counts_and_bases_out_of_range_are_refused() {
        for n in [0, 2, 65, 10_000] {
            let e = plan(n, Path::new("d"), 47_000).unwrap_err();
            assert!(e.to_string().contains("3 to 64"), "{e}");
        }
        assert!(plan(5, Path::new("d"), 80).is_err());
        let e = plan(5, Path::new("d"), 64_600).unwrap_err();
        assert!(e.to_string().contains("choose a base"), "{e}");
        // The highest base that fits is accepted.
        assert!(plan(5, Path::new("d"), u16::MAX - 1_000 - 4).is_ok());
        assert!(plan(5, Path::new("d"), u16::MAX - 1_000 - 3).is_err());
    }

    #[test]
    fn a_taken_port_is_named() {
        let held = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let plans = vec![NodePlan {
            index: 1,
            dir: PathBuf::from("d/node-1"),
            listen_port: port,
            metrics_port: 0,
        }];
        let e = check_ports(&plans, Path::new("d")).unwrap_err();
        let text = e.to_string();
        assert!(text.contains(&port.to_string()), "{text}");
        assert!(text.contains("node-1 listen"), "{text}");
        assert!(text.contains("--base-port"), "{text}");
    }
}
