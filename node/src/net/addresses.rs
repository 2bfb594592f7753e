//! Where the nodes of the directory can be dialled: the addresses their
//! verified records name (and the bootstrap list), for every dial by peer id
//! (a replication push, an onion hop, a directory pull to a node not
//! connected now).
//!
//! libp2p's request-response keeps the last 100 peers' addresses, fewer
//! than a directory holds; Kademlia used to hold the rest, but it is gone
//! (see `crate::overlay`). This book holds as many peers as a directory may,
//! filled only by [`AddressBook::add`] (the addresses of verified records and
//! of the bootstrap list), never from what a peer claims over identify or
//! any other behaviour reports: a peer could otherwise make nodes dial the
//! addresses it likes. An address that fails a dial stays: it is the one the
//! node signed, a node down for a while is dialled there again when it is
//! back, and a newer record brings its new addresses.

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

    /// Notes that `peer` can be dialled at `addr` (a `/p2p/` suffix naming
    /// another peer is refused). The most recently added addresses of a peer
    /// are kept, ten at most.
    pub fn add(&mut self, peer: PeerId, addr: Multiaddr) {
        self.0.add(peer, addr);
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

    fn on_swarm_event(&mut self, _event: FromSwarm) {
        // Nothing the swarm reports goes in (see the module docs).
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

#[cfg(test)]
mod tests {
    use libp2p::swarm::behaviour::NewExternalAddrOfPeer;

    use super::*;

    fn dial_addrs(book: &mut AddressBook, peer: PeerId) -> Vec<Multiaddr> {
        book.handle_pending_outbound_connection(
            ConnectionId::new_unchecked(1),
            Some(peer),
            &[],
            Endpoint::Dialer,
        )
        .unwrap()
    }

    #[test]
    fn dials_find_the_added_addresses_and_nothing_a_peer_claimed() {
        let mut book = AddressBook::new();
        let (node, claimer) = (PeerId::random(), PeerId::random());
        let signed: Multiaddr = "/ip4/10.0.0.1/tcp/4100".parse().unwrap();
        book.add(node, signed.clone());
        // What identify (or any behaviour) reports a peer claims is not taken,
        // neither for a new peer nor as another address of a known one.
        let claimed: Multiaddr = "/ip4/192.0.2.7/tcp/80".parse().unwrap();
        for peer in [node, claimer] {
            book.on_swarm_event(FromSwarm::NewExternalAddrOfPeer(NewExternalAddrOfPeer {
                peer_id: peer,
                addr: &claimed,
            }));
        }
        // The book names the peer in what it hands the dialer.
        let with_peer = signed.with(libp2p::multiaddr::Protocol::P2p(node));
        assert_eq!(dial_addrs(&mut book, node), vec![with_peer]);
        assert!(dial_addrs(&mut book, claimer).is_empty());
    }
}
