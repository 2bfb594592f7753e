//! Node-to-node requests from a peer that is not in the directory: one
//! libp2p peer with a fresh key speaks `replicate/2`
//! (`sotto_protocol::rpc::replication_protocol`, the nodes' own framing) to
//! the victim's swarm members, sending in turn a `Replicate` of 64 messages
//! of the largest size to the victim's inbox (a frame near
//! `MAX_NODE_REQUEST_LEN`), a `List`, a `Fetch` and a `Digest` of the
//! victim's account. A node must refuse all of them: answered `Unauthorized`,
//! or the stream reset before the body is read (counted `reset`). Any other
//! answer is counted `served`: the node did what only members may ask.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use libp2p::futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::request_response::{self, OutboundFailure, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::SwarmEvent;
use libp2p::{PeerId, StreamProtocol};
use rand::RngExt;
use sotto_node::clock::Clock;
use sotto_p2p::FrameCodec;
use sotto_protocol::Namespace;
use sotto_protocol::constants::{
    HASH_LEN, MAX_LISTING_PAGE, MAX_MESSAGE_DATA, MAX_NODE_REQUEST_LEN, MAX_NODE_RESPONSE_LEN,
    MAX_REPLICATION_BATCH,
};
use sotto_protocol::rpc::replication_protocol;
use sotto_protocol::rpc::{AccountDigest, MessageHash, NodeRequest, NodeResponse, StoredMessage};
use tokio::sync::{mpsc, oneshot};

use super::Arena;

/// Requests queued for the attacker's swarm.
const QUEUE: usize = 64;
/// How long the attacker waits for an answer.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

type Reply = oneshot::Sender<Result<(), &'static str>>;

/// The attacker's replication peer, run by its own task.
pub struct Replicator {
    tx: mpsc::Sender<(PeerId, Vec<u8>, Reply)>,
    arena: Arc<Arena>,
    /// The encoded `Replicate` (several MiB), made once.
    big: Vec<u8>,
}

fn failure_reason(e: &OutboundFailure) -> &'static str {
    match e {
        OutboundFailure::ConnectionClosed | OutboundFailure::Io(_) => "reset",
        OutboundFailure::Timeout => "timeout",
        OutboundFailure::DialFailure => "dial_failed",
        OutboundFailure::UnsupportedProtocols => "unsupported",
    }
}

/// What a node's answer says: `Ok` for anything but an error.
fn judge(bytes: &[u8]) -> Result<(), &'static str> {
    match NodeResponse::decode(bytes, Clock::system().now()) {
        Ok(NodeResponse::Error(e)) => Err(e.kind.name()),
        Ok(_) => Ok(()),
        Err(_) => Err("bad_answer"),
    }
}

impl Replicator {
    /// Starts the peer (it dials the victim's swarm members as it sends).
    pub fn start(arena: &Arc<Arena>) -> Result<Replicator, String> {
        let name = replication_protocol(&arena.params.name);
        let proto = StreamProtocol::try_from_owned(name.clone())
            .map_err(|e| format!("bad protocol name {name:?}: {e}"))?;
        let behaviour = request_response::Behaviour::with_codec(
            FrameCodec::new(MAX_NODE_REQUEST_LEN, MAX_NODE_RESPONSE_LEN),
            [(proto, ProtocolSupport::Outbound)],
            request_response::Config::default()
                .with_request_timeout(REQUEST_TIMEOUT)
                .with_max_concurrent_streams(super::MAX_REPLICATE_IN_FLIGHT * 2),
        );
        let idle = Duration::from_secs(3_600);
        let key = Keypair::generate_ed25519();
        let mut swarm = sotto_p2p::build_swarm_from(key, behaviour, true, arena.origin, idle)
            .map_err(|e| e.to_string())?;
        for t in &arena.swarm {
            swarm.add_peer_address(t.peer, t.addr.clone());
        }
        let big = big_replicate(arena)?;
        let (tx, mut rx) = mpsc::channel::<(PeerId, Vec<u8>, Reply)>(QUEUE);
        tokio::spawn(async move {
            let mut pending: HashMap<OutboundRequestId, Reply> = HashMap::new();
            loop {
                tokio::select! {
                    event = swarm.select_next_some() => {
                        let SwarmEvent::Behaviour(event) = event else { continue };
                        let (id, outcome) = match event {
                            request_response::Event::Message {
                                message: request_response::Message::Response { request_id, response },
                                ..
                            } => (request_id, judge(&response)),
                            request_response::Event::OutboundFailure { request_id, error, .. } => {
                                (request_id, Err(failure_reason(&error)))
                            }
                            _ => continue,
                        };
                        if let Some(reply) = pending.remove(&id) {
                            let _ = reply.send(outcome);
                        }
                    }
                    cmd = rx.recv() => match cmd {
                        Some((peer, bytes, reply)) => {
                            let id = swarm.behaviour_mut().send_request(&peer, bytes);
                            pending.insert(id, reply);
                        }
                        None => break,
                    },
                }
            }
        });
        Ok(Replicator {
            tx,
            arena: arena.clone(),
            big,
        })
    }

    /// Sends the `i`th request to the next member of the victim's swarm.
    pub async fn once(&self, i: usize) -> Result<(), &'static str> {
        let target = self.arena.target(i, false).ok_or("no_target")?;
        let bytes = match i % 4 {
            0 => self.big.clone(),
            k => small_request(&self.arena, k)?,
        };
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((target.peer, bytes, reply))
            .await
            .map_err(|_| "attacker_gone")?;
        answer.await.map_err(|_| "attacker_gone")?
    }
}

/// A `Replicate` of a full batch of the largest messages to the victim's
/// inbox, encoded (valid in form: only the sender is wrong).
fn big_replicate(arena: &Arena) -> Result<Vec<u8>, String> {
    let mut rng = rand::rng();
    let now = Clock::system().now();
    let messages = (0..MAX_REPLICATION_BATCH)
        .map(|_| {
            let mut data = vec![0u8; MAX_MESSAGE_DATA];
            rng.fill(&mut data[..]);
            StoredMessage::new(
                arena.victim,
                Namespace::INBOX,
                data,
                now,
                arena.params.default_ttl_ms,
            )
        })
        .collect();
    NodeRequest::Replicate {
        messages,
        deletes: Vec::new(),
        expiries: Vec::new(),
    }
    .encode()
    .map_err(|e| format!("cannot encode the replicate frame: {e}"))
}

/// `List` (k = 1), `Fetch` (2) or `Digest` (3) of the victim's account.
fn small_request(arena: &Arena, k: usize) -> Result<Vec<u8>, &'static str> {
    let mut rng = rand::rng();
    let account = arena.victim;
    let request = match k {
        1 => NodeRequest::List {
            account,
            after: None,
            limit: u16::try_from(MAX_LISTING_PAGE).unwrap_or(u16::MAX),
        },
        2 => {
            let mut hashes: Vec<(_, MessageHash)> = (0..MAX_REPLICATION_BATCH)
                .map(|_| (account, MessageHash(rng.random())))
                .collect();
            hashes.sort_by_key(|(_, h)| *h.as_bytes());
            NodeRequest::Fetch { hashes }
        }
        _ => NodeRequest::Digest {
            digests: vec![AccountDigest {
                account,
                digest: rng.random::<[u8; HASH_LEN]>(),
                count: 1,
            }],
        },
    };
    request.encode().map_err(|_| "not_made")
}
