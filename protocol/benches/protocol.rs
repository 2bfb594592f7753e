//! Speed of the protocol's hot paths next to the physical limits of the
//! cryptography they use, measured in the same run.
//!
//! Criterion prints a table for each operation; at the end a paired measurement
//! (the two sides interleaved round by round, medians taken) prints
//! `peel/limit ratio: X.XX`, where the limit of peeling one layer is one X25519
//! agreement plus one XChaCha20-Poly1305 pass over a packet of the smallest class.
//!
//! Messages v2 (PQXDH + Double Ratchet inside the sealed-sender layer) are measured
//! beside envelope v1: sealing and opening a first message (with the PQXDH
//! initiation) and a ratchet message, both when the receiver steps its DH
//! ratchet (a reply, the usual case in a conversation) and when it only steps a
//! chain (a second message in a row). The same paired method prints
//! `v2/v1 open ratio: X.XX` for a ratchet message with a DH step, and the other
//! cases beside it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use ed25519_dalek::{Signer, SigningKey};
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sotto_protocol::constants::ONION_REQUEST_CLASSES;
use sotto_protocol::crypto;
use sotto_protocol::envelope::v2::{self as envelope_v2, Body};
use sotto_protocol::envelope::{self, Content, ContentBody, ContentId};
use sotto_protocol::onion::{self, Hop};
use sotto_protocol::prekey::PrekeySecrets;
use sotto_protocol::ratchet::{RatchetMessage, Session};
use sotto_protocol::{AccountKey, NodeId, OnionSecret};
use x25519_dalek::StaticSecret;

/// When the benchmark packets are built (2027); building does not depend on it otherwise.
const BUILT_AT: u64 = 1_800_000_000_000;

struct Path {
    secrets: Vec<OnionSecret>,
    hops: Vec<Hop>,
}

fn path(rng: &mut ChaCha20Rng, n: usize) -> Path {
    let secrets: Vec<OnionSecret> = (0..n).map(|_| OnionSecret::generate(rng)).collect();
    let hops = secrets
        .iter()
        .enumerate()
        .map(|(i, s)| Hop {
            node: NodeId([i as u8 + 1; 32]),
            onion_key: s.public(),
        })
        .collect();
    Path { secrets, hops }
}

/// One X25519 agreement with a fixed peer key (what a hop does per packet).
fn limit_dh(secret: &StaticSecret, peer: &[u8; 32]) -> [u8; 32] {
    *crypto::dh(secret, peer).unwrap()
}

/// One XChaCha20-Poly1305 pass over a packet of the smallest class.
fn limit_aead(buf: &mut [u8]) -> [u8; 16] {
    crypto::seal_in_place(&[7; 32], b"", buf).unwrap()
}

fn benches(c: &mut Criterion, rng: &mut ChaCha20Rng) {
    let small = ONION_REQUEST_CLASSES[0];
    let p = path(rng, 4);
    let request = vec![0x42u8; 1000];
    let (packet, _reply) = onion::build_request(rng, &p.hops, &request, BUILT_AT).unwrap();
    let dh_secret = StaticSecret::from([9u8; 32]);
    let dh_peer = p.hops[0].onion_key;

    let mut g = c.benchmark_group("limit");
    g.bench_function("x25519_dh", |b| {
        b.iter(|| limit_dh(black_box(&dh_secret), black_box(&dh_peer)))
    });
    g.throughput(Throughput::Bytes(small as u64));
    g.bench_function("xchacha20poly1305_4KiB", |b| {
        let mut buf = vec![0u8; small];
        b.iter(|| limit_aead(black_box(&mut buf)))
    });
    g.throughput(Throughput::Elements(1));
    let signer = SigningKey::from_bytes(&[5; 32]);
    let msg = [1u8; 200];
    let sig = signer.sign(&msg);
    let vk = signer.verifying_key();
    g.bench_function("ed25519_verify", |b| {
        b.iter(|| vk.verify_strict(black_box(&msg), black_box(&sig)).is_ok())
    });
    g.finish();

    let mut g = c.benchmark_group("onion");
    g.bench_function("peel_per_hop_4KiB", |b| {
        let keys = [&p.secrets[0]];
        b.iter(|| onion::peel(black_box(&packet), &keys).is_ok())
    });
    g.bench_function("build_3_relays_plus_destination_4KiB", |b| {
        b.iter(|| onion::build_request(rng, &p.hops, black_box(&request), BUILT_AT).is_ok())
    });
    g.finish();

    let alice = AccountKey::from_entropy([1; 16]);
    let bob = AccountKey::from_entropy([2; 16]);
    let content = Content {
        id: ContentId([3; 16]),
        sent_at: 1_700_000_000_000,
        body: ContentBody::Text {
            text: "a typical chat message of a sentence or two, about a hundred bytes long...."
                .into(),
        },
    };
    let sealed = envelope::seal(&alice, &bob.account_id(), &content, rng).unwrap();
    let v2 = V2::new(&alice, &bob, &content, rng);
    let mut g = c.benchmark_group("envelope");
    g.bench_function("seal_text", |b| {
        b.iter(|| envelope::seal(&alice, &bob.account_id(), black_box(&content), rng).is_ok())
    });
    g.bench_function("open_text", |b| {
        b.iter(|| envelope::open(&bob, black_box(&sealed)).is_ok())
    });
    g.finish();

    let mut g = c.benchmark_group("envelope_v2");
    g.bench_function("seal_first_text", |b| {
        b.iter(|| v2.seal_first(&alice, black_box(&content), rng))
    });
    g.bench_function("open_first_text", |b| {
        b.iter(|| v2.open_first(&bob, black_box(&v2.first)))
    });
    g.bench_function("seal_ratchet_text", |b| {
        let mut s = v2.alice_after_reply.clone();
        b.iter(|| envelope_v2::seal_content(&mut s, black_box(&content), rng).is_ok())
    });
    g.bench_function("open_ratchet_text_dh_step", |b| {
        b.iter(|| v2.open_reply(&alice, black_box(&v2.reply)))
    });
    g.bench_function("open_ratchet_text_same_chain", |b| {
        b.iter(|| v2.open_second(&alice, black_box(&v2.second_reply)))
    });
    g.finish();

    // Paired measurement for the ratio: rounds alternate between the two sides so
    // that frequency changes and noise hit both alike; the medians are compared.
    let keys = [&p.secrets[0]];
    let mut aead_buf = vec![0u8; small];
    let rounds = 31;
    let iters = 200;
    let mut peel_ns = Vec::with_capacity(rounds);
    let mut limit_ns = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..iters {
            black_box(onion::peel(black_box(&packet), &keys).is_ok());
        }
        peel_ns.push(t.elapsed());
        let t = Instant::now();
        for _ in 0..iters {
            black_box(limit_dh(black_box(&dh_secret), black_box(&dh_peer)));
            black_box(limit_aead(black_box(&mut aead_buf)));
        }
        limit_ns.push(t.elapsed());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_nanos() as f64 / iters as f64
    };
    let peel = median(&mut peel_ns);
    let limit = median(&mut limit_ns);
    println!("peel per hop (4 KiB): {peel:.0} ns; limit (X25519 + AEAD over 4 KiB): {limit:.0} ns");
    println!("peel/limit ratio: {:.2}", peel / limit);

    // The same paired method for envelope v2 against v1: v1 open, then each v2
    // case, round by round.
    let mut v1_ns = Vec::with_capacity(rounds);
    let mut dh_step_ns = Vec::with_capacity(rounds);
    let mut same_chain_ns = Vec::with_capacity(rounds);
    let mut first_ns = Vec::with_capacity(rounds);
    let iters = 100;
    let first_iters = 10;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..iters {
            black_box(envelope::open(&bob, black_box(&sealed)).is_ok());
        }
        v1_ns.push(t.elapsed() / iters);
        let t = Instant::now();
        for _ in 0..iters {
            black_box(v2.open_reply(&alice, black_box(&v2.reply)));
        }
        dh_step_ns.push(t.elapsed() / iters);
        let t = Instant::now();
        for _ in 0..iters {
            black_box(v2.open_second(&alice, black_box(&v2.second_reply)));
        }
        same_chain_ns.push(t.elapsed() / iters);
        let t = Instant::now();
        for _ in 0..first_iters {
            black_box(v2.open_first(&bob, black_box(&v2.first)));
        }
        first_ns.push(t.elapsed() / first_iters);
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_nanos() as f64
    };
    let v1 = median(&mut v1_ns);
    let dh_step = median(&mut dh_step_ns);
    let same_chain = median(&mut same_chain_ns);
    let first = median(&mut first_ns);
    println!(
        "open per envelope: v1 {v1:.0} ns; v2 ratchet with DH step {dh_step:.0} ns; \
         v2 ratchet same chain {same_chain:.0} ns; v2 first message (PQXDH) {first:.0} ns"
    );
    println!("v2/v1 open ratio: {:.2}", dh_step / v1);
    println!("v2/v1 open ratio (same chain): {:.2}", same_chain / v1);
    println!("v2/v1 open ratio (first message): {:.2}", first / v1);
}

/// A v2 conversation set up once: Bob's prekeys, Alice's first envelope, and
/// Alice's session before and after Bob's replies.
struct V2 {
    prekeys: PrekeySecrets,
    first: Vec<u8>,
    bundle: sotto_protocol::prekey::VerifiedBundle,
    /// Alice's session before Bob's reply (opening it steps the DH ratchet).
    alice_before_reply: Session,
    /// Bob's reply (a new ratchet key).
    reply: Vec<u8>,
    /// Alice's session after the reply.
    alice_after_reply: Session,
    /// Bob's second reply in a row (same chain).
    second_reply: Vec<u8>,
}

impl V2 {
    fn new(alice: &AccountKey, bob: &AccountKey, content: &Content, rng: &mut ChaCha20Rng) -> Self {
        let now = content.sent_at;
        let prekeys = PrekeySecrets::generate(now, rng);
        let bundle = prekeys
            .bundle(bob, now)
            .unwrap()
            .verify(&bob.account_id(), now)
            .unwrap();
        let mut a = envelope_v2::start_session(alice, &bundle, now, rng).unwrap();
        let first = envelope_v2::seal_content(&mut a, content, rng).unwrap();
        let (init, message) = match envelope_v2::unseal(bob, &first).unwrap().body {
            Body::Init { init, message } => (init, message),
            Body::Ratchet { .. } => panic!("first envelope is not an init"),
        };
        let acc =
            envelope_v2::accept_init(bob, &prekeys, &alice.account_id(), &init, &message, now)
                .unwrap();
        let mut b = acc.session;
        let reply = envelope_v2::seal_content(&mut b, content, rng).unwrap();
        let second_reply = envelope_v2::seal_content(&mut b, content, rng).unwrap();
        let alice_before_reply = a.clone();
        let msg = ratchet_of(alice, &reply);
        envelope_v2::open_content(&mut a, &msg, now).unwrap();
        Self {
            prekeys,
            first,
            bundle,
            alice_before_reply,
            reply,
            alice_after_reply: a,
            second_reply,
        }
    }

    fn seal_first(&self, alice: &AccountKey, content: &Content, rng: &mut ChaCha20Rng) -> bool {
        let mut s = envelope_v2::start_session(alice, &self.bundle, content.sent_at, rng).unwrap();
        envelope_v2::seal_content(&mut s, content, rng).is_ok()
    }

    /// What a recipient does with a first envelope: unseal, PQXDH, ratchet.
    fn open_first(&self, bob: &AccountKey, env: &[u8]) -> bool {
        let u = envelope_v2::unseal(bob, env).unwrap();
        let Body::Init { init, message } = u.body else {
            return false;
        };
        envelope_v2::accept_init(bob, &self.prekeys, &u.sender, &init, &message, 0).is_ok()
    }

    /// Unseal and open on a copy of Alice's session before the reply.
    fn open_reply(&self, alice: &AccountKey, env: &[u8]) -> bool {
        let mut s = self.alice_before_reply.clone();
        let msg = ratchet_of(alice, env);
        envelope_v2::open_content(&mut s, &msg, 0).is_ok()
    }

    /// Unseal and open on a copy of Alice's session after the first reply.
    fn open_second(&self, alice: &AccountKey, env: &[u8]) -> bool {
        let mut s = self.alice_after_reply.clone();
        let msg = ratchet_of(alice, env);
        envelope_v2::open_content(&mut s, &msg, 0).is_ok()
    }
}

/// The ratchet message of an envelope v2.
fn ratchet_of(own: &AccountKey, env: &[u8]) -> RatchetMessage {
    match envelope_v2::unseal(own, env).unwrap().body {
        Body::Init { message, .. } | Body::Ratchet { message } => message,
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut rng = ChaCha20Rng::from_seed([11; 32]);
    benches(&mut c, &mut rng);
    c.final_summary();
}
