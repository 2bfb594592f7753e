//! The replay filter: the replay tags of the packets a relay has peeled, kept
//! per onion key until that key stops being accepted.
//!
//! A tag can be forgotten safely once the key that opened its packet has
//! expired, because the relay refuses every packet for an expired key: the
//! replay would fail to peel anyway. Before that, forgetting a tag would let
//! its replay through, so a full filter refuses new packets instead.

use std::collections::{HashMap, HashSet};

use sotto_protocol::UnixMillis;
use sotto_protocol::constants::KEY_LEN;
use sotto_protocol::onion::ReplayTag;

/// What [`ReplayFilter::record`] did with a tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The tag is new and is now remembered.
    Fresh,
    /// The tag was already there: the packet is a replay.
    Replayed,
    /// The filter is full of tags of keys still valid: the packet is refused.
    Full,
}

/// The tags seen under one onion key.
#[derive(Debug)]
struct KeyTags {
    /// When the key stops being accepted, and its tags can go.
    expires: UnixMillis,
    tags: HashSet<ReplayTag>,
}

/// Replay tags by onion public key, bounded in total.
#[derive(Debug)]
pub struct ReplayFilter {
    keys: HashMap<[u8; KEY_LEN], KeyTags>,
    total: usize,
    max: usize,
}

impl ReplayFilter {
    /// A filter holding at most `max` tags in all.
    pub fn new(max: usize) -> Self {
        Self {
            keys: HashMap::new(),
            total: 0,
            max,
        }
    }

    /// Whether `tag` was recorded under any key still held.
    pub fn seen(&self, tag: &ReplayTag) -> bool {
        self.keys.values().any(|k| k.tags.contains(tag))
    }

    /// Whether no tag can be recorded until some key expires.
    pub fn is_full(&self) -> bool {
        self.total >= self.max
    }

    /// Remembers `tag` under the onion key `key`, valid until `expires`.
    pub fn record(&mut self, key: [u8; KEY_LEN], expires: UnixMillis, tag: ReplayTag) -> Recorded {
        // Another packet with the same tag may have been peeled under the
        // other key while this one was; a tag is a replay under any key.
        if self.seen(&tag) {
            return Recorded::Replayed;
        }
        if self.is_full() {
            return Recorded::Full;
        }
        let entry = self.keys.entry(key).or_insert_with(|| KeyTags {
            expires,
            tags: HashSet::new(),
        });
        // A key's window never shrinks; keep the latest end seen.
        entry.expires = entry.expires.max(expires);
        entry.tags.insert(tag);
        self.total = self.total.saturating_add(1);
        Recorded::Fresh
    }

    /// Forgets the tags of every key expired at `now`.
    pub fn purge(&mut self, now: UnixMillis) {
        let mut freed = 0usize;
        self.keys.retain(|_, k| {
            let keep = now < k.expires;
            if !keep {
                freed = freed.saturating_add(k.tags.len());
            }
            keep
        });
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(n: u8) -> ReplayTag {
        ReplayTag([n; KEY_LEN])
    }

    #[test]
    fn a_tag_is_a_replay_under_any_key() {
        let mut f = ReplayFilter::new(10);
        assert_eq!(f.record([1; KEY_LEN], 100, tag(1)), Recorded::Fresh);
        assert!(f.seen(&tag(1)));
        assert!(!f.seen(&tag(2)));
        assert_eq!(f.record([1; KEY_LEN], 100, tag(1)), Recorded::Replayed);
        assert_eq!(f.record([2; KEY_LEN], 200, tag(1)), Recorded::Replayed);
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn full_refuses_until_a_key_expires() {
        let mut f = ReplayFilter::new(2);
        assert_eq!(f.record([1; KEY_LEN], 100, tag(1)), Recorded::Fresh);
        assert_eq!(f.record([2; KEY_LEN], 200, tag(2)), Recorded::Fresh);
        assert!(f.is_full());
        assert_eq!(f.record([2; KEY_LEN], 200, tag(3)), Recorded::Full);
        // Nothing expired yet: nothing goes.
        f.purge(99);
        assert_eq!(f.len(), 2);
        // Key 1's tags go once it has expired; key 2's stay.
        f.purge(100);
        assert_eq!(f.len(), 1);
        assert!(!f.seen(&tag(1)));
        assert!(f.seen(&tag(2)));
        assert_eq!(f.record([2; KEY_LEN], 200, tag(3)), Recorded::Fresh);
        f.purge(200);
        assert!(f.is_empty());
    }
}
