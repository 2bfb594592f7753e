//! The published prekey bundle: its fields, its signature by the account key, and
//! a size-checked decode followed by a verification the initiator cannot skip
//! ([`VerifiedBundle`] only comes out of [`SignedPrekeyBundle::verify`]).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::constants::{
    KEY_LEN, MAX_BUNDLE_AGE_MS, MAX_BUNDLE_LEN, ONE_TIME_PREKEY_BATCH, PEER_CLOCK_TOLERANCE_MS,
    SIGNATURE_LEN,
};
use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::kem::KemPublicKey;
use crate::keys::{AccountKey, verify};
use crate::prekey::PrekeyId;
use crate::time::UnixMillis;

/// Domain string that starts the signed message of a bundle.
pub const BUNDLE_SIGNATURE_CONTEXT: &str = "sotto prekey bundle v2";

/// A published X25519 prekey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct X25519Prekey {
    /// Its id.
    pub id: PrekeyId,
    /// The public key.
    pub public: [u8; KEY_LEN],
}

/// A published ML-KEM-768 prekey.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KemPrekey {
    /// Its id.
    pub id: PrekeyId,
    /// The encapsulation key.
    pub public: KemPublicKey,
}

/// What an account publishes so that others can start sessions with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrekeyBundle {
    /// The account whose bundle this is (its identity key IK_B).
    pub account: AccountId,
    /// When the owner made this bundle (owner's clock).
    pub created_at: UnixMillis,
    /// The signed X25519 prekey SPK_B.
    pub signed_prekey: X25519Prekey,
    /// The signed "last-resort" ML-KEM-768 prekey PQSPK_B, used when no one-time
    /// KEM prekey is offered.
    pub signed_kem_prekey: KemPrekey,
    /// One-time X25519 prekeys OPK_B (at most `ONE_TIME_PREKEY_BATCH`).
    pub one_time_prekeys: Vec<X25519Prekey>,
    /// One-time ML-KEM-768 prekeys PQOPK_B (at most `ONE_TIME_PREKEY_BATCH`).
    pub one_time_kem_prekeys: Vec<KemPrekey>,
}

/// A [`PrekeyBundle`] with the account's signature over it, as stored in the
/// account's `Public` namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedPrekeyBundle {
    /// The bundle.
    pub bundle: PrekeyBundle,
    /// Ed25519 by `bundle.account` over [`BUNDLE_SIGNATURE_CONTEXT`] ‖ the
    /// bundle's encoding.
    #[serde(with = "codec::bytes64")]
    pub signature: [u8; SIGNATURE_LEN],
}

/// A bundle whose signature, account, age and keys were checked: the only input
/// [`crate::pqxdh::initiate`] takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBundle(PrekeyBundle);

impl VerifiedBundle {
    /// The checked bundle.
    pub fn bundle(&self) -> &PrekeyBundle {
        &self.0
    }
}

impl SignedPrekeyBundle {
    /// Signs `bundle` with `account`, refusing a bundle of another account or one
    /// its recipients would refuse to decode.
    pub fn sign(account: &AccountKey, bundle: PrekeyBundle) -> Result<Self> {
        if bundle.account != account.account_id() {
            return Err(Error::OutOfRange {
                what: "prekey bundle",
                reason: "it names another account than the key signing it".into(),
            });
        }
        check_counts(&bundle)?;
        let signature = account.sign(&signed_message(&bundle)?);
        let signed = Self { bundle, signature };
        codec::encode_bounded("prekey bundle", &signed, MAX_BUNDLE_LEN)?;
        Ok(signed)
    }

    /// The bytes to store.
    pub fn encode(&self) -> Result<Vec<u8>> {
        codec::encode_bounded("prekey bundle", self, MAX_BUNDLE_LEN)
    }

    /// Decodes at most `MAX_BUNDLE_LEN` bytes (canonical postcard). Does not
    /// verify: call [`SignedPrekeyBundle::verify`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let signed: Self = codec::decode("prekey bundle", bytes, MAX_BUNDLE_LEN)?;
        check_counts(&signed.bundle)?;
        Ok(signed)
    }

    /// Checks that this is `expected`'s bundle, made no later than
    /// `PEER_CLOCK_TOLERANCE_MS` after `now` and no earlier than
    /// `MAX_BUNDLE_AGE_MS` before it, that ids are unique, that the signature
    /// verifies (PQXDH §3.3, first step), and that every ML-KEM key passes FIPS
    /// 203's input check. Cheap checks run first.
    pub fn verify(&self, expected: &AccountId, now: UnixMillis) -> Result<VerifiedBundle> {
        let b = &self.bundle;
        if b.account != *expected {
            return Err(Error::OutOfRange {
                what: "prekey bundle",
                reason: "it belongs to another account than the one asked for".into(),
            });
        }
        check_counts(b)?;
        let too_new = b.created_at > now.saturating_add(PEER_CLOCK_TOLERANCE_MS);
        let too_old = now.saturating_sub(b.created_at) > MAX_BUNDLE_AGE_MS;
        if too_new || too_old {
            return Err(Error::Expired {
                what: "prekey bundle",
                valid_from: b.created_at.saturating_sub(PEER_CLOCK_TOLERANCE_MS),
                valid_until: b.created_at.saturating_add(MAX_BUNDLE_AGE_MS),
                now,
            });
        }
        let mut ids = HashSet::new();
        let all_ids = [b.signed_prekey.id, b.signed_kem_prekey.id]
            .into_iter()
            .chain(b.one_time_prekeys.iter().map(|k| k.id))
            .chain(b.one_time_kem_prekeys.iter().map(|k| k.id));
        for id in all_ids {
            if !ids.insert(id) {
                return Err(Error::OutOfRange {
                    what: "prekey bundle",
                    reason: format!("prekey id {id} appears twice"),
                });
            }
        }
        verify(
            "prekey bundle",
            b.account.as_bytes(),
            &signed_message(b)?,
            &self.signature,
        )?;
        b.signed_kem_prekey.public.check()?;
        for k in &b.one_time_kem_prekeys {
            k.public.check()?;
        }
        Ok(VerifiedBundle(b.clone()))
    }
}

/// Refuses more one-time keys than a batch.
fn check_counts(b: &PrekeyBundle) -> Result<()> {
    for (what, n) in [
        ("one-time X25519 prekeys", b.one_time_prekeys.len()),
        ("one-time ML-KEM prekeys", b.one_time_kem_prekeys.len()),
    ] {
        if n > ONE_TIME_PREKEY_BATCH {
            return Err(Error::OutOfRange {
                what,
                reason: format!("{n} in one bundle, at most {ONE_TIME_PREKEY_BATCH}"),
            });
        }
    }
    Ok(())
}

/// What the account signs: the domain, then the bundle's canonical encoding.
fn signed_message(b: &PrekeyBundle) -> Result<Vec<u8>> {
    let body = codec::encode("prekey bundle", b)?;
    let mut m = Vec::with_capacity(BUNDLE_SIGNATURE_CONTEXT.len() + body.len());
    m.extend_from_slice(BUNDLE_SIGNATURE_CONTEXT.as_bytes());
    m.extend_from_slice(&body);
    Ok(m)
}
