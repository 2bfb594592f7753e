//! Speed of client RPC handling next to the engine under it, measured in the
//! same run: `Service::handle_bytes` on encoded inbox stores of 1 KiB (distinct
//! data, a pusher that acknowledges at once, quorum 1) and on encoded signed
//! retrieves of a page, and raw sled inserts of 1 KiB values each followed by a
//! flush, as the RPC path flushes before it acknowledges a store.
//!
//! At the end a paired measurement (the two sides interleaved round by round,
//! medians taken) prints `store/sled ratio: X.XX`: the time of one store
//! through the service over one raw sled insert-and-flush of the same data
//! size. A store through the service adds the decode and field checks, the
//! swarm check, the rate limit, a lookup of the hash, the store's six-tree
//! transaction and a push; the flush dominates both sides.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "support/paired.rs"]
mod paired;

use std::hint::black_box;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use paired::paired;
use sotto_node::clock::Clock;
use sotto_node::config::NodeConfig;
use sotto_node::context::{Acks, BoxFuture, Context, Push, Pusher, Waiters};
use sotto_node::directory::{Directory, VerifiedRecord, peer_id_of};
use sotto_node::metrics::Metrics;
use sotto_node::net::NetHandle;
use sotto_node::service::Service;
use sotto_node::store::{Store, StoreLimits};
use sotto_protocol::constants::PROTOCOL_VERSION;
use sotto_protocol::record::{NodeRecord, OnionKeyEntry};
use sotto_protocol::rpc::{Request, Response, RetrieveRequest, StoreRequest};
use sotto_protocol::time::{DAY_MS, HOUR_MS, MINUTE_MS};
use sotto_protocol::{AccountId, AccountKey, Namespace, NetworkParams, NodeKey, OnionSecret};

const SIZE: usize = 1024;
/// Key length of the store's `messages` tree: account ‖ namespace ‖ timestamp ‖ hash.
const KEY_LEN: usize = 32 + 2 + 8 + 32;

/// Acknowledges every push at once, as if the whole swarm answered.
#[derive(Debug)]
struct InstantPusher;

impl Pusher for InstantPusher {
    fn push(&self, _push: Push, need: usize) -> BoxFuture<Acks> {
        Box::pin(async move {
            Acks {
                count: need,
                receipts: Vec::new(),
            }
        })
    }
}

/// A node alone in its directory (so in every swarm), quorum 1, no quota and
/// no practical rate limit.
fn service(dir: &std::path::Path) -> Service {
    let now = Clock::system().now();
    let params = NetworkParams {
        store_quorum: 1,
        ..NetworkParams::devnet()
    };
    let key = NodeKey::from_secret_bytes(&[1; 32]);
    let record = NodeRecord {
        version: PROTOCOL_VERSION,
        network: params.name.clone(),
        node: key.node_id(),
        addrs: vec!["/ip4/127.0.0.1/tcp/4100".into()],
        onion_keys: vec![OnionKeyEntry {
            key: OnionSecret::from_secret_bytes([2; 32]).public(),
            valid_from: now - HOUR_MS,
            valid_until: now + DAY_MS,
        }],
        issued_at: now - MINUTE_MS,
        expires_at: now + HOUR_MS,
        admission: sotto_protocol::record::admission::Admission::default(),
    };
    let mut directory = Directory::new(params.clone(), 10);
    let verified = VerifiedRecord::verify(record.sign(&key).unwrap(), &params, now).unwrap();
    directory.insert(verified, now).unwrap();
    let mut config = NodeConfig::default();
    config.limits.store_rate_per_minute = u32::MAX;
    config.limits.store_burst = u32::MAX;
    let unlimited = StoreLimits {
        max_account_bytes: u64::MAX,
        max_total_bytes: u64::MAX,
        max_chunk_bytes: u64::MAX,
        max_request_bytes: u64::MAX,
    };
    let ctx = Context {
        params,
        config,
        node_id: key.node_id(),
        node_key: Arc::new(NodeKey::from_secret_bytes(&key.to_secret_bytes())),
        peer_id: peer_id_of(&key.node_id()).unwrap(),
        clock: Arc::new(Clock::system()),
        store: Store::open(dir, unlimited).unwrap(),
        directory: RwLock::new(directory),
        metrics: Arc::new(Metrics::default()),
        net: NetHandle::new(tokio::sync::mpsc::channel(8).0, Duration::from_secs(1)),
        waiters: Waiters::default(),
    };
    Service::new(Arc::new(ctx), Arc::new(InstantPusher))
}

/// An encoded inbox store of 1 KiB for one of `accounts`, unique by `n`.
fn store_bytes(accounts: &[AccountId], n: u64) -> Vec<u8> {
    let mut data = vec![0x5a; SIZE];
    data[..8].copy_from_slice(&n.to_le_bytes());
    let account = accounts[(n % accounts.len() as u64) as usize];
    Request::Store(StoreRequest::unsigned(
        account,
        Namespace::INBOX,
        data,
        DAY_MS,
    ))
    .encode()
    .unwrap()
}

fn raw_key(n: u64) -> [u8; KEY_LEN] {
    let mut k = [7u8; KEY_LEN];
    k[34..42].copy_from_slice(&n.to_be_bytes());
    k
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();

    let service_dir = tempfile::tempdir().unwrap();
    let svc = service(service_dir.path());
    let peer = libp2p::PeerId::random();
    let raw_dir = tempfile::tempdir().unwrap();
    let raw = sled::open(raw_dir.path()).unwrap();
    let value = vec![0x5au8; SIZE];
    let accounts: Vec<AccountId> = (0..16u8)
        .map(|i| AccountKey::from_entropy([i; 16]).account_id())
        .collect();
    // Every store must really be stored: an error answer would measure a
    // refusal instead.
    let stored = |bytes: &[u8]| {
        matches!(
            Response::decode(bytes, Clock::system().now()),
            Ok(Response::Stored { .. })
        )
    };
    let mut n = 0u64;
    let mut r = 0u64;

    let mut g = c.benchmark_group("rpc");
    g.throughput(Throughput::Elements(1));
    g.bench_function("store_1KiB", |b| {
        b.iter_batched(
            || {
                n += 1;
                store_bytes(&accounts, n)
            },
            |req| {
                let out = rt.block_on(svc.handle_bytes(peer, &req));
                assert!(stored(&out));
                out
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("sled_insert_flush_1KiB", |b| {
        b.iter(|| {
            r += 1;
            raw.insert(raw_key(r), value.as_slice()).unwrap();
            raw.flush().unwrap()
        })
    });

    // Reads: one account with 2,000 messages, 80 KiB pages from cursors in the
    // middle, each request signed by the owner.
    let reader = AccountKey::from_entropy([99; 16]);
    for i in 0..2000u64 {
        let out = rt.block_on(svc.handle_bytes(peer, &store_bytes(&[reader.account_id()], i)));
        match Response::decode(&out, Clock::system().now()).unwrap() {
            Response::Stored { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    let now = Clock::system().now();
    // The store's instance comes with any page; the sequence numbers of the
    // 2,000 messages follow one another, so cursors in the middle are
    // multiples of 20 below 1,000.
    let first = RetrieveRequest::unsigned(reader.account_id(), Namespace::INBOX, None);
    let first = Request::Retrieve(first.sign(&reader, "devnet", now).unwrap());
    let out = rt.block_on(svc.handle_bytes(peer, &first.encode().unwrap()));
    let Response::Messages { cursor, .. } = Response::decode(&out, now).unwrap() else {
        panic!("a retrieve answers a page")
    };
    let retrieves: Vec<Vec<u8>> = (0..50u64)
        .map(|i| {
            let c = sotto_protocol::rpc::ReadCursor {
                store: cursor.store,
                seq: i * 20,
            };
            let q = RetrieveRequest::unsigned(reader.account_id(), Namespace::INBOX, Some(c));
            Request::Retrieve(q.sign(&reader, "devnet", now).unwrap())
                .encode()
                .unwrap()
        })
        .collect();
    let mut i = 0usize;
    g.bench_function("retrieve_page_80KiB", |b| {
        b.iter(|| {
            i = (i + 1) % retrieves.len();
            let out = rt.block_on(svc.handle_bytes(peer, &retrieves[i]));
            black_box(out.len())
        })
    });
    g.finish();
    // The pages really were pages of messages.
    match Response::decode(
        &rt.block_on(svc.handle_bytes(peer, &retrieves[0])),
        Clock::system().now(),
    )
    .unwrap()
    {
        Response::Messages { messages, .. } => assert!(messages.len() > 50),
        other => panic!("{other:?}"),
    }

    // Paired measurement for the ratio.
    let iters = 50;
    let (store, insert) = paired(
        21,
        iters,
        || {
            let batch: Vec<_> = (0..iters)
                .map(|_| {
                    n += 1;
                    store_bytes(&accounts, n)
                })
                .collect();
            let t = Instant::now();
            for req in batch {
                let out = rt.block_on(svc.handle_bytes(peer, &req));
                assert!(stored(&out));
            }
            t.elapsed()
        },
        || {
            let t = Instant::now();
            for _ in 0..iters {
                r += 1;
                raw.insert(raw_key(r), value.as_slice()).unwrap();
                black_box(raw.flush().unwrap());
            }
            t.elapsed()
        },
    );
    println!(
        "rpc store (1 KiB): {store:.0} ns ({:.0}/s); raw sled insert+flush (1 KiB): {insert:.0} ns ({:.0}/s)",
        1e9 / store,
        1e9 / insert
    );
    println!("store/sled ratio: {:.2}", store / insert);
    c.final_summary();
}
