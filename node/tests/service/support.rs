//! The node under test: a real context (sled store in a temporary directory,
//! a directory of real signed records, the system clock) and a fake pusher.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use sotto_node::clock::Clock;
use sotto_node::config::NodeConfig;
use sotto_node::context::{Acks, BoxFuture, Context, Push, Pusher, Waiters};
use sotto_node::directory::{Directory, VerifiedRecord, peer_id_of};
use sotto_node::metrics::Metrics;
use sotto_node::net::NetHandle;
use sotto_node::service::Service;
use sotto_node::store::{FreeSpace, SpaceGuard, Store};
use sotto_protocol::constants::PROTOCOL_VERSION;
use sotto_protocol::record::{NodeRecord, OnionKeyEntry};
use sotto_protocol::rpc::{Request, Response, RetrieveRequest, RpcError, StoreRequest};
use sotto_protocol::time::{DAY_MS, HOUR_MS, MINUTE_MS};
use sotto_protocol::{
    AccountId, AccountKey, Namespace, NetworkParams, NodeId, NodeKey, OnionSecret,
};
use tokio::sync::mpsc;

pub const NET: &str = "devnet";
pub const NODES: u8 = 8;

/// Records pushes and answers each with a fixed number of acknowledgements.
#[derive(Debug)]
pub struct FakePusher {
    pub acks: usize,
    pushes: Mutex<Vec<(Push, usize)>>,
}

impl FakePusher {
    pub fn new(acks: usize) -> Arc<Self> {
        Arc::new(Self {
            acks,
            pushes: Mutex::new(Vec::new()),
        })
    }

    pub fn pushes(&self) -> Vec<(Push, usize)> {
        self.pushes.lock().unwrap().clone()
    }
}

impl Pusher for FakePusher {
    fn push(&self, push: Push, need: usize) -> BoxFuture<Acks> {
        self.pushes.lock().unwrap().push((push, need));
        let count = self.acks;
        Box::pin(async move {
            Acks {
                count,
                receipts: Vec::new(),
            }
        })
    }
}

/// One node under test.
pub struct Node {
    pub service: Service,
    pub ctx: Arc<Context>,
    pub pusher: Arc<FakePusher>,
    pub _dir: tempfile::TempDir,
}

pub struct Setup {
    /// Whether the node is in the swarm of `owner()`'s account.
    pub in_swarm: bool,
    pub acks: usize,
    pub params: NetworkParams,
    pub config: NodeConfig,
    /// A fake disk for the store's free-space watermark, read at every store.
    pub free_space: Option<Arc<dyn FreeSpace>>,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            in_swarm: true,
            acks: 4,
            params: NetworkParams::devnet(),
            config: NodeConfig::default(),
            free_space: None,
        }
    }
}

pub fn now() -> u64 {
    Clock::system().now()
}

pub fn owner() -> AccountKey {
    AccountKey::from_entropy([1; 16])
}

pub fn node_key(n: u8) -> NodeKey {
    NodeKey::from_secret_bytes(&[n; 32])
}

/// A directory of `NODES` nodes with valid records at `now`.
pub fn directory(params: &NetworkParams, now: u64) -> Directory {
    let mut d = Directory::new(params.clone(), 100);
    for n in 1..=NODES {
        let key = node_key(n);
        let record = NodeRecord {
            version: PROTOCOL_VERSION,
            network: NET.into(),
            node: key.node_id(),
            addrs: vec![format!("/ip4/127.0.0.1/tcp/{}", 4100 + u16::from(n))],
            onion_keys: vec![OnionKeyEntry {
                key: OnionSecret::from_secret_bytes([n; 32]).public(),
                valid_from: now - HOUR_MS,
                valid_until: now + DAY_MS,
            }],
            issued_at: now - MINUTE_MS,
            expires_at: now + HOUR_MS,
            admission: sotto_protocol::record::admission::Admission::default(),
        };
        let v = VerifiedRecord::verify(record.sign(&key).unwrap(), params, now).unwrap();
        d.insert(v, now).unwrap();
    }
    d
}

pub fn node(setup: Setup) -> Node {
    let now = now();
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path(), setup.config.store.limits()).unwrap();
    if let Some(disk) = setup.free_space {
        let min_free = setup.config.store.min_free_disk_bytes;
        store = store.with_space_guard(SpaceGuard::measuring_every(disk, min_free, Duration::ZERO));
    }
    let directory = directory(&setup.params, now);
    let swarm = directory.swarm(&owner().account_id());
    let node_id: NodeId = *directory
        .nodes()
        .iter()
        .find(|n| swarm.contains(n) == setup.in_swarm)
        .unwrap();
    let node_n = (1..=NODES)
        .find(|n| node_key(*n).node_id() == node_id)
        .unwrap();
    let ctx = Arc::new(Context {
        params: setup.params,
        config: setup.config,
        node_id,
        node_key: Arc::new(node_key(node_n)),
        peer_id: peer_id_of(&node_id).unwrap(),
        clock: Arc::new(Clock::system()),
        store,
        directory: RwLock::new(directory),
        metrics: Arc::new(Metrics::default()),
        net: NetHandle::new(mpsc::channel(8).0, Duration::from_secs(1)),
        waiters: Waiters::default(),
    });
    let pusher = FakePusher::new(setup.acks);
    let service = Service::new(ctx.clone(), pusher.clone());
    Node {
        service,
        ctx,
        pusher,
        _dir: dir,
    }
}

pub fn inbox_store(account: AccountId, data: &[u8]) -> Request {
    Request::Store(StoreRequest::unsigned(
        account,
        Namespace::INBOX,
        data.to_vec(),
        DAY_MS,
    ))
}

pub fn retrieve(key: &AccountKey, wait_ms: u32, signed_at: u64) -> Request {
    Request::Retrieve(
        RetrieveRequest::signed(key, NET, Namespace::INBOX, None, wait_ms, signed_at).unwrap(),
    )
}

pub fn error_of(r: Response) -> RpcError {
    match r {
        Response::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

pub fn data_of(r: Response) -> Vec<Vec<u8>> {
    match r {
        Response::Messages { messages, .. } => messages.into_iter().map(|m| m.data).collect(),
        other => panic!("expected messages, got {other:?}"),
    }
}
