//! Forwards parked at this relay: a packet sent on to the next hop whose
//! answer is still to come. A parked forward gives its request's in-flight
//! slot back (the wait is on the next hop, not on this node's work), so it is
//! bounded here instead: in all, and per previous hop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use libp2p::PeerId;

/// Why a forward could not be parked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParkRefused {
    /// The relay has its most forwards waiting.
    #[error("too many forwards waiting at this relay")]
    Full,
    /// The previous hop has its most forwards waiting here.
    #[error("too many forwards of the previous hop waiting at this relay")]
    PerHop,
}

impl ParkRefused {
    /// The metrics label.
    pub fn reason(self) -> &'static str {
        match self {
            ParkRefused::Full => "forwards_full",
            ParkRefused::PerHop => "forwards_per_hop",
        }
    }
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_hop: HashMap<PeerId, usize>,
}

/// The count of parked forwards, in all and per previous hop.
#[derive(Debug)]
pub struct ParkedForwards {
    counts: Arc<Mutex<Counts>>,
    max_total: usize,
    max_per_hop: usize,
}

/// One parked forward; dropping it gives its place back. It owns a share
/// of the counts, so it can travel with the forward's callback.
#[derive(Debug)]
pub struct Parked {
    counts: Arc<Mutex<Counts>>,
    hop: PeerId,
}

impl ParkedForwards {
    /// At most `max_total` forwards waiting, `max_per_hop` of one previous hop.
    pub fn new(max_total: usize, max_per_hop: usize) -> Self {
        Self {
            counts: Arc::new(Mutex::new(Counts::default())),
            max_total,
            max_per_hop,
        }
    }

    /// Takes a place for a forward that came from `hop`.
    pub fn park(&self, hop: PeerId) -> Result<Parked, ParkRefused> {
        let mut c = super::lock(&self.counts);
        if c.total >= self.max_total {
            return Err(ParkRefused::Full);
        }
        let of_hop = c.per_hop.get(&hop).copied().unwrap_or(0);
        if of_hop >= self.max_per_hop {
            return Err(ParkRefused::PerHop);
        }
        c.per_hop.insert(hop, of_hop.saturating_add(1));
        c.total = c.total.saturating_add(1);
        Ok(Parked {
            counts: self.counts.clone(),
            hop,
        })
    }

    /// Forwards waiting now.
    pub fn len(&self) -> usize {
        super::lock(&self.counts).total
    }

    /// Whether no forward waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        let mut c = super::lock(&self.counts);
        if let Some(n) = c.per_hop.get_mut(&self.hop) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_hop.remove(&self.hop);
            }
            c.total = c.total.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_in_all_and_per_hop_and_places_come_back() {
        let f = ParkedForwards::new(3, 2);
        let (a, b) = (PeerId::random(), PeerId::random());
        let a1 = f.park(a).unwrap();
        let _a2 = f.park(a).unwrap();
        assert_eq!(f.park(a).unwrap_err(), ParkRefused::PerHop);
        let _b1 = f.park(b).unwrap();
        assert_eq!(f.park(b).unwrap_err(), ParkRefused::Full);
        assert_eq!(f.len(), 3);
        drop(a1);
        assert_eq!(f.len(), 2);
        let _a3 = f.park(a).unwrap();
        assert_eq!(f.park(PeerId::random()).unwrap_err(), ParkRefused::Full);
    }

    #[test]
    fn nothing_is_left_behind() {
        let f = ParkedForwards::new(8, 8);
        let hops: Vec<PeerId> = (0..4).map(|_| PeerId::random()).collect();
        let parked: Vec<_> = hops.iter().map(|h| f.park(*h).unwrap()).collect();
        drop(parked);
        assert!(f.is_empty());
        assert!(super::super::lock(&f.counts).per_hop.is_empty());
    }
}
