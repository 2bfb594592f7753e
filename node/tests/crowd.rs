//! A node crowded by one host over real TCP on 127.0.0.1: an attacker opens
//! 1,000 connections, each with a fresh Ed25519 key (TCP, noise and yamux
//! done by hand per key, no swarm), and then handshakes that never finish.
//! While it holds what it got, the node still takes a store for an account
//! it serves, replicates it to its co-members and answers a retrieve, and its
//! per-address bounds held: the attacker keeps at most
//! `limits.max_connections_per_ip` connections and the pending handshakes of
//! `net::behaviour`'s per-address bound.
//!
//! On loopback the honest nodes share 127.0.0.1 with the attacker: they are
//! directory nodes, which the per-address bounds do not count. The client
//! connects before the attack (from the same address, it would otherwise be
//! one more stranger there, refused like the attacker).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::core::muxing::StreamMuxerExt;
use libp2p::core::transport::{DialOpts, PortUse};
use libp2p::core::upgrade::Version;
use libp2p::core::{Endpoint, Transport};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, noise, tcp, yamux};
use sotto_node::clock::Clock;
use sotto_node::config::NodeConfig;
use sotto_node::identity::Identity;
use sotto_node::localnet::{fast_config, fast_params};
use sotto_node::metrics::Metrics;
use sotto_node::net::{self, NetConfig, NetHandle};
use sotto_node::node::{Node, NodeOptions};
use sotto_protocol::rpc::{Request, Response, RetrieveRequest, StoreRequest};
use sotto_protocol::{AccountKey, Namespace};
use tokio::io::AsyncReadExt;
use tokio::task::JoinSet;

const NODES: usize = 5;
const ATTACK_KEYS: usize = 1_000;
/// Raw TCP connections that never start their handshake.
const STALLED: usize = 200;
/// Fresh-key dials in progress at once: under the per-address bound of
/// pending handshakes, so that the established-connection bound is what
/// refuses them.
const DIAL_CONCURRENCY: usize = 8;
/// The per-address bound of pending inbound handshakes
/// (`MAX_PENDING_HANDSHAKES_PER_IP` in `net::behaviour`).
const PENDING_PER_IP: usize = 16;
const TTL: u64 = 3_600_000;
const LIMIT: Duration = Duration::from_secs(120);

struct Honest {
    nodes: Vec<Node>,
    _dirs: Vec<tempfile::TempDir>,
    addrs: Vec<Multiaddr>,
}

fn node_config(bootstrap: Option<&Multiaddr>) -> NodeConfig {
    let mut c = fast_config();
    c.listen = vec!["/ip4/127.0.0.1/tcp/0".into()];
    c.bootstrap = bootstrap.map(|b| vec![b.to_string()]).unwrap_or_default();
    c
}

async fn tcp_addr(node: &Node) -> Multiaddr {
    loop {
        if let Some(a) = node.listen_addrs().await.into_iter().next() {
            return a.with(Protocol::P2p(node.peer_id()));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `NODES` real nodes over TCP loopback, node 0 the others' bootstrap, each
/// with every other in its directory.
async fn honest_net() -> Honest {
    let params = fast_params();
    let mut nodes = Vec::new();
    let mut dirs = Vec::new();
    let mut addrs = Vec::new();
    for i in 0..NODES {
        let dir = tempfile::tempdir().unwrap();
        Identity::init(dir.path(), &params).unwrap();
        let config = node_config(addrs.first());
        let opts = NodeOptions::new(dir.path().to_path_buf(), config, params.clone());
        let node = Node::start(opts).await.unwrap();
        addrs.push(tcp_addr(&node).await);
        nodes.push(node);
        dirs.push(dir);
        assert_eq!(nodes.len(), i + 1);
    }
    loop {
        let full = nodes.iter().all(|n| n.context().dir(|d| d.len()) == NODES);
        if full {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Honest {
        nodes,
        _dirs: dirs,
        addrs,
    }
}

/// A client (not a node) connected to `addr` of `peer`.
async fn client(peer: libp2p::PeerId, addr: &Multiaddr) -> (NetHandle, net::Net) {
    let params = fast_params();
    let mut cfg = NetConfig::from_limits(&NodeConfig::default().limits, vec![], vec![], false);
    cfg.request_timeout = Duration::from_secs(10);
    let client = net::spawn(
        Keypair::generate_ed25519(),
        &params.name,
        cfg,
        Arc::new(Clock::system()),
        Arc::new(Metrics::default()),
    )
    .unwrap();
    let mut base = addr.clone();
    base.pop();
    client.handle.add_addresses(peer, vec![base]).await.unwrap();
    let pong = client.handle.rpc(peer, Request::Ping).await.unwrap();
    assert!(matches!(pong, Response::Pong { .. }), "{pong:?}");
    (client.handle.clone(), client)
}

/// What the attacker got.
#[derive(Default)]
struct Tally {
    /// Connections whose handshake finished on the attacker's side.
    upgraded: AtomicUsize,
    /// Dials that failed during the handshake.
    failed: AtomicUsize,
    /// Upgraded connections still open now.
    open: AtomicUsize,
    /// Stalled handshakes still open now.
    stalled_open: AtomicUsize,
}

/// Dials `addr` with a fresh key (TCP, noise, yamux); once the handshake is
/// done, returns the task that keeps the connection open, refusing every
/// stream the node opens, until the node closes it.
async fn fresh_key_connection(
    addr: Multiaddr,
    tally: Arc<Tally>,
) -> Option<tokio::task::JoinHandle<()>> {
    let key = Keypair::generate_ed25519();
    let mut transport = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
        .upgrade(Version::V1)
        .authenticate(noise::Config::new(&key).unwrap())
        .multiplex(yamux::Config::default());
    let opts = DialOpts {
        role: Endpoint::Dialer,
        port_use: PortUse::New,
    };
    let dialed = match transport.dial(addr, opts) {
        Ok(d) => d.await,
        Err(e) => panic!("cannot dial: {e}"),
    };
    let Ok((_, mut muxer)) = dialed else {
        tally.failed.fetch_add(1, Ordering::SeqCst);
        return None;
    };
    tally.upgraded.fetch_add(1, Ordering::SeqCst);
    tally.open.fetch_add(1, Ordering::SeqCst);
    Some(tokio::spawn(async move {
        futures::future::poll_fn(|cx| {
            loop {
                match muxer.poll_inbound_unpin(cx) {
                    Poll::Ready(Ok(stream)) => {
                        drop(stream);
                        continue;
                    }
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Pending => {}
                }
                match muxer.poll_unpin(cx) {
                    Poll::Ready(Ok(_)) => {}
                    Poll::Ready(Err(_)) => return Poll::Ready(()),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await;
        tally.open.fetch_sub(1, Ordering::SeqCst);
    }))
}

/// Opens a TCP connection to `addr` and sends nothing; holds it until the
/// node closes it.
async fn stalled_handshake(addr: std::net::SocketAddr, tally: Arc<Tally>) {
    let Ok(mut socket) = tokio::net::TcpStream::connect(addr).await else {
        return;
    };
    tally.stalled_open.fetch_add(1, Ordering::SeqCst);
    let mut buf = [0u8; 256];
    while let Ok(n) = socket.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
    tally.stalled_open.fetch_sub(1, Ordering::SeqCst);
}

fn socket_addr(addr: &Multiaddr) -> std::net::SocketAddr {
    let mut ip = None;
    let mut port = None;
    for p in addr.iter() {
        match p {
            Protocol::Ip4(a) => ip = Some(std::net::IpAddr::V4(a)),
            Protocol::Tcp(p) => port = Some(p),
            _ => {}
        }
    }
    std::net::SocketAddr::new(ip.unwrap(), port.unwrap())
}

/// Waits (bounded by the test's limit) until `f` holds.
async fn until(what: &str, f: impl Fn() -> bool) {
    let started = Instant::now();
    while !f() {
        assert!(started.elapsed() < LIMIT, "never: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_crowded_by_fresh_keys_from_one_address_still_serves_its_swarm() {
    tokio::time::timeout(LIMIT, async {
        let started = Instant::now();
        let honest = honest_net().await;
        let victim = &honest.nodes[0];
        let victim_metrics = victim.context().metrics.clone();
        let params = fast_params();
        let key = AccountKey::from_entropy([0x42; 16]);
        let account = key.account_id();
        let swarm = victim.context().dir(|d| d.swarm(&account));
        assert!(swarm.contains(&victim.context().node_id));
        let (client, _client_net) = client(victim.peer_id(), &honest.addrs[0]).await;
        let per_ip = victim.context().config.limits.max_connections_per_ip;
        let ready = started.elapsed();

        // The crowd: 1,000 fresh keys, a few dials at a time, each kept.
        let tally = Arc::new(Tally::default());
        let mut target = honest.addrs[0].clone();
        target.pop();
        let held: Vec<_> = futures::stream::iter(0..ATTACK_KEYS)
            .map(|_| fresh_key_connection(target.clone(), tally.clone()))
            .buffer_unordered(DIAL_CONCURRENCY)
            .filter_map(|h| async move { h })
            .collect()
            .await;
        until("every fresh-key dial finished", || {
            tally.upgraded.load(Ordering::SeqCst) + tally.failed.load(Ordering::SeqCst)
                == ATTACK_KEYS
        })
        .await;
        // Connections over the bound are closed by the node right after
        // their handshake: wait until the attacker has seen it.
        until("the node closed what is over its per-address bound", || {
            tally.open.load(Ordering::SeqCst) <= per_ip
        })
        .await;
        let crowded = started.elapsed();
        let fresh_refused = victim_metrics.rejected.get("net", "connections_per_ip")
            + victim_metrics.rejected.get("net", "handshakes_per_ip");

        // And handshakes that never finish, held too.
        let mut stalled = JoinSet::new();
        for _ in 0..STALLED {
            stalled.spawn(stalled_handshake(socket_addr(&target), tally.clone()));
        }
        until("stalled handshakes over the bound were refused", || {
            victim_metrics.rejected.get("net", "handshakes_per_ip") > 0
                && tally.stalled_open.load(Ordering::SeqCst) <= PENDING_PER_IP
        })
        .await;

        // While the attacker holds all that: a store through the victim
        // reaches a quorum, every co-member holds it, a retrieve answers.
        let data = b"through the crowd".to_vec();
        let stored = client
            .rpc(
                victim.peer_id(),
                Request::Store(StoreRequest::unsigned(account, Namespace::INBOX, data, TTL)),
            )
            .await
            .unwrap();
        let (hash, held_by) = match stored {
            Response::Stored { hash, held_by, .. } => (hash, held_by),
            other => panic!("store refused under the crowd: {other:?}"),
        };
        assert!(held_by >= params.store_quorum, "held by {held_by}");
        for member in &swarm {
            let node = honest
                .nodes
                .iter()
                .find(|n| n.context().node_id == *member)
                .unwrap();
            until("a co-member holds the message", || {
                node.context().store.usage(&account).unwrap().messages == 1
            })
            .await;
        }
        let retrieve =
            RetrieveRequest::signed(&key, &params.name, Namespace::INBOX, None, 0, now()).unwrap();
        match client
            .rpc(victim.peer_id(), Request::Retrieve(retrieve))
            .await
            .unwrap()
        {
            Response::Messages { messages, .. } => {
                assert_eq!(
                    messages.iter().map(|m| m.hash).collect::<Vec<_>>(),
                    vec![hash]
                );
            }
            other => panic!("retrieve refused under the crowd: {other:?}"),
        }

        // The bounds held, as the attacker and the node count them.
        let upgraded = tally.upgraded.load(Ordering::SeqCst);
        let failed = tally.failed.load(Ordering::SeqCst);
        let open = tally.open.load(Ordering::SeqCst);
        let stalled_open = tally.stalled_open.load(Ordering::SeqCst);
        let per_ip_refused = victim_metrics.rejected.get("net", "connections_per_ip");
        let handshakes_refused = victim_metrics.rejected.get("net", "handshakes_per_ip");
        println!(
            "crowd: {ATTACK_KEYS} fresh keys: {upgraded} handshakes done, {failed} failed, \
             {open} still open (bound {per_ip}); node refused {per_ip_refused} over the \
             per-address bound; {STALLED} stalled handshakes: {stalled_open} open (bound \
             {PENDING_PER_IP}), {handshakes_refused} refused; ready {ready:?}, crowded \
             {crowded:?}, done {:?}",
            started.elapsed()
        );
        assert!(open <= per_ip, "{open} fresh-key connections open");
        assert!(stalled_open <= PENDING_PER_IP, "{stalled_open} stalled");
        assert!(
            fresh_refused >= (ATTACK_KEYS - per_ip) as u64,
            "only {fresh_refused} fresh-key connections refused"
        );
        assert!(handshakes_refused >= (STALLED - PENDING_PER_IP) as u64);
        let connected = victim_metrics.connected_peers.get();
        assert!(
            connected <= (NODES - 1 + 1 + per_ip) as i64,
            "{connected} peers connected to the victim"
        );
        for h in held {
            h.abort();
        }
        stalled.abort_all();
    })
    .await
    .expect("test took too long");
}

fn now() -> u64 {
    Clock::system().now()
}
