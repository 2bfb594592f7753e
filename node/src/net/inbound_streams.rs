//! A behaviour that only accepts inbound streams of one protocol and hands
//! each, with its peer, to the swarm task as an event, unread. The swarm task
//! passes them to the replication stream acceptor (`streams`), which decides
//! before reading anything whether the peer may send there.
//!
//! Streams travel as swarm events, so a burst is queued by the connection's
//! own channel instead of being reset (as `libp2p-stream` does when its
//! one-place channel is taken); both queues here are bounded all the same.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::task::{Context, Poll, Waker};

use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::{DeniedUpgrade, ReadyUpgrade};
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::swarm::handler::{ConnectionEvent, FullyNegotiatedInbound};
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm,
    NetworkBehaviour, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{PeerId, Stream, StreamProtocol};

/// Streams one connection may have negotiated and not yet handed over.
const MAX_READY_PER_CONNECTION: usize = 64;
/// Streams handed over by connections and not yet taken by the swarm task.
const MAX_QUEUED: usize = 1024;

/// Accepts inbound streams of `protocol` (it never opens any).
pub struct InboundStreams {
    protocol: StreamProtocol,
    queue: VecDeque<(PeerId, Stream)>,
    waker: Option<Waker>,
}

impl InboundStreams {
    /// Accepts `protocol`.
    pub fn new(protocol: StreamProtocol) -> Self {
        Self {
            protocol,
            queue: VecDeque::new(),
            waker: None,
        }
    }

    fn handler(&self) -> Handler {
        Handler {
            protocol: self.protocol.clone(),
            ready: VecDeque::new(),
            waker: None,
        }
    }
}

impl NetworkBehaviour for InboundStreams {
    type ConnectionHandler = Handler;
    type ToSwarm = (PeerId, Stream);

    fn handle_established_inbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler())
    }

    fn handle_established_outbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(self.handler())
    }

    fn on_swarm_event(&mut self, _event: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        _id: ConnectionId,
        stream: THandlerOutEvent<Self>,
    ) {
        // Over the bound the stream is dropped, which resets it.
        if self.queue.len() < MAX_QUEUED {
            self.queue.push_back((peer, stream));
            if let Some(w) = self.waker.take() {
                w.wake();
            }
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        match self.queue.pop_front() {
            Some(item) => Poll::Ready(ToSwarm::GenerateEvent(item)),
            None => {
                self.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// The connection side: negotiated streams, handed to the behaviour.
pub struct Handler {
    protocol: StreamProtocol,
    ready: VecDeque<Stream>,
    waker: Option<Waker>,
}

impl ConnectionHandler for Handler {
    type FromBehaviour = Infallible;
    type ToBehaviour = Stream;
    type InboundProtocol = ReadyUpgrade<StreamProtocol>;
    type OutboundProtocol = DeniedUpgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol> {
        SubstreamProtocol::new(ReadyUpgrade::new(self.protocol.clone()), ())
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Self::ToBehaviour>> {
        match self.ready.pop_front() {
            Some(stream) => Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(stream)),
            None => {
                self.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        match event {}
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<Self::InboundProtocol, Self::OutboundProtocol>,
    ) {
        if let ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
            protocol: stream,
            ..
        }) = event
            && self.ready.len() < MAX_READY_PER_CONNECTION
        {
            self.ready.push_back(stream);
            if let Some(w) = self.waker.take() {
                w.wake();
            }
        }
    }
}
