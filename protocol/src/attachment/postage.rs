//! Postage for chunks: a small proof of work each stored chunk carries, so that
//! filling nodes' chunk space costs the filler work in proportion to the bytes.
//!
//! Anyone may store a chunk (there is no owner to sign), so a node cannot charge
//! a chunk to an account the way it charges an inbox message. A stamp is a
//! nonce such that `blake3::derive_key("sotto chunk postage v1", hash ‖
//! nonce_le64)` starts with at least [`CHUNK_POSTAGE_BITS`] zero bits, where
//! `hash` is the chunk's [`ChunkHash`]. It is bound to the chunk, not to a node or
//! a time: storing the same chunk again adds no bytes anywhere (a chunk is
//! addressed by its content), so a reused stamp buys nothing.
//!
//! The same construction as node admission ([`crate::record::admission`]), with
//! its own context so a stamp can never double as an admission proof.

use super::ChunkHash;
use crate::error::{Error, Result};

/// blake3 `derive_key` context of a postage stamp.
pub const POSTAGE_CONTEXT: &str = "sotto chunk postage v1";

/// Leading zero bits a chunk's stamp must have: 2^16 ≈ 65,000 hashes of 40
/// bytes, about 10 ms of one core, against a 64 KiB chunk's upload time over an
/// onion path of tens of milliseconds. A 25 MB file (about 400 chunks) costs a
/// sender about 4 s of one core, spread over its upload; the 4 GiB a default
/// node gives chunks (about 65,000) cost about 11 minutes of a core, on top of
/// the node's chunk rate and the 14-day expiry. Checking a stamp is one hash.
pub const CHUNK_POSTAGE_BITS: u8 = 16;

fn postage_hash(chunk: &ChunkHash, stamp: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(POSTAGE_CONTEXT);
    h.update(&chunk.0);
    h.update(&stamp.to_le_bytes());
    *h.finalize().as_bytes()
}

/// Leading zero bits of the postage hash of `chunk` with `stamp` (saturating
/// at 255).
pub fn postage_bits(chunk: &ChunkHash, stamp: u64) -> u8 {
    let mut bits: u32 = 0;
    for byte in postage_hash(chunk, stamp) {
        bits += byte.leading_zeros();
        if byte != 0 {
            break;
        }
    }
    u8::try_from(bits).unwrap_or(u8::MAX)
}

/// Finds a stamp for `chunk` with at least `bits` leading zero bits, starting
/// the search at `start` (a random start keeps two senders of one chunk from
/// doing the same work in the same order; any start works). Expected work is
/// `2^bits` hashes.
pub fn mine_postage(chunk: &ChunkHash, bits: u8, start: u64) -> u64 {
    let mut stamp = start;
    while postage_bits(chunk, stamp) < bits {
        stamp = stamp.wrapping_add(1);
    }
    stamp
}

/// Checks that `stamp` pays for storing `chunk` ([`CHUNK_POSTAGE_BITS`]).
pub fn check_postage(chunk: &ChunkHash, stamp: u64) -> Result<()> {
    let found = postage_bits(chunk, stamp);
    if found < CHUNK_POSTAGE_BITS {
        return Err(Error::OutOfRange {
            what: "chunk postage",
            reason: format!(
                "the stamp has {found} leading zero bits, {CHUNK_POSTAGE_BITS} are needed"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mined_stamps_check_and_bind_to_their_chunk() {
        let a = ChunkHash::of(b"chunk a");
        let b = ChunkHash::of(b"chunk b");
        let stamp = mine_postage(&a, CHUNK_POSTAGE_BITS, 12345);
        assert!(check_postage(&a, stamp).is_ok());
        assert!(postage_bits(&a, stamp) >= CHUNK_POSTAGE_BITS);
        // Another chunk's stamp almost never pays (probability 2^-16); the
        // values here are fixed, so this is deterministic.
        assert!(check_postage(&b, stamp).is_err());
        // A stamp found from another start pays too.
        let other = mine_postage(&a, CHUNK_POSTAGE_BITS, u64::MAX - 3);
        assert!(check_postage(&a, other).is_ok());
    }

    #[test]
    fn low_difficulty_search_is_exact() {
        let a = ChunkHash::of(b"chunk");
        assert_eq!(mine_postage(&a, 0, 7), 7);
        let s = mine_postage(&a, 4, 0);
        assert!(postage_bits(&a, s) >= 4);
        assert!((0..s).all(|n| postage_bits(&a, n) < 4));
    }
}
