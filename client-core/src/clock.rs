//! The client's clock: the device's clock plus a correction learned from the
//! node times that error answers carry (DESIGN §5), so a device whose clock is
//! minutes off still signs requests nodes accept.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sotto_protocol::UnixMillis;
use sotto_protocol::time::DAY_MS;

/// A correction smaller than this is not worth applying: it is within what
/// network delay and honest clock differences explain, and the nodes' window
/// is ±5 min anyway.
pub const CORRECTION_THRESHOLD_MS: i64 = 30_000;

/// The largest correction believed. A node that lies about its time can push
/// the client's clock this far at most; an honest node's next error pulls it
/// back.
pub const MAX_CORRECTION_MS: i64 = 7 * DAY_MS as i64;

/// Unix milliseconds as the client should use them.
#[derive(Debug, Default)]
pub struct ClientClock {
    /// How far the device's clock is off the system's (tests and the simulator
    /// model a wrong device clock with it; 0 in real use).
    device_skew_ms: i64,
    /// What the client adds to its device clock, learned from nodes.
    correction_ms: AtomicI64,
}

impl ClientClock {
    /// The system clock, moved by `device_skew_ms` to model a wrong clock.
    pub fn new(device_skew_ms: i64) -> Self {
        Self {
            device_skew_ms,
            correction_ms: AtomicI64::new(0),
        }
    }

    /// The device's own clock.
    pub fn device_now(&self) -> UnixMillis {
        let system = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        system.saturating_add_signed(self.device_skew_ms)
    }

    /// The corrected clock: what requests are signed and checked with.
    pub fn now(&self) -> UnixMillis {
        self.device_now()
            .saturating_add_signed(self.correction_ms.load(Ordering::Relaxed))
    }

    /// The correction in use.
    pub fn correction_ms(&self) -> i64 {
        self.correction_ms.load(Ordering::Relaxed)
    }

    /// Takes in that a node's clock is `offset_ms` ahead of [`ClientClock::now`]
    /// (negative: behind). Returns whether the correction changed: offsets
    /// under [`CORRECTION_THRESHOLD_MS`] are ignored, and the total is kept
    /// within ±[`MAX_CORRECTION_MS`].
    pub fn learn(&self, offset_ms: i64) -> bool {
        if offset_ms.unsigned_abs() < CORRECTION_THRESHOLD_MS.unsigned_abs() {
            return false;
        }
        let current = self.correction_ms.load(Ordering::Relaxed);
        let next = current
            .saturating_add(offset_ms)
            .clamp(-MAX_CORRECTION_MS, MAX_CORRECTION_MS);
        self.correction_ms.store(next, Ordering::Relaxed);
        next != current
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn corrections_follow_nodes_within_bounds() {
        let clock = ClientClock::new(600_000);
        assert!(clock.device_now() >= clock.now().saturating_sub(1));
        assert!(!clock.learn(5_000), "small offsets are noise");
        assert_eq!(clock.correction_ms(), 0);
        assert!(clock.learn(-600_000));
        assert_eq!(clock.correction_ms(), -600_000);
        let skewed = clock.device_now();
        let corrected = clock.now();
        assert!(skewed - corrected >= 599_000 && skewed - corrected <= 601_000);
        assert!(clock.learn(i64::MAX));
        assert_eq!(clock.correction_ms(), MAX_CORRECTION_MS);
    }
}
