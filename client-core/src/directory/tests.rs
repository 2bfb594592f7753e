//! Which records and onion keys the client takes at its clock, with the
//! margin for nodes whose clocks run ahead of it.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use sotto_protocol::constants::{KEY_LEN, PROTOCOL_VERSION};
use sotto_protocol::record::OnionKeyEntry;
use sotto_protocol::time::{HOUR_MS, MINUTE_MS, SECOND_MS};
use sotto_protocol::{NodeKey, OnionSecret};

use super::*;

/// 2026-01-01T00:00:00Z.
const T0: UnixMillis = 1_767_225_600_000;

fn onion_public(b: u8) -> [u8; KEY_LEN] {
    OnionSecret::from_secret_bytes([b; KEY_LEN]).public()
}

fn entry(b: u8, from: UnixMillis, until: UnixMillis) -> OnionKeyEntry {
    OnionKeyEntry {
        key: onion_public(b),
        valid_from: from,
        valid_until: until,
    }
}

fn record(key: &NodeKey, issued_at: UnixMillis, keys: Vec<OnionKeyEntry>) -> NodeRecord {
    NodeRecord {
        version: PROTOCOL_VERSION,
        network: NetworkParams::devnet().name,
        node: key.node_id(),
        addrs: vec!["/ip4/127.0.0.1/tcp/4100".into()],
        onion_keys: keys,
        issued_at,
        expires_at: issued_at + HOUR_MS,
        admission: sotto_protocol::record::admission::Admission::default(),
    }
}

#[test]
fn a_key_that_starts_within_the_margin_is_used() {
    let key = NodeKey::from_secret_bytes(&[3; KEY_LEN]);
    // A node that just started, a minute ahead of this client's clock: by
    // the protocol's rule no key is valid yet, and the client used to drop
    // the whole record.
    let fresh = record(&key, T0, vec![entry(1, T0 + MINUTE_MS, T0 + 25 * HOUR_MS)]);
    assert_eq!(fresh.current_onion_key(T0), None);
    assert_eq!(usable_onion_key(&fresh, T0), Some(onion_public(1)));
    // Beyond the margin it is not taken.
    let far = record(
        &key,
        T0,
        vec![entry(1, T0 + 6 * MINUTE_MS, T0 + 25 * HOUR_MS)],
    );
    assert_eq!(usable_onion_key(&far, T0), None);
    // After a rotation the new key wins as soon as it is within the margin;
    // an expired key is never used.
    let rotated = record(
        &key,
        T0,
        vec![
            entry(1, T0 - 24 * HOUR_MS, T0 + HOUR_MS),
            entry(2, T0 + 30 * SECOND_MS, T0 + 25 * HOUR_MS),
        ],
    );
    assert_eq!(usable_onion_key(&rotated, T0), Some(onion_public(2)));
    let expired = record(&key, T0, vec![entry(1, T0 - 2 * HOUR_MS, T0)]);
    assert_eq!(usable_onion_key(&expired, T0), None);
}

#[test]
fn the_directory_keeps_records_of_nodes_a_little_ahead() {
    let params = NetworkParams::devnet();
    let rejected = Rejected::default();
    let mut dir = Directory::new(params);
    let ahead = |b: u8, by: UnixMillis| {
        let key = NodeKey::from_secret_bytes(&[b; KEY_LEN]);
        let r = record(&key, T0 + by, vec![entry(b, T0 + by, T0 + by + HOUR_MS)]);
        r.sign(&key).unwrap()
    };
    // A node started a minute ahead: kept, and a hop can be built for it.
    let minute = ahead(1, MINUTE_MS);
    assert!(dir.insert(&minute, T0, &rejected));
    assert_eq!(dir.prune(T0), 0);
    let id = NodeKey::from_secret_bytes(&[1; KEY_LEN]).node_id();
    assert!(dir.get(&id).unwrap().hop(T0).is_some());
    // Issued 14 min ahead (past the protocol's 10 min for two node clocks,
    // within the client's own margin on top): still taken.
    assert!(dir.insert(&ahead(2, 14 * MINUTE_MS), T0, &rejected));
    // 16 min ahead: more than two honest node clocks and the client's margin
    // can explain; refused.
    assert!(!dir.insert(&ahead(3, 16 * MINUTE_MS), T0, &rejected));
    assert_eq!(rejected.get("directory", "bad_record"), 1);
    assert_eq!(dir.len(), 2);
}

#[test]
fn the_client_keeps_one_subnet_to_one_place_in_a_swarm_as_nodes_do() {
    // Devnet parameters, but keeping subnets apart as the public network does.
    let params = NetworkParams {
        allow_same_subnet: false,
        ..NetworkParams::devnet()
    };
    let rejected = Rejected::default();
    let mut dir = Directory::new(params.clone());
    let mut nodes = Vec::new();
    // Ten nodes in two /24s.
    for i in 0..10u8 {
        let key = NodeKey::from_secret_bytes(&[i + 1; KEY_LEN]);
        let mut r = record(&key, T0, vec![entry(i + 1, T0, T0 + HOUR_MS)]);
        r.addrs = vec![format!("/ip4/44.{}.0.{}/tcp/4100", i % 2, i + 1)];
        let groups = r.swarm_groups(false);
        nodes.push((key.node_id(), r.admission, groups));
        assert!(dir.insert(&r.sign(&key).unwrap(), T0, &rejected));
    }
    for a in 0..8u8 {
        let account = sotto_protocol::AccountKey::from_entropy([a; 16]).account_id();
        let swarm = dir.swarm(&account);
        assert_eq!(swarm.len(), 2, "two subnets, two places");
        // The same answer as the protocol's function, which nodes use too.
        let r = usize::from(params.swarm_size);
        assert_eq!(
            swarm,
            sotto_protocol::position::swarm_for_diverse(&account, &nodes, r)
        );
    }
}

#[test]
fn a_record_equal_to_one_held_is_not_verified_again_but_a_new_one_is() {
    let rejected = Rejected::default();
    let mut dir = Directory::new(NetworkParams::devnet());
    let key = NodeKey::from_secret_bytes(&[9; KEY_LEN]);
    let first = record(&key, T0, vec![entry(9, T0, T0 + HOUR_MS)])
        .sign(&key)
        .unwrap();
    assert!(dir.insert(&first, T0, &rejected));
    // Raise the network's admission difficulty past what the record's proof
    // meets: a second verification would now refuse it.
    dir.params.admission_difficulty = 40;
    assert!(!dir.insert(&first, T0 + 1, &rejected));
    assert_eq!(rejected.get("directory", "bad_record"), 0);
    assert_eq!(dir.len(), 1);
    // A newer record of the same node is verified, and refused.
    let newer = record(&key, T0 + 1, vec![entry(9, T0, T0 + HOUR_MS)])
        .sign(&key)
        .unwrap();
    assert!(!dir.insert(&newer, T0 + 1, &rejected));
    assert_eq!(rejected.get("directory", "bad_record"), 1);
}
