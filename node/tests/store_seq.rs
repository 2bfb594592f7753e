//! The store's sequence numbers, which retrieves page by: they only grow, also
//! across a restart; each store instance has its own id; a scan is bounded; a
//! store of on-disk format 1 is migrated when opened.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use sotto_node::store::{MAX_SCAN, STORE_FORMAT, Store, StoreLimits};
use sotto_protocol::constants::MAX_RETRIEVE_BYTES;
use sotto_protocol::rpc::{MessageHash, StoredMessage};
use sotto_protocol::time::DAY_MS;
use sotto_protocol::{AccountId, AccountKey, Namespace};

const NOW: u64 = 1_700_000_000_000;
const ALL: u32 = MAX_RETRIEVE_BYTES as u32;

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path(), StoreLimits::default()).unwrap()
}

fn account() -> AccountId {
    AccountKey::from_entropy([4; 16]).account_id()
}

fn msg(i: u32, timestamp: u64) -> StoredMessage {
    let data = format!("message {i}").into_bytes();
    StoredMessage::new(account(), Namespace::INBOX, data, timestamp, DAY_MS)
}

/// Pages through everything after `after`; the hashes and the last cursor.
fn read_after(s: &Store, after: u64, not_before: u64) -> (Vec<MessageHash>, u64) {
    let (mut out, mut seq) = (Vec::new(), after);
    for _ in 0..100 {
        let p = s
            .retrieve(&account(), Namespace::INBOX, seq, not_before, ALL, NOW)
            .unwrap();
        assert!(p.seq >= seq, "a cursor never goes back");
        out.extend(p.messages.iter().map(|m| m.hash));
        seq = p.seq;
        if !p.more && !p.scan_limited {
            return (out, seq);
        }
    }
    panic!("paging did not end");
}

#[test]
fn numbers_grow_across_a_restart_and_instances_differ() {
    let dir = tempfile::tempdir().unwrap();
    let (id, seq) = {
        let s = open(&dir);
        for i in 0..10 {
            s.put(msg(i, NOW), NOW).unwrap();
        }
        s.flush().unwrap();
        let (got, seq) = read_after(&s, 0, 0);
        assert_eq!(got.len(), 10);
        (s.id(), seq)
    };
    let s = open(&dir);
    assert_eq!(s.id(), id, "the instance is kept");
    // A message stored after the restart, dated before everything, comes
    // after the cursor handed out before the restart.
    let late = msg(99, NOW - DAY_MS / 2);
    s.put(late.clone(), NOW).unwrap();
    let (got, next) = read_after(&s, seq, 0);
    assert_eq!(got, vec![late.hash]);
    assert!(next > seq);

    let other = tempfile::tempdir().unwrap();
    assert_ne!(open(&other).id(), id, "a new store is a new instance");
}

#[test]
fn a_scan_is_bounded_and_goes_on_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let old = MAX_SCAN + 50;
    for i in 0..old {
        s.put(msg(i as u32, NOW - 10_000), NOW).unwrap();
    }
    let fresh = msg(1_000_000, NOW);
    s.put(fresh.clone(), NOW).unwrap();
    // A first read that leaves out everything older than NOW: the first page
    // is empty, says it stopped at the bound, and has moved the cursor.
    let p = s
        .retrieve(&account(), Namespace::INBOX, 0, NOW, ALL, NOW)
        .unwrap();
    assert!(p.messages.is_empty() && p.scan_limited && !p.more);
    assert!(p.seq > 0);
    let p2 = s
        .retrieve(&account(), Namespace::INBOX, p.seq, NOW, ALL, NOW)
        .unwrap();
    assert_eq!(
        p2.messages.iter().map(|m| m.hash).collect::<Vec<_>>(),
        vec![fresh.hash]
    );
    assert!(!p2.scan_limited);
}

#[test]
fn a_format_1_store_is_migrated_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let stored: BTreeSet<MessageHash> = {
        let s = open(&dir);
        (0..300)
            .map(|i| {
                let m = msg(i, NOW + u64::from(i));
                s.put(m.clone(), NOW).unwrap();
                m.hash
            })
            .collect()
    };
    // Rewrite it as format 1 wrote it: message records without a sequence
    // number (flag 0 or 1, shortening, postcard) and no `seqs` tree.
    {
        let db = sled::open(dir.path()).unwrap();
        let messages = db.open_tree("messages").unwrap();
        for kv in messages.iter() {
            let (k, v) = kv.unwrap();
            let mut old = vec![v[0] & 1];
            old.extend_from_slice(&v[1..9]);
            old.extend_from_slice(&v[17..]);
            messages.insert(k, old).unwrap();
        }
        db.drop_tree("seqs").unwrap();
        let meta = db.open_tree("meta").unwrap();
        meta.insert("format", &1u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let s = open(&dir);
    let (got, seq) = read_after(&s, 0, 0);
    assert_eq!(got.iter().copied().collect::<BTreeSet<_>>(), stored);
    assert_eq!(got.len(), stored.len());
    // New messages come after the migrated ones.
    let new = msg(5_000, NOW);
    s.put(new.clone(), NOW).unwrap();
    assert_eq!(read_after(&s, seq, 0).0, vec![new.hash]);
    drop(s);
    // The format is 2 now: opening again migrates nothing and keeps it all.
    let s = open(&dir);
    assert_eq!(read_after(&s, 0, 0).0.len(), stored.len() + 1);
    let db_format = {
        drop(s);
        let db = sled::open(dir.path()).unwrap();
        let v = db
            .open_tree("meta")
            .unwrap()
            .get("format")
            .unwrap()
            .unwrap();
        u64::from_be_bytes(v.as_ref().try_into().unwrap())
    };
    assert_eq!(db_format, STORE_FORMAT);
}
