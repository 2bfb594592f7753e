//! Speed of the node's store next to the engine under it, measured in the same
//! run: `Store::put` and `Store::retrieve` of 1 KiB messages, and raw sled
//! inserts of 1 KiB values under keys of the store's length.
//!
//! Criterion prints a table for each; at the end a paired measurement (the two
//! sides interleaved round by round, medians taken) prints `store layer/sled ratio:
//! X.XX`: the time of one `Store::put` over the time of one raw sled insert of
//! the same data size. A put is one transaction over six trees (message, item,
//! expiry index, usage and two node counters) plus the postcard encoding, so
//! the ratio says what that bookkeeping costs over the bare write.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/paired.rs"]
mod paired;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use paired::paired;
use sotto_node::store::{Store, StoreLimits};
use sotto_protocol::rpc::StoredMessage;
use sotto_protocol::time::DAY_MS;
use sotto_protocol::{AccountId, AccountKey, Namespace};

const NOW: u64 = 1_700_000_000_000;
const SIZE: usize = 1024;
/// Key length of the store's `messages` tree: account ‖ namespace ‖ timestamp ‖ hash.
const KEY_LEN: usize = 32 + 2 + 8 + 32;

/// A fresh 1 KiB message for one of `accounts`, unique by `n`.
fn message(accounts: &[AccountId], n: u64) -> StoredMessage {
    let mut data = vec![0x5a; SIZE];
    data[..8].copy_from_slice(&n.to_le_bytes());
    let account = accounts[(n % accounts.len() as u64) as usize];
    StoredMessage::new(account, Namespace::INBOX, data, NOW + n, DAY_MS)
}

fn raw_key(n: u64) -> [u8; KEY_LEN] {
    let mut k = [7u8; KEY_LEN];
    k[34..42].copy_from_slice(&n.to_be_bytes());
    k
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();

    let unlimited = StoreLimits {
        max_account_bytes: u64::MAX,
        max_total_bytes: u64::MAX,
        max_chunk_bytes: u64::MAX,
        max_request_bytes: u64::MAX,
    };
    let accounts: Vec<AccountId> = (0..16u8)
        .map(|i| AccountKey::from_entropy([i; 16]).account_id())
        .collect();
    let store_dir = tempfile::tempdir().unwrap();
    let store = Store::open(store_dir.path(), unlimited).unwrap();
    let raw_dir = tempfile::tempdir().unwrap();
    let raw = sled::open(raw_dir.path()).unwrap();
    let value = vec![0x5au8; SIZE];
    let mut n = 0u64;
    let mut r = 0u64;

    let mut g = c.benchmark_group("store");
    g.throughput(Throughput::Elements(1));
    g.bench_function("put_1KiB", |b| {
        b.iter_batched(
            || {
                n += 1;
                message(&accounts, n)
            },
            |m| store.put(m, NOW).unwrap(),
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("sled_insert_1KiB", |b| {
        b.iter(|| {
            r += 1;
            raw.insert(raw_key(r), value.as_slice()).unwrap()
        })
    });

    // Reads: one account with 2,000 messages, pages from a cursor in the middle.
    let reader = AccountKey::from_entropy([99; 16]).account_id();
    for i in 0..2000u64 {
        store.put(message(&[reader], 1_000_000 + i), NOW).unwrap();
    }
    // The sequence number before each message, found by walking one at a time.
    let mut cursors = Vec::new();
    let mut seq = 0;
    loop {
        let p = store
            .retrieve(&reader, Namespace::INBOX, seq, 0, 1, NOW)
            .unwrap();
        if p.messages.is_empty() {
            break;
        }
        cursors.push(seq);
        seq = p.seq;
    }
    let mut i = 0usize;
    g.bench_function("retrieve_1_message", |b| {
        b.iter(|| {
            i = (i + 7) % 1000;
            let page = store
                .retrieve(&reader, Namespace::INBOX, cursors[i], 0, 1, NOW)
                .unwrap();
            black_box(page.messages.len())
        })
    });
    g.bench_function("retrieve_page_80KiB", |b| {
        b.iter(|| {
            i = (i + 7) % 1000;
            let page = store
                .retrieve(&reader, Namespace::INBOX, cursors[i], 0, 80 * 1024, NOW)
                .unwrap();
            black_box(page.messages.len())
        })
    });
    g.finish();

    // Paired measurement for the ratio.
    let iters = 200;
    let (put, insert) = paired(
        31,
        iters,
        || {
            let batch: Vec<_> = (0..iters)
                .map(|_| {
                    n += 1;
                    message(&accounts, n)
                })
                .collect();
            let t = Instant::now();
            for m in batch {
                black_box(store.put(m, NOW).unwrap());
            }
            t.elapsed()
        },
        || {
            let t = Instant::now();
            for _ in 0..iters {
                r += 1;
                black_box(raw.insert(raw_key(r), value.as_slice()).unwrap());
            }
            t.elapsed()
        },
    );
    println!(
        "store put (1 KiB): {put:.0} ns ({:.0}/s); raw sled insert (1 KiB): {insert:.0} ns ({:.0}/s)",
        1e9 / put,
        1e9 / insert
    );
    println!("store layer/sled ratio: {:.2}", put / insert);
    c.final_summary();
}
