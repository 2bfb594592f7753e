//! The bounded queue of pushes waiting to be retried, with per-entry backoff.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sotto_protocol::NodeId;

use crate::context::Push;

/// The longest wait between two retries of one push.
pub(super) const MAX_BACKOFF: Duration = Duration::from_secs(5 * 60);
/// How long a push is retried before the backlog gives up on it; anti-entropy
/// runs far more often than this and carries the same data.
pub(super) const GIVE_UP_AFTER: Duration = Duration::from_secs(60 * 60);

/// One push to one member that has not been acknowledged yet.
#[derive(Debug, Clone)]
pub(super) struct Pending {
    /// The member it is for.
    pub target: NodeId,
    /// What to push.
    pub push: Push,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When the first attempt failed.
    pub first_failed: Instant,
    /// When it may be tried again.
    pub next_at: Instant,
}

impl Pending {
    /// A push to `target` that has just failed for the first time; due at once
    /// (the retry loop's own interval spaces the first retry).
    pub fn new(target: NodeId, push: Push, now: Instant) -> Self {
        Self {
            target,
            push,
            attempts: 1,
            first_failed: now,
            next_at: now,
        }
    }

    /// The same push after one more failed attempt at `now`: due again after
    /// `base` doubled per earlier attempt, at most [`MAX_BACKOFF`].
    pub fn failed_again(mut self, base: Duration, now: Instant) -> Self {
        let factor = 1u32 << self.attempts.min(16);
        let wait = base.saturating_mul(factor).min(MAX_BACKOFF);
        self.attempts = self.attempts.saturating_add(1);
        self.next_at = now + wait;
        self
    }

    /// Whether it has been retried for long enough.
    pub fn given_up(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.first_failed) > GIVE_UP_AFTER
    }
}

/// A FIFO of pending pushes holding at most `max`.
#[derive(Debug)]
pub(super) struct Backlog {
    entries: VecDeque<Pending>,
    max: usize,
}

impl Backlog {
    /// An empty backlog of at most `max` entries.
    pub fn new(max: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            max,
        }
    }

    /// How many entries wait.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Adds `p`; when full, the oldest entry (or `p` itself with no room at
    /// all) is dropped and returned, for the caller to count.
    pub fn add(&mut self, p: Pending) -> Option<Pending> {
        if self.max == 0 {
            return Some(p);
        }
        let dropped = if self.entries.len() >= self.max {
            self.entries.pop_front()
        } else {
            None
        };
        self.entries.push_back(p);
        dropped
    }

    /// Takes every entry due at `now`, oldest first; the others stay.
    pub fn take_due(&mut self, now: Instant) -> Vec<Pending> {
        let mut due = Vec::new();
        let mut rest = VecDeque::with_capacity(self.entries.len());
        for p in self.entries.drain(..) {
            if p.next_at <= now {
                due.push(p);
            } else {
                rest.push_back(p);
            }
        }
        self.entries = rest;
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_protocol::NodeKey;
    use sotto_protocol::rpc::StoredMessage;
    use sotto_protocol::{AccountKey, Namespace};

    fn pending(n: u8, now: Instant) -> Pending {
        let account = AccountKey::from_entropy([n; 16]).account_id();
        let m = StoredMessage::new(account, Namespace::INBOX, vec![n], 1_000, 60_000);
        let target = NodeKey::from_secret_bytes(&[n; 32]).node_id();
        Pending::new(target, Push::Store(m), now)
    }

    #[test]
    fn full_backlog_drops_the_oldest() {
        let now = Instant::now();
        let mut b = Backlog::new(2);
        assert!(b.add(pending(1, now)).is_none());
        assert!(b.add(pending(2, now)).is_none());
        let dropped = b.add(pending(3, now)).unwrap();
        assert_eq!(dropped.target, pending(1, now).target);
        assert_eq!(b.len(), 2);
        let mut none = Backlog::new(0);
        assert!(none.add(pending(1, now)).is_some());
        assert_eq!(none.len(), 0);
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_only_due_entries_are_taken() {
        let now = Instant::now();
        let base = Duration::from_secs(1);
        let p = pending(1, now);
        assert_eq!(p.next_at, now);
        let p = p.failed_again(base, now);
        assert_eq!(p.next_at, now + Duration::from_secs(2));
        let p = p.failed_again(base, now);
        assert_eq!(p.next_at, now + Duration::from_secs(4));
        let mut q = p.clone();
        for _ in 0..40 {
            q = q.failed_again(base, now);
        }
        assert_eq!(q.next_at, now + MAX_BACKOFF);

        let mut b = Backlog::new(10);
        b.add(p);
        b.add(pending(2, now));
        let due = b.take_due(now);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].target, pending(2, now).target);
        assert_eq!(b.len(), 1);
        assert_eq!(b.take_due(now + Duration::from_secs(4)).len(), 1);
        assert_eq!(b.len(), 0);
        assert!(!pending(1, now).given_up(now + GIVE_UP_AFTER));
        assert!(pending(1, now).given_up(now + GIVE_UP_AFTER + Duration::from_secs(1)));
    }
}
