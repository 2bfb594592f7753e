//! Prekey bundles and secrets: signing, size-checked decoding, verification,
//! rotation, replenishing, and the one-time key grace period.

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

use super::*;
use crate::constants::{
    MAX_BUNDLE_AGE_MS, MAX_BUNDLE_LEN, OLD_SIGNED_PREKEY_KEEP_MS, ONE_TIME_PREKEY_BATCH,
    ONE_TIME_PREKEY_GRACE_MS, ONE_TIME_PREKEY_LOW_WATER, PEER_CLOCK_TOLERANCE_MS,
    SIGNED_PREKEY_ROTATE_MS,
};
use crate::time::{DAY_MS, UnixMillis};
use crate::{AccountKey, Error, codec};

const NOW: UnixMillis = 1_750_000_000_000;

fn setup() -> (AccountKey, PrekeySecrets, ChaCha20Rng) {
    let mut rng = ChaCha20Rng::from_seed([8; 32]);
    let bob = AccountKey::from_entropy([2; 16]);
    let secrets = PrekeySecrets::generate(NOW, &mut rng);
    (bob, secrets, rng)
}

#[test]
fn a_full_bundle_round_trips_fits_and_verifies() {
    let (bob, secrets, _) = setup();
    let signed = secrets.bundle(&bob, NOW).unwrap();
    assert_eq!(signed.bundle.one_time_prekeys.len(), ONE_TIME_PREKEY_BATCH);
    assert_eq!(
        signed.bundle.one_time_kem_prekeys.len(),
        ONE_TIME_PREKEY_BATCH
    );
    let bytes = signed.encode().unwrap();
    assert!(
        bytes.len() <= MAX_BUNDLE_LEN,
        "{} > {MAX_BUNDLE_LEN}",
        bytes.len()
    );
    let back = SignedPrekeyBundle::decode(&bytes).unwrap();
    assert_eq!(back, signed);
    back.verify(&bob.account_id(), NOW).unwrap();
    // Truncations never decode; a trailing byte does not either.
    for cut in [0, 1, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(SignedPrekeyBundle::decode(&bytes[..cut]).is_err());
    }
    let mut long = bytes.clone();
    long.push(0);
    assert!(SignedPrekeyBundle::decode(&long).is_err());
}

#[test]
fn verification_refuses_changes_other_accounts_and_bad_times() {
    let (bob, secrets, _) = setup();
    let signed = secrets.bundle(&bob, NOW).unwrap();
    let alice = AccountKey::from_entropy([1; 16]);
    assert!(signed.verify(&alice.account_id(), NOW).is_err());

    let mut changed = signed.clone();
    changed.bundle.signed_prekey.public[0] ^= 1;
    assert_eq!(
        changed.verify(&bob.account_id(), NOW).unwrap_err(),
        Error::BadSignature {
            what: "prekey bundle"
        }
    );
    let mut dropped = signed.clone();
    dropped.bundle.one_time_kem_prekeys.pop();
    assert!(dropped.verify(&bob.account_id(), NOW).is_err());

    let future = NOW - PEER_CLOCK_TOLERANCE_MS - 1;
    assert!(matches!(
        signed.verify(&bob.account_id(), future),
        Err(Error::Expired { .. })
    ));
    let late = NOW + MAX_BUNDLE_AGE_MS + 1;
    assert!(matches!(
        signed.verify(&bob.account_id(), late),
        Err(Error::Expired { .. })
    ));
    signed
        .verify(&bob.account_id(), NOW + MAX_BUNDLE_AGE_MS)
        .unwrap();

    // A bundle signed by its owner is still refused with a key failing the
    // ML-KEM input check, or with an id twice.
    let bytes = codec::encode("t", &vec![0xFFu8; 1184]).unwrap();
    let bad_key: crate::kem::KemPublicKey = codec::decode("t", &bytes, 2000).unwrap();
    assert!(bad_key.check().is_err());
    let mut bad = signed.bundle.clone();
    bad.one_time_kem_prekeys[0].public = bad_key;
    let resigned = SignedPrekeyBundle::sign(&bob, bad).unwrap();
    assert_eq!(
        resigned.verify(&bob.account_id(), NOW).unwrap_err(),
        Error::BadKey {
            what: "ML-KEM-768 public key"
        }
    );
    let mut twice = signed.bundle.clone();
    twice.one_time_kem_prekeys[1].id = twice.one_time_prekeys[0].id;
    let resigned = SignedPrekeyBundle::sign(&bob, twice).unwrap();
    assert!(matches!(
        resigned.verify(&bob.account_id(), NOW),
        Err(Error::OutOfRange { .. })
    ));
}

#[test]
fn too_many_one_time_keys_are_refused_before_anything_else() {
    let (bob, secrets, _) = setup();
    let mut b = secrets.bundle(&bob, NOW).unwrap().bundle;
    let extra = b.one_time_prekeys[0].clone();
    b.one_time_prekeys.push(extra);
    assert!(SignedPrekeyBundle::sign(&bob, b).is_err());
    let alice = AccountKey::from_entropy([1; 16]);
    let b = secrets.bundle(&bob, NOW).unwrap().bundle;
    assert!(SignedPrekeyBundle::sign(&alice, b).is_err());
}

#[test]
fn signed_prekeys_rotate_and_old_ones_are_kept_then_dropped() {
    let (bob, mut secrets, mut rng) = setup();
    let first = secrets.bundle(&bob, NOW).unwrap().bundle.signed_prekey.id;
    assert!(
        !secrets.maintain(NOW + DAY_MS, &mut rng),
        "nothing due after a day"
    );
    let rotated_at = NOW + SIGNED_PREKEY_ROTATE_MS;
    assert!(secrets.maintain(rotated_at, &mut rng));
    let second = secrets.bundle(&bob, rotated_at).unwrap().bundle;
    assert_ne!(second.signed_prekey.id, first);
    assert!(
        secrets.signed_x25519(first).is_some(),
        "the old one opens late initiations"
    );
    // Rotation goes on weekly; the first is dropped after its keep period.
    let mut t = rotated_at;
    while t < rotated_at + OLD_SIGNED_PREKEY_KEEP_MS {
        t += SIGNED_PREKEY_ROTATE_MS;
        secrets.maintain(t, &mut rng);
    }
    assert!(secrets.signed_x25519(first).is_none());
    let current = secrets.bundle(&bob, t).unwrap().bundle.signed_prekey.id;
    assert!(secrets.signed_x25519(current).is_some());
}

#[test]
fn one_time_keys_are_used_kept_for_grace_and_replenished() {
    let (bob, mut secrets, mut rng) = setup();
    let b = secrets.bundle(&bob, NOW).unwrap().bundle;
    let used = UsedPrekeys {
        one_time: Some(b.one_time_prekeys[3].id),
        one_time_kem: Some(b.one_time_kem_prekeys[7].id),
    };
    assert!(secrets.mark_used(&used, NOW));
    assert!(
        !secrets.mark_used(&used, NOW + 1),
        "a second use changes nothing"
    );
    let b2 = secrets.bundle(&bob, NOW).unwrap().bundle;
    assert_eq!(b2.one_time_prekeys.len(), ONE_TIME_PREKEY_BATCH - 1);
    assert!(
        b2.one_time_prekeys
            .iter()
            .all(|k| Some(k.id) != used.one_time)
    );
    // Still there during the grace period (a second initiator may have it).
    secrets.maintain(NOW + ONE_TIME_PREKEY_GRACE_MS - 1, &mut rng);
    assert!(secrets.one_time_x25519(used.one_time.unwrap()).is_some());
    assert!(secrets.kem(used.one_time_kem.unwrap()).is_some());
    secrets.maintain(NOW + ONE_TIME_PREKEY_GRACE_MS, &mut rng);
    assert!(secrets.one_time_x25519(used.one_time.unwrap()).is_none());
    assert!(secrets.kem(used.one_time_kem.unwrap()).is_none());

    // Use keys down to the low-water mark: the next maintain refills.
    let b = secrets.bundle(&bob, NOW).unwrap().bundle;
    let n = ONE_TIME_PREKEY_BATCH - ONE_TIME_PREKEY_LOW_WATER;
    for (x, k) in b
        .one_time_prekeys
        .iter()
        .zip(&b.one_time_kem_prekeys)
        .take(n)
    {
        secrets.mark_used(
            &UsedPrekeys {
                one_time: Some(x.id),
                one_time_kem: Some(k.id),
            },
            NOW,
        );
    }
    assert_eq!(
        secrets.unused_one_time(),
        (ONE_TIME_PREKEY_LOW_WATER - 1, ONE_TIME_PREKEY_LOW_WATER - 1)
    );
    assert!(secrets.maintain(NOW + 1, &mut rng));
    assert_eq!(
        secrets.unused_one_time(),
        (ONE_TIME_PREKEY_BATCH, ONE_TIME_PREKEY_BATCH)
    );
}

#[test]
fn secrets_survive_storage_and_debug_hides_them() {
    let (bob, secrets, _) = setup();
    let bytes = codec::encode("prekey secrets", &secrets).unwrap();
    let back: PrekeySecrets = codec::decode("prekey secrets", &bytes, 1 << 20).unwrap();
    assert_eq!(
        back.bundle(&bob, NOW).unwrap(),
        secrets.bundle(&bob, NOW).unwrap()
    );
    let debug = format!("{secrets:?}");
    assert!(debug.contains("unused_one_time"), "{debug}");
    assert!(debug.len() < 200, "{debug}");
}
