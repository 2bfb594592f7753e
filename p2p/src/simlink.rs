//! Simulated network links for the in-process memory transport: a one-way
//! delay and a loss rate per connection, chosen by a [`LinkModel`] that the
//! simulator attaches to the endpoints it runs.
//!
//! libp2p's memory transport delivers bytes the moment they are written, so a
//! simulation over it says nothing about latency on the internet. Here every
//! connection a swarm *dials* over the memory transport asks the model
//! attached to its own endpoint for the link to the endpoint it dials; when
//! there is one, the connection is wrapped so that:
//!
//! - setting it up costs one round trip (TCP's SYN and SYN-ACK);
//! - every chunk written by the dialer reaches the listener one one-way delay
//!   later, and every chunk the listener writes reaches the dialer one
//!   one-way delay after it arrived: each direction pays the delay once, and
//!   everything on top (noise, yamux, requests, relays, long polls) pays it
//!   as it would over a real link;
//! - a lost chunk is not dropped (the link is a reliable stream, as TCP is)
//!   but arrives one retransmission timeout late, holding back what follows
//!   it as TCP's in-order delivery does.
//!
//! Endpoints are numbers: a node's is the port of its first memory listen
//! address, a client's is the `origin` it is built with (see
//! [`crate::build_swarm_from`]). Endpoints nobody attached a model to, and
//! every swarm outside a simulation, get plain memory connections.

mod conn;
mod transport;

pub use conn::Linked;
pub(crate) use transport::LinkedMemory;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// One direction-symmetric link between two endpoints.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Link {
    /// How long a byte takes from one end to the other.
    pub one_way: Duration,
    /// The chance (0 to 1) that a chunk is lost and must be sent again.
    pub loss: f64,
    /// How late a lost chunk arrives: the sender's retransmission timeout.
    pub retransmit: Duration,
    /// Seeds the draws of which chunks are lost on this connection.
    pub seed: u64,
}

/// Chooses the link between two endpoints. Implemented by the simulator.
pub trait LinkModel: Send + Sync + std::fmt::Debug {
    /// The link from endpoint `from` (the dialer) to `to` (the listener), or
    /// `None` to leave the connection undelayed (for instance when `to` is no
    /// endpoint of this model).
    fn link(&self, from: u64, to: u64) -> Option<Link>;
}

/// The models attached to endpoints in this process.
static MODELS: Mutex<BTreeMap<u64, Arc<dyn LinkModel>>> = Mutex::new(BTreeMap::new());

fn models() -> MutexGuard<'static, BTreeMap<u64, Arc<dyn LinkModel>>> {
    // The map stays consistent whatever a panicking holder did: every change
    // is a single insert or remove.
    MODELS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Keeps `model` attached to one endpoint until dropped.
#[derive(Debug)]
#[must_use = "the endpoint is detached when this is dropped"]
pub struct Attached(u64);

impl Drop for Attached {
    fn drop(&mut self) {
        models().remove(&self.0);
    }
}

/// Attaches `model` to `endpoint`: connections dialed from it use the links
/// the model chooses, until the returned guard is dropped.
pub fn attach(endpoint: u64, model: Arc<dyn LinkModel>) -> Attached {
    models().insert(endpoint, model);
    Attached(endpoint)
}

/// The link from `from` to `to` by the model attached to `from`.
pub(crate) fn link_between(from: u64, to: u64) -> Option<Link> {
    let model = models().get(&from).cloned()?;
    model.link(from, to)
}

#[cfg(test)]
mod tests;
