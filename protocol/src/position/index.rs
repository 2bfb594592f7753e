//! An index over node positions that answers the swarm function in
//! O(log N + r) instead of sorting the whole directory per call.
//!
//! The nodes closest to a point by XOR distance are not neighbours in sorted
//! order, but every set of positions sharing a prefix is a contiguous run of
//! the sorted list, and XOR distance is decided by the first differing bit.
//! So the closest nodes are found by walking the implicit binary trie over
//! the sorted list: at each bit, the half matching the target's bit is
//! closer than all of the other half; take from it first, then from the
//! other half only as many as are still missing. Each step is one binary
//! search, and the walk descends about log2(N / r) bits before a run is small
//! enough to take whole.

use std::collections::HashMap;

use crate::id::{AccountId, NodeId};
use crate::record::admission::Admission;
use crate::record::netgroup::NetGroup;

use super::{Distance, Position};

/// Nodes with their positions, sorted by position; what [`SwarmIndex::swarm`]
/// searches. Holds each node once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwarmIndex {
    sorted: Vec<(Position, NodeId)>,
    /// Each indexed node's position (it follows the node's admission proof,
    /// which a newer record changes every position epoch).
    at: HashMap<NodeId, Position>,
    /// Each node's network groups, for [`SwarmIndex::swarm_diverse`] (nodes
    /// inserted without groups conflict with no one).
    groups: HashMap<NodeId, Vec<NetGroup>>,
}

/// Bit `i` (0 is the most significant) of `p`.
fn bit(p: &Position, i: usize) -> bool {
    p.0.get(i / 8).is_some_and(|b| b & (0x80 >> (i % 8)) != 0)
}

/// Bits in a position.
const BITS: usize = crate::constants::HASH_LEN * 8;

impl SwarmIndex {
    /// An empty index.
    pub fn new() -> Self {
        Self::default()
    }

    /// An index of `nodes`, each with its record's admission proof (a node
    /// given twice is kept once, at its last proof); hashes each position
    /// once.
    pub fn of_nodes<'a>(nodes: impl IntoIterator<Item = &'a (NodeId, Admission)>) -> Self {
        let mut index = Self::new();
        for (node, proof) in nodes {
            index.insert(*node, *proof);
        }
        index
    }

    /// Adds `node` at the position its admission proof gives, or moves it
    /// there if it was indexed with another proof (a new epoch); false if it
    /// was there already. O(N) moves, one hash.
    pub fn insert(&mut self, node: NodeId, proof: Admission) -> bool {
        let position = Position::of_node(&node, proof);
        match self.at.insert(node, position) {
            Some(old) if old == position => return false,
            Some(old) => self.unsort(old, &node),
            None => {}
        }
        let entry = (position, node);
        if let Err(at) = self.sorted.binary_search(&entry) {
            self.sorted.insert(at, entry);
        }
        true
    }

    /// [`SwarmIndex::insert`], and records the node's network groups (its
    /// record's `netgroup::swarm_groups`); true if its position or its groups
    /// changed.
    pub fn insert_grouped(
        &mut self,
        node: NodeId,
        proof: Admission,
        groups: Vec<NetGroup>,
    ) -> bool {
        let moved = self.insert(node, proof);
        let regrouped = self.groups.get(&node) != Some(&groups);
        if regrouped {
            self.groups.insert(node, groups);
        }
        moved || regrouped
    }

    /// Removes `node`; false if it was not there.
    pub fn remove(&mut self, node: &NodeId) -> bool {
        self.groups.remove(node);
        match self.at.remove(node) {
            Some(position) => {
                self.unsort(position, node);
                true
            }
            None => false,
        }
    }

    /// Takes `(position, node)` out of the sorted list.
    fn unsort(&mut self, position: Position, node: &NodeId) {
        if let Ok(at) = self.sorted.binary_search(&(position, *node)) {
            self.sorted.remove(at);
        }
    }

    /// How many nodes it holds.
    pub fn len(&self) -> usize {
        self.sorted.len()
    }

    /// Whether it holds no node.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// The swarm of `account`: the same answer as
    /// [`swarm_for`](super::swarm_for) over the indexed nodes.
    pub fn swarm(&self, account: &AccountId, r: usize) -> Vec<NodeId> {
        self.closest(&Position::of_account(account), r)
    }

    /// The swarm of `account`, keeping operators apart: walking the nodes
    /// from the closest, a node is taken only if none of its network groups
    /// is a group of a node already taken, until `r` are taken (fewer if the
    /// directory has fewer distinct groups). With `netgroup::swarm_groups`,
    /// one IPv4 /24 or IPv6 /48 (and, where subnets are kept apart, all nodes
    /// without a routable address together) holds at most one place in any
    /// swarm; nodes with no group are never held back. Same answer as
    /// [`super::swarm_for_diverse`]; asks the index for twice as many
    /// candidates until it has enough (towards O(N) only in a directory of
    /// few distinct groups).
    pub fn swarm_diverse(&self, account: &AccountId, r: usize) -> Vec<NodeId> {
        let target = Position::of_account(account);
        let mut want = r;
        loop {
            let candidates = self.closest(&target, want);
            let taken = super::pick_diverse(candidates.iter().map(|n| (*n, self.groups_of(n))), r);
            if taken.len() >= r || candidates.len() < want {
                return taken;
            }
            want = want.saturating_mul(2).min(self.sorted.len().max(1));
            if want == candidates.len() {
                // Every node is a candidate already.
                return taken;
            }
        }
    }

    /// The groups recorded for `node` (none if it was inserted without).
    fn groups_of(&self, node: &NodeId) -> &[NetGroup] {
        self.groups.get(node).map_or(&[], Vec::as_slice)
    }

    /// The `r` nodes closest to `target` by XOR distance, closest first
    /// (ties, which need equal positions, by node id).
    pub fn closest(&self, target: &Position, r: usize) -> Vec<NodeId> {
        let mut found = Vec::with_capacity(r.min(self.sorted.len()));
        collect(&self.sorted, target, 0, r, &mut found);
        let mut ranked: Vec<(Distance, NodeId)> = found
            .into_iter()
            .map(|(p, n)| (p.distance(target), *n))
            .collect();
        ranked.sort_unstable();
        ranked.truncate(r);
        ranked.into_iter().map(|(_, n)| n).collect()
    }
}

/// Adds to `out` the `need` entries of `run` closest to `target`, where every
/// entry of `run` shares its first `depth` bits with the others (and `run` is
/// sorted). When the closest are decided only by node id (equal positions),
/// all the tied entries are added and the caller's sort picks.
fn collect<'a>(
    run: &'a [(Position, NodeId)],
    target: &Position,
    depth: usize,
    need: usize,
    out: &mut Vec<&'a (Position, NodeId)>,
) {
    if need == 0 || run.is_empty() {
        return;
    }
    if run.len() <= need || depth >= BITS {
        out.extend(run.iter());
        return;
    }
    let split = run.partition_point(|(p, _)| !bit(p, depth));
    let (zeros, ones) = run.split_at(split);
    let (near, far) = if bit(target, depth) {
        (ones, zeros)
    } else {
        (zeros, ones)
    };
    let before = out.len();
    collect(near, target, depth + 1, need, out);
    let got = out.len() - before;
    if got < need {
        collect(far, target, depth + 1, need - got, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::position::{swarm_among, swarm_for};
    use proptest::prelude::*;

    fn account(seed: [u8; 32]) -> Option<AccountId> {
        let k = ed25519_dalek::SigningKey::from_bytes(&seed);
        AccountId::from_bytes(k.verifying_key().to_bytes()).ok()
    }

    proptest! {
        #[test]
        fn the_index_gives_the_swarm_function_s_answer(
            raw in proptest::collection::vec(any::<[u8; 32]>(), 0..300),
            seed in any::<[u8; 32]>(),
            r in 0usize..12,
        ) {
            let nodes: Vec<(NodeId, Admission)> =
                raw.iter().map(|b| (NodeId(*b), Admission::new(u64::from(b[2]), u64::from(b[1])))).collect();
            let Some(acct) = account(seed) else { return Ok(()) };
            let index = SwarmIndex::of_nodes(&nodes);
            prop_assert_eq!(index.swarm(&acct, r), swarm_for(&acct, &nodes, r));
        }

        #[test]
        fn inserts_and_removes_keep_it_equal_to_a_rebuild(
            raw in proptest::collection::vec(any::<[u8; 32]>(), 1..100),
            drop_every in 2usize..5,
            seed in any::<[u8; 32]>(),
        ) {
            let nodes: Vec<(NodeId, Admission)> =
                raw.iter().map(|b| (NodeId(*b), Admission::new(u64::from(b[2]), u64::from(b[1])))).collect();
            let mut index = SwarmIndex::new();
            for (n, proof) in &nodes {
                // First at another epoch: a newer record moves the node.
                index.insert(*n, Admission::new(proof.epoch.wrapping_add(1), proof.nonce));
                index.insert(*n, *proof);
            }
            let kept: Vec<(NodeId, Admission)> = nodes.iter().copied().step_by(drop_every).collect();
            for (n, _) in nodes.iter().filter(|n| !kept.contains(n)) {
                index.remove(n);
            }
            prop_assert_eq!(&index, &SwarmIndex::of_nodes(&kept));
            let Some(acct) = account(seed) else { return Ok(()) };
            let placed: Vec<_> = kept
                .iter()
                .map(|(n, proof)| (Position::of_node(n, *proof), *n))
                .collect();
            prop_assert_eq!(index.swarm(&acct, 5), swarm_among(&acct, &placed, 5));
        }
    }

    proptest! {
        #[test]
        fn the_diverse_index_gives_the_diverse_swarm_function_s_answer(
            raw in proptest::collection::vec((any::<[u8; 32]>(), 0u8..12, any::<bool>()), 0..200),
            seed in any::<[u8; 32]>(),
            r in 0usize..8,
        ) {
            // Few groups, so that many nodes share one and some have two.
            let nodes: Vec<(NodeId, Admission, Vec<NetGroup>)> = raw
                .iter()
                .map(|(b, g, two)| {
                    // Group 11: a node with no group (a devnet's loopback).
                    let mut groups = if *g == 11 { vec![] } else { vec![NetGroup::V4([10, 0, *g])] };
                    if *two {
                        groups.push(NetGroup::V6([0x20, 1, 0, 0, 0, *g]));
                    }
                    (NodeId(*b), Admission::new(0, u64::from(b[1])), groups)
                })
                .collect();
            let Some(acct) = account(seed) else { return Ok(()) };
            let mut index = SwarmIndex::new();
            for (n, proof, groups) in &nodes {
                index.insert_grouped(*n, *proof, groups.clone());
            }
            let swarm = index.swarm_diverse(&acct, r);
            prop_assert_eq!(&swarm, &crate::position::swarm_for_diverse(&acct, &nodes, r));
            // No two members share a group.
            let mut seen = std::collections::HashSet::new();
            for m in &swarm {
                for g in index.groups_of(m) {
                    prop_assert!(seen.insert(*g), "group {:?} twice", g);
                }
            }
        }
    }

    /// Issue 13: five nodes of one operator's /24 closest to an account take
    /// one place of its swarm, not five.
    #[test]
    fn one_network_group_holds_one_place_in_a_swarm() {
        let acct = account([9; 32]).unwrap();
        let target = Position::of_account(&acct);
        let mut nodes: Vec<NodeId> = (0u16..400)
            .map(|i| NodeId(*blake3::hash(&i.to_le_bytes()).as_bytes()))
            .collect();
        let zero = Admission::default();
        nodes.sort_by_key(|n| Position::of_node(n, zero).distance(&target));
        let mut index = SwarmIndex::new();
        for (i, n) in nodes.iter().enumerate() {
            // The 5 closest share one /24; everyone else has its own.
            let group = if i < 5 {
                NetGroup::V4([203, 0, 113])
            } else {
                NetGroup::V4([198, (i / 256) as u8, (i % 256) as u8])
            };
            index.insert_grouped(*n, zero, vec![group]);
        }
        let plain = index.swarm(&acct, 5);
        assert_eq!(
            plain,
            nodes[..5].to_vec(),
            "without the rule they take it all"
        );
        let diverse = index.swarm_diverse(&acct, 5);
        assert_eq!(diverse.len(), 5);
        assert_eq!(diverse.iter().filter(|n| nodes[..5].contains(n)).count(), 1);
        assert_eq!(diverse[0], nodes[0]);
    }

    #[test]
    fn nodes_without_groups_form_the_plain_swarm() {
        let mut index = SwarmIndex::new();
        for i in 0u16..100 {
            let node = NodeId(*blake3::hash(&i.to_le_bytes()).as_bytes());
            index.insert_grouped(node, Admission::default(), Vec::new());
        }
        for a in 0u8..20 {
            let acct = account([a; 32]).unwrap();
            assert_eq!(index.swarm_diverse(&acct, 5), index.swarm(&acct, 5));
        }
    }

    #[test]
    fn nodes_near_the_target_on_both_sides_of_a_split_are_found() {
        // Positions are hashes, so build the index's list by hand to put
        // nodes exactly where the walk must cross from one half to the other.
        let pos = |first: u8, second: u8| {
            let mut p = [0u8; 32];
            p[0] = first;
            p[1] = second;
            Position(p)
        };
        let mut sorted: Vec<(Position, NodeId)> = [
            (0x00, 1),
            (0x7f, 2),
            (0x80, 3),
            (0x80, 4),
            (0xc0, 5),
            (0xff, 6),
        ]
        .iter()
        .map(|&(a, b)| (pos(a, b), NodeId([b; 32])))
        .collect();
        sorted.sort_unstable();
        let at = sorted.iter().map(|(p, n)| (*n, *p)).collect();
        let index = SwarmIndex {
            sorted,
            at,
            groups: HashMap::new(),
        };
        let ids = |v: Vec<NodeId>| v.iter().map(|n| n.0[0]).collect::<Vec<_>>();
        // Target 0x7f..: 2 (same first byte), then 1 (0x00: first bit
        // equal), then the 0x80 half in XOR order: 6 (0xff), 5 (0xc0).
        assert_eq!(ids(index.closest(&pos(0x7f, 0), 4)), vec![2, 1, 6, 5]);
        assert_eq!(ids(index.closest(&pos(0x80, 4), 2)), vec![4, 3]);
        assert_eq!(ids(index.closest(&pos(0xff, 0), 9)), vec![6, 5, 3, 4, 2, 1]);
        assert!(index.closest(&pos(0, 0), 0).is_empty());
    }
}
