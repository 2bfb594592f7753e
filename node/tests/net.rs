//! The swarm task between real nodes: over the in-process memory transport,
//! and once over TCP loopback.

// Helpers outside `#[test]` functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use sotto_node::clock::Clock;
use sotto_node::metrics::Metrics;
use sotto_node::net::{self, Inbound, Net, NetConfig, NetError, Responder};
use sotto_protocol::rpc::{ErrorKind, NodeRequest, NodeResponse, Request, Response};
use tokio::sync::mpsc;
use tokio::time::timeout;

const NETWORK: &str = "nettest";
const LIMIT: Duration = Duration::from_secs(20);
/// One step of a test; below [`LIMIT`], so that a stall names its step.
const STEP_LIMIT: Duration = Duration::from_secs(15);
const PONG_TIME: u64 = 1_700_000_000_000;

fn config(memory: bool, bootstrap: Vec<Multiaddr>, per_peer: usize) -> NetConfig {
    let listen: Multiaddr = if memory {
        "/memory/0".parse().unwrap()
    } else {
        "/ip4/127.0.0.1/tcp/0".parse().unwrap()
    };
    NetConfig {
        listen: vec![listen],
        bootstrap,
        memory,
        max_connections: 64,
        max_connections_per_peer: 4,
        max_connections_per_ip: 64,
        max_concurrent_requests: 64,
        max_requests_per_peer: per_peer,
        max_requests_per_ip: 64,
        request_timeout: Duration::from_secs(5),
        inbound_capacity: 64,
    }
}

fn start(network: &str, cfg: NetConfig) -> (Net, Arc<Metrics>) {
    let metrics = Arc::new(Metrics::default());
    let net = net::spawn(
        Keypair::generate_ed25519(),
        network,
        cfg,
        Arc::new(Clock::system()),
        metrics.clone(),
    )
    .unwrap();
    (net, metrics)
}

/// The first address `net` listens on, with its `/p2p/` suffix.
async fn dial_addr(net: &Net) -> Multiaddr {
    loop {
        if let Some(a) = net.handle.listen_addrs().await.unwrap().into_iter().next() {
            return a.with(Protocol::P2p(net.peer_id));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until `inbound` reports a connection to `peer`.
async fn connected(inbound: &mut mpsc::Receiver<Inbound>, peer: PeerId) {
    while let Some(item) = inbound.recv().await {
        if matches!(item, Inbound::Connected(p) if p == peer) {
            return;
        }
    }
    panic!("inbound closed before the connection");
}

/// Two nodes, B bootstrapped to A, each having seen the other connect.
async fn pair(memory: bool, b_per_peer: usize) -> (Net, Net, Arc<Metrics>) {
    let (mut a, _) = start(NETWORK, config(memory, vec![], 8));
    let (mut b, b_metrics) = start(
        NETWORK,
        config(memory, vec![dial_addr(&a).await], b_per_peer),
    );
    connected(&mut a.inbound, b.peer_id).await;
    connected(&mut b.inbound, a.peer_id).await;
    // Each is a directory node to the other: replication streams of peers
    // that are not are refused unread.
    let (a_id, b_id) = (a.peer_id, b.peer_id);
    a.roles.set(move |p| *p == b_id);
    b.roles.set(move |p| *p == a_id);
    (a, b, b_metrics)
}

/// The next request `inbound` carries (events and records skipped).
async fn next_request(inbound: &mut mpsc::Receiver<Inbound>) -> (bool, Vec<u8>, Responder) {
    loop {
        match inbound.recv().await {
            Some(Inbound::Rpc { bytes, respond, .. }) => return (true, bytes, respond),
            Some(Inbound::Node { bytes, respond, .. }) => return (false, bytes, respond),
            Some(_) => {}
            None => panic!("inbound closed"),
        }
    }
}

/// What a well-behaved node answers.
fn answer(rpc: bool, bytes: &[u8]) -> Vec<u8> {
    if rpc {
        assert_eq!(Request::decode(bytes).unwrap(), Request::Ping);
        Response::Pong {
            node_time: PONG_TIME,
        }
        .encode()
        .unwrap()
    } else {
        let now = Clock::system().now();
        let req = NodeRequest::decode(bytes, now).unwrap();
        assert_eq!(req, NodeRequest::Digest { digests: vec![] });
        NodeResponse::DigestDiff { differing: vec![] }
            .encode()
            .unwrap()
    }
}

/// Answers every request of `inbound` like a node would.
fn serve(mut inbound: mpsc::Receiver<Inbound>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let (rpc, bytes, respond) = next_request(&mut inbound).await;
            let _ = respond.send(answer(rpc, &bytes));
        }
    })
}

fn pong() -> Response {
    Response::Pong {
        node_time: PONG_TIME,
    }
}

fn error_kind(r: Response) -> ErrorKind {
    match r {
        Response::Error(e) => e.kind,
        other => panic!("expected an error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_and_node_requests_over_memory() {
    timeout(LIMIT, async {
        let (a, b, _) = pair(true, 8).await;
        let _server = serve(b.inbound);
        let got = a.handle.rpc(b.peer_id, Request::Ping).await.unwrap();
        assert_eq!(got, pong());
        let diff = a
            .handle
            .node_request(b.peer_id, NodeRequest::Digest { digests: vec![] })
            .await
            .unwrap();
        assert_eq!(diff, NodeResponse::DigestDiff { differing: vec![] });
        assert_eq!(a.handle.connected_peers().await.unwrap(), vec![b.peer_id]);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_over_tcp_loopback() {
    timeout(LIMIT, async {
        let (a, b, _) = pair(false, 8).await;
        let _server = serve(b.inbound);
        let got = a.handle.rpc(b.peer_id, Request::Ping).await.unwrap();
        assert_eq!(got, pong());
        let addr = a.handle.listen_addrs().await.unwrap();
        assert!(
            addr.iter()
                .all(|a| a.to_string().starts_with("/ip4/127.0.0.1/tcp/"))
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rpc_over_quic_loopback() {
    timeout(LIMIT, async {
        let quic = |bootstrap| {
            let mut cfg = config(false, bootstrap, 8);
            cfg.listen = vec!["/ip4/127.0.0.1/udp/0/quic-v1".parse().unwrap()];
            cfg
        };
        let (mut a, _) = start(NETWORK, quic(vec![]));
        let (mut b, _) = start(NETWORK, quic(vec![dial_addr(&a).await]));
        connected(&mut a.inbound, b.peer_id).await;
        connected(&mut b.inbound, a.peer_id).await;
        let _server = serve(b.inbound);
        let got = a.handle.rpc(b.peer_id, Request::Ping).await.unwrap();
        assert_eq!(got, pong());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_spread_by_gossip() {
    timeout(LIMIT, async {
        let (a, mut b, _) = pair(true, 8).await;
        // Subscriptions travel after the connection; publish fresh bytes until
        // one arrives (each attempt differs so none is a duplicate).
        let mut published = Vec::new();
        let received = loop {
            let record = format!("record {}", published.len()).into_bytes();
            a.handle.publish(record.clone()).await.unwrap();
            published.push(record);
            let got = timeout(Duration::from_millis(300), async {
                loop {
                    if let Some(Inbound::Record { peer, bytes, .. }) = b.inbound.recv().await {
                        return (peer, bytes);
                    }
                }
            })
            .await;
            if let Ok(got) = got {
                break got;
            }
        };
        assert_eq!(received.0, a.peer_id);
        assert!(published.contains(&received.1), "{:?}", received.1);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_bound_answers_busy_and_frees_its_slot() {
    timeout(LIMIT, async {
        let (a, mut b, b_metrics) = pair(true, 1).await;
        let first = tokio::spawn({
            let h = a.handle.clone();
            let peer = b.peer_id;
            async move { h.rpc(peer, Request::Ping).await }
        });
        let (rpc, bytes, held) = next_request(&mut b.inbound).await;
        assert!(rpc);

        // B holds the first answer: the second request is over B's bound for A.
        let second = a.handle.rpc(b.peer_id, Request::Ping).await.unwrap();
        assert_eq!(
            error_kind(second),
            ErrorKind::RateLimited {
                retry_after_ms: 1000
            }
        );
        assert_eq!(b_metrics.rejected.get("net", "busy_peer"), 1);

        held.send(answer(rpc, &bytes)).unwrap();
        assert_eq!(first.await.unwrap().unwrap(), pong());

        // The slot is back: a third request gets through.
        let _server = serve(b.inbound);
        assert_eq!(
            a.handle.rpc(b.peer_id, Request::Ping).await.unwrap(),
            pong()
        );
        assert_eq!(b_metrics.rejected.get("net", "busy_peer"), 1);
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_parked_request_gives_its_slot_back_and_is_still_answered() {
    timeout(LIMIT, async {
        let (a, mut b, b_metrics) = pair(true, 1).await;
        let first = tokio::spawn({
            let h = a.handle.clone();
            let peer = b.peer_id;
            async move { h.rpc(peer, Request::Ping).await }
        });
        let (rpc, bytes, mut held) = next_request(&mut b.inbound).await;
        // The node parks it (a waiting retrieve): the slot is freed, the
        // answer still owed.
        held.slot().expect("a slot to free").release();
        let second = tokio::spawn({
            let h = a.handle.clone();
            let peer = b.peer_id;
            async move { h.rpc(peer, Request::Ping).await }
        });
        let (rpc2, bytes2, held2) = next_request(&mut b.inbound).await;
        assert_eq!(b_metrics.rejected.get("net", "busy_peer"), 0);
        held2.send(answer(rpc2, &bytes2)).unwrap();
        held.send(answer(rpc, &bytes)).unwrap();
        assert_eq!(second.await.unwrap().unwrap(), pong());
        assert_eq!(first.await.unwrap().unwrap(), pong());
        // Freed once only: with both answered, one request at a time again.
        let _server = serve(b.inbound);
        assert_eq!(
            a.handle.rpc(b.peer_id, Request::Ping).await.unwrap(),
            pong()
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_responder_is_an_internal_error_and_frees_its_slot() {
    timeout(LIMIT, async {
        let (a, mut b, _) = pair(true, 1).await;
        let asking = tokio::spawn({
            let h = a.handle.clone();
            let peer = b.peer_id;
            async move { h.rpc(peer, Request::Ping).await }
        });
        let (_, _, respond) = next_request(&mut b.inbound).await;
        drop(respond);
        let got = asking.await.unwrap().unwrap();
        assert_eq!(error_kind(got), ErrorKind::Internal);

        let asking = tokio::spawn({
            let h = a.handle.clone();
            let peer = b.peer_id;
            async move {
                h.node_request(peer, NodeRequest::Digest { digests: vec![] })
                    .await
            }
        });
        let (rpc, _, respond) = next_request(&mut b.inbound).await;
        assert!(!rpc);
        drop(respond);
        match asking.await.unwrap().unwrap() {
            NodeResponse::Error(e) => assert_eq!(e.kind, ErrorKind::Internal),
            other => panic!("expected an error, got {other:?}"),
        }

        // With one slot per peer, this only passes if both were released.
        let _server = serve(b.inbound);
        assert_eq!(
            a.handle.rpc(b.peer_id, Request::Ping).await.unwrap(),
            pong()
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_answers_are_typed_errors() {
    timeout(LIMIT, async {
        let (a, mut b, _) = pair(true, 8).await;
        // Garbage from the peer: a BadResponse, not a crash or a hang.
        let asking = tokio::spawn({
            let h = a.handle.clone();
            let peer = b.peer_id;
            async move { h.rpc(peer, Request::Ping).await }
        });
        let (_, _, respond) = next_request(&mut b.inbound).await;
        respond.send(vec![0xff; 40]).unwrap();
        let err = asking.await.unwrap().unwrap_err();
        assert!(
            matches!(&err, NetError::BadResponse { peer, .. } if *peer == b.peer_id),
            "{err:?}"
        );

        // An answer over the protocol's limit is never sent: the asker gets
        // an internal error instead.
        let asking = tokio::spawn({
            let h = a.handle.clone();
            let peer = b.peer_id;
            async move {
                h.node_request(peer, NodeRequest::Digest { digests: vec![] })
                    .await
            }
        });
        let (_, _, respond) = next_request(&mut b.inbound).await;
        let huge = vec![0u8; sotto_protocol::constants::MAX_NODE_RESPONSE_LEN + 1];
        respond.send(huge).unwrap();
        match asking.await.unwrap().unwrap() {
            NodeResponse::Error(e) => assert_eq!(e.kind, ErrorKind::Internal),
            other => panic!("expected an error, got {other:?}"),
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_of_another_network_are_dropped() {
    timeout(LIMIT, async {
        let (a, a_metrics) = start(NETWORK, config(true, vec![], 8));
        let (_other, other_metrics) =
            start("elsewhere", config(true, vec![dial_addr(&a).await], 8));
        // Each side refuses the other at its first identify and closes the
        // connection; the side that identifies first may close it before the
        // other has heard anything, so either one's count shows the refusal.
        while a_metrics.rejected.get("net", "wrong_network")
            + other_metrics.rejected.get("net", "wrong_network")
            == 0
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Disconnected, and the node carries on.
        loop {
            if a.handle.connected_peers().await.unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_errors_are_returned_and_the_task_stops_with_its_handles() {
    let mut cfg = config(true, vec![], 8);
    cfg.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    let err = net::spawn(
        Keypair::generate_ed25519(),
        NETWORK,
        cfg,
        Arc::new(Clock::system()),
        Arc::new(Metrics::default()),
    )
    .unwrap_err();
    assert!(matches!(err, NetError::Listen(_)), "{err:?}");

    let (net, _) = start(NETWORK, config(true, vec![], 8));
    let task = net.task;
    drop(net.handle);
    timeout(LIMIT, task).await.unwrap().unwrap();
}

/// Fresh peer ids from one address get only that address's share of the
/// connections; a directory node from the same address still gets in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_bounded_per_address_but_not_for_directory_nodes() {
    timeout(LIMIT, async {
        let mut cfg = config(false, vec![], 8);
        cfg.max_connections_per_ip = 2;
        let (mut b, b_metrics) = start(NETWORK, cfg);
        let addr = dial_addr(&b).await;
        let mut strangers = Vec::new();
        for i in 0..2 {
            let (s, _) = start(NETWORK, config(false, vec![addr.clone()], 8));
            step(
                &format!("stranger {i} connects"),
                connected(&mut b.inbound, s.peer_id),
            )
            .await;
            strangers.push(s);
        }
        // A third stranger from 127.0.0.1 is refused.
        let (third, _) = start(NETWORK, config(false, vec![addr.clone()], 8));
        step("the third stranger is refused", async {
            while b_metrics.rejected.get("net", "connections_per_ip") == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        let peers = b.handle.connected_peers().await.unwrap();
        assert!(!peers.contains(&third.peer_id), "{peers:?}");
        assert_eq!(peers.len(), 2);
        // A node of the directory from the same address is let in.
        let node = Keypair::generate_ed25519();
        let node_id = node.public().to_peer_id();
        b.roles.set(move |p| *p == node_id);
        let metrics = Arc::new(Metrics::default());
        let _node = net::spawn(
            node,
            NETWORK,
            config(false, vec![addr.clone()], 8),
            Arc::new(Clock::system()),
            metrics,
        )
        .unwrap();
        step(
            "the directory node connects",
            connected(&mut b.inbound, node_id),
        )
        .await;
    })
    .await
    .unwrap();
}

/// Runs one step of a test within [`STEP_LIMIT`], naming the step that
/// stalled (this test failed once, stalled somewhere, in a whole-suite run).
async fn step<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match timeout(STEP_LIMIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("{what}: not within {STEP_LIMIT:?}"),
    }
}

/// The strangers' share is not first come, first served: once it is full,
/// each newcomer takes the place of the idlest stranger (one that never sent
/// a request), so a client that uses the node keeps its connection however
/// many idle fresh keys arrive after it, and no newcomer is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_strangers_share_evicts_the_idlest_and_keeps_a_client_in_use() {
    timeout(LIMIT, async {
        let mut cfg = config(true, vec![], 8);
        // A quarter (2) kept for directory nodes, 6 for strangers.
        cfg.max_connections = 8;
        let (b, b_metrics) = start(NETWORK, cfg);
        let addr = dial_addr(&b).await;
        let b_peer = b.peer_id;
        let _server = serve(b.inbound);
        let (client, _) = start(NETWORK, config(true, vec![addr.clone()], 8));
        loop {
            if let Ok(Response::Pong { .. }) = client.handle.rpc(b_peer, Request::Ping).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Ten idle strangers after it: with the client, five more than the
        // share holds.
        let mut idle = Vec::new();
        for _ in 0..10 {
            idle.push(start(NETWORK, config(true, vec![addr.clone()], 8)).0);
        }
        // Some of them found the share full and took an idle one's place;
        // the share is full again.
        loop {
            let evicted = b_metrics.rejected.get("net", "connections_evicted");
            let held = b.handle.connected_peers().await.unwrap().len();
            if evicted >= 1 && held == 6 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let peers = b.handle.connected_peers().await.unwrap();
        assert!(peers.contains(&client.peer_id), "{peers:?}");
        assert_eq!(b_metrics.rejected.get("net", "connections_reserved"), 0);
        assert_eq!(
            client.handle.rpc(b_peer, Request::Ping).await.unwrap(),
            pong()
        );
        // A client that comes after the idle crowd gets in (first come,
        // first served kept it out) and is served.
        let (late, _) = start(NETWORK, config(true, vec![addr.clone()], 8));
        loop {
            if let Ok(Response::Pong { .. }) = late.handle.rpc(b_peer, Request::Ping).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let peers = b.handle.connected_peers().await.unwrap();
        assert!(peers.contains(&client.peer_id), "{peers:?}");
        assert!(peers.contains(&late.peer_id), "{peers:?}");
        assert_eq!(b_metrics.rejected.get("net", "connections_reserved"), 0);
        drop(idle);
    })
    .await
    .unwrap();
}

/// Gossip forwards a record only once the node reports it valid: a record the
/// middle node rejects never reaches the node behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_forwards_only_records_reported_valid() {
    timeout(LIMIT, async {
        let (a, b, _) = pair(true, 8).await;
        let (mut c, _) = start(NETWORK, config(true, vec![dial_addr(&b).await], 8));
        // C hears A only through B.
        c.handle.cut(vec![a.peer_id]).await.unwrap();
        // B's node: rejects records that say "bad", accepts the others.
        let b_handle = b.handle.clone();
        let mut b_inbound = b.inbound;
        let judge = tokio::spawn(async move {
            while let Some(item) = b_inbound.recv().await {
                if let Inbound::Record {
                    bytes,
                    gossip: Some(g),
                    ..
                } = item
                {
                    let verdict = if bytes.starts_with(b"bad") {
                        net::Verdict::Reject
                    } else {
                        net::Verdict::Accept
                    };
                    b_handle.report_record(g, verdict).await.unwrap();
                }
            }
        });
        let mut seen = Vec::new();
        let mut n = 0;
        loop {
            // Each round: a bad record, then a good one (fresh bytes, no
            // duplicates), until a good one reaches C through B.
            for kind in ["bad", "good"] {
                a.handle
                    .publish(format!("{kind} {n}").into_bytes())
                    .await
                    .unwrap();
            }
            n += 1;
            let got = timeout(Duration::from_millis(300), async {
                loop {
                    if let Some(Inbound::Record { bytes, .. }) = c.inbound.recv().await {
                        return bytes;
                    }
                }
            })
            .await;
            if let Ok(bytes) = got {
                seen.push(bytes.clone());
                if bytes.starts_with(b"good") {
                    break;
                }
            }
        }
        assert!(
            seen.iter().all(|r| !r.starts_with(b"bad")),
            "a rejected record was forwarded: {seen:?}"
        );
        judge.abort();
    })
    .await
    .unwrap();
}
