//! Forwarding to a next hop that is in the directory, with the swarm task
//! replaced by a script: the next hop answers, times out, refuses, answers
//! garbage, or the network is busy.

use std::time::Duration;

use libp2p::PeerId;
use sotto_protocol::constants::PROTOCOL_VERSION;
use sotto_protocol::onion::{Peeled, peel, seal_response};
use sotto_protocol::record::{NodeRecord, OnionKeyEntry};
use sotto_protocol::time::{DAY_MS, HOUR_MS, MINUTE_MS};
use tokio::sync::mpsc;

use super::*;
use crate::directory::{VerifiedRecord, peer_id_of};
use crate::net::{Command, NetError};
use crate::relay::{Next, PacketEvent};

/// What the scripted network does with the next onion packet.
#[derive(Clone, Copy, Debug)]
enum Script {
    /// The next hop peels it as the destination and answers `Pong`.
    Answer,
    /// It does not answer in time.
    Timeout,
    /// It answers empty (it refused the packet).
    Empty,
    /// It answers bytes that are no response class.
    Garbage,
    /// The swarm task has too many requests waiting.
    Busy,
}

/// A network handle whose onion packets are answered per `script`, in order,
/// as the next hop with onion key `next_key` would.
fn scripted(script: Vec<Script>, next_key: OnionSecret) -> NetHandle {
    let (tx, mut rx) = mpsc::channel(8);
    tokio::spawn(async move {
        let mut script = script.into_iter();
        while let Some(command) = rx.recv().await {
            let Command::Onion { peer, packet, then } = command else {
                continue;
            };
            let answer = match script.next().unwrap() {
                Script::Answer => match peel(&packet, &[&next_key]).unwrap() {
                    Peeled::Deliver { request, reply, .. } => {
                        assert_eq!(Request::decode(&request).unwrap(), Request::Ping);
                        let pong = Response::Pong {
                            node_time: Clock::system().now(),
                        };
                        Ok(seal_response(reply, &pong.encode().unwrap()).unwrap())
                    }
                    other => panic!("expected a delivery, got {other:?}"),
                },
                Script::Timeout => Err(NetError::Timeout(peer, Duration::from_secs(50))),
                Script::Empty => Ok(Vec::new()),
                Script::Garbage => Ok(vec![1; 100]),
                Script::Busy => Err(NetError::Busy),
            };
            then.call(answer);
        }
    });
    NetHandle::new(tx, Duration::from_secs(5))
}

/// The next hop's signed record, put in the relay's directory.
pub(super) fn add_next_hop(s: &Setup, key: &NodeKey, onion: &OnionSecret) {
    let now = s.ctx.clock.now();
    let record = NodeRecord {
        version: PROTOCOL_VERSION,
        network: s.params.name.clone(),
        node: key.node_id(),
        addrs: vec!["/ip4/127.0.0.1/tcp/4100".into()],
        onion_keys: vec![OnionKeyEntry {
            key: onion.public(),
            valid_from: now - HOUR_MS,
            valid_until: now + DAY_MS,
        }],
        issued_at: now - MINUTE_MS,
        expires_at: now + HOUR_MS,
        admission: sotto_protocol::record::admission::Admission::default(),
    };
    s.ctx
        .dir_mut(|d| {
            d.insert(
                VerifiedRecord::verify(record.sign(key).unwrap(), d.params(), now)?,
                now,
            )
        })
        .unwrap();
}

/// The error a relay sealed in `answer`, as the client reads it.
pub(super) fn relay_error(state: &ReplyState, answer: &[u8]) -> sotto_protocol::rpc::RpcError {
    match open_response(state, answer).unwrap() {
        OpenedResponse::RelayError { hop: 0, body } => {
            match Response::decode(&body, Clock::system().now()).unwrap() {
                Response::Error(e) => e,
                other => panic!("expected an error, got {other:?}"),
            }
        }
        other => panic!("expected the relay's error, got {other:?}"),
    }
}

#[tokio::test]
async fn the_next_hops_answer_is_wrapped_and_its_failures_are_sealed() {
    let next_key = NodeKey::from_secret_bytes(&[21; 32]);
    let next_onion = OnionSecret::from_secret_bytes([22; 32]);
    let script = vec![
        Script::Answer,
        Script::Timeout,
        Script::Empty,
        Script::Garbage,
        Script::Busy,
    ];
    let s = setup_with(
        100,
        scripted(script, OnionSecret::from_secret_bytes([22; 32])),
    );
    add_next_hop(&s, &next_key, &next_onion);
    let hops = [
        s.hop(s.current_key()),
        Hop {
            node: next_key.node_id(),
            onion_key: next_onion.public(),
        },
    ];
    let seen: Arc<std::sync::Mutex<Vec<PacketEvent>>> = Arc::default();
    let seen2 = seen.clone();
    s.relay
        .set_observer(Arc::new(move |e| seen2.lock().unwrap().push(e)));
    let from = PeerId::random();

    // Answered: the destination's answer reaches the client through this hop.
    let (packet, state) = ping(30, &hops);
    let answer = s.relay.handle_packet(from, packet).await;
    assert!(matches!(
        destination_answer(&state, &answer),
        Response::Pong { .. }
    ));
    assert_eq!(s.outcome("forwarded"), 1);
    let next_peer = peer_id_of(&next_key.node_id()).unwrap();
    let first = seen.lock().unwrap().first().copied().unwrap();
    assert_eq!((first.from, first.next), (from, Next::Forward(next_peer)));
    assert!(first.onward.is_some_and(|t| t != first.tag));

    // Each failure is this relay's sealed error, of the kind the client can act on.
    let expected = [
        ErrorKind::Timeout,
        ErrorKind::Unavailable,
        ErrorKind::Unavailable,
        ErrorKind::Unavailable,
    ];
    for (n, kind) in expected.iter().enumerate() {
        let (packet, state) = ping(31 + n as u8, &hops);
        let answer = s.relay.handle_packet(from, packet).await;
        let e = relay_error(&state, &answer);
        assert_eq!(&e.kind, kind, "{}", e.message);
        assert!(
            e.message.starts_with("relay could not reach the next hop"),
            "{}",
            e.message
        );
    }
    assert_eq!(s.outcome("timed_out"), 1);
    assert_eq!(s.outcome("unreachable"), 2);
    assert_eq!(s.outcome("busy"), 1);
    assert_eq!(s.outcome("forwarded"), 1);
    assert_eq!(seen.lock().unwrap().len(), 5);
}
