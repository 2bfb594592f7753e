//! PQXDH: both sides agree; an altered KEM ciphertext, a left-out KEM secret,
//! a wrong initiator or a missing prekey do not.

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

use super::*;
use crate::prekey::PrekeySecrets;
use crate::ratchet::Session;

const NOW: UnixMillis = 1_750_000_000_000;

struct Fixture {
    alice: AccountKey,
    bob: AccountKey,
    secrets: PrekeySecrets,
    bundle: VerifiedBundle,
    rng: ChaCha20Rng,
}

fn fixture(seed: u8) -> Fixture {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let alice = AccountKey::from_entropy([1; 16]);
    let bob = AccountKey::from_entropy([2; 16]);
    let secrets = PrekeySecrets::generate(NOW, &mut rng);
    let bundle = secrets
        .bundle(&bob, NOW)
        .unwrap()
        .verify(&bob.account_id(), NOW)
        .unwrap();
    Fixture {
        alice,
        bob,
        secrets,
        bundle,
        rng,
    }
}

#[test]
fn both_sides_derive_the_same_secret() {
    let mut f = fixture(1);
    let (hs, header) = initiate(&f.alice, &f.bundle, NOW, &mut f.rng).unwrap();
    assert!(header.one_time_prekey_id.is_some());
    assert_ne!(header.kem_prekey_id, f.bundle.bundle().signed_kem_prekey.id);
    let r = respond(&f.bob, &f.secrets, &f.alice.account_id(), &header).unwrap();
    assert_eq!(*r.handshake.secret, *hs.secret);
    assert_eq!(r.handshake.session_id, hs.session_id);
    assert_eq!(
        r.handshake.responder_ratchet_public,
        hs.responder_ratchet_public
    );
    assert_eq!(r.used.one_time, header.one_time_prekey_id);
    assert_eq!(r.used.one_time_kem, Some(header.kem_prekey_id));
    let decoded = InitHeader::decode(&header.encode().unwrap()).unwrap();
    assert_eq!(decoded, header);
}

#[test]
fn without_one_time_keys_the_signed_ones_serve() {
    let mut f = fixture(2);
    let mut b = f.bundle.bundle().clone();
    b.one_time_prekeys.clear();
    b.one_time_kem_prekeys.clear();
    let bundle = crate::prekey::SignedPrekeyBundle::sign(&f.bob, b)
        .unwrap()
        .verify(&f.bob.account_id(), NOW)
        .unwrap();
    let (hs, header) = initiate(&f.alice, &bundle, NOW, &mut f.rng).unwrap();
    assert_eq!(header.one_time_prekey_id, None);
    assert_eq!(header.kem_prekey_id, bundle.bundle().signed_kem_prekey.id);
    let r = respond(&f.bob, &f.secrets, &f.alice.account_id(), &header).unwrap();
    assert_eq!(*r.handshake.secret, *hs.secret);
    assert_eq!(r.used, UsedPrekeys::default());
}

/// Alice's first ratchet message under `hs`, and whether Bob's session from
/// `header` opens it.
fn first_message_opens(
    f: &mut Fixture,
    hs: Handshake,
    header: &InitHeader,
    sent: &InitHeader,
) -> bool {
    let mut alice = Session::initiator(hs, sent.clone(), &mut f.rng).unwrap();
    let msg = alice.encrypt(b"hello", &mut f.rng).unwrap();
    let Ok(r) = respond(&f.bob, &f.secrets, &f.alice.account_id(), header) else {
        return false;
    };
    let mut bob = Session::responder(r, header);
    bob.decrypt(&msg, NOW).is_ok()
}

#[test]
fn an_altered_kem_ciphertext_fails() {
    let mut f = fixture(3);
    let (hs, header) = initiate(&f.alice, &f.bundle, NOW, &mut f.rng).unwrap();
    let mut altered = header.clone();
    altered.kem_ciphertext.0[500] ^= 0x40;
    // ML-KEM's implicit rejection gives Bob another secret.
    let r = respond(&f.bob, &f.secrets, &f.alice.account_id(), &altered).unwrap();
    assert_ne!(*r.handshake.secret, *hs.secret);
    // And the first message does not open (even with the original header's
    // session id in the AD, the key differs).
    let (hs2, header2) = initiate(&f.alice, &f.bundle, NOW, &mut f.rng).unwrap();
    let mut altered2 = header2.clone();
    altered2.kem_ciphertext.0[0] ^= 1;
    assert!(!first_message_opens(&mut f, hs2, &altered2, &altered2));
    // The unaltered one does.
    let (hs3, header3) = initiate(&f.alice, &f.bundle, NOW, &mut f.rng).unwrap();
    assert!(first_message_opens(&mut f, hs3, &header3, &header3));
}

#[test]
fn leaving_the_kem_secret_out_gives_another_key() {
    let mut f = fixture(4);
    let (hs, header) = initiate(&f.alice, &f.bundle, NOW, &mut f.rng).unwrap();
    let r = respond(&f.bob, &f.secrets, &f.alice.account_id(), &header).unwrap();
    assert_eq!(*r.handshake.secret, *hs.secret);

    // Recompute Alice's side with the same DH inputs but no SS: an initiator
    // that skipped the KEM (a downgrade) would get this key.
    let spk = f.secrets.signed_x25519(header.signed_prekey_id).unwrap();
    let opk = f
        .secrets
        .one_time_x25519(header.one_time_prekey_id.unwrap())
        .unwrap();
    let dh1 = dh(&spk, &f.alice.account_id().x25519_public().unwrap()).unwrap();
    let dh2 = dh(&f.bob.x25519_secret(), &header.ephemeral).unwrap();
    let dh3 = dh(&spk, &header.ephemeral).unwrap();
    let dh4 = dh(&opk, &header.ephemeral).unwrap();
    let with = session_secret(&dh1, &dh2, &dh3, Some(&dh4), Some(&*kem_ss(&f, &header)));
    let without = session_secret(&dh1, &dh2, &dh3, Some(&dh4), None);
    assert_eq!(*with, *hs.secret, "the recomputation matches the real key");
    assert_ne!(*without, *with);

    // A session started from the KEM-less key cannot talk to Bob's.
    let downgraded = Handshake {
        secret: without,
        initiator: hs.initiator,
        responder: hs.responder,
        session_id: hs.session_id,
        responder_ratchet_public: hs.responder_ratchet_public,
    };
    assert!(!first_message_opens(&mut f, downgraded, &header, &header));
}

fn kem_ss(f: &Fixture, header: &InitHeader) -> SymmetricKey {
    let (kem, _) = f.secrets.kem(header.kem_prekey_id).unwrap();
    kem.decapsulate(&header.kem_ciphertext)
}

#[test]
fn a_wrong_initiator_or_a_missing_prekey_fails() {
    let mut f = fixture(5);
    let (hs, header) = initiate(&f.alice, &f.bundle, NOW, &mut f.rng).unwrap();
    // Mallory claims Alice's init as hers: DH1 differs, the key differs.
    let mallory = AccountKey::from_entropy([9; 16]);
    let r = respond(&f.bob, &f.secrets, &mallory.account_id(), &header).unwrap();
    assert_ne!(*r.handshake.secret, *hs.secret);

    for (field, expect) in [
        ("spk", "signed prekey"),
        ("kem", "ML-KEM prekey"),
        ("opk", "one-time prekey"),
    ] {
        let mut h = header.clone();
        match field {
            "spk" => h.signed_prekey_id = 9999,
            "kem" => h.kem_prekey_id = 9999,
            _ => h.one_time_prekey_id = Some(9999),
        }
        let err = respond(&f.bob, &f.secrets, &f.alice.account_id(), &h).unwrap_err();
        assert_eq!(
            err,
            Error::UnknownPrekey {
                kind: expect,
                id: 9999
            }
        );
    }
}

#[test]
fn picking_is_uniform_enough_and_total() {
    let mut rng = ChaCha20Rng::from_seed([6; 32]);
    let items: Vec<u32> = (0..50).collect();
    let mut seen = [0u32; 50];
    for _ in 0..5000 {
        let i = *pick(&items, &mut rng).unwrap();
        seen[i as usize] += 1;
    }
    assert!(seen.iter().all(|&c| c > 40), "{seen:?}");
    assert!(pick::<u32, _>(&[], &mut rng).is_none());
}
