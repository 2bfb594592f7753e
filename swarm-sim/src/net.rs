//! The simulated network: sotto-node's [`LocalNet`] (real nodes in this
//! process over libp2p's memory transport, each on a temporary data
//! directory that survives its restarts) with the scenario's node settings
//! and, unless the scenario switches it off, the network model of
//! [`crate::links`] on every connection.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use libp2p::multiaddr::Protocol;
use sotto_p2p::simlink::Attached;

use sotto_client::ClientConfig;
use sotto_node::localnet::{LocalNet, LocalNetError};
use sotto_protocol::NetworkParams;

use crate::SimError;
use crate::links::{LatencySettings, ModelSummary, RegionModel};
use crate::scenario::NodeOverrides;

/// Clients' endpoints in the network model: numbers no memory listener uses
/// (node ports are far below), unique in this process.
static NEXT_CLIENT_ENDPOINT: AtomicU64 = AtomicU64::new(1 << 62);

/// The simulated network.
#[derive(Debug)]
pub struct SimNet {
    /// The nodes.
    pub net: LocalNet,
    /// Node settings the scenario changes; they apply to nodes started (or
    /// restarted) after they are set.
    pub overrides: NodeOverrides,
    /// The network model, when links are delayed.
    links: Option<Arc<RegionModel>>,
    /// Endpoints placed in the model, detached when the net is dropped.
    placed: Vec<Attached>,
}

impl Deref for SimNet {
    type Target = LocalNet;
    fn deref(&self) -> &LocalNet {
        &self.net
    }
}

impl DerefMut for SimNet {
    fn deref_mut(&mut self) -> &mut LocalNet {
        &mut self.net
    }
}

fn setup(e: LocalNetError) -> SimError {
    SimError::Setup(e.to_string())
}

impl SimNet {
    /// An empty net without a network model (links deliver at once).
    pub fn new(params: NetworkParams) -> SimNet {
        let mut net = LocalNet::new(params);
        // No sled flusher thread per node: every flusher's pass scans the
        // epoch state of every thread in the process, so a thousand of them
        // cost a thousand squared (10.6% of the process's CPU at 998 nodes,
        // the directories' median 512 of 998 after 90 s against 800 without).
        // Acknowledged writes are flushed before they are acknowledged.
        net.base.store.background_flush_ms = 0;
        SimNet {
            net,
            overrides: NodeOverrides::default(),
            links: None,
            placed: Vec::new(),
        }
    }

    /// An empty net whose links follow `latency` (none when it is off),
    /// seeded by `seed`.
    pub fn with_links(params: NetworkParams, seed: u64, latency: &LatencySettings) -> SimNet {
        let mut net = SimNet::new(params);
        if latency.enabled() {
            net.links = Some(RegionModel::new(seed, latency.clone()));
        }
        net
    }

    /// Which network model runs and how it placed nodes and clients; `None`
    /// when links are not delayed.
    pub fn model_summary(&self) -> Option<ModelSummary> {
        self.links.as_ref().map(|m| m.summary())
    }

    /// Puts the scenario's node settings into the settings nodes start with.
    fn apply_overrides(&mut self) {
        // A node re-announces well before its record expires; with short
        // record lifetimes the default margin (30 min) would have it
        // re-announce every check.
        let lifetime = self.net.params.record_lifetime_ms;
        let (o, c) = (&self.overrides, &mut self.net.base);
        c.directory.reannounce_margin_ms = c.directory.reannounce_margin_ms.min(lifetime / 4);
        if let Some(v) = o.store_rate_per_minute {
            c.limits.store_rate_per_minute = v;
        }
        if let Some(v) = o.store_burst {
            c.limits.store_burst = v;
        }
        if let Some(v) = o.max_account_bytes {
            c.store.max_account_bytes = v;
        }
        if let Some(v) = o.directory_pull_interval_ms {
            c.directory.pull_interval_ms = v;
        }
        if let Some(v) = o.max_connections {
            c.limits.max_connections = v;
        }
    }

    /// Makes and starts one more node (node 0 bootstraps everyone).
    pub async fn add_node(&mut self) -> Result<usize, SimError> {
        self.add_node_at(Vec::new()).await
    }

    /// [`SimNet::add_node`], announcing `external` addresses besides its
    /// memory address (the node's `external` setting): public addresses no
    /// one can dial here, which place it in a subnet for the rules keyed to
    /// subnets (one place per /24 in a swarm).
    pub async fn add_node_at(&mut self, external: Vec<String>) -> Result<usize, SimError> {
        self.apply_overrides();
        let i = self.net.add_slot().map_err(setup)?;
        if let Some(slot) = self.net.slots.get_mut(i) {
            slot.external = external;
        }
        if let Some(model) = &self.links {
            let port = self.net.slots.get(i).and_then(|s| {
                s.addr.iter().find_map(|p| match p {
                    Protocol::Memory(port) => Some(port),
                    _ => None,
                })
            });
            if let Some(port) = port {
                self.placed.push(model.place(port, i, false));
            }
        }
        self.net.restart(i).await.map_err(setup)?;
        Ok(i)
    }

    /// Starts node `i` on its data dir and address; a running node is left
    /// as it is.
    pub async fn restart(&mut self, i: usize) -> Result<(), SimError> {
        self.apply_overrides();
        self.net.restart(i).await.map_err(setup)
    }

    /// Kills node `i` as `kill -9` would (see [`LocalNet::crash`]).
    pub async fn crash(&mut self, i: usize) -> Result<(), SimError> {
        self.net.crash(i).await.map_err(setup)
    }

    /// Splits the nodes into `groups` until [`SimNet::heal`] (see
    /// [`LocalNet::cut`]).
    pub async fn partition(&mut self, groups: Vec<Vec<usize>>) -> Result<(), SimError> {
        self.net.cut(groups).await.map_err(setup)
    }

    /// Lifts the partition: every node accepts every other again.
    pub async fn heal(&mut self) -> Result<(), SimError> {
        self.net.heal().await.map_err(setup)
    }

    /// Sets node `i`'s clock `offset_ms` off the system clock (it stays so
    /// across restarts).
    pub fn skew(&self, i: usize, offset_ms: i64) -> Result<(), SimError> {
        self.net.skew(i, offset_ms).map_err(setup)
    }

    /// Stops node `i` cleanly (flushing its store); a stopped node is left
    /// as it is.
    pub async fn stop(&mut self, i: usize) -> Result<(), SimError> {
        self.net.stop(i).await.map_err(setup)
    }

    /// Stops every node.
    pub async fn stop_all(&mut self) -> Result<(), SimError> {
        self.net.stop_all().await.map_err(setup)
    }

    /// Waits (up to `limit`) until every running node's directory holds at
    /// least `n` records.
    pub async fn wait_directories(&self, n: usize, limit: Duration) -> Result<(), SimError> {
        self.net.wait_directories(n, limit).await.map_err(setup)
    }

    /// The network-model endpoint of a peer that dials but never listens
    /// (an attacker), placed as the client with this index would be; `None`
    /// when links are not delayed.
    pub fn dialer_origin(&mut self, index: usize) -> Option<u64> {
        let model = self.links.as_ref()?;
        let endpoint = NEXT_CLIENT_ENDPOINT.fetch_add(1, Ordering::Relaxed);
        self.placed.push(model.place(endpoint, index, true));
        Some(endpoint)
    }

    /// A client configuration for this net (memory transport), for the
    /// client with this index (it has its place in the network model).
    pub fn client_config(&mut self, index: usize) -> ClientConfig {
        let mut c = ClientConfig::new(self.params.clone(), vec![self.bootstrap.clone()]);
        c.memory = true;
        if let Some(model) = &self.links {
            let endpoint = NEXT_CLIENT_ENDPOINT.fetch_add(1, Ordering::Relaxed);
            self.placed.push(model.place(endpoint, index, true));
            c.memory_origin = Some(endpoint);
        }
        // Faults change the network within seconds; a client must see it.
        c.directory_refresh = Duration::from_secs(2);
        c.onion_timeout = Duration::from_secs(35);
        c
    }
}
