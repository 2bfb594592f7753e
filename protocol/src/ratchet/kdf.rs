//! The ratchet's key derivations (Double Ratchet spec rev. 4, §5.2
//! "Recommended cryptographic algorithms"), with BLAKE3 in the roles the spec
//! gives HKDF and HMAC, like every other derivation in this crate.

use zeroize::Zeroizing;

use crate::constants::KEY_LEN;
use crate::crypto::SymmetricKey;

/// blake3 `derive_key` context of `KDF_RK`.
pub const ROOT_KDF_CONTEXT: &str = "sotto ratchet v2 root";

/// `KDF_RK(rk, dh_out)` (§5.2): the spec's HKDF with `rk` as salt and `dh_out`
/// as input becomes blake3 `derive_key` over `rk ‖ dh_out`, extended to 64
/// bytes: a new root key, then a new chain key.
pub fn kdf_rk(root: &[u8; KEY_LEN], dh_out: &[u8; KEY_LEN]) -> (SymmetricKey, SymmetricKey) {
    let mut out = Zeroizing::new([0u8; 2 * KEY_LEN]);
    blake3::Hasher::new_derive_key(ROOT_KDF_CONTEXT)
        .update(root)
        .update(dh_out)
        .finalize_xof()
        .fill(&mut out[..]);
    let (r, c) = out.split_at(KEY_LEN);
    let mut root = Zeroizing::new([0u8; KEY_LEN]);
    let mut chain = Zeroizing::new([0u8; KEY_LEN]);
    root.copy_from_slice(r);
    chain.copy_from_slice(c);
    (root, chain)
}

/// `KDF_CK(ck)` (§5.2): the spec's `HMAC(ck, 0x01)` for the message key and
/// `HMAC(ck, 0x02)` for the next chain key become BLAKE3 keyed hashes (a PRF
/// under the key `ck`) of the same single bytes. Returns (message key, next
/// chain key).
pub fn kdf_ck(chain: &[u8; KEY_LEN]) -> (SymmetricKey, SymmetricKey) {
    let message = Zeroizing::new(*blake3::keyed_hash(chain, &[0x01]).as_bytes());
    let next = Zeroizing::new(*blake3::keyed_hash(chain, &[0x02]).as_bytes());
    (message, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_are_distinct_and_deterministic() {
        let (r1, c1) = kdf_rk(&[1; 32], &[2; 32]);
        let (r2, c2) = kdf_rk(&[1; 32], &[2; 32]);
        assert_eq!((*r1, *c1), (*r2, *c2));
        assert_ne!(*r1, *c1);
        let (r3, _) = kdf_rk(&[1; 32], &[3; 32]);
        assert_ne!(*r1, *r3);
        let (m, n) = kdf_ck(&c1);
        assert_ne!(*m, *n);
        assert_ne!(*n, *c1);
    }
}
