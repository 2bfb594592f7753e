//! The client's libp2p side: one task owns a small `Swarm` (no listening, two
//! outbound-only request-response protocols) and the rest of the client talks
//! to it through a cloneable [`NetHandle`] whose commands carry oneshot reply
//! channels.
//!
//! The client's libp2p identity is made fresh for every run and never written
//! anywhere (DESIGN §7: a guard must not be able to link two sessions of one
//! user by a long-lived peer id).

mod event_loop;
pub mod identify;
mod rejected;
mod transport;

pub use rejected::Rejected;

use std::time::Duration;

use libp2p::identity::Keypair;
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use sotto_protocol::NodeId;
use tokio::sync::{mpsc, oneshot};

/// Commands queued for the swarm task before senders wait.
const COMMAND_CAPACITY: usize = 256;

/// Most requests waiting for an answer at once, both protocols together. Each
/// holds a reply channel until the peer answers or the request times out.
pub const MAX_OUTSTANDING: usize = 256;

/// Why a request to a node failed at the transport level.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum NetError {
    /// The node did not answer in time.
    #[error("the node did not answer within {0:?}")]
    Timeout(Duration),
    /// The node could not be dialled, or the connection broke.
    #[error("the node could not be reached: {0}")]
    Unreachable(String),
    /// Too many requests are already waiting for answers.
    #[error("too many requests in flight")]
    Busy,
    /// The network task has stopped (the client is shutting down).
    #[error("the client's network task has stopped")]
    Stopped,
    /// The network could not be set up.
    #[error("cannot start the network: {0}")]
    Setup(String),
    /// The node does not speak the protocol asked for: it is on another
    /// network (or is not a Sotto node).
    #[error("the node does not speak this network's protocol (it may belong to another network)")]
    Unsupported,
}

/// Which of the two protocols a request uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// Client RPC straight to a node (directory fetches from bootstrap nodes).
    Rpc,
    /// An onion packet to a guard.
    Onion,
    /// Asking a node which network it is on (libp2p identify; the bytes
    /// sent are ignored, the answer is the raw identify message).
    Identify,
}

/// A command for the swarm task.
#[derive(Debug)]
pub(crate) struct Outbound {
    pub(crate) proto: Proto,
    pub(crate) peer: PeerId,
    pub(crate) addrs: Vec<Multiaddr>,
    pub(crate) bytes: Vec<u8>,
    pub(crate) reply: oneshot::Sender<Result<Vec<u8>, NetError>>,
}

/// How the network task runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    /// Use only the in-process memory transport (tests).
    pub memory: bool,
    /// Over the memory transport, this client's endpoint in the simulator's
    /// network model (see `sotto_p2p::simlink`).
    pub memory_origin: Option<u64>,
    /// Timeout of a direct RPC request.
    pub rpc_timeout: Duration,
    /// Timeout of an onion request: it covers every hop and a long poll at the
    /// destination.
    pub onion_timeout: Duration,
}

/// Sends requests through the swarm task. Cheap to clone; the task stops when
/// every clone is dropped.
#[derive(Clone, Debug)]
pub struct NetHandle {
    commands: mpsc::Sender<Outbound>,
    rpc_timeout: Duration,
    onion_timeout: Duration,
}

/// How much longer than libp2p's own request timeout the handle waits, so the
/// swarm's answer (a typed timeout) normally arrives first.
const HANDLE_MARGIN: Duration = Duration::from_secs(2);

impl NetHandle {
    /// Sends `bytes` to `peer` (dialling one of `addrs` if not connected) over
    /// `proto` and returns the raw answer. Every call ends within the
    /// protocol's timeout.
    pub async fn send(
        &self,
        proto: Proto,
        peer: PeerId,
        addrs: Vec<Multiaddr>,
        bytes: Vec<u8>,
    ) -> Result<Vec<u8>, NetError> {
        let timeout = match proto {
            Proto::Rpc | Proto::Identify => self.rpc_timeout,
            Proto::Onion => self.onion_timeout,
        };
        let (reply, rx) = oneshot::channel();
        let cmd = Outbound {
            proto,
            peer,
            addrs,
            bytes,
            reply,
        };
        let wait = timeout.saturating_add(HANDLE_MARGIN);
        let sent = tokio::time::timeout(wait, self.commands.send(cmd)).await;
        match sent {
            Err(_) => return Err(NetError::Busy),
            Ok(Err(_)) => return Err(NetError::Stopped),
            Ok(Ok(())) => {}
        }
        match tokio::time::timeout(wait, rx).await {
            Err(_) => Err(NetError::Timeout(timeout)),
            Ok(Err(_)) => Err(NetError::Stopped),
            Ok(Ok(answer)) => answer,
        }
    }
}

impl NetHandle {
    /// Asks `peer` which network it is on; `None` when it does not say (or
    /// cannot be asked). Ends within the RPC timeout.
    pub async fn network_of(&self, peer: PeerId, addrs: Vec<Multiaddr>) -> Option<String> {
        let answer = self.send(Proto::Identify, peer, addrs, Vec::new()).await;
        let version = identify::protocol_version(&answer.ok()?)?;
        identify::network_of_version(&version)
    }
}

/// A running network task.
#[derive(Debug)]
pub struct Net {
    /// Commands to the task.
    pub handle: NetHandle,
    /// This run's libp2p identity.
    pub peer_id: PeerId,
    /// The task.
    pub task: tokio::task::JoinHandle<()>,
}

/// Starts the network task with a fresh identity. Must be called within a
/// tokio runtime.
pub fn spawn(network: &str, cfg: &NetConfig) -> Result<Net, NetError> {
    let keypair = Keypair::generate_ed25519();
    let peer_id = keypair.public().to_peer_id();
    let swarm = transport::build(keypair, network, cfg)?;
    let (commands_tx, commands) = mpsc::channel(COMMAND_CAPACITY);
    let task = tokio::spawn(event_loop::EventLoop::new(swarm, commands, cfg).run());
    Ok(Net {
        handle: NetHandle {
            commands: commands_tx,
            rpc_timeout: cfg.rpc_timeout,
            onion_timeout: cfg.onion_timeout,
        },
        peer_id,
        task,
    })
}

/// The libp2p peer id of a node key (`None` if the bytes are not a valid
/// Ed25519 point).
pub fn peer_id_of(node: &NodeId) -> Option<PeerId> {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(node.as_bytes()).ok()?;
    Some(PeerId::from_public_key(&libp2p::identity::PublicKey::from(
        key,
    )))
}

/// Splits `.../p2p/<peer>` into the peer and the address without it.
pub fn split_peer(addr: &Multiaddr) -> Option<(PeerId, Multiaddr)> {
    let mut base = addr.clone();
    match base.pop() {
        Some(Protocol::P2p(peer)) => Some((peer, base)),
        _ => None,
    }
}
