//! What a directory puller already holds: a salted Bloom filter over the
//! signatures of its node records, carried by
//! [`crate::rpc::Request::GetDirectoryDelta`] so that the answering node
//! leaves out the records the puller has.
//!
//! Without it every pull moves the whole directory: in a 998-node simulation,
//! 3.6 million of the 4.6 million records nodes received were ones they
//! already held. A record is named by its Ed25519 signature, which differs
//! between any two records (a new record of the same node has a new
//! signature), so "held" means "held in exactly this version".
//!
//! The filter is a standard Bloom filter (Bloom 1970) with `k` positions per
//! element derived by double hashing, `h1 + i·h2 mod m` (Kirsch and
//! Mitzenmacher, "Less hashing, same performance", 2006). `h1` and `h2` come
//! from BLAKE3 keyed by a key derived from a fresh random salt per pull, so
//! which records collide changes from one pull to the next and nobody can
//! choose records that hide another in a filter they have not seen. A false
//! positive costs the puller one record until its next pull; the sizing below
//! (10 bits per record, 7 positions) keeps that under 1%.

use serde::{Deserialize, Serialize};

use crate::constants::{MAX_HELD_FILTER_BYTES, MAX_HELD_FILTER_HASHES, SIGNATURE_LEN};
use crate::error::Result;
use crate::rpc::check_count;

/// Bits per held record when a filter is made: with [`HASHES`] positions,
/// about 0.8% false positives.
pub const BITS_PER_RECORD: usize = 10;
/// Positions per record when a filter is made (the optimum for
/// [`BITS_PER_RECORD`] is 10·ln 2 ≈ 6.9).
pub const HASHES: u8 = 7;
/// Smallest filter made, in bytes.
const MIN_BYTES: usize = 8;
/// Domain separation of the key derived from the salt.
const KEY_CONTEXT: &str = "sotto 2026 directory held-records filter";

/// A salted Bloom filter of record signatures.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldFilter {
    /// Fresh for every filter; keys the hash.
    pub salt: [u8; 16],
    /// Positions per record, 1 to [`MAX_HELD_FILTER_HASHES`].
    pub hashes: u8,
    /// The bit array, 1 to [`MAX_HELD_FILTER_BYTES`] bytes; bit `i` is bit
    /// `i % 8` of byte `i / 8`.
    pub bits: Vec<u8>,
}

impl HeldFilter {
    /// A filter over `signatures` (`count` of them, to size it), salted with
    /// `salt`. Past [`MAX_HELD_FILTER_BYTES`] the filter stays at that size
    /// and its false-positive rate grows (1% at about 27,000 records).
    pub fn new<'a>(
        salt: [u8; 16],
        count: usize,
        signatures: impl IntoIterator<Item = &'a [u8; SIGNATURE_LEN]>,
    ) -> Self {
        let bytes = count
            .saturating_mul(BITS_PER_RECORD)
            .div_ceil(8)
            .clamp(MIN_BYTES, MAX_HELD_FILTER_BYTES);
        let mut filter = HeldFilter {
            salt,
            hashes: HASHES,
            bits: vec![0; bytes],
        };
        let key = filter.key();
        for signature in signatures {
            for bit in filter.positions(&key, signature) {
                if let Some(byte) = filter.bits.get_mut(bit / 8) {
                    *byte |= 1 << (bit % 8);
                }
            }
        }
        filter
    }

    /// Checks the sizes a peer controls; no other field can be wrong.
    pub fn validate(&self) -> Result<()> {
        check_count(
            "held filter bytes",
            self.bits.len(),
            1,
            MAX_HELD_FILTER_BYTES,
        )?;
        check_count(
            "held filter hashes",
            usize::from(self.hashes),
            1,
            usize::from(MAX_HELD_FILTER_HASHES),
        )
    }

    /// What [`HeldFilter::holds`] needs per filter, made once.
    pub fn key(&self) -> FilterKey {
        FilterKey(blake3::derive_key(KEY_CONTEXT, &self.salt))
    }

    /// Whether the record with `signature` may be held (false: it surely is
    /// not). `key` is [`HeldFilter::key`]. Costs one BLAKE3 block and
    /// `hashes` bit reads.
    pub fn holds(&self, key: &FilterKey, signature: &[u8; SIGNATURE_LEN]) -> bool {
        self.positions(key, signature).all(|bit| {
            self.bits
                .get(bit / 8)
                .is_some_and(|b| b & (1 << (bit % 8)) != 0)
        })
    }

    fn positions(
        &self,
        key: &FilterKey,
        signature: &[u8; SIGNATURE_LEN],
    ) -> impl Iterator<Item = usize> + use<> {
        let h = blake3::keyed_hash(&key.0, signature);
        let word = |at: usize| {
            h.as_bytes()
                .get(at..at + 8)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map_or(0, u64::from_le_bytes)
        };
        let h1 = word(0);
        // Odd, so that the k positions differ whenever m is a power of two.
        let h2 = word(8) | 1;
        // The filter is at most MAX_HELD_FILTER_BYTES, so m fits in u64.
        let m = (self.bits.len() as u64).saturating_mul(8).max(1);
        (0..u64::from(self.hashes)).map(move |i| {
            let bit = h1.wrapping_add(i.wrapping_mul(h2)) % m;
            usize::try_from(bit).unwrap_or(0)
        })
    }
}

/// The hash key of one [`HeldFilter`] (derived from its salt).
#[derive(Clone, Debug)]
pub struct FilterKey([u8; 32]);

#[cfg(test)]
mod tests {
    use super::*;

    fn sig(i: u32) -> [u8; SIGNATURE_LEN] {
        let mut s = [0u8; SIGNATURE_LEN];
        s[..4].copy_from_slice(&i.to_le_bytes());
        s[60..].copy_from_slice(&(i ^ 0x5a5a_5a5a).to_be_bytes());
        s
    }

    #[test]
    fn holds_every_member() {
        let sigs: Vec<_> = (0..1000).map(sig).collect();
        let f = HeldFilter::new([7; 16], sigs.len(), &sigs);
        assert_eq!(f.bits.len(), 1250);
        f.validate().unwrap();
        let key = f.key();
        assert!(sigs.iter().all(|s| f.holds(&key, s)));
    }

    #[test]
    fn few_false_positives_and_they_move_with_the_salt() {
        let sigs: Vec<_> = (0..1000).map(sig).collect();
        let others: Vec<_> = (1000..21_000).map(sig).collect();
        let a = HeldFilter::new([1; 16], sigs.len(), &sigs);
        let b = HeldFilter::new([2; 16], sigs.len(), &sigs);
        let (ka, kb) = (a.key(), b.key());
        let fa: Vec<_> = others.iter().filter(|s| a.holds(&ka, s)).collect();
        let fb: Vec<_> = others.iter().filter(|s| b.holds(&kb, s)).collect();
        // Expected about 0.82% of 20,000 = 164 each.
        assert!(fa.len() < 300, "{} false positives", fa.len());
        assert!(fb.len() < 300, "{} false positives", fb.len());
        let both = fa.iter().filter(|s| fb.contains(s)).count();
        assert!(both < 20, "{both} records hidden under both salts");
    }

    #[test]
    fn empty_and_huge_filters_stay_in_bounds() {
        let f = HeldFilter::new([0; 16], 0, []);
        assert_eq!(f.bits.len(), MIN_BYTES);
        assert!(!f.holds(&f.key(), &sig(1)));
        let f = HeldFilter::new([0; 16], 10_000_000, [&sig(1)]);
        assert_eq!(f.bits.len(), MAX_HELD_FILTER_BYTES);
        assert!(f.holds(&f.key(), &sig(1)));
    }

    #[test]
    fn refuses_bad_sizes() {
        let mut f = HeldFilter::new([0; 16], 10, []);
        f.hashes = 0;
        assert!(f.validate().is_err());
        f.hashes = MAX_HELD_FILTER_HASHES + 1;
        assert!(f.validate().is_err());
        f.hashes = HASHES;
        f.bits = Vec::new();
        assert!(f.validate().is_err());
        f.bits = vec![0; MAX_HELD_FILTER_BYTES + 1];
        assert!(f.validate().is_err());
    }
}
