//! Onion paths (DESIGN §7): two ready paths of three relays (guard, middle,
//! exit), each through one of the two persisted guards, counted and rebuilt
//! when they fail, and the status a front end shows for them.
//!
//! A path is built ahead of time without knowing where requests will go; a
//! request whose destination (or whose destination's swarm) touches a ready
//! path's relays gets a path of its own for that request instead (see
//! [`Paths::pick`]), so the hop rules hold for every request.

mod backoff;
pub mod bias;
pub(crate) mod builder;
mod guards;
mod select;
mod send;
pub mod timing;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sotto_protocol::NodeId;
use tokio::sync::{Notify, watch};

pub use backoff::{BASE_BACKOFF, Backoff, MAX_BACKOFF};
pub use bias::{PathBias, Verdict};
pub use guards::{GUARD_COUNT, GUARD_FILE, GUARD_LIFETIME_MS, GUARD_MAX_FAILURES, Guard, Guards};
pub use select::{Candidate, RELAYS, candidates, choose, compatible};
pub use send::{Blame, Outcome, Plan, PlanError, send_through};

/// Ready paths kept (DESIGN §11).
pub const PATH_COUNT: usize = 2;
/// Failures after which a path is rebuilt (DESIGN §11, as Session).
pub const PATH_FAILURE_LIMIT: u32 = 3;
/// How long a node that failed is left out of new paths.
pub const AVOID_FOR: Duration = Duration::from_secs(10 * 60);
/// Most failed nodes remembered; the oldest are forgotten first.
const MAX_AVOIDED: usize = 1024;
/// Paths made for requests that no ready path fitted, kept for more such
/// requests; the oldest is dropped first.
pub const EXTRA_PATHS: usize = 4;
/// How long such a path is used from when it was made (Tor's
/// `MaxCircuitDirtiness`, 10 minutes).
pub const EXTRA_PATH_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// What a front end shows about the client's paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStatus {
    /// Building paths; no path is ready yet.
    Building,
    /// At least one path is ready: the relays of each ready path, guard first.
    Ready {
        /// Each ready path's relays.
        hops: Vec<Vec<NodeId>>,
    },
    /// No path can be built now (too few nodes known, or the network cannot
    /// be reached); the client keeps trying.
    Offline,
}

/// A ready path.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReadyPath {
    relays: Vec<NodeId>,
    failures: u32,
    /// When it was built or a request last went through it.
    last_ok: Instant,
}

/// A path made for a request no ready path fitted, which worked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ExtraPath {
    relays: Vec<NodeId>,
    made: Instant,
}

/// The path a request goes over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathRef {
    /// The ready path's slot, or `None` for a path made for one request.
    pub slot: Option<usize>,
    /// Its relays, guard first.
    pub relays: Vec<NodeId>,
}

#[derive(Debug)]
struct State {
    slots: Vec<Option<ReadyPath>>,
    guards: Guards,
    avoid: HashMap<NodeId, Instant>,
    /// How much each relay's word has moved the avoid list, and how the
    /// guards' paths fare ([`bias`]).
    bias: PathBias,
    offline: bool,
    /// Which slot the next request tries first (they take turns).
    turn: usize,
    /// The round trips of recent path tests ([`timing`]).
    timing: timing::BuildTimes,
    /// Paths made for single requests that worked, newest last.
    extra: Vec<ExtraPath>,
}

/// The client's paths and guards. Shared by the requests and the builder task.
#[derive(Debug)]
pub struct Paths {
    state: Mutex<State>,
    status: watch::Sender<PathStatus>,
    /// Wakes the builder: a path was dropped, or the directory changed.
    pub(crate) wake: Notify,
}

impl Paths {
    /// No paths yet, with `guards`.
    pub fn new(guards: Guards) -> Self {
        let (status, _) = watch::channel(PathStatus::Building);
        Self {
            state: Mutex::new(State {
                slots: vec![None; PATH_COUNT],
                guards,
                avoid: HashMap::new(),
                bias: PathBias::default(),
                offline: false,
                turn: 0,
                timing: timing::BuildTimes::default(),
                extra: Vec::new(),
            }),
            status,
            wake: Notify::new(),
        }
    }

    /// Path status changes.
    pub fn subscribe(&self) -> watch::Receiver<PathStatus> {
        self.status.subscribe()
    }

    fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        // A poisoned lock means a panic elsewhere; the state itself is still
        // consistent (every update is a single assignment), so keep going.
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    fn publish(&self, state: &State) {
        let hops: Vec<Vec<NodeId>> = state
            .slots
            .iter()
            .flatten()
            .map(|p| p.relays.clone())
            .collect();
        let status = if !hops.is_empty() {
            PathStatus::Ready { hops }
        } else if state.offline {
            PathStatus::Offline
        } else {
            PathStatus::Building
        };
        self.status.send_if_modified(|s| {
            let changed = *s != status;
            *s = status;
            changed
        });
    }

    /// The nodes to leave out of new paths now (failed recently).
    pub fn avoided(&self) -> HashSet<NodeId> {
        let now = Instant::now();
        self.with(|s| {
            s.avoid.retain(|_, until| *until > now);
            s.avoid.keys().copied().collect()
        })
    }

    /// Forgets every failed node at once. For when the failures have left
    /// too few nodes to build a path: that many nodes failing together is
    /// a network problem (a partition, the client's own link) far more
    /// likely than that many bad nodes, and waiting out [`AVOID_FOR`] would
    /// keep the client offline long after the network is back.
    pub fn forgive_all(&self) {
        self.with(|s| s.avoid.clear());
    }

    /// A ready path whose relays are all outside `exclude` and that is not in
    /// `tried`, taking turns between the ready paths.
    pub fn pick(&self, exclude: &HashSet<NodeId>, tried: &[PathRef]) -> Option<PathRef> {
        self.with(|s| {
            let n = s.slots.len();
            let start = s.turn;
            s.turn = (s.turn + 1) % n.max(1);
            (0..n).map(|i| (start + i) % n).find_map(|i| {
                let path = s.slots.get(i)?.as_ref()?;
                let candidate = PathRef {
                    slot: Some(i),
                    relays: path.relays.clone(),
                };
                let usable =
                    path.relays.iter().all(|r| !exclude.contains(r)) && !tried.contains(&candidate);
                usable.then_some(candidate)
            })
        })
    }

    /// A path made earlier for a request that no ready path fitted (see
    /// [`Paths::keep_extra`]), whose relays are all outside `exclude` and
    /// the nodes that failed lately, and that is not in `tried`. Such a path
    /// is used for [`EXTRA_PATH_LIFETIME`], as Tor uses a circuit: otherwise
    /// a client whose ready paths both touch an account's swarm (a quarter
    /// of clients for their inbox on a 25-node network) would make a path,
    /// and often new connections between its relays, for every request to
    /// that swarm.
    pub fn pick_extra(&self, exclude: &HashSet<NodeId>, tried: &[PathRef]) -> Option<PathRef> {
        let now = Instant::now();
        self.with(|s| {
            s.avoid.retain(|_, until| *until > now);
            s.extra
                .retain(|p| now.duration_since(p.made) < EXTRA_PATH_LIFETIME);
            let avoid = &s.avoid;
            s.extra.iter().rev().find_map(|p| {
                let candidate = PathRef {
                    slot: None,
                    relays: p.relays.clone(),
                };
                let usable = p
                    .relays
                    .iter()
                    .all(|r| !exclude.contains(r) && !avoid.contains_key(r))
                    && !tried.contains(&candidate);
                usable.then_some(candidate)
            })
        })
    }

    /// Keeps `path`, made for one request that it answered, for more
    /// requests that no ready path fits ([`Paths::pick_extra`]). A ready
    /// path, or one kept already, is left as it is.
    pub fn keep_extra(&self, path: &PathRef) {
        if path.slot.is_some() {
            return;
        }
        self.with(|s| {
            if s.extra.iter().any(|p| p.relays == path.relays) {
                return;
            }
            if s.extra.len() >= EXTRA_PATHS {
                s.extra.remove(0);
            }
            s.extra.push(ExtraPath {
                relays: path.relays.clone(),
                made: Instant::now(),
            });
        });
    }

    /// Runs `f` on the round trips of recent path tests.
    pub fn timing<T>(&self, f: impl FnOnce(&mut timing::BuildTimes) -> T) -> T {
        self.with(|s| f(&mut s.timing))
    }

    /// The guards, in slot order.
    pub fn guards(&self) -> Vec<NodeId> {
        self.with(|s| s.guards.list().iter().map(|g| g.node).collect())
    }

    /// Runs `f` on the guards; returns its answer and a copy of the guards to
    /// save if `f` says they changed.
    pub(crate) fn update_guards<T>(
        &self,
        f: impl FnOnce(&mut Guards) -> (T, bool),
    ) -> (T, Option<Guards>) {
        let mut out = None;
        let value = self.with(|s| {
            let (value, changed) = f(&mut s.guards);
            if changed {
                out = Some(s.guards.clone());
            }
            value
        });
        (value, out)
    }

    /// The slot of the first missing path, if any.
    pub(crate) fn missing(&self) -> Option<usize> {
        self.with(|s| s.slots.iter().position(Option::is_none))
    }

    /// The relays of every ready path.
    pub(crate) fn ready_relays(&self) -> Vec<Vec<NodeId>> {
        self.with(|s| s.slots.iter().flatten().map(|p| p.relays.clone()).collect())
    }

    /// The ready paths nothing has gone through for `idle` or longer.
    pub(crate) fn idle(&self, idle: Duration) -> Vec<PathRef> {
        self.with(|s| {
            s.slots
                .iter()
                .enumerate()
                .filter_map(|(i, p)| {
                    let p = p.as_ref()?;
                    (p.last_ok.elapsed() >= idle).then(|| PathRef {
                        slot: Some(i),
                        relays: p.relays.clone(),
                    })
                })
                .collect()
        })
    }

    /// Drops the ready path `path` (still in its slot) and wakes the builder.
    pub(crate) fn drop_path(&self, path: &PathRef) {
        let dropped = self.with(|s| {
            let Some(place) = path.slot.and_then(|i| s.slots.get_mut(i)) else {
                return false;
            };
            if place.as_ref().is_some_and(|p| p.relays == path.relays) {
                *place = None;
                self.publish(s);
                return true;
            }
            false
        });
        if dropped {
            self.wake.notify_one();
        }
    }

    /// Installs a built path in `slot`.
    pub(crate) fn install(&self, slot: usize, relays: Vec<NodeId>) {
        self.with(|s| {
            if let Some(place) = s.slots.get_mut(slot) {
                *place = Some(ReadyPath {
                    relays,
                    failures: 0,
                    last_ok: Instant::now(),
                });
            }
            s.offline = false;
            self.publish(s);
        });
    }

    /// Drops every ready path that uses a node `keep` refuses (for example a
    /// node that left the directory). Returns whether any was dropped.
    pub(crate) fn retain(&self, keep: impl Fn(&NodeId) -> bool) -> bool {
        let dropped = self.with(|s| {
            let mut dropped = false;
            for slot in s.slots.iter_mut() {
                if slot.as_ref().is_some_and(|p| !p.relays.iter().all(&keep)) {
                    *slot = None;
                    dropped = true;
                }
            }
            s.extra.retain(|p| p.relays.iter().all(&keep));
            self.publish(s);
            dropped
        });
        if dropped {
            self.wake.notify_one();
        }
        dropped
    }

    /// Marks the builder offline (no path possible) or not.
    pub(crate) fn set_offline(&self, offline: bool) {
        self.with(|s| {
            s.offline = offline;
            self.publish(s);
        });
    }

    /// Counts a failed request over `path`, blaming `blamed` if known. The
    /// blamed node is left out of new paths for [`AVOID_FOR`] and counted
    /// against it if it is a guard, unless the relay that reported it has
    /// already pushed out too many nodes: then the reporter is avoided instead
    /// ([`bias`], rule 2). A failure in the path counts against its guard's
    /// success rate, and a guard whose paths fail far more than the other's is
    /// dropped (rule 3). A ready path that reaches [`PATH_FAILURE_LIMIT`]
    /// failures is dropped and the builder woken. Returns the guards to save
    /// if they changed.
    pub fn failed(&self, path: &PathRef, blamed: Option<NodeId>) -> Option<Guards> {
        let mut save = None;
        let mut dropped = false;
        self.with(|s| {
            let now = Instant::now();
            if let Some(node) = blamed {
                let reporter = reporter_of(&path.relays, &node);
                let avoided = match (s.bias.accuse(reporter, node, now), reporter) {
                    (Verdict::AvoidReporter, Some(reporter)) => {
                        tracing::info!(
                            %reporter, accused = %node,
                            "relay has accused too many nodes lately: avoiding it instead"
                        );
                        reporter
                    }
                    _ => node,
                };
                if s.avoid.len() >= MAX_AVOIDED {
                    let oldest = s.avoid.iter().min_by_key(|(_, t)| **t).map(|(n, _)| *n);
                    if let Some(oldest) = oldest {
                        s.avoid.remove(&oldest);
                    }
                }
                s.avoid.insert(avoided, now + AVOID_FOR);
                if s.guards.failed(&avoided) {
                    save = Some(s.guards.clone());
                }
            }
            // A destination that did not answer says nothing of the path.
            let path_at_fault = blamed.is_none_or(|b| path.relays.contains(&b));
            if let Some(guard) = path.relays.first().copied()
                && path_at_fault
            {
                s.bias.attempt(guard, false);
                if judge_guards(s) {
                    dropped = true;
                    save = Some(s.guards.clone());
                }
            }
            let Some(slot) = path.slot else {
                // A kept single-request path is dropped at its first failure.
                s.extra.retain(|p| p.relays != path.relays);
                return;
            };
            if let Some(place) = s.slots.get_mut(slot)
                && let Some(p) = place.as_mut().filter(|p| p.relays == path.relays)
            {
                p.failures = p.failures.saturating_add(1);
                if p.failures >= PATH_FAILURE_LIMIT {
                    tracing::debug!(slot, "path failed {PATH_FAILURE_LIMIT} times: rebuilding");
                    *place = None;
                    dropped = true;
                }
            }
            self.publish(s);
        });
        if dropped {
            self.wake.notify_one();
        }
        save
    }

    /// The success record of `guard`'s paths since the client started.
    pub fn guard_record(&self, guard: &NodeId) -> bias::GuardRecord {
        self.with(|s| s.bias.record(guard))
    }

    /// Counts a request that went through `path`: its failures start again
    /// from zero, and so do its guard's. Returns the guards to save if they
    /// changed.
    pub fn succeeded(&self, path: &PathRef) -> Option<Guards> {
        self.with(|s| {
            if let Some(p) = path
                .slot
                .and_then(|i| s.slots.get_mut(i))
                .and_then(Option::as_mut)
                .filter(|p| p.relays == path.relays)
            {
                p.failures = 0;
                p.last_ok = Instant::now();
            }
            let guard = path.relays.first()?;
            s.bias.attempt(*guard, true);
            s.guards.succeeded(guard).then(|| s.guards.clone())
        })
    }
}

/// Who reported a failure of `accused` on a path of `relays`: the relay before
/// it, or the exit when the accused is the destination. `None` when the client
/// itself saw the guard fail.
fn reporter_of(relays: &[NodeId], accused: &NodeId) -> Option<NodeId> {
    match relays.iter().position(|r| r == accused) {
        Some(0) => None,
        Some(i) => relays.get(i - 1).copied(),
        None => relays.last().copied(),
    }
}

/// Drops a guard whose paths fail far more than the other's ([`bias`], rule 3),
/// and the ready paths through it. Returns whether one was dropped.
fn judge_guards(s: &mut State) -> bool {
    let guards: Vec<NodeId> = s.guards.list().iter().map(|g| g.node).collect();
    s.bias.keep_guards(&guards);
    let Some(bad) = s.bias.biased_guard(&guards) else {
        return false;
    };
    let record = s.bias.record(&bad);
    tracing::warn!(
        guard = %bad,
        attempts = record.attempts,
        successes = record.successes,
        "dropping a guard whose paths fail far more often than the other guard's (path bias)"
    );
    s.guards.condemn(&bad);
    s.extra.retain(|p| p.relays.first() != Some(&bad));
    let others: Vec<NodeId> = guards.into_iter().filter(|g| *g != bad).collect();
    s.bias.keep_guards(&others);
    for slot in s.slots.iter_mut() {
        if slot
            .as_ref()
            .is_some_and(|p| p.relays.first() == Some(&bad))
        {
            *slot = None;
        }
    }
    true
}

#[cfg(test)]
mod tests;
