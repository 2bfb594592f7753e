//! The storage receipts this node has collected from its co-members, kept to
//! catch a member that signed for a message and later does not hold it.
//!
//! A member's receipt says "I hold it". Anti-entropy later lists what the
//! member holds; if the member lacks a live message it signed for (not
//! deleted: a tombstone would show; not expired: only live items are
//! compared, and only items this node expects to live longer than the
//! clocks' tolerance; not moved: anti-entropy only compares accounts both
//! serve), it acknowledged and dropped it. One such item can still be an
//! honest race (an owner's shortened expiry that reached the member first);
//! [`CAUGHT_AFTER`] of them within [`AVOID_FOR`] cannot be, for a member
//! that keeps what it signs. Such a member is *caught*: for
//! [`AVOID_FOR`] its receipts count toward no store's quorum on this node,
//! so stores wait for other members, and the client gets receipts of members
//! that keep what they sign for. Counted `rejected{anti_entropy,
//! receipt_broken}` and logged.
//!
//! Bounded: at most [`PER_PEER`] receipts per member (the oldest go first)
//! and [`MAX_PEERS`] members; memory is at most about 4 MiB.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use libp2p::PeerId;
use sotto_protocol::AccountId;
use sotto_protocol::rpc::MessageHash;

/// Receipts remembered per member.
pub const PER_PEER: usize = 4_096;
/// Members remembered (a swarm's co-members over every account held).
pub const MAX_PEERS: usize = 1_024;
/// How long a caught member's receipts do not count, and the window its
/// broken receipts are summed over.
pub const AVOID_FOR: Duration = Duration::from_secs(3_600);
/// Broken receipts within [`AVOID_FOR`] that catch a member.
pub const CAUGHT_AFTER: usize = 3;

type Item = (AccountId, MessageHash);

#[derive(Debug, Default)]
struct Signed {
    order: VecDeque<Item>,
    set: HashSet<Item>,
}

/// Receipts by member, and the members caught.
#[derive(Debug, Default)]
pub struct Witnessed {
    by_peer: HashMap<PeerId, Signed>,
    /// Broken receipts per member since the first one of the window.
    strikes: HashMap<PeerId, (usize, Instant)>,
    caught: HashMap<PeerId, Instant>,
}

impl Witnessed {
    /// Remembers that `peer` signed a receipt for `item`.
    pub fn record(&mut self, peer: PeerId, item: Item) {
        if !self.by_peer.contains_key(&peer) && self.by_peer.len() >= MAX_PEERS {
            return;
        }
        let signed = self.by_peer.entry(peer).or_default();
        if signed.set.insert(item) {
            signed.order.push_back(item);
        }
        while signed.order.len() > PER_PEER {
            if let Some(old) = signed.order.pop_front() {
                signed.set.remove(&old);
            }
        }
    }

    /// Of `lacking` (live items `peer` does not hold), how many it had
    /// signed for; once [`CAUGHT_AFTER`] have been found within
    /// [`AVOID_FOR`], `peer` is caught from `now` on. They are forgotten
    /// (counted once).
    pub fn broken(&mut self, peer: PeerId, lacking: &[Item], now: Instant) -> usize {
        let Some(signed) = self.by_peer.get_mut(&peer) else {
            return 0;
        };
        let mut n = 0;
        for item in lacking {
            if signed.set.remove(item) {
                n += 1;
            }
        }
        if n > 0 {
            signed.order.retain(|i| signed.set.contains(i));
            let strikes = self.strikes.entry(peer).or_insert((0, now));
            if now.duration_since(strikes.1) >= AVOID_FOR {
                *strikes = (0, now);
            }
            strikes.0 += n;
            if strikes.0 >= CAUGHT_AFTER {
                self.caught.insert(peer, now);
            }
        }
        n
    }

    /// Whether `peer` was caught within [`AVOID_FOR`] of `now`.
    pub fn is_caught(&mut self, peer: &PeerId, now: Instant) -> bool {
        match self.caught.get(peer) {
            Some(at) if now.duration_since(*at) < AVOID_FOR => true,
            Some(_) => {
                self.caught.remove(peer);
                false
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(n: u8) -> Item {
        let account = sotto_protocol::AccountKey::from_entropy([n; 16]).account_id();
        (account, MessageHash([n; 32]))
    }

    #[test]
    fn a_member_that_lacks_what_it_signed_for_is_caught_for_a_while() {
        let mut w = Witnessed::default();
        let (honest, liar) = (PeerId::random(), PeerId::random());
        let now = Instant::now();
        w.record(honest, item(1));
        w.record(honest, item(4));
        for n in 1..=3 {
            w.record(liar, item(n));
        }
        // Lacking what it never signed for is no proof of anything.
        assert_eq!(w.broken(honest, &[item(2)], now), 0);
        assert!(!w.is_caught(&honest, now));
        // One broken receipt may be an honest race: not caught yet.
        assert_eq!(w.broken(honest, &[item(4)], now), 1);
        assert!(!w.is_caught(&honest, now));
        assert_eq!(
            w.broken(liar, &[item(1), item(2), item(3), item(5)], now),
            3
        );
        assert!(w.is_caught(&liar, now));
        assert!(w.is_caught(&liar, now + AVOID_FOR - Duration::from_secs(1)));
        assert!(!w.is_caught(&liar, now + AVOID_FOR));
        // Counted once.
        assert_eq!(w.broken(liar, &[item(1)], now), 0);
    }

    #[test]
    fn memory_is_bounded_per_member_and_in_members() {
        let mut w = Witnessed::default();
        let p = PeerId::random();
        for i in 0..(PER_PEER + 10) {
            let mut h = [0u8; 32];
            h[..8].copy_from_slice(&(i as u64).to_le_bytes());
            w.record(p, (item(1).0, MessageHash(h)));
        }
        let s = &w.by_peer[&p];
        assert_eq!((s.order.len(), s.set.len()), (PER_PEER, PER_PEER));
        for _ in 0..MAX_PEERS + 5 {
            w.record(PeerId::random(), item(2));
        }
        assert_eq!(w.by_peer.len(), MAX_PEERS);
    }
}
