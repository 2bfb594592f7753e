//! Known-answer vectors for envelope v1 (`tests/vectors/envelope.json`): fixed
//! keys, a seeded generator and fixed contents must give the committed bytes, and
//! the committed bytes must open and re-encode to themselves.
//!
//! After a deliberate format change, regenerate with
//! `SOTTO_REGENERATE_VECTORS=1 cargo test -p sotto-protocol --test vectors_envelope`
//! and review the diff.

// A test reports failure by panicking; the helpers below are test code too.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::PathBuf;

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sotto_protocol::AccountKey;
use sotto_protocol::attachment::stream::NONCE_PREFIX_LEN;
use sotto_protocol::attachment::{
    Attachment, AttachmentKind, ChunkHash, FileSecret, Location, data_chunks_for,
};
use sotto_protocol::constants::MAX_CONTENT_IDS;
use sotto_protocol::envelope::{
    Content, ContentBody, ContentId, DisappearMode, ReceiptKind, open, seal,
};

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Vector {
    name: String,
    sender_entropy: String,
    sender_id: String,
    recipient_entropy: String,
    recipient_id: String,
    rng_seed: String,
    content: String,
    envelope: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct File {
    description: String,
    vectors: Vec<Vector>,
}

const SENDER_ENTROPY: [u8; 16] = *b"sotto test alice";
const RECIPIENT_ENTROPY: [u8; 16] = *b"sotto test bob!!";
const SENT_AT: u64 = 1_750_000_000_000;

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/envelope.json")
}

/// One content of every kind, with fixed ids and times.
fn cases() -> Vec<(&'static str, Content)> {
    let id = |n: u8| ContentId([n; 16]);
    let content = |n: u8, body: ContentBody| Content {
        id: id(n),
        sent_at: SENT_AT + u64::from(n),
        body,
    };
    vec![
        (
            "text",
            content(
                1,
                ContentBody::Text {
                    text: "Hello from Sotto — ünïcödé ✓".into(),
                },
            ),
        ),
        (
            "receipt-read",
            content(
                2,
                ContentBody::Receipt {
                    kind: ReceiptKind::Read,
                    ids: vec![id(1), id(0x11)],
                },
            ),
        ),
        (
            "receipt-delivered-full",
            content(
                3,
                ContentBody::Receipt {
                    kind: ReceiptKind::Delivered,
                    ids: (0..MAX_CONTENT_IDS).map(|i| id(i as u8)).collect(),
                },
            ),
        ),
        ("typing", content(4, ContentBody::Typing { started: true })),
        (
            "timer-after-read",
            content(
                5,
                ContentBody::DisappearingTimer {
                    mode: DisappearMode::AfterRead { ms: 86_400_000 },
                },
            ),
        ),
        (
            "request-accepted",
            content(6, ContentBody::RequestResponse { accepted: true }),
        ),
        (
            "profile",
            content(
                7,
                ContentBody::Profile {
                    display_name: "Alice".into(),
                },
            ),
        ),
        (
            "delete-for-everyone",
            content(8, ContentBody::DeleteForEveryone { ids: vec![id(1)] }),
        ),
        (
            "attachment",
            content(
                9,
                ContentBody::Attachment {
                    attachment: Attachment {
                        kind: AttachmentKind::File,
                        name: "report.pdf".into(),
                        media_type: "application/pdf".into(),
                        size: 200_000,
                        secret: FileSecret::from_parts([0x5a; 32], [0xa5; NONCE_PREFIX_LEN]),
                        root: ChunkHash([0x3c; 32]),
                        chunk_count: u32::try_from(data_chunks_for(200_000)).unwrap(),
                        thumbnail: None,
                        duration_ms: None,
                    },
                    caption: Some("the draft".into()),
                },
            ),
        ),
        (
            "location",
            content(
                10,
                ContentBody::Location {
                    location: Location {
                        lat: 48.2104,
                        lon: 16.3638,
                        label: Some("Café Central".into()),
                    },
                },
            ),
        ),
    ]
}

fn seed_for(index: usize) -> [u8; 32] {
    let mut seed = [0u8; 32];
    seed[..8].copy_from_slice(b"envelope");
    seed[31] = u8::try_from(index).unwrap();
    seed
}

/// Computes every vector from the fixed inputs.
fn compute() -> Vec<Vector> {
    let sender = AccountKey::from_entropy(SENDER_ENTROPY);
    let recipient = AccountKey::from_entropy(RECIPIENT_ENTROPY);
    cases()
        .into_iter()
        .enumerate()
        .map(|(i, (name, content))| {
            let seed = seed_for(i);
            let mut rng = ChaCha20Rng::from_seed(seed);
            let envelope = seal(&sender, &recipient.account_id(), &content, &mut rng).unwrap();
            Vector {
                name: name.into(),
                sender_entropy: hex::encode(SENDER_ENTROPY),
                sender_id: sender.account_id().to_text(),
                recipient_entropy: hex::encode(RECIPIENT_ENTROPY),
                recipient_id: recipient.account_id().to_text(),
                rng_seed: hex::encode(seed),
                content: hex::encode(content.to_bytes().unwrap()),
                envelope: hex::encode(envelope),
            }
        })
        .collect()
}

#[test]
fn envelope_vectors() {
    let computed = compute();
    if std::env::var("SOTTO_REGENERATE_VECTORS").as_deref() == Ok("1") {
        let file = File {
            description: "Envelope v1 known answers: seal(sender, recipient, content) with \
                          ChaCha20Rng::from_seed(rng_seed) must give `envelope`; opening \
                          `envelope` as the recipient must give the sender and the content \
                          whose encoding is `content`."
                .into(),
            vectors: computed,
        };
        let text = serde_json::to_string_pretty(&file).unwrap() + "\n";
        std::fs::write(path(), text).unwrap();
        return;
    }

    let text = std::fs::read_to_string(path()).unwrap();
    let file: File = serde_json::from_str(&text).unwrap();
    let cases = cases();
    assert_eq!(file.vectors.len(), cases.len());
    let recipient = AccountKey::from_entropy(RECIPIENT_ENTROPY);

    for ((committed, fresh), (_, content)) in file.vectors.iter().zip(&computed).zip(&cases) {
        // The inputs are the ones the file claims.
        assert_eq!(committed.name, fresh.name);
        assert_eq!(committed.sender_id, fresh.sender_id, "{}", committed.name);
        assert_eq!(
            committed.recipient_id, fresh.recipient_id,
            "{}",
            committed.name
        );
        // Encoding and sealing give the committed bytes.
        assert_eq!(
            committed.content, fresh.content,
            "{}: content",
            committed.name
        );
        assert_eq!(
            committed.envelope, fresh.envelope,
            "{}: envelope",
            committed.name
        );

        // The committed bytes open, and the content re-encodes to the same bytes.
        let bytes = hex::decode(&committed.envelope).unwrap();
        let opened = open(&recipient, &bytes).unwrap();
        assert_eq!(opened.sender.to_text(), committed.sender_id);
        assert_eq!(&opened.content, content, "{}", committed.name);
        assert_eq!(
            hex::encode(opened.content.to_bytes().unwrap()),
            committed.content,
            "{}",
            committed.name
        );
        // Decoding the committed content directly agrees.
        let decoded = Content::from_bytes(&hex::decode(&committed.content).unwrap()).unwrap();
        assert_eq!(&decoded, content);
    }
}
