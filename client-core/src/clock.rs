//! The client's clock: the device's clock plus a correction learned from the
//! nodes' times (DESIGN §5), so a device whose clock is seconds or days off
//! still verifies records, picks onion keys and signs requests as the network
//! expects.
//!
//! Which clock serves what:
//!
//! - [`ClientClock::now`], the corrected clock: signing requests, checking
//!   node records and onion key windows, checking the timestamps in answers,
//!   dating messages (`sent_at`) and the expiries asked of nodes. These meet
//!   other machines' clocks.
//! - [`ClientClock::device_now`], the device's own clock: local timers only
//!   (disappearing messages on this device). What a node says about the time
//!   can never make local messages vanish early or stay late.
//!
//! How the correction is learned:
//!
//! 1. **Bootstrap** ([`ClientClock::sync`]): before the first directory fetch
//!    the client asks every bootstrap node for its time (`Ping`/`Pong`) and
//!    takes the median whole, however large (a device days off has no other
//!    way in; bootstrap nodes are the ones the user chose to trust for the
//!    directory). With one bootstrap node the result is provisional.
//! 2. **Afterwards** ([`ClientClock::observe`]): only from `ClockSkew` answers
//!    (and, while provisional, the `Pong`s of path tests), kept as a few recent
//!    samples per node. The clock moves to the median of the sampled nodes'
//!    estimates together with its own current correction as one more vote,
//!    only when at least [`MIN_NODES`] distinct nodes were sampled, and by at
//!    most [`MAX_STEP_MS`] per step. With its own vote in the median one node
//!    can never move the clock: it needs a majority of the sampled nodes on
//!    its side. A step cut short by the bound asks for a new bootstrap sync
//!    ([`ClientClock::needs_sync`]), since only bootstrap answers make large
//!    corrections.
//!
//! Every change happens under one lock, so answers arriving together are each
//! counted once: the correction is computed from the samples, never by adding
//! offsets to a value read earlier.

mod samples;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use sotto_protocol::constants::AUTH_CLOCK_WINDOW_MS;
use sotto_protocol::time::DAY_MS;
use sotto_protocol::{NodeId, UnixMillis};

use samples::Samples;

/// A correction smaller than this is not worth applying: it is within what
/// network delay and honest clock differences explain, and the nodes' window
/// is ±5 min anyway.
pub const CORRECTION_THRESHOLD_MS: i64 = 30_000;

/// A bootstrap median this close to the current correction leaves it as it
/// is: that much is what the answers' delays explain (half a loaded round
/// trip), and taking it would give clients with the same, right, device clock
/// corrections a second apart; group members settle an epoch by this clock
/// (ARCHITECTURE, Groups, *Ordering*).
pub const SYNC_NOISE_MS: i64 = 2_000;

/// The largest correction believed, in either direction. Bounds what lying
/// bootstrap nodes can do to the clock; a device more than a week off must be
/// set right by its user.
pub const MAX_CORRECTION_MS: i64 = 7 * DAY_MS as i64;

/// The most one step learned from `ClockSkew` answers moves the clock:
/// twice the nodes' signature window, the widest two honest nodes can
/// disagree (one 5 min slow, one 5 min fast). After the bootstrap sync every
/// honest correction fits in one step; a group of lying nodes that outvotes
/// the honest ones moves the clock at most this far before a bootstrap sync
/// is asked for (which sets it from the bootstrap nodes again).
pub const MAX_STEP_MS: i64 = 2 * AUTH_CLOCK_WINDOW_MS as i64;

/// Distinct nodes whose samples a step needs.
pub const MIN_NODES: usize = 2;

/// Recent samples kept per node; its estimate is their median, so one odd
/// answer of an honest node (a long delay) does not count.
pub const SAMPLES_PER_NODE: usize = 3;

/// Nodes whose samples are kept; the one heard from longest ago goes first.
pub const MAX_SAMPLED_NODES: usize = 16;

/// Samples older than this are forgotten: the device clock may have been
/// changed since.
pub const SAMPLE_MAX_AGE: Duration = Duration::from_secs(30 * 60);

/// Least time between two bootstrap syncs asked for by [`MAX_STEP_MS`]
/// being hit, so lying nodes cannot make the client ping its bootstrap nodes
/// without end.
pub const MIN_RESYNC_INTERVAL: Duration = Duration::from_secs(60);

/// How sure the client is of its correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    /// No bootstrap node has answered yet: the device clock as it is.
    Unsynced,
    /// From one node only (a single bootstrap node); refined by the first
    /// decision that [`MIN_NODES`] nodes take part in.
    Provisional,
    /// From the median of at least [`MIN_NODES`] nodes.
    Synced,
}

/// What an observed node time did to the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    /// Nothing: too few nodes sampled, or their median agrees with the clock
    /// within [`CORRECTION_THRESHOLD_MS`].
    Unchanged,
    /// The correction moved by this many ms.
    Moved(i64),
}

/// The state changed together under the lock.
#[derive(Debug)]
struct State {
    samples: Samples,
    sync: SyncState,
    /// A step was cut short: the bootstrap nodes are to be asked again.
    resync: bool,
    /// When the last bootstrap sync succeeded.
    last_sync: Option<Instant>,
}

/// Unix milliseconds as the client should use them.
#[derive(Debug)]
pub struct ClientClock {
    /// How far the device's clock is off the system's (tests and the simulator
    /// model a wrong device clock with it; 0 in real use).
    device_skew_ms: i64,
    /// What the client adds to its device clock. Read without the lock;
    /// written only while holding `state`.
    correction_ms: AtomicI64,
    state: Mutex<State>,
}

impl Default for ClientClock {
    fn default() -> Self {
        Self::new(0)
    }
}

impl ClientClock {
    /// The system clock, moved by `device_skew_ms` to model a wrong clock;
    /// no correction yet.
    pub fn new(device_skew_ms: i64) -> Self {
        Self {
            device_skew_ms,
            correction_ms: AtomicI64::new(0),
            state: Mutex::new(State {
                samples: Samples::default(),
                sync: SyncState::Unsynced,
                resync: false,
                last_sync: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state consistent before it can panic (none
        // does), so a poisoned lock still holds a usable state.
        match self.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        }
    }

    /// The device's own clock: for local timers only.
    pub fn device_now(&self) -> UnixMillis {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        system.saturating_add_signed(self.device_skew_ms)
    }

    /// The corrected clock: what requests are signed and records, keys and
    /// answers checked with.
    pub fn now(&self) -> UnixMillis {
        self.device_now()
            .saturating_add_signed(self.correction_ms.load(Ordering::Acquire))
    }

    /// The correction in use.
    pub fn correction_ms(&self) -> i64 {
        self.correction_ms.load(Ordering::Acquire)
    }

    /// How sure the client is of the correction.
    pub fn sync_state(&self) -> SyncState {
        self.lock().sync
    }

    /// Whether the bootstrap nodes should be asked for the time now: never
    /// asked successfully yet, or a step was cut short by [`MAX_STEP_MS`]
    /// and the last sync is [`MIN_RESYNC_INTERVAL`] old.
    pub fn needs_sync(&self) -> bool {
        let s = self.lock();
        match s.last_sync {
            None => true,
            Some(at) => s.resync && at.elapsed() >= MIN_RESYNC_INTERVAL,
        }
    }

    /// The correction a node's answer implies: `node_time` is its clock when
    /// it answered, `sent` and `received` the device clock when the question
    /// left and the answer came (the answer is taken to be made halfway).
    pub fn estimate(node_time: UnixMillis, sent: UnixMillis, received: UnixMillis) -> i64 {
        let midway = i128::from(sent) + (i128::from(received) - i128::from(sent)) / 2;
        let diff = i128::from(node_time) - midway;
        clamp_i128(diff)
    }

    /// Sets the correction from the bootstrap nodes' answers (each an
    /// [`ClientClock::estimate`]): their median, taken whole but within
    /// ±[`MAX_CORRECTION_MS`], unless it is within [`SYNC_NOISE_MS`] of the
    /// current correction. The only place a large correction is taken.
    /// Earlier samples are dropped (the device clock may have jumped since).
    /// Returns the new correction, or `None` (nothing changes) when
    /// `estimates` is empty.
    pub fn sync(&self, estimates: &[i64]) -> Option<i64> {
        let mut sorted = estimates.to_vec();
        sorted.sort_unstable();
        let n = sorted.len();
        let median = match n {
            0 => return None,
            _ if n % 2 == 1 => *sorted.get(n / 2)?,
            _ => {
                let lo = i128::from(*sorted.get(n / 2 - 1)?);
                let hi = i128::from(*sorted.get(n / 2)?);
                clamp_i128((lo + hi) / 2)
            }
        };
        let mut s = self.lock();
        let current = self.correction_ms.load(Ordering::Acquire);
        let next = if median.saturating_sub(current).unsigned_abs() < SYNC_NOISE_MS.unsigned_abs() {
            current
        } else {
            median.clamp(-MAX_CORRECTION_MS, MAX_CORRECTION_MS)
        };
        s.samples.clear();
        s.sync = if n >= MIN_NODES {
            SyncState::Synced
        } else {
            SyncState::Provisional
        };
        s.resync = false;
        s.last_sync = Some(Instant::now());
        self.correction_ms.store(next, Ordering::Release);
        Some(next)
    }

    /// Takes in that `node`'s clock read `node_time` when it answered just
    /// now (a `ClockSkew` answer). See the module doc for the rule.
    pub fn observe(&self, node: NodeId, node_time: UnixMillis) -> Learned {
        let device = self.device_now();
        self.learn(
            node,
            Self::estimate(node_time, device, device),
            Instant::now(),
        )
    }

    /// [`ClientClock::observe`] for an answer that is not a `ClockSkew`
    /// (the `Pong` of a path test): counted only while the correction is
    /// [`SyncState::Provisional`], to refine a single bootstrap node's time.
    pub fn observe_if_provisional(&self, node: NodeId, node_time: UnixMillis) -> Learned {
        if self.sync_state() != SyncState::Provisional {
            return Learned::Unchanged;
        }
        self.observe(node, node_time)
    }

    /// Adds the sample `estimate` (a correction) from `node` taken at `at`,
    /// then steps the correction toward the median if the rule allows.
    fn learn(&self, node: NodeId, estimate: i64, at: Instant) -> Learned {
        let mut s = self.lock();
        s.samples.add(node, estimate, at);
        let current = self.correction_ms.load(Ordering::Acquire);
        let Some(target) = s.samples.vote(current, at) else {
            return Learned::Unchanged;
        };
        // At least MIN_NODES took part: whatever it says, the correction is
        // no longer one node's.
        if s.sync == SyncState::Provisional {
            s.sync = SyncState::Synced;
        }
        let diff = target.saturating_sub(current);
        if diff.unsigned_abs() < CORRECTION_THRESHOLD_MS.unsigned_abs() {
            return Learned::Unchanged;
        }
        if diff.unsigned_abs() > MAX_STEP_MS.unsigned_abs() {
            s.resync = true;
        }
        let step = diff.clamp(-MAX_STEP_MS, MAX_STEP_MS);
        let next = current
            .saturating_add(step)
            .clamp(-MAX_CORRECTION_MS, MAX_CORRECTION_MS);
        self.correction_ms.store(next, Ordering::Release);
        if next == current {
            Learned::Unchanged
        } else {
            Learned::Moved(next - current)
        }
    }
}

/// `v` within `i64`.
fn clamp_i128(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests;
