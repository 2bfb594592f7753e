//! One network leg of an onion request, two ways, measured in the same run
//! between two swarms built as nodes build theirs (`sotto_p2p::build_swarm`:
//! TCP on loopback, noise, yamux, lazy protocol negotiation), each echoing a
//! 4 KiB packet (the smallest onion class):
//!
//! - **request-response**: what a relay's forward is today, a new stream per
//!   packet carrying the protocol proposal, the request frame and a FIN, and
//!   the confirmation, the response frame and a FIN back;
//! - **long-lived stream**: one stream opened once, one frame each way per
//!   packet.
//!
//! It measures what `docs/ARCHITECTURE.md` ("Where an onion hop's time goes")
//! says a long-lived stream per neighbouring relay would save, before anyone
//! builds one. The request-response side answers in its swarm task, the
//! stream side on a task of its own, as a relay would: if anything, that
//! favours request-response. At the end a paired measurement prints
//! `stream/request-response leg ratio: X.XX`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "support/paired.rs"]
mod paired;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use criterion::Criterion;
use futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, Stream, StreamProtocol, Swarm};
use paired::paired;
use sotto_p2p::{FrameCodec, build_swarm, read_frame, write_frame};
use tokio::sync::{mpsc, oneshot};

const PACKET: usize = 4096;
const RR: StreamProtocol = StreamProtocol::new("/sotto-bench/legs/rr/1");
const LINK: StreamProtocol = StreamProtocol::new("/sotto-bench/legs/link/1");

#[derive(NetworkBehaviour)]
struct Both {
    rr: request_response::Behaviour<FrameCodec>,
    link: libp2p_stream::Behaviour,
}

fn swarm() -> Swarm<Both> {
    let behaviour = Both {
        rr: request_response::Behaviour::with_codec(
            FrameCodec::new(PACKET, PACKET),
            [(RR, ProtocolSupport::Full)],
            request_response::Config::default(),
        ),
        link: libp2p_stream::Behaviour::new(),
    };
    build_swarm(
        Keypair::generate_ed25519(),
        behaviour,
        false,
        Duration::from_secs(60),
    )
    .unwrap()
}

/// Echoes every frame of `stream` until it closes.
async fn echo(mut stream: Stream) {
    while let Ok(frame) = read_frame(&mut stream, PACKET).await {
        if write_frame(&mut stream, &frame, PACKET).await.is_err() {
            return;
        }
    }
}

/// Starts the echoing side; returns its peer id and address.
async fn server() -> (PeerId, Multiaddr) {
    let mut swarm = swarm();
    let peer = *swarm.local_peer_id();
    let mut incoming = swarm.behaviour().link.new_control().accept(LINK).unwrap();
    tokio::spawn(async move {
        while let Some((_, stream)) = incoming.next().await {
            tokio::spawn(echo(stream));
        }
    });
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    let addr = loop {
        if let SwarmEvent::NewListenAddr { address, .. } = swarm.select_next_some().await {
            break address;
        }
    };
    tokio::spawn(async move {
        loop {
            if let SwarmEvent::Behaviour(BothEvent::Rr(request_response::Event::Message {
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            })) = swarm.select_next_some().await
            {
                let _ = swarm.behaviour_mut().rr.send_response(channel, request);
            }
        }
    });
    (peer, addr)
}

type Ask = (Vec<u8>, oneshot::Sender<Vec<u8>>);

/// The asking side: request-response through its swarm task, and the
/// long-lived stream, opened once.
struct Client {
    ask: mpsc::UnboundedSender<Ask>,
    stream: Stream,
}

async fn client(server: PeerId, addr: Multiaddr) -> Client {
    let mut swarm = swarm();
    let mut control = swarm.behaviour().link.new_control();
    swarm
        .dial(addr.with(libp2p::multiaddr::Protocol::P2p(server)))
        .unwrap();
    let (ask, mut asks) = mpsc::unbounded_channel::<Ask>();
    tokio::spawn(async move {
        let mut waiting: HashMap<OutboundRequestId, oneshot::Sender<Vec<u8>>> = HashMap::new();
        loop {
            tokio::select! {
                Some((packet, reply)) = asks.recv() => {
                    let id = swarm.behaviour_mut().rr.send_request(&server, packet);
                    waiting.insert(id, reply);
                }
                event = swarm.select_next_some() => {
                    if let SwarmEvent::Behaviour(BothEvent::Rr(request_response::Event::Message {
                        message: request_response::Message::Response { request_id, response },
                        ..
                    })) = event
                        && let Some(reply) = waiting.remove(&request_id)
                    {
                        let _ = reply.send(response);
                    }
                }
            }
        }
    });
    let stream = loop {
        match control.open_stream(server, LINK).await {
            Ok(s) => break s,
            // Not connected yet: the dial is under way.
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    Client { ask, stream }
}

async fn request_response_leg(c: &Client, packet: &[u8]) {
    let (reply, answer) = oneshot::channel();
    c.ask.send((packet.to_vec(), reply)).unwrap();
    assert_eq!(answer.await.unwrap().len(), PACKET);
}

async fn stream_leg(c: &mut Client, packet: &[u8]) {
    write_frame(&mut c.stream, packet, PACKET).await.unwrap();
    let answer = read_frame(&mut c.stream, PACKET).await.unwrap();
    assert_eq!(answer.len(), PACKET);
}

fn main() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut c = rt.block_on(async {
        let (peer, addr) = server().await;
        client(peer, addr).await
    });
    let packet = vec![7u8; PACKET];
    for _ in 0..100 {
        rt.block_on(request_response_leg(&c, &packet));
        rt.block_on(stream_leg(&mut c, &packet));
    }

    let mut crit = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut g = crit.benchmark_group("legs");
    g.bench_function("request_response_4k", |b| {
        b.iter(|| rt.block_on(request_response_leg(&c, &packet)))
    });
    g.bench_function("long_lived_stream_4k", |b| {
        b.iter(|| rt.block_on(stream_leg(&mut c, &packet)))
    });
    g.finish();

    let iters = 200;
    let c = std::cell::RefCell::new(c);
    let (per_stream, per_rr) = paired(
        21,
        iters,
        || {
            let mut c = c.borrow_mut();
            let t = Instant::now();
            for _ in 0..iters {
                rt.block_on(stream_leg(&mut c, &packet));
            }
            t.elapsed()
        },
        || {
            let c = c.borrow();
            let t = Instant::now();
            for _ in 0..iters {
                rt.block_on(request_response_leg(&c, &packet));
            }
            t.elapsed()
        },
    );
    println!(
        "long-lived stream leg: {:.0} µs; request-response leg: {:.0} µs",
        per_stream / 1e3,
        per_rr / 1e3
    );
    println!(
        "stream/request-response leg ratio: {:.2}",
        per_stream / per_rr
    );
    crit.final_summary();
}
