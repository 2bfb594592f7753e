//! Request latency through a 5-node loopback network, onion against direct,
//! measured in the same run. Five real nodes listen on 127.0.0.1 over TCP in
//! this process; a client (its own libp2p identity) sends `Ping`:
//!
//! - **direct**: the client RPC protocol straight to the destination;
//! - **onion**: a packet built for 3 relays and the destination (the client's
//!   building included, a fresh packet each time, since relays drop replays),
//!   sent to the guard, peeled at each hop, answered and wrapped on the way back,
//!   and opened by the client.
//!
//! At the end a paired measurement prints `onion/direct latency ratio: X.XX`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::field_reassign_with_default,
    missing_docs
)]

#[path = "support/paired.rs"]
mod paired;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::Criterion;
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use paired::paired;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sotto_node::clock::Clock;
use sotto_node::config::NodeConfig;
use sotto_node::directory::peer_id_of;
use sotto_node::identity::Identity;
use sotto_node::metrics::Metrics;
use sotto_node::net::{self, NetConfig, NetHandle};
use sotto_node::node::{Node, NodeOptions};
use sotto_protocol::onion::{Hop, OpenedResponse, build_request, open_response};
use sotto_protocol::rpc::{Request, Response};
use sotto_protocol::{NetworkParams, NodeId};

const NODES: usize = 5;

struct Net {
    /// Kept open: the client's swarm task hands it connection events.
    _inbound: tokio::sync::mpsc::Receiver<sotto_node::net::Inbound>,
    _dirs: Vec<tempfile::TempDir>,
    nodes: Vec<Node>,
    ids: Vec<NodeId>,
    client: NetHandle,
}

fn now() -> u64 {
    Clock::system().now()
}

async fn start() -> Net {
    let params = NetworkParams::devnet();
    let mut dirs = Vec::new();
    let mut nodes: Vec<Node> = Vec::new();
    let mut ids = Vec::new();
    let mut bootstrap: Option<Multiaddr> = None;
    for _ in 0..NODES {
        let dir = tempfile::tempdir().unwrap();
        let identity = Identity::init(dir.path(), &params).unwrap();
        ids.push(identity.node_id());
        let mut config = NodeConfig::default();
        config.network = "devnet".into();
        config.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
        config.bootstrap = bootstrap.iter().map(|b| b.to_string()).collect();
        config.directory.pull_interval_ms = 1_000;
        config.directory.check_interval_ms = 1_000;
        let node = Node::start(NodeOptions::new(
            dir.path().to_path_buf(),
            config,
            params.clone(),
        ))
        .await
        .unwrap();
        if bootstrap.is_none() {
            let addr = loop {
                if let Some(a) = node.listen_addrs().await.into_iter().next() {
                    break a;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            bootstrap = Some(addr.with(libp2p::multiaddr::Protocol::P2p(node.peer_id())));
        }
        nodes.push(node);
        dirs.push(dir);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while nodes.iter().any(|n| n.context().dir(|d| d.len()) < NODES) {
        assert!(Instant::now() < deadline, "the directory did not complete");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut cfg = NetConfig::from_limits(
        &NodeConfig::default().limits,
        Vec::new(),
        bootstrap.into_iter().collect(),
        false,
    );
    cfg.request_timeout = Duration::from_secs(10);
    let client = net::spawn(
        Keypair::generate_ed25519(),
        &params.name,
        cfg,
        Arc::new(Clock::system()),
        Arc::new(Metrics::default()),
    )
    .unwrap();
    for node in &nodes {
        let addrs = node.listen_addrs().await;
        client
            .handle
            .add_addresses(node.peer_id(), addrs)
            .await
            .unwrap();
    }
    Net {
        _inbound: client.inbound,
        _dirs: dirs,
        nodes,
        ids,
        client: client.handle,
    }
}

fn hops(net: &Net) -> Vec<Hop> {
    let now = now();
    net.ids
        .iter()
        .take(4)
        .map(|node| Hop {
            node: *node,
            onion_key: net.nodes[0]
                .context()
                .dir(|d| d.get(node).unwrap().record.current_onion_key(now))
                .unwrap(),
        })
        .collect()
}

async fn direct(net: &Net, dest: PeerId) {
    match net.client.rpc(dest, Request::Ping).await.unwrap() {
        Response::Pong { .. } => {}
        other => panic!("{other:?}"),
    }
}

async fn onion(net: &Net, rng: &mut ChaCha20Rng, hops: &[Hop], guard: PeerId) {
    let ping = Request::Ping.encode().unwrap();
    let (packet, state) = build_request(rng, hops, &ping, now()).unwrap();
    let answer = net.client.onion(guard, packet).await.unwrap();
    match open_response(&state, &answer).unwrap() {
        OpenedResponse::Destination(body) => match Response::decode(&body, now()).unwrap() {
            Response::Pong { .. } => {}
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let net = rt.block_on(start());
    let hops = hops(&net);
    let guard = peer_id_of(&hops[0].node).unwrap();
    let dest = peer_id_of(&hops[3].node).unwrap();
    let mut rng = ChaCha20Rng::from_seed([7; 32]);
    // Connections to every hop are open before anything is timed.
    for _ in 0..20 {
        rt.block_on(direct(&net, dest));
        rt.block_on(onion(&net, &mut rng, &hops, guard));
    }

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut g = c.benchmark_group("latency");
    g.bench_function("direct_ping", |b| {
        b.iter(|| rt.block_on(direct(&net, dest)))
    });
    g.bench_function("onion_ping_3_relays", |b| {
        b.iter(|| rt.block_on(onion(&net, &mut rng, &hops, guard)))
    });
    g.finish();

    let iters = 50;
    let mut rng2 = ChaCha20Rng::from_seed([9; 32]);
    let (per_onion, per_direct) = paired(
        21,
        iters,
        || {
            let t = Instant::now();
            for _ in 0..iters {
                rt.block_on(onion(&net, &mut rng2, &hops, guard));
            }
            t.elapsed()
        },
        || {
            let t = Instant::now();
            for _ in 0..iters {
                rt.block_on(direct(&net, dest));
            }
            t.elapsed()
        },
    );
    println!(
        "onion ping (3 relays): {:.0} µs; direct ping: {:.0} µs",
        per_onion / 1e3,
        per_direct / 1e3
    );
    println!("onion/direct latency ratio: {:.2}", per_onion / per_direct);
    c.final_summary();
    rt.block_on(async {
        for node in net.nodes {
            node.shutdown().await.unwrap();
        }
    });
}
