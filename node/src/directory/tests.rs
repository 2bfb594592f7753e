//! Unit tests of the directory: verification happens before (and apart from)
//! the insert, and every check of the old in-lock verification still holds.

use sotto_protocol::constants::PROTOCOL_VERSION;
use sotto_protocol::record::OnionKeyEntry;
use sotto_protocol::{NodeKey, OnionSecret};

use super::*;

const HOUR: u64 = 3_600_000;
const NOW: u64 = 1_800_000_000_000;

fn key(i: u8) -> NodeKey {
    NodeKey::from_secret_bytes(&[i; 32])
}

fn record(key: &NodeKey, network: &str, issued_at: u64) -> NodeRecord {
    NodeRecord {
        version: PROTOCOL_VERSION,
        network: network.into(),
        node: key.node_id(),
        addrs: vec!["/ip4/127.0.0.1/tcp/4100".into()],
        onion_keys: vec![OnionKeyEntry {
            key: OnionSecret::from_secret_bytes([7; 32]).public(),
            valid_from: issued_at,
            valid_until: issued_at + HOUR,
        }],
        issued_at,
        expires_at: issued_at + HOUR,
        admission: sotto_protocol::record::admission::Admission::default(),
    }
}

fn signed(key: &NodeKey, issued_at: u64) -> SignedNodeRecord {
    record(key, "devnet", issued_at).sign(key).unwrap()
}

fn verify(signed: SignedNodeRecord, now: u64) -> Result<VerifiedRecord, DirectoryError> {
    VerifiedRecord::verify(signed, &NetworkParams::devnet(), now)
}

#[test]
fn verified_records_are_inserted_updated_and_held() {
    let mut d = Directory::new(NetworkParams::devnet(), 10);
    let k = key(1);
    let first = signed(&k, NOW);
    assert!(!d.holds_exactly(&first, NOW));
    let v = verify(first.clone(), NOW).unwrap();
    assert_eq!(v.record().node, k.node_id());
    assert_eq!(Some(v.peer()), peer_id_of(&k.node_id()));
    assert_eq!(d.insert(v, NOW), Ok(Inserted::New));
    assert!(d.holds_exactly(&first, NOW));
    assert_eq!(
        d.node_of_peer(&peer_id_of(&k.node_id()).unwrap()),
        Some(k.node_id())
    );

    // The same record again, and an older one, change nothing.
    assert_eq!(
        d.insert(verify(first.clone(), NOW).unwrap(), NOW),
        Ok(Inserted::Unchanged)
    );
    let older = signed(&k, NOW - 1_000);
    assert_eq!(
        d.insert(verify(older, NOW).unwrap(), NOW),
        Ok(Inserted::Unchanged)
    );
    assert!(d.holds_exactly(&first, NOW));

    let newer = signed(&k, NOW + 1_000);
    assert_eq!(
        d.insert(verify(newer.clone(), NOW + 1_000).unwrap(), NOW + 1_000),
        Ok(Inserted::Updated)
    );
    assert!(d.holds_exactly(&newer, NOW + 1_000));
    assert!(!d.holds_exactly(&first, NOW + 1_000));
    assert_eq!(d.len(), 1);
}

#[test]
fn verification_refuses_what_the_directory_refused() {
    let k = key(2);
    let mut forged = signed(&k, NOW);
    forged.signature[0] ^= 1;
    assert!(matches!(
        verify(forged, NOW),
        Err(DirectoryError::Invalid(_))
    ));

    let expired = signed(&k, NOW - 2 * HOUR);
    assert!(matches!(
        verify(expired, NOW),
        Err(DirectoryError::Invalid(_))
    ));

    let other_net = record(&k, "othernet", NOW).sign(&k).unwrap();
    assert!(matches!(
        verify(other_net, NOW),
        Err(DirectoryError::Invalid(_))
    ));

    // A record of one node under another node's signature.
    let stolen = SignedNodeRecord {
        record: signed(&k, NOW).record,
        signature: signed(&key(3), NOW).signature,
    };
    assert!(matches!(
        verify(stolen, NOW),
        Err(DirectoryError::Invalid(_))
    ));
}

#[test]
fn insert_refuses_records_verified_for_other_params() {
    let mut other = NetworkParams::devnet();
    other.store_quorum = other.store_quorum.saturating_add(1);
    let mut d = Directory::new(other, 10);
    let v = verify(signed(&key(4), NOW), NOW).unwrap();
    assert!(matches!(d.insert(v, NOW), Err(DirectoryError::Invalid(_))));
    assert!(d.is_empty());
}

#[test]
fn insert_refuses_a_record_that_expired_after_verification() {
    let mut d = Directory::new(NetworkParams::devnet(), 10);
    let v = verify(signed(&key(5), NOW), NOW).unwrap();
    let later = NOW + HOUR;
    assert!(matches!(
        d.insert(v, later),
        Err(DirectoryError::Invalid(_))
    ));
    assert!(d.is_empty());
    assert_eq!(d.version(), 0);
}

#[test]
fn a_full_directory_refuses_new_nodes_but_takes_updates() {
    let mut d = Directory::new(NetworkParams::devnet(), 2);
    for i in 1..=2 {
        assert_eq!(
            d.insert(verify(signed(&key(i), NOW), NOW).unwrap(), NOW),
            Ok(Inserted::New)
        );
    }
    let third = verify(signed(&key(3), NOW), NOW).unwrap();
    assert_eq!(d.insert(third, NOW), Err(DirectoryError::Full(2)));
    let update = verify(signed(&key(1), NOW + 1), NOW + 1).unwrap();
    assert_eq!(d.insert(update, NOW + 1), Ok(Inserted::Updated));
    assert_eq!(d.len(), 2);
}

#[test]
fn a_full_directory_gives_an_unreachable_node_s_place_to_a_newcomer() {
    let mut d = Directory::new(NetworkParams::devnet(), 2);
    for i in 1..=2 {
        d.insert(verify(signed(&key(i), NOW), NOW).unwrap(), NOW)
            .unwrap();
    }
    let first = key(1).node_id();
    // Two failures, then an answer: still established.
    d.note_unreachable(&first);
    d.note_unreachable(&first);
    assert!(d.is_failing(&first));
    d.note_reachable(&first);
    assert!(!d.is_failing(&first));
    d.note_unreachable(&first);
    d.note_unreachable(&first);
    let third = || verify(signed(&key(3), NOW), NOW).unwrap();
    assert_eq!(d.insert(third(), NOW), Err(DirectoryError::Full(2)));
    // A third failure in a row: it cannot be reached, and goes for the
    // newcomer (before, a full directory refused every newcomer).
    d.note_unreachable(&first);
    let version = d.version();
    assert_eq!(d.insert(third(), NOW), Ok(Inserted::New));
    assert_eq!(d.len(), 2);
    assert!(d.get(&first).is_none());
    assert!(d.get(&key(3).node_id()).is_some());
    assert!(d.version() > version);
    // A node that is not held is never counted.
    d.note_unreachable(&key(9).node_id());
    let fourth = verify(signed(&key(4), NOW), NOW).unwrap();
    assert_eq!(d.insert(fourth, NOW), Err(DirectoryError::Full(2)));
}

/// Devnet parameters, but keeping subnets apart as the public network does.
fn apart() -> NetworkParams {
    NetworkParams {
        allow_same_subnet: false,
        ..NetworkParams::devnet()
    }
}

fn signed_at(key: &NodeKey, addr: &str, issued_at: u64) -> SignedNodeRecord {
    let mut r = record(key, "devnet", issued_at);
    r.addrs = vec![addr.into()];
    r.sign(key).unwrap()
}

#[test]
fn one_subnet_holds_one_place_in_a_swarm() {
    let params = apart();
    let r = usize::from(params.swarm_size);
    let account = sotto_protocol::AccountKey::from_entropy([9; 16]).account_id();
    let mut d = Directory::new(params.clone(), 64);
    // Twelve nodes in three /24s: every swarm has one of each, and no more.
    for i in 0..12u8 {
        let addr = format!("/ip4/44.{}.0.{}/tcp/4100", i % 3, i + 1);
        let v = VerifiedRecord::verify(signed_at(&key(i + 1), &addr, NOW), &params, NOW).unwrap();
        d.insert(v, NOW).unwrap();
    }
    let swarm = d.swarm(&account);
    assert_eq!(swarm.len(), 3, "three subnets, three places (of {r})");
    let mut subnets: Vec<Vec<String>> = swarm
        .iter()
        .map(|n| d.get(n).unwrap().record.addrs.clone())
        .map(|a| {
            a.iter()
                .map(|s| s.split('.').nth(1).unwrap().to_owned())
                .collect()
        })
        .collect();
    subnets.sort();
    subnets.dedup();
    assert_eq!(subnets.len(), 3);

    // A node moving to a subnet of its own takes a place of its own, and the
    // move counts as a change of membership (swarms are recomputed).
    let before = d.version();
    let mover = key(1);
    let v = VerifiedRecord::verify(
        signed_at(&mover, "/ip4/45.0.0.1/tcp/4100", NOW + 1),
        &params,
        NOW + 1,
    )
    .unwrap();
    assert_eq!(d.insert(v, NOW + 1), Ok(Inserted::Updated));
    assert_ne!(d.version(), before);
    assert_eq!(d.swarm(&account).len(), 4.min(r));
}

#[test]
fn nodes_in_distinct_subnets_form_the_plain_swarm() {
    let params = apart();
    let mut apart_dir = Directory::new(params.clone(), 64);
    let mut plain_dir = Directory::new(NetworkParams::devnet(), 64);
    for i in 0..12u8 {
        let addr = format!("/ip4/44.{i}.0.1/tcp/4100");
        let s = signed_at(&key(i + 1), &addr, NOW);
        let v = VerifiedRecord::verify(s.clone(), &params, NOW).unwrap();
        apart_dir.insert(v, NOW).unwrap();
        let v = VerifiedRecord::verify(s, &NetworkParams::devnet(), NOW).unwrap();
        plain_dir.insert(v, NOW).unwrap();
    }
    for a in 0..8u8 {
        let account = sotto_protocol::AccountKey::from_entropy([a; 16]).account_id();
        assert_eq!(apart_dir.swarm(&account), plain_dir.swarm(&account));
    }
}

#[test]
fn a_devnet_on_loopback_keeps_whole_swarms() {
    // Every node on 127.0.0.1 (or a memory address): no public subnet to
    // keep apart, so swarms are the plain closest R, not one node.
    let params = NetworkParams::devnet();
    let r = usize::from(params.swarm_size);
    let mut d = Directory::new(params.clone(), 64);
    for i in 0..12u8 {
        let addr = if i % 2 == 0 {
            "/ip4/127.0.0.1/tcp/4100".to_owned()
        } else {
            format!("/memory/{}", u16::from(i) + 1000)
        };
        let v = VerifiedRecord::verify(signed_at(&key(i + 1), &addr, NOW), &params, NOW).unwrap();
        d.insert(v, NOW).unwrap();
    }
    for a in 0..8u8 {
        let account = sotto_protocol::AccountKey::from_entropy([a; 16]).account_id();
        assert_eq!(d.swarm(&account).len(), r);
    }
}

#[test]
fn delta_pages_leave_out_held_records_and_bound_the_scan() {
    let mut d = Directory::new(NetworkParams::devnet(), 100);
    for i in 1..=40 {
        d.insert(verify(signed(&key(i), NOW), NOW).unwrap(), NOW)
            .unwrap();
    }
    // The asker holds everything but 5 records, one of them in an older
    // version than the directory's.
    let mut asker = Directory::new(NetworkParams::devnet(), 100);
    let missing: Vec<NodeId> = [3u8, 9, 17, 30].iter().map(|i| key(*i).node_id()).collect();
    for i in 1..=40u8 {
        let node = key(i).node_id();
        if missing.contains(&node) {
            continue;
        }
        let at = if i == 22 { NOW - 1_000 } else { NOW };
        asker
            .insert(verify(signed(&key(i), at), NOW).unwrap(), NOW)
            .unwrap();
    }
    let held = asker.held_filter([9; 16]);

    // Paging with a small scan still finds every missing record, in order.
    let mut got = Vec::new();
    let mut after = None;
    let mut pages = 0;
    loop {
        let (records, next) = d.page_missing(after, 256, &held, 7);
        pages += 1;
        got.extend(records.iter().map(|r| r.live_node_unverified(NOW).unwrap()));
        match next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    assert_eq!(pages, 6, "40 entries in scans of 7");
    let mut want = missing.clone();
    want.push(key(22).node_id());
    want.sort();
    assert_eq!(got, want);

    // A page stops at its limit and says where to go on.
    let (records, next) = d.page_missing(None, 2, &held, 4096);
    assert_eq!(records.len(), 2);
    let (rest, end) = d.page_missing(next, 256, &held, 4096);
    assert_eq!(rest.len(), 3);
    assert_eq!(end, None);
}

#[test]
fn the_fast_peer_id_is_libp2p_s() {
    for i in 1..=20 {
        let node = key(i).node_id();
        assert_eq!(peer_id_of_valid_key(&node), peer_id_of(&node));
    }
}

#[test]
fn shared_checks_remember_only_good_signatures_for_their_exact_bytes() {
    // Sharing is process-wide and only ever skips the curve arithmetic for
    // bytes already found good, so turning it on here cannot change what
    // another test of this process sees.
    shared_checks::share_in_process();
    assert!(shared_checks::is_shared());
    let k = key(31);
    let good = signed(&k, NOW);
    let node = k.node_id();
    assert!(shared_checks::check_signature(&good, &node).is_ok());
    assert!(shared_checks::check_signature(&good, &node).is_ok());
    // The same record under another signature, and the same signature over
    // other bytes, are checked and refused every time.
    let mut forged = good.clone();
    forged.signature[3] ^= 1;
    for _ in 0..2 {
        assert!(shared_checks::check_signature(&forged, &node).is_err());
    }
    let mut moved = good.clone();
    moved.record[10] ^= 1;
    assert!(shared_checks::check_signature(&moved, &node).is_err());
    // Another node's key over the good bytes is refused too.
    assert!(shared_checks::check_signature(&good, &key(32).node_id()).is_err());
    // And the whole verification still refuses what it refused.
    assert!(verify(forged, NOW).is_err());
    assert!(verify(good, NOW).is_ok());
}
