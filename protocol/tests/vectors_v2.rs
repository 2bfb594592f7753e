//! Known-answer vectors for messages v2 (`tests/vectors/messages_v2.json`): from
//! fixed account entropy and one seeded generator, Bob's prekey bundle, Alice's
//! PQXDH initiation and session secret, and a short conversation (ratchet
//! messages and the envelopes around them) must give the committed bytes; the
//! committed bytes must decode and re-encode to themselves, and the committed
//! envelopes must open, in order, to the committed contents.
//!
//! After a deliberate format change, regenerate with
//! `scripts/regenerate-vectors.sh` (or `SOTTO_REGENERATE_VECTORS=1 cargo test -p
//! sotto-protocol --test vectors_v2`) and review the diff.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::path::PathBuf;

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sotto_protocol::AccountKey;
use sotto_protocol::envelope::v2::{self, Body};
use sotto_protocol::envelope::{Content, ContentBody, ContentId};
use sotto_protocol::pqxdh::{self, InitHeader};
use sotto_protocol::prekey::{PrekeySecrets, SignedPrekeyBundle};
use sotto_protocol::ratchet::{RatchetMessage, Session};

const ALICE: [u8; 16] = *b"sotto test alice";
const BOB: [u8; 16] = *b"sotto test bob!!";
const SEED: [u8; 32] = *b"sotto messages v2 vectors seed!!";
const NOW: u64 = 1_750_000_000_000;
/// One-time keys of each kind kept in the vector's bundle (a full one is 62 KB).
const ONE_TIME_IN_VECTOR: usize = 2;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Message {
    from: String,
    content: String,
    ratchet_message: String,
    envelope: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct File {
    description: String,
    alice_entropy: String,
    bob_entropy: String,
    rng_seed: String,
    now: u64,
    bundle: String,
    init_header: String,
    session_id: String,
    session_secret: String,
    messages: Vec<Message>,
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/messages_v2.json")
}

fn text(n: u8, s: &str) -> Content {
    Content {
        id: ContentId([n; 16]),
        sent_at: NOW + u64::from(n),
        body: ContentBody::Text { text: s.into() },
    }
}

/// Who sends what, in order.
fn script() -> Vec<(bool, Content)> {
    vec![
        (true, text(1, "Hello Bob, this is the first message.")),
        (true, text(2, "A second one before you answer.")),
        (false, text(3, "Hello Alice!")),
        (true, text(4, "Now on a fresh ratchet key.")),
        (false, text(5, "And back.")),
    ]
}

fn bob_secrets(rng: &mut ChaCha20Rng) -> PrekeySecrets {
    PrekeySecrets::generate(NOW, rng)
}

fn ratchet_of(own: &AccountKey, env: &[u8]) -> (RatchetMessage, Option<InitHeader>) {
    match v2::unseal(own, env).unwrap().body {
        Body::Init { init, message } => (message, Some(init)),
        Body::Ratchet { message } => (message, None),
    }
}

/// Everything from the fixed inputs.
fn compute() -> File {
    let mut rng = ChaCha20Rng::from_seed(SEED);
    let alice = AccountKey::from_entropy(ALICE);
    let bob = AccountKey::from_entropy(BOB);
    let secrets = bob_secrets(&mut rng);
    let mut bundle = secrets.bundle(&bob, NOW).unwrap().bundle;
    bundle.one_time_prekeys.truncate(ONE_TIME_IN_VECTOR);
    bundle.one_time_kem_prekeys.truncate(ONE_TIME_IN_VECTOR);
    let signed = SignedPrekeyBundle::sign(&bob, bundle).unwrap();
    let verified = signed.verify(&bob.account_id(), NOW).unwrap();

    let (hs, init) = pqxdh::initiate(&alice, &verified, NOW, &mut rng).unwrap();
    let session_secret = hex::encode(*hs.secret);
    let session_id = hex::encode(hs.session_id.0);
    let mut a = Session::initiator(hs, init.clone(), &mut rng).unwrap();
    let mut b: Option<Session> = None;
    let mut messages = Vec::new();
    for (from_alice, content) in script() {
        let (sender, recipient) = if from_alice {
            (&mut a, &bob)
        } else {
            (b.as_mut().unwrap(), &alice)
        };
        let env = v2::seal_content(sender, &content, &mut rng).unwrap();
        let (message, carried_init) = ratchet_of(recipient, &env);
        // The recipient reads it, so the conversation goes on.
        match (&mut b, carried_init) {
            (None, Some(i)) => {
                let acc = v2::accept_init(&bob, &secrets, &alice.account_id(), &i, &message, NOW)
                    .unwrap();
                assert_eq!(acc.content, content);
                b = Some(acc.session);
            }
            (Some(bs), _) if from_alice => {
                assert_eq!(v2::open_content(bs, &message, NOW).unwrap(), content);
            }
            _ => assert_eq!(v2::open_content(&mut a, &message, NOW).unwrap(), content),
        }
        messages.push(Message {
            from: if from_alice { "alice" } else { "bob" }.into(),
            content: hex::encode(content.to_bytes().unwrap()),
            ratchet_message: hex::encode(message.encode().unwrap()),
            envelope: hex::encode(env),
        });
    }
    File {
        description: "Messages v2 known answers. ChaCha20Rng::from_seed(rng_seed) is used, in this \
                      order, for: PrekeySecrets::generate(now) of Bob (the bundle keeps the first 2 \
                      one-time keys of each kind and is signed again), pqxdh::initiate by Alice, \
                      Session::initiator, then seal_content for every message in order (Bob's \
                      session comes from accept_init of the first). `session_secret` is PQXDH's SK; \
                      every `envelope` opens for its recipient to `content`."
            .into(),
        alice_entropy: hex::encode(ALICE),
        bob_entropy: hex::encode(BOB),
        rng_seed: hex::encode(SEED),
        now: NOW,
        bundle: hex::encode(signed.encode().unwrap()),
        init_header: hex::encode(init.encode().unwrap()),
        session_id,
        session_secret,
        messages,
    }
}

#[test]
fn messages_v2_vectors() {
    let computed = compute();
    if std::env::var("SOTTO_REGENERATE_VECTORS").as_deref() == Ok("1") {
        let text = serde_json::to_string_pretty(&computed).unwrap() + "\n";
        std::fs::write(path(), text).unwrap();
        return;
    }
    let committed: File = serde_json::from_str(&std::fs::read_to_string(path()).unwrap()).unwrap();
    // Computing from the fixed inputs gives the committed bytes, field by field.
    assert_eq!(committed.bundle, computed.bundle, "bundle");
    assert_eq!(committed.init_header, computed.init_header, "init header");
    assert_eq!(
        committed.session_secret, computed.session_secret,
        "session secret"
    );
    assert_eq!(committed.session_id, computed.session_id, "session id");
    assert_eq!(committed.messages.len(), computed.messages.len());
    for (c, f) in committed.messages.iter().zip(&computed.messages) {
        assert_eq!(c, f);
    }
    assert_eq!(committed, computed);

    // The committed bytes decode and re-encode to themselves.
    let bundle = SignedPrekeyBundle::decode(&hex::decode(&committed.bundle).unwrap()).unwrap();
    assert_eq!(hex::encode(bundle.encode().unwrap()), committed.bundle);
    let bob = AccountKey::from_entropy(BOB);
    let alice = AccountKey::from_entropy(ALICE);
    bundle.verify(&bob.account_id(), NOW).unwrap();
    let init = InitHeader::decode(&hex::decode(&committed.init_header).unwrap()).unwrap();
    assert_eq!(hex::encode(init.encode().unwrap()), committed.init_header);
    assert_eq!(
        hex::encode(init.session_id().unwrap().0),
        committed.session_id
    );
    for m in &committed.messages {
        let rm = RatchetMessage::decode(&hex::decode(&m.ratchet_message).unwrap()).unwrap();
        assert_eq!(hex::encode(rm.encode().unwrap()), m.ratchet_message);
    }

    // Bob, from his prekey secrets alone, opens the committed envelopes Alice
    // sent before his first answer (after it, opening needs the ratchet key his
    // answer made; `compute` opened every message as the conversation went).
    let mut rng = ChaCha20Rng::from_seed(SEED);
    let secrets = bob_secrets(&mut rng);
    let mut b: Option<Session> = None;
    for m in committed.messages.iter().take_while(|m| m.from == "alice") {
        let env = hex::decode(&m.envelope).unwrap();
        let (message, carried) = ratchet_of(&bob, &env);
        let content = match (&mut b, carried) {
            (None, Some(i)) => {
                let acc = v2::accept_init(&bob, &secrets, &alice.account_id(), &i, &message, NOW)
                    .unwrap();
                b = Some(acc.session);
                acc.content
            }
            (Some(s), _) => v2::open_content(s, &message, NOW).unwrap(),
            (None, None) => panic!("first message carries no initiation"),
        };
        assert_eq!(hex::encode(content.to_bytes().unwrap()), m.content);
    }
}
