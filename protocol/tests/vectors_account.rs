//! Known-answer vectors for account keys and IDs: fixed entropy → Ed25519 key,
//! X25519 key, bech32m account ID and positions. Checked both ways (derive → same
//! bytes; parse the committed text → re-encode → same text), so a change to the
//! derivation or the encoding is always a visible diff in
//! `tests/vectors/account.json`. `SOTTO_REGENERATE_VECTORS=1` rewrites the file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use serde_json::{Value, json};
use sotto_protocol::record::admission::Admission;
use sotto_protocol::{AccountId, AccountKey, NodeId, Position, swarm_for};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/account.json");

fn entropies() -> Vec<[u8; 16]> {
    vec![
        [0u8; 16],
        [0xff; 16],
        core::array::from_fn(|i| i as u8),
        *b"sotto test vec 4",
    ]
}

fn compute() -> Value {
    let accounts: Vec<Value> = entropies()
        .iter()
        .map(|e| {
            let key = AccountKey::from_entropy(*e);
            let id = key.account_id();
            json!({
                "entropy": hex::encode(e),
                "ed25519_public": hex::encode(id.as_bytes()),
                "x25519_public": hex::encode(key.x25519_public()),
                "account_id": id.to_text(),
                "position": Position::of_account(&id).to_hex(),
            })
        })
        .collect();
    // A swarm over 12 fixed node ids, node i with admission proof epoch
    // 20000 + i, nonce 1000 + i, for the first account; and those nodes'
    // positions.
    let nodes: Vec<(NodeId, Admission)> = (0u8..12)
        .map(|i| {
            let i = u64::from(i);
            (NodeId([i as u8; 32]), Admission::new(20_000 + i, 1000 + i))
        })
        .collect();
    let positions: Vec<String> = nodes
        .iter()
        .map(|(n, proof)| Position::of_node(n, *proof).to_hex())
        .collect();
    let first = AccountKey::from_entropy([0u8; 16]).account_id();
    let swarm: Vec<String> = swarm_for(&first, &nodes, 5)
        .iter()
        .map(|n| hex::encode(n.as_bytes()))
        .collect();
    json!({
        "accounts": accounts,
        "node_positions_with_epoch_20000_plus_i_nonce_1000_plus_i": positions,
        "swarm_of_first_over_nodes_0_to_11": swarm,
    })
}

#[test]
fn account_vectors_match() {
    let computed = compute();
    if std::env::var("SOTTO_REGENERATE_VECTORS").as_deref() == Ok("1") {
        let text = serde_json::to_string_pretty(&computed).unwrap();
        std::fs::write(FILE, text + "\n").unwrap();
        return;
    }
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(FILE).unwrap()).unwrap();
    assert_eq!(
        computed, committed,
        "derivation changed: see tests/vectors/account.json"
    );
    // Parse the committed text form and re-encode it: identical text and key.
    for a in committed["accounts"].as_array().unwrap() {
        let text = a["account_id"].as_str().unwrap();
        let id = AccountId::parse(text).unwrap();
        assert_eq!(id.to_text(), text);
        assert_eq!(
            hex::encode(id.as_bytes()),
            a["ed25519_public"].as_str().unwrap()
        );
    }
}
