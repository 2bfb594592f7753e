//! Replication between the members of an account's swarm (DESIGN §6).
//!
//! The [`Replicator`] does four things:
//!
//! - **Inbound** ([`Replicator::handle_bytes`]): answers other nodes' pushes
//!   and anti-entropy questions. Only nodes of the directory are served, and
//!   nothing is kept before its owner signatures are checked.
//! - **Push** (the [`Pusher`] seam): after a local write, the item goes to every
//!   other member in parallel; the caller learns as soon as enough of them
//!   acknowledged. Failures wait in a bounded retry backlog.
//! - **Anti-entropy** ([`Replicator::anti_entropy_once`]): with each co-member,
//!   compare per-account digests, list the accounts that differ, and pull and
//!   push whatever the protocol's `reconcile` says each side lacks. It repairs
//!   whatever pushes and the backlog missed, so a swarm converges after
//!   partitions and restarts, from either side.
//! - **Handoff and purge** ([`Replicator::handoff_once`],
//!   [`Replicator::purge_once`]): hand the data of accounts this node no longer
//!   serves to their new swarm, drop it after the network's grace period, and
//!   remove what expired.
//!
//! [`Replicator::spawn_tasks`] runs the periodic parts until shutdown.
//!
//! ## Not here
//!
//! What is valid, what is signed and how two replicas merge is the protocol's
//! (`sotto_protocol::rpc`); the node only calls it. The libp2p transport is
//! behind [`crate::net::NetHandle`].

mod anti_entropy;
mod apply;
mod backlog;
mod handoff;
mod inbound;
mod push;
mod tasks;
mod witness;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use libp2p::PeerId;
use sotto_protocol::rpc::{AuthError, RpcError};
use sotto_protocol::{AccountId, NodeId};

use crate::context::Context;
use crate::net::NetError;
use crate::store::{Store, StoreError};

use backlog::Backlog;
use handoff::Leaving;

/// Why one replication step with a peer failed. Each failure is also counted in
/// the metrics; the step is retried by the backlog or the next round.
#[derive(Debug, thiserror::Error)]
pub enum ReplicationError {
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A blocking store task did not finish (the runtime is shutting down).
    #[error("a blocking store task did not finish: {0}")]
    Join(String),
    /// The request did not reach the peer or it did not answer in time.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The peer answered with an error.
    #[error("the peer refused: {0}")]
    Peer(RpcError),
    /// The peer answered with the wrong kind of response.
    #[error("the peer answered a {asked} request with something else")]
    Unexpected {
        /// What was asked.
        asked: &'static str,
    },
    /// The peer sent data whose owner signatures do not verify.
    #[error("the peer sent data with a bad owner signature: {0}")]
    Forged(AuthError),
}

/// Most pushes (one write to one member) in flight at once: each holds a task
/// and its request until the member answers or the request times out.
pub const MAX_PUSHES_IN_FLIGHT: usize = 1024;

/// Replication for one node: see the module documentation.
#[derive(Debug)]
pub struct Replicator {
    ctx: Arc<Context>,
    /// Pushes that failed, waiting to be retried (shared with the push tasks).
    backlog: Arc<Mutex<Backlog>>,
    /// Permits of push tasks in flight ([`MAX_PUSHES_IN_FLIGHT`]).
    pushing: Arc<tokio::sync::Semaphore>,
    /// Accounts held that this node no longer serves, by account; only accounts
    /// the store holds are ever in it.
    leaving: Mutex<HashMap<AccountId, Leaving>>,
    /// Receipts collected from co-members, and the members caught lacking
    /// what they signed for ([`witness`]).
    witnessed: Arc<Mutex<witness::Witnessed>>,
}

impl Replicator {
    /// The replicator of the node `ctx`.
    pub fn new(ctx: Arc<Context>) -> Arc<Self> {
        let backlog = Backlog::new(ctx.config.replication.max_backlog);
        Arc::new(Self {
            ctx,
            backlog: Arc::new(Mutex::new(backlog)),
            pushing: Arc::new(tokio::sync::Semaphore::new(MAX_PUSHES_IN_FLIGHT)),
            leaving: Mutex::new(HashMap::new()),
            witnessed: Arc::new(Mutex::new(witness::Witnessed::default())),
        })
    }

    /// How many pushes wait in the retry backlog.
    pub fn backlog_len(&self) -> usize {
        lock(&self.backlog).len()
    }
}

/// Locks `m`, recovering from a poisoned lock: every structure behind these
/// locks is left consistent between calls.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Runs `f` on the store on a blocking thread: store calls wait on the disk.
/// A fatal store error is reported ([`Store::report`]): the node stops on it.
async fn blocking<T, F>(store: &Store, f: F) -> Result<T, ReplicationError>
where
    T: Send + 'static,
    F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
{
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store).inspect_err(|e| store.report(e)))
        .await
        .map_err(|e| ReplicationError::Join(e.to_string()))?
        .map_err(ReplicationError::from)
}

/// Whether this node is in `account`'s swarm, and the other members with their
/// libp2p identities (members whose entry is missing are left out).
fn swarm_of(ctx: &Context, account: &AccountId) -> (bool, Vec<(NodeId, PeerId)>) {
    ctx.dir(|d| {
        let swarm = d.swarm(account);
        let mine = swarm.contains(&ctx.node_id);
        let others = swarm
            .iter()
            .filter(|n| **n != ctx.node_id)
            .filter_map(|n| d.get(n).map(|e| (*n, e.peer)))
            .collect();
        (mine, others)
    })
}
