//! Envelope v2: a conversation through sealed envelopes, buckets, what the outer
//! layer hides, v1/v2 recognition, and a forged sender.

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

use super::*;
use crate::constants::ENVELOPE_BUCKETS;
use crate::envelope::{self, ContentBody, ContentId};
use crate::prekey::PrekeySecrets;

const NOW: UnixMillis = 1_750_000_000_000;

fn text(n: u8, s: &str) -> Content {
    Content {
        id: ContentId([n; 16]),
        sent_at: NOW + u64::from(n),
        body: ContentBody::Text { text: s.into() },
    }
}

struct World {
    alice: AccountKey,
    bob: AccountKey,
    secrets: PrekeySecrets,
    rng: ChaCha20Rng,
}

fn world() -> World {
    let mut rng = ChaCha20Rng::from_seed([21; 32]);
    let secrets = PrekeySecrets::generate(NOW, &mut rng);
    World {
        alice: AccountKey::from_entropy([1; 16]),
        bob: AccountKey::from_entropy([2; 16]),
        secrets,
        rng,
    }
}

#[test]
fn a_conversation_through_envelopes() {
    let mut w = world();
    let bundle = w.secrets.bundle(&w.bob, NOW).unwrap();
    let bundle = bundle.verify(&w.bob.account_id(), NOW).unwrap();
    let mut a = start_session(&w.alice, &bundle, NOW, &mut w.rng).unwrap();
    let first = seal_content(&mut a, &text(1, "hi Bob"), &mut w.rng).unwrap();
    assert_eq!(version(&first), Some(ENVELOPE_VERSION_V2));
    assert_eq!(first.len(), ENVELOPE_BUCKETS[1], "an initiation fits 2 KiB");

    let u = unseal(&w.bob, &first).unwrap();
    assert_eq!(u.sender, w.alice.account_id());
    let Body::Init { init, message } = u.body else {
        panic!("not an init")
    };
    let acc = accept_init(&w.bob, &w.secrets, &u.sender, &init, &message, NOW).unwrap();
    assert_eq!(acc.content, text(1, "hi Bob"));
    let mut b = acc.session;
    assert!(w.secrets.mark_used(&acc.used, NOW));

    let reply = seal_content(&mut b, &text(2, "hi Alice"), &mut w.rng).unwrap();
    assert_eq!(
        reply.len(),
        ENVELOPE_BUCKETS[0],
        "a ratchet message fits 512 B"
    );
    let u = unseal(&w.alice, &reply).unwrap();
    assert_eq!(u.sender, w.bob.account_id());
    let Body::Ratchet { message } = u.body else {
        panic!("not a ratchet message")
    };
    assert_eq!(
        open_content(&mut a, &message, NOW).unwrap(),
        text(2, "hi Alice")
    );
    assert_eq!(a.latest_peer_time(), Some(NOW + 2));

    // Answered: Alice's next envelope no longer carries the initiation.
    let next = seal_content(&mut a, &text(3, "ok"), &mut w.rng).unwrap();
    assert!(matches!(
        unseal(&w.bob, &next).unwrap().body,
        Body::Ratchet { .. }
    ));
}

#[test]
fn messages_before_an_answer_each_carry_the_initiation() {
    let mut w = world();
    let bundle = w
        .secrets
        .bundle(&w.bob, NOW)
        .unwrap()
        .verify(&w.bob.account_id(), NOW)
        .unwrap();
    let mut a = start_session(&w.alice, &bundle, NOW, &mut w.rng).unwrap();
    let _lost = seal_content(&mut a, &text(1, "lost"), &mut w.rng).unwrap();
    let second = seal_content(&mut a, &text(2, "arrives"), &mut w.rng).unwrap();
    // The first is lost; the second alone starts the session.
    let u = unseal(&w.bob, &second).unwrap();
    let Body::Init { init, message } = u.body else {
        panic!("not an init")
    };
    let acc = accept_init(&w.bob, &w.secrets, &u.sender, &init, &message, NOW).unwrap();
    assert_eq!(acc.content, text(2, "arrives"));
    assert_eq!(acc.session.id(), a.id());
}

#[test]
fn the_outer_layer_hides_everything_and_links_nothing() {
    let mut w = world();
    let bundle = w
        .secrets
        .bundle(&w.bob, NOW)
        .unwrap()
        .verify(&w.bob.account_id(), NOW)
        .unwrap();
    let mut a = start_session(&w.alice, &bundle, NOW, &mut w.rng).unwrap();
    let e1 = seal_content(&mut a, &text(1, "same"), &mut w.rng).unwrap();
    let e2 = seal_content(&mut a, &text(1, "same"), &mut w.rng).unwrap();
    // No ratchet key, session id or account appears in clear, and two envelopes
    // of one session share nothing but the version byte.
    let init = a.pending_init().unwrap().clone();
    let needles: Vec<Vec<u8>> = vec![
        w.alice.account_id().as_bytes().to_vec(),
        w.bob.account_id().as_bytes().to_vec(),
        init.ephemeral.to_vec(),
        a.id().0.to_vec(),
        init.kem_ciphertext.0[..32].to_vec(),
    ];
    for e in [&e1, &e2] {
        for n in &needles {
            assert!(!e.windows(n.len()).any(|w| w == &n[..]), "found in clear");
        }
    }
    let shared = e1.iter().zip(&e2).skip(1).filter(|(x, y)| x == y).count();
    assert!(shared < e1.len() / 64, "{shared} equal bytes");
}

#[test]
fn v1_and_v2_are_told_apart() {
    let mut w = world();
    let v1 = envelope::seal(&w.alice, &w.bob.account_id(), &text(1, "v1"), &mut w.rng).unwrap();
    assert_eq!(version(&v1), Some(1));
    assert!(matches!(
        unseal(&w.bob, &v1),
        Err(Error::Version { found: 1, .. })
    ));
    assert_eq!(envelope::open(&w.bob, &v1).unwrap().content, text(1, "v1"));

    let bundle = w
        .secrets
        .bundle(&w.bob, NOW)
        .unwrap()
        .verify(&w.bob.account_id(), NOW)
        .unwrap();
    let mut a = start_session(&w.alice, &bundle, NOW, &mut w.rng).unwrap();
    let v2 = seal_content(&mut a, &text(2, "v2"), &mut w.rng).unwrap();
    assert!(matches!(
        envelope::open(&w.bob, &v2),
        Err(Error::Version { found: 2, .. })
    ));
    assert_eq!(version(&[3, 0]), None);
    assert_eq!(version(&[]), None);
}

#[test]
fn a_forged_sender_gets_nowhere() {
    let mut w = world();
    let bundle = w
        .secrets
        .bundle(&w.bob, NOW)
        .unwrap()
        .verify(&w.bob.account_id(), NOW)
        .unwrap();
    let mut a = start_session(&w.alice, &bundle, NOW, &mut w.rng).unwrap();
    let first = seal_content(&mut a, &text(1, "from Alice"), &mut w.rng).unwrap();
    let u = unseal(&w.bob, &first).unwrap();
    // Mallory re-seals Alice's body as her own: Bob's PQXDH uses Mallory's
    // identity key, so the first message does not open.
    let mallory = AccountKey::from_entropy([7; 16]);
    let forged = seal(
        &mallory.account_id(),
        &w.bob.account_id(),
        &u.body,
        &mut w.rng,
    )
    .unwrap();
    let u2 = unseal(&w.bob, &forged).unwrap();
    assert_eq!(u2.sender, mallory.account_id());
    let Body::Init { init, message } = u2.body else {
        panic!("not an init")
    };
    assert!(accept_init(&w.bob, &w.secrets, &u2.sender, &init, &message, NOW).is_err());
}

#[test]
fn bad_inner_layouts_are_refused() {
    let sender = AccountKey::from_entropy([1; 16]).account_id();
    let ok_body = {
        let mut v = vec![];
        v.extend_from_slice(sender.as_bytes());
        v.push(KIND_RATCHET);
        v
    };
    // Unknown kind, length past the end, non-zero padding, short.
    let mut unknown = ok_body.clone();
    unknown[32] = 9;
    unknown.extend_from_slice(&0u32.to_le_bytes());
    assert!(parse_inner(&unknown).is_err());
    let mut long = ok_body.clone();
    long.extend_from_slice(&100u32.to_le_bytes());
    long.extend_from_slice(&[0; 10]);
    assert!(parse_inner(&long).is_err());
    let mut padded = ok_body.clone();
    padded.extend_from_slice(&0u32.to_le_bytes());
    padded.push(1);
    assert!(parse_inner(&padded).is_err());
    assert!(parse_inner(&ok_body[..20]).is_err());
}

#[test]
fn sessions_refuse_another_contact_and_bound_the_archive() {
    let mut w = world();
    let bundle = w
        .secrets
        .bundle(&w.bob, NOW)
        .unwrap()
        .verify(&w.bob.account_id(), NOW)
        .unwrap();
    let mut s = Sessions::default();
    assert!(s.seal(&text(1, "no session"), &mut w.rng).is_err());
    let mut ids = Vec::new();
    for _ in 0..crate::constants::MAX_ARCHIVED_SESSIONS + 3 {
        ids.push(s.start(&w.alice, &bundle, NOW, &mut w.rng).unwrap());
    }
    assert_eq!(s.current().map(Session::id), ids.last().copied());
    assert_eq!(s.archived().len(), crate::constants::MAX_ARCHIVED_SESSIONS);
    assert_eq!(s.archived()[0].id(), ids[2], "the oldest went first");
    let env = s.seal(&text(2, "hi"), &mut w.rng).unwrap();

    // A bundle of another account, or an envelope from one, is refused.
    let carol = AccountKey::from_entropy([3; 16]);
    let carol_bundle = w
        .secrets
        .bundle(&carol, NOW)
        .unwrap()
        .verify(&carol.account_id(), NOW)
        .unwrap();
    assert!(s.start(&w.alice, &carol_bundle, NOW, &mut w.rng).is_err());
    let mut bobs = Sessions::default();
    let u = unseal(&w.bob, &env).unwrap();
    let r = bobs.receive(&w.bob, &w.secrets, &u, NOW).unwrap();
    assert_eq!(r.content, text(2, "hi"));
    assert!(r.used.is_some());
    let mut forged = u.clone();
    forged.sender = carol.account_id();
    assert!(bobs.receive(&w.bob, &w.secrets, &forged, NOW).is_err());
    // The same envelope again: a duplicate, refused, nothing changed.
    let before = codec::encode("s", &bobs).unwrap();
    assert!(matches!(
        bobs.receive(&w.bob, &w.secrets, &u, NOW),
        Err(Error::OldMessage { .. })
    ));
    assert_eq!(codec::encode("s", &bobs).unwrap(), before);
}
