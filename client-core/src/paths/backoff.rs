//! Exponential backoff for path building: quick retries after a single
//! failure, at most [`MAX_BACKOFF`] between attempts, so building neither
//! hammers a broken network nor ever stops trying (session-desktop#691).

use std::time::Duration;

/// The first wait.
pub const BASE_BACKOFF: Duration = Duration::from_millis(250);
/// The longest wait between attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Doubling waits from [`BASE_BACKOFF`] up to [`MAX_BACKOFF`].
#[derive(Debug, Clone, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The wait after one more failure.
    pub fn next_wait(&mut self) -> Duration {
        let wait = BASE_BACKOFF
            .checked_mul(1u32.checked_shl(self.failures).unwrap_or(u32::MAX))
            .unwrap_or(MAX_BACKOFF)
            .min(MAX_BACKOFF);
        self.failures = self.failures.saturating_add(1);
        wait
    }

    /// Failures since the last success.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Back to the first wait after a success.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_up_to_the_cap_and_reset() {
        let mut b = Backoff::default();
        let waits: Vec<Duration> = (0..12).map(|_| b.next_wait()).collect();
        assert_eq!(waits[0], BASE_BACKOFF);
        assert_eq!(waits[1], BASE_BACKOFF * 2);
        assert_eq!(waits[2], BASE_BACKOFF * 4);
        assert!(waits.windows(2).all(|w| w[1] >= w[0]));
        assert_eq!(*waits.last().unwrap_or(&Duration::ZERO), MAX_BACKOFF);
        assert_eq!(b.failures(), 12);
        for _ in 0..100 {
            assert!(b.next_wait() <= MAX_BACKOFF);
        }
        b.reset();
        assert_eq!(b.next_wait(), BASE_BACKOFF);
    }
}
