//! Unit and property tests of node records (the admission proof has its own, in
//! `admission.rs`).

use proptest::prelude::*;
use x25519_dalek::{PublicKey, StaticSecret};

use super::admission::{Admission, admission_bits, mine_admission};
use super::*;
use crate::keys::OnionSecret;
use crate::time::{DAY_MS, HOUR_MS, MINUTE_MS};

/// 2026-01-01T00:00:00Z.
const T0: UnixMillis = 1_767_225_600_000;

fn node_key(b: u8) -> NodeKey {
    NodeKey::from_secret_bytes(&[b; KEY_LEN])
}

fn onion_public(b: u8) -> [u8; KEY_LEN] {
    OnionSecret::from_secret_bytes([b; KEY_LEN]).public()
}

fn params(difficulty: u8) -> NetworkParams {
    NetworkParams {
        admission_difficulty: difficulty,
        ..NetworkParams::devnet()
    }
}

fn sample(key: &NodeKey) -> NodeRecord {
    NodeRecord {
        version: PROTOCOL_VERSION,
        network: "devnet".into(),
        node: key.node_id(),
        addrs: vec![
            "/ip4/127.0.0.1/tcp/4100".into(),
            "/ip4/127.0.0.1/udp/4100/quic-v1".into(),
        ],
        onion_keys: vec![OnionKeyEntry {
            key: onion_public(7),
            valid_from: T0 - HOUR_MS,
            valid_until: T0 + DAY_MS,
        }],
        issued_at: T0,
        expires_at: T0 + HOUR_MS,
        admission: Admission::default(),
    }
}

/// Signs whatever `record` is, skipping the checks of [`NodeRecord::sign`], as a
/// misbehaving node could.
fn sign_unchecked(record: &NodeRecord, key: &NodeKey) -> SignedNodeRecord {
    let record = codec::encode("test", record).unwrap();
    let signature = key.sign(&signing_message(&record));
    SignedNodeRecord { record, signature }
}

fn sign_raw(record: Vec<u8>, key: &NodeKey) -> SignedNodeRecord {
    let signature = key.sign(&signing_message(&record));
    SignedNodeRecord { record, signature }
}

/// Decodes and verifies in one go, as a node receiving bytes does.
fn accept(bytes: &[u8], p: &NetworkParams, now: UnixMillis) -> Result<NodeRecord> {
    SignedNodeRecord::decode(bytes)?.verify(p, now)
}

/// Makes the leading varint of `bytes` one byte longer (same value).
fn overlong_first_varint(bytes: &[u8]) -> Vec<u8> {
    let end = bytes.iter().position(|b| b & 0x80 == 0).unwrap();
    let mut out = bytes[..end].to_vec();
    out.push(bytes[end] | 0x80);
    out.push(0);
    out.extend_from_slice(&bytes[end + 1..]);
    out
}

#[test]
fn sign_verify_round_trip() {
    let key = node_key(1);
    let record = sample(&key);
    let signed = record.sign(&key).unwrap();
    let bytes = signed.encode().unwrap();
    assert!(bytes.len() <= MAX_RECORD_LEN);
    let decoded = SignedNodeRecord::decode(&bytes).unwrap();
    assert_eq!(decoded, signed);
    assert_eq!(decoded.verify(&params(0), T0 + MINUTE_MS).unwrap(), record);
    // Signatures are deterministic.
    assert_eq!(record.sign(&key).unwrap(), signed);
}

/// Issue 13: a public network refuses a record that lists an address nobody
/// else can reach (loopback, private, link-local…); a local one accepts it.
#[test]
fn public_networks_refuse_local_addresses() {
    let key = node_key(1);
    let public = NetworkParams {
        admission_difficulty: 0,
        ..NetworkParams::public()
    };
    let mut record = sample(&key);
    record.network = public.name.clone();
    // The epoch the public network's rotating positions want at T0.
    let node = key.node_id();
    let epoch = crate::position::epoch::epoch_for_record(&node, T0, public.position_period_ms);
    record.admission = Admission::new(epoch, 0);
    record.expires_at =
        crate::position::epoch::record_expiry(&node, epoch, T0, HOUR_MS, public.position_period_ms);
    for local in [
        "/ip4/127.0.0.1/tcp/4100",
        "/ip4/10.0.0.7/tcp/4100",
        "/ip6/fe80::1/tcp/1",
    ] {
        record.addrs = vec!["/ip4/8.8.8.8/tcp/4100".into(), local.into()];
        let signed = record.sign(&key).unwrap();
        let err = signed.verify(&public, T0 + MINUTE_MS).unwrap_err();
        assert!(
            err.to_string().contains("cannot be reached"),
            "{local}: {err}"
        );
    }
    record.addrs = vec![
        "/ip4/8.8.8.8/tcp/4100".into(),
        "/dns/n.example.org/tcp/1".into(),
    ];
    let signed = record.sign(&key).unwrap();
    assert!(signed.verify(&public, T0 + MINUTE_MS).is_ok());
    // The devnet (a local network) takes loopback addresses.
    let signed = sample(&key).sign(&key).unwrap();
    assert!(signed.verify(&params(0), T0 + MINUTE_MS).is_ok());
}

#[test]
fn every_flipped_byte_is_rejected() {
    let key = node_key(2);
    let p = params(0);
    let now = T0 + MINUTE_MS;
    let bytes = sample(&key).sign(&key).unwrap().encode().unwrap();
    accept(&bytes, &p, now).unwrap();
    let mut bad_signatures = 0;
    for i in 0..bytes.len() {
        for mask in [0x01, 0x80, 0xff] {
            let mut flipped = bytes.clone();
            flipped[i] ^= mask;
            match accept(&flipped, &p, now) {
                Ok(_) => panic!("flipping byte {i} with {mask:#04x} was accepted"),
                Err(Error::BadSignature { .. }) => bad_signatures += 1,
                Err(_) => {}
            }
        }
    }
    // The test reaches the signature check, not only the decoder.
    assert!(bad_signatures > bytes.len(), "{bad_signatures}");
}

#[test]
fn wrong_network_is_rejected() {
    let key = node_key(3);
    let signed = sample(&key).sign(&key).unwrap();
    let public = NetworkParams {
        admission_difficulty: 0,
        ..NetworkParams::public()
    };
    assert_eq!(
        signed.verify(&public, T0),
        Err(Error::WrongNetwork {
            expected: "sotto".into(),
            found: "devnet".into()
        })
    );
}

#[test]
fn validity_in_time() {
    let key = node_key(4);
    let record = sample(&key);
    let signed = record.sign(&key).unwrap();
    let p = params(0);
    // Expired at expires_at, valid one millisecond before.
    signed.verify(&p, record.expires_at - 1).unwrap();
    assert!(matches!(
        signed.verify(&p, record.expires_at),
        Err(Error::Expired { now, .. }) if now == record.expires_at
    ));
    // Issued in the future: tolerated up to the clock skew, not beyond.
    signed
        .verify(&p, record.issued_at - RECORD_CLOCK_SKEW_MS)
        .unwrap();
    let err = signed
        .verify(&p, record.issued_at - RECORD_CLOCK_SKEW_MS - 1)
        .unwrap_err();
    assert!(matches!(err, Error::Expired { .. }), "{err:?}");
    assert!(err.to_string().contains("clock"), "{err}");
}

#[test]
fn over_long_lifetime_is_rejected() {
    let key = node_key(5);
    let mut record = sample(&key);
    record.expires_at = record.issued_at + MAX_RECORD_LIFETIME_MS + 1;
    assert!(matches!(record.sign(&key), Err(Error::OutOfRange { .. })));
    let signed = sign_unchecked(&record, &key);
    assert!(matches!(
        signed.verify(&params(0), T0),
        Err(Error::OutOfRange {
            what: "node record lifetime",
            ..
        })
    ));
    // Within 2 h but over the network's own, shorter, limit.
    let mut record = sample(&key);
    record.expires_at = record.issued_at + HOUR_MS;
    let short = NetworkParams {
        record_lifetime_ms: 30 * MINUTE_MS,
        ..params(0)
    };
    let signed = record.sign(&key).unwrap();
    signed.verify(&params(0), T0).unwrap();
    assert!(matches!(
        signed.verify(&short, T0),
        Err(Error::OutOfRange {
            what: "node record lifetime",
            ..
        })
    ));
    // Expiring before (or when) issued.
    let mut record = sample(&key);
    record.expires_at = record.issued_at;
    assert!(record.sign(&key).is_err());
    assert!(
        sign_unchecked(&record, &key)
            .verify(&params(0), T0 - 1)
            .is_err()
    );
}

#[test]
fn admission_is_checked_at_the_network_difficulty() {
    let key = node_key(6);
    let node = key.node_id();
    let mut record = sample(&key);
    record.admission = mine_admission(&node, 0, 8);
    record.sign(&key).unwrap().verify(&params(8), T0).unwrap();

    // A nonce good for 8 bits but not for 16.
    let nonce = (0u64..)
        .map(|x| Admission::new(0, x))
        .find(|&x| (8..16).contains(&admission_bits(&node, x)))
        .unwrap();
    record.admission = nonce;
    let signed = record.sign(&key).unwrap();
    signed.verify(&params(8), T0).unwrap();
    assert_eq!(
        signed.verify(&params(16), T0),
        Err(Error::Admission {
            required: 16,
            found: admission_bits(&node, nonce)
        })
    );
}

/// On a network whose positions rotate, a record must carry the proof of
/// the epoch it lies in: a proof of the last epoch (a position kept past its
/// period) is refused, and so is one stretched into the next.
#[test]
fn a_position_is_refused_once_its_epoch_is_over() {
    use crate::position::epoch::{epoch_at, overlap, window};
    let key = node_key(9);
    let node = key.node_id();
    let p = NetworkParams {
        admission_difficulty: 8,
        position_period_ms: DAY_MS,
        ..NetworkParams::devnet()
    };
    let mut record = sample(&key);
    let epoch = epoch_at(&node, T0, DAY_MS);
    let (_, end) = window(&node, epoch, DAY_MS).unwrap();
    record.expires_at = record.expires_at.min(end);
    record.admission = mine_admission(&node, epoch, 8);
    record.sign(&key).unwrap().verify(&p, T0).unwrap();
    // Yesterday's proof, mined honestly for its own epoch.
    record.admission = mine_admission(&node, epoch - 1, 8);
    let err = record.sign(&key).unwrap().verify(&p, T0).unwrap_err();
    assert!(err.to_string().contains("epoch"), "{err}");
    // The right proof, but the record outlives its epoch's overlap.
    record.admission = mine_admission(&node, epoch, 8);
    record.issued_at = end - HOUR_MS / 2;
    record.expires_at = end + overlap(DAY_MS) + 1;
    assert!(record.sign(&key).unwrap().verify(&p, end - 1).is_err());
}

#[test]
fn record_signed_by_another_key_is_rejected() {
    let owner = node_key(7);
    let other = node_key(8);
    let record = sample(&owner);
    // `sign` refuses to sign another node's record...
    assert!(matches!(record.sign(&other), Err(Error::OutOfRange { .. })));
    // ...and a forged signature does not verify.
    let forged = sign_unchecked(&record, &other);
    assert_eq!(
        forged.verify(&params(0), T0),
        Err(Error::BadSignature {
            what: "node record"
        })
    );
    // Nor does the owner's signature moved onto another record.
    let mut changed = record.clone();
    changed.addrs = vec!["/ip4/10.0.0.1/tcp/1".into()];
    let moved = SignedNodeRecord {
        record: codec::encode("test", &changed).unwrap(),
        signature: record.sign(&owner).unwrap().signature,
    };
    assert!(matches!(
        moved.verify(&params(0), T0),
        Err(Error::BadSignature { .. })
    ));
}

#[test]
fn oversized_and_truncated_input_is_rejected_before_decoding() {
    let too_big = vec![0u8; MAX_RECORD_LEN + 1];
    assert_eq!(
        SignedNodeRecord::decode(&too_big),
        Err(Error::TooLarge {
            what: "signed node record",
            len: MAX_RECORD_LEN + 1,
            max: MAX_RECORD_LEN
        })
    );
    let inner_too_big = SignedNodeRecord {
        record: vec![0u8; MAX_RECORD_LEN + 1],
        signature: [0; SIGNATURE_LEN],
    };
    assert!(matches!(
        inner_too_big.verify(&params(0), T0),
        Err(Error::TooLarge { .. })
    ));

    let key = node_key(9);
    let bytes = sample(&key).sign(&key).unwrap().encode().unwrap();
    for cut in 0..bytes.len() {
        assert!(
            matches!(
                SignedNodeRecord::decode(&bytes[..cut]),
                Err(Error::Decode { .. })
            ),
            "cut at {cut}"
        );
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(SignedNodeRecord::decode(&trailing).is_err());
}

#[test]
fn non_canonical_encodings_are_rejected() {
    let key = node_key(10);
    let record = sample(&key);
    let bytes = record.sign(&key).unwrap().encode().unwrap();
    // Outer: the record's length prefix written with a redundant byte.
    let long = overlong_first_varint(&bytes);
    assert!(matches!(
        SignedNodeRecord::decode(&long),
        Err(Error::Decode { reason, .. }) if reason.contains("canonical")
    ));
    // Inner: the version written with a redundant byte, validly signed.
    let inner = overlong_first_varint(&codec::encode("test", &record).unwrap());
    let signed = sign_raw(inner, &key);
    assert!(matches!(
        signed.verify(&params(0), T0),
        Err(Error::Decode { reason, .. }) if reason.contains("canonical")
    ));
}

#[test]
fn other_versions_are_rejected() {
    let key = node_key(11);
    let mut record = sample(&key);
    record.version = PROTOCOL_VERSION + 1;
    assert!(matches!(record.sign(&key), Err(Error::Version { .. })));
    assert_eq!(
        sign_unchecked(&record, &key).verify(&params(0), T0),
        Err(Error::Version {
            what: "node record",
            found: PROTOCOL_VERSION + 1,
            supported: PROTOCOL_VERSION
        })
    );
}

#[test]
fn bounds_are_enforced_by_sign_and_verify() {
    let key = node_key(12);
    let base = sample(&key);
    let entry = base.onion_keys[0];
    let cases: Vec<(&str, NodeRecord)> = vec![
        (
            "no addrs",
            NodeRecord {
                addrs: vec![],
                ..base.clone()
            },
        ),
        (
            "too many addrs",
            NodeRecord {
                addrs: vec!["/ip4/127.0.0.1/tcp/1".into(); MAX_RECORD_ADDRS + 1],
                ..base.clone()
            },
        ),
        (
            "empty addr",
            NodeRecord {
                addrs: vec![String::new()],
                ..base.clone()
            },
        ),
        (
            "long addr",
            NodeRecord {
                addrs: vec!["a".repeat(MAX_ADDR_LEN + 1)],
                ..base.clone()
            },
        ),
        (
            "space",
            NodeRecord {
                addrs: vec!["/ip4/1.2.3.4 /tcp/1".into()],
                ..base.clone()
            },
        ),
        (
            "control",
            NodeRecord {
                addrs: vec!["/ip4/1.2.3.4\n".into()],
                ..base.clone()
            },
        ),
        (
            "non-ascii",
            NodeRecord {
                addrs: vec!["/dns/café/tcp/1".into()],
                ..base.clone()
            },
        ),
        (
            "no onion keys",
            NodeRecord {
                onion_keys: vec![],
                ..base.clone()
            },
        ),
        (
            "too many onion keys",
            NodeRecord {
                onion_keys: vec![entry; MAX_ONION_KEYS + 1],
                ..base.clone()
            },
        ),
        (
            "zero onion key",
            NodeRecord {
                onion_keys: vec![OnionKeyEntry {
                    key: [0; KEY_LEN],
                    ..entry
                }],
                ..base.clone()
            },
        ),
        (
            "empty window",
            NodeRecord {
                onion_keys: vec![OnionKeyEntry {
                    valid_until: entry.valid_from,
                    ..entry
                }],
                ..base.clone()
            },
        ),
        (
            "long network name",
            NodeRecord {
                network: "n".repeat(MAX_NETWORK_NAME_LEN + 1),
                ..base.clone()
            },
        ),
    ];
    let p = params(0);
    for (name, record) in cases {
        assert!(record.check_bounds().is_err(), "{name}");
        assert!(record.sign(&key).is_err(), "{name}");
        // Signed anyway, verification refuses it too. (The long network name is
        // refused as a wrong network, before its length matters.)
        assert!(
            sign_unchecked(&record, &key).verify(&p, T0).is_err(),
            "{name}"
        );
    }
    // The boundaries themselves are fine.
    let at_limits = NodeRecord {
        addrs: vec!["/".repeat(MAX_ADDR_LEN); MAX_RECORD_ADDRS],
        onion_keys: vec![entry; MAX_ONION_KEYS],
        ..base
    };
    at_limits.sign(&key).unwrap().verify(&p, T0).unwrap();
}

#[test]
fn largest_record_fits_the_limit() {
    let key = node_key(13);
    let entry = OnionKeyEntry {
        key: [0xfe; KEY_LEN],
        valid_from: u64::MAX - 1,
        valid_until: u64::MAX,
    };
    let record = NodeRecord {
        version: u16::MAX,
        network: "n".repeat(MAX_NETWORK_NAME_LEN),
        node: key.node_id(),
        addrs: vec!["~".repeat(MAX_ADDR_LEN); MAX_RECORD_ADDRS],
        onion_keys: vec![entry; MAX_ONION_KEYS],
        issued_at: u64::MAX - MAX_RECORD_LIFETIME_MS,
        expires_at: u64::MAX,
        admission: Admission::new(u64::MAX, u64::MAX),
    };
    record.check_bounds().unwrap();
    let signed = sign_unchecked(&record, &key);
    let bytes = signed.encode().unwrap();
    assert!(
        bytes.len() <= MAX_RECORD_LEN,
        "{} > {MAX_RECORD_LEN}",
        bytes.len()
    );
    assert_eq!(SignedNodeRecord::decode(&bytes).unwrap(), signed);
}

#[test]
fn onion_key_helpers() {
    let key = node_key(14);
    let old = OnionKeyEntry {
        key: onion_public(1),
        valid_from: T0 - DAY_MS,
        valid_until: T0 + HOUR_MS,
    };
    let new = OnionKeyEntry {
        key: onion_public(2),
        valid_from: T0 - MINUTE_MS,
        valid_until: T0 + DAY_MS,
    };
    let next = OnionKeyEntry {
        key: onion_public(3),
        valid_from: T0 + 23 * HOUR_MS,
        valid_until: T0 + 2 * DAY_MS,
    };
    let record = NodeRecord {
        onion_keys: vec![new, old, next],
        ..sample(&key)
    };
    let at = |now| {
        record
            .onion_keys_valid_at(now)
            .map(|e| e.key)
            .collect::<Vec<_>>()
    };
    assert_eq!(at(T0), vec![new.key, old.key]);
    assert_eq!(at(T0 - HOUR_MS), vec![old.key]);
    assert_eq!(at(T0 + HOUR_MS), vec![new.key]);
    assert_eq!(at(T0 + 2 * DAY_MS), Vec::<[u8; KEY_LEN]>::new());
    assert_eq!(record.current_onion_key(T0), Some(new.key));
    assert_eq!(record.current_onion_key(T0 - HOUR_MS), Some(old.key));
    assert_eq!(record.current_onion_key(T0 + 23 * HOUR_MS), Some(next.key));
    assert_eq!(record.current_onion_key(T0 - 2 * DAY_MS), None);

    // sample(): expires at T0 + 1 h, its one onion key lasts until T0 + 1 day.
    let record = sample(&key);
    assert!(!record.needs_reannounce(T0, 10 * MINUTE_MS));
    assert!(!record.needs_reannounce(T0 + 49 * MINUTE_MS, 10 * MINUTE_MS));
    assert!(record.needs_reannounce(T0 + 50 * MINUTE_MS, 10 * MINUTE_MS));
    assert!(record.needs_reannounce(T0 + 2 * HOUR_MS, 0));
    assert!(record.needs_reannounce(T0, u64::MAX));
    // A long record whose only onion key runs out first.
    let record = NodeRecord {
        onion_keys: vec![OnionKeyEntry {
            valid_until: T0 + 20 * MINUTE_MS,
            ..record.onion_keys[0]
        }],
        ..record
    };
    assert!(record.needs_reannounce(T0 + 15 * MINUTE_MS, 10 * MINUTE_MS));
}

#[test]
fn low_order_table_matches_x25519_dalek() {
    let secret = StaticSecret::from([0x55; KEY_LEN]);
    for point in LOW_ORDER_X25519 {
        for top in [0x00, 0x80] {
            let mut k = point;
            k[KEY_LEN - 1] |= top;
            assert!(is_low_order_x25519(&k), "{k:02x?}");
            let shared = secret.diffie_hellman(&PublicKey::from(k));
            assert!(!shared.was_contributory(), "{k:02x?} is not low order");
        }
    }
    // Ordinary keys pass.
    for b in 0..=255u8 {
        assert!(!is_low_order_x25519(&onion_public(b)));
    }
    assert_eq!(p_plus(0)[0], 0xed);
    assert_eq!(p_plus(-1)[0], 0xec);
    assert_eq!(p_plus(1)[0], 0xee);
}

#[test]
fn onion_key_windows_longer_than_rotation_plus_grace_are_rejected() {
    let key = node_key(1);
    let p = params(0);
    let mut record = sample(&key);
    let from = record.onion_keys[0].valid_from;
    let max_window = p.onion_key_rotation_ms + p.onion_key_grace_ms;
    record.onion_keys[0].valid_until = from + max_window;
    let ok = record.sign(&key).unwrap().encode().unwrap();
    accept(&ok, &p, T0).unwrap();
    record.onion_keys[0].valid_until = from + max_window + 1;
    let bytes = record.sign(&key).unwrap().encode().unwrap();
    let err = accept(&bytes, &p, T0).unwrap_err();
    assert!(
        matches!(
            err,
            Error::OutOfRange {
                what: "onion key window",
                ..
            }
        ),
        "{err}"
    );
}

// ---- properties --------------------------------------------------------------------

fn arb_entry() -> impl Strategy<Value = OnionKeyEntry> {
    (any::<[u8; KEY_LEN]>(), any::<u64>(), any::<u64>()).prop_map(|(key, a, b)| OnionKeyEntry {
        key,
        valid_from: a.min(b),
        valid_until: a.max(b),
    })
}

/// Any record within the size bounds (not necessarily valid in time or keys).
fn arb_record() -> impl Strategy<Value = NodeRecord> {
    (
        any::<u16>(),
        "[a-z0-9-]{1,32}",
        any::<[u8; KEY_LEN]>(),
        prop::collection::vec("[!-~]{1,256}", 1..=MAX_RECORD_ADDRS),
        prop::collection::vec(arb_entry(), 1..=MAX_ONION_KEYS),
        any::<u64>(),
        any::<u64>(),
        (any::<u64>(), any::<u64>()),
    )
        .prop_map(
            |(version, network, node, addrs, onion_keys, issued_at, expires_at, (epoch, nonce))| {
                NodeRecord {
                    version,
                    network,
                    node: NodeId(node),
                    addrs,
                    onion_keys,
                    issued_at,
                    expires_at,
                    admission: Admission::new(epoch, nonce),
                }
            },
        )
}

proptest! {
    #[test]
    fn node_record_encoding_round_trips(record in arb_record()) {
        let bytes = codec::encode("test", &record).unwrap();
        prop_assert!(bytes.len() <= MAX_RECORD_LEN);
        let back: NodeRecord = codec::decode("test", &bytes, MAX_RECORD_LEN).unwrap();
        prop_assert_eq!(back, record);
    }

    #[test]
    fn signed_record_encoding_round_trips(
        record in arb_record(),
        sig in prop::collection::vec(any::<u8>(), SIGNATURE_LEN),
    ) {
        let mut signature = [0u8; SIGNATURE_LEN];
        signature.copy_from_slice(&sig);
        let signed = SignedNodeRecord {
            record: codec::encode("test", &record).unwrap(),
            signature,
        };
        let bytes = signed.encode().unwrap();
        prop_assert!(bytes.len() <= MAX_RECORD_LEN);
        let back = SignedNodeRecord::decode(&bytes).unwrap();
        prop_assert_eq!(back.encode().unwrap(), bytes);
        prop_assert_eq!(back, signed);
    }

    #[test]
    fn valid_records_sign_and_verify(
        record in arb_record(),
        secret in any::<[u8; KEY_LEN]>(),
        issued_at in 0u64..u64::MAX / 2,
        lifetime in 1u64..=MAX_RECORD_LIFETIME_MS,
        age in 0u64..MAX_RECORD_LIFETIME_MS,
    ) {
        let key = NodeKey::from_secret_bytes(&secret);
        let record = NodeRecord {
            version: PROTOCOL_VERSION,
            network: "devnet".into(),
            node: key.node_id(),
            issued_at,
            expires_at: issued_at + lifetime,
            onion_keys: record
                .onion_keys
                .into_iter()
                .map(|e| {
                    // A window within one rotation plus grace, as verify requires.
                    let max_window = DAY_MS + HOUR_MS;
                    let valid_from = e.valid_from % (u64::MAX / 2);
                    OnionKeyEntry {
                        valid_from,
                        valid_until: valid_from + 1 + e.valid_until % max_window,
                        ..e
                    }
                })
                .filter(|e| !is_low_order_x25519(&e.key))
                .collect(),
            // The devnet's positions do not rotate: epoch 0.
            admission: Admission::new(0, record.admission.nonce),
            ..record
        };
        prop_assume!(!record.onion_keys.is_empty());
        let now = issued_at + age % lifetime;
        let bytes = record.sign(&key).unwrap().encode().unwrap();
        let verified = accept(&bytes, &params(0), now).unwrap();
        prop_assert_eq!(verified, record);
    }
}

#[test]
fn a_live_record_names_its_node_unverified_and_an_expired_or_garbled_one_none() {
    let key = node_key(3);
    let record = sample(&key);
    // The signature is not looked at: a record signed by another key still
    // names the node it claims (the lookup only finds what was verified).
    let forged = sign_unchecked(&record, &node_key(4));
    assert_eq!(forged.live_node_unverified(T0), Some(key.node_id()));
    assert_eq!(forged.live_node_unverified(record.expires_at), None);
    let garbled = sign_raw(vec![0xff; 8], &key);
    assert_eq!(garbled.live_node_unverified(T0), None);
}
