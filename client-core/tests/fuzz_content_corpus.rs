//! The `client_content` fuzz corpus (`fuzz/corpus/client_content/`) replayed as
//! an ordinary test, through the same function the `cargo fuzz` binary calls
//! (`fuzz/src/messenger.rs`, included below with the sealing helpers it uses),
//! against a real offline Messenger in a temporary home, and the seeds the
//! corpus started from: every content kind from a contact, a stranger and a
//! blocked account, and contents that do not decode.
//! `SOTTO_REGENERATE_CORPUS=1 cargo test -p sotto-client --test
//! fuzz_content_corpus` rewrites the `seed-*` files.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code, reason = "the fuzz crate's file; this test uses part of it")]
#[path = "../../fuzz/src/messenger.rs"]
mod messenger;
#[allow(dead_code, reason = "the fuzz crate's file; this test uses part of it")]
#[path = "../../fuzz/src/replay.rs"]
mod replay;
#[allow(dead_code, reason = "the fuzz crate's file; this test uses part of it")]
#[path = "../../fuzz/src/seal.rs"]
mod seal;

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sotto_protocol::attachment::stream::NONCE_PREFIX_LEN;
use sotto_protocol::attachment::{Attachment, AttachmentKind, ChunkHash, FileSecret, Location};
use sotto_protocol::envelope::{Content, ContentBody, ContentId, DisappearMode, ReceiptKind};

use messenger::{ClientFixture, client_content_with};
use replay::{Seed, check_seeds, corpus_dir, replay};

/// Sender selectors (see `client_content_with`).
const CONTACT: u8 = 0;
const STRANGER: u8 = 1;
const BLOCKED: u8 = 2;
/// Hand the message over twice.
const TWICE: u8 = 4;

fn input(selector: u8, content: &Content) -> Vec<u8> {
    let mut out = vec![selector];
    out.extend_from_slice(&content.to_bytes().unwrap());
    out
}

fn seeds() -> Vec<Seed> {
    let mut rng = ChaCha20Rng::from_seed([0xcc; 32]);
    // Dated 2100-01-01: a fixed date in the past would fall out of the
    // dedupe window one day and be refused as stale (chat/metadata.rs); the
    // timer and profile seeds then take the "from the future" refusal.
    let at = 4_102_444_800_000;
    let mut content = |body| Content::new(&mut rng, at, body);
    let text = content(ContentBody::Text {
        text: "hello from a fuzzer".into(),
    });
    let text_id = text.id;
    let stranger_text = content(ContentBody::Text {
        text: "may I write to you?".into(),
    });
    let blocked_text = content(ContentBody::Text {
        text: "let me in".into(),
    });
    let receipt = content(ContentBody::Receipt {
        kind: ReceiptKind::Read,
        ids: vec![text_id, ContentId([0x77; 16])],
    });
    let delete = content(ContentBody::DeleteForEveryone { ids: vec![text_id] });
    let timer = content(ContentBody::DisappearingTimer {
        mode: DisappearMode::AfterRead { ms: 3_600_000 },
    });
    let profile = content(ContentBody::Profile {
        display_name: "Mallory".into(),
    });
    let typing = content(ContentBody::Typing { started: true });
    let accepted = content(ContentBody::RequestResponse { accepted: true });
    let attachment = content(ContentBody::Attachment {
        attachment: Attachment {
            kind: AttachmentKind::Image,
            name: "../../.bashrc".into(),
            media_type: "image/png".into(),
            size: 70_000,
            secret: FileSecret::from_parts([7; 32], [9; NONCE_PREFIX_LEN]),
            root: ChunkHash([5; 32]),
            chunk_count: 2,
            thumbnail: None,
            duration_ms: None,
        },
        caption: Some("a picture".into()),
    });
    let location = content(ContentBody::Location {
        location: Location {
            lat: -33.8568,
            lon: 151.2153,
            label: Some("Opera House".into()),
        },
    });
    let token = content(ContentBody::DeliveryToken {
        token: sotto_protocol::rpc::DeliveryToken([0x3c; 32]),
    });
    let mut bad = input(CONTACT, &text);
    bad.truncate(bad.len() - 1);
    vec![
        Seed::valid("text-from-contact", input(CONTACT | TWICE, &text)),
        Seed::valid("text-from-stranger", input(STRANGER, &stranger_text)),
        Seed::valid("text-from-blocked", input(BLOCKED, &blocked_text)),
        Seed::valid("receipt", input(CONTACT, &receipt)),
        Seed::valid("delete-for-everyone", input(CONTACT, &delete)),
        Seed::valid("timer", input(STRANGER, &timer)),
        Seed::valid("profile", input(CONTACT, &profile)),
        Seed::valid("typing", input(CONTACT, &typing)),
        Seed::valid("request-accepted", input(3, &accepted)),
        Seed::refused("content-cut-short", bad),
        Seed::refused("content-empty", vec![CONTACT]),
        Seed::valid("attachment", input(CONTACT | TWICE, &attachment)),
        Seed::valid("location-from-stranger", input(STRANGER, &location)),
        Seed::valid("delivery-token-from-stranger", input(STRANGER, &token)),
    ]
}

fn fixture(home: &tempfile::TempDir) -> ClientFixture {
    ClientFixture::new(&home.path().join("home")).unwrap()
}

#[test]
fn replay_client_content() {
    let home = tempfile::tempdir().unwrap();
    let fixture = fixture(&home);
    replay(
        "client_content",
        &corpus_dir(env!("CARGO_MANIFEST_DIR"), "client_content"),
        |data| client_content_with(&fixture, data),
    );
}

/// Valid seeds are handled and the others refused (in order, on one
/// Messenger); `SOTTO_REGENERATE_CORPUS=1` writes them.
#[test]
fn seeds_get_the_right_answer() {
    let home = tempfile::tempdir().unwrap();
    let fixture = fixture(&home);
    check_seeds(
        "client_content",
        &corpus_dir(env!("CARGO_MANIFEST_DIR"), "client_content"),
        &seeds(),
        |data| client_content_with(&fixture, data),
    );
    // They reached the Messenger: the contact's text is there, the blocked
    // sender's is not, and the stranger is asking.
    let counters = fixture.messenger.counters();
    assert_eq!(counters.blocked, 1, "{counters:?}");
    assert_eq!(counters.malformed, 2, "{counters:?}");
    let requests = fixture.messenger.requests().unwrap();
    assert_eq!(requests.len(), 1, "{requests:?}");
}
