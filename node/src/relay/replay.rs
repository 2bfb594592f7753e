//! The replay filter: the replay tags of the packets a relay has peeled, kept
//! until the packet they came from would be refused anyway.
//!
//! Every packet carries a `not_after` minute in its routing info
//! ([`sotto_protocol::onion::check_not_after`]); a relay accepts it up to
//! `not_after` plus the clocks' tolerance, and keeps its tag exactly that long.
//! Forgetting a tag later than that is safe: its replay is refused as expired.
//! Tags are grouped by the minute they may go (one set per minute), so purging
//! is dropping whole sets and memory follows traffic: a relay holds the tags of
//! the last ~25 minutes (validity, rounding and both clocks' tolerance), not of
//! its onion key's day. The bound in all stays as a backstop against a flood;
//! a full filter refuses new packets, and frees itself within those minutes.

use std::collections::{BTreeMap, HashSet};

use sotto_protocol::UnixMillis;
use sotto_protocol::onion::ReplayTag;
use sotto_protocol::time::MINUTE_MS;

/// What [`ReplayFilter::record`] did with a tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The tag is new and is now remembered.
    Fresh,
    /// The tag was already there: the packet is a replay.
    Replayed,
    /// The filter is full of tags of packets still valid: the packet is refused.
    Full,
}

/// Replay tags by the minute after which they may be forgotten, bounded in total.
#[derive(Debug)]
pub struct ReplayFilter {
    /// Minute index `m` holds tags to keep until some time before `m * MINUTE_MS`.
    periods: BTreeMap<u64, HashSet<ReplayTag>>,
    total: usize,
    max: usize,
}

impl ReplayFilter {
    /// A filter holding at most `max` tags in all.
    pub fn new(max: usize) -> Self {
        Self {
            periods: BTreeMap::new(),
            total: 0,
            max,
        }
    }

    /// Whether `tag` is held.
    pub fn seen(&self, tag: &ReplayTag) -> bool {
        self.periods.values().any(|set| set.contains(tag))
    }

    /// Whether no tag can be recorded until some expire.
    pub fn is_full(&self) -> bool {
        self.total >= self.max
    }

    /// Remembers `tag` until `keep_until` (the last moment its packet is
    /// accepted; see [`sotto_protocol::onion::check_not_after`]).
    pub fn record(&mut self, tag: ReplayTag, keep_until: UnixMillis) -> Recorded {
        // The same packet may have been peeled on another task meanwhile.
        if self.seen(&tag) {
            return Recorded::Replayed;
        }
        if self.is_full() {
            return Recorded::Full;
        }
        let period = (keep_until / MINUTE_MS).saturating_add(1);
        self.periods.entry(period).or_default().insert(tag);
        self.total = self.total.saturating_add(1);
        Recorded::Fresh
    }

    /// Forgets every tag whose packet is no longer accepted at `now`.
    pub fn purge(&mut self, now: UnixMillis) {
        // Sets whose every tag's `keep_until` is before `now`: the ones of
        // minutes ending at or before `now`.
        let first_kept = now / MINUTE_MS + 1;
        let kept = self.periods.split_off(&first_kept);
        let freed: usize = self.periods.values().map(HashSet::len).sum();
        self.periods = kept;
        self.total = self.total.saturating_sub(freed);
    }

    /// Tags held in all.
    pub fn len(&self) -> usize {
        self.total
    }

    /// Whether no tag is held.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// How many per-minute sets are held (bounded by the minutes a packet is
    /// accepted for, whatever the traffic).
    pub fn periods(&self) -> usize {
        self.periods.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_protocol::constants::KEY_LEN;

    fn tag(n: u8) -> ReplayTag {
        ReplayTag([n; KEY_LEN])
    }

    const T: UnixMillis = 1_800_000_000_000;

    #[test]
    fn a_tag_is_a_replay_until_it_is_forgotten() {
        let mut f = ReplayFilter::new(10);
        assert_eq!(f.record(tag(1), T + 100), Recorded::Fresh);
        assert!(f.seen(&tag(1)));
        assert!(!f.seen(&tag(2)));
        assert_eq!(f.record(tag(1), T + 100), Recorded::Replayed);
        assert_eq!(f.record(tag(1), T + 5 * MINUTE_MS), Recorded::Replayed);
        assert_eq!(f.len(), 1);
        // Not before its packet stops being accepted.
        f.purge(T + 100);
        assert!(f.seen(&tag(1)));
        // Once the minute it falls in has ended, it goes.
        f.purge((T + 100) / MINUTE_MS * MINUTE_MS + MINUTE_MS);
        assert!(f.is_empty());
        assert_eq!(f.periods(), 0);
    }

    #[test]
    fn full_refuses_until_tags_expire() {
        let mut f = ReplayFilter::new(2);
        assert_eq!(f.record(tag(1), T), Recorded::Fresh);
        assert_eq!(f.record(tag(2), T + 10 * MINUTE_MS), Recorded::Fresh);
        assert!(f.is_full());
        assert_eq!(f.record(tag(3), T), Recorded::Full);
        f.purge(T);
        assert_eq!(f.len(), 2);
        f.purge(T + 2 * MINUTE_MS);
        assert_eq!(f.len(), 1);
        assert!(!f.seen(&tag(1)));
        assert!(f.seen(&tag(2)));
        assert_eq!(f.record(tag(3), T + 2 * MINUTE_MS), Recorded::Fresh);
        f.purge(T + 20 * MINUTE_MS);
        assert!(f.is_empty());
    }

    #[test]
    fn memory_follows_traffic_not_time() {
        // A day of steady traffic, 50 tags a minute, each kept 22 minutes:
        // the filter never holds more than 23 minutes of it.
        let mut f = ReplayFilter::new(usize::MAX);
        let mut n: u32 = 0;
        let mut most = 0;
        for minute in 0..24 * 60u64 {
            let now = T + minute * MINUTE_MS;
            f.purge(now);
            for _ in 0..50 {
                n = n.wrapping_add(1);
                let mut t = [0u8; KEY_LEN];
                t[..4].copy_from_slice(&n.to_le_bytes());
                assert_eq!(
                    f.record(ReplayTag(t), now + 22 * MINUTE_MS),
                    Recorded::Fresh
                );
            }
            most = most.max(f.len());
        }
        assert!(most <= 23 * 50, "{most}");
        assert!(f.periods() <= 24);
    }
}
