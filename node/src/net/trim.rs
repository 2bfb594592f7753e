//! Closing node connections nobody uses, so that a node's connections do not
//! grow with the network.
//!
//! Gossipsub keeps a stream open on every connection to a peer of the
//! records topic, and libp2p keeps a connection open while any stream is:
//! left alone, every node another node ever asked something (a replication
//! push, a directory pull, an onion hop) stays connected for good, and a
//! long-running node ends up connected to most of the network, each
//! connection with its buffers, pings and gossip. So every
//! [`TRIM_EVERY`], when more than [`HIGH_WATER`] directory nodes are
//! connected, the node closes connections to nodes that are not in its gossip
//! mesh, have no request of theirs in flight here and have not been asked or
//! asked anything for [`IDLE`], least recently used first, until
//! [`LOW_WATER`] are left (or no more may go). Clients and other strangers
//! are left to the connection guard, which makes room among them when their
//! share is full.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// How often connections are weighed.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);
/// Connected nodes past which idle ones are closed: the gossip mesh (up to
/// 5, `GOSSIP_MESH_HIGH`), the overlay's outbound connections (8) and about
/// as many inbound fit below it, with room for swarm co-members and relay
/// hops. Each connection costs its buffers (noise, yamux, gossip queues):
/// about 100 KB a connection in the 1,000-node scenario, where 48 (with a
/// 120 s idle time) left the nodes with about 52 connections each and
/// 8.3 GB, and 32 (with 20 s) with about 29 and 5.9 GB.
pub const HIGH_WATER: usize = 32;
/// Connected nodes a trim leaves, when that many may go.
pub const LOW_WATER: usize = 24;
/// A connection used more recently than this stays. A request in flight,
/// the peer's here or this node's there, keeps its connection however long
/// it waits (an onion hop's long poll included: see the protected set in
/// the event loop's `trim_idle`), so this only spares a node that is used
/// again soon a new handshake.
pub const IDLE: Duration = Duration::from_secs(20);

/// When each connected node was last asked or asked something.
#[derive(Debug)]
pub struct Trim {
    last_used: HashMap<PeerId, Instant>,
    next: Instant,
}

impl Trim {
    /// Nothing used yet; the first pass is [`TRIM_EVERY`] after `now`.
    pub fn new(now: Instant) -> Trim {
        Trim {
            last_used: HashMap::new(),
            next: now + TRIM_EVERY,
        }
    }

    /// `peer` sent or was sent a request at `now`.
    pub fn used(&mut self, peer: PeerId, now: Instant) {
        self.last_used.insert(peer, now);
    }

    /// `peer` is no longer connected.
    pub fn forget(&mut self, peer: &PeerId) {
        self.last_used.remove(peer);
    }

    /// Forgets every peer not in `connected`.
    pub fn keep_only(&mut self, connected: &HashSet<PeerId>) {
        self.last_used.retain(|p, _| connected.contains(p));
    }

    /// Whether a pass is due at `now` (and if so, the next is scheduled).
    pub fn due(&mut self, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        self.next = now + TRIM_EVERY;
        true
    }

    /// Of the connected directory nodes `nodes`, which to disconnect at
    /// `now`: none while there are at most [`HIGH_WATER`]; otherwise those
    /// that are neither `protected` nor used within [`IDLE`] (a node never
    /// used counts from the first pass that weighed it), least recently used
    /// first, until [`LOW_WATER`] would be left.
    pub fn choose(
        &mut self,
        nodes: &[PeerId],
        protected: &HashSet<PeerId>,
        now: Instant,
    ) -> Vec<PeerId> {
        if nodes.len() <= HIGH_WATER {
            return Vec::new();
        }
        let mut idle: Vec<(Instant, PeerId)> = nodes
            .iter()
            .filter(|p| !protected.contains(p))
            .map(|p| (*self.last_used.entry(*p).or_insert(now), *p))
            .filter(|(at, _)| now.saturating_duration_since(*at) >= IDLE)
            .collect();
        idle.sort_unstable();
        idle.into_iter()
            .take(nodes.len() - LOW_WATER)
            .map(|(_, p)| p)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| PeerId::random()).collect()
    }

    #[test]
    fn nothing_closes_at_or_below_the_high_water_mark() {
        let start = Instant::now();
        let mut trim = Trim::new(start);
        let nodes = peers(HIGH_WATER);
        // Seen long ago, never used.
        for p in &nodes {
            trim.used(*p, start);
        }
        let later = start + IDLE * 10;
        assert!(trim.choose(&nodes, &HashSet::new(), later).is_empty());
    }

    #[test]
    fn idle_unprotected_nodes_go_least_recently_used_first_down_to_the_low_mark() {
        let start = Instant::now();
        let mut trim = Trim::new(start);
        let nodes = peers(HIGH_WATER + 10);
        for (i, p) in nodes.iter().enumerate() {
            trim.used(*p, start + Duration::from_secs(i as u64));
        }
        let protected: HashSet<PeerId> = nodes.iter().take(3).copied().collect();
        let now = start + IDLE + Duration::from_secs(1_000);
        let gone = trim.choose(&nodes, &protected, now);
        assert_eq!(gone.len(), nodes.len() - LOW_WATER);
        // The protected ones stay; the others go in order of last use.
        assert_eq!(gone, nodes[3..3 + gone.len()].to_vec());
    }

    #[test]
    fn recently_used_and_newly_seen_nodes_stay() {
        let start = Instant::now();
        let mut trim = Trim::new(start);
        let nodes = peers(HIGH_WATER + 20);
        let now = start + IDLE * 3;
        // Half were used a moment ago; the rest were never used, so they
        // count from now, when they are first seen.
        for p in nodes.iter().take(nodes.len() / 2) {
            trim.used(*p, now - Duration::from_secs(1));
        }
        assert!(trim.choose(&nodes, &HashSet::new(), now).is_empty());
        // Once idle long enough, the never-used ones may go.
        let gone = trim.choose(&nodes, &HashSet::new(), now + IDLE);
        assert_eq!(gone.len(), nodes.len() - LOW_WATER);
    }

    #[test]
    fn peers_no_longer_connected_are_forgotten() {
        let start = Instant::now();
        let mut trim = Trim::new(start);
        let nodes = peers(4);
        for p in &nodes {
            trim.used(*p, start);
        }
        let still: HashSet<PeerId> = nodes[..2].iter().copied().collect();
        trim.keep_only(&still);
        assert_eq!(trim.last_used.len(), 2);
        assert!(still.iter().all(|p| trim.last_used.contains_key(p)));
    }

    #[test]
    fn passes_come_every_trim_interval() {
        let start = Instant::now();
        let mut trim = Trim::new(start);
        assert!(!trim.due(start));
        assert!(trim.due(start + TRIM_EVERY));
        assert!(!trim.due(start + TRIM_EVERY + Duration::from_secs(1)));
        assert!(trim.due(start + TRIM_EVERY * 2));
    }
}
