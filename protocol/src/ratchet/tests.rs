//! Ratchet unit tests: round trips in both directions, transactional decrypt,
//! skipped-key bounds by count and age, storage, and the initiation rule.

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

use super::*;
use crate::constants::{MAX_SKIP, MAX_SKIPPED_KEYS, SKIPPED_KEY_MAX_AGE_MS};
use crate::pqxdh::{self, InitHeader};
use crate::prekey::PrekeySecrets;
use crate::time::UnixMillis;
use crate::{AccountKey, Error, codec};

const NOW: UnixMillis = 1_750_000_000_000;

/// Alice initiates with Bob; Bob accepts Alice's first message. Returns both
/// sessions and the rng.
fn pair(seed: u8) -> (Session, Session, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let alice = AccountKey::from_entropy([1; 16]);
    let bob = AccountKey::from_entropy([2; 16]);
    let secrets = PrekeySecrets::generate(NOW, &mut rng);
    let bundle = secrets
        .bundle(&bob, NOW)
        .unwrap()
        .verify(&bob.account_id(), NOW)
        .unwrap();
    let (hs, init) = pqxdh::initiate(&alice, &bundle, NOW, &mut rng).unwrap();
    let mut a = Session::initiator(hs, init.clone(), &mut rng).unwrap();
    let first = a.encrypt(b"first", &mut rng).unwrap();
    let r = pqxdh::respond(&bob, &secrets, &alice.account_id(), &init).unwrap();
    let mut b = Session::responder(r, &init);
    assert_eq!(&b.decrypt(&first, NOW).unwrap()[..], b"first");
    (a, b, rng)
}

#[test]
fn messages_flow_both_ways_and_the_init_stops_after_an_answer() {
    let (mut a, mut b, mut rng) = pair(1);
    assert!(a.pending_init().is_some());
    assert_eq!(a.id(), b.id());
    assert_eq!(a.peer(), b.own());
    for round in 0..5u8 {
        let m = b.encrypt(&[round; 10], &mut rng).unwrap();
        assert_eq!(&a.decrypt(&m, NOW).unwrap()[..], &[round; 10]);
        assert!(a.pending_init().is_none());
        let m1 = a.encrypt(b"x", &mut rng).unwrap();
        let m2 = a.encrypt(b"y", &mut rng).unwrap();
        assert_eq!(m1.header.dh, m2.header.dh, "same chain until an answer");
        assert_eq!(&b.decrypt(&m2, NOW).unwrap()[..], b"y");
        assert_eq!(&b.decrypt(&m1, NOW).unwrap()[..], b"x");
    }
    assert_eq!(a.skipped_keys() + b.skipped_keys(), 0);
}

#[test]
fn a_new_ratchet_key_every_round_trip() {
    let (mut a, mut b, mut rng) = pair(2);
    let m1 = b.encrypt(b"1", &mut rng).unwrap();
    a.decrypt(&m1, NOW).unwrap();
    let m2 = a.encrypt(b"2", &mut rng).unwrap();
    b.decrypt(&m2, NOW).unwrap();
    let m3 = b.encrypt(b"3", &mut rng).unwrap();
    assert_ne!(m1.header.dh, m3.header.dh);
    assert_eq!(m3.header.pn, 1);
}

fn snapshot(s: &Session) -> Vec<u8> {
    codec::encode("session", s).unwrap()
}

#[test]
fn forged_and_far_ahead_messages_leave_the_session_unchanged() {
    let (mut a, mut b, mut rng) = pair(3);
    let good = a.encrypt(b"good", &mut rng).unwrap();
    let before = snapshot(&b);

    let mut forged = good.clone();
    forged.ciphertext[0] ^= 1;
    assert!(matches!(
        b.decrypt(&forged, NOW),
        Err(Error::Decrypt { .. })
    ));
    let mut forged_header = good.clone();
    forged_header.header.n += 3;
    assert!(b.decrypt(&forged_header, NOW).is_err());
    let mut new_key = good.clone();
    new_key.header.dh = [9; 32];
    new_key.header.pn = 5;
    assert!(b.decrypt(&new_key, NOW).is_err());
    // A flood of huge counters: refused before any work, on this chain or a new one.
    for n in [MAX_SKIP + 2, u32::MAX / 2, u32::MAX] {
        let mut far = good.clone();
        far.header.n = n;
        assert!(matches!(
            b.decrypt(&far, NOW),
            Err(Error::TooManySkipped { .. })
        ));
        let mut far_pn = new_key.clone();
        far_pn.header.pn = n;
        assert!(matches!(
            b.decrypt(&far_pn, NOW),
            Err(Error::TooManySkipped { .. })
        ));
    }
    assert_eq!(snapshot(&b), before, "nothing committed");
    assert_eq!(&b.decrypt(&good, NOW).unwrap()[..], b"good");
    // A duplicate is refused and changes nothing.
    let after = snapshot(&b);
    assert!(matches!(
        b.decrypt(&good, NOW),
        Err(Error::OldMessage { .. })
    ));
    assert_eq!(snapshot(&b), after);
}

#[test]
fn skipping_up_to_the_limit_works_and_keys_are_bounded() {
    let (mut a, mut b, mut rng) = pair(4);
    let mut sent = Vec::new();
    for i in 0..=MAX_SKIP {
        sent.push(a.encrypt(&i.to_le_bytes(), &mut rng).unwrap());
    }
    // The last one skips exactly MAX_SKIP keys.
    let last = sent.last().unwrap();
    assert_eq!(&b.decrypt(last, NOW).unwrap()[..], &MAX_SKIP.to_le_bytes());
    assert_eq!(b.skipped_keys(), MAX_SKIP as usize);
    assert_eq!(
        &b.decrypt(&sent[17], NOW).unwrap()[..],
        &17u32.to_le_bytes()
    );
    assert_eq!(b.skipped_keys(), MAX_SKIP as usize - 1);
    // Keep skipping: never more than MAX_SKIPPED_KEYS kept, the oldest dropped.
    for _ in 0..3 {
        let mut batch = Vec::new();
        for _ in 0..=MAX_SKIP {
            batch.push(a.encrypt(b"z", &mut rng).unwrap());
        }
        b.decrypt(batch.last().unwrap(), NOW).unwrap();
        assert!(b.skipped_keys() <= MAX_SKIPPED_KEYS);
    }
    assert_eq!(b.skipped_keys(), MAX_SKIPPED_KEYS);
    assert!(matches!(
        b.decrypt(&sent[18], NOW),
        Err(Error::OldMessage { .. })
    ));
}

#[test]
fn skipped_keys_expire_with_age() {
    let (mut a, mut b, mut rng) = pair(5);
    let early = a.encrypt(b"early", &mut rng).unwrap();
    let late = a.encrypt(b"late", &mut rng).unwrap();
    let early2 = a.encrypt(b"early2", &mut rng).unwrap();
    let next = a.encrypt(b"next", &mut rng).unwrap();
    b.decrypt(&late, NOW).unwrap();
    assert_eq!(b.skipped_keys(), 1);
    assert_eq!(
        &b.decrypt(&early, NOW + SKIPPED_KEY_MAX_AGE_MS).unwrap()[..],
        b"early"
    );
    b.decrypt(&next, NOW).unwrap();
    assert_eq!(b.skipped_keys(), 1);
    b.prune(NOW + SKIPPED_KEY_MAX_AGE_MS + 1);
    assert_eq!(b.skipped_keys(), 0);
    assert!(matches!(
        b.decrypt(&early2, NOW),
        Err(Error::OldMessage { .. })
    ));
}

#[test]
fn a_stored_session_goes_on() {
    let (mut a, b, mut rng) = pair(6);
    let bytes = snapshot(&b);
    let mut restored: Session = codec::decode("session", &bytes, 1 << 20).unwrap();
    let m = a.encrypt(b"after restart", &mut rng).unwrap();
    assert_eq!(&restored.decrypt(&m, NOW).unwrap()[..], b"after restart");
    assert!(!format!("{restored:?}").contains("root"));
}

fn fresh_init(seed: u8, created_at: UnixMillis) -> (InitHeader, Session) {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let alice = AccountKey::from_entropy([1; 16]);
    let bob = AccountKey::from_entropy([2; 16]);
    let secrets = PrekeySecrets::generate(NOW, &mut rng);
    let bundle = secrets
        .bundle(&bob, NOW)
        .unwrap()
        .verify(&bob.account_id(), NOW)
        .unwrap();
    let (hs, init) = pqxdh::initiate(&alice, &bundle, created_at, &mut rng).unwrap();
    let s = Session::initiator(hs, init.clone(), &mut rng).unwrap();
    (init, s)
}

#[test]
fn the_initiation_rule() {
    let (init, _) = fresh_init(10, NOW);
    assert_eq!(on_init(None, &init).unwrap(), InitDecision::Adopt);

    // Both pending: the lower id wins, whichever side asks.
    let (i1, s1) = fresh_init(11, NOW);
    let (i2, s2) = fresh_init(12, NOW);
    let (low, high) = if s1.id() < s2.id() {
        ((i1, s1), (i2, s2))
    } else {
        ((i2, s2), (i1, s1))
    };
    assert_eq!(on_init(Some(&high.1), &low.0).unwrap(), InitDecision::Adopt);
    assert_eq!(
        on_init(Some(&low.1), &high.0).unwrap(),
        InitDecision::Archive
    );

    // The peer has talked on the current session: newer initiations replace it,
    // older ones (crossed in flight) do not.
    let (_, mut b, _) = pair(13);
    b.note_peer_time(NOW + 100);
    let (older, _) = fresh_init(14, NOW + 50);
    let (newer, _) = fresh_init(15, NOW + 101);
    assert_eq!(on_init(Some(&b), &older).unwrap(), InitDecision::Archive);
    assert_eq!(on_init(Some(&b), &newer).unwrap(), InitDecision::Adopt);
}

#[test]
fn sessions_and_prekey_secrets_store_as_json_too() {
    let (a, mut b, mut rng) = pair(16);
    let json = serde_json::to_string(&a).unwrap();
    let mut back: Session = serde_json::from_str(&json).unwrap();
    assert!(back.pending_init().is_some());
    let m = back.encrypt(b"x", &mut rng).unwrap();
    assert_eq!(&b.decrypt(&m, NOW).unwrap()[..], b"x");
    let secrets = PrekeySecrets::generate(NOW, &mut rng);
    let json = serde_json::to_string(&secrets).unwrap();
    let back: PrekeySecrets = serde_json::from_str(&json).unwrap();
    let bob = AccountKey::from_entropy([2; 16]);
    assert_eq!(
        back.bundle(&bob, NOW).unwrap(),
        secrets.bundle(&bob, NOW).unwrap()
    );
}
