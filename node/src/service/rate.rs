//! The per-account store rate limit: a token bucket per account, in a map of
//! bounded size that forgets the least recently seen account first.

use std::collections::{BTreeMap, HashMap};

use sotto_protocol::constants::MAX_RETRY_AFTER_MS;
use sotto_protocol::{AccountId, UnixMillis};

/// Milliseconds in a minute: the rate is configured per minute.
const MINUTE_MS: u64 = 60_000;

/// One token, in the bucket's unit. The bucket counts "token-milliseconds per
/// minute" so that refilling at `rate` tokens a minute is exact integer
/// arithmetic: every elapsed millisecond adds `rate` units, and a store takes
/// one minute's worth of them.
const TOKEN: u64 = MINUTE_MS;

#[derive(Clone, Copy, Debug)]
struct Bucket {
    /// Units available ([`TOKEN`] per store), at most `burst` tokens.
    units: u64,
    /// When `units` was last brought up to date.
    updated: UnixMillis,
    /// Position in the recency order (larger: more recently seen).
    seen: u64,
}

/// Store-rate token buckets for at most `capacity` accounts.
///
/// An account seen for the first time starts with a full bucket of `burst`
/// tokens, refilled at `rate_per_minute`. When the map is full, the account
/// seen least recently is forgotten; if it comes back it starts full again.
/// Forgetting an idle account loses nothing (its bucket had refilled anyway);
/// forgetting a busy one lets it burst again, which the byte quotas of the
/// store still bound. The recency order is kept in a `BTreeMap`, so each call
/// costs O(log n) whatever the map holds.
#[derive(Debug)]
pub struct RateLimiter {
    rate_per_minute: u64,
    burst: u64,
    capacity: usize,
    buckets: HashMap<AccountId, Bucket>,
    order: BTreeMap<u64, AccountId>,
    clock: u64,
}

impl RateLimiter {
    /// Buckets of `burst` tokens refilled at `rate_per_minute`, for at most
    /// `capacity` accounts (at least one).
    pub fn new(rate_per_minute: u32, burst: u32, capacity: usize) -> Self {
        Self {
            rate_per_minute: u64::from(rate_per_minute),
            burst: u64::from(burst),
            capacity: capacity.max(1),
            buckets: HashMap::new(),
            order: BTreeMap::new(),
            clock: 0,
        }
    }

    /// How many accounts are tracked now.
    pub fn tracked(&self) -> usize {
        self.buckets.len()
    }

    /// Takes one token of `account` at `now`. `Err(ms)`: none is left, and
    /// one is back in `ms` (capped at the longest wait the protocol lets a
    /// node ask for).
    pub fn check(&mut self, account: &AccountId, now: UnixMillis) -> Result<(), u64> {
        self.check_n(account, 1, now)
    }

    /// Takes `cost` tokens of `account` at `now` (a cost over the burst takes
    /// a full bucket). `Err(ms)`: not enough are left, and they are back in
    /// `ms` (capped as for [`RateLimiter::check`]).
    pub fn check_n(&mut self, account: &AccountId, cost: u64, now: UnixMillis) -> Result<(), u64> {
        let full = self.burst.saturating_mul(TOKEN);
        self.clock = self.clock.wrapping_add(1);
        let seen = self.clock;
        let mut bucket = match self.buckets.get(account) {
            Some(b) => {
                self.order.remove(&b.seen);
                *b
            }
            None => {
                self.make_room();
                Bucket {
                    units: full,
                    updated: now,
                    seen,
                }
            }
        };
        // A clock that stepped back refills nothing rather than wrapping.
        let elapsed = now.saturating_sub(bucket.updated);
        bucket.units = bucket
            .units
            .saturating_add(elapsed.saturating_mul(self.rate_per_minute))
            .min(full);
        bucket.updated = bucket.updated.max(now);
        bucket.seen = seen;
        // A request dearer than the whole burst would never pass: it costs a
        // full bucket instead.
        let need = cost.max(1).min(self.burst.max(1)).saturating_mul(TOKEN);
        let result = if bucket.units >= need {
            bucket.units -= need;
            Ok(())
        } else {
            Err(self.wait_for(need - bucket.units))
        };
        self.order.insert(seen, *account);
        self.buckets.insert(*account, bucket);
        result
    }

    /// Milliseconds until `missing` units have refilled.
    fn wait_for(&self, missing: u64) -> u64 {
        if self.rate_per_minute == 0 {
            return MAX_RETRY_AFTER_MS;
        }
        missing
            .div_ceil(self.rate_per_minute)
            .clamp(1, MAX_RETRY_AFTER_MS)
    }

    /// Forgets least recently seen accounts until one more fits.
    fn make_room(&mut self) {
        while self.buckets.len() >= self.capacity {
            match self.order.pop_first() {
                Some((_, oldest)) => {
                    self.buckets.remove(&oldest);
                }
                // The two maps always hold the same accounts; if they ever did
                // not, starting over is safe (every bucket starts full).
                None => {
                    self.buckets.clear();
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_protocol::AccountKey;

    const T0: UnixMillis = 1_700_000_000_000;

    fn account(n: u8) -> AccountId {
        AccountKey::from_entropy([n; 16]).account_id()
    }

    #[test]
    fn burst_then_refill_at_the_rate() {
        // 6 a minute: one token every 10 s.
        let mut r = RateLimiter::new(6, 3, 10);
        let a = account(1);
        for _ in 0..3 {
            r.check(&a, T0).unwrap();
        }
        assert_eq!(r.check(&a, T0), Err(10_000));
        assert_eq!(r.check(&a, T0 + 4_000), Err(6_000));
        r.check(&a, T0 + 10_000).unwrap();
        assert_eq!(r.check(&a, T0 + 10_000), Err(10_000));
        // A long pause refills to the burst, not beyond.
        let later = T0 + 3_600_000;
        for _ in 0..3 {
            r.check(&a, later).unwrap();
        }
        assert!(r.check(&a, later).is_err());
    }

    #[test]
    fn a_dear_request_takes_several_tokens() {
        let mut r = RateLimiter::new(6, 10, 10);
        let a = account(1);
        r.check_n(&a, 8, T0).unwrap();
        // Two left: a request of three waits for one more (10 s at 6/min).
        assert_eq!(r.check_n(&a, 3, T0), Err(10_000));
        r.check_n(&a, 2, T0).unwrap();
        // A cost over the burst takes a full bucket, so it can pass at all.
        let b = account(2);
        r.check_n(&b, 1_000, T0).unwrap();
        assert!(r.check(&b, T0).is_err());
    }

    #[test]
    fn accounts_are_independent() {
        let mut r = RateLimiter::new(1, 1, 10);
        r.check(&account(1), T0).unwrap();
        assert!(r.check(&account(1), T0).is_err());
        r.check(&account(2), T0).unwrap();
    }

    #[test]
    fn clock_going_back_refills_nothing() {
        let mut r = RateLimiter::new(60, 1, 10);
        let a = account(1);
        r.check(&a, T0).unwrap();
        assert!(r.check(&a, T0 - 60_000).is_err());
        // Time is counted from the latest time seen.
        assert!(r.check(&a, T0 + 500).is_err());
        r.check(&a, T0 + 1_000).unwrap();
    }

    #[test]
    fn zero_rate_waits_the_longest_allowed() {
        let mut r = RateLimiter::new(0, 1, 10);
        let a = account(1);
        r.check(&a, T0).unwrap();
        assert_eq!(r.check(&a, T0 + 1_000_000), Err(MAX_RETRY_AFTER_MS));
    }

    #[test]
    fn the_map_is_bounded_and_forgets_the_least_recent() {
        let mut r = RateLimiter::new(1, 1, 3);
        for n in 1..=3 {
            r.check(&account(n), T0).unwrap();
        }
        // Account 1 is seen again (refused), so account 2 is now the oldest.
        assert!(r.check(&account(1), T0).is_err());
        r.check(&account(4), T0).unwrap();
        assert_eq!(r.tracked(), 3);
        // Account 2 was forgotten: it starts with a full bucket.
        r.check(&account(2), T0).unwrap();
        // Account 1 is still tracked (and empty)... until 2's return pushed out 3.
        assert!(r.check(&account(1), T0).is_err());
        r.check(&account(3), T0).unwrap();
        assert_eq!(r.tracked(), 3);
        for n in 10..200 {
            let _ = r.check(&account(n), T0);
            assert!(r.tracked() <= 3);
        }
    }
}
