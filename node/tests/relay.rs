//! Onion requests through real nodes over libp2p's memory transport (DESIGN
//! §7): a client sends a packet to a guard, three relays pass it on, the
//! destination answers; tampered, replayed and malformed packets go nowhere.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::field_reassign_with_default
)]

#[path = "support/harness.rs"]
mod harness;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::{Client, TestNet, now};
use libp2p::PeerId;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sotto_node::relay::{Next, PacketEvent};
use sotto_protocol::onion::{
    Hop, OpenedResponse, Peeled, ReplyState, build_request, open_response,
};
use sotto_protocol::rpc::{Request, Response, StoreRequest};
use sotto_protocol::{AccountKey, Namespace};

const TTL: u64 = 3_600_000;
const LIMIT: Duration = Duration::from_secs(120);

/// Node `i` as a hop, from node 0's directory (as a client learns it).
fn hop(net: &TestNet, i: usize) -> Hop {
    let node = net.slots[i].node_id;
    let onion_key = net
        .node(0)
        .context()
        .dir(|d| d.get(&node).unwrap().record.current_onion_key(now()))
        .unwrap();
    Hop { node, onion_key }
}

fn build(seed: u8, hops: &[Hop], request: &Request) -> (Vec<u8>, ReplyState) {
    let bytes = request.encode().unwrap();
    build_request(&mut ChaCha20Rng::from_seed([seed; 32]), hops, &bytes, now()).unwrap()
}

/// Sends `packet` to `guard` and opens the answer as the destination's.
async fn destination_answer(
    client: &Client,
    guard: PeerId,
    packet: Vec<u8>,
    state: &ReplyState,
) -> Response {
    let answer = client.handle.onion(guard, packet).await.unwrap();
    match open_response(state, &answer).unwrap() {
        OpenedResponse::Destination(body) => Response::decode(&body, now()).unwrap(),
        other => panic!("expected the destination's answer, got {other:?}"),
    }
}

fn outcome(net: &TestNet, i: usize, outcome: &'static str) -> u64 {
    net.node(i).context().metrics.onion.get(outcome, "_")
}

/// A path to `account`'s swarm by node index: three relays (any nodes but
/// the destination) and a swarm member as the destination.
fn path_for(net: &TestNet, account: &AccountKey) -> Vec<usize> {
    let swarm = net.swarm(&account.account_id());
    let destination = net.index_of(&swarm[0]);
    let mut path: Vec<usize> = (0..net.slots.len())
        .filter(|i| *i != destination)
        .take(3)
        .collect();
    path.push(destination);
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_store_and_a_ping_cross_three_relays_and_each_relay_sees_only_its_neighbours() {
    tokio::time::timeout(LIMIT, async {
        let net = TestNet::start(5).await;
        let client = net.client().await;
        let account = AccountKey::from_entropy([0x42; 16]);
        let path = path_for(&net, &account);
        let hops: Vec<Hop> = path.iter().map(|i| hop(&net, *i)).collect();
        let peers: Vec<PeerId> = path.iter().map(|i| net.slots[*i].peer).collect();

        let seen: Arc<Mutex<Vec<(usize, PacketEvent)>>> = Arc::default();
        for (pos, i) in path.iter().enumerate() {
            let seen = seen.clone();
            net.node(*i)
                .relay()
                .set_observer(Arc::new(move |e| seen.lock().unwrap().push((pos, e))));
        }

        let (packet, state) = build(1, &hops, &Request::Ping);
        let pong = destination_answer(&client, peers[0], packet, &state).await;
        assert!(matches!(pong, Response::Pong { .. }), "{pong:?}");

        // Each hop saw its predecessor and successor, and no one else.
        let events = seen.lock().unwrap().clone();
        assert_eq!(events.len(), 4, "{events:?}");
        let node_peers: HashSet<PeerId> = net.slots.iter().map(|s| s.peer).collect();
        for (pos, e) in &events {
            match pos {
                0 => assert!(
                    !node_peers.contains(&e.from),
                    "the guard's sender is the client"
                ),
                p => assert_eq!(e.from, peers[p - 1]),
            }
            match peers.get(pos + 1) {
                Some(next) => assert_eq!(e.next, Next::Forward(*next)),
                None => assert_eq!(e.next, Next::Deliver),
            }
        }

        let data = b"through the onion".to_vec();
        let store = Request::Store(StoreRequest::unsigned(
            account.account_id(),
            Namespace::INBOX,
            data.clone(),
            TTL,
        ));
        let (packet, state) = build(2, &hops, &store);
        match destination_answer(&client, peers[0], packet, &state).await {
            Response::Stored { held_by, .. } => assert!(held_by >= 2),
            other => panic!("expected Stored, got {other:?}"),
        }
        for (pos, i) in path.iter().enumerate() {
            let what = if pos == 3 { "delivered" } else { "forwarded" };
            assert_eq!(outcome(&net, *i, what), 2, "node {i} {what}");
        }
        // The message is held by the account's swarm (replication does the rest).
        let swarm = net.swarm(&account.account_id());
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let holders = swarm
                .iter()
                .filter(|n| {
                    let i = net.index_of(n);
                    let usage = net.node(i).context().store.usage(&account.account_id());
                    usage.unwrap().messages == 1
                })
                .count();
            if holders == swarm.len() {
                break;
            }
            assert!(Instant::now() < deadline, "only {holders} members hold it");
            net.converge().await;
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let text = net.node(path[0]).context().metrics.render();
        assert!(
            text.contains("sotto_onion_packets_total{outcome=\"forwarded\"} 2"),
            "{text}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tampered_replayed_and_malformed_packets_never_reach_the_destination() {
    tokio::time::timeout(LIMIT, async {
        let net = TestNet::start(4).await;
        let client = net.client().await;
        let path = [0usize, 1, 2, 3];
        let hops: Vec<Hop> = path.iter().map(|i| hop(&net, *i)).collect();
        let guard = net.slots[0].peer;

        // A byte flipped anywhere before the guard: the guard refuses it.
        for at in [40, 700, 4000] {
            let (mut packet, state) = build(at as u8, &hops, &Request::Ping);
            packet[at] ^= 1;
            let answer = client.handle.onion(guard, packet).await.unwrap();
            assert!(answer.is_empty());
            assert!(open_response(&state, &answer).is_err());
        }
        assert_eq!(outcome(&net, 0, "malformed"), 3);
        assert!(
            net.node(0)
                .context()
                .metrics
                .rejected
                .get("onion", "changed_on_the_way")
                >= 2
        );

        // A guard that changes the packet it forwards: the middle refuses it. The
        // test plays the dishonest guard with the guard's own onion key.
        let (packet, state) = build(9, &hops, &Request::Ping);
        let keys = net.node(0).identity().onion_secrets();
        let (next, mut forwarded) =
            match sotto_protocol::onion::peel(&packet, &[&keys[0].secret]).unwrap() {
                Peeled::Forward { next, packet, .. } => (next, packet),
                other => panic!("expected a forward, got {other:?}"),
            };
        assert_eq!(next, net.slots[1].node_id);
        forwarded[3000] ^= 0x80;
        let answer = client
            .handle
            .onion(net.slots[1].peer, forwarded)
            .await
            .unwrap();
        assert!(answer.is_empty());
        assert!(open_response(&state, &answer).is_err());
        assert_eq!(outcome(&net, 1, "malformed"), 1);
        assert_eq!(outcome(&net, 3, "delivered"), 0);

        // The very same packet twice: the guard drops the second.
        let (packet, state) = build(10, &hops, &Request::Ping);
        let pong = destination_answer(&client, guard, packet.clone(), &state).await;
        assert!(matches!(pong, Response::Pong { .. }));
        let again = client.handle.onion(guard, packet).await.unwrap();
        assert!(again.is_empty());
        assert_eq!(outcome(&net, 0, "replayed"), 1);
        assert_eq!(outcome(&net, 3, "delivered"), 1);

        // Wrong sizes and random bytes of a valid size: empty answers, counted.
        for len in [1, 4095, 4097, 50_000] {
            let answer = client.handle.onion(guard, vec![0xab; len]).await.unwrap();
            assert!(answer.is_empty(), "{len} bytes");
        }
        let mut noise = vec![0u8; 96 * 1024];
        rand::Rng::fill_bytes(&mut ChaCha20Rng::from_seed([11; 32]), &mut noise);
        assert!(client.handle.onion(guard, noise).await.unwrap().is_empty());
        // Over the largest class: the codec refuses it before the node sees it.
        assert!(
            client
                .handle
                .onion(guard, vec![0; 97 * 1024])
                .await
                .map_or(true, |a| a.is_empty())
        );
        assert_eq!(outcome(&net, 0, "malformed"), 8);

        // The guard still relays a good packet.
        let (packet, state) = build(12, &hops, &Request::Ping);
        let pong = destination_answer(&client, guard, packet, &state).await;
        assert!(matches!(pong, Response::Pong { .. }));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_restart_packets_sealed_to_the_old_onion_key_are_refused() {
    tokio::time::timeout(LIMIT, async {
        let mut net = TestNet::start(2).await;
        let client = net.client().await;
        let guard = net.slots[0].peer;
        let before: Vec<_> = net
            .node(0)
            .identity()
            .onion_secrets()
            .iter()
            .map(|k| k.entry.key)
            .collect();
        // Node 0 as the whole path (guard and destination): two packets
        // sealed to the key it has now; the first is answered before the
        // restart, as a previous hop would have seen it.
        let path = [Hop {
            node: net.slots[0].node_id,
            onion_key: before[0],
        }];
        let (answered, answered_state) = build(30, &path, &Request::Ping);
        let (unsent, _) = build(31, &path, &Request::Ping);
        let pong = destination_answer(&client, guard, answered.clone(), &answered_state).await;
        assert!(matches!(pong, Response::Pong { .. }), "{pong:?}");

        net.stop(0).await;
        net.restart(0).await;
        let after = net.node(0).identity().onion_secrets();
        assert_eq!(after.len(), 1, "only the fresh key");
        assert!(
            !before.contains(&after[0].entry.key),
            "a key from before the restart"
        );

        // The replay of the answered packet and the packet never sent: the
        // node's new replay filter has no tag of either, and neither opens.
        for packet in [answered, unsent] {
            let answer = client.handle.onion(guard, packet).await.unwrap();
            assert!(answer.is_empty());
        }
        assert_eq!(outcome(&net, 0, "delivered"), 0);
        assert_eq!(
            net.node(0)
                .context()
                .metrics
                .rejected
                .get("onion", "not_for_this_node"),
            2
        );
        // A packet sealed to the new key is answered.
        let path = [Hop {
            node: net.slots[0].node_id,
            onion_key: after[0].entry.key,
        }];
        let (packet, state) = build(32, &path, &Request::Ping);
        let pong = destination_answer(&client, guard, packet, &state).await;
        assert!(matches!(pong, Response::Pong { .. }), "{pong:?}");
    })
    .await
    .unwrap();
}
