//! Per-call cost of what grows with the network, at 10,000 and 20,000 nodes:
//!
//! - `swarm`: a node's [`Directory::swarm`] (the swarm function over the
//!   directory's position index, one place per /24 with every /24 holding
//!   two nodes; target ≤ 10 µs at 20,000 nodes);
//! - `digest_round`: the directory work of one anti-entropy digest round of
//!   1,024 accounts (the most one `Digest` may carry): the sender's plan
//!   (each held account's swarm, its members' entries) and the receiver's
//!   filter (is this node in each account's swarm). The store's own digests
//!   do not depend on the network's size and are not measured here;
//! - `path_selection`: a client choosing the three relays of a new path
//!   (guard given, the destination's swarm and the other guard excluded, one
//!   relay per /24) from a pool of every node.
//!
//! For comparison it also prints the per-call time of the swarm function as
//! it was computed before the index (`swarm_among`: sort the whole
//! directory). Each prints its per-call time (`cargo bench -p sotto-client --bench
//! directory`); the directories are built once per size, before timing.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::collections::{BTreeMap, HashSet};
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;
use sotto_client::paths::{Candidate, RELAYS, choose};
use sotto_node::directory::{Directory, VerifiedRecord};
use sotto_protocol::constants::{MAX_DIGEST_ENTRIES, PROTOCOL_VERSION};
use sotto_protocol::position::swarm_among;
use sotto_protocol::record::{NodeRecord, OnionKeyEntry, SignedNodeRecord};
use sotto_protocol::time::HOUR_MS;
use sotto_protocol::{
    AccountId, AccountKey, NetworkParams, NodeId, NodeKey, OnionSecret, Position,
};

const SIZES: [usize; 2] = [10_000, 20_000];

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A devnet record of node `i` (no admission work), on its own /24.
fn record(i: usize, onion: &OnionSecret, now: u64) -> SignedNodeRecord {
    let mut secret = [0u8; 32];
    secret[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    let key = NodeKey::from_secret_bytes(&secret);
    // Public addresses, two nodes per /24: the swarm walk keeps one of
    // each pair, as on the public network (`swarm_for_diverse`).
    let pair = i / 2;
    let addr = format!(
        "/ip4/44.{}.{}.{}/tcp/4600",
        (pair >> 8) & 0xff,
        pair & 0xff,
        i % 2 + 1
    );
    NodeRecord {
        version: PROTOCOL_VERSION,
        network: "devnet".into(),
        node: key.node_id(),
        addrs: vec![addr],
        onion_keys: vec![OnionKeyEntry {
            key: onion.public(),
            valid_from: now - HOUR_MS,
            valid_until: now + HOUR_MS,
        }],
        issued_at: now - 1_000,
        expires_at: now + HOUR_MS,
        admission: sotto_protocol::record::admission::Admission::default(),
    }
    .sign(&key)
    .unwrap()
}

fn accounts(n: usize) -> Vec<AccountId> {
    (0..n)
        .map(|i| {
            let mut e = [0u8; 16];
            e[..8].copy_from_slice(&(i as u64).to_le_bytes());
            AccountKey::from_entropy(e).account_id()
        })
        .collect()
}

/// Times `f` over `rounds` calls and prints the mean per call.
fn per_call(name: &str, rounds: u32, mut f: impl FnMut(u32)) {
    let start = Instant::now();
    for i in 0..rounds {
        f(i);
    }
    let each = start.elapsed() / rounds;
    println!("{name}: {:.2} µs per call", each.as_secs_f64() * 1e6);
}

fn bench(c: &mut Criterion) {
    let params = NetworkParams::devnet();
    let r = usize::from(params.swarm_size);
    let mut seeded: rand::rngs::ChaCha20Rng = rand::SeedableRng::seed_from_u64(7);
    let onion = OnionSecret::generate(&mut seeded);
    let now = now();
    let accts = accounts(MAX_DIGEST_ENTRIES);
    for n in SIZES {
        let mut dir = Directory::new(params.clone(), n);
        for i in 0..n {
            let verified = VerifiedRecord::verify(record(i, &onion, now), &params, now).unwrap();
            dir.insert(verified, now).unwrap();
        }
        assert_eq!(dir.len(), n);
        let me = dir.nodes()[n / 2];

        let mut g = c.benchmark_group(format!("directory/{n}"));
        g.measurement_time(Duration::from_secs(3));
        g.bench_function("swarm", |b| {
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % accts.len();
                black_box(dir.swarm(&accts[i]))
            })
        });
        g.bench_function("digest_round", |b| {
            b.iter(|| black_box(digest_round(&dir, &accts, me)))
        });
        let pool: Vec<Candidate> = dir
            .nodes()
            .iter()
            .enumerate()
            .map(|(i, node)| Candidate {
                node: *node,
                subnets: vec![sotto_client::directory::Subnet::V4([
                    10,
                    ((i >> 8) & 0xff) as u8,
                    (i & 0xff) as u8,
                ])],
            })
            .collect();
        let guards = [pool[1].clone(), pool[2].clone()];
        g.bench_function("path_selection", |b| {
            let mut rng = rand::rng();
            let mut i = 0;
            b.iter(|| {
                i = (i + 1) % accts.len();
                let mut exclude: HashSet<NodeId> = dir.swarm(&accts[i]).into_iter().collect();
                exclude.insert(guards[1].node);
                black_box(choose(
                    &mut rng,
                    &pool,
                    Some(&guards[0]),
                    RELAYS,
                    &exclude,
                    false,
                ))
            })
        });
        g.finish();

        per_call(&format!("swarm lookup at {n} nodes"), 20_000, |i| {
            black_box(dir.swarm(&accts[i as usize % accts.len()]));
        });
        // What every lookup cost before the index: sort the whole directory.
        let placed: Vec<(Position, NodeId)> = dir
            .nodes()
            .iter()
            .map(|node| {
                let proof = dir.get(node).unwrap().record.admission;
                (Position::of_node(node, proof), *node)
            })
            .collect();
        per_call(
            &format!("swarm lookup by sorting (swarm_among) at {n} nodes"),
            100,
            |i| {
                black_box(swarm_among(&accts[i as usize % accts.len()], &placed, r));
            },
        );
        per_call(
            &format!("anti-entropy digest round (1,024 accounts) at {n} nodes"),
            20,
            |_| {
                black_box(digest_round(&dir, &accts, me));
            },
        );
        let mut rng = rand::rng();
        per_call(&format!("path selection at {n} nodes"), 20_000, |i| {
            let mut exclude: HashSet<NodeId> = dir
                .swarm(&accts[i as usize % accts.len()])
                .into_iter()
                .collect();
            exclude.insert(guards[1].node);
            black_box(choose(
                &mut rng,
                &pool,
                Some(&guards[0]),
                RELAYS,
                &exclude,
                false,
            ));
        });
        assert_eq!(dir.swarm(&accts[0]).len(), r);
    }
}

/// The directory work of one digest round over `accounts`: the sender's
/// plan (as `anti_entropy_once` builds it) and the receiver's filter (as the
/// `Digest` handler does).
fn digest_round(dir: &Directory, accounts: &[AccountId], me: NodeId) -> usize {
    let mut plan = BTreeMap::<NodeId, Vec<AccountId>>::new();
    for account in accounts {
        let swarm = dir.swarm(account);
        for node in swarm.iter().filter(|n| **n != me) {
            if dir.get(node).is_some() {
                plan.entry(*node).or_default().push(*account);
            }
        }
    }
    let served = accounts.iter().filter(|a| dir.in_swarm(a, &me)).count();
    plan.len() + served
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
