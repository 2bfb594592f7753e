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
        admission_nonce: 0,
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
