//! The corpora of the messages v2 fuzz targets
//! (`fuzz/corpus/{prekey_bundle,ratchet_message,envelope_v2}/`) replayed as
//! ordinary tests through the functions the `cargo fuzz` binaries call
//! (`fuzz/src/messages_v2.rs`, included below), and the seeds they started
//! from: valid inputs built from the fixture conversation, which must be
//! accepted, and near-valid ones just over an edge, which must be refused. To
//! rewrite the seed files after a deliberate format change:
//! `SOTTO_REGENERATE_CORPUS=1 cargo test -p sotto-protocol --test fuzz_v2_corpus seeds`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code, reason = "the fuzz crate's file; this test uses part of it")]
#[path = "../../fuzz/src/replay.rs"]
mod replay;
#[allow(dead_code, reason = "the fuzz crate's file; this test uses part of it")]
#[path = "../../fuzz/src/messages_v2.rs"]
mod targets;

use replay::{Seed, check_seeds, corpus_dir, replay};
use sotto_protocol::AccountKey;
use sotto_protocol::codec;
use sotto_protocol::envelope::v2::{self, Body, KIND_INIT, KIND_RATCHET};
use sotto_protocol::pqxdh::InitHeader;
use sotto_protocol::ratchet::RatchetMessage;

fn dir(target: &str) -> std::path::PathBuf {
    corpus_dir(env!("CARGO_MANIFEST_DIR"), target)
}

fn with_flags(flags: u8, rest: &[u8]) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(rest);
    out
}

/// The fixture's two envelopes, unsealed.
fn bodies() -> (InitHeader, RatchetMessage, RatchetMessage) {
    let f = targets::fixture();
    let Body::Init { init, message } = v2::unseal(&f.recipient, &f.init_envelope).unwrap().body
    else {
        panic!("not an init")
    };
    let Body::Ratchet { message: second } =
        v2::unseal(&f.recipient, &f.ratchet_envelope).unwrap().body
    else {
        panic!("not a ratchet message")
    };
    (init, message, second)
}

/// `sender ‖ kind ‖ length ‖ body`: an inner plaintext the harness pads and seals.
fn inner(sender: &AccountKey, kind: u8, body: &[u8]) -> Vec<u8> {
    let mut out = sender.account_id().as_bytes().to_vec();
    out.push(kind);
    out.extend_from_slice(&u32::try_from(body.len()).unwrap().to_le_bytes());
    out.extend_from_slice(body);
    out
}

fn prekey_bundle_seeds() -> Vec<Seed> {
    let f = targets::fixture();
    let mut bad_signature = f.bundle.clone();
    *bad_signature.last_mut().unwrap() ^= 1;
    vec![
        Seed::valid("bundle", f.bundle.clone()),
        Seed::refused("bad-signature", bad_signature),
        Seed::refused("truncated", f.bundle[..f.bundle.len() / 2].to_vec()),
    ]
}

fn ratchet_message_seeds() -> Vec<Seed> {
    let (init, _, second) = bodies();
    let mut flipped = second.clone();
    flipped.ciphertext[0] ^= 1;
    let mut far = second.clone();
    far.header.n = 5000;
    let header = second.header.encode().unwrap();
    vec![
        Seed::valid("header", with_flags(0, &header)),
        Seed::valid("message", with_flags(1, &second.encode().unwrap())),
        Seed::valid("init", with_flags(2, &init.encode().unwrap())),
        Seed::refused("message-flipped", with_flags(1, &flipped.encode().unwrap())),
        Seed::refused("message-far-ahead", with_flags(1, &far.encode().unwrap())),
        Seed::refused(
            "header-truncated",
            with_flags(0, &header[..header.len() - 1]),
        ),
    ]
}

fn envelope_v2_seeds() -> Vec<Seed> {
    let f = targets::fixture();
    let (init, first, second) = bodies();
    let init_body = codec::encode("t", &(&init, &first)).unwrap();
    let ratchet_body = second.encode().unwrap();
    let mut padded = inner(&f.sender, KIND_RATCHET, &ratchet_body);
    padded.extend_from_slice(&[0, 0, 1]);
    let mut flipped = f.init_envelope.clone();
    flipped[100] ^= 1;
    let mallory = AccountKey::from_entropy([0x6d; 16]);
    vec![
        Seed::valid("init-envelope", with_flags(0, &f.init_envelope)),
        Seed::valid("ratchet-envelope", with_flags(0, &f.ratchet_envelope)),
        Seed::valid(
            "init-inner",
            with_flags(1, &inner(&f.sender, KIND_INIT, &init_body)),
        ),
        Seed::valid(
            "ratchet-inner",
            with_flags(1, &inner(&f.sender, KIND_RATCHET, &ratchet_body)),
        ),
        Seed::refused("flipped-envelope", with_flags(0, &flipped)),
        Seed::refused("non-zero-padding", with_flags(1, &padded)),
        Seed::refused(
            "unknown-kind",
            with_flags(1, &inner(&f.sender, 9, &ratchet_body)),
        ),
        Seed::refused(
            "kinds-swapped",
            with_flags(1, &inner(&f.sender, KIND_INIT, &ratchet_body)),
        ),
        Seed::refused(
            "other-sender-init",
            with_flags(1, &inner(&mallory, KIND_INIT, &init_body)),
        ),
        Seed::refused(
            "other-sender-ratchet",
            with_flags(1, &inner(&mallory, KIND_RATCHET, &ratchet_body)),
        ),
    ]
}

#[test]
fn seeds_prekey_bundle() {
    check_seeds(
        "prekey_bundle",
        &dir("prekey_bundle"),
        &prekey_bundle_seeds(),
        targets::prekey_bundle,
    );
}

#[test]
fn seeds_ratchet_message() {
    check_seeds(
        "ratchet_message",
        &dir("ratchet_message"),
        &ratchet_message_seeds(),
        targets::ratchet_message,
    );
}

#[test]
fn seeds_envelope_v2() {
    check_seeds(
        "envelope_v2",
        &dir("envelope_v2"),
        &envelope_v2_seeds(),
        targets::envelope_v2,
    );
}

#[test]
fn replay_prekey_bundle() {
    replay(
        "prekey_bundle",
        &dir("prekey_bundle"),
        targets::prekey_bundle,
    );
}

#[test]
fn replay_ratchet_message() {
    replay(
        "ratchet_message",
        &dir("ratchet_message"),
        targets::ratchet_message,
    );
}

#[test]
fn replay_envelope_v2() {
    replay("envelope_v2", &dir("envelope_v2"), targets::envelope_v2);
}
