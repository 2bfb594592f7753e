//! How many waiting retrieves (long polls) a node holds, what each costs, and
//! what they cost the rest of its work, measured in one run through the RPC
//! entry point the swarm task hands requests to
//! (`Service::handle_bytes_then`: decode, swarm check, the owner's signature,
//! a store read, then the park).
//!
//! It parks N signed retrieves of N distinct accounts (the node holds at most
//! a few per account), each with a callback standing for the swarm task's
//! response channel, and prints:
//!
//! - `waiters: N` — all parked at once (checked);
//! - `bytes per waiter: B` — growth of the process's resident memory while
//!   parking them, divided by N (an upper bound: it includes the allocator's
//!   slack and everything decoding and checking left behind);
//! - `stores/s with waiters ÷ without: R` — 1 KiB inbox stores of other
//!   accounts (each flushed to disk), timed while the N waiters are parked
//!   and while none is, interleaved round by round, medians taken.
//!
//! Not measured here: the libp2p stream each remote waiter also holds open
//! (yamux keeps a few hundred bytes per stream) — see docs/ARCHITECTURE.md
//! "Abuse resistance". N is 10,000 unless `SOTTO_CAPACITY_WAITERS` says.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

#[path = "support/paired.rs"]
mod paired;

use std::cell::Cell;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use criterion::Criterion;
use libp2p::PeerId;
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
use sotto_protocol::{AccountKey, Namespace, NetworkParams, NodeKey, OnionSecret};
use tokio::sync::oneshot;

/// How long each parked retrieve asks to wait: long enough for one timed
/// side of a round, short enough that the run does not drag.
const WAIT_MS: u32 = 20_000;
/// Stores timed per side and round.
const STORES: usize = 30;
/// Rounds of the paired measurement.
const ROUNDS: usize = 5;

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

/// A node alone in its directory (so in every swarm), quorum 1, no quota, no
/// practical rate limit, room for every waiter.
fn service(dir: &std::path::Path, waiters: usize) -> (Service, Arc<Context>) {
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
    config.limits.max_long_polls = waiters;
    let unlimited = StoreLimits {
        max_account_bytes: u64::MAX,
        max_total_bytes: u64::MAX,
        max_chunk_bytes: u64::MAX,
        max_request_bytes: u64::MAX,
    };
    let ctx = Arc::new(Context {
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
    });
    (Service::new(ctx.clone(), Arc::new(InstantPusher)), ctx)
}

/// Resident memory of this process, in bytes (Linux).
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Encoded signed retrieves, one per key, each waiting `WAIT_MS`.
fn retrieves(keys: &[AccountKey]) -> Vec<Vec<u8>> {
    let now = Clock::system().now();
    keys.iter()
        .map(|k| {
            let mut q = RetrieveRequest::unsigned(k.account_id(), Namespace::INBOX, None);
            q.wait_ms = WAIT_MS;
            Request::Retrieve(q.sign(k, "devnet", now).unwrap())
                .encode()
                .unwrap()
        })
        .collect()
}

/// Parks every request; returns where their answers arrive.
async fn park_all(svc: &Service, reqs: &[Vec<u8>]) -> Vec<oneshot::Receiver<Vec<u8>>> {
    let peer = PeerId::random();
    let mut answers = Vec::with_capacity(reqs.len());
    for r in reqs {
        let (tx, rx) = oneshot::channel();
        let parked = svc
            .handle_bytes_then(peer, r, move |out| {
                let _ = tx.send(out);
            })
            .await;
        assert!(parked, "every retrieve is parked");
        answers.push(rx);
    }
    answers
}

/// An encoded 1 KiB inbox store, unique by `n`, to an account nobody waits on.
fn store_bytes(n: u64) -> Vec<u8> {
    let mut data = vec![0x5a; 1024];
    data[..8].copy_from_slice(&n.to_le_bytes());
    let account = AccountKey::from_entropy([0xee; 16]).account_id();
    Request::Store(StoreRequest::unsigned(
        account,
        Namespace::INBOX,
        data,
        DAY_MS,
    ))
    .encode()
    .unwrap()
}

/// Lets the work before a timed side (parking, or answering expired waiters)
/// finish on the machine, the same on both sides.
fn settle() {
    std::thread::sleep(Duration::from_secs(2));
}

fn time_stores(rt: &tokio::runtime::Runtime, svc: &Service, n: &Cell<u64>) -> Duration {
    let peer = PeerId::random();
    let batch: Vec<_> = (0..STORES)
        .map(|_| {
            n.set(n.get() + 1);
            store_bytes(n.get())
        })
        .collect();
    let t = Instant::now();
    for req in batch {
        let out = rt.block_on(svc.handle_bytes(peer, &req));
        assert!(matches!(
            Response::decode(&out, Clock::system().now()),
            Ok(Response::Stored { .. })
        ));
    }
    t.elapsed()
}

fn capacity(c: &mut Criterion) {
    let n: usize = std::env::var("SOTTO_CAPACITY_WAITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (svc, ctx) = service(dir.path(), n);
    let keys: Vec<AccountKey> = (0..n as u64)
        .map(|i| {
            let mut e = [0u8; 16];
            e[..8].copy_from_slice(&i.to_le_bytes());
            AccountKey::from_entropy(e)
        })
        .collect();
    let stored = Cell::new(0u64);
    // Warm the store and the waiters' task before anything is measured.
    let _ = time_stores(&rt, &svc, &stored);
    let warm = retrieves(&keys[..1]);
    drop(rt.block_on(park_all(&svc, &warm)));

    // One park and the store that wakes it, on Criterion's clock (a fresh
    // account each time, so that the retrieve finds nothing and parks).
    let peer = PeerId::random();
    let mut fresh = 0u64;
    let mut g = c.benchmark_group("capacity");
    g.sample_size(20);
    g.bench_function("park_then_store_and_wake", |b| {
        b.iter_batched(
            || {
                fresh += 1;
                let mut e = [0xaa; 16];
                e[..8].copy_from_slice(&fresh.to_le_bytes());
                let key = AccountKey::from_entropy(e);
                let store = Request::Store(StoreRequest::unsigned(
                    key.account_id(),
                    Namespace::INBOX,
                    b"wake".to_vec(),
                    DAY_MS,
                ))
                .encode()
                .unwrap();
                (retrieves(std::slice::from_ref(&key)), store)
            },
            |(reqs, store)| {
                rt.block_on(async {
                    let rx = park_all(&svc, &reqs).await;
                    let _ = svc.handle_bytes(peer, &store).await;
                    for r in rx {
                        let out = r.await.unwrap();
                        assert!(matches!(
                            Response::decode(&out, Clock::system().now()),
                            Ok(Response::Messages { ref messages, .. }) if messages.len() == 1
                        ));
                    }
                })
            },
            criterion::BatchSize::SmallInput,
        )
    });
    g.finish();
    // The waiter of the warm-up and the benchmark are gone.
    rt.block_on(async {
        while !ctx.waiters.is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });

    let mut bytes_per_waiter = None;
    let (with, without) = paired::paired(
        ROUNDS,
        STORES,
        || {
            let reqs = retrieves(&keys);
            let before = rss();
            let answers = rt.block_on(park_all(&svc, &reqs));
            let grown = rss().saturating_sub(before);
            assert_eq!(ctx.waiters.len(), n, "all N waiters parked at once");
            bytes_per_waiter.get_or_insert(grown as f64 / n as f64);
            settle();
            let t = time_stores(&rt, &svc, &stored);
            assert_eq!(ctx.waiters.len(), n, "still parked while the stores ran");
            // They end empty at their deadline, before the other side runs.
            rt.block_on(async {
                for a in answers {
                    let _ = a.await;
                }
            });
            t
        },
        || {
            settle();
            time_stores(&rt, &svc, &stored)
        },
    );
    let ratio = without / with;
    println!("waiters: {n}");
    println!("bytes per waiter: {:.0}", bytes_per_waiter.unwrap_or(0.0));
    println!("stores/s with waiters ÷ without: {ratio:.2}");
}

criterion::criterion_group!(benches, capacity);
criterion::criterion_main!(benches);
