//! The node's message store through its public API, on real sled in temporary
//! directories: ordering and paging, idempotence and merging, deletes and
//! tombstones, expiry changes, quotas, reopening, and anti-entropy support.

// Helpers outside `#[test]` functions fail loudly too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use sotto_node::store::{
    FirstPut, PutOutcome, QuotaScope, Store, StoreError, StoreLimits, TOMBSTONE_CHARGE,
    UNHELD_TOMBSTONE_MS, Usage, charge,
};
use sotto_protocol::constants::{MAX_RETRIEVE_BYTES, MAX_TTL_MS};
use sotto_protocol::rpc::{
    DeleteRequest, DigestItem, ExpireRequest, ItemState, MessageHash, RetrievedMessage,
    StoredMessage, account_digest,
};
use sotto_protocol::time::{DAY_MS, SECOND_MS};
use sotto_protocol::{AccountId, AccountKey, Namespace};

const NOW: u64 = 1_700_000_000_000;
const NET: &str = "test";
const ALL: u32 = MAX_RETRIEVE_BYTES as u32;

fn key(n: u8) -> AccountKey {
    AccountKey::from_entropy([n; 16])
}

fn open(dir: &tempfile::TempDir) -> Store {
    Store::open(dir.path(), StoreLimits::default()).unwrap()
}

fn msg(account: AccountId, data: &[u8], timestamp: u64) -> StoredMessage {
    StoredMessage::new(account, Namespace::INBOX, data.to_vec(), timestamp, DAY_MS)
}

/// Every message of `account`'s inbox held at all (`now` 0: nothing is expired
/// yet), page by page.
fn everything(store: &Store, account: &AccountId) -> Vec<RetrievedMessage> {
    let mut all = Vec::new();
    let mut after = 0;
    for _ in 0..1000 {
        let page = store
            .retrieve(account, Namespace::INBOX, after, 0, ALL, 0)
            .unwrap();
        all.extend(page.messages);
        if !page.more && !page.scan_limited {
            return all;
        }
        after = page.seq;
    }
    panic!("paging did not end");
}

fn hashes(ms: &[RetrievedMessage]) -> Vec<MessageHash> {
    ms.iter().map(|m| m.hash).collect()
}

#[test]
fn put_then_retrieve_in_arrival_order() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let (a, b) = (key(1).account_id(), key(2).account_id());
    let mut stored = Vec::new();
    // Stored out of order, two sharing a millisecond (the hash breaks the tie).
    for (i, ts) in [NOW + 30, NOW + 10, NOW + 20, NOW + 10, NOW]
        .iter()
        .enumerate()
    {
        let m = msg(a, &[i as u8; 100], *ts);
        assert_eq!(s.put(m.clone(), NOW).unwrap(), PutOutcome::Stored);
        stored.push(m);
    }
    s.put(msg(b, b"other account", NOW), NOW).unwrap();
    let mut public = StoredMessage::new(a, Namespace::INBOX, vec![9], NOW, DAY_MS);
    public.namespace = Namespace::CONFIG; // another namespace, same account
    s.put(public, NOW).unwrap();

    // The order this node took them in, whatever their timestamps.
    let page = s.retrieve(&a, Namespace::INBOX, 0, 0, ALL, NOW).unwrap();
    assert_eq!(
        hashes(&page.messages),
        stored.iter().map(|m| m.hash).collect::<Vec<_>>()
    );
    for (got, want) in page.messages.iter().zip(&stored) {
        assert_eq!(got, &RetrievedMessage::from_stored(want, None));
    }
    assert!(
        page.seq >= 5,
        "the cursor is past the last message: {}",
        page.seq
    );
    assert!(!page.more);
    let again = s
        .retrieve(&a, Namespace::INBOX, page.seq, 0, ALL, NOW)
        .unwrap();
    assert!(again.messages.is_empty() && again.seq == page.seq);
    assert_eq!(s.message_count().unwrap(), 7);
    assert_eq!(s.usage(&a).unwrap().messages, 6);
    // An empty account: an empty page, the cursor where it was, no "more".
    let none = s
        .retrieve(&key(3).account_id(), Namespace::INBOX, 0, 0, ALL, NOW)
        .unwrap();
    assert_eq!((none.messages.len(), none.seq, none.more), (0, 0, false));
}

/// `may_hold_items` is false only for a store that held nothing when it was
/// opened and has written nothing since: the replication loops skip such a
/// store, so a store that holds something must never say false.
#[test]
fn a_store_says_it_may_hold_items_once_anything_was_written() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    assert!(!s.may_hold_items(), "a new store holds nothing");
    drop(s);
    let s = open(&dir);
    assert!(!s.may_hold_items(), "opened again with nothing written");
    let a = key(1).account_id();
    s.put(msg(a, b"one", NOW), NOW).unwrap();
    assert!(s.may_hold_items());
    drop(s);
    let s = open(&dir);
    assert!(s.may_hold_items(), "opened again on a held message");
}

#[test]
fn storing_again_is_idempotent_and_merges_times() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let a = key(1).account_id();
    let m = msg(a, b"hello", NOW);
    assert!(s.put(m.clone(), NOW).unwrap().is_new());
    let before = s.usage(&a).unwrap();
    assert_eq!(
        s.put(m.clone(), NOW).unwrap(),
        PutOutcome::Duplicate {
            timestamp: NOW,
            expiry: NOW + DAY_MS
        }
    );
    assert_eq!(s.usage(&a).unwrap(), before, "no double counting");
    assert_eq!(
        before,
        Usage {
            bytes: charge(5),
            messages: 1
        }
    );

    // A copy stored independently later (a client retried at another node):
    // the later timestamp wins, and in an inbox the later expiry too.
    let mut later = m.clone();
    later.timestamp = NOW + 5;
    later.expiry = NOW + 5 + DAY_MS;
    assert_eq!(
        s.put(later.clone(), NOW).unwrap(),
        PutOutcome::Merged {
            timestamp: NOW + 5,
            expiry: NOW + 5 + DAY_MS
        }
    );
    // An earlier copy changes nothing.
    assert!(
        matches!(s.put(m, NOW).unwrap(), PutOutcome::Duplicate { timestamp, .. } if timestamp == NOW + 5)
    );
    let all = s.retrieve(&a, Namespace::INBOX, 0, 0, ALL, NOW).unwrap();
    assert_eq!(
        all.messages,
        vec![RetrievedMessage::from_stored(&later, None)]
    );
    assert_eq!(s.usage(&a).unwrap(), before);
    assert_eq!(s.total_bytes().unwrap(), before.bytes);
}

#[test]
fn a_late_message_lands_after_every_cursor_handed_out() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let a = key(1).account_id();
    let ms: Vec<_> = (0..5u64)
        .map(|i| msg(a, &[i as u8 + 1], NOW + i * 1000))
        .collect();
    for m in &ms {
        s.put(m.clone(), NOW).unwrap();
    }
    let first = s.retrieve(&a, Namespace::INBOX, 0, 0, ALL, NOW).unwrap();
    assert_eq!(hashes(&first.messages), hashes_of(&ms));
    let p = s
        .retrieve(&a, Namespace::INBOX, first.seq, 0, ALL, NOW)
        .unwrap();
    assert!(p.messages.is_empty() && !p.more);

    // A message reaches this node late (by replication, from a member whose
    // clock is minutes slow), dated before everything handed out: it is
    // numbered after the cursor, so the reader's next page has it.
    let late = msg(a, b"late", NOW - 10 * 60_000);
    s.put(late.clone(), NOW).unwrap();
    let p = s
        .retrieve(&a, Namespace::INBOX, first.seq, 0, ALL, NOW)
        .unwrap();
    assert_eq!(hashes(&p.messages), vec![late.hash]);
    assert!(p.seq > first.seq);

    // A merge that re-dates a held message keeps its number: a reader past
    // it does not get it again.
    let mut redated = ms[0].clone();
    redated.timestamp += 1;
    redated.expiry += 1;
    assert!(matches!(
        s.put(redated, NOW).unwrap(),
        PutOutcome::Merged { .. }
    ));
    let p2 = s
        .retrieve(&a, Namespace::INBOX, p.seq, 0, ALL, NOW)
        .unwrap();
    assert!(p2.messages.is_empty());
    assert_eq!(everything(&s, &a).len(), 6);

    // A first read by time leaves out what is dated before `not_before`.
    let recent = s
        .retrieve(&a, Namespace::INBOX, 0, NOW + 2500, ALL, NOW)
        .unwrap();
    assert_eq!(hashes(&recent.messages), vec![ms[3].hash, ms[4].hash]);
}

fn hashes_of(ms: &[StoredMessage]) -> Vec<MessageHash> {
    ms.iter().map(|m| m.hash).collect()
}

#[test]
fn byte_limit_pages_with_more() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let a = key(1).account_id();
    for i in 0..10u64 {
        s.put(msg(a, &[i as u8; 1000], NOW + i), NOW).unwrap();
    }
    let mut after = 0;
    let mut pages = Vec::new();
    loop {
        let p = s
            .retrieve(&a, Namespace::INBOX, after, 0, 2500, NOW)
            .unwrap();
        assert!(p.messages.len() <= 2);
        assert!(
            !p.messages.is_empty(),
            "a page that follows `more` makes progress"
        );
        pages.push(p.messages.len());
        after = p.seq;
        if !p.more {
            break;
        }
    }
    assert_eq!(pages, vec![2, 2, 2, 2, 2]);
    // A message larger than the limit still comes, alone.
    let p = s.retrieve(&a, Namespace::INBOX, 0, 0, 10, NOW).unwrap();
    assert_eq!(p.messages.len(), 1);
    assert!(p.more);
}

#[test]
fn expired_messages_are_not_returned() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let a = key(1).account_id();
    let short = StoredMessage::new(a, Namespace::INBOX, b"short".to_vec(), NOW, 10 * SECOND_MS);
    let long = msg(a, b"long", NOW + 1);
    s.put(short.clone(), NOW).unwrap();
    s.put(long.clone(), NOW).unwrap();
    let at = |now| {
        hashes(
            &s.retrieve(&a, Namespace::INBOX, 0, 0, ALL, now)
                .unwrap()
                .messages,
        )
    };
    assert_eq!(at(NOW + 9_999), vec![short.hash, long.hash]);
    assert_eq!(at(NOW + 10_000), vec![long.hash]);
    // Storing what has already expired is refused.
    let err = s.put(short, NOW + 10_000).unwrap_err();
    assert!(matches!(err, StoreError::Expired { .. }), "{err}");
    // The purge removes it and its charge.
    assert_eq!(s.purge_expired(NOW + 10_000, 100).unwrap(), 1);
    assert_eq!(
        s.usage(&a).unwrap(),
        Usage {
            bytes: charge(4),
            messages: 1
        }
    );
    assert_eq!(s.purge_expired(NOW + 10_000, 100).unwrap(), 0);
}

#[test]
fn delete_leaves_a_tombstone_that_refuses_the_message() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let k = key(1);
    let a = k.account_id();
    let m = msg(a, b"secret", NOW);
    let keep = msg(a, b"keep", NOW);
    s.put(m.clone(), NOW).unwrap();
    s.put(keep.clone(), NOW).unwrap();
    let unknown = MessageHash([7; 32]);
    let del = DeleteRequest::signed(
        &k,
        NET,
        Namespace::INBOX,
        vec![m.hash, unknown, m.hash],
        NOW,
    )
    .unwrap();
    assert_eq!(s.delete(&del, NOW).unwrap(), vec![m.hash]);
    assert_eq!(hashes(&everything(&s, &a)), vec![keep.hash]);
    // The two tombstones are charged, the deleted message no longer.
    assert_eq!(
        s.usage(&a).unwrap(),
        Usage {
            bytes: charge(4) + 2 * TOMBSTONE_CHARGE,
            messages: 1
        }
    );
    assert_eq!(s.total_bytes().unwrap(), charge(4) + 2 * TOMBSTONE_CHARGE);
    assert_eq!(s.message_count().unwrap(), 1);

    // The deleted message and the one never seen are both refused now.
    let err = s.put(m.clone(), NOW + 1).unwrap_err();
    assert!(
        matches!(err, StoreError::Deleted { hash, .. } if hash == m.hash),
        "{err}"
    );
    let mut later = m.clone();
    later.timestamp = NOW + 60_000;
    later.expiry = NOW + 60_000 + DAY_MS;
    assert!(
        s.put(later, NOW + 60_000).is_err(),
        "no copy comes back, whatever its times"
    );
    let (items, more) = s.list(&a, None, 10, NOW).unwrap();
    assert!(!more);
    let deleted: BTreeSet<_> = items
        .iter()
        .filter(|i| i.is_deleted())
        .map(|i| i.hash)
        .collect();
    assert_eq!(deleted, BTreeSet::from([m.hash, unknown]));
    // The signed request is kept as proof and handed on once.
    let f = s.fetch(&[(a, m.hash), (a, unknown)], NOW).unwrap();
    assert_eq!(f.deletes, vec![del.clone()]);
    assert!(f.messages.is_empty() && f.expiries.is_empty());
    // Deleting again changes nothing and reports nothing.
    assert!(s.delete(&del, NOW + 2).unwrap().is_empty());
    assert_eq!(s.usage(&a).unwrap().messages, 1);
}

#[test]
fn tombstones_end_with_the_message_expiry_and_are_purged() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let k = key(1);
    let a = k.account_id();
    let m = msg(a, b"x", NOW);
    s.put(m.clone(), NOW).unwrap();
    let unknown = MessageHash([7; 32]);
    let del = DeleteRequest::signed(&k, NET, Namespace::INBOX, vec![m.hash, unknown], NOW).unwrap();
    s.delete(&del, NOW).unwrap();
    let ends = del.tombstone_expiry(Some(m.expiry));
    assert_eq!(ends, m.expiry);
    // The unknown hash's tombstone lasts only the replication-lag window
    // (issue 12: not as long as any message the delete could be about).
    let lag_end = NOW + UNHELD_TOMBSTONE_MS;
    assert!(lag_end < ends && lag_end < del.tombstone_expiry(None));
    assert_eq!(s.purge_expired(lag_end - 1, 100).unwrap(), 0);
    assert_eq!(s.purge_expired(lag_end, 100).unwrap(), 1);
    let (items, _) = s.list(&a, None, 10, lag_end).unwrap();
    assert_eq!(items, vec![DigestItem::deleted(m.hash, Namespace::INBOX)]);
    assert_eq!(s.purge_expired(ends - 1, 100).unwrap(), 0);
    assert_eq!(s.purge_expired(ends, 100).unwrap(), 1);
    let bound = ends;
    assert!(s.list(&a, None, 10, bound).unwrap().0.is_empty());
    assert!(
        s.fetch(&[(a, m.hash)], NOW).unwrap().deletes.is_empty(),
        "proof gone with its last tombstone"
    );
    assert!(s.accounts().next().is_none());
    // After its tombstone ended, the same message may be stored again.
    let again = msg(a, b"x", bound);
    assert_eq!(s.put(again, bound).unwrap(), PutOutcome::Stored);
}

#[test]
fn expire_only_shortens_and_keeps_the_proof() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let k = key(1);
    let a = k.account_id();
    let m = msg(a, b"after read", NOW);
    s.put(m.clone(), NOW).unwrap();
    let expiry_at = |now| {
        s.retrieve(&a, Namespace::INBOX, 0, 0, ALL, now)
            .unwrap()
            .messages
            .first()
            .map(|r| r.expiry)
    };

    // Later than the message's expiry: no change.
    let longer = ExpireRequest::signed(
        &k,
        NET,
        Namespace::INBOX,
        vec![m.hash],
        NOW + 2 * DAY_MS,
        NOW,
    )
    .unwrap();
    assert!(s.expire(&longer, NOW).unwrap().is_empty());
    assert_eq!(expiry_at(NOW), Some(NOW + DAY_MS));
    // Earlier: shortened.
    let hour = ExpireRequest::signed(
        &k,
        NET,
        Namespace::INBOX,
        vec![m.hash],
        NOW + 3_600_000,
        NOW,
    )
    .unwrap();
    assert_eq!(s.expire(&hour, NOW).unwrap(), vec![m.hash]);
    assert_eq!(expiry_at(NOW), Some(NOW + 3_600_000));
    // A later change does not lengthen it again.
    let two_hours = ExpireRequest::signed(
        &k,
        NET,
        Namespace::INBOX,
        vec![m.hash],
        NOW + 7_200_000,
        NOW,
    )
    .unwrap();
    assert!(s.expire(&two_hours, NOW).unwrap().is_empty());
    assert_eq!(expiry_at(NOW), Some(NOW + 3_600_000));
    // A change at or before the message's timestamp is refused for it.
    let replay = ExpireRequest::signed(&k, NET, Namespace::INBOX, vec![m.hash], NOW, NOW).unwrap();
    assert!(s.expire(&replay, NOW).unwrap().is_empty());
    assert_eq!(expiry_at(NOW), Some(NOW + 3_600_000));
    // The earliest change is what anti-entropy sees and hands on.
    let (items, _) = s.list(&a, None, 10, NOW).unwrap();
    assert_eq!(
        items,
        vec![DigestItem::of_message(&m, Some(NOW + 3_600_000))]
    );
    let f = s.fetch(&[(a, m.hash)], NOW).unwrap();
    assert_eq!((f.messages, f.expiries), (vec![m.clone()], vec![hour]));
    // A merge with a longer-lived copy keeps the owner's shortening.
    let mut copy = m.clone();
    copy.expiry = NOW + 3 * DAY_MS;
    assert!(matches!(
        s.put(copy, NOW).unwrap(),
        PutOutcome::Merged { .. }
    ));
    assert_eq!(expiry_at(NOW), Some(NOW + 3_600_000));
    // Gone at the shortened expiry, and purged then.
    assert_eq!(expiry_at(NOW + 3_600_000), None);
    assert_eq!(s.purge_expired(NOW + 3_600_000, 10).unwrap(), 1);
    assert_eq!(s.usage(&a).unwrap(), Usage::default());
    assert!(s.fetch(&[(a, m.hash)], NOW).unwrap().expiries.is_empty());
}

#[test]
fn a_client_store_again_gets_the_held_copy_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let k = key(1);
    let a = k.account_id();
    let m = msg(a, b"resent", NOW);
    assert_eq!(
        s.put_first(m.clone(), NOW).unwrap(),
        FirstPut::Put(PutOutcome::Stored)
    );
    // The same message a second later (a client whose answer was lost): the
    // held copy keeps its timestamp, so no reader's cursor passes it.
    let mut again = m.clone();
    again.timestamp = NOW + SECOND_MS;
    again.expiry = NOW + SECOND_MS + DAY_MS;
    assert_eq!(
        s.put_first(again.clone(), NOW + SECOND_MS).unwrap(),
        FirstPut::Held {
            message: m.clone(),
            expiry: NOW + DAY_MS
        }
    );
    assert_eq!(everything(&s, &a)[0].timestamp, NOW);
    // The owner's shortening is what is served.
    let hour = ExpireRequest::signed(
        &k,
        NET,
        Namespace::INBOX,
        vec![m.hash],
        NOW + 3_600_000,
        NOW,
    )
    .unwrap();
    s.expire(&hour, NOW).unwrap();
    assert!(matches!(
        s.put_first(again.clone(), NOW + SECOND_MS).unwrap(),
        FirstPut::Held { expiry, .. } if expiry == NOW + 3_600_000
    ));
    // Where the held copy is no longer live, put's rules apply (merge here).
    assert!(matches!(
        s.put_first(again, NOW + 3_600_000).unwrap(),
        FirstPut::Put(PutOutcome::Merged { .. })
    ));
    // A deleted message is refused, as by put.
    let del = DeleteRequest::signed(&k, NET, Namespace::INBOX, vec![m.hash], NOW + 2).unwrap();
    s.delete(&del, NOW + 2).unwrap();
    assert!(matches!(
        s.put_first(msg(a, b"resent", NOW + 3), NOW + 3),
        Err(StoreError::Deleted { .. })
    ));
}

#[path = "store/history.rs"]
mod history;
#[path = "store/limits.rs"]
mod limits;
