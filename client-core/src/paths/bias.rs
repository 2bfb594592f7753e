//! Path-bias defence: how much one relay's word may move the client's paths.
//!
//! A relay that answers "I could not reach the next node" names that node, and
//! the client leaves the named node out of new paths for a while. Taken at its
//! word, a hostile guard could name every honest middle it is handed (and a
//! hostile middle every honest exit) until the client builds only paths through
//! the attacker's nodes: *path steering*. Tor answers the same threat with its
//! path-bias accounting (counting how often circuits through each guard fail);
//! the rules here are Sotto's own, sized for two guards and three-hop paths:
//!
//! 1. **A failure has three suspects**: the named node, the relay that reported
//!    it, and the link between them. The client cannot tell which is at fault,
//!    so the *reporter* is charged for every accusation it makes.
//! 2. **One reporter, bounded influence**: within [`ACCUSATION_WINDOW`] a relay
//!    may put at most [`MAX_ACCUSED_PER_REPORTER`] distinct nodes on the avoid
//!    list. A further accusation avoids the *reporter* instead: either it lies,
//!    or its own links are broken, and in both cases it is the common factor.
//!    A repeated accusation of the same node (the same link failing again)
//!    spends nothing more.
//! 3. **Guards are measured**: every request through a guard is an attempt, and
//!    one that came back through the whole path a success. A guard with at least
//!    [`MIN_ATTEMPTS`] attempts whose success rate is below
//!    [`DROP_RATE_FACTOR`] times the other guard's (which has as many attempts)
//!    and below [`DROP_RATE_CEILING`] is dropped, with a warning in the log. The
//!    counts live in memory and start again with the process; an attacker who
//!    is dropped loses the client for good, since guards are chosen at random.
//!
//! What this does not stop: a hostile guard that forwards everything honestly
//! but watches (that is what guards are for: a client has two, for weeks), and
//! a network where failures are honest and frequent (each rule then costs at
//! most one rebuilt path).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use sotto_protocol::NodeId;

/// How long an accusation counts against its reporter (the avoid list's own
/// period, `AVOID_FOR`).
pub const ACCUSATION_WINDOW: Duration = super::AVOID_FOR;
/// Distinct nodes one reporter may have avoided within [`ACCUSATION_WINDOW`].
pub const MAX_ACCUSED_PER_REPORTER: usize = 2;
/// Attempts through a guard before its success rate is judged.
pub const MIN_ATTEMPTS: u32 = 20;
/// A guard is dropped when its success rate is below this share of the other
/// guard's…
pub const DROP_RATE_FACTOR: f64 = 0.5;
/// …and below this rate in absolute terms (so two good guards are never
/// compared into a drop).
pub const DROP_RATE_CEILING: f64 = 0.7;
/// Reporters remembered; the quietest are forgotten first.
const MAX_REPORTERS: usize = 256;

/// What to do with one accusation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Avoid the named node (the reporter had influence left, or there is no
    /// reporter: the client saw the failure itself).
    AvoidAccused,
    /// Avoid the reporter: it has accused too many nodes lately.
    AvoidReporter,
}

/// Success counts of the guards' paths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GuardRecord {
    /// Requests and probes sent through the guard.
    pub attempts: u32,
    /// Those that came back through the whole path.
    pub successes: u32,
}

impl GuardRecord {
    /// Successes over attempts (1 with no attempts).
    pub fn rate(&self) -> f64 {
        if self.attempts == 0 {
            1.0
        } else {
            f64::from(self.successes) / f64::from(self.attempts)
        }
    }
}

/// The accounting of the module docs.
#[derive(Debug, Default)]
pub struct PathBias {
    /// Per reporter: the nodes it had avoided, and until when that counts.
    accusations: HashMap<NodeId, Vec<(NodeId, Instant)>>,
    /// Per guard: its record since the process started.
    guards: HashMap<NodeId, GuardRecord>,
}

impl PathBias {
    /// Judges an accusation of `accused` by `reporter` (`None`: the client's
    /// own observation) at `now`, and charges it to the reporter.
    pub fn accuse(&mut self, reporter: Option<NodeId>, accused: NodeId, now: Instant) -> Verdict {
        let Some(reporter) = reporter else {
            return Verdict::AvoidAccused;
        };
        if self.accusations.len() >= MAX_REPORTERS && !self.accusations.contains_key(&reporter) {
            self.forget_expired(now);
            if self.accusations.len() >= MAX_REPORTERS {
                let quietest = self
                    .accusations
                    .iter()
                    .min_by_key(|(_, list)| list.iter().map(|(_, t)| *t).max())
                    .map(|(r, _)| *r);
                if let Some(r) = quietest {
                    self.accusations.remove(&r);
                }
            }
        }
        let list = self.accusations.entry(reporter).or_default();
        list.retain(|(_, until)| *until > now);
        if let Some(entry) = list.iter_mut().find(|(n, _)| *n == accused) {
            entry.1 = now + ACCUSATION_WINDOW;
            return Verdict::AvoidAccused;
        }
        if list.len() >= MAX_ACCUSED_PER_REPORTER {
            return Verdict::AvoidReporter;
        }
        list.push((accused, now + ACCUSATION_WINDOW));
        Verdict::AvoidAccused
    }

    fn forget_expired(&mut self, now: Instant) {
        self.accusations.retain(|_, list| {
            list.retain(|(_, until)| *until > now);
            !list.is_empty()
        });
    }

    /// Counts a request through `guard` and whether it came back.
    pub fn attempt(&mut self, guard: NodeId, success: bool) {
        let record = self.guards.entry(guard).or_default();
        record.attempts = record.attempts.saturating_add(1);
        if success {
            record.successes = record.successes.saturating_add(1);
        }
    }

    /// The record of `guard`.
    pub fn record(&self, guard: &NodeId) -> GuardRecord {
        self.guards.get(guard).copied().unwrap_or_default()
    }

    /// Forgets the records of nodes that are not in `guards` (replaced guards).
    pub fn keep_guards(&mut self, guards: &[NodeId]) {
        self.guards.retain(|g, _| guards.contains(g));
    }

    /// Of `guards`, the one whose paths fail far more than another's (rule 3),
    /// if any.
    pub fn biased_guard(&self, guards: &[NodeId]) -> Option<NodeId> {
        guards.iter().copied().find(|g| {
            let mine = self.record(g);
            if mine.attempts < MIN_ATTEMPTS || mine.rate() >= DROP_RATE_CEILING {
                return false;
            }
            guards.iter().filter(|o| *o != g).any(|o| {
                let other = self.record(o);
                other.attempts >= MIN_ATTEMPTS && mine.rate() < DROP_RATE_FACTOR * other.rate()
            })
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn n(i: u8) -> NodeId {
        NodeId([i; 32])
    }

    #[test]
    fn a_reporter_may_push_out_only_so_many_nodes() {
        let mut bias = PathBias::default();
        let t = Instant::now();
        let guard = Some(n(1));
        assert_eq!(bias.accuse(guard, n(10), t), Verdict::AvoidAccused);
        assert_eq!(bias.accuse(guard, n(11), t), Verdict::AvoidAccused);
        // The same link failing again spends nothing.
        assert_eq!(bias.accuse(guard, n(10), t), Verdict::AvoidAccused);
        // A third honest middle: the guard itself is suspect now.
        assert_eq!(bias.accuse(guard, n(12), t), Verdict::AvoidReporter);
        // Another reporter has its own budget.
        assert_eq!(bias.accuse(Some(n(2)), n(12), t), Verdict::AvoidAccused);
        // The client's own observations are never capped.
        for i in 20..40 {
            assert_eq!(bias.accuse(None, n(i), t), Verdict::AvoidAccused);
        }
        // After the window the reporter's influence is back.
        let later = t + ACCUSATION_WINDOW + Duration::from_secs(1);
        assert_eq!(bias.accuse(guard, n(12), later), Verdict::AvoidAccused);
    }

    #[test]
    fn reporters_remembered_are_bounded() {
        let mut bias = PathBias::default();
        let t = Instant::now();
        for i in 0..2 * MAX_REPORTERS {
            let mut reporter = [0u8; 32];
            reporter[..8].copy_from_slice(&(i as u64).to_le_bytes());
            bias.accuse(Some(NodeId(reporter)), n(1), t);
        }
        assert!(bias.accusations.len() <= MAX_REPORTERS);
    }

    #[test]
    fn a_guard_whose_paths_fail_far_more_is_named() {
        let mut bias = PathBias::default();
        let (good, bad) = (n(1), n(2));
        let guards = [good, bad];
        for i in 0..40 {
            bias.attempt(good, i % 10 != 0); // 90 %
            bias.attempt(bad, i % 3 == 0); // 33 %
        }
        assert_eq!(bias.biased_guard(&guards), Some(bad));
        // Too few attempts: no judgement.
        let mut young = PathBias::default();
        for _ in 0..MIN_ATTEMPTS - 1 {
            young.attempt(bad, false);
            young.attempt(good, true);
        }
        assert_eq!(young.biased_guard(&guards), None);
        // Both poor alike (a bad network, not a bad guard): neither is named.
        let mut both = PathBias::default();
        for i in 0..40 {
            both.attempt(good, i % 2 == 0);
            both.attempt(bad, i % 2 == 0);
        }
        assert_eq!(both.biased_guard(&guards), None);
        bias.keep_guards(&[good]);
        assert_eq!(bias.record(&bad), GuardRecord::default());
    }
}
