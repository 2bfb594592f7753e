//! The task that owns the client's `Swarm`: it sends requests from the
//! [`super::NetHandle`]s and routes each answer or failure back to its caller.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use libp2p::request_response::{Event, Message, OutboundFailure, OutboundRequestId};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, Swarm};
use sotto_protocol::constants::MAX_RECORD_ADDRS;
use tokio::sync::{mpsc, oneshot};

use super::transport::{Behaviour, BehaviourEvent};
use super::{MAX_OUTSTANDING, NetConfig, NetError, Outbound, Proto, split_peer};

type Reply = oneshot::Sender<Result<Vec<u8>, NetError>>;

/// The swarm task's state.
pub(super) struct EventLoop {
    swarm: Swarm<Behaviour>,
    commands: mpsc::Receiver<Outbound>,
    /// Callers waiting for answers, by protocol and libp2p's request id.
    outstanding: HashMap<(ProtoKey, OutboundRequestId), Reply>,
    rpc_timeout: Duration,
    onion_timeout: Duration,
}

/// [`Proto`] as a map key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ProtoKey {
    Rpc,
    Onion,
    Identify,
}

impl EventLoop {
    pub(super) fn new(
        swarm: Swarm<Behaviour>,
        commands: mpsc::Receiver<Outbound>,
        cfg: &NetConfig,
    ) -> Self {
        Self {
            swarm,
            commands,
            outstanding: HashMap::new(),
            rpc_timeout: cfg.rpc_timeout,
            onion_timeout: cfg.onion_timeout,
        }
    }

    /// Runs until every handle is dropped.
    pub(super) async fn run(mut self) {
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    Some(command) => self.on_command(command),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.on_event(event),
            }
        }
        // Callers still waiting learn the task is gone from their dropped
        // reply channels.
        tracing::debug!("client network task stopped");
    }

    fn on_command(&mut self, cmd: Outbound) {
        if self.outstanding.len() >= MAX_OUTSTANDING {
            let _ = cmd.reply.send(Err(NetError::Busy));
            return;
        }
        for addr in cmd.addrs.iter().take(MAX_RECORD_ADDRS) {
            let base = strip_peer(addr);
            self.swarm.add_peer_address(cmd.peer, base);
        }
        let behaviour = self.swarm.behaviour_mut();
        let (key, id) = match cmd.proto {
            Proto::Rpc => (
                ProtoKey::Rpc,
                behaviour.rpc.send_request(&cmd.peer, cmd.bytes),
            ),
            Proto::Onion => (
                ProtoKey::Onion,
                behaviour.onion.send_request(&cmd.peer, cmd.bytes),
            ),
            Proto::Identify => (
                ProtoKey::Identify,
                behaviour.identify.send_request(&cmd.peer, cmd.bytes),
            ),
        };
        self.outstanding.insert((key, id), cmd.reply);
    }

    fn on_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Rpc(e)) => self.on_rr(ProtoKey::Rpc, e),
            SwarmEvent::Behaviour(BehaviourEvent::Onion(e)) => self.on_rr(ProtoKey::Onion, e),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => self.on_rr(ProtoKey::Identify, e),
            _ => {}
        }
    }

    fn on_rr(&mut self, key: ProtoKey, event: Event<Vec<u8>, Vec<u8>>) {
        match event {
            Event::Message {
                message:
                    Message::Response {
                        request_id,
                        response,
                    },
                ..
            } => self.finish(key, request_id, Ok(response)),
            Event::OutboundFailure {
                request_id, error, ..
            } => {
                let err = match error {
                    OutboundFailure::Timeout => NetError::Timeout(self.timeout_of(key)),
                    OutboundFailure::UnsupportedProtocols => NetError::Unsupported,
                    // Streams open lazily: a refusal shows when it is read.
                    OutboundFailure::Io(e) if sotto_p2p::refused_protocol(&e) => {
                        NetError::Unsupported
                    }
                    other => NetError::Unreachable(other.to_string()),
                };
                self.finish(key, request_id, Err(err));
            }
            // The client serves nothing: inbound requests are not negotiated.
            Event::Message { .. } | Event::InboundFailure { .. } | Event::ResponseSent { .. } => {}
        }
    }

    fn timeout_of(&self, key: ProtoKey) -> Duration {
        match key {
            ProtoKey::Rpc | ProtoKey::Identify => self.rpc_timeout,
            ProtoKey::Onion => self.onion_timeout,
        }
    }

    fn finish(&mut self, key: ProtoKey, id: OutboundRequestId, answer: Result<Vec<u8>, NetError>) {
        if let Some(reply) = self.outstanding.remove(&(key, id)) {
            // The caller may have given up (its own timeout); nothing to do then.
            let _ = reply.send(answer);
        }
    }
}

/// The address without a trailing `/p2p/<peer>`.
fn strip_peer(addr: &Multiaddr) -> Multiaddr {
    split_peer(addr).map_or_else(|| addr.clone(), |(_, base)| base)
}
