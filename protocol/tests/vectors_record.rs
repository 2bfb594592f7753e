//! Known-answer vector for signed node records: a fixed node key, onion keys,
//! addresses and times on a devnet with admission difficulty 8 → the exact bytes
//! of the signed record (Ed25519 signatures are deterministic). Checked both ways:
//! build → same bytes as `tests/vectors/record.json`, and the committed bytes →
//! decode → verify → re-encode → same bytes. `SOTTO_REGENERATE_VECTORS=1` rewrites
//! the file.

use serde_json::{Value, json};
use sotto_protocol::constants::PROTOCOL_VERSION;
use sotto_protocol::position::epoch;
use sotto_protocol::record::admission::{admission_bits, mine_admission};
use sotto_protocol::record::{NodeRecord, OnionKeyEntry, SignedNodeRecord};
use sotto_protocol::time::{DAY_MS, HOUR_MS, MINUTE_MS};
use sotto_protocol::{Error, NetworkParams, NodeKey, OnionSecret};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/record.json");

/// The node key's secret: bytes 0x00, 0x01, …, 0x1f.
fn node_secret() -> [u8; 32] {
    core::array::from_fn(|i| i as u8)
}
/// Secrets of the two onion keys (only their public halves are in the record).
const ONION_SECRETS: [[u8; 32]; 2] = [[0x11; 32], [0x22; 32]];
/// 2026-01-01T00:00:00Z.
const ISSUED_AT: u64 = 1_767_225_600_000;
/// The moment the committed record is verified at: 10 minutes after issue.
const VERIFY_AT: u64 = ISSUED_AT + 10 * MINUTE_MS;
const DIFFICULTY: u8 = 8;

fn params() -> NetworkParams {
    NetworkParams {
        admission_difficulty: DIFFICULTY,
        position_period_ms: DAY_MS,
        ..NetworkParams::devnet()
    }
}

fn record() -> NodeRecord {
    let key = NodeKey::from_secret_bytes(&node_secret());
    let node = key.node_id();
    let [current, next] = ONION_SECRETS.map(|s| OnionSecret::from_secret_bytes(s).public());
    let epoch = epoch::epoch_for_record(&node, ISSUED_AT, DAY_MS);
    NodeRecord {
        version: PROTOCOL_VERSION,
        network: params().name,
        node,
        addrs: vec![
            "/ip4/127.0.0.1/tcp/4100".into(),
            "/ip4/127.0.0.1/udp/4100/quic-v1".into(),
        ],
        onion_keys: vec![
            OnionKeyEntry {
                key: current,
                valid_from: ISSUED_AT - HOUR_MS,
                valid_until: ISSUED_AT + DAY_MS,
            },
            OnionKeyEntry {
                key: next,
                valid_from: ISSUED_AT + 23 * HOUR_MS,
                valid_until: ISSUED_AT + 2 * DAY_MS,
            },
        ],
        issued_at: ISSUED_AT,
        expires_at: epoch::record_expiry(&node, epoch, ISSUED_AT, 2 * HOUR_MS, DAY_MS),
        admission: mine_admission(&node, epoch, DIFFICULTY),
    }
}

fn compute() -> Result<Value, Error> {
    let key = NodeKey::from_secret_bytes(&node_secret());
    let record = record();
    let signed = record.sign(&key)?;
    let onion_keys: Vec<Value> = record
        .onion_keys
        .iter()
        .map(|e| {
            json!({
                "key": hex::encode(e.key),
                "valid_from": e.valid_from,
                "valid_until": e.valid_until,
            })
        })
        .collect();
    Ok(json!({
        "node_secret": hex::encode(node_secret()),
        "node_id": record.node.to_string(),
        "network": record.network,
        "admission_difficulty": DIFFICULTY,
        "position_period_ms": DAY_MS,
        "admission_epoch": record.admission.epoch,
        "admission_nonce": record.admission.nonce,
        "admission_bits": admission_bits(&record.node, record.admission),
        "position": sotto_protocol::Position::of_node(&record.node, record.admission).to_hex(),
        "addrs": record.addrs,
        "onion_keys": onion_keys,
        "issued_at": record.issued_at,
        "expires_at": record.expires_at,
        "verify_at": VERIFY_AT,
        "record": hex::encode(&signed.record),
        "signature": hex::encode(signed.signature),
        "signed_record": hex::encode(signed.encode()?),
    }))
}

#[test]
fn record_vector_matches() {
    let computed = compute().unwrap();
    if std::env::var("SOTTO_REGENERATE_VECTORS").as_deref() == Ok("1") {
        let text = serde_json::to_string_pretty(&computed).unwrap();
        std::fs::write(FILE, text + "\n").unwrap();
        return;
    }
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(FILE).unwrap()).unwrap();
    assert_eq!(
        computed, committed,
        "node record format changed: see tests/vectors/record.json"
    );

    // The committed bytes decode, verify at the fixed time and re-encode unchanged.
    let bytes = hex::decode(committed["signed_record"].as_str().unwrap()).unwrap();
    let signed = SignedNodeRecord::decode(&bytes).unwrap();
    let verified = signed.verify(&params(), VERIFY_AT).unwrap();
    assert_eq!(verified, record());
    assert_eq!(signed.encode().unwrap(), bytes);
    assert_eq!(
        hex::encode(&signed.record),
        committed["record"].as_str().unwrap()
    );
    assert_eq!(
        verified.current_onion_key(VERIFY_AT),
        Some(verified.onion_keys[0].key)
    );

    // And the same bytes are refused where they should be.
    assert!(matches!(
        signed.verify(&params(), verified.expires_at),
        Err(Error::Expired { .. })
    ));
    let public = NetworkParams::public();
    assert!(matches!(
        signed.verify(&public, VERIFY_AT),
        Err(Error::WrongNetwork { .. })
    ));
}
