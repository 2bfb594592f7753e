//! The messages v2 decoders a peer can reach, fed random bytes and valid
//! encodings with bytes changed, cut or appended (as `hostile_input.rs` does
//! for v1): never a panic, and a changed bundle, envelope or ratchet message is
//! never accepted as authentic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::OnceLock;

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sotto_protocol::AccountKey;
use sotto_protocol::envelope::v2::{self, Body};
use sotto_protocol::envelope::{Content, ContentBody, ContentId};
use sotto_protocol::pqxdh::InitHeader;
use sotto_protocol::prekey::{PrekeySecrets, SignedPrekeyBundle};
use sotto_protocol::ratchet::{Header, RatchetMessage, Session};

const NOW: u64 = 1_800_000_000_000;

struct Fixture {
    bob: AccountKey,
    secrets: PrekeySecrets,
    bundle: Vec<u8>,
    /// Bob's session before Alice's second message.
    session: Session,
    init_envelope: Vec<u8>,
    ratchet_envelope: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let mut rng = ChaCha20Rng::from_seed([77; 32]);
        let alice = AccountKey::from_entropy([1; 16]);
        let bob = AccountKey::from_entropy([2; 16]);
        let secrets = PrekeySecrets::generate(NOW, &mut rng);
        let signed = secrets.bundle(&bob, NOW).unwrap();
        let verified = signed.verify(&bob.account_id(), NOW).unwrap();
        let text = |n: u8| Content {
            id: ContentId([n; 16]),
            sent_at: NOW,
            body: ContentBody::Text {
                text: "hostile".into(),
            },
        };
        let mut a = v2::start_session(&alice, &verified, NOW, &mut rng).unwrap();
        let init_envelope = v2::seal_content(&mut a, &text(1), &mut rng).unwrap();
        let u = v2::unseal(&bob, &init_envelope).unwrap();
        let Body::Init { init, message } = u.body else {
            panic!("not an init")
        };
        let acc = v2::accept_init(&bob, &secrets, &u.sender, &init, &message, NOW).unwrap();
        let mut b = acc.session;
        let reply = v2::seal_content(&mut b, &text(2), &mut rng).unwrap();
        let Body::Ratchet { message } = v2::unseal(&alice, &reply).unwrap().body else {
            panic!("not a ratchet message")
        };
        v2::open_content(&mut a, &message, NOW).unwrap();
        let ratchet_envelope = v2::seal_content(&mut a, &text(3), &mut rng).unwrap();
        Fixture {
            bob,
            secrets,
            bundle: signed.encode().unwrap(),
            session: b,
            init_envelope,
            ratchet_envelope,
        }
    })
}

/// What Bob does with an envelope: Some(content) if it opened.
fn bob_opens(env: &[u8]) -> Option<Content> {
    let f = fixture();
    let u = v2::unseal(&f.bob, env).ok()?;
    match u.body {
        Body::Init { init, message } => {
            v2::accept_init(&f.bob, &f.secrets, &u.sender, &init, &message, NOW)
                .ok()
                .map(|a| a.content)
        }
        Body::Ratchet { message } => {
            let mut s = f.session.clone();
            v2::open_content(&mut s, &message, NOW).ok()
        }
    }
}

fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], resize: Option<usize>) -> Vec<u8> {
    for &(at, x) in edits {
        if !bytes.is_empty() {
            let i = at % bytes.len();
            bytes[i] ^= x.max(1);
        }
    }
    if let Some(n) = resize {
        bytes.resize(n % (bytes.len() + 64), 0xA5);
    }
    bytes
}

#[test]
fn unchanged_inputs_are_accepted() {
    let f = fixture();
    assert!(bob_opens(&f.init_envelope).is_some());
    assert!(bob_opens(&f.ratchet_envelope).is_some());
    let b = SignedPrekeyBundle::decode(&f.bundle).unwrap();
    b.verify(&f.bob.account_id(), NOW).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let f = fixture();
        let _ = SignedPrekeyBundle::decode(&bytes).map(|b| b.verify(&f.bob.account_id(), NOW));
        let _ = Header::decode(&bytes);
        let _ = InitHeader::decode(&bytes);
        if let Ok(m) = RatchetMessage::decode(&bytes) {
            let mut s = f.session.clone();
            prop_assert!(s.decrypt(&m, NOW).is_err());
        }
        prop_assert!(bob_opens(&bytes).is_none());
        let mut in_bucket = bytes.clone();
        in_bucket.resize(512, 0);
        in_bucket[0] = 2;
        prop_assert!(bob_opens(&in_bucket).is_none());
    }

    #[test]
    fn changed_envelopes_never_open(
        which in any::<bool>(),
        edits in proptest::collection::vec((any::<usize>(), 1u8..), 1..4),
        resize in proptest::option::of(any::<usize>()),
    ) {
        let f = fixture();
        let env = if which { &f.init_envelope } else { &f.ratchet_envelope };
        let changed = mutate(env.clone(), &edits, resize);
        prop_assume!(&changed != env);
        prop_assert!(bob_opens(&changed).is_none());
    }

    #[test]
    fn changed_bundles_never_verify(
        edits in proptest::collection::vec((any::<usize>(), 1u8..), 1..4),
        resize in proptest::option::of(any::<usize>()),
    ) {
        let f = fixture();
        let changed = mutate(f.bundle.clone(), &edits, resize);
        prop_assume!(changed != f.bundle);
        let verified = SignedPrekeyBundle::decode(&changed)
            .and_then(|b| b.verify(&f.bob.account_id(), NOW));
        prop_assert!(verified.is_err());
    }
}
