//! Counts of what nodes sent that the client refused, by where it came from and
//! why, so a front end or a test can see a misbehaving network instead of a
//! silent retry.

use std::collections::BTreeMap;
use std::sync::Mutex;

/// Refused input, counted by `(source, reason)`. Both labels are constants of
/// this crate, so the map stays small.
#[derive(Debug, Default)]
pub struct Rejected {
    counts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
}

impl Rejected {
    /// Counts one refusal.
    pub fn inc(&self, source: &'static str, reason: &'static str) {
        tracing::debug!(source, reason, "refused input from a node");
        if let Ok(mut counts) = self.counts.lock() {
            let n = counts.entry((source, reason)).or_insert(0);
            *n = n.saturating_add(1);
        }
    }

    /// How many refusals of `source` for `reason` so far.
    pub fn get(&self, source: &'static str, reason: &'static str) -> u64 {
        self.counts
            .lock()
            .map(|c| c.get(&(source, reason)).copied().unwrap_or(0))
            .unwrap_or(0)
    }

    /// Every count so far.
    pub fn snapshot(&self) -> Vec<((&'static str, &'static str), u64)> {
        self.counts
            .lock()
            .map(|c| c.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }
}
