//! Choosing a path's relays (DESIGN §7): distinct nodes, none of the nodes the
//! request must avoid (the destination, and its swarm when it is a swarm
//! member), and at most one relay per network group (IPv4 /24, IPv6 /48, and
//! one shared group for nodes without a routable address; see
//! `sotto_protocol::record::netgroup`) unless the network allows same-subnet
//! paths (devnets on loopback).

use std::collections::HashSet;

use rand::seq::SliceRandom;
use rand::{Rng, RngExt};
use sotto_protocol::NodeId;

use crate::directory::{Directory, Subnet};

/// Relays in a path: guard, middle, exit (DESIGN §11).
pub const RELAYS: usize = 3;

/// Shuffles tried before giving up: a greedy pick in random order can miss a
/// subnet-compatible set that another order finds.
const ATTEMPTS: usize = 8;
/// Random draws from the pool tried before shuffling it: in a large
/// directory a few draws find the relays, where a shuffle costs the whole
/// directory per path.
const DRAWS: usize = 64;

/// A node that may be picked, with the networks it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The node.
    pub node: NodeId,
    /// Its network groups.
    pub subnets: Vec<Subnet>,
}

/// Every node of `dir` as a candidate.
pub fn candidates(dir: &Directory) -> Vec<Candidate> {
    dir.nodes()
        .map(|n| Candidate {
            node: n.record.node,
            subnets: n.subnets.clone(),
        })
        .collect()
}

/// Whether `a` and `b` may be on one path: not the same node, and not in one
/// network group unless `allow_same_subnet`.
pub fn compatible(a: &Candidate, b: &Candidate, allow_same_subnet: bool) -> bool {
    a.node != b.node && (allow_same_subnet || !a.subnets.iter().any(|s| b.subnets.contains(s)))
}

/// Picks `count` relays from `pool`, starting with `first` if given (the
/// guard), none in `exclude`, pairwise [`compatible`]. `None` when no such set
/// was found.
pub fn choose<R: Rng + ?Sized>(
    rng: &mut R,
    pool: &[Candidate],
    first: Option<&Candidate>,
    count: usize,
    exclude: &HashSet<NodeId>,
    allow_same_subnet: bool,
) -> Option<Vec<NodeId>> {
    if first.is_some_and(|f| exclude.contains(&f.node)) {
        return None;
    }
    if let Some(found) = draw(rng, pool, first, count, exclude, allow_same_subnet) {
        return Some(found);
    }
    let mut order: Vec<&Candidate> = pool.iter().filter(|c| !exclude.contains(&c.node)).collect();
    for _ in 0..ATTEMPTS {
        order.shuffle(rng);
        let mut chosen: Vec<&Candidate> = first.into_iter().collect();
        for c in &order {
            if chosen.len() >= count {
                break;
            }
            if chosen.iter().all(|p| compatible(p, c, allow_same_subnet)) {
                chosen.push(c);
            }
        }
        if chosen.len() == count {
            return Some(chosen.iter().map(|c| c.node).collect());
        }
    }
    None
}

/// [`choose`] by drawing candidates at random (with replacement, skipping
/// the excluded and the incompatible): each relay is uniform among those that
/// fit, as with the greedy pick over a shuffled pool, at a cost that does not
/// grow with the pool. `None` when [`DRAWS`] draws did not complete the set.
fn draw<R: Rng + ?Sized>(
    rng: &mut R,
    pool: &[Candidate],
    first: Option<&Candidate>,
    count: usize,
    exclude: &HashSet<NodeId>,
    allow_same_subnet: bool,
) -> Option<Vec<NodeId>> {
    if pool.is_empty() {
        return None;
    }
    let mut chosen: Vec<&Candidate> = first.into_iter().collect();
    for _ in 0..DRAWS {
        if chosen.len() >= count {
            break;
        }
        let Some(c) = pool.get(rng.random_range(0..pool.len())) else {
            continue;
        };
        if !exclude.contains(&c.node) && chosen.iter().all(|p| compatible(p, c, allow_same_subnet))
        {
            chosen.push(c);
        }
    }
    (chosen.len() == count).then(|| chosen.iter().map(|c| c.node).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn cand(i: u8, subnet: u8) -> Candidate {
        Candidate {
            node: NodeId([i; 32]),
            subnets: vec![crate::directory::Subnet::V4([10, 0, subnet])],
        }
    }

    #[test]
    fn relays_are_distinct_and_avoid_the_excluded() {
        let pool: Vec<_> = (0..10).map(|i| cand(i, i)).collect();
        let exclude: HashSet<NodeId> = (0..5).map(|i| NodeId([i; 32])).collect();
        let mut rng = rand::rng();
        for _ in 0..50 {
            let path = choose(&mut rng, &pool, Some(&pool[7]), RELAYS, &exclude, false).unwrap();
            assert_eq!(path.len(), RELAYS);
            assert_eq!(path[0], NodeId([7; 32]));
            let distinct: HashSet<_> = path.iter().collect();
            assert_eq!(distinct.len(), RELAYS);
            assert!(path.iter().all(|n| !exclude.contains(n)));
        }
        // Only 5 nodes outside the swarm: a guard inside it is refused.
        assert!(choose(&mut rng, &pool, Some(&pool[1]), RELAYS, &exclude, false).is_none());
        // Too few left.
        let big: HashSet<NodeId> = (0..8).map(|i| NodeId([i; 32])).collect();
        assert!(choose(&mut rng, &pool, None, RELAYS, &big, false).is_none());
    }

    #[test]
    fn one_relay_per_subnet_unless_allowed() {
        // Six nodes on two /24s: no three from distinct networks.
        let pool: Vec<_> = (0..6).map(|i| cand(i, i % 2)).collect();
        let none = HashSet::new();
        let mut rng = rand::rng();
        assert!(choose(&mut rng, &pool, None, RELAYS, &none, false).is_none());
        let path = choose(&mut rng, &pool, None, RELAYS, &none, true).unwrap();
        assert_eq!(path.len(), RELAYS);
        // Add a third network: now every path uses all three.
        let mut pool = pool;
        pool.push(cand(9, 2));
        for _ in 0..50 {
            let path = choose(&mut rng, &pool, None, RELAYS, &none, false).unwrap();
            let nets: HashSet<u8> = path
                .iter()
                .map(
                    |n| match pool.iter().find(|c| c.node == *n).unwrap().subnets[0] {
                        crate::directory::Subnet::V4([_, _, net]) => net,
                        other => panic!("{other:?}"),
                    },
                )
                .collect();
            assert_eq!(nets.len(), RELAYS);
        }
    }

    /// Issue 13: a node with no routable address used to be "on no network"
    /// and so compatible with every node; now such nodes share one group.
    #[test]
    fn nodes_without_a_routable_address_share_one_group() {
        let names_only = |i: u8, name: &str| Candidate {
            node: NodeId([i; 32]),
            subnets: sotto_protocol::record::netgroup::groups_of(
                [format!("/dns/{name}/tcp/1").as_str()],
                false,
            ),
        };
        let (a, b) = (names_only(1, "a.org"), names_only(2, "b.org"));
        assert!(!compatible(&a, &b, false));
        assert!(compatible(&a, &b, true));
        assert!(!compatible(&a, &a, true));
        // IPv6: one /48 is one group.
        let v6 = |i: u8, addr: &str| Candidate {
            node: NodeId([i; 32]),
            subnets: sotto_protocol::record::netgroup::groups_of([addr], false),
        };
        let c = v6(3, "/ip6/2a01:4f8:1:1::1/tcp/1");
        let d = v6(4, "/ip6/2a01:4f8:1:2::1/tcp/1");
        let e = v6(5, "/ip6/2a01:4f8:2::1/tcp/1");
        assert!(!compatible(&c, &d, false));
        assert!(compatible(&c, &e, false));
    }
}
