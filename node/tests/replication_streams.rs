//! Inbound replication streams over TCP loopback: a peer that is not a node of
//! the directory is reset before the node reads its frame, a node's frame over
//! the bound is reset after its prefix, a node's open streams are bounded, and
//! a real node (sending with request-response, as older builds do) still
//! replicates.

// Helpers outside `#[test]` functions fail loudly too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol};
use sotto_node::clock::Clock;
use sotto_node::metrics::Metrics;
use sotto_node::net::{self, Inbound, Net, NetConfig};
use sotto_protocol::constants::MAX_NODE_REQUEST_LEN;
use sotto_protocol::rpc::{NodeRequest, NodeResponse, replication_protocol};
use tokio::sync::mpsc;
use tokio::time::timeout;

const NETWORK: &str = "streamtest";
const LIMIT: Duration = Duration::from_secs(30);
/// What the attacker announces: about 5 MiB, within the protocol's bound.
const ANNOUNCED: usize = 5 * 1024 * 1024;
/// Bytes of body written per write.
const CHUNK: usize = 8 * 1024;
/// A yamux stream's first receive window is 256 KiB: a writer whose reader
/// reads nothing can put at most that (plus socket buffers) on the wire
/// before it blocks. Writing past this means the node read the body.
const UNREAD_ALLOWANCE: usize = 1024 * 1024;

fn config(bootstrap: Vec<Multiaddr>) -> NetConfig {
    NetConfig {
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap,
        memory: false,
        max_connections: 64,
        max_connections_per_peer: 4,
        max_connections_per_ip: 64,
        max_concurrent_requests: 64,
        max_requests_per_peer: 8,
        max_requests_per_ip: 64,
        request_timeout: Duration::from_secs(10),
        inbound_capacity: 64,
    }
}

fn start(cfg: NetConfig) -> (Net, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::default());
    let keypair = Keypair::generate_ed25519();
    let net = net::spawn(
        keypair,
        NETWORK,
        cfg,
        Arc::new(Clock::system()),
        metrics.clone(),
    )
    .unwrap();
    (net, metrics)
}

async fn dial_addr(net: &Net) -> Multiaddr {
    loop {
        if let Some(a) = net.handle.listen_addrs().await.unwrap().into_iter().next() {
            return a.with(Protocol::P2p(net.peer_id));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Answers every replication request of `inbound` with an empty digest diff.
fn serve(mut inbound: mpsc::Receiver<Inbound>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(item) = inbound.recv().await {
            if let Inbound::Node { respond, .. } = item {
                let answer = NodeResponse::DigestDiff { differing: vec![] };
                let _ = respond.send(answer.encode().unwrap());
            }
        }
    })
}

/// A bare libp2p peer that opens raw streams (no Sotto node behind it).
struct Raw {
    peer: PeerId,
    control: libp2p_stream::Control,
    _task: tokio::task::JoinHandle<()>,
}

fn raw_peer(target: Multiaddr) -> Raw {
    let keypair = Keypair::generate_ed25519();
    let peer = keypair.public().to_peer_id();
    let behaviour = libp2p_stream::Behaviour::new();
    let control = behaviour.new_control();
    let mut swarm =
        sotto_p2p::build_swarm(keypair, behaviour, false, Duration::from_secs(60)).unwrap();
    swarm.dial(target).unwrap();
    let task = tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    Raw {
        peer,
        control,
        _task: task,
    }
}

fn protocol() -> StreamProtocol {
    StreamProtocol::try_from_owned(replication_protocol(NETWORK)).unwrap()
}

async fn open(raw: &Raw, to: PeerId) -> Stream {
    let mut control = raw.control.clone();
    loop {
        match control.open_stream(to, protocol()).await {
            Ok(s) => return s,
            // Not connected yet: the dial is under way.
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// Announces a frame of `announced` bytes and writes its body in chunks;
/// returns how many body bytes were written before a write failed (`None`:
/// the whole body went through).
async fn push_frame(stream: &mut Stream, announced: usize) -> Option<usize> {
    let prefix = u32::try_from(announced).unwrap().to_be_bytes();
    if stream.write_all(&prefix).await.is_err() {
        return Some(0);
    }
    let chunk = vec![0x5a; CHUNK];
    let mut written = 0;
    while written < announced {
        let n = CHUNK.min(announced - written);
        let step = async {
            stream.write_all(&chunk[..n]).await?;
            stream.flush().await
        };
        if step.await.is_err() {
            return Some(written);
        }
        written += n;
        // A slow writer: the node gets every chance to read along.
        tokio::task::yield_now().await;
    }
    None
}

/// A node `a` to which `nodes` are directory nodes, plus a real node `b`
/// among them, connected.
async fn node_with(nodes: Arc<Mutex<HashSet<PeerId>>>) -> (Net, Arc<Metrics>, Net) {
    let (a, a_metrics) = start(config(vec![]));
    let (b, _) = start(config(vec![dial_addr(&a).await]));
    nodes.lock().unwrap().insert(b.peer_id);
    let known = nodes.clone();
    a.roles.set(move |p| known.lock().unwrap().contains(p));
    (a, a_metrics, b)
}

/// What a real node gets when it replicates to `a`.
async fn replicate(from: &Net, to: PeerId) -> NodeResponse {
    from.handle
        .node_request(to, NodeRequest::Digest { digests: vec![] })
        .await
        .unwrap()
}

async fn rejected(metrics: &Metrics, reason: &'static str, at_least: u64) {
    while metrics.rejected.get("replication", reason) < at_least {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_is_reset_before_its_body_is_read_and_nodes_still_replicate() {
    timeout(LIMIT, async {
        let nodes = Arc::new(Mutex::new(HashSet::new()));
        let (a, a_metrics, b) = node_with(nodes).await;
        let a_addr = dial_addr(&a).await;
        let _server = serve(a.inbound);
        let stranger = raw_peer(a_addr);

        let mut stream = open(&stranger, a.peer_id).await;
        let written = push_frame(&mut stream, ANNOUNCED).await;
        let written = written.expect("the node read the stranger's whole 5 MiB frame");
        assert!(
            written < UNREAD_ALLOWANCE,
            "{written} body bytes went through before the reset"
        );
        rejected(&a_metrics, "not_a_node", 1).await;
        // Nothing it sent reached the node: no request was handed over.
        let mut buf = [0u8; 1];
        assert!(matches!(stream.read(&mut buf).await, Ok(0) | Err(_)));

        // A real node, sending with request-response, still replicates.
        assert_eq!(
            replicate(&b, a.peer_id).await,
            NodeResponse::DigestDiff { differing: vec![] }
        );
        assert_eq!(a_metrics.rejected.get("replication", "not_a_node"), 1);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_frame_over_the_bound_is_reset_after_its_prefix() {
    timeout(LIMIT, async {
        let nodes = Arc::new(Mutex::new(HashSet::new()));
        let (a, a_metrics, b) = node_with(nodes.clone()).await;
        let a_addr = dial_addr(&a).await;
        let _server = serve(a.inbound);
        let member = raw_peer(a_addr);
        nodes.lock().unwrap().insert(member.peer);

        let mut stream = open(&member, a.peer_id).await;
        let written = push_frame(&mut stream, MAX_NODE_REQUEST_LEN + 1).await;
        let written = written.expect("the node read a frame over the protocol's bound");
        assert!(
            written < UNREAD_ALLOWANCE,
            "{written} body bytes went through"
        );
        rejected(&a_metrics, "too_large", 1).await;

        // A frame within the bound from the same peer is answered on the same
        // wire as request-response's.
        let mut stream = open(&member, a.peer_id).await;
        let request = NodeRequest::Digest { digests: vec![] }.encode().unwrap();
        sotto_p2p::write_frame(&mut stream, &request, MAX_NODE_REQUEST_LEN)
            .await
            .unwrap();
        stream.close().await.unwrap();
        let answer = sotto_p2p::read_frame(&mut stream, usize::MAX)
            .await
            .unwrap();
        let now = Clock::system().now();
        assert_eq!(
            NodeResponse::decode(&answer, now).unwrap(),
            NodeResponse::DigestDiff { differing: vec![] }
        );
        assert_eq!(a_metrics.rejected.get("replication", "not_a_node"), 0);
        assert_eq!(
            replicate(&b, a.peer_id).await,
            NodeResponse::DigestDiff { differing: vec![] }
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_streams_of_one_node_are_bounded() {
    timeout(LIMIT, async {
        let nodes = Arc::new(Mutex::new(HashSet::new()));
        let (a, a_metrics, b) = node_with(nodes.clone()).await;
        let a_addr = dial_addr(&a).await;
        let _server = serve(a.inbound);
        let member = raw_peer(a_addr);
        nodes.lock().unwrap().insert(member.peer);

        // `max_requests_per_peer` 8: at most 16 streams of one peer are open.
        // Streams are opened and kept (a prefix, then silence) until the node
        // refuses one as over the bound.
        let mut held = Vec::new();
        while a_metrics.rejected.get("replication", "busy_streams") == 0 {
            assert!(held.len() < 64, "no stream refused after {}", held.len());
            let mut s = open(&member, a.peer_id).await;
            let _ = s.write_all(&64u32.to_be_bytes()).await;
            let _ = s.flush().await;
            held.push(s);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(held.len() > 16, "refused after {} streams", held.len());
        // The node keeps at most 16 of them open: the others are reset.
        loop {
            held.retain_mut(|s| {
                let mut buf = [0u8; 1];
                futures::FutureExt::now_or_never(s.read(&mut buf)).is_none()
            });
            if held.len() <= 16 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        // Another node is not held up by this one's streams.
        assert_eq!(
            replicate(&b, a.peer_id).await,
            NodeResponse::DigestDiff { differing: vec![] }
        );
        // Once the held streams end, the peer gets streams again (as soon
        // as the node has seen them reset).
        drop(held);
        let request = NodeRequest::Digest { digests: vec![] }.encode().unwrap();
        let answer = loop {
            let mut stream = open(&member, a.peer_id).await;
            let asked = sotto_p2p::write_frame(&mut stream, &request, MAX_NODE_REQUEST_LEN).await;
            if asked.is_ok()
                && let Ok(answer) = sotto_p2p::read_frame(&mut stream, usize::MAX).await
            {
                break answer;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let now = Clock::system().now();
        assert_eq!(
            NodeResponse::decode(&answer, now).unwrap(),
            NodeResponse::DigestDiff { differing: vec![] }
        );
    })
    .await
    .unwrap();
}
