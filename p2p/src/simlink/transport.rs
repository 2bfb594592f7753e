//! The memory transport with simulated links on the connections it dials.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures::FutureExt;
use futures::future::{BoxFuture, Ready, ready};
use libp2p::core::transport::memory::MemoryTransportError;
use libp2p::core::transport::{
    DialOpts, ListenerId, MemoryTransport, TransportError, TransportEvent,
};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, Transport};

use super::{Linked, link_between};

/// libp2p's [`MemoryTransport`], with the connections it dials delayed as the
/// model attached to its endpoint says.
#[derive(Default)]
pub(crate) struct LinkedMemory {
    inner: MemoryTransport,
    /// This swarm's endpoint: given, or its first listen port.
    origin: Option<u64>,
}

impl LinkedMemory {
    /// A transport whose endpoint is `origin`, or its first listen port when
    /// `None`.
    pub(crate) fn new(origin: Option<u64>) -> Self {
        Self {
            inner: MemoryTransport::default(),
            origin,
        }
    }
}

/// The port of a `/memory/<port>` address (0 when it has none).
fn memory_port(addr: &Multiaddr) -> u64 {
    addr.iter()
        .find_map(|p| match p {
            Protocol::Memory(port) => Some(port),
            _ => None,
        })
        .unwrap_or(0)
}

impl Transport for LinkedMemory {
    type Output = Linked;
    type Error = MemoryTransportError;
    type ListenerUpgrade = Ready<Result<Linked, MemoryTransportError>>;
    type Dial = BoxFuture<'static, Result<Linked, MemoryTransportError>>;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        let port = memory_port(&addr);
        if self.origin.is_none() && port != 0 {
            self.origin = Some(port);
        }
        self.inner.listen_on(id, addr)
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.inner.remove_listener(id)
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        let link = self
            .origin
            .and_then(|from| link_between(from, memory_port(&addr)));
        let dial = self.inner.dial(addr, opts)?;
        Ok(async move {
            let channel = dial.await?;
            Ok(match link {
                Some(link) => Linked::delayed(channel, link).await,
                None => Linked::plain(channel),
            })
        }
        .boxed())
    }

    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        Pin::new(&mut self.get_mut().inner).poll(cx).map(|event| {
            event.map_upgrade(|upgrade| ready(upgrade.into_inner().map(Linked::plain)))
        })
    }
}
