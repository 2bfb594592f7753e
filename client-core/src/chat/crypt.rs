//! Sealing the store's values under a passphrase: argon2id turns the
//! passphrase and a random salt into a key, and every value is sealed with
//! XChaCha20-Poly1305 under it, bound to the tree and key it sits at.

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngExt;
use zeroize::Zeroizing;

use super::ChatError;

/// Salt length (bytes).
pub(crate) const SALT_LEN: usize = 16;
const NONCE_LEN: usize = 24;
const KEY_LEN: usize = 32;

/// argon2id memory cost in KiB: 19 MiB with 2 passes and 1 lane is the
/// smallest setting OWASP's Password Storage Cheat Sheet recommends for
/// argon2id; the key is derived once per open, so the ~tens of milliseconds it
/// costs are not felt, while every guess an attacker with a copy of the home
/// makes costs as much.
const M_COST_KIB: u32 = 19 * 1024;
/// argon2id passes (see [`M_COST_KIB`]).
const T_COST: u32 = 2;
/// argon2id lanes (see [`M_COST_KIB`]).
const P_COST: u32 = 1;

/// How values are kept: as they are, or sealed under a derived key.
pub(crate) enum Sealer {
    /// No passphrase: values are stored as encoded (the file mode protects them).
    Plain,
    /// Sealed under this key.
    Key(Zeroizing<[u8; KEY_LEN]>),
}

impl Sealer {
    /// Derives the key of `passphrase` under `salt`.
    pub(crate) fn derive(passphrase: &str, salt: &[u8]) -> Result<Self, ChatError> {
        let params = Params::new(M_COST_KIB, T_COST, P_COST, Some(KEY_LEN))
            .map_err(|e| ChatError::Store(format!("key derivation parameters: {e}")))?;
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        argon
            .hash_password_into(passphrase.as_bytes(), salt, key.as_mut())
            .map_err(|e| ChatError::Store(format!("key derivation: {e}")))?;
        Ok(Sealer::Key(key))
    }

    /// A fresh random salt.
    pub(crate) fn new_salt() -> [u8; SALT_LEN] {
        let mut salt = [0u8; SALT_LEN];
        rand::rng().fill(&mut salt[..]);
        salt
    }

    /// Seals `plain`, bound to `place` (tree name and key).
    pub(crate) fn seal(&self, place: &[u8], plain: &[u8]) -> Result<Vec<u8>, ChatError> {
        let Sealer::Key(key) = self else {
            return Ok(plain.to_vec());
        };
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill(&mut nonce[..]);
        let cipher = XChaCha20Poly1305::new((&**key).into());
        let sealed = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain,
                    aad: place,
                },
            )
            .map_err(|_| ChatError::Store("a value is too long to seal".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens a value sealed at `place`; `None` if it does not open (wrong key,
    /// or a value moved or changed on disk).
    pub(crate) fn open(&self, place: &[u8], stored: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let Sealer::Key(key) = self else {
            return Some(Zeroizing::new(stored.to_vec()));
        };
        let nonce: [u8; NONCE_LEN] = stored.get(..NONCE_LEN)?.try_into().ok()?;
        let body = stored.get(NONCE_LEN..)?;
        let cipher = XChaCha20Poly1305::new((&**key).into());
        cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: body,
                    aad: place,
                },
            )
            .ok()
            .map(Zeroizing::new)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_binding() {
        let salt = Sealer::new_salt();
        let s = Sealer::derive("correct horse", &salt).unwrap();
        let sealed = s.seal(b"tree/key", b"hello").unwrap();
        assert_ne!(&sealed[NONCE_LEN..], b"hello");
        assert_eq!(s.open(b"tree/key", &sealed).unwrap().as_slice(), b"hello");
        // Moved to another place, or opened with another passphrase: refused.
        assert!(s.open(b"tree/other", &sealed).is_none());
        let wrong = Sealer::derive("wrong horse", &salt).unwrap();
        assert!(wrong.open(b"tree/key", &sealed).is_none());
        assert!(s.open(b"tree/key", &sealed[..10]).is_none());
    }

    #[test]
    fn plain_keeps_values() {
        let s = Sealer::Plain;
        assert_eq!(s.seal(b"p", b"v").unwrap(), b"v");
        assert_eq!(s.open(b"p", b"v").unwrap().as_slice(), b"v");
    }
}
