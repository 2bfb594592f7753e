//! Messages v2 at the protocol level, against an attacker: forward secrecy
//! (captured envelopes stay unreadable when both accounts' 12 words and both
//! current sessions leak later), post-compromise security (a full copy of one
//! side's state stops helping after one round trip), and the ML-KEM secret
//! matters at the envelope level. The swarm-level versions of these live in the
//! client's tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sotto_protocol::envelope::v2::{self, Body, Unsealed};
use sotto_protocol::envelope::{Content, ContentBody, ContentId};
use sotto_protocol::prekey::PrekeySecrets;
use sotto_protocol::ratchet::Session;
use sotto_protocol::time::UnixMillis;
use sotto_protocol::{AccountKey, Error};

const NOW: UnixMillis = 1_750_000_000_000;
const ALICE_WORDS: [u8; 16] = *b"sotto test alice";
const BOB_WORDS: [u8; 16] = *b"sotto test bob!!";

fn text(n: u32) -> Content {
    Content {
        id: ContentId([n as u8; 16]),
        sent_at: NOW + u64::from(n),
        body: ContentBody::Text {
            text: format!("secret number {n}"),
        },
    }
}

struct Conversation {
    alice: AccountKey,
    bob: AccountKey,
    bob_prekeys: PrekeySecrets,
    a: Session,
    b: Session,
    rng: ChaCha20Rng,
    n: u32,
    /// The session's first envelope (the PQXDH initiation).
    first: Vec<u8>,
}

impl Conversation {
    /// Alice starts, Bob accepts.
    fn start(seed: u8) -> Self {
        let mut rng = ChaCha20Rng::from_seed([seed; 32]);
        let alice = AccountKey::from_entropy(ALICE_WORDS);
        let bob = AccountKey::from_entropy(BOB_WORDS);
        let bob_prekeys = PrekeySecrets::generate(NOW, &mut rng);
        let bundle = bob_prekeys
            .bundle(&bob, NOW)
            .unwrap()
            .verify(&bob.account_id(), NOW)
            .unwrap();
        let mut a = v2::start_session(&alice, &bundle, NOW, &mut rng).unwrap();
        let env = v2::seal_content(&mut a, &text(0), &mut rng).unwrap();
        let Unsealed { sender, body } = v2::unseal(&bob, &env).unwrap();
        let Body::Init { init, message } = body else {
            panic!("first envelope is not an init")
        };
        let acc = v2::accept_init(&bob, &bob_prekeys, &sender, &init, &message, NOW).unwrap();
        assert_eq!(acc.content, text(0));
        let mut bob_prekeys = bob_prekeys;
        bob_prekeys.mark_used(&acc.used, NOW);
        Self {
            first: env,
            alice,
            bob,
            bob_prekeys,
            a,
            b: acc.session,
            rng,
            n: 1,
        }
    }

    /// Alice sends one message to Bob; returns the envelope after Bob read it.
    fn a_to_b(&mut self) -> Vec<u8> {
        let c = text(self.n);
        self.n += 1;
        let env = v2::seal_content(&mut self.a, &c, &mut self.rng).unwrap();
        assert_eq!(open(&self.bob, &mut self.b, &env).unwrap(), c);
        env
    }

    /// Bob sends one message to Alice; returns the envelope after Alice read it.
    fn b_to_a(&mut self) -> Vec<u8> {
        let c = text(self.n);
        self.n += 1;
        let env = v2::seal_content(&mut self.b, &c, &mut self.rng).unwrap();
        assert_eq!(open(&self.alice, &mut self.a, &env).unwrap(), c);
        env
    }
}

/// What a recipient (or an attacker with its keys and a session) does with an
/// envelope.
fn open(own: &AccountKey, session: &mut Session, env: &[u8]) -> Result<Content, Error> {
    let u = v2::unseal(own, env)?;
    let message = match u.body {
        Body::Init { message, .. } | Body::Ratchet { message } => message,
    };
    v2::open_content(session, &message, NOW)
}

#[test]
fn forward_secrecy_captured_envelopes_stay_unreadable() {
    let mut c = Conversation::start(1);
    // The attacker records everything in the swarm for a while.
    let mut captured = Vec::new();
    for _ in 0..3 {
        captured.push(c.a_to_b());
        captured.push(c.a_to_b());
        captured.push(c.b_to_a());
    }
    // The conversation goes on (a few round trips).
    for _ in 0..3 {
        c.a_to_b();
        c.b_to_a();
    }
    // Then the attacker gets both accounts' 12 words, Bob's prekey secrets and
    // both current sessions.
    let alice = AccountKey::from_entropy(ALICE_WORDS);
    let bob = AccountKey::from_entropy(BOB_WORDS);
    let stolen_a = c.a.clone();
    let stolen_b = c.b.clone();
    for env in &captured {
        // The sealed-sender layer opens with the words (metadata is not forward
        // secret, as documented) ...
        let u_a = v2::unseal(&alice, env);
        let u_b = v2::unseal(&bob, env);
        assert!(u_a.is_ok() || u_b.is_ok());
        // ... but no current session decrypts any captured message.
        for (own, stolen) in [(&alice, &stolen_a), (&bob, &stolen_b)] {
            let mut s = stolen.clone();
            assert!(
                open(own, &mut s, env).is_err(),
                "a captured envelope opened"
            );
        }
    }
    // Nor can the attacker re-run the handshake of the session's first
    // envelope with the prekey secrets Bob has by then: he marked the one-time
    // keys it used, and deletes them after the grace period.
    let later = NOW + sotto_protocol::constants::ONE_TIME_PREKEY_GRACE_MS;
    c.bob_prekeys.maintain(later, &mut c.rng);
    let stolen_prekeys = c.bob_prekeys.clone();
    let first = v2::unseal(&bob, &c.first).unwrap();
    let Body::Init { init, message } = first.body else {
        panic!("not an init")
    };
    assert!(matches!(
        v2::accept_init(&bob, &stolen_prekeys, &first.sender, &init, &message, later),
        Err(Error::UnknownPrekey { .. })
    ));
}

#[test]
fn post_compromise_security_after_one_round_trip() {
    let mut c = Conversation::start(2);
    c.a_to_b();
    c.b_to_a();
    // The attacker copies Alice's whole state at time t (her words and session).
    let mut stolen = c.a.clone();
    let alice = AccountKey::from_entropy(ALICE_WORDS);
    // Right now the copy reads what Bob sends next: the compromise is real.
    let env = v2::seal_content(&mut c.b, &text(500), &mut c.rng).unwrap();
    assert_eq!(open(&alice, &mut stolen.clone(), &env).unwrap(), text(500));
    assert_eq!(open(&alice, &mut c.a, &env).unwrap(), text(500));
    // One round trip with fresh ratchet keys the attacker did not see made.
    c.a_to_b();
    c.b_to_a();
    // Messages after that are out of the copy's reach, in both directions,
    // even if the attacker follows along with every envelope it can open.
    for _ in 0..3 {
        let to_b = c.a_to_b();
        let bob = AccountKey::from_entropy(BOB_WORDS);
        assert!(v2::unseal(&bob, &to_b).is_ok());
        let to_a = c.b_to_a();
        assert!(
            open(&alice, &mut stolen, &to_a).is_err(),
            "read after healing"
        );
    }
}

#[test]
fn the_kem_matters_at_the_envelope_level() {
    let mut rng = ChaCha20Rng::from_seed([3; 32]);
    let alice = AccountKey::from_entropy(ALICE_WORDS);
    let bob = AccountKey::from_entropy(BOB_WORDS);
    let prekeys = PrekeySecrets::generate(NOW, &mut rng);
    let bundle = prekeys
        .bundle(&bob, NOW)
        .unwrap()
        .verify(&bob.account_id(), NOW)
        .unwrap();
    let mut a = v2::start_session(&alice, &bundle, NOW, &mut rng).unwrap();
    let env = v2::seal_content(&mut a, &text(1), &mut rng).unwrap();
    let u = v2::unseal(&bob, &env).unwrap();
    let Body::Init { init, message } = u.body else {
        panic!("not an init")
    };
    // Every bit position class of the ciphertext: a change is never accepted.
    for i in [0, 1, 500, 1000, 1087] {
        let mut altered = init.clone();
        altered.kem_ciphertext.0[i] ^= 0x01;
        assert!(matches!(
            v2::accept_init(&bob, &prekeys, &u.sender, &altered, &message, NOW),
            Err(Error::Decrypt { .. })
        ));
    }
    // Naming the other ML-KEM key (the signed one instead of the one-time one
    // the ciphertext was made for) fails too.
    let mut other_key = init.clone();
    other_key.kem_prekey_id = bundle.bundle().signed_kem_prekey.id;
    assert!(v2::accept_init(&bob, &prekeys, &u.sender, &other_key, &message, NOW).is_err());
    // The original opens.
    v2::accept_init(&bob, &prekeys, &u.sender, &init, &message, NOW).unwrap();
}

#[test]
fn a_contact_restored_from_the_words_cannot_read_old_sessions_and_starts_anew() {
    let mut c = Conversation::start(4);
    c.a_to_b();
    let in_flight = v2::seal_content(&mut c.b, &text(77), &mut c.rng).unwrap();
    // Alice restores on a new machine: same words, no sessions, new prekeys.
    let alice = AccountKey::from_entropy(ALICE_WORDS);
    let u = v2::unseal(&alice, &in_flight).unwrap();
    assert_eq!(u.sender, c.bob.account_id());
    assert!(
        matches!(u.body, Body::Ratchet { .. }),
        "no session to read it with"
    );
    // She starts a new session; Bob's rule adopts it (newer than what she sent).
    let bundle = c
        .bob_prekeys
        .bundle(&c.bob, NOW)
        .unwrap()
        .verify(&c.bob.account_id(), NOW)
        .unwrap();
    let mut fresh = v2::start_session(&alice, &bundle, NOW + 10_000, &mut c.rng).unwrap();
    let mut hello = text(78);
    hello.sent_at = NOW + 10_000;
    let env = v2::seal_content(&mut fresh, &hello, &mut c.rng).unwrap();
    let u = v2::unseal(&c.bob, &env).unwrap();
    let Body::Init { init, message } = u.body else {
        panic!("not an init")
    };
    let acc = v2::accept_init(&c.bob, &c.bob_prekeys, &u.sender, &init, &message, NOW).unwrap();
    assert_eq!(
        sotto_protocol::ratchet::on_init(Some(&c.b), &init).unwrap(),
        sotto_protocol::ratchet::InitDecision::Adopt
    );
    let mut b = acc.session;
    let reply = v2::seal_content(&mut b, &text(79), &mut c.rng).unwrap();
    assert_eq!(open(&alice, &mut fresh, &reply).unwrap(), text(79));
}
