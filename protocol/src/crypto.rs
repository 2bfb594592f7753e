//! The few cryptographic constructions every format here is built from: key
//! derivation (blake3 `derive_key`), X25519 agreement that refuses low-order
//! points, XChaCha20-Poly1305 sealing, and a ChaCha20 keystream.
//!
//! X25519 agreement runs on aws-lc (through `aws-lc-rs`, already in the build
//! for QUIC): its scalar multiplication took 21 µs here against 43 µs for
//! `x25519-dalek`'s portable one, and every onion hop and every sealed
//! envelope pays one or more (measured on the 2-core build machine; the node's
//! `relay` bench prints a relay's one X25519 beside its whole peel). Keys stay
//! `x25519-dalek` secrets everywhere else; both compute RFC 7748's function,
//! which `tests/vectors_x25519.rs` checks against the RFC's own vectors and
//! one against the other.
//!
//! Every key made here is used for exactly one message, so the nonces are fixed
//! (all zero); uniqueness comes from the fresh ephemeral key in every derivation.

use aws_lc_rs::agreement::{self, PrivateKey, UnparsedPublicKey, X25519};
use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::CryptoRng;
use x25519_dalek::StaticSecret;
use zeroize::Zeroizing;

use crate::constants::{KEY_LEN, TAG_LEN};
use crate::error::{Error, Result};

/// A 32-byte symmetric key, wiped when dropped.
pub type SymmetricKey = Zeroizing<[u8; KEY_LEN]>;

/// Derives a key from `parts` (concatenated) under a domain-separating `context`.
pub fn kdf(context: &str, parts: &[&[u8]]) -> SymmetricKey {
    let mut h = blake3::Hasher::new_derive_key(context);
    for p in parts {
        h.update(p);
    }
    Zeroizing::new(*h.finalize().as_bytes())
}

/// X25519 between `secret` and `their_public`, refusing a result of all zeros
/// (a low-order point chosen by an attacker).
pub fn dh(secret: &StaticSecret, their_public: &[u8; KEY_LEN]) -> Result<SymmetricKey> {
    DhKey::new(secret.as_bytes())?.agree(their_public)
}

/// A fresh ephemeral X25519 key from `rng`, and its agreement with
/// `their_public`: the ephemeral public key to send and the shared secret.
/// Cheaper than a `StaticSecret`, its public key and [`dh`] in turn (the
/// public half is computed once, by aws-lc).
pub fn ephemeral_dh<R: CryptoRng + ?Sized>(
    rng: &mut R,
    their_public: &[u8; KEY_LEN],
) -> Result<([u8; KEY_LEN], SymmetricKey)> {
    let mut secret = Zeroizing::new([0u8; KEY_LEN]);
    rng.fill_bytes(secret.as_mut());
    let key = DhKey::new(&secret)?;
    Ok((key.public()?, key.agree(their_public)?))
}

/// An X25519 private key made ready for agreement: parsed once (which computes
/// its public half) so that a long-lived key, like a node's onion key, pays
/// only the variable-base multiplication per agreement. aws-lc wipes the key
/// when it is dropped.
pub struct DhKey(PrivateKey);

impl std::fmt::Debug for DhKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DhKey").finish_non_exhaustive()
    }
}

impl DhKey {
    /// The key with the 32 secret bytes `secret` (clamped by X25519 itself,
    /// RFC 7748 §5).
    pub fn new(secret: &[u8; KEY_LEN]) -> Result<Self> {
        PrivateKey::from_private_key(&X25519, secret)
            .map(Self)
            .map_err(|_| Error::BadKey {
                what: "X25519 private key",
            })
    }

    /// The public half.
    pub fn public(&self) -> Result<[u8; KEY_LEN]> {
        let public = self.0.compute_public_key().map_err(|_| Error::BadKey {
            what: "X25519 private key",
        })?;
        public.as_ref().try_into().map_err(|_| Error::BadKey {
            what: "X25519 public key",
        })
    }

    /// X25519 with `their_public`, refusing a result of all zeros (aws-lc
    /// fails the agreement on a low-order point chosen by an attacker).
    pub fn agree(&self, their_public: &[u8; KEY_LEN]) -> Result<SymmetricKey> {
        let low_order = Error::BadKey {
            what: "X25519 public key (low order)",
        };
        let peer = UnparsedPublicKey::new(&X25519, their_public);
        agreement::agree(&self.0, peer, low_order, |shared| {
            let mut out = Zeroizing::new([0u8; KEY_LEN]);
            if shared.len() != KEY_LEN {
                return Err(Error::BadKey {
                    what: "X25519 shared secret",
                });
            }
            out.copy_from_slice(shared);
            Ok(out)
        })
    }
}

/// Encrypts `buf` in place with XChaCha20-Poly1305 under a single-use `key`;
/// returns the tag.
pub fn seal_in_place(key: &[u8; KEY_LEN], ad: &[u8], buf: &mut [u8]) -> Result<[u8; TAG_LEN]> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce = XNonce::default();
    let tag = cipher
        .encrypt_inout_detached(&nonce, ad, buf.into())
        .map_err(|_| Error::Encode {
            what: "AEAD",
            reason: "message too long".into(),
        })?;
    let mut out = [0u8; TAG_LEN];
    out.copy_from_slice(&tag);
    Ok(out)
}

/// Decrypts `buf` in place, checking `tag`. On failure `buf` is left unchanged
/// in meaning (it must not be used).
pub fn open_in_place(
    what: &'static str,
    key: &[u8; KEY_LEN],
    ad: &[u8],
    buf: &mut [u8],
    tag: &[u8; TAG_LEN],
) -> Result<()> {
    let cipher = XChaCha20Poly1305::new(key.into());
    let nonce = XNonce::default();
    cipher
        .decrypt_inout_detached(&nonce, ad, buf.into(), tag.into())
        .map_err(|_| Error::Decrypt { what })
}

/// XORs `buf` with the ChaCha20 keystream of a single-use `key`.
pub fn xor_keystream(key: &[u8; KEY_LEN], buf: &mut [u8]) {
    let mut c = ChaCha20::new(key.into(), &Default::default());
    c.apply_keystream(buf);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_tamper() {
        let key = [3u8; 32];
        let mut buf = b"hello sotto".to_vec();
        let tag = seal_in_place(&key, b"ad", &mut buf).unwrap();
        let mut copy = buf.clone();
        open_in_place("t", &key, b"ad", &mut copy, &tag).unwrap();
        assert_eq!(copy, b"hello sotto");
        let mut flipped = buf.clone();
        flipped[0] ^= 1;
        assert!(open_in_place("t", &key, b"ad", &mut flipped, &tag).is_err());
        let mut copy = buf.clone();
        assert!(open_in_place("t", &key, b"other", &mut copy, &tag).is_err());
    }

    #[test]
    fn low_order_point_refused() {
        let s = StaticSecret::from([5u8; 32]);
        assert!(dh(&s, &[0u8; 32]).is_err());
    }

    #[test]
    fn keystream_is_an_involution() {
        let mut buf = vec![0u8; 100];
        xor_keystream(&[1; 32], &mut buf);
        assert_ne!(buf, vec![0u8; 100]);
        xor_keystream(&[1; 32], &mut buf);
        assert_eq!(buf, vec![0u8; 100]);
    }
}
