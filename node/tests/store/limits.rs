//! Quotas, reopening, and what anti-entropy reads from the store: digests,
//! lists and fetches, convergence from different orders, and handing an
//! account off.

use super::*;

#[test]
fn account_quota_refuses_and_keeps_what_was_stored() {
    let dir = tempfile::tempdir().unwrap();
    let limits = StoreLimits {
        max_account_bytes: 3 * charge(1000),
        max_total_bytes: 100 * charge(1000),
        max_chunk_bytes: u64::MAX,
        max_request_bytes: u64::MAX,
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
        max_chunk_bytes: u64::MAX,
        max_request_bytes: u64::MAX,
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
