//! A memory connection whose bytes take a link's delay in each direction.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::channel::mpsc;
use futures::io::{ReadHalf, WriteHalf};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, StreamExt};
use libp2p::core::transport::memory::Channel;
use tokio::time::{Instant, Sleep};

use super::Link;

/// Chunks written but not yet handed to the far end, per connection. The
/// writer waits (as on a full TCP send buffer) when this many are in flight.
const MAX_CHUNKS_IN_FLIGHT: usize = 256;
/// Bytes received but not yet delivered, per connection: past this the
/// connection stops reading (as a full TCP receive window does).
const MAX_BYTES_ARRIVING: usize = 4 * 1024 * 1024;

/// A connection over the memory transport: plain, or delayed by a [`Link`].
pub struct Linked(State);

enum State {
    Plain(Channel<Vec<u8>>),
    Delayed(Box<Delayed>),
}

impl std::fmt::Debug for Linked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            State::Plain(_) => f.write_str("Linked::Plain"),
            State::Delayed(d) => f.debug_tuple("Linked::Delayed").field(&d.link).finish(),
        }
    }
}

/// What arrived from the far end, and when it may be read.
enum Arrival {
    /// Bytes, of which the first `.1` were read already.
    Data(Vec<u8>, usize),
    /// The far end closed.
    End,
    /// The connection failed.
    Failed(io::ErrorKind),
}

struct Delayed {
    link: Link,
    rng: u64,
    read: ReadHalf<Channel<Vec<u8>>>,
    /// Chunks for the carrier task, each with when it reaches the far end.
    out: mpsc::Sender<(Instant, Vec<u8>)>,
    last_out: Instant,
    arrived: VecDeque<(Instant, Arrival)>,
    arrived_bytes: usize,
    last_in: Instant,
    ended: bool,
    timer: Option<Pin<Box<Sleep>>>,
}

impl Linked {
    /// An undelayed connection.
    pub(crate) fn plain(channel: Channel<Vec<u8>>) -> Linked {
        Linked(State::Plain(channel))
    }

    /// A connection delayed by `link`, returned one round trip later (the
    /// cost of opening a TCP connection). Must run in a tokio runtime.
    pub(crate) async fn delayed(channel: Channel<Vec<u8>>, link: Link) -> Linked {
        tokio::time::sleep(link.one_way * 2).await;
        let (read, write) = channel.split();
        let (out, carried) = mpsc::channel(MAX_CHUNKS_IN_FLIGHT);
        tokio::spawn(carry(carried, write));
        let now = Instant::now();
        Linked(State::Delayed(Box::new(Delayed {
            link,
            rng: link.seed,
            read,
            out,
            last_out: now,
            arrived: VecDeque::new(),
            arrived_bytes: 0,
            last_in: now,
            ended: false,
            timer: None,
        })))
    }
}

/// Hands each chunk to the far end when it is due, in order; closes the far
/// end's side once the connection is closed and everything is handed over.
async fn carry(
    mut chunks: mpsc::Receiver<(Instant, Vec<u8>)>,
    mut write: WriteHalf<Channel<Vec<u8>>>,
) {
    while let Some((due, bytes)) = chunks.next().await {
        tokio::time::sleep_until(due).await;
        if write.write_all(&bytes).await.is_err() {
            return;
        }
    }
    let _ = write.close().await;
}

/// splitmix64: a small, well-mixed generator for the loss draws.
fn next_random(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Delayed {
    /// When a chunk sent now reaches the other end: one delay later, one
    /// retransmission timeout more when it is lost, and never before the
    /// chunk sent before it.
    fn due(&mut self, now: Instant, inbound: bool) -> Instant {
        let mut due = now + self.link.one_way;
        if self.link.loss > 0.0 {
            // 53 random bits as a fraction in [0, 1).
            let draw = (next_random(&mut self.rng) >> 11) as f64 / (1u64 << 53) as f64;
            if draw < self.link.loss {
                due += self.link.retransmit;
            }
        }
        let last = if inbound {
            &mut self.last_in
        } else {
            &mut self.last_out
        };
        *last = due.max(*last);
        *last
    }

    /// Takes in whatever the far end has sent, stamping each chunk with when
    /// it may be read (`buf` is scratch space).
    fn take_in(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) {
        while !self.ended && self.arrived_bytes < MAX_BYTES_ARRIVING {
            let arrival = match Pin::new(&mut self.read).poll_read(cx, buf) {
                Poll::Pending => return,
                Poll::Ready(Ok(0)) => Arrival::End,
                Poll::Ready(Ok(n)) => match buf.get(..n) {
                    Some(bytes) => Arrival::Data(bytes.to_vec(), 0),
                    None => Arrival::Failed(io::ErrorKind::InvalidData),
                },
                Poll::Ready(Err(e)) => Arrival::Failed(e.kind()),
            };
            let due = self.due(Instant::now(), true);
            match &arrival {
                Arrival::Data(bytes, _) => self.arrived_bytes += bytes.len(),
                Arrival::End | Arrival::Failed(_) => self.ended = true,
            }
            self.arrived.push_back((due, arrival));
        }
    }

    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            self.take_in(cx, buf);
            let Some((due, _)) = self.arrived.front() else {
                return Poll::Pending;
            };
            let due = *due;
            if due > Instant::now() {
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
                timer.as_mut().reset(due);
                ready!(timer.as_mut().poll(cx));
                continue;
            }
            let Some((_, arrival)) = self.arrived.front_mut() else {
                return Poll::Pending;
            };
            let (bytes, read) = match arrival {
                Arrival::End => return Poll::Ready(Ok(0)),
                Arrival::Failed(kind) => return Poll::Ready(Err(io::Error::from(*kind))),
                Arrival::Data(bytes, read) => (bytes, read),
            };
            let rest = bytes.get(*read..).unwrap_or_default();
            let n = rest.len().min(buf.len());
            if let (Some(to), Some(from)) = (buf.get_mut(..n), rest.get(..n)) {
                to.copy_from_slice(from);
            }
            *read += n;
            if *read >= bytes.len() {
                let len = bytes.len();
                self.arrived_bytes -= len;
                self.arrived.pop_front();
            }
            return Poll::Ready(Ok(n));
        }
    }

    fn poll_write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.out.poll_ready(cx)).map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        let due = self.due(Instant::now(), false);
        self.out
            .start_send((due, buf.to_vec()))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))?;
        Poll::Ready(Ok(buf.len()))
    }
}

impl AsyncRead for Linked {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            State::Plain(c) => Pin::new(c).poll_read(cx, buf),
            State::Delayed(d) => d.poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Linked {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().0 {
            State::Plain(c) => Pin::new(c).poll_write(cx, buf),
            State::Delayed(d) => d.poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            State::Plain(c) => Pin::new(c).poll_flush(cx),
            // Written chunks are on their way, as the memory transport's are.
            State::Delayed(_) => Poll::Ready(Ok(())),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().0 {
            State::Plain(c) => Pin::new(c).poll_close(cx),
            State::Delayed(d) => {
                // The carrier hands over what is queued, then closes.
                d.out.close_channel();
                Poll::Ready(Ok(()))
            }
        }
    }
}
