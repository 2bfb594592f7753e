//! The `sybil` scenario's attacker (issue 13): a share of the nodes run by
//! one operator. They are real nodes running the real code, in the network
//! from the start like every other; what makes them hostile is what their
//! operator does with them: it watches every packet they relay (who sent it,
//! where it goes next) and throws away every message they store, right
//! after they have stored it and signed its receipt.
//!
//! The report's `sybil` figures: how many of the clients' built paths have a
//! hostile guard *and* a hostile exit (the last relay), against what random
//! choice gives; the same over 10,000 paths drawn by the client's own path
//! selection over the final directory (the built paths are too few to
//! estimate a 1 % share); in how many of the clients' swarms the attacker
//! holds the store quorum; and what the attacker dropped and saw. Messages
//! lost are the run's `lost`.

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use sotto_client::Client;
use sotto_client::paths::{Candidate, RELAYS, choose};
use sotto_protocol::constants::ACCOUNT_ENTROPY_LEN;
use sotto_protocol::{AccountId, AccountKey, NodeId};
use tokio::sync::watch;

use crate::net::SimNet;
use crate::user::User;

/// Paths drawn by the client's path selection for the large-sample share.
const DRAWN_PATHS: usize = 10_000;
/// Accounts (fresh seeded keys) whose swarms the figures look at besides the
/// clients'.
const DRAWN_SWARMS: usize = 1_000;
/// How often the attacker empties its nodes' stores.
const DROP_EVERY: Duration = Duration::from_millis(200);
/// How often the clients' ready paths are sampled.
const SAMPLE_EVERY: Duration = Duration::from_millis(500);

/// `[sybil]`: the share of the nodes the attacker runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sybil {
    /// Fraction of the nodes, 0 to 0.5 (rounded to whole nodes, at least 1).
    pub share: f64,
    /// Whether the attacker's nodes share one /24 (one host or one rented
    /// block, the default) or each have a /24 of their own (addresses rented
    /// across providers). Every node announces a public address of the
    /// simulation; honest nodes each have their own /24.
    #[serde(default = "one_subnet_default")]
    pub one_subnet: bool,
}

fn one_subnet_default() -> bool {
    true
}

impl Sybil {
    /// The indices of the attacker's nodes among `n` (chosen by `seed`).
    pub fn hostile_indices(&self, n: usize, seed: u64) -> Vec<usize> {
        let count = ((n as f64 * self.share.clamp(0.0, 0.5)).round() as usize).clamp(1, n.max(1));
        let mut order: Vec<usize> = (0..n).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed ^ 0x5b11));
        let mut hostile: Vec<usize> = order.into_iter().take(count).collect();
        hostile.sort_unstable();
        hostile
    }

    /// The public address node `i` announces: its own /24 (`44.x.y.0/24`),
    /// or for the attacker's nodes with [`Sybil::one_subnet`] one shared
    /// /24 (`45.0.0.0/24`).
    pub fn public_addr(&self, i: usize, hostile: &[usize]) -> String {
        match hostile.iter().position(|h| *h == i) {
            Some(k) if self.one_subnet => format!("/ip4/45.0.0.{}/tcp/4600", k % 254 + 1),
            _ => format!("/ip4/44.{}.{}.1/tcp/4600", (i >> 8) & 0xff, i & 0xff),
        }
    }
}

/// The `sybil` figures of the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SybilFigures {
    /// Nodes the attacker runs.
    pub hostile_nodes: usize,
    /// Their share of the nodes.
    pub hostile_share: f64,
    /// Distinct paths the clients had ready at some sample.
    pub paths_built: usize,
    /// Of those, paths whose guard and exit are both the attacker's.
    pub paths_hostile_guard_and_exit: usize,
    /// Paths drawn by the client's selection over the final directory.
    pub paths_drawn: usize,
    /// Of those, with a hostile guard and exit.
    pub drawn_hostile_guard_and_exit: usize,
    /// `drawn_hostile_guard_and_exit / paths_drawn`.
    pub drawn_share: f64,
    /// What uniform random choice of two distinct nodes gives: `h/N · (h-1)/(N-1)`.
    pub random_share: f64,
    /// `drawn_share / random_share`.
    pub ratio_to_random: f64,
    /// Clients' accounts whose swarm (by the nodes' directory at the end) has
    /// at least the store quorum of hostile members.
    pub swarms_attacker_quorum: usize,
    /// Clients' accounts looked at.
    pub swarms: usize,
    /// Further accounts (fresh seeded keys) whose swarms were looked at.
    pub swarms_drawn: usize,
    /// Of those, swarms with at least the store quorum of hostile members.
    pub drawn_swarms_attacker_quorum: usize,
    /// The most hostile members in any swarm looked at (clients' and drawn).
    pub most_hostile_in_a_swarm: usize,
    /// How many of the clients' swarms random placement alone (no rule
    /// keeping one place per /24) gives the attacker's quorum in, on
    /// average: `swarms × P(X ≥ quorum)`, `X` hypergeometric
    /// (swarm members drawn from all nodes, the attacker's among them). An
    /// attacker that does no better than this has bought no place.
    pub swarms_quorum_by_chance: f64,
    /// How many /24s the attacker's nodes announce addresses in (1 with
    /// [`Sybil::one_subnet`]): swarms keep one place per /24.
    pub attacker_subnets: usize,
    /// Whether the attacker mined positions for chosen accounts (this one
    /// does not: its nodes' positions are what their proofs gave them).
    pub mined: bool,
    /// Messages (and other items) the attacker threw away after storing them.
    pub items_dropped: u64,
    /// Onion packets its nodes relayed (it saw each one's previous and next hop).
    pub packets_seen: u64,
}

/// The attacker at work: its nodes, and what it has counted.
pub struct Attacker {
    /// Indices of its nodes.
    pub hostile: Vec<usize>,
    /// /24s its nodes announce addresses in.
    subnets: usize,
    ids: HashSet<NodeId>,
    dropped: Arc<AtomicU64>,
    seen: Arc<AtomicU64>,
    paths: Arc<Mutex<BTreeSet<Vec<NodeId>>>>,
}

impl Attacker {
    /// Picks `share` of the `net`'s nodes (seeded), watches their relays and
    /// starts throwing away what they store, until `stop`.
    pub fn start(net: &SimNet, sybil: &Sybil, seed: u64, stop: watch::Receiver<bool>) -> Self {
        let hostile = sybil.hostile_indices(net.slots.len(), seed);
        let ids = hostile
            .iter()
            .filter_map(|i| net.slots.get(*i).map(|s| s.node_id))
            .collect();
        let dropped = Arc::new(AtomicU64::new(0));
        let seen = Arc::new(AtomicU64::new(0));
        let mut stores = Vec::new();
        for i in &hostile {
            if let Ok(node) = net.node(*i) {
                let seen = Arc::clone(&seen);
                node.relay().set_observer(Arc::new(move |_| {
                    seen.fetch_add(1, Ordering::Relaxed);
                }));
                stores.push(node.context().store.clone());
            }
        }
        let drop_count = Arc::clone(&dropped);
        let mut stop_drop = stop;
        tokio::spawn(async move {
            loop {
                for store in &stores {
                    let store = store.clone();
                    let removed = tokio::task::spawn_blocking(move || {
                        let accounts: Vec<AccountId> =
                            store.accounts().filter_map(Result::ok).collect();
                        accounts
                            .iter()
                            .filter_map(|a| store.remove_account(a).ok())
                            .sum::<usize>()
                    })
                    .await
                    .unwrap_or(0);
                    drop_count.fetch_add(removed as u64, Ordering::Relaxed);
                }
                tokio::select! {
                    _ = tokio::time::sleep(DROP_EVERY) => {}
                    _ = stop_drop.changed() => return,
                }
            }
        });
        let subnets = if sybil.one_subnet { 1 } else { hostile.len() };
        Self {
            hostile,
            subnets,
            ids,
            dropped,
            seen,
            paths: Arc::new(Mutex::new(BTreeSet::new())),
        }
    }

    /// Samples the clients' ready paths until `stop`.
    pub fn watch_paths(&self, users: Vec<Arc<User>>, mut stop: watch::Receiver<bool>) {
        let paths = Arc::clone(&self.paths);
        tokio::spawn(async move {
            loop {
                for u in &users {
                    let ready = u.client.path_relays();
                    if let Ok(mut p) = paths.lock() {
                        p.extend(ready);
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(SAMPLE_EVERY) => {}
                    _ = stop.changed() => return,
                }
            }
        });
    }

    fn hostile_ends(&self, path: &[NodeId]) -> bool {
        matches!((path.first(), path.last()), (Some(g), Some(e)) if g != e && self.ids.contains(g) && self.ids.contains(e))
    }

    /// The figures, from the paths sampled, the `client`'s path selection
    /// over its final directory, and the swarms of `accounts` by `net`.
    pub fn figures(
        &self,
        net: &SimNet,
        client: &Client,
        accounts: &[AccountId],
        seed: u64,
    ) -> SybilFigures {
        let n = net.slots.len();
        let h = self.hostile.len();
        let built: Vec<Vec<NodeId>> = match self.paths.lock() {
            Ok(p) => p.iter().cloned().collect(),
            Err(p) => p.into_inner().iter().cloned().collect(),
        };
        let pool: Vec<Candidate> = client.path_candidates();
        let allow = net.params.allow_same_subnet;
        let mut rng = StdRng::seed_from_u64(seed ^ 0xd4a7);
        let mut drawn = 0usize;
        let mut both = 0usize;
        for _ in 0..DRAWN_PATHS {
            // A guard as the client picks one (uniform over the directory),
            // then the rest of the path by the client's own selection.
            let Some(guard) = pool.choose(&mut rng) else {
                break;
            };
            let Some(path) = choose(&mut rng, &pool, Some(guard), RELAYS, &HashSet::new(), allow)
            else {
                continue;
            };
            drawn += 1;
            if self.hostile_ends(&path) {
                both += 1;
            }
        }
        let quorum = usize::from(net.params.store_quorum).max(1);
        let hostile_in =
            |a: &AccountId| net.swarm(a).iter().filter(|m| self.ids.contains(m)).count();
        let clients_hostile: Vec<usize> = accounts.iter().map(hostile_in).collect();
        let swarms_attacker_quorum = clients_hostile.iter().filter(|k| **k >= quorum).count();
        // Eight clients' swarms say little about a 1-in-12 event: the swarms
        // of many more accounts (fresh keys, seeded) are looked at too.
        let drawn_hostile: Vec<usize> = (0..DRAWN_SWARMS)
            .map(|_| {
                let mut entropy = [0u8; ACCOUNT_ENTROPY_LEN];
                rng.fill(&mut entropy[..]);
                hostile_in(&AccountKey::from_entropy(entropy).account_id())
            })
            .collect();
        let drawn_swarms_attacker_quorum = drawn_hostile.iter().filter(|k| **k >= quorum).count();
        let most_hostile_in_a_swarm = clients_hostile
            .iter()
            .chain(&drawn_hostile)
            .copied()
            .max()
            .unwrap_or(0);
        let random_share = if n > 1 {
            (h as f64 / n as f64) * (h.saturating_sub(1) as f64 / (n - 1) as f64)
        } else {
            0.0
        };
        let drawn_share = if drawn > 0 {
            both as f64 / drawn as f64
        } else {
            0.0
        };
        SybilFigures {
            hostile_nodes: h,
            hostile_share: h as f64 / n.max(1) as f64,
            paths_built: built.len(),
            paths_hostile_guard_and_exit: built.iter().filter(|p| self.hostile_ends(p)).count(),
            paths_drawn: drawn,
            drawn_hostile_guard_and_exit: both,
            drawn_share,
            random_share,
            ratio_to_random: if random_share > 0.0 {
                drawn_share / random_share
            } else {
                0.0
            },
            swarms_attacker_quorum,
            swarms: accounts.len(),
            swarms_drawn: DRAWN_SWARMS,
            drawn_swarms_attacker_quorum,
            most_hostile_in_a_swarm,
            swarms_quorum_by_chance: accounts.len() as f64
                * at_least(n, h, usize::from(net.params.swarm_size), quorum),
            attacker_subnets: self.subnets,
            mined: false,
            items_dropped: self.dropped.load(Ordering::Relaxed),
            packets_seen: self.seen.load(Ordering::Relaxed),
        }
    }
}

/// P(X ≥ `q`) for X the hostile members among `r` drawn without replacement
/// from `n` nodes of which `h` are hostile (hypergeometric).
fn at_least(n: usize, h: usize, r: usize, q: usize) -> f64 {
    let r = r.min(n);
    let total = choose_f(n, r);
    if total == 0.0 {
        return 0.0;
    }
    let below: f64 = (0..q.min(r + 1))
        .map(|k| choose_f(h, k) * choose_f(n.saturating_sub(h), r.saturating_sub(k)))
        .sum();
    (1.0 - below / total).clamp(0.0, 1.0)
}

/// `n` choose `k` as a float (0 when `k > n`).
fn choose_f(n: usize, k: usize) -> f64 {
    if k > n {
        return 0.0;
    }
    (0..k).fold(1.0, |acc, i| acc * (n - i) as f64 / (i + 1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_protocol::record::netgroup::{NetGroup, swarm_groups};

    #[test]
    fn the_attacker_s_nodes_share_one_subnet_and_honest_nodes_have_their_own() {
        let group = |addr: &str| swarm_groups([addr], true);
        for one_subnet in [true, false] {
            let sy = Sybil {
                share: 0.1,
                one_subnet,
            };
            let hostile = sy.hostile_indices(300, 13);
            assert_eq!(hostile.len(), 30);
            assert_eq!(hostile, sy.hostile_indices(300, 13), "seeded");
            let mut groups: Vec<Vec<NetGroup>> = (0..300)
                .map(|i| group(&sy.public_addr(i, &hostile)))
                .collect();
            assert!(groups.iter().all(|g| g.len() == 1), "public addresses");
            groups.sort();
            groups.dedup();
            let expect = if one_subnet { 300 - 30 + 1 } else { 300 };
            assert_eq!(groups.len(), expect);
        }
    }

    #[test]
    fn quorum_by_chance_is_the_hypergeometric_tail() {
        // 4 hostile of 40, swarms of 5, quorum 2: 1 - (C(36,5) + 4·C(36,4)) / C(40,5).
        let p = at_least(40, 4, 5, 2);
        let exact = 1.0 - (376_992.0 + 4.0 * 58_905.0) / 658_008.0;
        assert!((p - exact).abs() < 1e-12, "{p} vs {exact}");
        assert_eq!(at_least(40, 0, 5, 2), 0.0);
        assert!((at_least(40, 40, 5, 2) - 1.0).abs() < 1e-12);
        assert_eq!(at_least(40, 4, 5, 0), 1.0);
        assert_eq!(at_least(0, 0, 5, 2), 0.0);
    }
}
