//! The integrity digest in each hop's routing info: a keyed blake3 of everything
//! after the hop's slot (the later slots and the payload) as the hop receives it.

use std::fmt;

use crate::constants::{KEY_LEN, ONION_DIGEST_LEN};

/// A hop's integrity digest: the first [`ONION_DIGEST_LEN`] bytes of blake3, keyed
/// with the layer's integrity key, over the bytes of the packet after the hop's
/// slot. The client puts it in the hop's sealed routing info; the hop recomputes it
/// before it does anything else with the packet. Equality is constant-time, like
/// `blake3::Hash`'s.
#[derive(Clone, Copy)]
pub(super) struct Digest(pub(super) [u8; ONION_DIGEST_LEN]);

impl Digest {
    /// The digest of `parts`, concatenated, under `key`. The client hashes the
    /// header and the payload as two parts; a hop hashes one contiguous slice.
    pub(super) fn of(key: &[u8; KEY_LEN], parts: &[&[u8]]) -> Self {
        let mut hasher = blake3::Hasher::new_keyed(key);
        for part in parts {
            hasher.update(part);
        }
        let mut out = [0u8; ONION_DIGEST_LEN];
        hasher.finalize_xof().fill(&mut out);
        Self(out)
    }
}

impl PartialEq for Digest {
    /// Equal or not, in time that does not depend on where two digests differ, so a
    /// hop's timing does not tell how close a forged digest came.
    fn eq(&self, other: &Self) -> bool {
        let diff = self
            .0
            .iter()
            .zip(&other.0)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

impl Eq for Digest {}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not a key, but sealed in the slot for a reason: nothing to show in logs.
        f.write_str("Digest(..)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing)]

    use super::*;

    #[test]
    fn digest_is_a_truncated_keyed_blake3_over_the_concatenation() {
        let key = [7u8; KEY_LEN];
        let whole = Digest::of(&key, &[b"later slots and payload"]);
        assert_eq!(whole, Digest::of(&key, &[b"later slots", b" and payload"]));
        let full = blake3::keyed_hash(&key, b"later slots and payload");
        assert_eq!(whole.0[..], full.as_bytes()[..ONION_DIGEST_LEN]);
        assert_ne!(
            whole,
            Digest::of(&[8; KEY_LEN], &[b"later slots and payload"])
        );
        assert_eq!(format!("{whole:?}"), "Digest(..)");
    }

    #[test]
    fn equal_only_when_every_bit_is() {
        let a = Digest([0x5a; ONION_DIGEST_LEN]);
        assert!(a == a);
        for pos in 0..ONION_DIGEST_LEN {
            for bit in 0..8 {
                let mut b = a;
                b.0[pos] ^= 1 << bit;
                assert!(a != b, "byte {pos} bit {bit}");
            }
        }
    }
}
