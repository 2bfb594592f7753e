//! Speed of the protocol's hot paths next to the physical limits of the
//! cryptography they use, measured in the same run.
//!
//! Criterion prints a table for each operation; at the end a paired measurement
//! (the two sides interleaved round by round, medians taken) prints
//! `peel/limit ratio: X.XX`, where the limit of peeling one layer is one X25519
//! agreement plus one XChaCha20-Poly1305 pass over a packet of the smallest class.

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
use sotto_protocol::envelope::{self, Content, ContentBody, ContentId};
use sotto_protocol::onion::{self, Hop};
use sotto_protocol::{AccountKey, NodeId, OnionSecret};
use x25519_dalek::StaticSecret;

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
    let (packet, _reply) = onion::build_request(rng, &p.hops, &request).unwrap();
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
        b.iter(|| onion::build_request(rng, &p.hops, black_box(&request)).is_ok())
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
    let mut g = c.benchmark_group("envelope");
    g.bench_function("seal_text", |b| {
        b.iter(|| envelope::seal(&alice, &bob.account_id(), black_box(&content), rng).is_ok())
    });
    g.bench_function("open_text", |b| {
        b.iter(|| envelope::open(&bob, black_box(&sealed)).is_ok())
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
