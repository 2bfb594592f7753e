//! Known-answer vectors for attachments: a file secret drawn from a seeded
//! generator, files of 0 bytes, 5 bytes and one chunk + 1 byte sealed with it
//! (chunk hashes, root, the opening and the tag of every chunk, chunk
//! positions), an encoded descriptor and location, and sanitised names. Checked
//! both ways (compute → same values; decode the committed descriptor and
//! location → re-encode → same bytes), so any change to the format is a visible
//! diff in `tests/vectors/attachment.json`. `SOTTO_REGENERATE_VECTORS=1`
//! (scripts/regenerate-vectors.sh) rewrites the file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use serde_json::{Value, json};
use sotto_protocol::NodeId;
use sotto_protocol::attachment::{
    Attachment, AttachmentKind, CHUNK_DATA_LEN, FileOpener, FileSecret, Location, open_file,
    safe_file_name, seal_file, swarm_for_chunk,
};
use sotto_protocol::record::admission::Admission;

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/attachment.json");

/// One secret for every file here, so the vectors stay short. Real files each get
/// a fresh one: two files under one secret share a keystream.
fn secret() -> FileSecret {
    FileSecret::generate(&mut ChaCha20Rng::from_seed([0xa7; 32]))
}

fn files() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("empty", vec![]),
        ("hello", b"hello".to_vec()),
        (
            "one_chunk_plus_one",
            (0..=CHUNK_DATA_LEN).map(|i| (i % 256) as u8).collect(),
        ),
    ]
}

fn descriptor() -> Attachment {
    let file = seal_file(secret(), b"hello").unwrap();
    let mut a = Attachment::new(AttachmentKind::Image, "hello.jpg", "image/jpeg", &file);
    a.seal_thumbnail(b"thumb").unwrap();
    a
}

fn location() -> Location {
    Location {
        lat: 48.208_2,
        lon: -16.373_8,
        label: Some("a square".into()),
    }
}

fn compute() -> Value {
    // Node i with admission proof epoch 0, nonce i.
    let nodes: Vec<(NodeId, Admission)> = (0u8..12)
        .map(|i| (NodeId([i; 32]), Admission::new(0, u64::from(i))))
        .collect();
    let sealed: Vec<Value> = files()
        .iter()
        .map(|(name, data)| {
            let f = seal_file(secret(), data).unwrap();
            let chunks: Vec<Value> = f
                .all_chunks()
                .map(|c| {
                    json!({
                        "hash": c.hash.to_hex(),
                        "position": c.hash.position().to_hex(),
                        "first_32": hex::encode(&c.bytes[..32]),
                        "tag": hex::encode(&c.bytes[c.bytes.len() - 16..]),
                    })
                })
                .collect();
            let swarm: Vec<String> = swarm_for_chunk(&f.root, &nodes, 3)
                .iter()
                .map(|n| hex::encode(n.as_bytes()))
                .collect();
            json!({
                "name": name,
                "size": f.size,
                "root": f.root.to_hex(),
                "data_chunks": f.chunks.len(),
                "has_manifest": f.manifest.is_some(),
                "chunks_then_manifest": chunks,
                "root_swarm_over_nodes_0_to_11": swarm,
            })
        })
        .collect();
    let names: Vec<Value> = ["../../.bashrc", "a/b", "\u{202e}gpj.exe", "", "x\u{0}y.txt"]
        .iter()
        .map(|n| json!({ "given": n, "saved": safe_file_name(n) }))
        .collect();
    json!({
        "secret_seed": hex::encode([0xa7u8; 32]),
        "files": sealed,
        "descriptor_hello_image": hex::encode(descriptor().encode().unwrap()),
        "location": hex::encode(location().encode().unwrap()),
        "names": names,
    })
}

#[test]
fn attachment_vectors_match() {
    let computed = compute();
    if std::env::var("SOTTO_REGENERATE_VECTORS").as_deref() == Ok("1") {
        let text = serde_json::to_string_pretty(&computed).unwrap();
        std::fs::write(FILE, text + "\n").unwrap();
        return;
    }
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(FILE).unwrap()).unwrap();
    assert_eq!(
        computed, committed,
        "attachment format changed: see tests/vectors/attachment.json"
    );
    // Decode the committed descriptor, re-encode it, and open the file it names.
    let bytes = hex::decode(committed["descriptor_hello_image"].as_str().unwrap()).unwrap();
    let a = Attachment::decode(&bytes).unwrap();
    assert_eq!(a.encode().unwrap(), bytes);
    assert_eq!(a.open_thumbnail().unwrap().as_deref(), Some(&b"thumb"[..]));
    let file = seal_file(secret(), b"hello").unwrap();
    let opener = FileOpener::new(a.secret.clone(), a.size, a.chunk_count, a.root).unwrap();
    let out = open_file(opener, |h| {
        file.all_chunks()
            .find(|c| c.hash == *h)
            .map(|c| c.bytes.clone())
    })
    .unwrap();
    assert_eq!(out, b"hello");
    let bytes = hex::decode(committed["location"].as_str().unwrap()).unwrap();
    assert_eq!(Location::decode(&bytes).unwrap().encode().unwrap(), bytes);
}
