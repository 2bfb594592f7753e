//! Random histories of stores, deletes, expiry changes and purges: the
//! store's accounting and tombstones hold whatever happens.

use super::*;

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
        let limits = StoreLimits { max_account_bytes: 6 * charge(100), max_total_bytes: 12 * charge(100), max_chunk_bytes: u64::MAX, max_request_bytes: u64::MAX };
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
