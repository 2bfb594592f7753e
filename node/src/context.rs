//! What every part of a running node shares: configuration, clock, store,
//! directory, metrics, the network handle and the long-poll waiters.

use std::sync::{Arc, RwLock};

use libp2p::PeerId;
use sotto_protocol::rpc::StorageReceipt;
use sotto_protocol::{AccountId, NetworkParams, NodeId, NodeKey};

use crate::clock::Clock;
use crate::config::NodeConfig;
use crate::directory::Directory;
use crate::metrics::Metrics;
use crate::net::NetHandle;
pub use crate::service::Waiters;
use crate::store::Store;

/// The shared state of one node.
#[derive(Debug)]
pub struct Context {
    /// The network's parameters.
    pub params: NetworkParams,
    /// The node's configuration.
    pub config: NodeConfig,
    /// This node.
    pub node_id: NodeId,
    /// This node's key (`node_id` is its public half): signs the storage
    /// receipts of the messages it holds.
    pub node_key: Arc<NodeKey>,
    /// This node's libp2p identity.
    pub peer_id: PeerId,
    /// The node's clock.
    pub clock: Arc<Clock>,
    /// The message store.
    pub store: Store,
    /// The directory (short critical sections only; never held across `.await`).
    pub directory: RwLock<Directory>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The network.
    pub net: NetHandle,
    /// Parked waiting retrieves (long polls), woken by the store's writes.
    pub waiters: Waiters,
}

impl Context {
    /// Runs `f` on the directory (read lock). A poisoned lock is recovered: the
    /// directory is plain data, always consistent between calls.
    pub fn dir<T>(&self, f: impl FnOnce(&Directory) -> T) -> T {
        match self.directory.read() {
            Ok(d) => f(&d),
            Err(p) => f(&p.into_inner()),
        }
    }

    /// Runs `f` on the directory (write lock).
    pub fn dir_mut<T>(&self, f: impl FnOnce(&mut Directory) -> T) -> T {
        match self.directory.write() {
            Ok(mut d) => f(&mut d),
            Err(p) => f(&mut p.into_inner()),
        }
    }
}

/// What a node pushes to the other members of an account's swarm (DESIGN §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Push {
    /// A message it stored.
    Store(sotto_protocol::rpc::StoredMessage),
    /// An owner's signed delete it applied.
    Delete(sotto_protocol::rpc::DeleteRequest),
    /// An owner's signed expiry change it applied.
    Expire(sotto_protocol::rpc::ExpireRequest),
}

impl Push {
    /// The account whose swarm it goes to.
    pub fn account(&self) -> AccountId {
        match self {
            Push::Store(m) => m.account,
            Push::Delete(d) => d.account,
            Push::Expire(e) => e.account,
        }
    }
}

/// What the members that acknowledged a push gave back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Acks {
    /// How many members acknowledged it (for a store: gave a valid receipt).
    pub count: usize,
    /// For a store, each acknowledging member's verified receipt.
    pub receipts: Vec<StorageReceipt>,
}

/// A boxed future, as [`Pusher`] returns it.
pub type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;

/// Pushes writes to the other members of an account's swarm: the RPC side
/// calls it after a local write, the replication side implements it.
pub trait Pusher: Send + Sync + std::fmt::Debug {
    /// Pushes `push` to every other member of its account's swarm in parallel.
    /// Resolves as soon as `need` of them have acknowledged it, or when every
    /// push has been answered or timed out, with what they gave back. A store
    /// counts as acknowledged by a member only with the member's valid
    /// storage receipt. Pushes that failed are queued for retry (bounded);
    /// anti-entropy repairs whatever the queue had to drop.
    fn push(&self, push: Push, need: usize) -> BoxFuture<Acks>;
}
