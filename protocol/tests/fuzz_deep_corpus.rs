//! The corpora of the fuzz targets behind the cryptography
//! (`fuzz/corpus/{onion_routing,onion_request,onion_response,envelope_inner}/`)
//! replayed as ordinary tests, through the same functions the `cargo fuzz`
//! binaries call (`fuzz/src/deep.rs`, included below with the fixtures and
//! sealing helpers it uses), and the seeds those corpora started from.
//!
//! Each seed is the plaintext the harness seals under the fixture keys: valid
//! routing infos, frames and inner envelopes, and near-valid ones just over an
//! edge (an unknown command, non-zero reserved bytes or padding, a length that
//! does not fit, a bad sender key or signature). Every valid seed must be
//! accepted and every near-valid one refused, so a change to the layer key
//! derivation the harness copies shows up here. To rewrite the seed files:
//! `SOTTO_REGENERATE_CORPUS=1 cargo test -p sotto-protocol --test
//! fuzz_deep_corpus`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code, reason = "the fuzz crate's file; this test uses part of it")]
#[path = "../../fuzz/src/deep.rs"]
mod deep;
#[allow(dead_code, reason = "the fuzz crate's file; this test uses part of it")]
#[path = "../../fuzz/src/protocol.rs"]
mod protocol;
#[allow(dead_code, reason = "the fuzz crate's file; this test uses part of it")]
#[path = "../../fuzz/src/replay.rs"]
mod replay;
#[allow(dead_code, reason = "the fuzz crate's file; this test uses part of it")]
#[path = "../../fuzz/src/seal.rs"]
mod seal;

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sotto_protocol::constants::{
    DEFAULT_TTL_MS, KEY_LEN, ONION_DIGEST_LEN, ONION_HEADER_LEN, ONION_REQUEST_CLASSES,
    ONION_ROUTING_LEN, ONION_SLOT_LEN, TAG_LEN,
};
use sotto_protocol::envelope::{Content, ContentBody, ContentId, ReceiptKind};
use sotto_protocol::rpc::{Request, Response, StoreRequest};
use sotto_protocol::{Namespace, NodeId};

use replay::{Seed, check_seeds, corpus_dir, replay};

/// A target: bytes in, accepted or not out.
type Target = fn(&[u8]) -> bool;

/// `u32 LE length ‖ body`: a frame whose padding the harness adds.
fn framed(body: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(body.len()).unwrap().to_le_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// `flags ‖ rest`.
fn with_flags(flags: u8, rest: &[u8]) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(rest);
    out
}

fn routing(command: u8, next: [u8; KEY_LEN]) -> [u8; ONION_ROUTING_LEN] {
    let mut r = [0u8; ONION_ROUTING_LEN];
    r[0] = command;
    r[1..1 + KEY_LEN].copy_from_slice(&next);
    r
}

fn onion_routing_seeds() -> Vec<Seed> {
    let next = NodeId([0xc1; 32]).0;
    let forward = routing(0, next);
    let deliver = routing(1, [0; KEY_LEN]);
    let mut reserved = forward;
    reserved[ONION_ROUTING_LEN - 1] = 1;
    let mut deliver_next = deliver;
    deliver_next[7] = 1;
    // A validity minute (2027) in the routing: read, never refused by peeling.
    let mut dated = forward;
    dated[1 + KEY_LEN + ONION_DIGEST_LEN..1 + KEY_LEN + ONION_DIGEST_LEN + 4]
        .copy_from_slice(&30_000_000u32.to_le_bytes());
    let unknown = routing(2, next);
    // A Deliver whose payload (zeros here) does not open: past the routing.
    let later = vec![0x5a; 2 * ONION_SLOT_LEN];
    vec![
        Seed::valid("forward-4k", with_flags(0, &forward)),
        Seed::valid("forward-96k", with_flags(1, &forward)),
        Seed::valid(
            "forward-with-rest",
            with_flags(0, &[&forward[..], &later].concat()),
        ),
        Seed::refused("deliver-unopened-payload", with_flags(0, &deliver)),
        Seed::refused("reserved-not-zero", with_flags(0, &reserved)),
        Seed::refused("deliver-names-next-hop", with_flags(0, &deliver_next)),
        Seed::refused("unknown-command", with_flags(1, &unknown)),
        Seed::refused("own-digest", with_flags(2, &forward)),
        Seed::valid("forward-dated", with_flags(0, &dated)),
    ]
}

fn store_request(data_len: usize) -> Vec<u8> {
    Request::Store(StoreRequest::unsigned(
        protocol::recipient_key().account_id(),
        Namespace::INBOX,
        vec![0x42; data_len],
        DEFAULT_TTL_MS,
    ))
    .encode()
    .unwrap()
}

fn onion_request_seeds() -> Vec<Seed> {
    let ping = Request::Ping.encode().unwrap();
    let store = store_request(1_000);
    let big = store_request(60_000);
    let small_payload = ONION_REQUEST_CLASSES[0] - ONION_HEADER_LEN - TAG_LEN;
    let mut too_long = framed(&ping);
    too_long[..4].copy_from_slice(&u32::try_from(small_payload - 3).unwrap().to_le_bytes());
    let mut dirty = framed(&ping);
    dirty.push(1);
    vec![
        Seed::valid("ping-4k", with_flags(0, &framed(&ping))),
        Seed::valid("store-4k", with_flags(0, &framed(&store))),
        Seed::valid("ping-96k", with_flags(1, &framed(&ping))),
        Seed::valid("store-60k-96k", with_flags(1, &framed(&big))),
        Seed::valid("empty-frame", with_flags(0, &[])),
        Seed::refused("length-does-not-fit", with_flags(0, &too_long)),
        Seed::refused("padding-not-zero", with_flags(1, &dirty)),
    ]
}

fn onion_response_seeds() -> Vec<Seed> {
    let pong = Response::Pong {
        node_time: protocol::FUZZ_NOW,
    }
    .encode()
    .unwrap();
    let mut too_long = framed(&pong);
    too_long[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut dirty = framed(&pong);
    dirty.extend_from_slice(&[0, 0, 9]);
    vec![
        Seed::valid("pong-4k", with_flags(0, &framed(&pong))),
        Seed::valid("pong-96k", with_flags(1, &framed(&pong))),
        Seed::valid("pong-1m", with_flags(2, &framed(&pong))),
        Seed::valid(
            "relay-error-4k",
            with_flags(4, &framed(b"next hop unreachable")),
        ),
        Seed::valid(
            "relay-error-1m",
            with_flags(6, &framed(b"next hop unreachable")),
        ),
        Seed::refused("length-does-not-fit", with_flags(1, &too_long)),
        Seed::refused("padding-not-zero", with_flags(2, &dirty)),
        Seed::refused("relay-padding-not-zero", with_flags(4, &dirty)),
    ]
}

fn contents() -> Vec<(&'static str, Vec<u8>)> {
    let mut rng = ChaCha20Rng::from_seed([0xd0; 32]);
    let made_at = protocol::FUZZ_NOW - 60_000;
    let bodies = [
        (
            "text",
            ContentBody::Text {
                text: "hello, parser".into(),
            },
        ),
        (
            "receipt",
            ContentBody::Receipt {
                kind: ReceiptKind::Delivered,
                ids: vec![ContentId([0x99; 16])],
            },
        ),
        ("typing", ContentBody::Typing { started: false }),
        (
            "profile",
            ContentBody::Profile {
                display_name: "Bo".into(),
            },
        ),
    ];
    bodies
        .into_iter()
        .map(|(name, body)| {
            (
                name,
                Content::new(&mut rng, made_at, body).to_bytes().unwrap(),
            )
        })
        .collect()
}

fn envelope_inner_seeds() -> Vec<Seed> {
    let recipient = protocol::recipient_key().account_id();
    let sender = deep::envelope_sender();
    let mut seeds = vec![];
    for (name, content) in contents() {
        let inner = seal::signed_inner(&sender, &recipient, &content);
        seeds.push(Seed::valid(
            &format!("{name}-signed-by-harness"),
            with_flags(8, &inner),
        ));
        seeds.push(Seed::valid(
            &format!("{name}-signed"),
            with_flags(0, &inner),
        ));
    }
    let (_, text) = &contents()[0];
    let inner = seal::signed_inner(&sender, &recipient, text);
    seeds.push(Seed::valid("text-padded-to-64k", with_flags(8 | 4, &inner)));
    let mut bad_signature = inner.clone();
    bad_signature[KEY_LEN + 5] ^= 1;
    seeds.push(Seed::refused(
        "bad-signature",
        with_flags(0, &bad_signature),
    ));
    let mut bad_sender = inner.clone();
    bad_sender[..KEY_LEN].fill(0xff);
    seeds.push(Seed::refused("bad-sender-key", with_flags(0, &bad_sender)));
    let mut too_long = inner.clone();
    too_long[KEY_LEN + 64..KEY_LEN + 68].copy_from_slice(&400u32.to_le_bytes());
    seeds.push(Seed::refused(
        "length-does-not-fit",
        with_flags(8, &too_long),
    ));
    let mut dirty = inner.clone();
    dirty.push(7);
    seeds.push(Seed::refused("padding-not-zero", with_flags(8, &dirty)));
    seeds.push(Seed::refused(
        "content-not-decoding",
        with_flags(8, &seal::signed_inner(&sender, &recipient, b"\xff\xff")),
    ));
    seeds
}

/// Every target with its seeds.
fn targets() -> Vec<(&'static str, Target, Vec<Seed>)> {
    vec![
        ("onion_routing", deep::onion_routing, onion_routing_seeds()),
        ("onion_request", deep::onion_request, onion_request_seeds()),
        (
            "onion_response",
            deep::onion_response,
            onion_response_seeds(),
        ),
        (
            "envelope_inner",
            deep::envelope_inner,
            envelope_inner_seeds(),
        ),
    ]
}

fn replay_target(name: &str) {
    let (_, run, _) = targets().into_iter().find(|(n, ..)| *n == name).unwrap();
    replay(name, &corpus_dir(env!("CARGO_MANIFEST_DIR"), name), run);
}

#[test]
fn replay_onion_routing() {
    replay_target("onion_routing");
}

#[test]
fn replay_onion_request() {
    replay_target("onion_request");
}

#[test]
fn replay_onion_response() {
    replay_target("onion_response");
}

#[test]
fn replay_envelope_inner() {
    replay_target("envelope_inner");
}

/// Valid seeds are accepted and near-valid ones refused (so the harness's sealing
/// still matches the protocol's); `SOTTO_REGENERATE_CORPUS=1` writes them.
#[test]
fn seeds_get_the_right_answer() {
    for (name, run, seeds) in targets() {
        check_seeds(
            name,
            &corpus_dir(env!("CARGO_MANIFEST_DIR"), name),
            &seeds,
            run,
        );
    }
}
