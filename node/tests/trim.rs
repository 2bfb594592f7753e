//! The trim of idle node connections (`net::trim`) between real swarms over
//! the memory transport: it closes a connection nobody uses, and never one
//! that a request of this node's own still waits on (client RPC,
//! replication, onion), however long that request has been idle (an onion
//! hop's long poll waits up to 25 s, longer than the trim's idle time).
//!
//! Runs for about 30 s: the trim's constants (a pass every 10 s, 20 s idle)
//! are the node's own, not shortened for the test.

// Helpers outside `#[test]` functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use sotto_node::clock::Clock;
use sotto_node::metrics::Metrics;
use sotto_node::net::{self, Inbound, Net, NetConfig};
use sotto_protocol::rpc::{NodeRequest, NodeResponse, Request, Response};
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;

const NETWORK: &str = "trimtest";
/// Two trim passes past the idle time, with room for a loaded machine.
const LIMIT: Duration = Duration::from_secs(90);
const PONG: Response = Response::Pong { node_time: 1 };

/// Peers kept busy: pinged every few seconds, never idle.
const BUSY: usize = 25;
/// Peers that hold A's request unanswered until the trim has run: six for
/// each kind of request, so that each kind has peers outside A's gossip
/// mesh (at most 5 peers, and a mesh peer is kept anyway).
const WAITED_ON: usize = 18;
/// Peers used once and then left idle: more than a gossip mesh holds, so at
/// least one of them is not kept as a mesh peer and goes.
const IDLE_PEERS: usize = 6;
/// All of A's peers.
const PEERS: usize = BUSY + WAITED_ON + IDLE_PEERS;

fn config(bootstrap: Vec<Multiaddr>) -> NetConfig {
    NetConfig {
        listen: vec!["/memory/0".parse().unwrap()],
        bootstrap,
        memory: true,
        max_connections: 128,
        max_connections_per_peer: 4,
        max_connections_per_ip: 128,
        max_concurrent_requests: 64,
        max_requests_per_peer: 8,
        max_requests_per_ip: 64,
        // Longer than the test holds its requests (until the trim has run).
        request_timeout: Duration::from_secs(60),
        inbound_capacity: 64,
    }
}

fn start(bootstrap: Vec<Multiaddr>) -> Net {
    net::spawn(
        Keypair::generate_ed25519(),
        NETWORK,
        config(bootstrap),
        Arc::new(Clock::system()),
        Arc::new(Metrics::default()),
    )
    .unwrap()
}

async fn dial_addr(net: &Net) -> Multiaddr {
    loop {
        if let Some(a) = net.handle.listen_addrs().await.unwrap().into_iter().next() {
            return a.with(Protocol::P2p(net.peer_id));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The kinds of request A sends, each to a third of the peers it waits on.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Rpc,
    Node,
    Onion,
}

const KINDS: [Kind; 3] = [Kind::Rpc, Kind::Node, Kind::Onion];
/// What a peer answers an onion packet with (the net does not look inside).
const ONION_ANSWER: &[u8] = b"answer";

/// A's request of `kind` to `peer`; `Ok` if the expected answer came back.
async fn ask(handle: &net::NetHandle, peer: PeerId, kind: Kind) -> Result<(), String> {
    let answered = match kind {
        Kind::Rpc => handle.rpc(peer, Request::Ping).await.map(|r| r == PONG),
        Kind::Node => handle
            .node_request(peer, NodeRequest::Digest { digests: vec![] })
            .await
            .map(|r| r == NodeResponse::DigestDiff { differing: vec![] }),
        Kind::Onion => handle
            .onion(peer, vec![0; 4096])
            .await
            .map(|r| r == ONION_ANSWER),
    };
    match answered {
        Ok(true) => Ok(()),
        Ok(false) => Err("a wrong answer".into()),
        Err(e) => Err(e.to_string()),
    }
}

/// Answers every request of `inbound` at once, or, with `hold`, only once
/// `hold` turns true.
fn serve(mut inbound: mpsc::Receiver<Inbound>, hold: Option<watch::Receiver<bool>>) {
    tokio::spawn(async move {
        while let Some(item) = inbound.recv().await {
            let (respond, answer) = match item {
                Inbound::Rpc { bytes, respond, .. } => {
                    assert_eq!(Request::decode(&bytes).unwrap(), Request::Ping);
                    (respond, PONG.encode().unwrap())
                }
                Inbound::Node { respond, .. } => (
                    respond,
                    NodeResponse::DigestDiff { differing: vec![] }
                        .encode()
                        .unwrap(),
                ),
                Inbound::Onion { respond, .. } => (respond, ONION_ANSWER.to_vec()),
                _ => continue,
            };
            let mut hold = hold.clone();
            tokio::spawn(async move {
                if let Some(h) = hold.as_mut() {
                    let _ = h.wait_for(|released| *released).await;
                }
                let _ = respond.send(answer);
            });
        }
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trim_closes_idle_nodes_but_never_one_a_request_of_ours_waits_on() {
    timeout(LIMIT, async {
        let mut a = start(vec![]);
        let a_addr = dial_addr(&a).await;
        let (release, held) = watch::channel(false);
        let mut busy = Vec::new();
        let mut waited_on = Vec::new();
        // Kept: dropping a net's last handle stops its swarm.
        let mut handles = Vec::new();
        for i in 0..PEERS {
            let peer = start(vec![a_addr.clone()]);
            let hold = (BUSY..BUSY + WAITED_ON).contains(&i).then(|| held.clone());
            let id = peer.peer_id;
            // A is a directory node to it: replication streams of peers
            // that are not are refused unread.
            peer.roles.set(|_| true);
            serve(peer.inbound, hold);
            match i {
                i if i < BUSY => busy.push(id),
                i if i < BUSY + WAITED_ON => waited_on.push(id),
                _ => {}
            }
            handles.push(peer.handle);
        }
        let idle: HashSet<PeerId> = {
            let known: HashSet<PeerId> = busy.iter().chain(&waited_on).copied().collect();
            let mut connected = HashSet::new();
            while connected.len() < PEERS {
                if let Some(Inbound::Connected(p)) = a.inbound.recv().await {
                    connected.insert(p);
                }
            }
            connected.difference(&known).copied().collect()
        };
        // Every peer is a directory node to A, so the trim weighs them all:
        // 49 connected, over the high-water mark of 32, and no more than 24
        // to keep: without the protection, every idle one would go.
        a.roles.set(|_| true);
        let events = {
            let idle = idle.clone();
            tokio::spawn(async move {
                let mut gone = Vec::new();
                while let Some(item) = a.inbound.recv().await {
                    if let Inbound::Disconnected(p) = item {
                        gone.push(p);
                        if idle.contains(&p) {
                            return gone;
                        }
                    }
                }
                gone
            })
        };

        // The requests A waits on, sent before the idle peers' last use: when
        // an idle peer has been idle long enough to go, so have these
        // connections, and only the protection of what A waits on keeps them.
        let handle = a.handle.clone();
        let waits: Vec<_> = waited_on
            .iter()
            .zip(KINDS.iter().cycle())
            .map(|(p, kind)| {
                let (h, p, kind) = (handle.clone(), *p, *kind);
                tokio::spawn(async move { (kind, ask(&h, p, kind).await) })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(500)).await;
        for p in &idle {
            assert_eq!(handle.rpc(*p, Request::Ping).await.unwrap(), PONG);
        }
        let pinger = {
            let (h, busy) = (handle.clone(), busy.clone());
            tokio::spawn(async move {
                loop {
                    for p in &busy {
                        let _ = h.rpc(*p, Request::Ping).await;
                    }
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
            })
        };

        // A trim pass closes an idle peer once it has been unused for the
        // idle time; the same pass would have closed the peers A waits on.
        let gone = events.await.unwrap();
        let _ = release.send(true);
        for (wait, p) in waits.into_iter().zip(&waited_on) {
            let (kind, answer) = wait.await.unwrap();
            assert_eq!(answer, Ok(()), "the {kind:?} request to {p} failed");
        }
        pinger.abort();
        let connected: HashSet<PeerId> = handle
            .connected_peers()
            .await
            .unwrap()
            .into_iter()
            .collect();
        for p in &waited_on {
            assert!(!gone.contains(p), "{p}, waited on, was disconnected");
            assert!(connected.contains(p));
        }
        let closed = gone.last().unwrap();
        assert!(idle.contains(closed) && !connected.contains(closed));
    })
    .await
    .unwrap();
}
