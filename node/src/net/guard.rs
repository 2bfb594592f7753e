//! Connection bounds that `connection_limits` does not have: per IP address
//! (handshakes in progress and established connections) and a share of the
//! connection slots kept for nodes of the directory. Peer ids are free, so
//! one host with fresh keys must not take every slot and stop replication.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::swarm::behaviour::{ConnectionEstablished, ListenFailure};
use libp2p::swarm::{
    ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler,
    THandlerInEvent, THandlerOutEvent, ToSwarm, dummy,
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

/// The behaviour: it never opens anything, only refuses.
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
        if self.established >= open {
            return Err(self.refuse("connections_reserved"));
        }
        if let Some(ip) = ip_of(remote) {
            if self.per_ip.get(&ip).copied().unwrap_or(0) >= self.limits.established_per_ip {
                return Err(self.refuse("connections_per_ip"));
            }
            // Counted now: the established event of this connection may come
            // after the next handshake from the same address.
            inc(&mut self.per_ip, ip);
            self.counted.insert(id, ip);
        }
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
            }
            FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.end_pending(connection_id);
                // Refused by another behaviour after this one counted it.
                if let Some(ip) = self.counted.remove(&connection_id) {
                    dec(&mut self.per_ip, ip);
                }
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

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
