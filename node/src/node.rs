//! Starting and stopping a whole node. Temporary: the integrator replaces this
//! file with the real wiring; it exists so the `sotto-node` binary compiles.

use std::path::PathBuf;
use std::sync::Arc;

use sotto_protocol::NetworkParams;

use crate::config::NodeConfig;
use crate::context::Context;

/// What a node is started with.
#[derive(Debug)]
pub struct NodeOptions {
    /// The data directory (keys, store).
    pub data_dir: PathBuf,
    /// The configuration.
    pub config: NodeConfig,
    /// The network's parameters.
    pub params: NetworkParams,
    /// Keep the store in memory (tests and the simulator).
    pub memory: bool,
}

/// A running node.
#[derive(Debug)]
pub struct Node {
    ctx: Arc<Context>,
}

/// Why a node did not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// Starting failed.
    #[error("{0}")]
    Start(String),
}

impl Node {
    /// Starts a node.
    pub async fn start(opts: NodeOptions) -> Result<Node, NodeError> {
        let _ = opts;
        Err(NodeError::Start("the node is not wired yet".into()))
    }

    /// The node's shared state.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// Stops the node.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        Ok(())
    }
}
