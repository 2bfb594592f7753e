//! The private side of an account's prekeys: current and recently replaced signed
//! prekeys, one-time keys (unused, or used and within their grace period), and
//! the rotation and replenishing policy, as a serde-serializable store that the
//! client keeps sealed in its home. Wiped on drop; `Debug` shows ids only.

use std::fmt;

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::constants::{
    KEY_LEN, OLD_SIGNED_PREKEY_KEEP_MS, ONE_TIME_PREKEY_BATCH, ONE_TIME_PREKEY_GRACE_MS,
    ONE_TIME_PREKEY_LOW_WATER, SIGNED_PREKEY_ROTATE_MS,
};
use crate::error::Result;
use crate::kem::KemSecret;
use crate::keys::AccountKey;
use crate::prekey::{KemPrekey, PrekeyBundle, PrekeyId, SignedPrekeyBundle, X25519Prekey};
use crate::time::UnixMillis;

/// Which one-time prekeys one accepted initiation used: the client passes it to
/// [`PrekeySecrets::mark_used`] once the new session is stored.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsedPrekeys {
    /// The one-time X25519 prekey, if the initiation used one.
    pub one_time: Option<PrekeyId>,
    /// The one-time ML-KEM prekey, if the initiation used one (otherwise it used
    /// the signed ML-KEM prekey).
    pub one_time_kem: Option<PrekeyId>,
}

/// A signed X25519 + ML-KEM prekey pair and its lifetime.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct SignedSecret {
    x25519_id: PrekeyId,
    x25519: [u8; KEY_LEN],
    kem_id: PrekeyId,
    kem: KemSecret,
    created_at: UnixMillis,
    /// When a newer pair replaced this one; kept `OLD_SIGNED_PREKEY_KEEP_MS` more.
    replaced_at: Option<UnixMillis>,
}

/// One one-time X25519 prekey.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct OneTimeSecret {
    id: PrekeyId,
    secret: [u8; KEY_LEN],
    used_at: Option<UnixMillis>,
}

/// One one-time ML-KEM prekey.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct OneTimeKemSecret {
    id: PrekeyId,
    secret: KemSecret,
    used_at: Option<UnixMillis>,
}

/// An account's prekey secrets. Serialize it (postcard) into the sealed home;
/// the client writes it back after every change.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct PrekeySecrets {
    next_id: PrekeyId,
    /// Oldest first; the last is current.
    signed: Vec<SignedSecret>,
    one_time: Vec<OneTimeSecret>,
    one_time_kem: Vec<OneTimeKemSecret>,
}

impl PrekeySecrets {
    /// A fresh store: one signed pair and full batches of one-time keys.
    ///
    /// Ids start at a random point (in the lower half of the `u32` range, so
    /// they do not wrap for billions of keys): an account restored from its 12
    /// words makes a new store, and an initiation made for the old one then
    /// names ids the new one almost surely does not have, so it fails with
    /// [`crate::Error::UnknownPrekey`] ("start a new session") rather than as
    /// an undecryptable message.
    pub fn generate<R: CryptoRng + ?Sized>(now: UnixMillis, rng: &mut R) -> Self {
        let mut s = Self {
            next_id: (rng.next_u32() >> 1).max(1),
            signed: Vec::new(),
            one_time: Vec::new(),
            one_time_kem: Vec::new(),
        };
        s.add_signed(now, rng);
        s.replenish(rng);
        s
    }

    /// Applies the policy at `now`: replaces the signed pair older than
    /// `SIGNED_PREKEY_ROTATE_MS`, forgets replaced pairs after
    /// `OLD_SIGNED_PREKEY_KEEP_MS` and used one-time keys after
    /// `ONE_TIME_PREKEY_GRACE_MS`, and refills a kind of one-time key to a full
    /// batch once fewer than `ONE_TIME_PREKEY_LOW_WATER` unused ones remain.
    /// Returns whether the published bundle must be replaced (a new signed pair
    /// or new one-time keys).
    pub fn maintain<R: CryptoRng + ?Sized>(&mut self, now: UnixMillis, rng: &mut R) -> bool {
        let mut republish = false;
        let rotate = self
            .signed
            .last()
            .is_none_or(|s| now.saturating_sub(s.created_at) >= SIGNED_PREKEY_ROTATE_MS);
        if rotate {
            if let Some(current) = self.signed.last_mut() {
                current.replaced_at = Some(now);
            }
            self.add_signed(now, rng);
            republish = true;
        }
        self.signed.retain(|s| {
            s.replaced_at
                .is_none_or(|at| now.saturating_sub(at) < OLD_SIGNED_PREKEY_KEEP_MS)
        });
        let fresh = |used: Option<UnixMillis>| {
            used.is_none_or(|at| now.saturating_sub(at) < ONE_TIME_PREKEY_GRACE_MS)
        };
        self.one_time.retain(|k| fresh(k.used_at));
        self.one_time_kem.retain(|k| fresh(k.used_at));
        republish |= self.replenish(rng);
        republish
    }

    /// The bundle to publish at `now`: the current signed pair and every unused
    /// one-time key, signed by `account`.
    pub fn bundle(&self, account: &AccountKey, now: UnixMillis) -> Result<SignedPrekeyBundle> {
        let current = self.signed.last().ok_or(crate::Error::OutOfRange {
            what: "prekey secrets",
            reason: "there is no signed prekey: call maintain first".into(),
        })?;
        let bundle = PrekeyBundle {
            account: account.account_id(),
            created_at: now,
            signed_prekey: X25519Prekey {
                id: current.x25519_id,
                public: public_of(&current.x25519),
            },
            signed_kem_prekey: KemPrekey {
                id: current.kem_id,
                public: current.kem.public(),
            },
            one_time_prekeys: self
                .one_time
                .iter()
                .filter(|k| k.used_at.is_none())
                .map(|k| X25519Prekey {
                    id: k.id,
                    public: public_of(&k.secret),
                })
                .collect(),
            one_time_kem_prekeys: self
                .one_time_kem
                .iter()
                .filter(|k| k.used_at.is_none())
                .map(|k| KemPrekey {
                    id: k.id,
                    public: k.secret.public(),
                })
                .collect(),
        };
        SignedPrekeyBundle::sign(account, bundle)
    }

    /// Records that an accepted initiation used these one-time keys at `now`
    /// (their grace period starts at the first use). Returns whether the bundle
    /// should be republished without them.
    pub fn mark_used(&mut self, used: &UsedPrekeys, now: UnixMillis) -> bool {
        let mut changed = false;
        if let Some(k) = self
            .one_time
            .iter_mut()
            .find(|k| Some(k.id) == used.one_time && k.used_at.is_none())
        {
            k.used_at = Some(now);
            changed = true;
        }
        if let Some(k) = self
            .one_time_kem
            .iter_mut()
            .find(|k| Some(k.id) == used.one_time_kem && k.used_at.is_none())
        {
            k.used_at = Some(now);
            changed = true;
        }
        changed
    }

    /// How many unused one-time keys of each kind (X25519, ML-KEM) remain.
    pub fn unused_one_time(&self) -> (usize, usize) {
        (
            self.one_time.iter().filter(|k| k.used_at.is_none()).count(),
            self.one_time_kem
                .iter()
                .filter(|k| k.used_at.is_none())
                .count(),
        )
    }

    /// The signed X25519 prekey with this id, if still kept.
    pub(crate) fn signed_x25519(&self, id: PrekeyId) -> Option<StaticSecret> {
        self.signed
            .iter()
            .find(|s| s.x25519_id == id)
            .map(|s| StaticSecret::from(s.x25519))
    }

    /// The ML-KEM prekey with this id, signed or one-time, if still kept; says
    /// whether it was a one-time key.
    pub(crate) fn kem(&self, id: PrekeyId) -> Option<(&KemSecret, bool)> {
        if let Some(s) = self.signed.iter().find(|s| s.kem_id == id) {
            return Some((&s.kem, false));
        }
        self.one_time_kem
            .iter()
            .find(|k| k.id == id)
            .map(|k| (&k.secret, true))
    }

    /// The one-time X25519 prekey with this id, if still kept.
    pub(crate) fn one_time_x25519(&self, id: PrekeyId) -> Option<StaticSecret> {
        self.one_time
            .iter()
            .find(|k| k.id == id)
            .map(|k| StaticSecret::from(k.secret))
    }

    fn take_id(&mut self) -> PrekeyId {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        id
    }

    fn add_signed<R: CryptoRng + ?Sized>(&mut self, now: UnixMillis, rng: &mut R) {
        let x25519_id = self.take_id();
        let kem_id = self.take_id();
        self.signed.push(SignedSecret {
            x25519_id,
            x25519: random_key(rng),
            kem_id,
            kem: KemSecret::generate(rng),
            created_at: now,
            replaced_at: None,
        });
    }

    /// Refills each kind to a full batch if it is under the low-water mark.
    fn replenish<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> bool {
        let (x, k) = self.unused_one_time();
        let mut added = false;
        if x < ONE_TIME_PREKEY_LOW_WATER {
            for _ in x..ONE_TIME_PREKEY_BATCH {
                let id = self.take_id();
                self.one_time.push(OneTimeSecret {
                    id,
                    secret: random_key(rng),
                    used_at: None,
                });
            }
            added = true;
        }
        if k < ONE_TIME_PREKEY_LOW_WATER {
            for _ in k..ONE_TIME_PREKEY_BATCH {
                let id = self.take_id();
                self.one_time_kem.push(OneTimeKemSecret {
                    id,
                    secret: KemSecret::generate(rng),
                    used_at: None,
                });
            }
            added = true;
        }
        added
    }
}

impl fmt::Debug for PrekeySecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (x, k) = self.unused_one_time();
        f.debug_struct("PrekeySecrets")
            .field(
                "signed",
                &self
                    .signed
                    .iter()
                    .map(|s| (s.x25519_id, s.kem_id))
                    .collect::<Vec<_>>(),
            )
            .field("unused_one_time", &x)
            .field("unused_one_time_kem", &k)
            .finish_non_exhaustive()
    }
}

fn random_key<R: CryptoRng + ?Sized>(rng: &mut R) -> [u8; KEY_LEN] {
    let mut k = [0u8; KEY_LEN];
    rng.fill_bytes(&mut k);
    k
}

fn public_of(secret: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    PublicKey::from(&StaticSecret::from(*secret)).to_bytes()
}
