//! The task that keeps [`super::PATH_COUNT`] paths ready: it picks relays
//! through the slot's guard, checks the path end to end with a `Ping` to
//! another node, and on failure backs off and tries again, forever, until the
//! client stops. A path that answered far slower than the client's others is
//! built again ([`super::timing`]). While every path is ready it tests the
//! idle ones now and then.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::seq::IndexedRandom;
use sotto_protocol::NodeId;
use sotto_protocol::rpc::{Request, Response};

use super::timing::Choice;
use super::{Backoff, Blame, Outcome, PathRef, Plan, RELAYS, candidates, choose, send_through};
use crate::clock::Learned;
use crate::request::Inner;

/// Failed attempts in a row, with no path ready, after which the status says
/// `Offline` rather than `Building`.
const OFFLINE_AFTER: u32 = 3;

/// What one attempt came to.
#[derive(Debug, PartialEq, Eq)]
enum Attempt {
    Built,
    /// Not enough usable nodes known to build a path.
    TooFew,
    /// A path was tried and did not work.
    Failed,
    /// The paths tried worked but were slow for this client ([`super::timing`]).
    Slow,
}

/// Runs until the client shuts down.
pub(crate) async fn run(inner: Arc<Inner>) {
    let mut shutdown = inner.shutdown.clone();
    let mut backoff = Backoff::default();
    loop {
        if *shutdown.borrow() {
            return;
        }
        let Some(slot) = inner.paths.missing() else {
            tokio::select! {
                _ = inner.paths.wake.notified() => {}
                _ = tokio::time::sleep(inner.config.path_probe_interval) => {
                    probe_idle(&inner).await;
                }
                _ = shutdown.changed() => return,
            }
            continue;
        };
        let attempt = build(&inner, slot).await;
        if attempt == Attempt::Built {
            backoff.reset();
            continue;
        }
        // The next path at once: the slow one worked, and `timing` stops
        // asking for more after a few in a row.
        if attempt == Attempt::Slow {
            continue;
        }
        let wait = backoff.next_wait();
        let none_ready = inner.paths.ready_relays().is_empty();
        if attempt == Attempt::TooFew || backoff.failures() >= OFFLINE_AFTER {
            inner.paths.set_offline(none_ready);
        }
        tracing::debug!(slot, ?attempt, ?wait, "path not built; trying again later");
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            // New nodes may make a path possible at once.
            _ = inner.paths.wake.notified(), if attempt == Attempt::TooFew => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// One attempt at building the path of `slot`.
async fn build(inner: &Inner, slot: usize) -> Attempt {
    let now = inner.clock.now();
    let pool = inner.dir(candidates);
    let mut avoid = inner.paths.avoided();
    let allow = inner.config.params.allow_same_subnet;
    // Three relays and a node to test them with.
    if pool.len() < RELAYS + 1 {
        return Attempt::TooFew;
    }
    // Avoiding most of the network cannot be the nodes' fault; forget the
    // failures rather than stay without a path until they expire.
    let usable = pool.iter().filter(|c| !avoid.contains(&c.node)).count();
    if usable < (RELAYS + 1).max(pool.len() / 2) {
        tracing::info!(
            avoided = avoid.len(),
            known = pool.len(),
            "most known nodes failed recently; trying them all again"
        );
        inner.paths.forgive_all();
        avoid.clear();
    }
    let (guards, save) = inner.paths.update_guards(|g| {
        let changed = g.refresh(&mut rand::rng(), now, &pool, &avoid, allow);
        (g.list().iter().map(|g| g.node).collect::<Vec<_>>(), changed)
    });
    inner.save_guards(save).await;
    let Some(guard) = guards
        .get(slot)
        .and_then(|g| pool.iter().find(|c| c.node == *g))
    else {
        return Attempt::TooFew;
    };

    // Prefer relays no other path uses; settle for sharing all but the guard.
    // A guard that failed recently is still tried: it is replaced only after
    // repeated failures, as in Tor.
    let mut base: HashSet<NodeId> = avoid.clone();
    base.remove(&guard.node);
    base.extend(guards.iter().filter(|g| **g != guard.node).copied());
    let mut disjoint = base.clone();
    disjoint.extend(inner.paths.ready_relays().into_iter().flatten());
    let count = inner.paths.timing(|t| t.candidates());
    let mut tests = Vec::with_capacity(count);
    for _ in 0..count {
        let mut rng = rand::rng();
        let Some(relays) = choose(&mut rng, &pool, Some(guard), RELAYS, &disjoint, allow)
            .or_else(|| choose(&mut rng, &pool, Some(guard), RELAYS, &base, allow))
        else {
            break;
        };
        let targets: Vec<NodeId> = pool
            .iter()
            .map(|c| c.node)
            .filter(|n| !relays.contains(n) && !avoid.contains(n))
            .collect();
        let Some(target) = targets.choose(&mut rng).copied() else {
            break;
        };
        tests.push(timed_ping(inner, relays, target));
    }
    if tests.is_empty() {
        return Attempt::TooFew;
    }

    let mut answered = Vec::new();
    for (relays, result) in futures::future::join_all(tests).await {
        let path = PathRef { slot: None, relays };
        match result {
            Ok(rtt) => {
                let save = inner.paths.succeeded(&path);
                inner.save_guards(save).await;
                answered.push((path.relays, rtt));
            }
            Err(blamed) => {
                let save = inner.paths.failed(&path, blamed);
                inner.save_guards(save).await;
            }
        }
    }
    if answered.is_empty() {
        return Attempt::Failed;
    }
    let rtts: Vec<Duration> = answered.iter().map(|(_, rtt)| *rtt).collect();
    match inner.paths.timing(|t| t.choose(&mut rand::rng(), &rtts)) {
        Choice::Install(i) if i < answered.len() => {
            let (relays, rtt) = answered.swap_remove(i);
            tracing::debug!(slot, ?rtt, "path ready");
            inner.paths.install(slot, relays);
            Attempt::Built
        }
        _ => {
            tracing::debug!(
                slot,
                ?rtts,
                "path slower than the client's others: building another"
            );
            Attempt::Slow
        }
    }
}

/// [`ping_through`] `relays` to `target`, timed: the relays and the round
/// trip, or the node to blame.
async fn timed_ping(
    inner: &Inner,
    relays: Vec<NodeId>,
    target: NodeId,
) -> (Vec<NodeId>, Result<Duration, Option<NodeId>>) {
    let started = Instant::now();
    let result = ping_through(inner, &relays, target).await;
    (relays, result.map(|()| started.elapsed()))
}

/// Tests the ready paths nothing went through for the probe interval. A
/// probe that fails in the path (a relay, or the link to the guard) drops
/// the path at once: no request of the user is at stake, and a fresh path
/// is cheaper than a request that finds the dead relay later. A probe whose
/// target failed says nothing about the path; only the target is avoided.
async fn probe_idle(inner: &Inner) {
    // All at once: a probe of a dead path waits out its timeout, and the
    // builder must not spend one such wait per path before it rebuilds.
    let probes = inner
        .paths
        .idle(inner.config.path_probe_interval)
        .into_iter()
        .map(|path| probe(inner, path));
    futures::future::join_all(probes).await;
}

async fn probe(inner: &Inner, path: PathRef) {
    let Some(target) = inner.dir(|d| {
        let others: Vec<NodeId> = candidates(d)
            .iter()
            .map(|c| c.node)
            .filter(|n| !path.relays.contains(n))
            .collect();
        others.choose(&mut rand::rng()).copied()
    }) else {
        return;
    };
    match ping_through(inner, &path.relays, target).await {
        Ok(()) => {
            let save = inner.paths.succeeded(&path);
            inner.save_guards(save).await;
        }
        Err(blamed) if blamed.is_some_and(|b| b == target) => {
            let one_off = PathRef {
                slot: None,
                relays: path.relays.clone(),
            };
            let save = inner.paths.failed(&one_off, blamed);
            inner.save_guards(save).await;
        }
        Err(blamed) => {
            tracing::debug!(relays = ?path.relays, "idle path failed its probe: rebuilding");
            let save = inner.paths.failed(&path, blamed);
            inner.save_guards(save).await;
            inner.paths.drop_path(&path);
        }
    }
}

/// Sends a `Ping` to `target` over `relays` (guard first). `Err` carries the
/// node to blame, when the answer names one.
async fn ping_through(
    inner: &Inner,
    relays: &[NodeId],
    target: NodeId,
) -> Result<(), Option<NodeId>> {
    let now = inner.clock.now();
    let plan = inner
        .dir(|d| Plan::new(d, relays, target, now))
        .map_err(|_| None)?;
    let ping = Request::Ping.encode().map_err(|_| None)?;
    let outcome = send_through(&inner.net, &plan, &ping, now, &inner.rejected)
        .await
        .map_err(|_| None)?;
    Err(match outcome {
        Outcome::Answer(body) => match Response::decode(&body, inner.clock.now()) {
            Ok(Response::Pong { node_time }) => {
                // A clock set from one bootstrap node is refined from the
                // times of the nodes paths are tested against.
                if let Learned::Moved(step_ms) =
                    inner.clock.observe_if_provisional(target, node_time)
                {
                    tracing::info!(step_ms, "refined the clock from the nodes' times");
                }
                return Ok(());
            }
            _ => {
                inner.rejected.inc("onion", "bad_pong");
                Some(target)
            }
        },
        Outcome::RelayError {
            blame: Blame::Relay(n),
            ..
        } => Some(n),
        Outcome::RelayError {
            blame: Blame::Destination,
            ..
        } => Some(target),
        Outcome::Transport(_) => relays.first().copied(),
        Outcome::Refused | Outcome::Garbled => None,
    })
}
