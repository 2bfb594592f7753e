//! The channels between the swarm task and the rest of the node.

use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use sotto_protocol::rpc::{NodeRequest, NodeResponse, Request, Response};
use tokio::sync::{mpsc, oneshot};

/// Why a request to a peer failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum NetError {
    /// The peer did not answer in time.
    #[error("peer {0} did not answer within {1:?}")]
    Timeout(PeerId, Duration),
    /// The peer could not be dialled or the connection broke.
    #[error("peer {peer} unreachable: {reason}")]
    Unreachable {
        /// The peer.
        peer: PeerId,
        /// What went wrong.
        reason: String,
    },
    /// The peer's answer was not a valid message.
    #[error("peer {peer} answered with an invalid message: {reason}")]
    BadResponse {
        /// The peer.
        peer: PeerId,
        /// What was wrong with it.
        reason: String,
    },
    /// The swarm task has stopped (the node is shutting down).
    #[error("the network task has stopped")]
    Stopped,
    /// Too many requests are already waiting.
    #[error("too many requests in flight")]
    Busy,
    /// The network could not start: an address to listen on is malformed,
    /// unsupported or in use, or the transport could not be set up.
    #[error("cannot start the network: {0}")]
    Listen(String),
}

/// Where the answer to one inbound request goes: the encoded response bytes.
/// Until [`Responder::release_slot`] the request holds one of the swarm
/// task's in-flight slots.
#[derive(Debug)]
pub struct Responder {
    answer: oneshot::Sender<Vec<u8>>,
    slot: Option<SlotRelease>,
}

/// Gives a request's in-flight slot back before its answer is sent (a parked
/// waiting retrieve): the answer still goes through the [`Responder`].
#[derive(Debug)]
pub struct SlotRelease {
    id: u64,
    to: mpsc::UnboundedSender<u64>,
}

impl SlotRelease {
    /// A release of slot `id` sent on `to` (tests of code that frees slots,
    /// outside the swarm task).
    #[cfg(test)]
    pub(crate) fn for_test(id: u64, to: mpsc::UnboundedSender<u64>) -> Self {
        Self { id, to }
    }

    /// Frees the slot now.
    pub fn release(self) {
        // The swarm task gone: nothing holds the slot any more.
        let _ = self.to.send(self.id);
    }
}

impl Responder {
    /// A responder for request `id` of the swarm task, which frees slots on `to`.
    pub(super) fn new(
        answer: oneshot::Sender<Vec<u8>>,
        id: u64,
        to: mpsc::UnboundedSender<u64>,
    ) -> Self {
        Self {
            answer,
            slot: Some(SlotRelease { id, to }),
        }
    }

    /// Sends the answer; `Err` gives it back if nobody waits for it any more.
    pub fn send(self, bytes: Vec<u8>) -> Result<(), Vec<u8>> {
        self.answer.send(bytes)
    }

    /// Takes out the handle that frees the request's slot early (once).
    pub fn slot(&mut self) -> Option<SlotRelease> {
        self.slot.take()
    }
}

/// What the swarm task hands to the rest of the node.
#[derive(Debug)]
pub enum Inbound {
    /// A client RPC request (raw bytes, size-checked by the codec only).
    Rpc {
        /// The sender.
        peer: PeerId,
        /// The encoded `Request`.
        bytes: Vec<u8>,
        /// Send the encoded `Response` here.
        respond: Responder,
    },
    /// A node-to-node replication request (raw bytes).
    Node {
        /// The sender.
        peer: PeerId,
        /// The encoded `NodeRequest`.
        bytes: Vec<u8>,
        /// Send the encoded `NodeResponse` here.
        respond: Responder,
    },
    /// An onion request packet for this node to peel (raw bytes, size-checked
    /// by the codec only).
    Onion {
        /// The previous hop (or the client, for a guard).
        peer: PeerId,
        /// The packet.
        bytes: Vec<u8>,
        /// Send the response packet here (empty when there is nothing to
        /// seal it with).
        respond: Responder,
    },
    /// A node record received by gossip (raw bytes of a `SignedNodeRecord`).
    Record {
        /// Who forwarded it.
        peer: PeerId,
        /// The encoded record.
        bytes: Vec<u8>,
        /// Gossip forwards it only once the node reports it valid
        /// ([`NetHandle::report_record`]).
        gossip: Option<GossipId>,
    },
    /// A connection to a peer opened (first connection).
    Connected(PeerId),
    /// The last connection to a peer closed.
    Disconnected(PeerId),
}

/// Which gossip message a record came in, to report on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GossipId {
    pub(super) id: libp2p::gossipsub::MessageId,
    pub(super) source: PeerId,
}

/// What the node made of a gossiped record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and new: forward it.
    Accept,
    /// Valid but nothing new, or not checked (the node was busy): drop it
    /// without blaming the sender.
    Ignore,
    /// Invalid: drop it and lower the sender's score.
    Reject,
}

/// What to do with the answer to an onion packet sent on
/// ([`NetHandle::onion_then`]).
pub struct OnionThen(Box<dyn FnOnce(Result<Vec<u8>, NetError>) + Send + 'static>);

impl OnionThen {
    /// Calls `f` with the answer.
    pub fn new(f: impl FnOnce(Result<Vec<u8>, NetError>) + Send + 'static) -> Self {
        Self(Box::new(f))
    }

    /// Hands over the answer (or the failure).
    pub fn call(self, answer: Result<Vec<u8>, NetError>) {
        (self.0)(answer);
    }
}

impl std::fmt::Debug for OnionThen {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnionThen")
    }
}

/// Commands to the swarm task.
#[derive(Debug)]
pub enum Command {
    /// Send a replication request and return the decoded answer.
    Node {
        /// To whom.
        peer: PeerId,
        /// What.
        request: NodeRequest,
        /// The answer.
        reply: oneshot::Sender<Result<NodeResponse, NetError>>,
    },
    /// Send a client RPC request and return the decoded answer.
    Rpc {
        /// To whom.
        peer: PeerId,
        /// What.
        request: Request,
        /// The answer.
        reply: oneshot::Sender<Result<Response, NetError>>,
    },
    /// Send an onion packet and hand the response packet, as it came back,
    /// to `then`.
    Onion {
        /// The next hop.
        peer: PeerId,
        /// The packet.
        packet: Vec<u8>,
        /// Called once with the answer (raw; the caller checks its size
        /// class) or the failure, on the swarm task: it must be quick.
        then: OnionThen,
    },
    /// Publish an encoded `SignedNodeRecord` on the records gossip topic.
    Publish {
        /// The encoded record.
        record: Vec<u8>,
        /// Hold the record back (answer 0) while fewer peers than this take
        /// records.
        min_peers: usize,
        /// Told how many peers it went to (0: not published).
        reply: oneshot::Sender<usize>,
    },
    /// Remember addresses for a peer (from its record) so it can be dialled.
    AddAddresses {
        /// The peer.
        peer: PeerId,
        /// Its addresses.
        addrs: Vec<Multiaddr>,
    },
    /// Dial an address (a bootstrap peer).
    Dial {
        /// The address.
        addr: Multiaddr,
    },
    /// Dial a node at the addresses of its record, unless connected or
    /// dialling it already.
    DialPeer {
        /// The node's peer id.
        peer: PeerId,
        /// Its addresses.
        addrs: Vec<Multiaddr>,
    },
    /// The peers with an open connection.
    ConnectedPeers {
        /// The answer.
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    /// The addresses the node listens on now.
    ListenAddrs {
        /// The answer.
        reply: oneshot::Sender<Vec<Multiaddr>>,
    },
    /// The verdict on a gossiped record: gossipsub forwards it only if
    /// accepted, and scores the peer that sent it.
    Validated {
        /// The message.
        gossip: GossipId,
        /// What the node made of it.
        verdict: Verdict,
    },
    /// Cut every connection with `peers` and refuse them until the next
    /// `Cut` (an empty list lifts the cut). Models a network partition.
    Cut {
        /// The peers to cut off.
        peers: Vec<PeerId>,
    },
    /// Close the listeners and stop the task.
    Shutdown {
        /// Answered once the listeners are closed.
        done: oneshot::Sender<()>,
    },
}

/// How the rest of the node talks to the swarm task. Cheap to clone.
#[derive(Clone, Debug)]
pub struct NetHandle {
    commands: mpsc::Sender<Command>,
    /// How long a request to a peer may take, dial included.
    request_timeout: Duration,
}

impl NetHandle {
    /// A handle sending on `commands`; requests give up after `request_timeout`.
    pub fn new(commands: mpsc::Sender<Command>, request_timeout: Duration) -> Self {
        Self {
            commands,
            request_timeout,
        }
    }

    /// The timeout of one request.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    async fn ask<T>(
        &self,
        peer: Option<PeerId>,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .await
            .map_err(|_| NetError::Stopped)?;
        match tokio::time::timeout(self.request_timeout, rx).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(_)) => Err(NetError::Stopped),
            Err(_) => Err(match peer {
                Some(p) => NetError::Timeout(p, self.request_timeout),
                None => NetError::Stopped,
            }),
        }
    }

    /// Sends a replication request to `peer` and waits (bounded) for its answer.
    pub async fn node_request(
        &self,
        peer: PeerId,
        request: NodeRequest,
    ) -> Result<NodeResponse, NetError> {
        self.ask(Some(peer), |reply| Command::Node {
            peer,
            request,
            reply,
        })
        .await?
    }

    /// Sends a client RPC request to `peer` and waits (bounded) for its answer.
    /// The timeout is the handle's plus the request's long-poll wait.
    pub async fn rpc(&self, peer: PeerId, request: Request) -> Result<Response, NetError> {
        let wait = match &request {
            Request::Retrieve(r) => Duration::from_millis(u64::from(r.wait_ms)),
            _ => Duration::ZERO,
        };
        let handle = NetHandle {
            commands: self.commands.clone(),
            request_timeout: self.request_timeout.saturating_add(wait),
        };
        handle
            .ask(Some(peer), |reply| Command::Rpc {
                peer,
                request,
                reply,
            })
            .await?
    }

    /// Sends an onion packet to `peer` and waits (bounded: the handle's timeout
    /// plus [`super::ONION_EXTRA_TIMEOUT`]) for the response packet. The answer
    /// is raw bytes: an empty one means the peer could not or would not peel it.
    pub async fn onion(&self, peer: PeerId, packet: Vec<u8>) -> Result<Vec<u8>, NetError> {
        let handle = NetHandle {
            commands: self.commands.clone(),
            request_timeout: self
                .request_timeout
                .saturating_add(super::ONION_EXTRA_TIMEOUT),
        };
        handle
            .ask(Some(peer), |reply| Command::Onion {
                peer,
                packet,
                then: OnionThen::new(move |answer| {
                    let _ = reply.send(answer);
                }),
            })
            .await?
    }

    /// Sends an onion packet to `peer` without waiting: `then` is called
    /// once, on the swarm task, with the response packet or the failure
    /// (the protocol's request timeout bounds the wait). Nothing waits in
    /// the meantime but `then` itself, kept in the swarm task's map of
    /// outbound requests: this is how a relay parks a forward.
    pub async fn onion_then(&self, peer: PeerId, packet: Vec<u8>, then: OnionThen) {
        let sent = self
            .commands
            .send(Command::Onion { peer, packet, then })
            .await;
        if let Err(mpsc::error::SendError(Command::Onion { then, .. })) = sent {
            then.call(Err(NetError::Stopped));
        }
    }

    /// Publishes an encoded node record by gossip. Returns how many peers
    /// that take records (the topic's subscribers) it went to: 0 when it was
    /// not published (no peer has said it takes records yet, or the record
    /// was just published), and a small number soon after start, when the
    /// record may reach few nodes.
    pub async fn publish(&self, record: Vec<u8>) -> Result<usize, NetError> {
        self.publish_to_at_least(record, 0).await
    }

    /// [`NetHandle::publish`], unless fewer than `min_peers` peers take
    /// records now: then the record is not published and the answer is 0.
    pub async fn publish_to_at_least(
        &self,
        record: Vec<u8>,
        min_peers: usize,
    ) -> Result<usize, NetError> {
        self.ask(None, |reply| Command::Publish {
            record,
            min_peers,
            reply,
        })
        .await
    }

    /// Tells the swarm where `peer` can be reached.
    pub async fn add_addresses(&self, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<(), NetError> {
        self.commands
            .send(Command::AddAddresses { peer, addrs })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Reports the verdict on the gossiped record `gossip`.
    pub async fn report_record(&self, gossip: GossipId, verdict: Verdict) -> Result<(), NetError> {
        self.commands
            .send(Command::Validated { gossip, verdict })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Cuts the node off from `peers` (connections closed, new ones
    /// refused), replacing any earlier cut; an empty list heals it.
    pub async fn cut(&self, peers: Vec<PeerId>) -> Result<(), NetError> {
        self.commands
            .send(Command::Cut { peers })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Dials `addr`.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.commands
            .send(Command::Dial { addr })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// Dials node `peer` at `addrs` unless it is connected or being dialled.
    pub async fn dial_peer(&self, peer: PeerId, addrs: Vec<Multiaddr>) -> Result<(), NetError> {
        self.commands
            .send(Command::DialPeer { peer, addrs })
            .await
            .map_err(|_| NetError::Stopped)
    }

    /// The peers connected now.
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, NetError> {
        self.ask(None, |reply| Command::ConnectedPeers { reply })
            .await
    }

    /// Stops the network task after closing its listeners, and waits (bounded)
    /// until it has.
    pub async fn shutdown(&self) -> Result<(), NetError> {
        self.ask(None, |done| Command::Shutdown { done }).await
    }

    /// The addresses the node listens on now.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, NetError> {
        self.ask(None, |reply| Command::ListenAddrs { reply }).await
    }
}
