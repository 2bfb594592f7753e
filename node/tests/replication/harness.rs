//! The test network: real node contexts (sled stores in temporary
//! directories, signed directories) whose network handles are served by an
//! in-memory router instead of libp2p, and helpers to drive them.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use libp2p::PeerId;
use sotto_node::clock::Clock;
use sotto_node::config::NodeConfig;
use sotto_node::context::{Acks, Context, Push, Pusher, Waiters};
use sotto_node::directory::{Directory, VerifiedRecord, peer_id_of};
use sotto_node::metrics::Metrics;
use sotto_node::net::{Command, NetError, NetHandle};
use sotto_node::replication::Replicator;
use sotto_node::store::{Store, StoreLimits};
use sotto_protocol::constants::PROTOCOL_VERSION;
use sotto_protocol::record::{NodeRecord, OnionKeyEntry, SignedNodeRecord};
use sotto_protocol::rpc::{NodeRequest, NodeResponse, StoredMessage};
use sotto_protocol::time::{DAY_MS, HOUR_MS};
use sotto_protocol::{
    AccountId, AccountKey, Namespace, NetworkParams, NodeId, NodeKey, OnionSecret,
};
use tokio::sync::mpsc;

pub const NET: &str = "devnet";
/// Every test ends well within this.
pub const LIMIT: Duration = Duration::from_secs(10);
/// The handoff grace the test network uses.
pub const GRACE_MS: u64 = 1_000;

pub fn params() -> NetworkParams {
    NetworkParams {
        handoff_grace_ms: GRACE_MS,
        ..NetworkParams::devnet()
    }
}

pub fn now() -> u64 {
    Clock::system().now()
}

/// The router between the test nodes: delivers each `Command::Node` to the
/// target's `handle_bytes` as bytes and decodes the answer, as the swarm task
/// would; requests to or from a node in `down` fail as unreachable.
#[derive(Default)]
pub struct Router {
    pub nodes: RwLock<HashMap<PeerId, Arc<Replicator>>>,
    pub down: Mutex<HashSet<PeerId>>,
}

impl Router {
    pub fn is_down(&self, peer: &PeerId) -> bool {
        self.down.lock().unwrap().contains(peer)
    }

    pub async fn deliver(
        &self,
        from: PeerId,
        to: PeerId,
        request: NodeRequest,
    ) -> Result<NodeResponse, NetError> {
        let unreachable = |reason: &str| NetError::Unreachable {
            peer: to,
            reason: reason.into(),
        };
        if self.is_down(&from) || self.is_down(&to) {
            return Err(unreachable("down"));
        }
        let target = self.nodes.read().unwrap().get(&to).cloned();
        let target = target.ok_or_else(|| unreachable("no such node"))?;
        let bytes = request.encode().map_err(|e| NetError::BadResponse {
            peer: to,
            reason: e.to_string(),
        })?;
        let answer = target.handle_bytes(from, &bytes).await;
        NodeResponse::decode(&answer, now()).map_err(|e| NetError::BadResponse {
            peer: to,
            reason: e.to_string(),
        })
    }
}

pub struct Node {
    pub key: NodeKey,
    pub ctx: Arc<Context>,
    pub repl: Arc<Replicator>,
    _dir: tempfile::TempDir,
}

impl Node {
    pub fn id(&self) -> NodeId {
        self.ctx.node_id
    }

    pub fn peer(&self) -> PeerId {
        self.ctx.peer_id
    }

    pub fn record(&self) -> SignedNodeRecord {
        record(&self.key)
    }

    pub fn learn(&self, record: SignedNodeRecord) {
        let t = now();
        self.ctx
            .dir_mut(|d| d.insert(VerifiedRecord::verify(record, d.params(), t)?, t))
            .unwrap();
    }

    pub fn serves(&self, account: &AccountId) -> bool {
        self.ctx.dir(|d| d.in_swarm(account, &self.id()))
    }

    /// Whether it serves `m` now: held, live, not deleted.
    pub fn holds(&self, m: &StoredMessage) -> bool {
        let f = self.ctx.store.fetch(&[(m.account, m.hash)], now()).unwrap();
        f.messages.iter().any(|x| x.hash == m.hash)
    }

    pub fn holds_tombstone(&self, m: &StoredMessage) -> bool {
        let f = self.ctx.store.fetch(&[(m.account, m.hash)], now()).unwrap();
        f.messages.is_empty() && f.deletes.iter().any(|d| d.hashes.contains(&m.hash))
    }

    pub fn held_items(&self, account: &AccountId) -> usize {
        self.ctx
            .store
            .list(account, None, 1024, now())
            .unwrap()
            .0
            .len()
    }
}

pub fn record(key: &NodeKey) -> SignedNodeRecord {
    let t = now();
    let b = key.node_id().as_bytes()[0];
    NodeRecord {
        version: PROTOCOL_VERSION,
        network: NET.into(),
        node: key.node_id(),
        addrs: vec!["/ip4/127.0.0.1/tcp/4100".into()],
        onion_keys: vec![OnionKeyEntry {
            key: OnionSecret::from_secret_bytes([b | 1; 32]).public(),
            valid_from: t - HOUR_MS,
            valid_until: t + DAY_MS,
        }],
        issued_at: t,
        expires_at: t + HOUR_MS,
        admission: sotto_protocol::record::admission::Admission::default(),
    }
    .sign(key)
    .unwrap()
}

/// A node with key seed `seed`, registered with `router`, whose directory
/// holds nothing yet.
pub fn node(router: &Arc<Router>, seed: u8, config: &NodeConfig) -> Node {
    let key = NodeKey::from_secret_bytes(&[seed; 32]);
    let node_id = key.node_id();
    let peer_id = peer_id_of(&node_id).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::channel::<Command>(256);
    let ctx = Arc::new(Context {
        params: params(),
        config: config.clone(),
        node_id,
        node_key: Arc::new(NodeKey::from_secret_bytes(&[seed; 32])),
        peer_id,
        clock: Arc::new(Clock::system()),
        store: Store::open(dir.path(), StoreLimits::default()).unwrap(),
        directory: RwLock::new(Directory::new(params(), 100)),
        metrics: Arc::new(Metrics::default()),
        net: NetHandle::new(tx, Duration::from_secs(2)),
        waiters: Waiters::default(),
    });
    let repl = Replicator::new(Arc::clone(&ctx));
    router
        .nodes
        .write()
        .unwrap()
        .insert(peer_id, Arc::clone(&repl));
    let r = Arc::clone(router);
    tokio::spawn(async move {
        while let Some(cmd) = rx.recv().await {
            if let Command::Node {
                peer,
                request,
                reply,
            } = cmd
            {
                let r = Arc::clone(&r);
                tokio::spawn(async move {
                    let _ = reply.send(r.deliver(peer_id, peer, request).await);
                });
            }
        }
    });
    Node {
        key,
        ctx,
        repl,
        _dir: dir,
    }
}

/// `n` nodes (seeds 1..=n) that all know each other.
pub fn network(n: u8, config: &NodeConfig) -> (Arc<Router>, Vec<Node>) {
    let router = Arc::new(Router::default());
    let nodes: Vec<Node> = (1..=n).map(|s| node(&router, s, config)).collect();
    for a in &nodes {
        for b in &nodes {
            a.learn(b.record());
        }
    }
    (router, nodes)
}

pub fn account(n: u8) -> AccountId {
    AccountKey::from_entropy([n; 16]).account_id()
}

pub fn message(account: AccountId, n: u32) -> StoredMessage {
    StoredMessage::new(
        account,
        Namespace::INBOX,
        n.to_le_bytes().to_vec(),
        now(),
        DAY_MS,
    )
}

/// Stores `m` on `node` as the RPC side would, then pushes it; the number of
/// members that acknowledged it with a valid receipt.
pub async fn store_and_push(node: &Node, m: &StoredMessage, need: usize) -> usize {
    store_and_push_acks(node, m, need).await.count
}

/// [`store_and_push`], with the receipts the members gave back.
pub async fn store_and_push_acks(node: &Node, m: &StoredMessage, need: usize) -> Acks {
    node.ctx.store.put(m.clone(), now()).unwrap();
    node.repl.push(Push::Store(m.clone()), need).await
}

pub fn set_down(router: &Router, nodes: &[&Node]) {
    *router.down.lock().unwrap() = nodes.iter().map(|n| n.peer()).collect();
}

/// Polls `cond` every 10 ms until it holds; fails the test after [`LIMIT`].
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let ok = tokio::time::timeout(LIMIT, async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(ok.is_ok(), "timed out waiting for: {what}");
}

pub async fn bounded<T>(f: impl Future<Output = T>) -> T {
    tokio::time::timeout(LIMIT, f).await.expect("took too long")
}
