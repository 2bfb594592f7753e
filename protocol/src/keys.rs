//! Secret keys: an account's key (from 16 bytes of entropy), a node's identity
//! key, and a node's rotating onion key. Secrets are wiped on drop and never
//! appear in `Debug` output.

use std::fmt;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::constants::{ACCOUNT_ENTROPY_LEN, KEY_LEN, SIGNATURE_LEN};
use crate::crypto::{DhKey, SymmetricKey};
use crate::error::{Error, Result};
use crate::id::{AccountId, NodeId};

/// blake3 `derive_key` context turning account entropy into the Ed25519 seed.
pub const ACCOUNT_SEED_CONTEXT: &str = "sotto account seed v1";

/// An account's secret: 16 bytes of entropy (the recovery phrase) from which the
/// Ed25519 signing key and the X25519 encryption key both follow.
pub struct AccountKey {
    entropy: Zeroizing<[u8; ACCOUNT_ENTROPY_LEN]>,
    signing: SigningKey,
}

impl AccountKey {
    /// The account that `entropy` determines (DESIGN §3).
    pub fn from_entropy(entropy: [u8; ACCOUNT_ENTROPY_LEN]) -> Self {
        let entropy = Zeroizing::new(entropy);
        let seed = Zeroizing::new(blake3::derive_key(ACCOUNT_SEED_CONTEXT, &entropy[..]));
        let signing = SigningKey::from_bytes(&seed);
        Self { entropy, signing }
    }

    /// A new account from `rng` (the OS generator in real use).
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut entropy = Zeroizing::new([0u8; ACCOUNT_ENTROPY_LEN]);
        rng.fill_bytes(&mut entropy[..]);
        Self::from_entropy(*entropy)
    }

    /// The 16 bytes of entropy (to show as a recovery phrase). Handle with care.
    pub fn entropy(&self) -> &[u8; ACCOUNT_ENTROPY_LEN] {
        &self.entropy
    }

    /// The account ID (the Ed25519 public key).
    pub fn account_id(&self) -> AccountId {
        AccountId::from_verifying_key(&self.signing.verifying_key())
    }

    /// Signs `message` with the account key.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.signing.sign(message).to_bytes()
    }

    /// The X25519 secret derived from the Ed25519 key (the clamped scalar), used
    /// to open envelopes addressed to this account.
    pub fn x25519_secret(&self) -> StaticSecret {
        StaticSecret::from(self.signing.to_scalar_bytes())
    }

    /// The X25519 public key matching [`AccountKey::x25519_secret`].
    pub fn x25519_public(&self) -> [u8; KEY_LEN] {
        self.signing.verifying_key().to_montgomery().to_bytes()
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountKey")
            .field("account", &self.account_id())
            .finish_non_exhaustive()
    }
}

/// A service node's long-term identity key (Ed25519; also its libp2p identity).
pub struct NodeKey {
    signing: SigningKey,
}

impl NodeKey {
    /// A new node key from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self {
            signing: SigningKey::generate(rng),
        }
    }

    /// A node key from its 32-byte secret (as stored on disk).
    pub fn from_secret_bytes(secret: &[u8; KEY_LEN]) -> Self {
        Self {
            signing: SigningKey::from_bytes(secret),
        }
    }

    /// The 32-byte secret, for storing on disk (mode 0600).
    pub fn to_secret_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// The node's id.
    pub fn node_id(&self) -> NodeId {
        NodeId(self.signing.verifying_key().to_bytes())
    }

    /// Signs `message` with the node key.
    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.signing.sign(message).to_bytes()
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKey")
            .field("node", &self.node_id())
            .finish_non_exhaustive()
    }
}

/// A node's onion key (X25519). Rotated regularly; published in the node record.
/// The public half is computed once: every peeled layer needs it, and a fixed-base
/// scalar multiplication per packet cost a quarter of the peel time (measured).
/// So is the key aws-lc agrees with, which would otherwise compute that public
/// half again for every packet.
pub struct OnionSecret {
    secret: StaticSecret,
    public: [u8; KEY_LEN],
    /// `None` only if aws-lc refused the 32 bytes (it takes any).
    agreement: Option<DhKey>,
}

impl OnionSecret {
    /// A new onion key from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_static(StaticSecret::random_from_rng(rng))
    }

    /// From its 32-byte secret (as persisted across restarts).
    pub fn from_secret_bytes(secret: [u8; KEY_LEN]) -> Self {
        Self::from_static(StaticSecret::from(secret))
    }

    fn from_static(secret: StaticSecret) -> Self {
        let public = x25519_dalek::PublicKey::from(&secret).to_bytes();
        let agreement = DhKey::new(secret.as_bytes()).ok();
        Self {
            secret,
            public,
            agreement,
        }
    }

    /// The 32-byte secret, for persisting.
    pub fn to_secret_bytes(&self) -> Zeroizing<[u8; KEY_LEN]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// The public half, as published in node records.
    pub fn public(&self) -> [u8; KEY_LEN] {
        self.public
    }

    /// The X25519 secret (for [`crate::crypto::dh`]).
    pub fn secret(&self) -> &StaticSecret {
        &self.secret
    }

    /// X25519 between this key and `their_public` (an onion layer's
    /// ephemeral key), refusing a low-order point: [`crate::crypto::dh`]
    /// without parsing the key again.
    pub fn agree(&self, their_public: &[u8; KEY_LEN]) -> Result<SymmetricKey> {
        self.agreement
            .as_ref()
            .ok_or(Error::BadKey {
                what: "X25519 private key",
            })?
            .agree(their_public)
    }
}

impl fmt::Debug for OnionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OnionSecret")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

/// Verifies an Ed25519 signature strictly (no malleable or small-order keys).
pub fn verify(
    what: &'static str,
    public: &[u8; KEY_LEN],
    message: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<()> {
    let key = VerifyingKey::from_bytes(public).map_err(|_| Error::BadKey { what })?;
    let sig = Signature::from_bytes(signature);
    key.verify_strict(message, &sig)
        .map_err(|_| Error::BadSignature { what })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_keys_follow_from_entropy() {
        let a = AccountKey::from_entropy([1; 16]);
        let b = AccountKey::from_entropy([1; 16]);
        let c = AccountKey::from_entropy([2; 16]);
        assert_eq!(a.account_id(), b.account_id());
        assert_ne!(a.account_id(), c.account_id());
        // The X25519 public key derived from the secret matches the one derived
        // from the account ID alone (what a sender uses).
        let from_secret = x25519_dalek::PublicKey::from(&a.x25519_secret()).to_bytes();
        assert_eq!(from_secret, a.x25519_public());
        assert_eq!(a.account_id().x25519_public().unwrap(), a.x25519_public());
    }

    #[test]
    fn debug_hides_secrets() {
        let a = AccountKey::from_entropy([0xAB; 16]);
        let s = format!("{a:?}");
        assert!(!s.contains("171"), "{s}");
        assert!(!s.to_lowercase().contains("abab"), "{s}");
        let n = NodeKey::from_secret_bytes(&[0xCD; 32]);
        assert!(!format!("{n:?}").to_lowercase().contains("cdcd"));
    }

    #[test]
    fn signatures_verify_and_reject_changes() {
        let k = AccountKey::from_entropy([9; 16]);
        let sig = k.sign(b"msg");
        let pk = *k.account_id().as_bytes();
        verify("test", &pk, b"msg", &sig).unwrap();
        assert!(verify("test", &pk, b"msh", &sig).is_err());
        let mut bad = sig;
        bad[3] ^= 1;
        assert!(verify("test", &pk, b"msg", &bad).is_err());
    }
}
