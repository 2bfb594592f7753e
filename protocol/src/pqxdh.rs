//! PQXDH (Signal's "The PQXDH Key Agreement Protocol", revision 3): the first
//! message of a v2 session, combining four X25519 agreements and one ML-KEM-768
//! encapsulation into one session secret, so that the session is safe if either
//! X25519 or ML-KEM holds.
//!
//! Parameters (spec §2.2): curve X25519; hash BLAKE3, used through `derive_key`
//! as the KDF (see `session_secret` below); info `sotto pqxdh v2 X25519 BLAKE3
//! ML-KEM-768`; pqkem ML-KEM-768 (FIPS 203); EncodeEC the 32-byte Montgomery
//! u-coordinate. Identity keys are the account keys: the Ed25519 key signs the
//! bundle, its birationally mapped X25519 form takes part in DH1 and DH2 (the
//! spec's XEdDSA does the same in the other direction).
//!
//! Sotto's additions, each allowed by the spec: the associated data also binds
//! the initiation's hash (§3.3 lets AD carry more than the identity keys), and
//! the initiation header carries the initiator's creation time (read by
//! [`crate::ratchet::choice`]).
//!
//! The KEM must bind its shared secret to the encapsulation key (the spec's
//! security considerations on "re-encapsulation"): ML-KEM does, since its
//! shared secret is derived with H(ek) (FIPS 203 §6.2), and the session id also
//! hashes the ciphertext and the prekey ids.
//!
//! Not here: fetching bundles, and replay: an initiation without a one-time key
//! can be replayed (spec §4.2); the client recognises one by its
//! [`SessionId`] and uses the session it already has.

use std::fmt;

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::codec;
use crate::constants::{HASH_LEN, KEY_LEN, MAX_INIT_HEADER_LEN};
use crate::crypto::{SymmetricKey, dh};
use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::kem::{self, KemCiphertext};
use crate::keys::AccountKey;
use crate::prekey::{PrekeyId, PrekeySecrets, UsedPrekeys, VerifiedBundle};
use crate::time::UnixMillis;

/// blake3 `derive_key` context of the session secret: the spec's `info` (§2.2).
pub const PQXDH_INFO: &str = "sotto pqxdh v2 X25519 BLAKE3 ML-KEM-768";
/// blake3 `derive_key` context of a [`SessionId`].
pub const SESSION_ID_CONTEXT: &str = "sotto pqxdh v2 session id";
/// The spec's F (§2.2): 32 bytes of 0xFF before the key material, so that the
/// KDF's input never starts like a valid X25519 agreement.
const F: [u8; KEY_LEN] = [0xFF; KEY_LEN];

/// The PQXDH part of an initiator's first messages (spec §3.3, "initial
/// message"): everything the responder needs besides the initiator's identity
/// key, which the envelope's sender field carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InitHeader {
    /// When the initiator made it (initiator's clock).
    pub created_at: UnixMillis,
    /// The initiator's ephemeral X25519 key EK_A.
    pub ephemeral: [u8; KEY_LEN],
    /// Which signed X25519 prekey SPK_B was used.
    pub signed_prekey_id: PrekeyId,
    /// Which ML-KEM prekey was used: a one-time PQOPK_B or the signed PQSPK_B.
    pub kem_prekey_id: PrekeyId,
    /// Which one-time X25519 prekey OPK_B was used, if any.
    pub one_time_prekey_id: Option<PrekeyId>,
    /// The ML-KEM ciphertext CT.
    pub kem_ciphertext: KemCiphertext,
}

impl InitHeader {
    /// The canonical encoding.
    pub fn encode(&self) -> Result<Vec<u8>> {
        codec::encode_bounded("PQXDH initiation", self, MAX_INIT_HEADER_LEN)
    }

    /// Decodes at most `MAX_INIT_HEADER_LEN` bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        codec::decode("PQXDH initiation", bytes, MAX_INIT_HEADER_LEN)
    }

    /// The id of the session this initiation starts: a hash of its encoding.
    pub fn session_id(&self) -> Result<SessionId> {
        Ok(SessionId(
            *blake3::Hasher::new_derive_key(SESSION_ID_CONTEXT)
                .update(&self.encode()?)
                .finalize()
                .as_bytes(),
        ))
    }
}

/// The id of a session: the hash of the initiation that started it. Both sides
/// know it; it decides simultaneous initiations ([`crate::ratchet::choice`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionId(pub [u8; HASH_LEN]);

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId(")?;
        self.0
            .get(..6)
            .unwrap_or_default()
            .iter()
            .try_for_each(|b| write!(f, "{b:02x}"))?;
        write!(f, "…)")
    }
}

/// What both sides take from a handshake into the Double Ratchet.
pub struct Handshake {
    /// SK, the session secret (the ratchet's first root key).
    pub secret: SymmetricKey,
    /// The initiator (IK_A).
    pub initiator: AccountId,
    /// The responder (IK_B).
    pub responder: AccountId,
    /// The session's id.
    pub session_id: SessionId,
    /// The responder's signed prekey SPK_B: its first ratchet key (Double
    /// Ratchet spec §3.7, "Integration with X3DH").
    pub responder_ratchet_public: [u8; KEY_LEN],
}

impl fmt::Debug for Handshake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Handshake")
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

/// The responder's result: the handshake, the signed prekey's secret (its first
/// ratchet key pair) and which one-time keys to mark used.
pub struct Responded {
    /// The shared part.
    pub handshake: Handshake,
    /// SPK_B's secret, the responder's first ratchet key.
    pub ratchet_secret: StaticSecret,
    /// One-time keys this initiation used.
    pub used: UsedPrekeys,
}

impl fmt::Debug for Responded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responded")
            .field("handshake", &self.handshake)
            .field("used", &self.used)
            .finish_non_exhaustive()
    }
}

/// The initiator's side (spec §3.3): picks a one-time key of each kind at random
/// when the bundle offers one, encapsulates to the chosen ML-KEM key, computes
/// DH1..DH4 with a fresh ephemeral key, and derives SK.
pub fn initiate<R: CryptoRng + ?Sized>(
    own: &AccountKey,
    bundle: &VerifiedBundle,
    now: UnixMillis,
    rng: &mut R,
) -> Result<(Handshake, InitHeader)> {
    let b = bundle.bundle();
    let responder_x25519 = b.account.x25519_public()?;
    let one_time = pick(&b.one_time_prekeys, rng);
    let kem_key = pick(&b.one_time_kem_prekeys, rng).unwrap_or(&b.signed_kem_prekey);

    let ephemeral = StaticSecret::random_from_rng(rng);
    let ephemeral_public = PublicKey::from(&ephemeral).to_bytes();
    // §3.3: DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B),
    // DH4 = DH(EK_A, OPK_B).
    let dh1 = dh(&own.x25519_secret(), &b.signed_prekey.public)?;
    let dh2 = dh(&ephemeral, &responder_x25519)?;
    let dh3 = dh(&ephemeral, &b.signed_prekey.public)?;
    let dh4 = one_time.map(|k| dh(&ephemeral, &k.public)).transpose()?;
    // §3.3: (CT, SS) = PQKEM-ENC(PQPK_B).
    let (kem_ciphertext, ss) = kem::encapsulate(&kem_key.public, rng);
    let secret = session_secret(&dh1, &dh2, &dh3, dh4.as_deref(), Some(&ss));

    let header = InitHeader {
        created_at: now,
        ephemeral: ephemeral_public,
        signed_prekey_id: b.signed_prekey.id,
        kem_prekey_id: kem_key.id,
        one_time_prekey_id: one_time.map(|k| k.id),
        kem_ciphertext,
    };
    let handshake = Handshake {
        secret,
        initiator: own.account_id(),
        responder: b.account,
        session_id: header.session_id()?,
        responder_ratchet_public: b.signed_prekey.public,
    };
    Ok((handshake, header))
}

/// The responder's side (spec §3.4): finds the named prekeys (failing with
/// [`Error::UnknownPrekey`] if one is gone), decapsulates, repeats the four
/// agreements and derives SK. Does not change `secrets`: once the session is
/// stored, the client passes [`Responded::used`] to
/// [`PrekeySecrets::mark_used`]. A wrong or altered initiation is not detected
/// here but by the first ratchet message's AEAD.
pub fn respond(
    own: &AccountKey,
    secrets: &PrekeySecrets,
    initiator: &AccountId,
    header: &InitHeader,
) -> Result<Responded> {
    let unknown = |kind, id| Error::UnknownPrekey { kind, id };
    let spk = secrets
        .signed_x25519(header.signed_prekey_id)
        .ok_or(unknown("signed prekey", header.signed_prekey_id))?;
    let (kem_secret, kem_one_time) = secrets
        .kem(header.kem_prekey_id)
        .ok_or(unknown("ML-KEM prekey", header.kem_prekey_id))?;
    let opk = header
        .one_time_prekey_id
        .map(|id| {
            secrets
                .one_time_x25519(id)
                .ok_or(unknown("one-time prekey", id))
        })
        .transpose()?;

    let initiator_x25519 = initiator.x25519_public()?;
    let dh1 = dh(&spk, &initiator_x25519)?;
    let dh2 = dh(&own.x25519_secret(), &header.ephemeral)?;
    let dh3 = dh(&spk, &header.ephemeral)?;
    let dh4 = opk.as_ref().map(|k| dh(k, &header.ephemeral)).transpose()?;
    let ss = kem_secret.decapsulate(&header.kem_ciphertext);
    let secret = session_secret(&dh1, &dh2, &dh3, dh4.as_deref(), Some(&ss));

    let handshake = Handshake {
        secret,
        initiator: *initiator,
        responder: own.account_id(),
        session_id: header.session_id()?,
        responder_ratchet_public: PublicKey::from(&spk).to_bytes(),
    };
    Ok(Responded {
        handshake,
        ratchet_secret: spk,
        used: UsedPrekeys {
            one_time: header.one_time_prekey_id,
            one_time_kem: kem_one_time.then_some(header.kem_prekey_id),
        },
    })
}

/// SK = KDF(F ‖ DH1 ‖ DH2 ‖ DH3 [‖ DH4] ‖ SS) (spec §2.2 and §3.3). The spec's
/// KDF is HKDF with a zero salt and `info`; here it is blake3's `derive_key`
/// with `info` as its context, the KDF every other key of this crate comes from
/// (one construction to review, no new dependency). BLAKE3's key derivation
/// mode is a PRF keyed by the context, the role HKDF-Extract/Expand play in the
/// spec; its 256-bit output is SK. `ss` is optional only so that the unit tests
/// can show that leaving the KEM secret out gives another key.
fn session_secret(
    dh1: &[u8; KEY_LEN],
    dh2: &[u8; KEY_LEN],
    dh3: &[u8; KEY_LEN],
    dh4: Option<&[u8; KEY_LEN]>,
    ss: Option<&[u8; KEY_LEN]>,
) -> SymmetricKey {
    let mut h = blake3::Hasher::new_derive_key(PQXDH_INFO);
    h.update(&F).update(dh1).update(dh2).update(dh3);
    if let Some(dh4) = dh4 {
        h.update(dh4);
    }
    if let Some(ss) = ss {
        h.update(ss);
    }
    Zeroizing::new(*h.finalize().as_bytes())
}

/// One element of `items` chosen uniformly by `rng`, or `None` if empty.
fn pick<'a, T, R: CryptoRng + ?Sized>(items: &'a [T], rng: &mut R) -> Option<&'a T> {
    let n = u64::try_from(items.len()).ok().filter(|&n| n > 0)?;
    // Rejection sampling: no modulo bias.
    let zone = u64::MAX - u64::MAX % n;
    loop {
        let r = rng.next_u64();
        if r < zone {
            return usize::try_from(r % n).ok().and_then(|i| items.get(i));
        }
    }
}

#[cfg(test)]
mod tests;
