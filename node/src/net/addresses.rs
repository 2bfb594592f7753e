//! Where the nodes of the directory can be dialled: the addresses their
//! verified records name (and the bootstrap list), for every dial by peer id
//! (a replication push, an onion hop, a directory pull to a node not
//! connected now).
//!
//! libp2p's request-response keeps the last 100 peers' addresses, fewer
//! than a directory holds; Kademlia used to hold the rest, but it is gone
//! (see `crate::overlay`). This book holds as many peers as a directory may,
//! filled only through `Swarm::add_peer_address` (verified records and the
//! bootstrap list), never from what a peer claims over identify, and it
//! drops an address a dial failed on, as libp2p's own address caches do.

use std::convert::Infallible;
use std::num::NonZeroUsize;
use std::task::{Context, Poll};

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::swarm::behaviour::PeerAddresses;
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm, dummy,
};

/// Peers whose addresses are kept, least recently added dropped first: more
/// than a directory's default bound (the directory's own cap, not this,
/// decides who is a node).
const PEERS: usize = 8_192;

/// The address book (a behaviour that only answers "where is this peer").
pub struct AddressBook(PeerAddresses);

impl AddressBook {
    /// An empty book.
    pub fn new() -> AddressBook {
        AddressBook(PeerAddresses::new(
            NonZeroUsize::new(PEERS).unwrap_or(NonZeroUsize::MIN),
        ))
    }
}

impl Default for AddressBook {
    fn default() -> Self {
        AddressBook::new()
    }
}

impl NetworkBehaviour for AddressBook {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_outbound_connection(
        &mut self,
        _id: ConnectionId,
        peer: Option<PeerId>,
        _addresses: &[Multiaddr],
        _role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        Ok(peer.map(|p| self.0.get(&p).collect()).unwrap_or_default())
    }

    fn handle_established_inbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
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
        // New addresses of peers (from `add_peer_address`) go in; addresses
        // a dial failed on come out.
        self.0.on_swarm_event(&event);
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
        _cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
