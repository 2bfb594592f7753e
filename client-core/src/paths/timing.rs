//! Slow paths are not kept: the client times the `Ping` that tests every
//! path it builds and rebuilds a path that answered far slower than its
//! others did.
//!
//! This is Tor's circuit build timeout (Tor's path-spec, "Learning when to
//! give up on circuit construction"), adapted: Tor abandons circuits whose
//! build takes longer than the 80th percentile of the build times it has
//! seen, so that the slowest fifth of random circuits, through relays far
//! away or overloaded, never carry the user's traffic. Here the samples are
//! the round trips of the test pings (guard, middle, exit and a random node
//! to answer), the cutoff is the 80th percentile of the last
//! [`SAMPLES_KEPT`], and the choice stays random among the paths under it.
//!
//! What it costs in anonymity: the relays a client keeps are biased away
//! from its slowest fifth, which is the bias Tor accepted for the same gain.
//! The client never prefers the *fastest* path (that would pick relays near
//! itself and tell the exit where it is); it only leaves out the slowest.
//! An attacker who slows honest relays down, or keeps its own fast, moves
//! only the fifth that is left out: its share of the paths kept grows by at
//! most 1/0.8 = 1.25 times its share of the paths built.
//!
//! Choices where Tor's do not fit a messenger's client:
//! - **Warm-up.** Tor waits for 100 builds before it learns a cutoff. A
//!   client here builds two paths, so until it has [`MIN_SAMPLES`] it tests
//!   [`WARM_UP_CANDIDATES`] candidate paths at once and leaves out the
//!   slowest of them. That is a few more pings when the client starts, each
//!   a round trip and a few X25519 operations.
//! - **A floor.** A path that answers within [`MIN_CUTOFF`] is never slow:
//!   on a LAN or a devnet every path is fast, and rebuilding there would
//!   cost requests and gain nothing a person notices.
//! - **No spin.** After [`MAX_SLOW_IN_A_ROW`] slow paths in a row the next
//!   one is kept whatever its time: a client whose own link is slow (or one
//!   on a network of slow nodes) must still get paths, as Tor raises its
//!   timeout when too many circuits time out.

use std::collections::VecDeque;
use std::time::Duration;

use rand::{Rng, RngExt};

/// Round trips remembered; the oldest is forgotten first.
pub const SAMPLES_KEPT: usize = 100;
/// Samples needed before a single path is judged against the cutoff.
pub const MIN_SAMPLES: usize = 8;
/// The cutoff is this percentile of the samples (Tor's
/// `CBT_DEFAULT_QUANTILE_CUTOFF`, 80).
pub const CUTOFF_PERCENTILE: usize = 80;
/// A path at least this fast is never slow.
pub const MIN_CUTOFF: Duration = Duration::from_millis(250);
/// Slow paths rebuilt in a row before the next is kept anyway.
pub const MAX_SLOW_IN_A_ROW: u32 = 3;
/// Candidate paths tested at once while fewer than [`MIN_SAMPLES`] are known.
pub const WARM_UP_CANDIDATES: usize = 4;

/// What to do with the candidates of one build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// Install the candidate at this index of the round trips given.
    Install(usize),
    /// Every candidate was slow: build another path.
    Rebuild,
}

/// The round trips of the client's recent path tests.
#[derive(Debug, Default)]
pub struct BuildTimes {
    recent: VecDeque<Duration>,
    slow_in_a_row: u32,
    rebuilt: u64,
}

impl BuildTimes {
    /// How many candidates the next build should test at once.
    pub fn candidates(&self) -> usize {
        if self.recent.len() < MIN_SAMPLES {
            WARM_UP_CANDIDATES
        } else {
            1
        }
    }

    /// The round trip over which a path is slow, once [`MIN_SAMPLES`] are
    /// known: the [`CUTOFF_PERCENTILE`]th percentile (nearest rank) of the
    /// samples, and never under [`MIN_CUTOFF`].
    pub fn cutoff(&self) -> Option<Duration> {
        if self.recent.len() < MIN_SAMPLES {
            return None;
        }
        let mut sorted: Vec<Duration> = self.recent.iter().copied().collect();
        sorted.sort_unstable();
        let rank = (sorted.len() * CUTOFF_PERCENTILE).div_ceil(100);
        let at = sorted.get(rank.saturating_sub(1)).copied()?;
        Some(at.max(MIN_CUTOFF))
    }

    /// How many paths were rebuilt for being slow since the client started.
    pub fn rebuilt(&self) -> u64 {
        self.rebuilt
    }

    fn record(&mut self, rtt: Duration) {
        if self.recent.len() >= SAMPLES_KEPT {
            self.recent.pop_front();
        }
        self.recent.push_back(rtt);
    }

    /// Records the round trips of the candidates of one build that answered
    /// (at least one) and says which to install. The cutoff is the one
    /// learned before these samples, so a slow batch cannot raise its own
    /// bar. Of several candidates (the warm-up) the slowest is left out and
    /// one of the others not over the cutoff is drawn; one candidate is
    /// installed unless it is over the cutoff, and then only
    /// [`MAX_SLOW_IN_A_ROW`] times in a row.
    pub fn choose<R: Rng + ?Sized>(&mut self, rng: &mut R, rtts: &[Duration]) -> Choice {
        let cutoff = self.cutoff();
        for rtt in rtts {
            self.record(*rtt);
        }
        let slow = |rtt: &Duration| cutoff.is_some_and(|c| *rtt > c);
        let slowest = rtts
            .iter()
            .enumerate()
            .max_by_key(|(_, rtt)| **rtt)
            .map(|(i, _)| i);
        let mut keep: Vec<usize> = (0..rtts.len())
            .filter(|i| rtts.len() < 2 || Some(*i) != slowest)
            .collect();
        let fast: Vec<usize> = keep
            .iter()
            .copied()
            .filter(|i| rtts.get(*i).is_some_and(|rtt| !slow(rtt)))
            .collect();
        if !fast.is_empty() {
            keep = fast;
        } else if self.slow_in_a_row < MAX_SLOW_IN_A_ROW && !keep.is_empty() {
            self.slow_in_a_row += 1;
            self.rebuilt += 1;
            return Choice::Rebuild;
        }
        self.slow_in_a_row = 0;
        match keep.len() {
            0 => Choice::Rebuild,
            n => Choice::Install(keep.get(rng.random_range(0..n)).copied().unwrap_or(0)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// Times learned from `samples` single builds of these round trips.
    fn learned(samples: &[u64]) -> BuildTimes {
        let mut t = BuildTimes::default();
        for s in samples {
            t.record(ms(*s));
        }
        t
    }

    #[test]
    fn the_cutoff_is_the_80th_percentile_once_enough_are_known() {
        let t = learned(&[300, 310, 320, 330, 340, 350, 360]);
        assert_eq!(t.cutoff(), None);
        assert_eq!(t.candidates(), WARM_UP_CANDIDATES);
        let t = learned(&[300, 310, 320, 330, 340, 350, 360, 900, 1000, 1100]);
        // Nearest rank 8 of 10.
        assert_eq!(t.cutoff(), Some(ms(900)));
        assert_eq!(t.candidates(), 1);
        // Fast paths everywhere: the floor.
        let t = learned(&[2; 10]);
        assert_eq!(t.cutoff(), Some(MIN_CUTOFF));
    }

    #[test]
    fn warm_up_leaves_out_the_slowest_candidate() {
        let mut rng = rand::rng();
        for _ in 0..50 {
            let mut t = BuildTimes::default();
            let choice = t.choose(&mut rng, &[ms(400), ms(1500), ms(450), ms(420)]);
            assert!(matches!(choice, Choice::Install(0 | 2 | 3)), "{choice:?}");
            // The slowest first: not simply the first candidate.
            let mut t = BuildTimes::default();
            let choice = t.choose(&mut rng, &[ms(1500), ms(400), ms(450)]);
            assert!(matches!(choice, Choice::Install(1 | 2)), "{choice:?}");
        }
        // A lone candidate that answered is kept, however slow.
        let mut t = BuildTimes::default();
        assert_eq!(t.choose(&mut rng, &[ms(5_000)]), Choice::Install(0));
    }

    #[test]
    fn a_slow_path_is_rebuilt_but_not_forever() {
        let mut rng = rand::rng();
        let mut t = learned(&[400; 20]);
        assert_eq!(t.choose(&mut rng, &[ms(380)]), Choice::Install(0));
        for _ in 0..MAX_SLOW_IN_A_ROW {
            assert_eq!(t.choose(&mut rng, &[ms(2_000)]), Choice::Rebuild);
        }
        assert_eq!(t.choose(&mut rng, &[ms(2_000)]), Choice::Install(0));
        assert_eq!(t.rebuilt(), u64::from(MAX_SLOW_IN_A_ROW));
        // The count starts again after a kept path.
        assert_eq!(t.choose(&mut rng, &[ms(2_000)]), Choice::Rebuild);
    }

    #[test]
    fn the_window_forgets_old_round_trips() {
        let mut rng = rand::rng();
        let mut t = learned(&[400; SAMPLES_KEPT]);
        // The client moved to a slower network: its samples follow, and
        // after a window's worth its paths are no longer all slow.
        for _ in 0..SAMPLES_KEPT {
            let _ = t.choose(&mut rng, &[ms(3_000)]);
        }
        assert_eq!(t.cutoff(), Some(ms(3_000)));
        assert_eq!(t.choose(&mut rng, &[ms(2_900)]), Choice::Install(0));
    }
}
