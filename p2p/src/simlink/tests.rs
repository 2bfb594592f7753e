//! The delays a simulated link puts on a memory connection, on tokio's paused
//! clock (virtual time: nothing here waits for real).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::future::poll_fn;
use futures::{AsyncReadExt, AsyncWriteExt};
use libp2p::Transport;
use libp2p::core::transport::{DialOpts, ListenerId, PortUse, TransportEvent};
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::multiaddr::Protocol;
use tokio::time::Instant;

use super::*;

#[derive(Debug)]
struct Fixed(Link, u64);

impl LinkModel for Fixed {
    fn link(&self, _from: u64, to: u64) -> Option<Link> {
        (to == self.1).then_some(self.0)
    }
}

fn dial_opts() -> DialOpts {
    DialOpts {
        role: Endpoint::Dialer,
        port_use: PortUse::New,
    }
}

/// Listens on a fresh port and dials it from endpoint `origin`; returns the
/// dialer's and the listener's ends.
async fn connect(origin: u64, model: Option<(Link, u64)>) -> (Linked, Linked, Option<Attached>) {
    let port = origin + 1;
    let mut listener = LinkedMemory::new(None);
    let addr = Multiaddr::empty().with(Protocol::Memory(port));
    assert!(listener.listen_on(ListenerId::next(), addr.clone()).is_ok());
    let attached = model.map(|(link, to)| attach(origin, Arc::new(Fixed(link, to))));
    let mut dialer = LinkedMemory::new(Some(origin));
    let Ok(dial) = dialer.dial(addr, dial_opts()) else {
        panic!("dial refused");
    };
    let dialed = tokio::spawn(dial);
    let incoming = loop {
        let event = poll_fn(|cx| Pin::new(&mut listener).poll(cx)).await;
        if let TransportEvent::Incoming { upgrade, .. } = event {
            break upgrade.await;
        }
    };
    let (Ok(Ok(dialer_end)), Ok(listener_end)) = (dialed.await, incoming) else {
        panic!("connection failed");
    };
    (dialer_end, listener_end, attached)
}

const ORIGIN_BASE: u64 = 9_000_000_000;

#[tokio::test(start_paused = true)]
async fn each_direction_pays_the_one_way_delay_and_setup_a_round_trip() {
    let origin = ORIGIN_BASE;
    let link = Link {
        one_way: Duration::from_millis(40),
        loss: 0.0,
        retransmit: Duration::from_millis(200),
        seed: 1,
    };
    let start = Instant::now();
    let (mut a, mut b, _guard) = connect(origin, Some((link, origin + 1))).await;
    assert_eq!(start.elapsed(), Duration::from_millis(80));

    let sent = Instant::now();
    assert!(a.write_all(b"ping").await.is_ok());
    let mut buf = [0u8; 4];
    assert!(b.read_exact(&mut buf).await.is_ok());
    assert_eq!(&buf, b"ping");
    assert_eq!(sent.elapsed(), Duration::from_millis(40));

    let sent = Instant::now();
    assert!(b.write_all(b"pong").await.is_ok());
    assert!(a.read_exact(&mut buf).await.is_ok());
    assert_eq!(&buf, b"pong");
    assert_eq!(sent.elapsed(), Duration::from_millis(40));

    // The end of the connection travels too, after the bytes before it (as
    // over the plain memory transport, the far end sees it once this end is
    // dropped).
    assert!(a.write_all(b"last").await.is_ok());
    assert!(a.close().await.is_ok());
    drop(a);
    let mut rest = Vec::new();
    assert!(b.read_to_end(&mut rest).await.is_ok());
    assert_eq!(rest, b"last");
}

#[tokio::test(start_paused = true)]
async fn a_lost_chunk_comes_one_retransmission_late_and_in_order() {
    let origin = ORIGIN_BASE + 10;
    let link = Link {
        one_way: Duration::from_millis(10),
        loss: 1.0,
        retransmit: Duration::from_millis(200),
        seed: 7,
    };
    let (mut a, mut b, _guard) = connect(origin, Some((link, origin + 1))).await;
    let sent = Instant::now();
    assert!(a.write_all(b"one").await.is_ok());
    assert!(a.write_all(b"two").await.is_ok());
    let mut buf = [0u8; 6];
    assert!(b.read_exact(&mut buf).await.is_ok());
    assert_eq!(&buf, b"onetwo");
    assert_eq!(sent.elapsed(), Duration::from_millis(210));
}

#[tokio::test(start_paused = true)]
async fn endpoints_without_a_model_are_not_delayed() {
    let origin = ORIGIN_BASE + 20;
    let start = Instant::now();
    // A model that knows another listener only.
    let link = Link {
        one_way: Duration::from_millis(40),
        loss: 0.0,
        retransmit: Duration::from_millis(200),
        seed: 1,
    };
    let (mut a, mut b, _guard) = connect(origin, Some((link, 1))).await;
    assert!(a.write_all(b"hi").await.is_ok());
    let mut buf = [0u8; 2];
    assert!(b.read_exact(&mut buf).await.is_ok());
    assert_eq!(start.elapsed(), Duration::ZERO);
    let (mut a, mut b, _) = connect(origin + 2, None).await;
    assert!(b.write_all(b"yo").await.is_ok());
    assert!(a.read_exact(&mut buf).await.is_ok());
    assert_eq!(start.elapsed(), Duration::ZERO);
}
