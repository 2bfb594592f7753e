//! Forwards parked at a relay: while the next hop has not answered they hold
//! no in-flight slot, they are bounded in all and per previous hop (a typed,
//! counted refusal), and each is answered when its next hop answers.

use std::sync::Mutex;

use libp2p::PeerId;
use sotto_protocol::onion::{Peeled, ReplyKey, peel, seal_response};
use tokio::sync::{mpsc, oneshot};

use super::forward::{add_next_hop, relay_error};
use super::*;
use crate::net::{Command, OnionThen, SlotRelease};
use crate::relay::Then;

/// Onion packets sent to the next hop and not answered yet.
type Held = Arc<Mutex<Vec<(Vec<u8>, OnionThen)>>>;

/// A network handle that holds every onion packet until the test answers it.
fn holding() -> (NetHandle, Held) {
    let (tx, mut rx) = mpsc::channel(64);
    let held: Held = Arc::default();
    let keep = held.clone();
    tokio::spawn(async move {
        while let Some(command) = rx.recv().await {
            if let Command::Onion { packet, then, .. } = command {
                keep.lock().unwrap().push((packet, then));
            }
        }
    });
    (NetHandle::new(tx, Duration::from_secs(60)), held)
}

/// The next hop's `Pong` to `packet`, as it would seal it.
fn pong_to(packet: &[u8], next_onion: &OnionSecret) -> Vec<u8> {
    let reply: ReplyKey = match peel(packet, &[next_onion]).unwrap() {
        Peeled::Deliver { reply, .. } => reply,
        other => panic!("expected a delivery, got {other:?}"),
    };
    let pong = Response::Pong {
        node_time: Clock::system().now(),
    };
    seal_response(reply, &pong.encode().unwrap()).unwrap()
}

async fn until(what: &str, f: impl Fn() -> bool) {
    for _ in 0..2_000 {
        if f() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("never: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_forwards_free_their_slot_are_bounded_and_answered() {
    let mut config = NodeConfig::default();
    // 2 × 8 = 16 parked in all, 1 × 8 = 8 per previous hop.
    config.limits.max_concurrent_requests = 2;
    config.limits.max_requests_per_peer = 1;
    let (net, held) = holding();
    let s = setup_from(config, net);
    let next_key = NodeKey::from_secret_bytes(&[41; 32]);
    let next_onion = OnionSecret::from_secret_bytes([42; 32]);
    add_next_hop(&s, &next_key, &next_onion);
    let hops = [
        s.hop(s.current_key()),
        Hop {
            node: next_key.node_id(),
            onion_key: next_onion.public(),
        },
    ];
    let (freed_tx, mut freed) = mpsc::unbounded_channel();
    let mut seed = 0u8;
    let mut park = |from: PeerId| {
        seed += 1;
        let (packet, state) = ping(seed, &hops);
        let slot = SlotRelease::for_test(u64::from(seed), freed_tx.clone());
        let relay = s.relay.clone();
        let (tx, rx) = oneshot::channel();
        let then: Then = Box::new(move |answer| {
            let _ = tx.send(answer);
        });
        // The packet's own task ends once it is parked: only the answer's
        // way back (`rx`) is left waiting.
        let task = tokio::spawn(async move {
            relay
                .handle_packet_then(from, packet, Some(slot), then)
                .await
        });
        (task, rx, state)
    };

    // Eight forwards of one previous hop wait on the next hop, each having
    // given its in-flight slot back.
    let a = PeerId::random();
    let mut waiting = Vec::new();
    for _ in 0..8 {
        let (task, rx, state) = park(a);
        // No task waits for a parked forward: the packet's own has ended.
        task.await.unwrap();
        waiting.push((rx, state));
    }
    until("eight forwards parked", || held.lock().unwrap().len() == 8).await;
    let mut ids: Vec<u64> = (0..8).map(|_| freed.try_recv().unwrap()).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=8).collect::<Vec<u64>>());
    assert_eq!(s.relay.forwards.len(), 8);

    // A ninth of that hop is refused at once, typed and counted, and keeps
    // its slot (the swarm task frees it with the answer).
    let (task, refused, state) = park(a);
    task.await.unwrap();
    let e = relay_error(&state, &refused.await.unwrap());
    assert_eq!(e.kind, ErrorKind::Unavailable);
    assert!(e.message.contains("previous hop"), "{}", e.message);
    assert_eq!(s.ctx.metrics.rejected.get("onion", "forwards_per_hop"), 1);
    assert!(freed.try_recv().is_err());

    // Other previous hops fill the relay's bound; past it, "full".
    let b = PeerId::random();
    for _ in 0..8 {
        let (task, rx, state) = park(b);
        task.await.unwrap();
        waiting.push((rx, state));
    }
    until("sixteen forwards parked", || {
        held.lock().unwrap().len() == 16
    })
    .await;
    let (task, refused, state) = park(PeerId::random());
    task.await.unwrap();
    let e = relay_error(&state, &refused.await.unwrap());
    assert!(e.message.contains("too many forwards"), "{}", e.message);
    assert_eq!(s.ctx.metrics.rejected.get("onion", "forwards_full"), 1);
    assert_eq!(s.outcome("busy"), 2);

    // The next hop answers: every parked forward answers its client, and
    // the places come back.
    let answers: Vec<_> = std::mem::take(&mut *held.lock().unwrap());
    for (packet, then) in answers {
        then.call(Ok(pong_to(&packet, &next_onion)));
    }
    for (rx, state) in waiting {
        let answer = rx.await.unwrap();
        assert!(matches!(
            destination_answer(&state, &answer),
            Response::Pong { .. }
        ));
    }
    assert_eq!(s.outcome("forwarded"), 16);
    assert!(s.relay.forwards.is_empty());
    let (task, rx, state) = park(a);
    task.await.unwrap();
    until("a new forward parked", || held.lock().unwrap().len() == 1).await;
    let (packet, then) = held.lock().unwrap().pop().unwrap();
    then.call(Ok(pong_to(&packet, &next_onion)));
    assert!(matches!(
        destination_answer(&state, &rx.await.unwrap()),
        Response::Pong { .. }
    ));
}
