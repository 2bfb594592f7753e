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

#[test]
fn account_quota_refuses_and_keeps_what_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let limits = StoreLimits {
        max_account_bytes: 3 * charge(1000),
        max_total_bytes: 100 * charge(1000),
    };
    let s = Store::open(dir.path(), limits).unwrap();
    let k = key(1);
    let a = k.account_id();
    let ms: Vec<_> = (0..3u64)
        .map(|i| msg(a, &[i as u8; 1000], NOW + i))
        .collect();
    for m in &ms {
        s.put(m.clone(), NOW).unwrap();
    }
    let before = s.usage(&a).unwrap();
    let err = s.put(msg(a, &[9; 1000], NOW + 9), NOW).unwrap_err();
    match err {
        StoreError::QuotaExceeded {
            scope,
            used,
            needed,
            limit,
        } => {
            assert_eq!(scope, QuotaScope::Account);
            assert_eq!(
                (used, needed, limit),
                (3 * charge(1000), charge(1000), 3 * charge(1000))
            );
        }
        other => panic!("{other}"),
    }
    assert!(
        s.put(msg(a, &[9], NOW + 9), NOW).is_err(),
        "even one byte more"
    );
    assert_eq!(s.usage(&a).unwrap(), before);
    let all = everything(&s, &a);
    assert_eq!(all.len(), 3);
    for (got, m) in all.iter().zip(&ms) {
        assert_eq!(got.data, m.data, "earlier messages intact");
    }
    // Re-storing what is held is still fine, and so is another account.
    assert!(matches!(
        s.put(ms[0].clone(), NOW).unwrap(),
        PutOutcome::Duplicate { .. }
    ));
    s.put(msg(key(2).account_id(), &[1; 1000], NOW), NOW)
        .unwrap();
    // Deleting makes room: the message's charge less its tombstone's.
    let del = DeleteRequest::signed(&k, NET, Namespace::INBOX, vec![ms[0].hash], NOW).unwrap();
    s.delete(&del, NOW).unwrap();
    assert_eq!(
        s.usage(&a).unwrap().bytes,
        2 * charge(1000) + TOMBSTONE_CHARGE
    );
    let room = usize::try_from(charge(1000) - TOMBSTONE_CHARGE - charge(0)).unwrap();
    assert!(s.put(msg(a, &vec![9; room + 1], NOW + 9), NOW).is_err());
    s.put(msg(a, &vec![9; room], NOW + 9), NOW).unwrap();
    assert_eq!(s.usage(&a).unwrap().bytes, limits.max_account_bytes);
}

#[test]
fn node_quota_refuses_and_keeps_what_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let limits = StoreLimits {
        max_account_bytes: 100 * charge(1000),
        max_total_bytes: 3 * charge(1000),
    };
    let s = Store::open(dir.path(), limits).unwrap();
    let (a, b) = (key(1).account_id(), key(2).account_id());
    s.put(msg(a, &[1; 1000], NOW), NOW).unwrap();
    s.put(msg(a, &[2; 1000], NOW), NOW).unwrap();
    s.put(msg(b, &[3; 1000], NOW), NOW).unwrap();
    let err = s.put(msg(b, &[4; 1000], NOW), NOW).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::QuotaExceeded {
                scope: QuotaScope::Node,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.is_refusal());
    assert_eq!(s.total_bytes().unwrap(), 3 * charge(1000));
    assert_eq!(everything(&s, &a).len(), 2);
    assert_eq!(everything(&s, &b).len(), 1);
    // Expiry makes room.
    assert_eq!(s.purge_expired(NOW + DAY_MS, 10).unwrap(), 3);
    assert_eq!(
        (s.total_bytes().unwrap(), s.message_count().unwrap()),
        (0, 0)
    );
    s.put(msg(b, &[4; 1000], NOW + DAY_MS), NOW + DAY_MS)
        .unwrap();
}

#[test]
fn data_and_counters_survive_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let k = key(1);
    let a = k.account_id();
    let (page, usage, total, digest, items);
    {
        let s = open(&dir);
        for i in 0..20u64 {
            s.put(msg(a, &[i as u8; 300], NOW + i), NOW).unwrap();
        }
        let first = everything(&s, &a);
        let del =
            DeleteRequest::signed(&k, NET, Namespace::INBOX, vec![first[0].hash], NOW).unwrap();
        s.delete(&del, NOW).unwrap();
        let exp = ExpireRequest::signed(
            &k,
            NET,
            Namespace::INBOX,
            vec![first[1].hash],
            NOW + 60_000,
            NOW,
        )
        .unwrap();
        s.expire(&exp, NOW).unwrap();
        s.flush().unwrap();
        page = s.retrieve(&a, Namespace::INBOX, 0, 0, ALL, NOW).unwrap();
        usage = s.usage(&a).unwrap();
        total = (s.total_bytes().unwrap(), s.message_count().unwrap());
        digest = s.digest(&a, NOW).unwrap();
        items = s.list(&a, None, 100, NOW).unwrap();
    }
    let s = open(&dir);
    assert_eq!(
        s.retrieve(&a, Namespace::INBOX, 0, 0, ALL, NOW).unwrap(),
        page
    );
    assert_eq!(s.usage(&a).unwrap(), usage);
    assert_eq!(
        usage,
        Usage {
            bytes: 19 * charge(300) + TOMBSTONE_CHARGE,
            messages: 19
        }
    );
    assert_eq!(
        (s.total_bytes().unwrap(), s.message_count().unwrap()),
        total
    );
    assert_eq!(s.digest(&a, NOW).unwrap(), digest);
    assert_eq!(s.list(&a, None, 100, NOW).unwrap(), items);
    assert_eq!(page.messages[0].expiry, NOW + 60_000);
}

#[test]
fn digest_list_and_fetch_agree_with_what_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let k = key(1);
    let a = k.account_id();
    let ms: Vec<_> = (0..40u64)
        .map(|i| msg(a, &i.to_le_bytes(), NOW + i))
        .collect();
    for m in &ms {
        s.put(m.clone(), NOW).unwrap();
    }
    s.put(msg(key(2).account_id(), b"elsewhere", NOW), NOW)
        .unwrap();
    let del = DeleteRequest::signed(&k, NET, Namespace::INBOX, vec![ms[0].hash, ms[1].hash], NOW)
        .unwrap();
    s.delete(&del, NOW).unwrap();

    // Page through the listing, seven at a time.
    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let (page, more) = s.list(&a, after, 7, NOW).unwrap();
        assert!(page.len() <= 7);
        after = page.last().map(|i| i.hash);
        listed.extend(page);
        if !more {
            break;
        }
    }
    assert_eq!(listed.len(), 40);
    assert!(
        listed.windows(2).all(|w| w[0].hash < w[1].hash),
        "hash order"
    );
    let want: BTreeMap<MessageHash, DigestItem> = ms
        .iter()
        .map(|m| {
            let item = if m.hash == ms[0].hash || m.hash == ms[1].hash {
                DigestItem::deleted(m.hash, Namespace::INBOX)
            } else {
                DigestItem::of_message(m, None)
            };
            (m.hash, item)
        })
        .collect();
    assert_eq!(listed, want.values().copied().collect::<Vec<_>>());
    let d = s.digest(&a, NOW).unwrap();
    assert_eq!(d.digest, account_digest(listed.iter().copied()));
    assert_eq!((d.account, d.count), (a, 40));

    let asked: Vec<_> = ms.iter().map(|m| (a, m.hash)).collect();
    let f = s.fetch(&asked, NOW).unwrap();
    assert_eq!(f.messages, ms[2..].to_vec());
    assert_eq!(f.deletes, vec![del], "one proof for both tombstones");

    // Expiry changes the digest at `now`, purged or not.
    let later = NOW + 2 * DAY_MS;
    assert_eq!(s.digest(&a, later).unwrap().count, 0);
    assert_eq!(
        s.digest(&a, later).unwrap().digest,
        account_digest(std::iter::empty())
    );
    assert_eq!(s.list(&a, None, 7, later).unwrap(), (vec![], false));
}

#[test]
fn stores_fed_in_different_orders_converge() {
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (s1, s2) = (open(&d1), open(&d2));
    let k = key(1);
    let a = k.account_id();
    let mut ms: Vec<_> = (0..30u64)
        .map(|i| msg(a, &[i as u8; 10], NOW + i * 7))
        .collect();
    // Two copies of one message with different times (stored twice
    // independently): both stores must end on the merged copy.
    let mut copy = ms[3].clone();
    copy.timestamp += 1000;
    copy.expiry -= 5;
    ms.push(copy);
    let del = DeleteRequest::signed(&k, NET, Namespace::INBOX, vec![ms[5].hash], NOW).unwrap();
    let exp = ExpireRequest::signed(
        &k,
        NET,
        Namespace::INBOX,
        vec![ms[6].hash],
        NOW + 50_000,
        NOW,
    )
    .unwrap();

    for m in &ms {
        s1.put(m.clone(), NOW).unwrap();
    }
    s1.delete(&del, NOW).unwrap();
    s1.expire(&exp, NOW).unwrap();

    // The other store gets the delete first, then the messages backwards.
    s2.delete(&del, NOW).unwrap();
    for m in ms.iter().rev() {
        match s2.put(m.clone(), NOW) {
            Ok(_) => {}
            Err(StoreError::Deleted { hash, .. }) => assert_eq!(hash, ms[5].hash),
            Err(e) => panic!("{e}"),
        }
    }
    s2.expire(&exp, NOW).unwrap();

    assert_eq!(s1.digest(&a, NOW).unwrap(), s2.digest(&a, NOW).unwrap());
    assert_eq!(
        s1.list(&a, None, 100, NOW).unwrap(),
        s2.list(&a, None, 100, NOW).unwrap()
    );
    // The same messages; each store hands them out in its own arrival order.
    let sorted = |s: &Store| {
        let mut all = everything(s, &a);
        all.sort_by_key(|m| m.hash);
        all
    };
    assert_eq!(sorted(&s1), sorted(&s2));
    assert_eq!(s1.usage(&a).unwrap(), s2.usage(&a).unwrap());
    let merged = s1.list(&a, Some(MessageHash::ZERO), 100, NOW).unwrap().0;
    let item = merged.iter().find(|i| i.hash == ms[3].hash).unwrap();
    assert_eq!(
        item.state,
        ItemState::Present {
            timestamp: NOW + 21 + 1000,
            expiry: NOW + 21 + DAY_MS,
            shortened: None
        }
    );
}

#[test]
fn accounts_and_handing_an_account_off() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(&dir);
    let (k1, k2) = (key(1), key(2));
    let (a, b) = (k1.account_id(), k2.account_id());
    for i in 0..600u64 {
        s.put(msg(a, &i.to_le_bytes(), NOW), NOW).unwrap();
    }
    s.put(msg(b, b"b's", NOW), NOW).unwrap();
    let gone = msg(a, b"deleted", NOW);
    s.put(gone.clone(), NOW).unwrap();
    let del = DeleteRequest::signed(&k1, NET, Namespace::INBOX, vec![gone.hash], NOW).unwrap();
    s.delete(&del, NOW).unwrap();
    let mut want = vec![a, b];
    want.sort();
    assert_eq!(s.accounts().collect::<Result<Vec<_>, _>>().unwrap(), want);

    assert_eq!(
        s.remove_account(&a).unwrap(),
        601,
        "600 messages and a tombstone"
    );
    assert_eq!(
        s.accounts().collect::<Result<Vec<_>, _>>().unwrap(),
        vec![b]
    );
    assert_eq!(s.usage(&a).unwrap(), Usage::default());
    assert_eq!(s.total_bytes().unwrap(), charge(3));
    assert_eq!(s.message_count().unwrap(), 1);
    assert!(everything(&s, &a).is_empty());
    assert!(s.fetch(&[(a, gone.hash)], NOW).unwrap().deletes.is_empty());
    assert_eq!(
        s.purge_expired(NOW + 2 * MAX_TTL_MS, 1000).unwrap(),
        1,
        "no stale index entries"
    );
    assert_eq!(s.remove_account(&a).unwrap(), 0);
}

/// One step of a random history.
#[derive(Clone, Debug)]
enum Op {
    /// Store message `data` (a small id) for account `acc` living `ttl_s` seconds.
    Put { acc: u8, data: u8, ttl_s: u64 },
    /// The owner of `acc` deletes the messages with these ids.
    Delete { acc: u8, data: Vec<u8> },
    /// The owner of `acc` shortens these to `in_s` seconds from now.
    Expire { acc: u8, data: Vec<u8>, in_s: u64 },
    /// Time moves on by `s` seconds, and the purge runs in batches of 3.
    Purge { s: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..3u8, 0..12u8, 10..200u64).prop_map(|(acc, data, ttl_s)| Op::Put { acc, data, ttl_s }),
        1 => (0..3u8, prop::collection::vec(0..12u8, 1..4))
            .prop_map(|(acc, data)| Op::Delete { acc, data }),
        1 => (0..3u8, prop::collection::vec(0..12u8, 1..4), 1..100u64)
            .prop_map(|(acc, data, in_s)| Op::Expire { acc, data, in_s }),
        1 => (1..120u64).prop_map(|s| Op::Purge { s }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Whatever happens, each account's usage is the charge of the messages it
    /// holds, the node's totals are the sums, refusals change nothing, and a
    /// deleted message is never served again while its tombstone lasts.
    #[test]
    fn counters_follow_random_histories(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let limits = StoreLimits { max_account_bytes: 6 * charge(100), max_total_bytes: 12 * charge(100) };
        let s = Store::open(dir.path(), limits).unwrap();
        let keys: Vec<AccountKey> = (1..=3).map(key).collect();
        let data = |d: u8| vec![d; 20 + 10 * usize::from(d % 9)];
        let mut now = NOW;
        let mut deleted: BTreeMap<MessageHash, u64> = BTreeMap::new();
        for op in ops {
            let before = (s.total_bytes().unwrap(), s.message_count().unwrap());
            match op {
                Op::Put { acc, data: d, ttl_s } => {
                    let a = keys[usize::from(acc)].account_id();
                    let m = StoredMessage::new(a, Namespace::INBOX, data(d), now, ttl_s * SECOND_MS);
                    match s.put(m.clone(), now) {
                        Ok(_) => prop_assert!(deleted.get(&m.hash).is_none_or(|until| *until <= now)),
                        Err(StoreError::Deleted { .. }) => {
                            prop_assert!(deleted.get(&m.hash).is_some_and(|until| *until > now));
                        }
                        Err(e) => {
                            prop_assert!(e.is_refusal(), "{}", e);
                            prop_assert_eq!((s.total_bytes().unwrap(), s.message_count().unwrap()), before);
                        }
                    }
                }
                Op::Delete { acc, data: ds } => {
                    let k = &keys[usize::from(acc)];
                    let hs: Vec<_> = ds.iter().map(|d| MessageHash::compute(&k.account_id(), Namespace::INBOX, &data(*d))).collect();
                    let req = DeleteRequest::signed(k, NET, Namespace::INBOX, hs.clone(), now).unwrap();
                    // The model: a tombstone lasts until the held message's own
                    // expiry, or the longest any message may live if none is held;
                    // a live tombstone is left as it is.
                    let (items, _) = s.list(&k.account_id(), None, 1000, 0).unwrap();
                    let own_expiry: BTreeMap<_, _> = items
                        .iter()
                        .filter_map(|i| match i.state {
                            ItemState::Present { expiry, .. } => Some((i.hash, expiry)),
                            ItemState::Deleted => None,
                        })
                        .collect();
                    s.delete(&req, now).unwrap();
                    for h in hs {
                        if deleted.get(&h).is_none_or(|until| *until <= now) {
                            deleted.insert(h, req.tombstone_expiry(own_expiry.get(&h).copied()));
                        }
                    }
                }
                Op::Expire { acc, data: ds, in_s } => {
                    let k = &keys[usize::from(acc)];
                    let hs: Vec<_> = ds.iter().map(|d| MessageHash::compute(&k.account_id(), Namespace::INBOX, &data(*d))).collect();
                    let req = ExpireRequest::signed(k, NET, Namespace::INBOX, hs, now + in_s * SECOND_MS, now).unwrap();
                    s.expire(&req, now).unwrap();
                }
                Op::Purge { s: secs } => {
                    now += secs * SECOND_MS;
                    while s.purge_expired(now, 3).unwrap() == 3 {}
                }
            }
            let mut total = Usage::default();
            let mut total_message_bytes = 0;
            for k in &keys {
                let a = k.account_id();
                let held = everything(&s, &a);
                // Tombstones not purged yet (`now` 0: every item listed).
                let (items, _) = s.list(&a, None, 1000, 0).unwrap();
                let tombstones = items.iter().filter(|i| i.is_deleted()).count() as u64;
                let message_bytes: u64 = held.iter().map(|m| charge(m.data.len())).sum();
                let want = Usage {
                    bytes: message_bytes + tombstones * TOMBSTONE_CHARGE,
                    messages: held.len() as u64,
                };
                prop_assert_eq!(s.usage(&a).unwrap(), want);
                // Deletes are never refused, so tombstones may take an account
                // past its quota; what it stores may not.
                prop_assert!(message_bytes <= limits.max_account_bytes);
                for m in &held {
                    prop_assert!(
                        deleted.get(&m.hash).is_none_or(|until| *until <= now),
                        "a deleted message is served"
                    );
                }
                total.bytes += want.bytes;
                total.messages += want.messages;
                total_message_bytes += message_bytes;
            }
            prop_assert_eq!(s.total_bytes().unwrap(), total.bytes);
            prop_assert_eq!(s.message_count().unwrap(), total.messages);
            prop_assert!(total_message_bytes <= limits.max_total_bytes);
        }
    }
}
