//! The relay's per-packet work next to the one X25519 it cannot avoid,
//! measured in the same run: `Relay::peel_packet` on distinct request packets
//! of the smallest class that this node forwards (replay check, peel, tag
//! recorded; no network), and one X25519 Diffie-Hellman as a relay does it
//! (`OnionSecret::agree`: the onion key parsed once).
//!
//! The packets are built before each measurement (building one costs several
//! X25519s, more than peeling it). At the end a paired measurement (the two
//! sides interleaved round by round, medians taken) prints
//! `relay/x25519 ratio: X.XX`: relay packets per second over X25519 operations
//! per second. Peeling is one X25519 plus symmetric work over the packet, so
//! the ratio says how much that symmetric work and the replay filter cost on
//! top of the curve operation.

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

use criterion::{BatchSize, Criterion, Throughput};
use paired::paired;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sotto_node::clock::Clock;
use sotto_node::config::NodeConfig;
use sotto_node::context::{Acks, BoxFuture, Context, Push, Pusher, Waiters};
use sotto_node::directory::Directory;
use sotto_node::identity::Identity;
use sotto_node::metrics::Metrics;
use sotto_node::net::NetHandle;
use sotto_node::relay::Relay;
use sotto_node::service::Service;
use sotto_node::store::Store;
use sotto_protocol::constants::ONION_REQUEST_CLASSES;
use sotto_protocol::onion::{Hop, Peeled, build_request};
use sotto_protocol::rpc::Request;
use sotto_protocol::{NetworkParams, NodeKey, OnionSecret};

/// Never called: the relay only forwards here.
#[derive(Debug)]
struct NoPush;

impl Pusher for NoPush {
    fn push(&self, _push: Push, need: usize) -> BoxFuture<Acks> {
        Box::pin(async move {
            Acks {
                count: need,
                receipts: Vec::new(),
            }
        })
    }
}

/// A relay over a fresh identity and store; its network handle goes nowhere.
fn relay(dir: &std::path::Path) -> (Arc<Relay>, Arc<Identity>) {
    let params = NetworkParams::devnet();
    let identity = Arc::new(Identity::init(dir, &params).unwrap());
    let config = NodeConfig::default();
    let store = Store::open(dir.join("store"), config.store.limits()).unwrap();
    let ctx = Arc::new(Context {
        directory: RwLock::new(Directory::new(params.clone(), 10)),
        params,
        config,
        node_id: identity.node_id(),
        node_key: Arc::new(NodeKey::from_secret_bytes(
            &identity.node_key().to_secret_bytes(),
        )),
        peer_id: identity.peer_id(),
        clock: Arc::new(Clock::system()),
        store,
        metrics: Arc::new(Metrics::default()),
        net: NetHandle::new(tokio::sync::mpsc::channel(8).0, Duration::from_secs(1)),
        waiters: Waiters::default(),
    });
    let service = Arc::new(Service::new(ctx.clone(), Arc::new(NoPush)));
    (Relay::new(ctx, identity.clone(), service), identity)
}

/// Makes distinct packets of the smallest class: this node, then two more hops.
struct Packets {
    rng: ChaCha20Rng,
    hops: [Hop; 3],
    request: Vec<u8>,
}

impl Packets {
    fn new(identity: &Identity) -> Self {
        let other = |n: u8| Hop {
            node: NodeKey::from_secret_bytes(&[n; 32]).node_id(),
            onion_key: OnionSecret::from_secret_bytes([n; 32]).public(),
        };
        Self {
            rng: ChaCha20Rng::from_seed([7; 32]),
            hops: [
                Hop {
                    node: identity.node_id(),
                    onion_key: identity.onion_secrets()[0].entry.key,
                },
                other(1),
                other(2),
            ],
            request: Request::Ping.encode().unwrap(),
        }
    }

    fn next(&mut self) -> Vec<u8> {
        let (packet, _) = build_request(
            &mut self.rng,
            &self.hops,
            &self.request,
            Clock::system().now(),
        )
        .unwrap();
        assert_eq!(packet.len(), ONION_REQUEST_CLASSES[0]);
        packet
    }

    fn batch(&mut self, n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// The relay must really forward each packet: a refusal would measure less work.
fn forwards(relay: &Relay, packet: &[u8]) {
    match relay.peel_packet(packet) {
        Ok(Peeled::Forward { packet, .. }) => {
            black_box(packet);
        }
        other => panic!("expected a forward, got {other:?}"),
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let dir = tempfile::tempdir().unwrap();
    let (relay, identity) = relay(dir.path());
    let mut packets = Packets::new(&identity);
    let secret = OnionSecret::from_secret_bytes([3; 32]);
    let peers: Vec<[u8; 32]> = (10..74u8)
        .map(|n| OnionSecret::from_secret_bytes([n; 32]).public())
        .collect();
    let mut p = 0usize;

    let mut g = c.benchmark_group("relay");
    g.throughput(Throughput::Elements(1));
    g.bench_function("peel_packet_4KiB", |b| {
        b.iter_batched(
            || packets.next(),
            |packet| forwards(&relay, &packet),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("x25519", |b| {
        b.iter(|| {
            p = (p + 1) % peers.len();
            black_box(secret.agree(&peers[p]).unwrap())
        })
    });
    g.finish();

    // Paired measurement for the ratio.
    let iters = 200;
    let mut i = 0usize;
    let (per_packet, per_dh) = paired(
        21,
        iters,
        || {
            let batch = packets.batch(iters);
            let t = Instant::now();
            for packet in &batch {
                forwards(&relay, packet);
            }
            t.elapsed()
        },
        || {
            let t = Instant::now();
            for _ in 0..iters {
                i += 1;
                black_box(secret.agree(&peers[i % peers.len()]).unwrap());
            }
            t.elapsed()
        },
    );
    println!(
        "relay peel (4 KiB): {per_packet:.0} ns ({:.0}/s); x25519: {per_dh:.0} ns ({:.0}/s)",
        1e9 / per_packet,
        1e9 / per_dh
    );
    println!("relay/x25519 ratio: {:.2}", per_dh / per_packet);
    c.final_summary();
}
