//! Positions in the 256-bit DHT keyspace, XOR distance, and the one swarm function
//! that nodes and clients share.

mod index;

use serde::{Deserialize, Serialize};

pub use index::SwarmIndex;

use crate::constants::HASH_LEN;
use crate::id::{AccountId, NodeId};

/// blake3 `derive_key` context for a node's position.
pub const NODE_POSITION_CONTEXT: &str = "sotto node position v1";
/// blake3 `derive_key` context for an account's position.
pub const ACCOUNT_POSITION_CONTEXT: &str = "sotto account position v1";

/// A point in the 256-bit keyspace. Positions are hashes of keys, so nobody
/// chooses where their node lands except by grinding keys (which the admission
/// proof makes more expensive).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct Position(pub [u8; HASH_LEN]);

impl Position {
    /// Where a node sits.
    pub fn of_node(node: &NodeId) -> Self {
        Self(blake3::derive_key(NODE_POSITION_CONTEXT, node.as_bytes()))
    }

    /// Where an account's messages live.
    pub fn of_account(account: &AccountId) -> Self {
        Self(blake3::derive_key(
            ACCOUNT_POSITION_CONTEXT,
            account.as_bytes(),
        ))
    }

    /// XOR distance to `other`; compare distances as big-endian integers
    /// (which is what the derived `Ord` on the byte array does).
    pub fn distance(&self, other: &Position) -> Distance {
        let mut d = [0u8; HASH_LEN];
        for (out, (a, b)) in d.iter_mut().zip(self.0.iter().zip(other.0.iter())) {
            *out = a ^ b;
        }
        Distance(d)
    }

    /// The position as lower-case hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// An XOR distance; smaller is closer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct Distance(pub [u8; HASH_LEN]);

/// The swarm of `account`: the `r` distinct nodes of `nodes` closest to the
/// account's position by XOR distance, closest first. Fewer than `r` if there
/// are fewer distinct nodes. Deterministic: the same inputs in any order give
/// the same answer, on every node and client.
pub fn swarm_for(account: &AccountId, nodes: &[NodeId], r: usize) -> Vec<NodeId> {
    let placed: Vec<(Position, NodeId)> =
        nodes.iter().map(|n| (Position::of_node(n), *n)).collect();
    swarm_among(account, &placed, r)
}

/// [`swarm_for`] over nodes whose positions the caller has already computed.
/// `placed` must pair each node with `Position::of_node` of it. This sorts
/// the whole list per call; code that asks often keeps a [`SwarmIndex`]
/// instead (same answers, O(log N + r) per call).
pub fn swarm_among(account: &AccountId, placed: &[(Position, NodeId)], r: usize) -> Vec<NodeId> {
    let target = Position::of_account(account);
    let mut ranked: Vec<(Distance, NodeId)> = placed
        .iter()
        .map(|(p, n)| (p.distance(&target), *n))
        .collect();
    ranked.sort_unstable();
    ranked.dedup_by(|a, b| a.1 == b.1);
    ranked.into_iter().take(r).map(|(_, n)| n).collect()
}

/// Whether `node` is in the swarm of `account` given the directory `nodes`.
pub fn in_swarm(account: &AccountId, node: &NodeId, nodes: &[NodeId], r: usize) -> bool {
    swarm_for(account, nodes, r).contains(node)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    fn account(seed: u8) -> AccountId {
        let k = SigningKey::from_bytes(&[seed; 32]);
        AccountId::from_bytes(k.verifying_key().to_bytes()).unwrap()
    }

    proptest! {
        #[test]
        fn swarm_among_cached_positions_is_swarm_for(
            raw in proptest::collection::vec(any::<[u8; 32]>(), 0..60),
            seed in any::<u8>(),
            r in 0usize..10,
        ) {
            let nodes: Vec<NodeId> = raw.iter().map(|b| NodeId(*b)).collect();
            let placed: Vec<(Position, NodeId)> =
                nodes.iter().map(|n| (Position::of_node(n), *n)).collect();
            let acct = account(seed);
            prop_assert_eq!(swarm_among(&acct, &placed, r), swarm_for(&acct, &nodes, r));
        }

        #[test]
        fn swarm_is_the_r_closest_distinct_nodes(
            raw in proptest::collection::vec(any::<[u8; 32]>(), 0..60),
            seed in any::<u8>(),
            r in 0usize..10,
        ) {
            let nodes: Vec<NodeId> = raw.iter().map(|b| NodeId(*b)).collect();
            let acct = account(seed);
            let swarm = swarm_for(&acct, &nodes, r);
            let mut distinct = nodes.clone();
            distinct.sort();
            distinct.dedup();
            prop_assert_eq!(swarm.len(), r.min(distinct.len()));
            let mut s = swarm.clone();
            s.sort();
            s.dedup();
            prop_assert_eq!(s.len(), swarm.len());
            // Every chosen node is at least as close as every node left out.
            let target = Position::of_account(&acct);
            let worst = swarm.iter().map(|n| Position::of_node(n).distance(&target)).max();
            for n in distinct.iter().filter(|n| !swarm.contains(n)) {
                if let Some(w) = worst {
                    prop_assert!(Position::of_node(n).distance(&target) > w);
                }
            }
            // Order of the input does not matter.
            let mut reversed = nodes.clone();
            reversed.reverse();
            prop_assert_eq!(swarm_for(&acct, &reversed, r), swarm);
        }
    }

    #[test]
    fn distance_is_symmetric_and_zero_to_self() {
        let a = Position([1; 32]);
        let b = Position([2; 32]);
        assert_eq!(a.distance(&b), b.distance(&a));
        assert_eq!(a.distance(&a), Distance([0; 32]));
    }
}
