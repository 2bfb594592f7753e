//! Connection bounds that `connection_limits` does not have: per IP address
//! (handshakes in progress and established connections) and a share of the
//! connection slots kept for nodes of the directory. Peer ids are free, so
//! one host with fresh keys must not take every slot and stop replication.
//!
//! The strangers' share (clients, and peers of no directory) is not first
//! come, first served: when it is full, a newcomer takes the place of the
//! stranger connection that has been of least use, and the newcomer is let
//! in. "Least use": a peer that never sent a request goes before one that
//! did, and among either, the one whose last request (or, never having sent
//! one, whose connection) is oldest. Holding idle connections, however many
//! keys it makes, then keeps no client out; an attacker must send requests
//! on every connection it wants kept (each bounded by the request budgets
//! per peer and per address), and a client pushed out by a churn of fresh
//! connections gets back in by dialling again, which pushes out the idlest.
//! The rule is Bitcoin Core's inbound eviction in spirit (protect the peers
//! that were useful), reduced to what a node can measure cheaply.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::swarm::behaviour::{ConnectionEstablished, ListenFailure};
use libp2p::swarm::{
    CloseConnection, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour,
    THandler, THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
};

use super::PeerRoles;
use super::event_loop::ip_of;
use crate::metrics::Metrics;

/// The bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuardLimits {
    /// Most inbound handshakes in progress from one address.
    pub pending_per_ip: usize,
    /// Most established connections of peers at one address (directory
    /// nodes not counted: several may share a host).
    pub established_per_ip: usize,
    /// Most established connections in all (the swarm's own bound).
    pub max_connections: usize,
    /// Of those, how many only directory nodes may take.
    pub reserved_for_nodes: usize,
}

/// Why an inbound connection was refused.
#[derive(Debug, thiserror::Error)]
#[error("connection refused: {0}")]
pub struct Refused(&'static str);

/// An inbound connection of a peer that is not a directory node.
#[derive(Clone, Copy, Debug)]
struct Stranger {
    peer: PeerId,
    since: Instant,
}

/// The behaviour: it never opens anything, only refuses and evicts.
pub struct Guard {
    limits: GuardLimits,
    roles: Arc<PeerRoles>,
    metrics: Arc<Metrics>,
    pending: HashMap<ConnectionId, IpAddr>,
    pending_per_ip: HashMap<IpAddr, usize>,
    /// Established connections counted against an address.
    counted: HashMap<ConnectionId, IpAddr>,
    per_ip: HashMap<IpAddr, usize>,
    established: usize,
    /// The strangers' inbound connections, candidates for eviction.
    strangers: HashMap<ConnectionId, Stranger>,
    /// How many of `strangers` each peer has.
    per_stranger: HashMap<PeerId, usize>,
    /// When each stranger with a connection last sent a request.
    last_request: HashMap<PeerId, Instant>,
    /// Connections chosen for eviction and not closed yet.
    evicted: HashSet<ConnectionId>,
    /// Of those, the ones still to hand to the swarm to close.
    to_close: VecDeque<(PeerId, ConnectionId)>,
    waker: Option<Waker>,
}

fn inc(map: &mut HashMap<IpAddr, usize>, ip: IpAddr) {
    *map.entry(ip).or_insert(0) += 1;
}

fn dec(map: &mut HashMap<IpAddr, usize>, ip: IpAddr) {
    if let Some(n) = map.get_mut(&ip) {
        *n = n.saturating_sub(1);
        if *n == 0 {
            map.remove(&ip);
        }
    }
}

impl Guard {
    /// A guard with `limits`, asking `roles` which peers are nodes.
    pub fn new(limits: GuardLimits, roles: Arc<PeerRoles>, metrics: Arc<Metrics>) -> Self {
        Self {
            limits,
            roles,
            metrics,
            pending: HashMap::new(),
            pending_per_ip: HashMap::new(),
            counted: HashMap::new(),
            per_ip: HashMap::new(),
            established: 0,
            strangers: HashMap::new(),
            per_stranger: HashMap::new(),
            last_request: HashMap::new(),
            evicted: HashSet::new(),
            to_close: VecDeque::new(),
            waker: None,
        }
    }

    /// `peer` sent a request: its connections are of use, and are the last
    /// of the strangers' to be evicted.
    pub fn saw_request(&mut self, peer: PeerId) {
        if self.per_stranger.contains_key(&peer) {
            self.last_request.insert(peer, Instant::now());
        }
    }

    /// The stranger connection of least use (see the module docs), not
    /// already being closed. A peer that has become a directory node since
    /// it connected (a node joining the network) is no stranger any more.
    fn least_useful(&self) -> Option<(PeerId, ConnectionId)> {
        self.strangers
            .iter()
            .filter(|(id, s)| !self.evicted.contains(*id) && !self.roles.is_node(&s.peer))
            .min_by_key(|(_, s)| match self.last_request.get(&s.peer) {
                None => (false, s.since),
                Some(at) => (true, *at),
            })
            .map(|(id, s)| (s.peer, *id))
    }

    /// Chooses a stranger connection to close for a newcomer; `false` if
    /// there is none to close.
    fn evict_one(&mut self) -> bool {
        let Some(chosen) = self.least_useful() else {
            return false;
        };
        self.metrics.rejected.inc("net", "connections_evicted");
        self.evicted.insert(chosen.1);
        self.to_close.push_back(chosen);
        if let Some(w) = self.waker.take() {
            w.wake();
        }
        true
    }

    fn forget_stranger(&mut self, id: ConnectionId) {
        let Some(s) = self.strangers.remove(&id) else {
            return;
        };
        if self.evicted.remove(&id) {
            self.to_close.retain(|(_, e)| *e != id);
        }
        if let Some(n) = self.per_stranger.get_mut(&s.peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_stranger.remove(&s.peer);
                self.last_request.remove(&s.peer);
            }
        }
    }

    fn refuse(&self, reason: &'static str) -> ConnectionDenied {
        self.metrics.rejected.inc("net", reason);
        ConnectionDenied::new(Refused(reason))
    }

    fn end_pending(&mut self, id: ConnectionId) {
        if let Some(ip) = self.pending.remove(&id) {
            dec(&mut self.pending_per_ip, ip);
        }
    }
}

impl NetworkBehaviour for Guard {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(ip) = ip_of(remote) else {
            return Ok(());
        };
        if self.pending_per_ip.get(&ip).copied().unwrap_or(0) >= self.limits.pending_per_ip {
            return Err(self.refuse("handshakes_per_ip"));
        }
        inc(&mut self.pending_per_ip, ip);
        self.pending.insert(id, ip);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.end_pending(id);
        if self.roles.is_node(&peer) {
            return Ok(dummy::ConnectionHandler);
        }
        let open = self
            .limits
            .max_connections
            .saturating_sub(self.limits.reserved_for_nodes);
        let ip = ip_of(remote);
        if let Some(ip) = ip
            && self.per_ip.get(&ip).copied().unwrap_or(0) >= self.limits.established_per_ip
        {
            return Err(self.refuse("connections_per_ip"));
        }
        // Connections chosen for eviction are as good as closed.
        let held = self.established.saturating_sub(self.evicted.len());
        if held >= open && !self.evict_one() {
            return Err(self.refuse("connections_reserved"));
        }
        if let Some(ip) = ip {
            // Counted now: the established event of this connection may come
            // after the next handshake from the same address.
            inc(&mut self.per_ip, ip);
            self.counted.insert(id, ip);
        }
        self.strangers.insert(
            id,
            Stranger {
                peer,
                since: Instant::now(),
            },
        );
        *self.per_stranger.entry(peer).or_insert(0) += 1;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(ConnectionEstablished { .. }) => {
                self.established = self.established.saturating_add(1);
            }
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => {
                self.established = self.established.saturating_sub(1);
                if let Some(ip) = self.counted.remove(&connection_id) {
                    dec(&mut self.per_ip, ip);
                }
                self.forget_stranger(connection_id);
            }
            FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.end_pending(connection_id);
                // Refused by another behaviour after this one counted it.
                if let Some(ip) = self.counted.remove(&connection_id) {
                    dec(&mut self.per_ip, ip);
                }
                self.forget_stranger(connection_id);
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        _peer: PeerId,
        _id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        match event {}
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some((peer_id, id)) = self.to_close.pop_front() {
            return Poll::Ready(ToSwarm::CloseConnection {
                peer_id,
                connection: CloseConnection::One(id),
            });
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
