//! The bounded queue of pushes waiting to be retried, with per-entry backoff.
//! A stored message is held by reference (account, hash, expiry) and read
//! back from the store when it is retried: a full backlog is about a hundred
//! bytes an entry, not a copy of every message (10,000 copies of 64 KiB were
//! 640 MiB with a dead member under a flood).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use sotto_protocol::rpc::{DeleteRequest, ExpireRequest, MessageHash};
use sotto_protocol::{AccountId, NodeId, UnixMillis};

use crate::context::Push;

/// What a backlog entry pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Item {
    /// A message of the store, by reference.
    Store {
        /// Its account.
        account: AccountId,
        /// Its hash.
        hash: MessageHash,
        /// When it expires (the entry has nothing to do after).
        expiry: UnixMillis,
    },
    /// The owner's signed delete (its own proof: kept whole).
    Delete(DeleteRequest),
    /// The owner's signed expiry change (kept whole).
    Expire(ExpireRequest),
}

impl Item {
    /// The entry for `push`.
    pub fn of(push: &Push) -> Self {
        match push {
            Push::Store(m) => Item::Store {
                account: m.account,
                hash: m.hash,
                expiry: m.expiry,
            },
            Push::Delete(d) => Item::Delete(d.clone()),
            Push::Expire(e) => Item::Expire(e.clone()),
        }
    }

    /// The metrics label.
    pub fn kind(&self) -> &'static str {
        match self {
            Item::Store { .. } => "store",
            Item::Delete(_) => "delete",
            Item::Expire(_) => "expire",
        }
    }

    /// The account whose swarm it goes to.
    pub fn account(&self) -> AccountId {
        match self {
            Item::Store { account, .. } => *account,
            Item::Delete(d) => d.account,
            Item::Expire(e) => e.account,
        }
    }

    /// Whether it has nothing to do any more at `now`: the message expired,
    /// the delete's tombstone would be over, the shortened expiry has come.
    pub fn outlived(&self, now: UnixMillis) -> bool {
        match self {
            Item::Store { expiry, .. } => *expiry <= now,
            Item::Delete(d) => d.tombstone_expiry(None) <= now,
            Item::Expire(e) => e.expiry <= now,
        }
    }
}

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
    pub item: Item,
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
    pub fn new(target: NodeId, push: &Push, now: Instant) -> Self {
        Self {
            target,
            item: Item::of(push),
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
        Pending::new(target, &Push::Store(m), now)
    }

    #[test]
    fn a_stored_message_is_held_by_reference() {
        let account = AccountKey::from_entropy([1; 16]).account_id();
        let m = StoredMessage::new(account, Namespace::INBOX, vec![7; 60_000], 1_000, 60_000);
        let target = NodeKey::from_secret_bytes(&[1; 32]).node_id();
        let p = Pending::new(target, &Push::Store(m.clone()), Instant::now());
        assert_eq!(
            p.item,
            Item::Store {
                account,
                hash: m.hash,
                expiry: m.expiry
            }
        );
        // An entry is its reference, whatever the message's size.
        assert!(std::mem::size_of::<Pending>() < 256);
        assert!(p.item.outlived(m.expiry));
        assert!(!p.item.outlived(m.expiry - 1));
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
