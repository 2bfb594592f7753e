//! The node's clock: Unix milliseconds, with an offset that tests and the
//! simulator set to model a node whose clock is wrong.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sotto_protocol::UnixMillis;

/// A wall clock in Unix ms, optionally offset. Every time-dependent decision of
/// the node (auth windows, expiry, record lifetimes) reads this one clock.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    /// The system clock, no offset.
    pub fn system() -> Self {
        Self::default()
    }

    /// The system clock moved by `offset_ms` (negative: behind).
    pub fn with_offset(offset_ms: i64) -> Self {
        Self {
            offset_ms: AtomicI64::new(offset_ms),
        }
    }

    /// Moves the clock to `offset_ms` from the system clock.
    pub fn set_offset(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
    }

    /// Now, in Unix ms.
    pub fn now(&self) -> UnixMillis {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        system.saturating_add_signed(self.offset_ms.load(Ordering::Relaxed))
    }
}
