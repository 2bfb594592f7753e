//! The onion relay (DESIGN §7): what a node does with an onion packet that
//! arrives over the onion protocol.
//!
//! Per packet, cheapest check first: the size class and the replay tag (no
//! cryptography), the replay filter, then one layer peeled with the node's
//! onion keys ([`sotto_protocol::onion::peel`]). A packet that gets this far
//! either goes on to the next hop, whose answer comes back wrapped in this
//! hop's layer, or is the request of a client for this node, answered by the
//! RPC [`Service`] and sealed under the packet's reply key.
//!
//! A packet refused before it peeled has no reply key, so its answer is empty:
//! the client takes that for a failed hop. A failure after it peeled (the next
//! hop is unknown, unreachable, slow or busy) is sealed as this relay's own
//! error, an encoded [`sotto_protocol::rpc::Response::Error`] the client opens
//! as [`sotto_protocol::onion::OpenedResponse::RelayError`].
//!
//! Replay tags are kept per onion key for as long as that key is accepted (see
//! [`ReplayFilter`]); only packets that peeled leave a tag, so garbage cannot
//! fill the filter.

mod hop;
mod parked;
mod replay;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};

use libp2p::PeerId;
use sotto_protocol::constants::KEY_LEN;
use sotto_protocol::onion::{
    CHANGED_ON_THE_WAY, Peeled, ReplayTag, check_not_after, peel, replay_tag,
};

pub use parked::{ParkRefused, ParkedForwards};
pub use replay::{Recorded, ReplayFilter};

use crate::context::Context;
use crate::identity::Identity;
use crate::service::Service;

/// Forwards that may wait on their next hop, per in-flight slot of the onion
/// budget (in all, and per previous hop per request slot of a peer): a parked
/// forward costs its callback (a reply key and the answer's way back) in the
/// swarm task's map, not a task nor a request slot. 8 × 256 = 2,048
/// by default, half the swarm task's outbound requests
/// (`net::event_loop::MAX_OUTBOUND`), so forwards never take every outbound
/// slot replication needs.
const PARKED_PER_SLOT: usize = 8;

/// Where a peeled packet goes next, as the relay sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// On to this peer (the next hop).
    Forward(PeerId),
    /// Nowhere: this node is the destination.
    Deliver,
}

/// One packet this relay peeled: who sent it and where it goes, with the
/// replay tags that let an observer of several relays follow one packet hop
/// by hop (the tag of the packet a relay forwards is the tag the next relay
/// receives).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PacketEvent {
    /// The peer the packet came from (the previous hop, or the client).
    pub from: PeerId,
    /// What the relay does with it.
    pub next: Next,
    /// The replay tag of the packet as it arrived.
    pub tag: ReplayTag,
    /// The replay tag of the packet forwarded, for [`Next::Forward`].
    pub onward: Option<ReplayTag>,
}

/// A callback told of every packet the relay peeled (see [`Relay::set_observer`]).
pub type Observer = Arc<dyn Fn(PacketEvent) + Send + Sync>;

/// Where the relay sends its answer to one packet (called exactly once,
/// unless the node stops first).
pub type Then = Box<dyn FnOnce(Vec<u8>) + Send + 'static>;

/// Why a packet was refused before it could be answered under its reply key.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    /// Not an onion request of a valid size class.
    #[error("not an onion request packet: {0}")]
    SizeClass(sotto_protocol::Error),
    /// Its replay tag was seen before under a key still accepted.
    #[error("replayed onion packet")]
    Replayed,
    /// The replay filter is full: no new tag can be recorded, so no packet is
    /// accepted until tags expire (within minutes: packets are valid that long).
    #[error("the replay filter is full")]
    Busy,
    /// The layer opened, but the packet's `not_after` has passed on this
    /// node's clock (or lies further ahead than any client gives a packet).
    #[error("onion packet out of its validity: {0}")]
    Expired(sotto_protocol::Error),
    /// The layer did not open with any accepted key, or the packet was changed
    /// after the client built it, or the opened layer is malformed.
    #[error("onion layer refused: {0}")]
    Peel(sotto_protocol::Error),
}

impl Refused {
    /// The `sotto_onion_packets_total` outcome of the refusal.
    pub fn outcome(&self) -> &'static str {
        match self {
            Refused::SizeClass(_) | Refused::Peel(_) => "malformed",
            Refused::Replayed => "replayed",
            Refused::Busy => "busy",
            Refused::Expired(_) => "expired",
        }
    }

    /// The `sotto_rejected_total` reason of the refusal.
    fn reason(&self) -> &'static str {
        match self {
            Refused::SizeClass(_) => "size_class",
            Refused::Replayed => "replayed",
            Refused::Busy => "replay_filter_full",
            Refused::Expired(_) => "expired",
            Refused::Peel(sotto_protocol::Error::Decrypt { what })
                if *what == CHANGED_ON_THE_WAY =>
            {
                "changed_on_the_way"
            }
            Refused::Peel(sotto_protocol::Error::Decrypt { .. }) => "not_for_this_node",
            Refused::Peel(_) => "bad_layer",
        }
    }
}

/// The node's onion relay. Cheap to share: every method takes `&self`.
pub struct Relay {
    ctx: Arc<Context>,
    identity: Arc<Identity>,
    service: Arc<Service>,
    replays: Mutex<ReplayFilter>,
    /// Bounds the forwards waiting on a next hop (in all and per previous
    /// hop); they hold no in-flight slot of the onion budget and no task
    /// while they wait, only their callback in the swarm task.
    forwards: ParkedForwards,
    observer: Mutex<Option<Observer>>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("replay_tags", &self.replay_tags())
            .field("parked_forwards", &self.forwards.len())
            .finish_non_exhaustive()
    }
}

impl Relay {
    /// The relay of the node with `ctx` and `identity` (its onion keys);
    /// packets for this node are answered by `service`.
    pub fn new(ctx: Arc<Context>, identity: Arc<Identity>, service: Arc<Service>) -> Arc<Self> {
        let limits = &ctx.config.limits;
        let replays = Mutex::new(ReplayFilter::new(limits.max_replay_tags));
        let forwards = ParkedForwards::new(
            limits
                .max_concurrent_requests
                .saturating_mul(PARKED_PER_SLOT)
                .max(1),
            limits
                .max_requests_per_peer
                .saturating_mul(PARKED_PER_SLOT)
                .max(1),
        );
        Arc::new(Self {
            ctx,
            identity,
            service,
            replays,
            forwards,
            observer: Mutex::new(None),
        })
    }

    /// Sets the callback told of every packet this relay peels: who sent it and
    /// where it goes next. An observation point for tests and the simulator (to
    /// check, for example, that no relay sees both the client and the
    /// destination); it sees only what a relay sees anyway, never a packet's
    /// content. It runs on the packet's task, so it must be quick.
    pub fn set_observer(&self, f: Observer) {
        *lock(&self.observer) = Some(f);
    }

    /// Handles one onion packet from `from` and returns the response packet to
    /// send back: the next hop's answer wrapped in this hop's layer, this
    /// node's own answer or error sealed under the packet's reply key, or an
    /// empty answer for a packet refused before it peeled. Never fails.
    pub async fn handle_packet(self: &Arc<Self>, from: PeerId, packet: Vec<u8>) -> Vec<u8> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let then: Then = Box::new(move |answer| {
            let _ = tx.send(answer);
        });
        self.handle_packet_then(from, packet, None, then).await;
        // Dropped unanswered only when the node stops: an empty answer.
        rx.await.unwrap_or_default()
    }

    /// [`Relay::handle_packet`], answering through `then`. Returns once the
    /// packet is answered or parked: a forward waiting on its next hop, or a
    /// retrieve waiting at this node, is then answered later from the task
    /// that sees its answer, and the request's in-flight `slot` is freed. No
    /// task waits for a parked packet.
    pub async fn handle_packet_then(
        self: &Arc<Self>,
        from: PeerId,
        packet: Vec<u8>,
        slot: Option<crate::net::SlotRelease>,
        then: Then,
    ) {
        let peeled = match self.peel_packet(&packet) {
            Ok(peeled) => peeled,
            Err(refused) => {
                tracing::debug!(%from, "onion packet refused: {refused}");
                self.count(refused.outcome());
                if !matches!(refused, Refused::Busy) {
                    self.ctx.metrics.rejected.inc("onion", refused.reason());
                }
                return then(Vec::new());
            }
        };
        // Peeled, so the size class (all the tag needs) was right.
        let tag = replay_tag(&packet).unwrap_or(ReplayTag([0; KEY_LEN]));
        drop(packet);
        match peeled {
            Peeled::Forward {
                next,
                packet,
                reply,
                ..
            } => {
                self.forward(from, tag, next, packet, reply, slot, then)
                    .await;
            }
            Peeled::Deliver { request, reply, .. } => {
                self.deliver(from, tag, &request, reply, slot, then).await;
            }
        }
    }

    /// The relay's work on one packet before any I/O: the size class and
    /// replay tag, the replay filter, one layer peeled with the onion keys
    /// still accepted, the packet's validity, and the tag recorded until the
    /// packet would be refused anyway.
    /// Public for the benchmark, which measures exactly this.
    pub fn peel_packet(&self, packet: &[u8]) -> Result<Peeled, Refused> {
        let tag = replay_tag(packet).map_err(Refused::SizeClass)?;
        let now = self.ctx.clock.now();
        {
            let mut replays = lock(&self.replays);
            replays.purge(now);
            if replays.seen(&tag) {
                return Err(Refused::Replayed);
            }
            // Refused before the X25519: the tag could not be recorded anyway.
            if replays.is_full() {
                return Err(Refused::Busy);
            }
        }
        // A key past its window is refused even if the identity still holds it:
        // clients may no longer use it, and its secret is about to go.
        let keys = self.identity.onion_secrets();
        let mut last = None;
        for key in keys.iter().filter(|k| now < k.entry.valid_until) {
            match peel(packet, &[&key.secret]) {
                Ok(peeled) => {
                    let keep_until =
                        check_not_after(peeled.not_after(), now).map_err(Refused::Expired)?;
                    let recorded = lock(&self.replays).record(tag, keep_until);
                    return match recorded {
                        Recorded::Fresh => Ok(peeled),
                        // The same packet peeled on another task meanwhile.
                        Recorded::Replayed => Err(Refused::Replayed),
                        Recorded::Full => Err(Refused::Busy),
                    };
                }
                // Not this key's layer: the next key may open it.
                Err(e @ sotto_protocol::Error::Decrypt { what }) if what != CHANGED_ON_THE_WAY => {
                    last = Some(e);
                }
                // The layer opened (or the packet is bad for any key): no
                // other key can do better.
                Err(e) => return Err(Refused::Peel(e)),
            }
        }
        Err(Refused::Peel(last.unwrap_or(
            sotto_protocol::Error::Decrypt {
                what: "onion layer (this node holds no onion key valid now)",
            },
        )))
    }

    /// Replay tags held now.
    pub fn replay_tags(&self) -> usize {
        lock(&self.replays).len()
    }

    fn count(&self, outcome: &'static str) {
        self.ctx.metrics.onion.inc(outcome, "_");
    }

    fn observe(&self, from: PeerId, tag: ReplayTag, next: Next, onward: Option<ReplayTag>) {
        let observer = lock(&self.observer).clone();
        if let Some(f) = observer {
            f(PacketEvent {
                from,
                next,
                tag,
                onward,
            });
        }
    }
}

/// Locks `m`, recovering from poisoning: the guarded values are plain data,
/// consistent between calls.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}
