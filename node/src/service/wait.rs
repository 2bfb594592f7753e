//! Waiting retrieves (long polls) parked in a list keyed by account and
//! namespace. A parked waiter is its request, a deadline and the callback that
//! answers it: bytes, not a task nor a request slot. A store that writes for
//! the key wakes its waiters ([`Waiters::wake`]); one task per node re-reads
//! the store for the woken ones and answers those whose time is up.

use std::cmp::Reverse;
use std::collections::hash_map::DefaultHasher;
use std::collections::{BinaryHeap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use sotto_protocol::rpc::{ReadCursor, Response, RetrieveRequest};
use sotto_protocol::{AccountId, Namespace};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Where the answer of a parked retrieve goes once it is known.
pub type Reply = Box<dyn FnOnce(Response) + Send + 'static>;

/// The key waiters are parked under.
type Key = (AccountId, Namespace);

/// Write counters a store bumps and a parking retrieve compares against the
/// one it saw before its read, so a store landing between the read and the
/// park is not missed. Keys share counters by hash: a collision costs one
/// extra read, never a missed message.
const EPOCHS: usize = 256;

/// Default bound of parked waiters in all (the `[limits]` value replaces it).
const DEFAULT_MAX_WAITERS: usize = 65_536;
/// Default bound of parked waiters of one account and namespace: a few
/// devices, each with a few readers; and a group's epoch account is read by
/// all its members, each with a pair of polls (`sotto_client::reader::PollPair`)
/// and, while an epoch settles, a wait at two members more, so a 5-node
/// swarm lets about 300 members follow it at once (the groups scenario's
/// 100 members met 16 with about 1,700 refused long polls a run and none
/// at 64 with one poll each; with pairs, 264 at 64 and none at 128). One
/// account's share of the 65,536 in all stays small; accounts cost nothing
/// to make, so what bounds a flood is that total, not this.
pub const DEFAULT_MAX_WAITERS_PER_ACCOUNT: usize = 128;

/// One parked retrieve.
pub(crate) struct Parked {
    /// What was asked (re-run when woken).
    pub(crate) req: RetrieveRequest,
    /// When it is answered empty.
    pub(crate) deadline: Instant,
    /// The cursor of the empty answer.
    pub(crate) empty: ReadCursor,
    /// The answer's callback.
    pub(crate) reply: Reply,
    id: u64,
}

impl Parked {
    /// A waiter for `req` until `deadline`, answered empty at `empty`.
    pub(crate) fn new(
        req: RetrieveRequest,
        deadline: Instant,
        empty: ReadCursor,
        reply: Reply,
    ) -> Self {
        Self {
            req,
            deadline,
            empty,
            reply,
            id: 0,
        }
    }

    fn key(&self) -> Key {
        (self.req.account, self.req.namespace)
    }
}

/// Why a retrieve could not be parked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParkRefused {
    /// The node holds as many waiters as it allows.
    Full,
    /// This account (and namespace) holds as many waiters as it allows.
    AccountFull,
}

#[derive(Default)]
struct State {
    parked: HashMap<Key, Vec<Parked>>,
    /// (deadline, waiter id, key); entries of waiters answered early stay
    /// until they come up or the heap is rebuilt.
    deadlines: BinaryHeap<Reverse<(Instant, u64, Key)>>,
    /// Keys woken since the task last looked, without repeats.
    woken: Vec<Key>,
    count: usize,
    next_id: u64,
}

/// The parked waiting retrieves of one node.
pub struct Waiters {
    state: Mutex<State>,
    epochs: [AtomicU64; EPOCHS],
    /// Wakes the task that serves woken and expired waiters.
    kick: Arc<Notify>,
    max_total: AtomicUsize,
    max_per_key: AtomicUsize,
    started: AtomicBool,
}

impl std::fmt::Debug for Waiters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiters")
            .field("parked", &self.len())
            .finish_non_exhaustive()
    }
}

impl Default for Waiters {
    fn default() -> Self {
        Self {
            state: Mutex::new(State::default()),
            epochs: std::array::from_fn(|_| AtomicU64::new(0)),
            kick: Arc::new(Notify::new()),
            max_total: AtomicUsize::new(DEFAULT_MAX_WAITERS),
            max_per_key: AtomicUsize::new(DEFAULT_MAX_WAITERS_PER_ACCOUNT),
            started: AtomicBool::new(false),
        }
    }
}

impl Drop for Waiters {
    fn drop(&mut self) {
        // The serving task holds only a weak reference: let it see it is gone.
        self.kick.notify_one();
    }
}

fn slot(key: &Key) -> usize {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    // The modulo keeps it in range whatever the hash.
    (h.finish() % EPOCHS as u64) as usize
}

impl Waiters {
    /// Bounds: `max_total` waiters in all, `max_per_account` for one account
    /// and namespace (each at least one).
    pub fn set_limits(&self, max_total: usize, max_per_account: usize) {
        self.max_total.store(max_total.max(1), Ordering::Relaxed);
        self.max_per_key
            .store(max_per_account.max(1), Ordering::Relaxed);
    }

    /// Waiters parked now.
    pub fn len(&self) -> usize {
        self.lock().count
    }

    /// Waiters parked now in `namespace`, of any account (walks them all:
    /// for tests and diagnostics, not a hot path).
    pub fn parked_in(&self, namespace: Namespace) -> usize {
        self.lock()
            .parked
            .iter()
            .filter(|((_, ns), _)| *ns == namespace)
            .map(|(_, list)| list.len())
            .sum()
    }

    /// Whether none is parked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The write counter of `key` now.
    fn epoch_of(&self, key: &Key) -> u64 {
        self.epochs
            .get(slot(key))
            .map_or(0, |c| c.load(Ordering::SeqCst))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every operation leaves the state consistent before it can panic.
        match self.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        }
    }

    /// The write counter of (`account`, `namespace`): taken before the read
    /// that precedes [`Waiters::park`].
    pub(crate) fn epoch(&self, account: AccountId, namespace: Namespace) -> u64 {
        self.epoch_of(&(account, namespace))
    }

    /// Parks `waiter`, whose read saw the store at `epoch`. If a write for its
    /// key landed since, it is woken at once.
    pub(crate) fn park(&self, mut waiter: Parked, epoch: u64) -> Result<(), (ParkRefused, Reply)> {
        let key = waiter.key();
        let mut s = self.lock();
        if s.count >= self.max_total.load(Ordering::Relaxed) {
            return Err((ParkRefused::Full, waiter.reply));
        }
        let of_key = s.parked.get(&key).map_or(0, Vec::len);
        if of_key >= self.max_per_key.load(Ordering::Relaxed) {
            return Err((ParkRefused::AccountFull, waiter.reply));
        }
        s.next_id = s.next_id.wrapping_add(1);
        waiter.id = s.next_id;
        s.deadlines.push(Reverse((waiter.deadline, waiter.id, key)));
        s.parked.entry(key).or_default().push(waiter);
        s.count += 1;
        let stale = self.epoch_of(&key) != epoch;
        if stale && !s.woken.contains(&key) {
            s.woken.push(key);
        }
        self.compact(&mut s);
        drop(s);
        // Also when not stale: its deadline may be earlier than the one the
        // task sleeps until.
        self.kick.notify_one();
        Ok(())
    }

    /// Parks again a waiter taken by [`Waiters::take_woken`] whose read was
    /// still empty (not counted against the bounds: it held its place).
    pub(crate) fn repark(&self, waiter: Parked, epoch: u64) {
        let key = waiter.key();
        let mut s = self.lock();
        s.parked.entry(key).or_default().push(waiter);
        s.count += 1;
        if self.epoch_of(&key) != epoch && !s.woken.contains(&key) {
            s.woken.push(key);
            drop(s);
            self.kick.notify_one();
        }
    }

    /// A message for (`account`, `namespace`) was written: its waiters read
    /// again. Cheap when nobody waits (no allocation).
    pub fn wake(&self, account: &AccountId, namespace: Namespace) {
        let key = (*account, namespace);
        if let Some(counter) = self.epochs.get(slot(&key)) {
            counter.fetch_add(1, Ordering::SeqCst);
        }
        let mut s = self.lock();
        if s.parked.contains_key(&key) && !s.woken.contains(&key) {
            s.woken.push(key);
            drop(s);
            self.kick.notify_one();
        }
    }

    /// Takes every waiter of the keys woken since the last call, with the
    /// epoch of its key now (for [`Waiters::repark`]).
    pub(crate) fn take_woken(&self) -> Vec<(Parked, u64)> {
        let mut s = self.lock();
        let keys = std::mem::take(&mut s.woken);
        let mut out = Vec::new();
        for key in keys {
            let epoch = self.epoch_of(&key);
            if let Some(list) = s.parked.remove(&key) {
                s.count = s.count.saturating_sub(list.len());
                out.extend(list.into_iter().map(|p| (p, epoch)));
            }
        }
        out
    }

    /// Takes the waiters whose deadline is at or before `now`, and says when
    /// the next one is due.
    pub(crate) fn take_expired(&self, now: Instant) -> (Vec<Parked>, Option<Instant>) {
        let mut guard = self.lock();
        let s = &mut *guard;
        let mut out = Vec::new();
        while let Some(Reverse((deadline, id, key))) = s.deadlines.peek().copied() {
            if deadline > now {
                return (out, Some(deadline));
            }
            s.deadlines.pop();
            let Some(list) = s.parked.get_mut(&key) else {
                continue;
            };
            if let Some(i) = list.iter().position(|p| p.id == id) {
                out.push(list.swap_remove(i));
                s.count = s.count.saturating_sub(1);
                if list.is_empty() {
                    s.parked.remove(&key);
                }
            }
        }
        (out, None)
    }

    /// Rebuilds the deadline heap when entries of waiters answered early
    /// outnumber the live ones, so it stays proportional to them.
    fn compact(&self, s: &mut State) {
        if s.deadlines.len() <= s.count.saturating_mul(2).saturating_add(1024) {
            return;
        }
        let heap = s
            .parked
            .iter()
            .flat_map(|(key, list)| list.iter().map(|p| Reverse((p.deadline, p.id, *key))))
            .collect();
        s.deadlines = heap;
    }

    /// The notifier of the serving task, and whether this call is the first
    /// (the caller then starts the task).
    pub(crate) fn start(&self) -> Option<Arc<Notify>> {
        if self.started.swap(true, Ordering::SeqCst) {
            None
        } else {
            Some(self.kick.clone())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_protocol::AccountKey;

    fn req(n: u8) -> RetrieveRequest {
        RetrieveRequest {
            account: AccountKey::from_entropy([n; 16]).account_id(),
            namespace: Namespace::INBOX,
            after: None,
            not_before: 0,
            max_bytes: 1024,
            wait_ms: 1000,
            wait_for: 1,
            auth: None,
        }
    }

    fn waiter(n: u8, deadline: Instant) -> Parked {
        let cursor = ReadCursor { store: 1, seq: 0 };
        Parked::new(req(n), deadline, cursor, Box::new(|_| {}))
    }

    #[tokio::test]
    async fn bounds_per_account_and_in_all() {
        let w = Waiters::default();
        w.set_limits(3, 2);
        let at = Instant::now();
        let e = w.epoch(req(1).account, Namespace::INBOX);
        assert!(w.park(waiter(1, at), e).is_ok());
        assert!(w.park(waiter(1, at), e).is_ok());
        assert_eq!(
            w.park(waiter(1, at), e).err().map(|r| r.0),
            Some(ParkRefused::AccountFull)
        );
        assert!(w.park(waiter(2, at), 0).is_ok());
        assert_eq!(
            w.park(waiter(3, at), 0).err().map(|r| r.0),
            Some(ParkRefused::Full)
        );
        assert_eq!(w.len(), 3);
    }

    #[tokio::test]
    async fn a_write_wakes_only_its_key_and_one_before_the_park_is_not_missed() {
        let w = Waiters::default();
        let now = Instant::now();
        let later = now + std::time::Duration::from_secs(10);
        let (a, b) = (req(1).account, req(2).account);
        let ea = w.epoch(a, Namespace::INBOX);
        let eb = w.epoch(b, Namespace::INBOX);
        w.park(waiter(1, later), ea).map_err(|e| e.0).unwrap();
        w.park(waiter(2, later), eb).map_err(|e| e.0).unwrap();
        assert!(w.take_woken().is_empty());
        w.wake(&a, Namespace::INBOX);
        let woken = w.take_woken();
        assert_eq!(woken.len(), 1);
        assert_eq!(woken[0].0.req.account, a);
        assert_eq!(w.len(), 1);
        // A write between the read (epoch taken) and the park.
        let ea = w.epoch(a, Namespace::INBOX);
        w.wake(&a, Namespace::INBOX);
        w.park(waiter(1, later), ea).map_err(|e| e.0).unwrap();
        assert_eq!(w.take_woken().len(), 1);
    }

    #[tokio::test]
    async fn expiry_in_deadline_order_skipping_answered_ones() {
        let w = Waiters::default();
        let now = Instant::now();
        let s = std::time::Duration::from_secs(1);
        for (n, d) in [(1, 3), (2, 1), (3, 2)] {
            let e = w.epoch(req(n).account, Namespace::INBOX);
            w.park(waiter(n, now + s * d), e).map_err(|e| e.0).unwrap();
        }
        w.wake(&req(3).account, Namespace::INBOX);
        assert_eq!(w.take_woken().len(), 1);
        let (gone, next) = w.take_expired(now + s * 2);
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].req.account, req(2).account);
        assert_eq!(next, Some(now + s * 3));
        let (gone, next) = w.take_expired(now + s * 5);
        assert_eq!((gone.len(), next, w.len()), (1, None, 0));
    }
}
