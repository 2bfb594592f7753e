//! The simulated network: sotto-node's [`LocalNet`] (real nodes in this
//! process over libp2p's memory transport, each on a temporary data
//! directory that survives its restarts) with the scenario's node settings.

use std::ops::{Deref, DerefMut};
use std::time::Duration;

use sotto_client::ClientConfig;
use sotto_node::localnet::{LocalNet, LocalNetError};
use sotto_protocol::NetworkParams;

use crate::SimError;
use crate::scenario::NodeOverrides;

/// The simulated network.
#[derive(Debug)]
pub struct SimNet {
    /// The nodes.
    pub net: LocalNet,
    /// Node settings the scenario changes; they apply to nodes started (or
    /// restarted) after they are set.
    pub overrides: NodeOverrides,
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
    /// An empty net.
    pub fn new(params: NetworkParams) -> SimNet {
        SimNet {
            net: LocalNet::new(params),
            overrides: NodeOverrides::default(),
        }
    }

    /// Puts the scenario's node settings into the settings nodes start with.
    fn apply_overrides(&mut self) {
        let (o, c) = (&self.overrides, &mut self.net.base);
        if let Some(v) = o.store_rate_per_minute {
            c.limits.store_rate_per_minute = v;
        }
        if let Some(v) = o.store_burst {
            c.limits.store_burst = v;
        }
        if let Some(v) = o.max_account_bytes {
            c.store.max_account_bytes = v;
        }
    }

    /// Makes and starts one more node (node 0 bootstraps everyone).
    pub async fn add_node(&mut self) -> Result<usize, SimError> {
        self.apply_overrides();
        self.net.add_node().await.map_err(setup)
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

    /// A client configuration for this net (memory transport).
    pub fn client_config(&self) -> ClientConfig {
        let mut c = ClientConfig::new(self.params.clone(), vec![self.bootstrap.clone()]);
        c.memory = true;
        // Faults change the network within seconds; a client must see it.
        c.directory_refresh = Duration::from_secs(2);
        c.onion_timeout = Duration::from_secs(35);
        c
    }
}
