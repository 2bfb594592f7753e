//! What a peer attacker knows of the net: the nodes it may dial (peer id and
//! memory address), which of them are the victim's swarm, its own place in
//! the network model, and the nodes' metrics, read before and after the
//! attack to say what the nodes made of it.

use std::collections::BTreeMap;
use std::sync::Arc;

use libp2p::{Multiaddr, PeerId};
use sotto_node::metrics::{Family, Metrics};
use sotto_protocol::{AccountId, NetworkParams};

use crate::net::SimNet;

/// One node the attacker may dial.
#[derive(Debug, Clone)]
pub struct Target {
    /// Its peer id.
    pub peer: PeerId,
    /// Its listen address.
    pub addr: Multiaddr,
}

/// The attacker's view of the net, taken when the attack is set up.
#[derive(Debug)]
pub struct Arena {
    /// The network's parameters (name, admission difficulty, TTLs).
    pub params: NetworkParams,
    /// The victim's account.
    pub victim: AccountId,
    /// The members of the victim's swarm (as node 0's directory sees it).
    pub swarm: Vec<Target>,
    /// The other running nodes.
    pub others: Vec<Target>,
    /// The attacker's endpoint in the network model (`None`: links are not
    /// delayed).
    pub origin: Option<u64>,
    /// The running nodes' metrics.
    metrics: Vec<Arc<Metrics>>,
    /// The directory size every node should reach.
    nodes: usize,
}

/// Labelled counters read for every attack: (family, first label, second).
const COUNTERS: &[(&str, &str, &str)] = &[
    ("rejected", "net", "connections_reserved"),
    ("rejected", "net", "connections_evicted"),
    ("rejected", "net", "connections_per_ip"),
    ("rejected", "net", "handshakes_per_ip"),
    ("rejected", "net", "busy"),
    ("rejected", "net", "busy_peer"),
    ("rejected", "net", "busy_ip"),
    ("rejected", "net", "bad_frame"),
    ("rejected", "net", "inbound_timeout"),
    ("rejected", "net", "unsupported_protocol"),
    ("rejected", "net", "wrong_network"),
    ("rejected", "gossip", "decode"),
    ("rejected", "gossip", "too_large"),
    ("rejected", "gossip", "invalid"),
    ("rejected", "gossip", "bad_identity"),
    ("rejected", "gossip", "full"),
    ("rejected", "gossip", "busy"),
    ("records", "new", ""),
    ("records", "updated", ""),
    ("rejected", "replication", "not_a_node"),
    ("rejected", "replication", "not_a_member"),
    ("rejected", "replication", "bad_signature"),
    ("node_requests", "unknown", "unauthorized"),
];

/// Counter readings, keyed `family.label[.label]`.
pub type Readings = BTreeMap<String, u64>;

fn family<'a>(m: &'a Metrics, name: &str) -> Option<&'a Family> {
    match name {
        "rejected" => Some(&m.rejected),
        "records" => Some(&m.records),
        "node_requests" => Some(&m.node_requests),
        _ => None,
    }
}

impl Arena {
    /// The arena of an attack on `victim`'s swarm by the client with index
    /// `attacker` (its place in the network model).
    pub fn new(net: &mut SimNet, victim: AccountId, attacker: usize) -> Arena {
        let members = net.swarm(&victim);
        let (mut swarm, mut others, mut metrics) = (Vec::new(), Vec::new(), Vec::new());
        for slot in &net.slots {
            let Some(node) = &slot.node else { continue };
            metrics.push(node.context().metrics.clone());
            let t = Target {
                peer: slot.peer,
                addr: slot.addr.clone(),
            };
            if members.contains(&slot.node_id) {
                swarm.push(t);
            } else {
                others.push(t);
            }
        }
        let origin = net.dialer_origin(attacker);
        Arena {
            params: net.params.clone(),
            victim,
            swarm,
            others,
            origin,
            nodes: metrics.len(),
            metrics,
        }
    }

    /// The node the `i`th request of an attack goes to: two in three to the
    /// victim's swarm, round robin, when `spread`; else only the swarm.
    pub fn target(&self, i: usize, spread: bool) -> Option<&Target> {
        if spread && i % 3 == 2 && !self.others.is_empty() {
            self.others.get((i / 3) % self.others.len())
        } else if self.swarm.is_empty() {
            None
        } else {
            self.swarm.get(i % self.swarm.len())
        }
    }

    /// The counters an attack is judged by, summed over the nodes.
    pub fn readings(&self) -> Readings {
        let mut out = Readings::new();
        for &(f, a, b) in COUNTERS {
            let sum = self
                .metrics
                .iter()
                .filter_map(|m| family(m, f))
                .map(|fam| fam.get(a, b))
                .sum();
            let key = if b.is_empty() {
                format!("{f}.{a}")
            } else {
                format!("{f}.{a}.{b}")
            };
            out.insert(key, sum);
        }
        out
    }

    /// The most peers any node is connected to now.
    pub fn peak_peers(&self) -> u64 {
        self.metrics
            .iter()
            .map(|m| u64::try_from(m.connected_peers.get()).unwrap_or(0))
            .max()
            .unwrap_or(0)
    }

    /// The fewest and the most records a node's directory holds now: every
    /// honest node should list exactly the `nodes` of the net (fewer: honest
    /// records were lost; more: a forged record got in).
    pub fn directory_sizes(&self) -> (u64, u64) {
        let sizes = self
            .metrics
            .iter()
            .map(|m| u64::try_from(m.directory_nodes.get()).unwrap_or(0));
        let min = sizes.clone().min().unwrap_or(0);
        (min, sizes.max().unwrap_or(0))
    }

    /// How many nodes were running when the attack was set up.
    pub fn node_count(&self) -> u64 {
        self.nodes as u64
    }
}

/// The counters that rose from `before` to `after`, by how much.
pub fn rises(before: &Readings, after: &Readings) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let rise = v.saturating_sub(before.get(k).copied().unwrap_or(0));
            (rise > 0).then(|| (k.clone(), rise))
        })
        .collect()
}

#[cfg(test)]
impl Arena {
    /// An arena with no nodes, for tests of what an attacker makes.
    pub fn empty(params: NetworkParams, victim: AccountId) -> Arena {
        Arena {
            params,
            victim,
            swarm: Vec::new(),
            others: Vec::new(),
            origin: None,
            metrics: Vec::new(),
            nodes: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_counters_that_rose_are_reported() {
        let before: Readings = [("a".to_string(), 3), ("b".to_string(), 5)].into();
        let after: Readings = [
            ("a".to_string(), 3),
            ("b".to_string(), 9),
            ("c".to_string(), 1),
        ]
        .into();
        let r = rises(&before, &after);
        assert_eq!(r.get("a"), None);
        assert_eq!(r.get("b"), Some(&4));
        assert_eq!(r.get("c"), Some(&1));
    }
}
