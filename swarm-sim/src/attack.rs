//! Attackers that use the real protocol against the nodes (issue 12), each a
//! scenario client left out of the message schedule. Through its client:
//! `deletes` signs deletes of random hashes of its own account (tombstones on
//! every member), `polls` holds as many waiting retrieves of its own inbox as
//! the nodes let it, `inbox` floods a victim's inbox as a stranger (no
//! delivery token). As a bare libp2p peer of its own ([`arena`]):
//! `connections` opens and holds connections with fresh keys, `gossip`
//! publishes invalid node records on the nodes' topic, `replicate` sends
//! node-to-node requests about a victim's account without being a node. The
//! report's `attack` counts what was tried and what the nodes refused, by
//! reason, and what the nodes' own counters saw; the honest clients' figures
//! show what the attack cost them.

mod arena;
mod connections;
mod deletes;
mod gossip;
mod inbox;
mod polls;
mod replicate;

pub use arena::Arena;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sotto_client::ClientError;
use tokio::sync::watch;

use crate::user::User;

/// Most attack requests in flight at once; beyond it a request is skipped
/// (counted), so the attacker's own backlog stays bounded.
const MAX_IN_FLIGHT: usize = 256;
/// Most connections the `connections` attacker holds at once.
const MAX_HELD: usize = 1_200;
/// Most `replicate` requests in flight: each may carry a frame of several MiB.
const MAX_REPLICATE_IN_FLIGHT: usize = 32;

/// What the attacker does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttackKind {
    /// Deletes of 256 random hashes of its own account.
    Deletes,
    /// Long-poll retrieves of its own inbox, 25 s each.
    Polls,
    /// A stranger's stores into the `victim`'s inbox (no token) and paid
    /// message requests.
    Inbox,
    /// Connections with a fresh key each to the victim's swarm members (two
    /// in three) and to other nodes, held until the attack ends.
    Connections,
    /// Invalid node records (bad signature, bad admission proof, garbage,
    /// oversized) published on the nodes' records topic.
    Gossip,
    /// Replication requests (`Replicate` near the size limit, `List`,
    /// `Fetch`, `Digest` of the victim's account) from a peer that is not in
    /// the directory, to the victim's swarm members.
    Replicate,
}

impl AttackKind {
    /// Most of its requests (or connections) in flight at once.
    fn max_in_flight(self) -> usize {
        match self {
            AttackKind::Connections => MAX_HELD,
            AttackKind::Replicate => MAX_REPLICATE_IN_FLIGHT,
            _ => MAX_IN_FLIGHT,
        }
    }
}

/// `[attack]`: one client attacking from `from_s` to `to_s` at `rate`
/// requests a second.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attack {
    /// What it does.
    pub kind: AttackKind,
    /// The attacking client (left out of the schedule by the scenario).
    pub client: usize,
    /// Requests a second.
    pub rate: f64,
    /// When it starts (seconds from the start of sending).
    pub from_s: u64,
    /// When it stops.
    pub to_s: u64,
    /// The client whose swarm a `connections` or `replicate` attack aims at
    /// (default: client 0).
    #[serde(default)]
    pub victim: Option<usize>,
}

/// The most requests a second an attack may ask for.
pub const MAX_ATTACK_RATE: f64 = 1000.0;

/// What the attack tried and what became of it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AttackCounts {
    /// The attack's kind.
    pub kind: Option<AttackKind>,
    /// Requests sent.
    pub tried: u64,
    /// Requests the nodes carried out (a delete applied, a wait served).
    pub served: u64,
    /// Requests refused, by reason (`rate_limited`, `unreachable`, ...).
    pub refused: BTreeMap<String, u64>,
    /// Requests not sent because too many were in flight.
    pub skipped: u64,
    /// What the nodes' own counters (`sotto_rejected_total` and others)
    /// rose by during the attack, summed over the nodes, by counter; and
    /// readings of their gauges (peak connected peers, smallest directory).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub nodes: BTreeMap<String, u64>,
}

/// The counts shared by the attacker's tasks.
pub type Shared = Arc<Mutex<AttackCounts>>;

fn with<T>(c: &Shared, f: impl FnOnce(&mut AttackCounts) -> T) -> T {
    match c.lock() {
        Ok(mut g) => f(&mut g),
        Err(p) => f(&mut p.into_inner()),
    }
}

/// Counts one answer: served, or refused for the error's reason.
fn count(c: &Shared, outcome: Result<(), ClientError>) {
    with(c, |c| match outcome {
        Ok(()) => c.served += 1,
        Err(e) => {
            let reason = match e {
                ClientError::RateLimited { .. } => "rate_limited",
                ClientError::TokenRequired => "token_required",
                ClientError::OverQuota => "over_quota",
                ClientError::Refused(_) => "refused",
                ClientError::SwarmUnreachable | ClientError::Unreachable => "unreachable",
                _ => "other",
            };
            *c.refused.entry(reason.to_string()).or_insert(0) += 1;
        }
    });
}

/// Counts one answer of a peer attack: served, or refused for `reason`.
fn tally(c: &Shared, outcome: Result<(), &'static str>) {
    with(c, |c| match outcome {
        Ok(()) => c.served += 1,
        Err(reason) => *c.refused.entry(reason.to_string()).or_insert(0) += 1,
    });
}

/// The request times, ms from the start of sending: evenly spaced.
fn times(a: &Attack) -> Vec<u64> {
    let (from, to) = (a.from_s * 1000, a.to_s * 1000);
    let n = (a.rate * (a.to_s.saturating_sub(a.from_s)) as f64).round() as u64;
    let step = 1000.0 / a.rate;
    (0..n)
        .map(|i| from + (i as f64 * step) as u64)
        .filter(|&t| t < to)
        .collect()
}

/// What the attacker sends its requests through.
enum Driver {
    /// Its client.
    Client(Arc<User>),
    /// A fresh libp2p peer per connection.
    Connections(Arc<Arena>),
    /// One gossipsub peer.
    Gossip(gossip::Gossiper),
    /// One replication peer.
    Replicate(replicate::Replicator),
}

/// Runs the attack from `user` (or the peers it makes in `arena`) until its
/// last request (or `stop`); returns once the requests in flight are
/// answered or stopped, having put the nodes' counters into `counts`.
pub async fn run(
    a: Attack,
    user: Arc<User>,
    arena: Arc<Arena>,
    start: Instant,
    counts: Shared,
    mut stop: watch::Receiver<bool>,
) {
    with(&counts, |c| c.kind = Some(a.kind));
    let victim = arena.victim;
    let before = arena.readings();
    let end = start + Duration::from_millis(a.to_s * 1000);
    let driver = match a.kind {
        AttackKind::Deletes | AttackKind::Polls | AttackKind::Inbox => Driver::Client(user),
        AttackKind::Connections => Driver::Connections(arena.clone()),
        AttackKind::Gossip => match gossip::Gossiper::start(&arena) {
            Ok(g) => Driver::Gossip(g),
            Err(e) => return setup_failed(&counts, e),
        },
        AttackKind::Replicate => match replicate::Replicator::start(&arena) {
            Ok(r) => Driver::Replicate(r),
            Err(e) => return setup_failed(&counts, e),
        },
    };
    let driver = Arc::new(driver);
    let slots = Arc::new(tokio::sync::Semaphore::new(a.kind.max_in_flight()));
    let mut tasks = tokio::task::JoinSet::new();
    let mut peak = 0;
    for (i, at) in times(&a).into_iter().enumerate() {
        let due = start + Duration::from_millis(at);
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {}
            _ = stop.changed() => break,
        }
        while tasks.try_join_next().is_some() {}
        peak = peak.max(arena.peak_peers());
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            with(&counts, |c| c.skipped += 1);
            continue;
        };
        with(&counts, |c| c.tried += 1);
        let (driver, counts, stop) = (driver.clone(), counts.clone(), stop.clone());
        tasks.spawn(async move {
            match &*driver {
                Driver::Client(user) => {
                    let outcome = match a.kind {
                        AttackKind::Deletes => deletes::once(user).await,
                        AttackKind::Polls => polls::once(user).await,
                        AttackKind::Inbox => inbox::once(user, victim, i as u64).await,
                        // Peer kinds never get a client driver (above).
                        AttackKind::Connections | AttackKind::Gossip | AttackKind::Replicate => {
                            Err(ClientError::BadResponse)
                        }
                    };
                    count(&counts, outcome);
                }
                Driver::Connections(arena) => {
                    tally(&counts, connections::once(arena, i, end, stop).await)
                }
                Driver::Gossip(g) => tally(&counts, g.once(i).await),
                Driver::Replicate(r) => tally(&counts, r.once(i).await),
            }
            drop(permit);
        });
    }
    tokio::select! {
        _ = async { while tasks.join_next().await.is_some() {} } => {}
        _ = stop.changed() => tasks.abort_all(),
    }
    let after = arena.readings();
    with(&counts, |c| {
        c.nodes = arena::rises(&before, &after);
        if a.kind == AttackKind::Connections {
            c.nodes.insert("peak_connected_peers".into(), peak);
        }
        if a.kind == AttackKind::Gossip {
            let (min, max) = arena.directory_sizes();
            c.nodes
                .insert("directory_nodes_running".into(), arena.node_count());
            c.nodes.insert("directory_smallest".into(), min);
            c.nodes.insert("directory_largest".into(), max);
        }
    });
}

/// Counts an attacker that could not even start (its peer's swarm).
fn setup_failed(counts: &Shared, e: String) {
    sotto_node::errln!("swarm-sim: attack: {e}");
    with(counts, |c| {
        *c.refused.entry("attacker_setup".into()).or_insert(0) += 1;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attack_times_are_even_and_inside_the_window() {
        let a = Attack {
            kind: AttackKind::Deletes,
            client: 0,
            rate: 4.0,
            from_s: 2,
            to_s: 5,
            victim: None,
        };
        let t = times(&a);
        assert_eq!(t.len(), 12);
        assert_eq!(t.first(), Some(&2000));
        assert!(t.iter().all(|&x| (2000..5000).contains(&x)));
    }
}
