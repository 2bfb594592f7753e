//! Inbound replication requests, taken as raw streams (`inbound_streams`)
//! rather than through request-response, whose codec reads a whole frame (up to
//! [`MAX_NODE_REQUEST_LEN`], about 5 MiB) before anyone can ask who sent it.
//! Here a stream is refused the moment it opens when its peer is not a node
//! of the directory, so a stranger's frame is never read, not even its length
//! prefix; a node's frame is read only if its prefix is within the bound.
//!
//! The wire is the one request-response uses (`FrameCodec`): one u32-prefixed
//! request frame, one u32-prefixed answer frame, so nodes of older builds,
//! which send with request-response, still push to us, and we still push to
//! them (outbound replication stays request-response). The request then goes
//! through the same in-flight budget ([`Proto::Node`]) as before.
//!
//! [`Proto::Node`]: super::requests::Proto::Node

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{AsyncWriteExt, FutureExt, StreamExt};
use libp2p::{PeerId, Stream};
use sotto_protocol::constants::{MAX_NODE_REQUEST_LEN, MAX_NODE_RESPONSE_LEN};
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use super::PeerRoles;
use crate::metrics::Metrics;

/// The metrics source of streams refused here.
const SOURCE: &str = "replication";

/// How many replication streams may be open (being read, waiting for the
/// node's answer, or being answered).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct StreamBounds {
    /// From one peer.
    pub(super) per_peer: usize,
    /// From all peers together.
    pub(super) total: usize,
    /// How long a peer has to send its request frame, and then how long the
    /// node has to answer it.
    pub(super) timeout: Duration,
}

/// What a stream came to.
enum Step {
    /// A node's request frame, read in full: it goes to the node.
    Read {
        peer: PeerId,
        body: Vec<u8>,
        stream: Stream,
    },
    /// The stream is over; `refused` says why it was refused (a metrics
    /// label), if it was.
    Done {
        peer: PeerId,
        refused: Option<&'static str>,
    },
}

/// A node's request read from a stream, waiting for the node's answer.
pub(super) struct Request {
    /// The node that sent it.
    pub(super) peer: PeerId,
    /// The request frame's body.
    pub(super) body: Vec<u8>,
    /// Where the answer goes: it is written back on the stream.
    pub(super) answer: oneshot::Sender<Vec<u8>>,
}

/// The inbound replication streams, accepted on a task of their own so that
/// reading and answering them never waits on the swarm task's other work.
pub(super) struct NodeStreams {
    /// Streams as the swarm task hands them over; `None` once it is gone.
    incoming: Option<mpsc::Receiver<(PeerId, Stream)>>,
    running: FuturesUnordered<BoxFuture<'static, Step>>,
    open: HashMap<PeerId, usize>,
    total: usize,
    bounds: StreamBounds,
}

impl NodeStreams {
    /// Takes the streams of `incoming` within `bounds`.
    pub(super) fn new(incoming: mpsc::Receiver<(PeerId, Stream)>, bounds: StreamBounds) -> Self {
        Self {
            incoming: Some(incoming),
            running: FuturesUnordered::new(),
            open: HashMap::new(),
            total: 0,
            bounds,
        }
    }

    /// Runs the acceptor: every request read in full from a node goes to
    /// `requests` (the swarm task, which answers it through its oneshot).
    /// Ends when the swarm task drops its receiver.
    pub(super) async fn run(
        mut self,
        roles: Arc<PeerRoles>,
        metrics: Arc<Metrics>,
        requests: mpsc::Sender<Request>,
    ) {
        loop {
            tokio::select! {
                request = self.next(&roles, &metrics) => {
                    if requests.send(request).await.is_err() {
                        break;
                    }
                }
                () = requests.closed() => break,
            }
        }
    }

    /// The next request read in full from a node. Streams of strangers, over
    /// the bounds, with an oversized prefix or that fail are dealt with (and
    /// counted in `metrics`) in passing. Never returns while nothing can come
    /// any more (it stays pending, like a closed branch of a `select!`).
    ///
    /// Cancel-safe: every item taken is dealt with before the next await.
    pub(super) async fn next(&mut self, roles: &PeerRoles, metrics: &Metrics) -> Request {
        loop {
            tokio::select! {
                accepted = next_incoming(&mut self.incoming) => match accepted {
                    Some((peer, stream)) => self.admit(peer, stream, roles, metrics),
                    None => self.incoming = None,
                },
                Some(step) = self.running.next(), if !self.running.is_empty() => match step {
                    Step::Read { peer, body, stream } => {
                        let (answer, answered) = oneshot::channel();
                        self.running
                            .push(write_answer(peer, stream, answered, self.bounds.timeout).boxed());
                        return Request { peer, body, answer };
                    }
                    Step::Done { peer, refused } => {
                        if let Some(reason) = refused {
                            metrics.rejected.inc(SOURCE, reason);
                        }
                        self.close(peer);
                    }
                },
            }
        }
    }

    /// Starts reading `stream` of `peer`, or refuses it: dropping a stream
    /// unread resets it, so nothing of what the peer sends is read.
    fn admit(&mut self, peer: PeerId, stream: Stream, roles: &PeerRoles, metrics: &Metrics) {
        if !roles.is_node(&peer) {
            metrics.rejected.inc(SOURCE, "not_a_node");
            tracing::debug!(%peer, "replication stream from a peer that is not a node: reset");
            return;
        }
        let of_peer = self.open.get(&peer).copied().unwrap_or(0);
        if of_peer >= self.bounds.per_peer || self.total >= self.bounds.total {
            metrics.rejected.inc(SOURCE, "busy_streams");
            return;
        }
        self.open.insert(peer, of_peer.saturating_add(1));
        self.total = self.total.saturating_add(1);
        self.running
            .push(read_request(peer, stream, self.bounds.timeout).boxed());
    }

    /// Forgets a stream of `peer` that is over.
    fn close(&mut self, peer: PeerId) {
        if let Some(n) = self.open.get_mut(&peer) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.open.remove(&peer);
            }
            self.total = self.total.saturating_sub(1);
        }
    }
}

async fn next_incoming(
    incoming: &mut Option<mpsc::Receiver<(PeerId, Stream)>>,
) -> Option<(PeerId, Stream)> {
    match incoming {
        Some(i) => i.recv().await,
        None => std::future::pending().await,
    }
}

/// Reads one request frame: its prefix first, refused over
/// [`MAX_NODE_REQUEST_LEN`] before any of the body is read, then the body,
/// all within `limit`.
async fn read_request(peer: PeerId, mut stream: Stream, limit: Duration) -> Step {
    let read = tokio::time::timeout(limit, async {
        let len = sotto_p2p::read_prefix(&mut stream, MAX_NODE_REQUEST_LEN).await?;
        sotto_p2p::read_body(&mut stream, len).await
    })
    .await;
    let refused = match read {
        Ok(Ok(body)) => return Step::Read { peer, body, stream },
        Ok(Err(e)) if e.kind() == io::ErrorKind::InvalidData => "too_large",
        Ok(Err(_)) => "bad_frame",
        Err(_) => "inbound_timeout",
    };
    tracing::debug!(%peer, refused, "replication stream refused");
    Step::Done {
        peer,
        refused: Some(refused),
    }
}

/// Waits for the node's answer (the swarm task always gives one, an error
/// standing in for a missing one, within the request timeout) and writes it.
async fn write_answer(
    peer: PeerId,
    mut stream: Stream,
    answered: oneshot::Receiver<Vec<u8>>,
    limit: Duration,
) -> Step {
    let written = tokio::time::timeout(limit.saturating_mul(2), async {
        let Ok(answer) = answered.await else {
            // The swarm task let the request go unanswered (it is stopping):
            // the stream is reset, as request-response would.
            return Ok(());
        };
        sotto_p2p::write_frame(&mut stream, &answer, MAX_NODE_RESPONSE_LEN).await?;
        stream.close().await
    })
    .await;
    if !matches!(written, Ok(Ok(()))) {
        tracing::debug!(%peer, "a replication answer could not be written");
    }
    Step::Done {
        peer,
        refused: None,
    }
}
