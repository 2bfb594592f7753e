//! Counting inbound requests in flight, per peer and in total, so one peer (or
//! all of them together) cannot make the node hold unbounded work.

use std::collections::HashMap;

use libp2p::PeerId;

/// Slots for inbound requests being handled. A slot is taken when a request
/// is handed to the node and given back when its answer is sent or abandoned.
#[derive(Debug)]
pub struct InFlight {
    per_peer: HashMap<PeerId, usize>,
    total: usize,
    max_total: usize,
    max_per_peer: usize,
}

impl InFlight {
    /// At most `max_total` requests at once, `max_per_peer` from one peer.
    pub fn new(max_total: usize, max_per_peer: usize) -> Self {
        Self {
            per_peer: HashMap::new(),
            total: 0,
            max_total,
            max_per_peer,
        }
    }

    /// Takes a slot for `peer`; `false` (nothing taken) when a bound is reached.
    pub fn try_acquire(&mut self, peer: PeerId) -> bool {
        if self.total >= self.max_total {
            return false;
        }
        let count = self.per_peer.entry(peer).or_insert(0);
        if *count >= self.max_per_peer {
            // Do not leave a zero entry behind for a peer refused at once.
            if *count == 0 {
                self.per_peer.remove(&peer);
            }
            return false;
        }
        *count += 1;
        self.total += 1;
        true
    }

    /// Gives back a slot of `peer`. Peers with no request left are forgotten,
    /// so the map never grows past the requests really in flight.
    pub fn release(&mut self, peer: &PeerId) {
        if let Some(count) = self.per_peer.get_mut(peer) {
            *count = count.saturating_sub(1);
            self.total = self.total.saturating_sub(1);
            if *count == 0 {
                self.per_peer.remove(peer);
            }
        }
    }

    /// Requests in flight in all.
    #[cfg(test)]
    pub fn total(&self) -> usize {
        self.total
    }

    /// Requests in flight from `peer`.
    #[cfg(test)]
    pub fn of_peer(&self, peer: &PeerId) -> usize {
        self.per_peer.get(peer).copied().unwrap_or(0)
    }

    /// Peers with a request in flight.
    #[cfg(test)]
    pub fn peers(&self) -> usize {
        self.per_peer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_peer_bound() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut f = InFlight::new(10, 2);
        assert!(f.try_acquire(a));
        assert!(f.try_acquire(a));
        assert!(!f.try_acquire(a));
        assert!(f.try_acquire(b));
        assert_eq!((f.of_peer(&a), f.of_peer(&b), f.total()), (2, 1, 3));
        f.release(&a);
        assert!(f.try_acquire(a));
    }

    #[test]
    fn total_bound() {
        let mut f = InFlight::new(2, 5);
        assert!(f.try_acquire(PeerId::random()));
        assert!(f.try_acquire(PeerId::random()));
        let c = PeerId::random();
        assert!(!f.try_acquire(c));
        assert_eq!(f.of_peer(&c), 0);
        assert_eq!(f.peers(), 2);
    }

    #[test]
    fn releases_leave_nothing_behind() {
        let a = PeerId::random();
        let mut f = InFlight::new(4, 4);
        for _ in 0..3 {
            assert!(f.try_acquire(a));
        }
        for _ in 0..3 {
            f.release(&a);
        }
        assert_eq!((f.total(), f.peers()), (0, 0));
        // A release without a slot (a bug elsewhere) must not underflow or
        // free someone else's slot.
        let b = PeerId::random();
        assert!(f.try_acquire(b));
        f.release(&a);
        assert_eq!((f.total(), f.of_peer(&b)), (1, 1));
        // A zero per-peer bound refuses without leaving an entry.
        let mut z = InFlight::new(4, 0);
        assert!(!z.try_acquire(a));
        assert_eq!(z.peers(), 0);
    }
}
