//! Lazy stream negotiation (`sotto_p2p::build_swarm`): a request gets its
//! answer with the protocol proposal sent in the same write, and a peer that
//! does not speak the protocol fails the request promptly, in a way
//! `sotto_p2p::refused_protocol` recognises (a client takes that for a node
//! of another network), while a stream that broke for another reason is not
//! taken for a refusal.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, Event, Message, OutboundFailure, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, StreamProtocol, Swarm};
use sotto_p2p::{FrameCodec, build_swarm, refused_protocol};

type Rr = request_response::Behaviour<FrameCodec>;

fn behaviour(protocol: &'static str) -> Rr {
    request_response::Behaviour::with_codec(
        FrameCodec::new(1024, 1024),
        [(StreamProtocol::new(protocol), ProtocolSupport::Full)],
        request_response::Config::default().with_request_timeout(Duration::from_secs(10)),
    )
}

/// A listener on a fresh memory address speaking `protocol`; it answers
/// every request with the request's bytes reversed.
async fn listener(port: u64, protocol: &'static str) -> (Swarm<Rr>, Multiaddr) {
    let mut swarm = build_swarm(
        Keypair::generate_ed25519(),
        behaviour(protocol),
        true,
        Duration::from_secs(30),
    )
    .unwrap();
    let addr: Multiaddr = format!("/memory/{port}").parse().unwrap();
    swarm.listen_on(addr.clone()).unwrap();
    let peer = *swarm.local_peer_id();
    (swarm, addr.with(libp2p::multiaddr::Protocol::P2p(peer)))
}

fn serve(mut swarm: Swarm<Rr>) {
    tokio::spawn(async move {
        while let Some(event) = swarm.next().await {
            if let SwarmEvent::Behaviour(Event::Message {
                message:
                    Message::Request {
                        request, channel, ..
                    },
                ..
            }) = event
            {
                let answer: Vec<u8> = request.into_iter().rev().collect();
                let _ = swarm.behaviour_mut().send_response(channel, answer);
            }
        }
    });
}

/// Sends one request from `dialer` to the peer at `addr` and returns what
/// became of it.
async fn ask(mut dialer: Swarm<Rr>, addr: Multiaddr) -> Result<Vec<u8>, OutboundFailure> {
    let peer = match addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(peer)) => peer,
        _ => panic!("no peer id in {addr}"),
    };
    dialer.add_peer_address(peer, addr);
    let id = dialer.behaviour_mut().send_request(&peer, vec![1, 2, 3]);
    let outcome = async {
        loop {
            match dialer.select_next_some().await {
                SwarmEvent::Behaviour(Event::Message {
                    message:
                        Message::Response {
                            request_id,
                            response,
                        },
                    ..
                }) if request_id == id => return Ok(response),
                SwarmEvent::Behaviour(Event::OutboundFailure {
                    request_id, error, ..
                }) if request_id == id => return Err(error),
                _ => {}
            }
        }
    };
    // Far below the request timeout: a failure must come from the peer's
    // refusal, not from waiting it out.
    tokio::time::timeout(Duration::from_secs(5), outcome)
        .await
        .expect("the request neither succeeded nor failed in 5 s")
}

fn dialer(protocol: &'static str) -> Swarm<Rr> {
    build_swarm(
        Keypair::generate_ed25519(),
        behaviour(protocol),
        true,
        Duration::from_secs(30),
    )
    .unwrap()
}

/// That the stream is lazy shows in the next test (a refusal surfaces as a
/// failed read, not as a refused proposal); this one shows that a request
/// sent together with its proposal is still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_sent_with_its_protocol_proposal_is_answered() {
    let (swarm, addr) = listener(71_001, "/test/echo/1").await;
    serve(swarm);
    let answer = ask(dialer("/test/echo/1"), addr).await.unwrap();
    assert_eq!(answer, vec![3, 2, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_protocol_fails_promptly_and_is_recognised() {
    let (swarm, addr) = listener(71_002, "/test/theirs/1").await;
    serve(swarm);
    match ask(dialer("/test/ours/1"), addr).await {
        Err(OutboundFailure::Io(e)) => assert!(refused_protocol(&e), "{e:?}"),
        other => panic!("expected a refused stream, got {other:?}"),
    }
}

#[test]
fn other_stream_failures_are_not_taken_for_a_refusal() {
    for e in [
        std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
        std::io::Error::other("connection reset"),
        std::io::Error::new(std::io::ErrorKind::InvalidData, "frame too large"),
    ] {
        assert!(!refused_protocol(&e), "{e:?}");
    }
}
