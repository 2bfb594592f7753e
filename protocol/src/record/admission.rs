//! Admission proofs: the work a node key must carry before a network lists it.
//!
//! A proof is a nonce such that
//! `blake3::derive_key("sotto admission v1", node_pubkey ‖ nonce_le64)` starts with at
//! least `D` zero bits, where `D` is the network's `admission_difficulty`
//! (0 on a devnet, 26 on the public network). DESIGN §4 writes this as
//! `blake3(pubkey ‖ nonce)`; the keyed (`derive_key`) mode is used so that an
//! admission hash can never equal a blake3 hash made for another purpose over the
//! same bytes. The nonce is the last 8 bytes, little-endian.
//!
//! Finding a proof takes about `2^D` hashes; checking one takes one hash. A
//! node's position in the keyspace is derived from its key *and this nonce*
//! ([`crate::Position::of_node`]), so every position an operator can try costs
//! a whole proof: parking a node among the `r` closest of `N` to a chosen
//! account takes about `N / r` proofs, `N / r · 2^D` hashes.
//!
//! **Admission is not stake.** Work spent once per identity does not stop a
//! patient or well-equipped attacker from running very many nodes (a Sybil
//! attack); it only raises the price. Sotto has no stake, no deposit and no
//! reputation: see the threat model (DESIGN §10).

use crate::constants::KEY_LEN;
use crate::error::{Error, Result};
use crate::id::NodeId;

/// blake3 `derive_key` context of the admission hash.
pub const ADMISSION_CONTEXT: &str = "sotto admission v1";

/// The admission hash of `node` with `nonce`:
/// `blake3::derive_key(ADMISSION_CONTEXT, node_pubkey ‖ nonce as 8 bytes LE)`.
pub fn admission_hash(node: &NodeId, nonce: u64) -> [u8; KEY_LEN] {
    let mut h = blake3::Hasher::new_derive_key(ADMISSION_CONTEXT);
    h.update(node.as_bytes());
    h.update(&nonce.to_le_bytes());
    *h.finalize().as_bytes()
}

/// Leading zero bits of [`admission_hash`], most significant bit of the first byte
/// first. Saturates at 255 (an all-zero hash would have 256), far above any
/// difficulty a network can set.
pub fn admission_bits(node: &NodeId, nonce: u64) -> u8 {
    let hash = admission_hash(node, nonce);
    let mut bits: u32 = 0;
    for byte in hash {
        bits += byte.leading_zeros();
        if byte != 0 {
            break;
        }
    }
    u8::try_from(bits).unwrap_or(u8::MAX)
}

/// Finds the smallest nonce (searching 0, 1, 2, … deterministically) whose
/// admission hash has at least `difficulty` leading zero bits.
///
/// Expected work is `2^difficulty` hashes: instant at 8, about a million hashes
/// (0.13 s at the 127 ns a hash measured here) at 20, 8.5 s at 26 (the public
/// network), some billions at 32, the most
/// [`crate::params::NetworkParams::validate`] allows. Run it once per node key and
/// keep the nonce; it never changes for a key. Difficulties are at most 32, so the
/// search ends long before the `u64` range does; if it ever ran out it would
/// return `u64::MAX`, a nonce [`check_admission`] checks like any other.
pub fn mine_admission(node: &NodeId, difficulty: u8) -> u64 {
    (0..=u64::MAX)
        .find(|&nonce| admission_bits(node, nonce) >= difficulty)
        .unwrap_or(u64::MAX)
}

/// Checks that `nonce` is an admission proof for `node` at `difficulty`.
pub fn check_admission(node: &NodeId, nonce: u64, difficulty: u8) -> Result<()> {
    if difficulty == 0 {
        return Ok(());
    }
    let found = admission_bits(node, nonce);
    if found < difficulty {
        return Err(Error::Admission {
            required: difficulty,
            found,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(b: u8) -> NodeId {
        NodeId([b; KEY_LEN])
    }

    /// The leading-zero count, one bit at a time, to check the byte-wise version.
    fn naive_bits(hash: &[u8; KEY_LEN]) -> u8 {
        let mut n = 0u8;
        for byte in hash {
            for i in (0..8).rev() {
                if byte >> i & 1 == 1 {
                    return n;
                }
                n += 1;
            }
        }
        n
    }

    #[test]
    fn bits_count_leading_zeros() {
        let n = node(1);
        for nonce in 0..2000 {
            assert_eq!(
                admission_bits(&n, nonce),
                naive_bits(&admission_hash(&n, nonce)),
                "nonce {nonce}"
            );
        }
    }

    #[test]
    fn hash_binds_key_and_nonce_and_context() {
        let n = node(1);
        assert_ne!(admission_hash(&n, 0), admission_hash(&n, 1));
        assert_ne!(admission_hash(&n, 0), admission_hash(&node(2), 0));
        let mut plain = n.as_bytes().to_vec();
        plain.extend_from_slice(&0u64.to_le_bytes());
        assert_ne!(admission_hash(&n, 0), *blake3::hash(&plain).as_bytes());
        assert_eq!(
            admission_hash(&n, 7),
            blake3::derive_key(
                ADMISSION_CONTEXT,
                &[&n.as_bytes()[..], &7u64.to_le_bytes()].concat()
            )
        );
    }

    #[test]
    fn mined_difficulty_8_checks_and_is_the_smallest() {
        let n = node(3);
        let nonce = mine_admission(&n, 8);
        assert!(admission_bits(&n, nonce) >= 8);
        check_admission(&n, nonce, 8).unwrap();
        for lower in 0..nonce {
            assert!(check_admission(&n, lower, 8).is_err(), "nonce {lower}");
        }
        // Deterministic: the same key always gives the same nonce.
        assert_eq!(mine_admission(&n, 8), nonce);
    }

    #[test]
    fn wrong_nonce_at_difficulty_16_is_refused() {
        let n = node(4);
        // A nonce good for 8 bits but not for 16.
        let nonce = (0u64..)
            .find(|&x| (8..16).contains(&admission_bits(&n, x)))
            .unwrap();
        let found = admission_bits(&n, nonce);
        check_admission(&n, nonce, 8).unwrap();
        assert_eq!(
            check_admission(&n, nonce, 16),
            Err(Error::Admission {
                required: 16,
                found
            })
        );
        let err = check_admission(&n, nonce, 16).unwrap_err().to_string();
        assert!(err.contains("16"), "{err}");
    }

    #[test]
    fn difficulty_zero_accepts_anything() {
        let n = node(5);
        assert_eq!(mine_admission(&n, 0), 0);
        for nonce in [0, 1, u64::MAX] {
            check_admission(&n, nonce, 0).unwrap();
        }
    }
}
