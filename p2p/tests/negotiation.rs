//! What a request sees of a peer that does not speak its protocol, from a
//! node's swarm (lazy stream negotiation) and from a client's (confirmed):
//! both fail promptly, typed, but only the confirmed one can tell a refused
//! protocol from a broken stream. That difference is why clients, which ask
//! a node that refused their protocol which network it is on, keep
//! confirmed negotiation (see `sotto_p2p::build_node_swarm`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, Event, Message, OutboundFailure, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, StreamProtocol, Swarm};
use sotto_p2p::{FrameCodec, build_node_swarm, build_swarm};

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

fn node_dialer(protocol: &'static str) -> Swarm<Rr> {
    build_node_swarm(
        Keypair::generate_ed25519(),
        behaviour(protocol),
        true,
        Duration::from_secs(30),
    )
    .unwrap()
}

fn client_dialer(protocol: &'static str) -> Swarm<Rr> {
    build_swarm(
        Keypair::generate_ed25519(),
        behaviour(protocol),
        true,
        Duration::from_secs(30),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_swarm_gets_its_answer_over_a_lazily_negotiated_stream() {
    let (swarm, addr) = listener(71_001, "/test/echo/1").await;
    serve(swarm);
    let answer = ask(node_dialer("/test/echo/1"), addr).await.unwrap();
    assert_eq!(answer, vec![3, 2, 1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_protocol_fails_promptly_for_both_and_is_named_only_when_confirmed() {
    let (swarm, addr) = listener(71_002, "/test/theirs/1").await;
    serve(swarm);
    // A client's swarm hears the refusal as such.
    let client = ask(client_dialer("/test/ours/1"), addr.clone()).await;
    assert!(
        matches!(client, Err(OutboundFailure::UnsupportedProtocols)),
        "{client:?}"
    );
    // A node's swarm wrote its request with the proposal; the refusal shows
    // as a failed stream, still at once.
    let node = ask(node_dialer("/test/ours/1"), addr).await;
    assert!(matches!(node, Err(OutboundFailure::Io(_))), "{node:?}");
}
