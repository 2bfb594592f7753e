//! Admission proofs: the work a node key must carry, each position period
//! anew, before a network lists it.
//!
//! A proof for period (epoch) `e` is a nonce such that
//! `blake3::derive_key("sotto admission v2", node_pubkey ‖ e_le64 ‖ nonce_le64)`
//! starts with at least `D` zero bits, where `D` is the network's
//! `admission_difficulty` (0 on a devnet, 26 on the public network). DESIGN §4
//! writes this as `blake3(pubkey ‖ nonce)`; the keyed (`derive_key`) mode is
//! used so that an admission hash can never equal a blake3 hash made for
//! another purpose over the same bytes.
//!
//! Finding a proof takes about `2^D` hashes; checking one takes one hash. A
//! node's position in the keyspace is derived from its key, the epoch *and this
//! nonce* ([`crate::Position::of_node`]), so every position an operator can try
//! costs a whole proof, and a position lasts one epoch
//! ([`crate::position::epoch`]): parking a node among the `r` closest of `N` to
//! a chosen account takes about `N / r` proofs, `N / r · 2^D` hashes, and must
//! be paid again every period. v1 proofs (no epoch) were mined once per key.
//!
//! **Admission is not stake.** Work does not stop a patient or well-equipped
//! attacker from running very many nodes (a Sybil attack); it only raises the
//! price. Sotto has no stake, no deposit and no reputation: see the threat
//! model (DESIGN §10).

use serde::{Deserialize, Serialize};

use crate::constants::KEY_LEN;
use crate::error::{Error, Result};
use crate::id::NodeId;

/// blake3 `derive_key` context of the admission hash (v2: the epoch is
/// hashed too).
pub const ADMISSION_CONTEXT: &str = "sotto admission v2";

/// An admission proof as a record carries it: the position epoch it is for
/// and the nonce found for it. Both are hashed into the node's position.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct Admission {
    /// The node's position epoch the proof was mined for
    /// ([`crate::position::epoch`]); 0 on networks whose positions do not
    /// rotate.
    pub epoch: u64,
    /// The nonce.
    pub nonce: u64,
}

impl Admission {
    /// A proof for `epoch` with `nonce`.
    pub const fn new(epoch: u64, nonce: u64) -> Self {
        Self { epoch, nonce }
    }
}

/// The admission hash of `node` with `proof`: `blake3::derive_key(
/// ADMISSION_CONTEXT, node_pubkey ‖ epoch as 8 bytes LE ‖ nonce as 8 bytes LE)`.
pub fn admission_hash(node: &NodeId, proof: Admission) -> [u8; KEY_LEN] {
    let mut h = blake3::Hasher::new_derive_key(ADMISSION_CONTEXT);
    h.update(node.as_bytes());
    h.update(&proof.epoch.to_le_bytes());
    h.update(&proof.nonce.to_le_bytes());
    *h.finalize().as_bytes()
}

/// Leading zero bits of [`admission_hash`], most significant bit of the first byte
/// first. Saturates at 255 (an all-zero hash would have 256), far above any
/// difficulty a network can set.
pub fn admission_bits(node: &NodeId, proof: Admission) -> u8 {
    let hash = admission_hash(node, proof);
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
/// admission hash for `epoch` has at least `difficulty` leading zero bits.
///
/// Expected work is `2^difficulty` hashes: instant at 8, about a million hashes
/// (0.13 s at the 127 ns a hash measured here) at 20, 8.5 s at 26 (the public
/// network), some billions at 32, the most
/// [`crate::params::NetworkParams::validate`] allows. A node runs it once per
/// position epoch (the next epoch's proof ahead of time). Difficulties are at
/// most 32, so the search ends long before the `u64` range does; if it ever
/// ran out it would return `u64::MAX`, a nonce [`check_admission`] checks like
/// any other.
pub fn mine_admission(node: &NodeId, epoch: u64, difficulty: u8) -> Admission {
    let nonce = (0..=u64::MAX)
        .find(|&nonce| admission_bits(node, Admission::new(epoch, nonce)) >= difficulty)
        .unwrap_or(u64::MAX);
    Admission::new(epoch, nonce)
}

/// Checks that `proof` is an admission proof for `node` at `difficulty`
/// (whether its epoch is the right one is [`crate::position::epoch`]'s check).
pub fn check_admission(node: &NodeId, proof: Admission, difficulty: u8) -> Result<()> {
    if difficulty == 0 {
        return Ok(());
    }
    let found = admission_bits(node, proof);
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

    /// A proof for epoch 0 with `nonce`.
    fn at(nonce: u64) -> Admission {
        Admission::new(0, nonce)
    }

    #[test]
    fn bits_count_leading_zeros() {
        let n = node(1);
        for nonce in 0..2000 {
            assert_eq!(
                admission_bits(&n, at(nonce)),
                naive_bits(&admission_hash(&n, at(nonce))),
                "nonce {nonce}"
            );
        }
    }

    #[test]
    fn hash_binds_key_epoch_nonce_and_context() {
        let n = node(1);
        assert_ne!(admission_hash(&n, at(0)), admission_hash(&n, at(1)));
        assert_ne!(admission_hash(&n, at(0)), admission_hash(&node(2), at(0)));
        assert_ne!(
            admission_hash(&n, Admission::new(0, 1)),
            admission_hash(&n, Admission::new(1, 1))
        );
        // Epoch and nonce are not interchangeable.
        assert_ne!(
            admission_hash(&n, Admission::new(1, 2)),
            admission_hash(&n, Admission::new(2, 1))
        );
        let mut plain = n.as_bytes().to_vec();
        plain.extend_from_slice(&0u64.to_le_bytes());
        plain.extend_from_slice(&0u64.to_le_bytes());
        assert_ne!(admission_hash(&n, at(0)), *blake3::hash(&plain).as_bytes());
        assert_eq!(
            admission_hash(&n, Admission::new(3, 7)),
            blake3::derive_key(
                ADMISSION_CONTEXT,
                &[&n.as_bytes()[..], &3u64.to_le_bytes(), &7u64.to_le_bytes()].concat()
            )
        );
    }

    #[test]
    fn mined_difficulty_8_checks_and_is_the_smallest() {
        let n = node(3);
        let proof = mine_admission(&n, 5, 8);
        assert_eq!(proof.epoch, 5);
        assert!(admission_bits(&n, proof) >= 8);
        check_admission(&n, proof, 8).unwrap();
        for lower in 0..proof.nonce {
            assert!(
                check_admission(&n, Admission::new(5, lower), 8).is_err(),
                "nonce {lower}"
            );
        }
        // Deterministic: the same key and epoch always give the same nonce.
        assert_eq!(mine_admission(&n, 5, 8), proof);
    }

    /// A proof is for one epoch: the next epoch needs its own work.
    #[test]
    fn a_proof_does_not_carry_over_to_another_epoch() {
        let n = node(6);
        let refused = (0u64..64)
            .filter(|&e| {
                let proof = mine_admission(&n, e, 12);
                check_admission(&n, Admission::new(e + 1, proof.nonce), 12).is_err()
            })
            .count();
        // Each carried-over nonce passes with chance 2^-12.
        assert!(refused >= 62, "{refused} of 64 refused");
    }

    #[test]
    fn wrong_nonce_at_difficulty_16_is_refused() {
        let n = node(4);
        // A nonce good for 8 bits but not for 16.
        let proof = (0u64..)
            .map(at)
            .find(|&x| (8..16).contains(&admission_bits(&n, x)))
            .unwrap();
        let found = admission_bits(&n, proof);
        check_admission(&n, proof, 8).unwrap();
        assert_eq!(
            check_admission(&n, proof, 16),
            Err(Error::Admission {
                required: 16,
                found
            })
        );
        let err = check_admission(&n, proof, 16).unwrap_err().to_string();
        assert!(err.contains("16"), "{err}");
    }

    #[test]
    fn difficulty_zero_accepts_anything() {
        let n = node(5);
        assert_eq!(mine_admission(&n, 9, 0), Admission::new(9, 0));
        for nonce in [0, 1, u64::MAX] {
            check_admission(&n, at(nonce), 0).unwrap();
        }
    }
}
