//! The task that owns the `Swarm`: it runs commands from the [`NetHandle`]s,
//! turns swarm events into [`Inbound`] items, and sends the node's answers
//! back to peers.
//!
//! [`NetHandle`]: crate::net::NetHandle

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use libp2p::request_response::{OutboundRequestId, ResponseChannel};
use libp2p::swarm::SwarmEvent;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::{PeerId, Swarm, gossipsub, identify};
use sotto_protocol::constants::MAX_RECORD_ADDRS;
use sotto_protocol::rpc::{NodeResponse, Response};
use tokio::sync::{mpsc, oneshot};

use super::behaviour::{Behaviour, BehaviourEvent};
use super::inflight::{InFlight, Slot};
use super::requests::{Answer, Proto};
use super::streams;
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::net::{Command, GossipId, Inbound, NetError, OnionThen, PeerRoles, Verdict};

/// Most outbound requests waiting for an answer, all protocols together.
/// Each holds a caller's reply channel until the peer answers or the request
/// times out, so this bounds that memory.
pub(super) const MAX_OUTBOUND: usize = 4096;

/// Most peers of other networks remembered as blocked.
const MAX_BLOCKED_PEERS: usize = 1024;

/// What became of an item offered to the node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Offered {
    /// It is in the channel.
    Sent,
    /// The channel is full: dropped.
    Full,
    /// The node no longer reads the channel: dropped.
    Closed,
}

/// Where the answer to an inbound request goes.
pub(super) enum Channel {
    /// Back through request-response.
    Response(ResponseChannel<Vec<u8>>),
    /// To the task writing it on a raw stream (inbound replication).
    Stream(oneshot::Sender<Vec<u8>>),
}

/// An inbound request handed to the node, waiting for its answer.
pub(super) struct Waiting {
    pub(super) proto: Proto,
    pub(super) channel: Channel,
    /// Its in-flight slot, until the answer is sent or the node parks it.
    pub(super) slot: Option<Slot>,
}

/// One in-flight budget per request-response protocol: client RPC cannot
/// starve replication, nor onion relaying either.
pub(super) struct Budgets {
    pub(super) rpc: InFlight,
    pub(super) node: InFlight,
    pub(super) onion: InFlight,
}

/// A caller waiting for a peer's answer.
pub(super) type Reply<T> = (PeerId, oneshot::Sender<Result<T, NetError>>);

/// The swarm task's state.
pub(super) struct EventLoop {
    pub(super) swarm: Swarm<Behaviour>,
    /// The listeners opened at start, closed when the task stops.
    pub(super) listeners: Vec<libp2p::core::transport::ListenerId>,
    /// Peers found to be on another network, refused at connection.
    pub(super) blocked: std::collections::HashSet<PeerId>,
    /// Peers cut off by a partition ([`Command::Cut`]); kept apart from
    /// `blocked` so that healing never lets a wrong-network peer back.
    pub(super) cut: std::collections::HashSet<PeerId>,
    pub(super) commands: mpsc::Receiver<Command>,
    pub(super) inbound: mpsc::Sender<Inbound>,
    pub(super) clock: Arc<Clock>,
    pub(super) metrics: Arc<Metrics>,
    /// The identify protocol version of our network.
    pub(super) protocol_version: String,
    pub(super) topic: gossipsub::IdentTopic,
    pub(super) budgets: Budgets,
    /// The IP address each connected peer came from (none on the memory
    /// transport): requests are bounded per address as well as per peer id.
    pub(super) peer_ips: HashMap<PeerId, std::net::IpAddr>,
    /// Which peers are directory nodes (they may use the reserved shares).
    pub(super) roles: Arc<PeerRoles>,
    /// Ids of requests whose slot the node gave back early (parked waits).
    pub(super) released: mpsc::UnboundedReceiver<u64>,
    pub(super) released_tx: mpsc::UnboundedSender<u64>,
    pub(super) next_id: u64,
    /// Inbound requests handed to the node, by our own id.
    pub(super) waiting: HashMap<u64, Waiting>,
    /// Replication requests read from inbound streams by their acceptor
    /// task (answered through `waiting`).
    pub(super) node_streams: mpsc::Receiver<streams::Request>,
    /// Inbound replication streams, to their acceptor task, unread.
    pub(super) new_streams: mpsc::Sender<(PeerId, libp2p::Stream)>,
    /// The node's answers (or their absence) to those requests.
    pub(super) answers: FuturesUnordered<BoxFuture<'static, (u64, Answer)>>,
    pub(super) rpc_out: HashMap<OutboundRequestId, Reply<Response>>,
    pub(super) node_out: HashMap<OutboundRequestId, Reply<NodeResponse>>,
    /// Onion packets sent on, with what to do with the answer: a forward
    /// parked at the relay waits here as its callback, not as a task.
    pub(super) onion_out: HashMap<OutboundRequestId, (PeerId, OnionThen)>,
    /// How long the remote waits for our answer, per protocol; an answer not
    /// ready by then is useless and its slot is freed.
    pub(super) rpc_timeout: Duration,
    pub(super) node_timeout: Duration,
    pub(super) onion_timeout: Duration,
    /// When each connected node was last used, to close idle ones.
    pub(super) trim: super::trim::Trim,
}

impl EventLoop {
    /// Runs until every command sender is dropped.
    pub(super) async fn run(mut self) {
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(Command::Shutdown { done }) => {
                        self.stop_listening();
                        let _ = done.send(());
                        tracing::debug!("network task stopped on request");
                        return;
                    }
                    Some(c) => self.on_command(c),
                    None => break,
                },
                event = self.swarm.select_next_some() => {
                    self.take_released();
                    self.on_swarm_event(event);
                }
                Some((id, answer)) = self.answers.next(), if !self.answers.is_empty() => {
                    self.on_answer(id, answer);
                }
                Some(id) = self.released.recv() => self.on_released(id),
                Some(request) = self.node_streams.recv() => {
                    self.take_released();
                    let channel = Channel::Stream(request.answer);
                    self.on_request(Proto::Node, request.peer, request.body, channel);
                }
            }
        }
        self.stop_listening();
        tracing::debug!("network task stopped: every handle was dropped");
    }

    /// Frees the slots the node has given back so far, before a new request
    /// is weighed against the budgets: `select!` picks among ready branches
    /// at random, and a slot freed before a request arrived must not count
    /// against it (a peer at its bound whose earlier request was parked
    /// would be refused `busy` for a slot that is already free).
    fn take_released(&mut self) {
        while let Ok(id) = self.released.try_recv() {
            self.on_released(id);
        }
    }

    /// Closes every listener. Dropping the swarm alone is not enough: the
    /// memory transport keeps a listener's address taken until it is removed,
    /// and a node restarted in the same process must get its address back.
    fn stop_listening(&mut self) {
        for id in self.listeners.drain(..) {
            self.swarm.remove_listener(id);
        }
    }

    fn local_peer(&self) -> PeerId {
        *self.swarm.local_peer_id()
    }

    /// Hands `item` to the node without waiting: the swarm must keep running
    /// even when the node is slow, so a full channel drops the item, counted
    /// as rejected for `full_reason`.
    pub(super) fn offer(&self, item: Inbound, full_reason: &'static str) -> Offered {
        match self.inbound.try_send(item) {
            Ok(()) => Offered::Sent,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.rejected.inc("net", full_reason);
                Offered::Full
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Offered::Closed,
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Node {
                peer,
                request,
                reply,
            } => self.send_node(peer, &request, reply),
            Command::Rpc {
                peer,
                request,
                reply,
            } => self.send_rpc(peer, &request, reply),
            Command::Onion { peer, packet, then } => self.send_onion(peer, packet, then),
            Command::Publish {
                record,
                min_peers,
                reply,
            } => {
                let topic = self.topic.clone();
                let gossip = &mut self.swarm.behaviour_mut().gossip;
                // A publication goes to every peer that takes records, not
                // only the mesh (`flood_publish`).
                let hash = topic.hash();
                let peers = gossip
                    .all_peers()
                    .filter(|(_, topics)| topics.contains(&&hash))
                    .count();
                if peers < min_peers {
                    let _ = reply.send(0);
                    return;
                }
                let reached = match gossip.publish(topic, record) {
                    Ok(_) => peers,
                    Err(
                        e @ (gossipsub::PublishError::Duplicate
                        | gossipsub::PublishError::NoPeersSubscribedToTopic
                        | gossipsub::PublishError::AllQueuesFull(_)),
                    ) => {
                        tracing::debug!("record not published now: {e}");
                        0
                    }
                    Err(e) => {
                        tracing::warn!("cannot publish the node record: {e}");
                        0
                    }
                };
                let _ = reply.send(reached);
            }
            Command::AddAddresses { peer, addrs } => {
                for addr in addrs.into_iter().take(MAX_RECORD_ADDRS) {
                    self.swarm.behaviour_mut().addresses.add(peer, addr);
                }
            }
            Command::Dial { addr } => {
                if let Err(e) = self.swarm.dial(addr) {
                    tracing::debug!("dial failed: {e}");
                }
            }
            Command::DialPeer { peer, addrs } => {
                let opts = DialOpts::peer_id(peer)
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .addresses(addrs.into_iter().take(MAX_RECORD_ADDRS).collect())
                    .build();
                if let Err(e) = self.swarm.dial(opts) {
                    tracing::debug!("dial of {peer} failed: {e}");
                }
            }
            Command::ConnectedPeers { reply } => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::ListenAddrs { reply } => {
                let _ = reply.send(self.swarm.listeners().cloned().collect());
            }
            Command::Cut { peers } => self.set_cut(peers),
            Command::Validated { gossip, verdict } => self.report(gossip, verdict),
            // Handled in `run`, which must leave its loop.
            Command::Shutdown { done } => {
                let _ = done.send(());
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        let now = std::time::Instant::now();
        if self.trim.due(now) {
            self.trim_idle(now);
        }
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Rpc(e)) => {
                self.on_request_response(Proto::Rpc, e)
            }
            SwarmEvent::Behaviour(BehaviourEvent::Node(e)) => {
                self.on_request_response(Proto::Node, e);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Onion(e)) => {
                self.on_request_response(Proto::Onion, e);
            }
            SwarmEvent::Behaviour(BehaviourEvent::NodeStreams(item)) => self.new_stream(item),
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            })) => {
                let gossip = GossipId {
                    id: message_id,
                    source: propagation_source,
                };
                let offered = self.offer(
                    Inbound::Record {
                        peer: propagation_source,
                        bytes: message.data,
                        gossip: Some(gossip.clone()),
                    },
                    "inbound_full",
                );
                if offered != Offered::Sent {
                    // Not checked: neither forwarded nor held against the sender.
                    self.report(gossip, Verdict::Ignore);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossip(gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages,
            })) => {
                // Gossip gave up on messages for this peer: its queue was
                // full, or a forward waited past its deadline.
                let dropped = failed_messages.priority + failed_messages.non_priority;
                let n = u64::try_from(dropped).unwrap_or(u64::MAX);
                self.metrics.rejected.add("gossip", "send_dropped", n);
                tracing::debug!(%peer_id, dropped, "gossip messages to a slow peer dropped");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => self.on_identify(peer_id, info),
            SwarmEvent::Behaviour(_) => {}
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!("listening on {address}/p2p/{}", self.local_peer());
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                num_established,
                endpoint,
                ..
            } => {
                if let Some(ip) = ip_of(endpoint.get_remote_address()) {
                    self.peer_ips.insert(peer_id, ip);
                }
                if num_established.get() == 1 {
                    tracing::debug!("connected to {peer_id}");
                    let _ = self.offer(Inbound::Connected(peer_id), "inbound_full");
                }
                self.count_peers();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                ..
            } => {
                if num_established == 0 {
                    self.peer_ips.remove(&peer_id);
                    self.trim.forget(&peer_id);
                    tracing::debug!("disconnected from {peer_id}");
                    let _ = self.offer(Inbound::Disconnected(peer_id), "inbound_full");
                }
                self.count_peers();
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!("connection to {peer_id:?} failed: {error}");
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::debug!("incoming connection failed: {error}");
            }
            SwarmEvent::ListenerClosed {
                addresses,
                reason: Err(e),
                ..
            } => tracing::warn!("stopped listening on {addresses:?}: {e}"),
            SwarmEvent::ListenerError { error, .. } => tracing::warn!("listener error: {error}"),
            _ => {}
        }
    }

    /// Hands an inbound replication stream, unread, to its acceptor task; if
    /// that is too far behind, the stream is dropped (reset) and counted.
    fn new_stream(&mut self, item: (PeerId, libp2p::Stream)) {
        if self.new_streams.try_send(item).is_err() {
            self.metrics.rejected.inc("replication", "busy_streams");
        }
    }

    /// Tells gossipsub what the node made of a record.
    fn report(&mut self, gossip: GossipId, verdict: Verdict) {
        let acceptance = match verdict {
            Verdict::Accept => gossipsub::MessageAcceptance::Accept,
            Verdict::Ignore => gossipsub::MessageAcceptance::Ignore,
            Verdict::Reject => gossipsub::MessageAcceptance::Reject,
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .gossip
            .report_message_validation_result(&gossip.id, &gossip.source, acceptance);
    }

    /// Replaces the partition cut with `peers`: the block list refuses
    /// their connections, and open ones are closed now.
    fn set_cut(&mut self, peers: Vec<PeerId>) {
        let new: std::collections::HashSet<PeerId> = peers
            .into_iter()
            .take(super::MAX_CUT_PEERS)
            .filter(|p| *p != self.local_peer())
            .collect();
        for old in self.cut.difference(&new) {
            if !self.blocked.contains(old) {
                self.swarm.behaviour_mut().blocked.unblock_peer(*old);
            }
        }
        for peer in &new {
            self.swarm.behaviour_mut().blocked.block_peer(*peer);
            let _ = self.swarm.disconnect_peer_id(*peer);
        }
        tracing::info!(peers = new.len(), "partition cut set");
        self.cut = new;
    }

    fn count_peers(&self) {
        self.metrics
            .connected_peers
            .set_count(self.swarm.connected_peers().count());
    }

    /// Closes connections to directory nodes nobody uses (see
    /// [`super::trim`]): never a gossip mesh peer, nor one with a request in
    /// flight here or one this node's request waits on.
    fn trim_idle(&mut self, now: std::time::Instant) {
        let connected: std::collections::HashSet<PeerId> =
            self.swarm.connected_peers().copied().collect();
        // A request can be noted for a peer whose connection closed just
        // before; the bound on what is remembered is the connections.
        self.trim.keep_only(&connected);
        let nodes: Vec<PeerId> = connected
            .into_iter()
            .filter(|p| self.roles.is_node(p))
            .collect();
        if nodes.len() <= super::trim::HIGH_WATER {
            return;
        }
        let mut protected: std::collections::HashSet<PeerId> = self
            .swarm
            .behaviour()
            .gossip
            .all_mesh_peers()
            .copied()
            .collect();
        protected.extend(nodes.iter().filter(|p| {
            self.budgets.rpc.of_peer(p)
                + self.budgets.node.of_peer(p)
                + self.budgets.onion.of_peer(p)
                > 0
        }));
        // Nor one this node waits on: a request it sent (an onion hop's long
        // poll waits up to 25 s) keeps its connection until it is answered.
        protected.extend(self.rpc_out.values().map(|(p, _)| *p));
        protected.extend(self.node_out.values().map(|(p, _)| *p));
        protected.extend(self.onion_out.values().map(|(p, _)| *p));
        let idle = self.trim.choose(&nodes, &protected, now);
        for peer in &idle {
            let _ = self.swarm.disconnect_peer_id(*peer);
        }
        if !idle.is_empty() {
            tracing::debug!(
                closed = idle.len(),
                of = nodes.len(),
                "idle node connections closed"
            );
        }
    }

    /// Drops peers of another network.
    fn on_identify(&mut self, peer: PeerId, info: identify::Info) {
        if info.protocol_version != self.protocol_version {
            self.metrics.rejected.inc("net", "wrong_network");
            tracing::debug!(
                "{peer} is on another network ({:?}): disconnecting",
                info.protocol_version
            );
            // Blocked, not only disconnected: its own discovery would dial us
            // again and again. Bounded: the list starts over when it is full (a
            // peer forgotten that way is refused again at its next identify).
            if self.blocked.len() >= MAX_BLOCKED_PEERS {
                for old in self.blocked.drain() {
                    if !self.cut.contains(&old) {
                        self.swarm.behaviour_mut().blocked.unblock_peer(old);
                    }
                }
            }
            self.blocked.insert(peer);
            self.swarm.behaviour_mut().blocked.block_peer(peer);
            let _ = self.swarm.disconnect_peer_id(peer);
            return;
        }
        // The listen addresses a peer claims go nowhere: anyone speaking
        // libp2p could put itself into every address book with whatever
        // addresses it likes. The address book learns addresses only from
        // the bootstrap list and from verified node records
        // (`Command::AddAddresses`).
        tracing::trace!(
            "{peer} claims {} listen addresses; not used",
            info.listen_addrs.len()
        );
    }
}

/// The IP address at the start of `addr`, if it has one.
pub(super) fn ip_of(addr: &libp2p::Multiaddr) -> Option<std::net::IpAddr> {
    use libp2p::multiaddr::Protocol;
    match addr.iter().next()? {
        Protocol::Ip4(ip) => Some(ip.into()),
        Protocol::Ip6(ip) => Some(ip.into()),
        _ => None,
    }
}
