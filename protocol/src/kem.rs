//! ML-KEM-768 (FIPS 203), the post-quantum half of the PQXDH handshake: key
//! pairs kept as their 64-byte seed, encapsulation to a published key, and
//! decapsulation.
//!
//! The primitive comes from `libcrux-ml-kem` (Cryspen), not from this crate. It
//! was chosen over RustCrypto's `ml-kem` (which also fits our `rand_core` 0.10
//! line) because its portable code is formally verified for panic freedom,
//! functional correctness against the FIPS 203 specification and secret
//! independence (hax/F*), and because libsignal uses it for PQXDH, the protocol
//! implemented here; it also takes its randomness as plain byte arrays, so our
//! callers' seeded generators give reproducible known-answer vectors without a
//! trait adapter. It is built without its `std` and `rand` features: randomness
//! comes from the caller's generator like everywhere else in this crate.
//!
//! A decapsulation key is stored as its key-generation seed (d ‖ z, FIPS 203
//! §6.1 `ML-KEM.KeyGen_internal`) and expanded when needed: 64 bytes per key in
//! the secret store instead of 2,400.

use std::fmt;

use libcrux_ml_kem::mlkem768;
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::codec;
use crate::constants::{MLKEM_SEED_LEN, MLKEM768_CIPHERTEXT_LEN, MLKEM768_PUBLIC_KEY_LEN};
use crate::crypto::SymmetricKey;
use crate::error::{Error, Result};

/// An ML-KEM-768 encapsulation key as published in a prekey bundle.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KemPublicKey(
    #[serde(with = "codec::byte_array::boxed")] Box<[u8; MLKEM768_PUBLIC_KEY_LEN]>,
);

impl KemPublicKey {
    /// Wraps published bytes, refusing a key that fails FIPS 203's modulus check
    /// (§7.2, "input checking": every coefficient below q).
    pub fn from_bytes(bytes: [u8; MLKEM768_PUBLIC_KEY_LEN]) -> Result<Self> {
        let key = Self(Box::new(bytes));
        key.check()?;
        Ok(key)
    }

    /// The 1,184 bytes.
    pub fn as_bytes(&self) -> &[u8; MLKEM768_PUBLIC_KEY_LEN] {
        &self.0
    }

    /// FIPS 203 §7.2 encapsulation-key check. Decoding from the wire does not
    /// run it (it costs a few microseconds per key, and a bundle has 51 of them):
    /// [`crate::prekey::SignedPrekeyBundle::verify`] runs it on every key.
    pub fn check(&self) -> Result<()> {
        let key = mlkem768::MlKem768PublicKey::from(*self.0);
        if mlkem768::validate_public_key(&key) {
            Ok(())
        } else {
            Err(Error::BadKey {
                what: "ML-KEM-768 public key",
            })
        }
    }
}

impl fmt::Debug for KemPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = self.0.get(..8).unwrap_or_default();
        write!(f, "KemPublicKey(")?;
        head.iter().try_for_each(|b| write!(f, "{b:02x}"))?;
        write!(f, "…)")
    }
}

/// An ML-KEM-768 ciphertext, sent in a PQXDH initiation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KemCiphertext(
    #[serde(with = "codec::byte_array::boxed")] pub Box<[u8; MLKEM768_CIPHERTEXT_LEN]>,
);

impl fmt::Debug for KemCiphertext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let head = self.0.get(..8).unwrap_or_default();
        write!(f, "KemCiphertext(")?;
        head.iter().try_for_each(|b| write!(f, "{b:02x}"))?;
        write!(f, "…)")
    }
}

/// An ML-KEM-768 key pair, kept as its 64-byte seed; wiped on drop, never shown.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct KemSecret(#[serde(with = "codec::byte_array")] [u8; MLKEM_SEED_LEN]);

impl KemSecret {
    /// A new key pair from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = [0u8; MLKEM_SEED_LEN];
        rng.fill_bytes(&mut seed);
        Self(seed)
    }

    /// The key pair this seed determines.
    pub fn from_seed(seed: [u8; MLKEM_SEED_LEN]) -> Self {
        Self(seed)
    }

    /// The encapsulation key to publish.
    pub fn public(&self) -> KemPublicKey {
        let pair = mlkem768::generate_key_pair(self.0);
        let (mut secret, public) = pair.into_parts();
        wipe(&mut secret);
        KemPublicKey(Box::new(*public.as_slice()))
    }

    /// Decapsulates `ciphertext` (FIPS 203 §7.3). ML-KEM never fails here: a
    /// changed ciphertext gives an unrelated secret (implicit rejection), so the
    /// handshake fails later, at the first AEAD.
    pub fn decapsulate(&self, ciphertext: &KemCiphertext) -> SymmetricKey {
        let pair = mlkem768::generate_key_pair(self.0);
        let (mut secret, _public) = pair.into_parts();
        let ct = mlkem768::MlKem768Ciphertext::from(*ciphertext.0);
        let shared = Zeroizing::new(mlkem768::decapsulate(&secret, &ct));
        wipe(&mut secret);
        shared
    }
}

impl fmt::Debug for KemSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KemSecret(..)")
    }
}

/// Encapsulates a fresh secret to `public` (FIPS 203 §7.2) with randomness from
/// `rng`; returns the ciphertext to send and the shared secret.
pub fn encapsulate<R: CryptoRng + ?Sized>(
    public: &KemPublicKey,
    rng: &mut R,
) -> (KemCiphertext, SymmetricKey) {
    let mut m = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(&mut m[..]);
    let key = mlkem768::MlKem768PublicKey::from(*public.0);
    let (ct, shared) = mlkem768::encapsulate(&key, *m);
    (
        KemCiphertext(Box::new(*ct.as_slice())),
        Zeroizing::new(shared),
    )
}

/// Overwrites an expanded decapsulation key before it is dropped (the library's
/// type does not wipe itself).
fn wipe(secret: &mut mlkem768::MlKem768PrivateKey) {
    secret[0..].zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::ChaCha20Rng;

    #[test]
    fn encapsulation_agrees_and_a_changed_ciphertext_does_not() {
        let mut rng = ChaCha20Rng::from_seed([4; 32]);
        let secret = KemSecret::generate(&mut rng);
        let public = secret.public();
        public.check().unwrap();
        let (ct, shared) = encapsulate(&public, &mut rng);
        assert_eq!(*secret.decapsulate(&ct), *shared);
        let mut bad = ct.clone();
        bad.0[100] ^= 1;
        assert_ne!(*secret.decapsulate(&bad), *shared);
        let other = KemSecret::generate(&mut rng);
        assert_ne!(*other.decapsulate(&ct), *shared);
    }

    #[test]
    fn the_modulus_check_refuses_a_bad_key() {
        // All 0xFF decodes to coefficients of 4095 > q = 3329.
        assert!(KemPublicKey::from_bytes([0xFF; MLKEM768_PUBLIC_KEY_LEN]).is_err());
        let mut rng = ChaCha20Rng::from_seed([5; 32]);
        let good = KemSecret::generate(&mut rng).public();
        assert!(KemPublicKey::from_bytes(*good.as_bytes()).is_ok());
    }

    #[test]
    fn keys_follow_from_the_seed_and_debug_hides_it() {
        let a = KemSecret::from_seed([7; MLKEM_SEED_LEN]);
        let b = KemSecret::from_seed([7; MLKEM_SEED_LEN]);
        assert_eq!(a.public(), b.public());
        assert_eq!(format!("{a:?}"), "KemSecret(..)");
        let bytes = codec::encode("kem secret", &a).unwrap();
        let back: KemSecret = codec::decode("kem secret", &bytes, 100).unwrap();
        assert_eq!(back.public(), a.public());
    }
}
