//! The messages v2 fuzz targets: the prekey bundle, the ratchet header, message
//! and PQXDH initiation decoders, and envelope v2 (outer layer, inner layout,
//! and what the recipient does with the body), shared by the `cargo fuzz`
//! binaries and by `protocol/tests/fuzz_v2_corpus.rs`, which replays the
//! committed corpora through the same code.
//!
//! Like the other targets: arbitrary bytes in, never a panic, `true` when the
//! input was accepted; an accepted value must survive encode → decode. The
//! fixture ([`fixture`]) is a conversation built once from fixed seeds: the
//! recipient's prekey secrets, its session with a fixed sender, and that
//! sender's first (init) and second (ratchet) envelopes, so seeds get past the
//! AEAD tags to the code behind them. A ratchet message that fails must leave
//! the session unchanged (decryption is transactional): a change is a finding.
//!
//! Used by the fuzz crate and included by the replay test; it names nothing of
//! the fuzz crate.

use std::sync::OnceLock;

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sotto_protocol::codec;
use sotto_protocol::constants::{
    ENVELOPE_BUCKETS, ENVELOPE_HEADER_LEN, ENVELOPE_VERSION_V2, KEY_LEN, TAG_LEN,
};
use sotto_protocol::crypto::{dh, kdf, seal_in_place};
use sotto_protocol::envelope::v2::{self, Body, ENVELOPE_V2_KEY_CONTEXT};
use sotto_protocol::envelope::{Content, ContentBody, ContentId};
use sotto_protocol::pqxdh::InitHeader;
use sotto_protocol::prekey::{PrekeySecrets, SignedPrekeyBundle};
use sotto_protocol::ratchet::{Header, RatchetMessage, Session};
use sotto_protocol::{AccountKey, OnionSecret, UnixMillis};

/// The clock of these targets (2026-01-01T00:10:00Z, as the other targets').
pub const V2_FUZZ_NOW: UnixMillis = 1_767_225_600_000 + 10 * 60 * 1_000;
/// Entropy of the fixture's sender.
pub const V2_SENDER_ENTROPY: [u8; 16] = [0x61; 16];
/// Entropy of the fixture's recipient.
pub const V2_RECIPIENT_ENTROPY: [u8; 16] = [0x62; 16];
/// Seed of the generator the fixture is built with.
pub const V2_FIXTURE_SEED: [u8; 32] = [0x63; 32];

/// The fixed conversation the targets run against.
pub struct Fixture {
    /// The sender.
    pub sender: AccountKey,
    /// The recipient.
    pub recipient: AccountKey,
    /// The recipient's prekey secrets.
    pub secrets: PrekeySecrets,
    /// The recipient's bundle as published (full: 50 + 50 one-time keys).
    pub bundle: Vec<u8>,
    /// The recipient's session, after its reply, before the sender's second
    /// message.
    pub session: Session,
    /// The sender's first envelope (an initiation).
    pub init_envelope: Vec<u8>,
    /// The sender's second envelope (a ratchet message).
    pub ratchet_envelope: Vec<u8>,
}

/// The fixture, built once.
pub fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(build_fixture)
}

#[allow(
    clippy::expect_used,
    reason = "fixed inputs: a failure is a bug in the fixture"
)]
fn build_fixture() -> Fixture {
    let mut rng = ChaCha20Rng::from_seed(V2_FIXTURE_SEED);
    let sender = AccountKey::from_entropy(V2_SENDER_ENTROPY);
    let recipient = AccountKey::from_entropy(V2_RECIPIENT_ENTROPY);
    let now = V2_FUZZ_NOW;
    let secrets = PrekeySecrets::generate(now, &mut rng);
    let signed = secrets.bundle(&recipient, now).expect("bundle");
    let bundle = signed.encode().expect("bundle encodes");
    let verified = signed
        .verify(&recipient.account_id(), now)
        .expect("bundle verifies");
    let text = |n: u8, s: &str| Content {
        id: ContentId([n; 16]),
        sent_at: now,
        body: ContentBody::Text { text: s.into() },
    };
    let mut a = v2::start_session(&sender, &verified, now, &mut rng).expect("start");
    let init_envelope = v2::seal_content(&mut a, &text(1, "first"), &mut rng).expect("seal");
    let u = v2::unseal(&recipient, &init_envelope).expect("unseal");
    let Body::Init { init, message } = u.body else {
        unreachable!("the first envelope carries the initiation")
    };
    let acc =
        v2::accept_init(&recipient, &secrets, &u.sender, &init, &message, now).expect("accept");
    let mut session = acc.session;
    let reply = v2::seal_content(&mut session, &text(2, "reply"), &mut rng).expect("reply");
    let reply_message = match v2::unseal(&sender, &reply).expect("unseal reply").body {
        Body::Init { message, .. } | Body::Ratchet { message } => message,
    };
    v2::open_content(&mut a, &reply_message, now).expect("open reply");
    let ratchet_envelope = v2::seal_content(&mut a, &text(3, "second"), &mut rng).expect("seal");
    Fixture {
        sender,
        recipient,
        secrets,
        bundle,
        session,
        init_envelope,
        ratchet_envelope,
    }
}

/// Asserts that `value` survives encode → decode.
fn assert_round_trip<T: PartialEq + std::fmt::Debug>(
    what: &str,
    value: &T,
    encode: impl Fn(&T) -> sotto_protocol::Result<Vec<u8>>,
    decode: impl Fn(&[u8]) -> sotto_protocol::Result<T>,
) {
    let bytes = encode(value).unwrap_or_else(|e| panic!("{what}: re-encoding failed: {e}"));
    let back = decode(&bytes).unwrap_or_else(|e| panic!("{what}: decoding own encoding: {e}"));
    assert_eq!(&back, value, "{what}: round trip changed the value");
}

/// `SignedPrekeyBundle::decode`, then `verify` against the account it names at
/// [`V2_FUZZ_NOW`]. Accepted: it verified.
pub fn prekey_bundle(data: &[u8]) -> bool {
    let Ok(bundle) = SignedPrekeyBundle::decode(data) else {
        return false;
    };
    assert_round_trip(
        "prekey bundle",
        &bundle,
        SignedPrekeyBundle::encode,
        SignedPrekeyBundle::decode,
    );
    bundle.verify(&bundle.bundle.account, V2_FUZZ_NOW).is_ok()
}

/// The first byte picks the decoder for the rest: 0 `Header::decode`, 1
/// `RatchetMessage::decode` then decryption on a copy of the fixture session
/// (which must be unchanged if it fails), 2 `InitHeader::decode` and its
/// session id. Accepted: decoded (and for 1, decrypted).
pub fn ratchet_message(data: &[u8]) -> bool {
    let Some((&which, rest)) = data.split_first() else {
        return false;
    };
    match which % 3 {
        0 => Header::decode(rest)
            .map(|h| assert_round_trip("ratchet header", &h, Header::encode, Header::decode))
            .is_ok(),
        1 => {
            let Ok(m) = RatchetMessage::decode(rest) else {
                return false;
            };
            assert_round_trip(
                "ratchet message",
                &m,
                RatchetMessage::encode,
                RatchetMessage::decode,
            );
            decrypt_on_fixture(&m)
        }
        _ => {
            let Ok(h) = InitHeader::decode(rest) else {
                return false;
            };
            assert_round_trip("init header", &h, InitHeader::encode, InitHeader::decode);
            h.session_id().is_ok()
        }
    }
}

/// Decrypts on a copy of the fixture session; a failure must change nothing.
fn decrypt_on_fixture(m: &RatchetMessage) -> bool {
    let f = fixture();
    let mut s = f.session.clone();
    let ok = s.decrypt(m, V2_FUZZ_NOW).is_ok();
    if !ok {
        let before = codec::encode("session", &f.session).ok();
        let after = codec::encode("session", &s).ok();
        assert_eq!(
            before, after,
            "a refused ratchet message changed the session"
        );
    }
    ok
}

/// Envelope v2 as the fixture recipient. The first byte's low bit says who
/// seals: 0, the rest is the envelope (`v2::unseal` on it); 1, the rest is the
/// inner plaintext, which the harness zero-pads to the smallest bucket and
/// seals under the v2 outer layer as any sender could. Then the body goes where
/// a client sends it: an initiation to `accept_init` with the fixture's prekey
/// secrets, a ratchet message to `open_content` on a copy of the fixture
/// session if the sender named inside is that session's peer. Accepted: a
/// content came out.
pub fn envelope_v2(data: &[u8]) -> bool {
    let Some((&flags, rest)) = data.split_first() else {
        return false;
    };
    let f = fixture();
    let sealed;
    let envelope = if flags & 1 == 1 {
        let Some(s) = seal_inner(rest) else {
            return false;
        };
        sealed = s;
        &sealed[..]
    } else {
        rest
    };
    let Ok(u) = v2::unseal(&f.recipient, envelope) else {
        return false;
    };
    match u.body {
        Body::Init { init, message } => v2::accept_init(
            &f.recipient,
            &f.secrets,
            &u.sender,
            &init,
            &message,
            V2_FUZZ_NOW,
        )
        .is_ok(),
        Body::Ratchet { message } => {
            // A client looks the session up by the sender named inside: one
            // naming another account finds no session.
            if u.sender != f.session.peer() {
                return false;
            }
            let mut s = f.session.clone();
            v2::open_content(&mut s, &message, V2_FUZZ_NOW).is_ok()
        }
    }
}

/// Seals an inner plaintext to the fixture recipient the way `v2::seal` does,
/// padding it with zeros to the smallest bucket that holds it. The ephemeral
/// key is fixed (any sender may choose its own); the key derivation and its
/// context are those of `protocol/src/envelope/v2.rs`, so if they change the
/// seeds stop opening and the replay test fails.
pub fn seal_inner(inner: &[u8]) -> Option<Vec<u8>> {
    let f = fixture();
    let len = ENVELOPE_HEADER_LEN + inner.len() + TAG_LEN;
    let bucket = ENVELOPE_BUCKETS.iter().copied().find(|&b| b >= len)?;
    // An X25519 key pair with its public half (the onion key type is one).
    let ephemeral = OnionSecret::from_secret_bytes([0x64; KEY_LEN]);
    let ephemeral_public = ephemeral.public();
    let recipient_x25519 = f.recipient.x25519_public();
    let shared = dh(ephemeral.secret(), &recipient_x25519).ok()?;
    let key = kdf(
        ENVELOPE_V2_KEY_CONTEXT,
        &[&shared[..], &ephemeral_public, &recipient_x25519],
    );
    let mut plain = inner.to_vec();
    plain.resize(bucket - ENVELOPE_HEADER_LEN - TAG_LEN, 0);
    let tag = seal_in_place(&key, &[ENVELOPE_VERSION_V2], &mut plain).ok()?;
    let mut out = vec![ENVELOPE_VERSION_V2];
    out.extend_from_slice(&ephemeral_public);
    out.extend_from_slice(&plain);
    out.extend_from_slice(&tag);
    Some(out)
}
