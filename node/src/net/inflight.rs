//! Counting inbound requests in flight, per protocol, per peer, per IP address
//! and in total, so that neither one peer, nor one host with many fresh peer
//! ids, nor all of them together can make the node hold unbounded work; and
//! a share of each budget kept for nodes of the directory, so that strangers
//! cannot starve replication and relaying between nodes.

use std::collections::HashMap;
use std::net::IpAddr;

use libp2p::PeerId;

/// The bounds of one protocol's budget.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bounds {
    /// Most requests in flight in all.
    pub total: usize,
    /// Most from one peer id.
    pub per_peer: usize,
    /// Most from one IP address (peers that are not directory nodes).
    pub per_ip: usize,
    /// Of `total`, how many only directory nodes may take.
    pub reserved: usize,
}

/// Why a request got no slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The budget (or its share open to strangers) is used up.
    Total,
    /// This peer id has its most in flight.
    Peer,
    /// This IP address has its most in flight.
    Ip,
}

impl Refused {
    /// The metrics label.
    pub fn reason(self) -> &'static str {
        match self {
            Refused::Total => "busy",
            Refused::Peer => "busy_peer",
            Refused::Ip => "busy_ip",
        }
    }
}

/// What a request holds, to be given back with [`InFlight::release`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    peer: PeerId,
    /// The address counted, if one was.
    ip: Option<IpAddr>,
}

/// Slots for inbound requests being handled. A slot is taken when a request
/// is handed to the node and given back when its answer is sent, abandoned or
/// parked.
#[derive(Debug)]
pub struct InFlight {
    per_peer: HashMap<PeerId, usize>,
    per_ip: HashMap<IpAddr, usize>,
    total: usize,
    bounds: Bounds,
}

impl InFlight {
    /// A budget with `bounds`.
    pub fn new(bounds: Bounds) -> Self {
        Self {
            per_peer: HashMap::new(),
            per_ip: HashMap::new(),
            total: 0,
            bounds,
        }
    }

    /// Takes a slot for `peer` connected from `ip` (none known: a memory
    /// transport); `node` when it is a node of the directory, which may use
    /// the reserved share and is not bounded by address (several nodes may
    /// share a host).
    pub fn try_acquire(
        &mut self,
        peer: PeerId,
        ip: Option<IpAddr>,
        node: bool,
    ) -> Result<Slot, Refused> {
        let b = self.bounds;
        let open = if node {
            b.total
        } else {
            b.total.saturating_sub(b.reserved)
        };
        if self.total >= open {
            return Err(Refused::Total);
        }
        if self.per_peer.get(&peer).copied().unwrap_or(0) >= b.per_peer {
            return Err(Refused::Peer);
        }
        let ip = if node { None } else { ip };
        if let Some(ip) = ip
            && self.per_ip.get(&ip).copied().unwrap_or(0) >= b.per_ip
        {
            return Err(Refused::Ip);
        }
        *self.per_peer.entry(peer).or_insert(0) += 1;
        if let Some(ip) = ip {
            *self.per_ip.entry(ip).or_insert(0) += 1;
        }
        self.total += 1;
        Ok(Slot { peer, ip })
    }

    /// Gives back `slot`. Peers and addresses with no request left are
    /// forgotten, so the maps never grow past the requests really in flight.
    pub fn release(&mut self, slot: Slot) {
        let Some(count) = self.per_peer.get_mut(&slot.peer) else {
            return;
        };
        *count = count.saturating_sub(1);
        if *count == 0 {
            self.per_peer.remove(&slot.peer);
        }
        self.total = self.total.saturating_sub(1);
        if let Some(ip) = slot.ip
            && let Some(count) = self.per_ip.get_mut(&ip)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                self.per_ip.remove(&ip);
            }
        }
    }

    /// Requests in flight in all.
    #[cfg(test)]
    pub fn total(&self) -> usize {
        self.total
    }

    /// Requests in flight from `peer`.
    pub fn of_peer(&self, peer: &PeerId) -> usize {
        self.per_peer.get(peer).copied().unwrap_or(0)
    }

    /// Peers and addresses with a request in flight.
    #[cfg(test)]
    pub fn sources(&self) -> (usize, usize) {
        (self.per_peer.len(), self.per_ip.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bounds(total: usize, per_peer: usize, per_ip: usize, reserved: usize) -> Bounds {
        Bounds {
            total,
            per_peer,
            per_ip,
            reserved,
        }
    }

    const HOST: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)));

    #[test]
    fn per_peer_bound() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut f = InFlight::new(bounds(10, 2, 10, 0));
        let s = f.try_acquire(a, None, false).unwrap();
        f.try_acquire(a, None, false).unwrap();
        assert_eq!(f.try_acquire(a, None, false), Err(Refused::Peer));
        f.try_acquire(b, None, false).unwrap();
        assert_eq!((f.of_peer(&a), f.of_peer(&b), f.total()), (2, 1, 3));
        f.release(s);
        f.try_acquire(a, None, false).unwrap();
    }

    #[test]
    fn fresh_peer_ids_from_one_address_share_its_bound() {
        let mut f = InFlight::new(bounds(100, 32, 4, 0));
        for _ in 0..4 {
            f.try_acquire(PeerId::random(), HOST, false).unwrap();
        }
        assert_eq!(
            f.try_acquire(PeerId::random(), HOST, false),
            Err(Refused::Ip)
        );
        // Another address, and a directory node on the same one, still get in.
        let other = Some(IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2)));
        f.try_acquire(PeerId::random(), other, false).unwrap();
        f.try_acquire(PeerId::random(), HOST, true).unwrap();
    }

    #[test]
    fn strangers_cannot_take_the_reserved_share() {
        let mut f = InFlight::new(bounds(4, 4, 4, 2));
        f.try_acquire(PeerId::random(), None, false).unwrap();
        f.try_acquire(PeerId::random(), None, false).unwrap();
        assert_eq!(
            f.try_acquire(PeerId::random(), None, false),
            Err(Refused::Total)
        );
        let node = PeerId::random();
        f.try_acquire(node, None, true).unwrap();
        f.try_acquire(node, None, true).unwrap();
        assert_eq!(f.try_acquire(node, None, true), Err(Refused::Total));
    }

    #[test]
    fn releases_leave_nothing_behind() {
        let a = PeerId::random();
        let mut f = InFlight::new(bounds(4, 4, 4, 0));
        let slots: Vec<_> = (0..3)
            .map(|_| f.try_acquire(a, HOST, false).unwrap())
            .collect();
        for s in slots {
            f.release(s);
        }
        assert_eq!((f.total(), f.sources()), (0, (0, 0)));
        // A release of a slot never taken (a bug elsewhere) must not
        // underflow or free someone else's slot.
        let b = PeerId::random();
        f.try_acquire(b, None, false).unwrap();
        f.release(Slot { peer: a, ip: None });
        assert_eq!((f.total(), f.of_peer(&b)), (1, 1));
        // A zero per-peer bound refuses without leaving an entry.
        let mut z = InFlight::new(bounds(4, 0, 4, 0));
        assert_eq!(z.try_acquire(a, None, false), Err(Refused::Peer));
        assert_eq!(z.sources(), (0, 0));
    }
}
