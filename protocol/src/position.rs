//! Positions in the 256-bit DHT keyspace, XOR distance, and the one swarm function
//! that nodes and clients share.

pub mod epoch;
mod index;

use serde::{Deserialize, Serialize};

pub use index::SwarmIndex;

use crate::constants::HASH_LEN;
use crate::id::{AccountId, NodeId};
use crate::record::admission::Admission;
use crate::record::netgroup::NetGroup;

/// blake3 `derive_key` context for a node's position (v3: bound to the
/// admission proof's epoch and nonce; v2 to the nonce alone, for ever; v1
/// hashed the key alone).
pub const NODE_POSITION_CONTEXT: &str = "sotto node position v3";
/// blake3 `derive_key` context for an account's position.
pub const ACCOUNT_POSITION_CONTEXT: &str = "sotto account position v1";

/// A point in the 256-bit keyspace. A node's position is a hash of its key
/// *and its admission proof*, so each position an operator can try costs a
/// whole admission proof (about `2^difficulty` hashes), not one key
/// generation, and lasts one position epoch: see [`Position::of_node`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct Position(pub [u8; HASH_LEN]);

impl Position {
    /// Where a node sits: `blake3::derive_key(NODE_POSITION_CONTEXT, node key
    /// ‖ epoch as u64 LE ‖ nonce as u64 LE)`, the proof of the node's record
    /// ([`crate::record::NodeRecord::admission`]).
    ///
    /// Why the proof: with the key alone, an operator could generate keys
    /// (≈ 20 µs each) until one lands next to a chosen account and only then
    /// do the admission work, once. Bound to the nonce, every candidate
    /// position is the output of a valid proof, so landing among the `r`
    /// closest of `N` nodes takes about `N / r` proofs of `2^difficulty`
    /// hashes each (README, threat model). Bound to the epoch as well, the
    /// place is lost when the epoch ends ([`epoch`]) and the price is paid
    /// again each period.
    pub fn of_node(node: &NodeId, proof: Admission) -> Self {
        let mut h = blake3::Hasher::new_derive_key(NODE_POSITION_CONTEXT);
        h.update(node.as_bytes());
        h.update(&proof.epoch.to_le_bytes());
        h.update(&proof.nonce.to_le_bytes());
        Self(*h.finalize().as_bytes())
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

/// The swarm of `account`: the `r` distinct nodes of `nodes` (each with its
/// record's admission proof) closest to the account's position by XOR
/// distance, closest first. Fewer than `r` if there are fewer distinct nodes.
/// Deterministic: the same inputs in any order give the same answer, on every
/// node and client.
pub fn swarm_for(account: &AccountId, nodes: &[(NodeId, Admission)], r: usize) -> Vec<NodeId> {
    let placed: Vec<(Position, NodeId)> = nodes
        .iter()
        .map(|(n, proof)| (Position::of_node(n, *proof), *n))
        .collect();
    swarm_among(account, &placed, r)
}

/// [`swarm_for`] over nodes whose positions the caller has already computed.
/// `placed` must pair each node with its `Position::of_node`. This sorts
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

/// The swarm of `account` as nodes and clients compute it: the nodes of
/// `nodes` (each with its record's proof and
/// [`netgroup::swarm_groups`](crate::record::netgroup::swarm_groups) of its
/// addresses) walked from the closest, each taken only if none of its groups
/// is a group of a node already taken, until `r` are taken. Nodes with no
/// group are never held back, so without groups this is [`swarm_for`].
/// Deterministic like [`swarm_for`]; code that asks often uses
/// [`SwarmIndex::swarm_diverse`] (same answers).
pub fn swarm_for_diverse(
    account: &AccountId,
    nodes: &[(NodeId, Admission, Vec<NetGroup>)],
    r: usize,
) -> Vec<NodeId> {
    let target = Position::of_account(account);
    let mut ranked: Vec<(Distance, NodeId, &[NetGroup])> = nodes
        .iter()
        .map(|(n, proof, g)| {
            (
                Position::of_node(n, *proof).distance(&target),
                *n,
                g.as_slice(),
            )
        })
        .collect();
    ranked.sort_unstable_by_key(|a| (a.0, a.1));
    pick_diverse(ranked.into_iter().map(|(_, n, g)| (n, g)), r)
}

/// Takes from `ranked` (closest first, each node with its groups) each node
/// none of whose groups is a group of a node taken before, and that was not
/// taken already, until `r` are taken.
fn pick_diverse<'g>(
    ranked: impl Iterator<Item = (NodeId, &'g [NetGroup])>,
    r: usize,
) -> Vec<NodeId> {
    let mut taken: Vec<NodeId> = Vec::with_capacity(r);
    let mut used: Vec<NetGroup> = Vec::new();
    for (node, groups) in ranked {
        if taken.len() >= r {
            break;
        }
        if groups.iter().any(|g| used.contains(g)) || taken.contains(&node) {
            continue;
        }
        used.extend_from_slice(groups);
        taken.push(node);
    }
    taken
}

/// Whether `node` is in the swarm of `account` given the directory `nodes`.
pub fn in_swarm(
    account: &AccountId,
    node: &NodeId,
    nodes: &[(NodeId, Admission)],
    r: usize,
) -> bool {
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
            let nodes: Vec<(NodeId, Admission)> = raw
                .iter()
                .map(|b| (NodeId(*b), Admission::new(u64::from(b[1]), u64::from(b[0]))))
                .collect();
            let placed: Vec<(Position, NodeId)> =
                nodes.iter().map(|(n, proof)| (Position::of_node(n, *proof), *n)).collect();
            let acct = account(seed);
            prop_assert_eq!(swarm_among(&acct, &placed, r), swarm_for(&acct, &nodes, r));
        }

        #[test]
        fn swarm_is_the_r_closest_distinct_nodes(
            raw in proptest::collection::vec(any::<[u8; 32]>(), 0..60),
            seed in any::<u8>(),
            r in 0usize..10,
        ) {
            let seven = Admission::new(0, 7);
            let nodes: Vec<(NodeId, Admission)> = raw.iter().map(|b| (NodeId(*b), seven)).collect();
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
            let worst = swarm.iter().map(|n| Position::of_node(n, seven).distance(&target)).max();
            for (n, proof) in distinct.iter().filter(|(n, _)| !swarm.contains(n)) {
                if let Some(w) = worst {
                    prop_assert!(Position::of_node(n, *proof).distance(&target) > w);
                }
            }
            // Order of the input does not matter.
            let mut reversed = nodes.clone();
            reversed.reverse();
            prop_assert_eq!(swarm_for(&acct, &reversed, r), swarm);
        }
    }

    #[test]
    fn a_position_follows_key_epoch_and_nonce() {
        let n = NodeId([3; 32]);
        let p = |e, x| Position::of_node(&n, Admission::new(e, x));
        assert_ne!(p(0, 0), p(0, 1));
        assert_ne!(p(0, 1), p(1, 1));
        assert_ne!(p(1, 2), p(2, 1));
        assert_ne!(
            p(0, 0),
            Position::of_node(&NodeId([4; 32]), Admission::new(0, 0))
        );
        let mut bytes = n.as_bytes().to_vec();
        bytes.extend_from_slice(&9u64.to_le_bytes());
        bytes.extend_from_slice(&5u64.to_le_bytes());
        assert_eq!(p(9, 5).0, blake3::derive_key(NODE_POSITION_CONTEXT, &bytes));
        // Not the v1 position (the key alone), nor the admission hash.
        assert_ne!(
            p(9, 5).0,
            blake3::derive_key("sotto node position v1", n.as_bytes())
        );
        assert_ne!(
            p(9, 5).0,
            crate::record::admission::admission_hash(&n, Admission::new(9, 5))
        );
    }

    /// A place found for one epoch is lost in the next: the same key with
    /// the next epoch's proof sits somewhere unrelated, so a node parked next
    /// to an account leaves its swarm when its epoch ends.
    #[test]
    fn a_place_next_to_an_account_does_not_outlast_its_epoch() {
        use crate::record::admission::mine_admission;
        let target = account(7);
        let keys: Vec<NodeId> = (0u16..500)
            .map(|i| NodeId(*blake3::hash(&i.to_le_bytes()).as_bytes()))
            .collect();
        let in_epoch = |e: u64| -> Vec<(NodeId, Admission)> {
            keys.iter().map(|n| (*n, mine_admission(n, e, 4))).collect()
        };
        let now = swarm_for(&target, &in_epoch(10), 5);
        let next = swarm_for(&target, &in_epoch(11), 5);
        let kept = now.iter().filter(|n| next.contains(n)).count();
        // By chance each member stays with probability 5/500.
        assert!(kept <= 1, "{kept} of 5 members kept their place");
    }

    /// Issue 13's grinding attack: generate keys until one hashes next to a
    /// chosen account, then do the admission work once. With v1 positions
    /// (the key alone) the chosen key was the closest of 2,000; bound to the
    /// nonce, the proof found afterwards moves it to a random place.
    #[test]
    fn a_key_ground_for_its_place_loses_it_to_the_admission_proof() {
        use crate::record::admission::mine_admission;
        let target = account(42);
        let at = Position::of_account(&target);
        let keys: Vec<NodeId> = (0u16..2_000)
            .map(|i| {
                let mut b = [0u8; 32];
                b[..2].copy_from_slice(&i.to_le_bytes());
                NodeId(*blake3::hash(&b).as_bytes())
            })
            .collect();
        // The attacker's pick: the key whose v1 position is closest.
        let v1 = |n: &NodeId| {
            Position(blake3::derive_key("sotto node position v1", n.as_bytes())).distance(&at)
        };
        let ground = *keys.iter().min_by_key(|n| v1(n)).unwrap();
        // Every node, the attacker's too, at the place its proof gives it.
        let placed: Vec<(NodeId, Admission)> =
            keys.iter().map(|n| (*n, mine_admission(n, 0, 8))).collect();
        let swarm = swarm_for(&target, &placed, 5);
        assert!(!swarm.contains(&ground), "the ground key kept its place");
    }

    #[test]
    fn distance_is_symmetric_and_zero_to_self() {
        let a = Position([1; 32]);
        let b = Position([2; 32]);
        assert_eq!(a.distance(&b), b.distance(&a));
        assert_eq!(a.distance(&a), Distance([0; 32]));
    }
}
