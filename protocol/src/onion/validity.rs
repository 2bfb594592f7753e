//! How long a request packet may be peeled. The client writes one minute into
//! every hop's routing info: the packet is refused once that minute has passed
//! (on the hop's clock, allowing for the clocks' difference). So a relay keeps
//! each replay tag for minutes, not for its onion key's whole life: replay
//! state follows traffic, and the time a replay can be attempted is short.
//!
//! The value is a whole Unix minute, the same for every packet a client builds
//! within that minute and for every hop: a finer time would be a label a guard
//! and an exit that collude could match between the packets they see.

use crate::constants::{ONION_VALIDITY_MS, PEER_CLOCK_TOLERANCE_MS};
use crate::error::{Error, Result};
use crate::time::{MINUTE_MS, UnixMillis};

/// The most a packet's `not_after` may lie ahead of the hop's clock: the
/// validity, rounded up to a whole minute, plus the clocks' difference.
pub const MAX_AHEAD_MS: u64 = ONION_VALIDITY_MS + MINUTE_MS + PEER_CLOCK_TOLERANCE_MS;

/// The `not_after` minute a client whose (corrected) clock reads `now` writes
/// into a packet: `now + ONION_VALIDITY_MS`, rounded up to a whole minute.
pub fn not_after_minute(now: UnixMillis) -> u32 {
    let minute = now.saturating_add(ONION_VALIDITY_MS).div_ceil(MINUTE_MS);
    u32::try_from(minute).unwrap_or(u32::MAX)
}

/// The Unix time in ms that the minute `minute` stands for.
pub fn minute_to_ms(minute: u32) -> UnixMillis {
    u64::from(minute).saturating_mul(MINUTE_MS)
}

/// Checks a peeled packet's `not_after` (ms) against the hop's clock `now`.
/// Accepted while `now <= not_after + PEER_CLOCK_TOLERANCE_MS`, and only if
/// `not_after` is at most [`MAX_AHEAD_MS`] ahead (a packet may not claim a
/// longer life than a client can give it, or its tag would be kept longer).
///
/// Returns until when the hop must remember the packet's replay tag: the last
/// moment it would accept the packet. Fails with [`Error::Expired`] otherwise.
pub fn check_not_after(not_after: UnixMillis, now: UnixMillis) -> Result<UnixMillis> {
    let keep_until = not_after.saturating_add(PEER_CLOCK_TOLERANCE_MS);
    let valid_from = not_after.saturating_sub(MAX_AHEAD_MS);
    if now > keep_until || now < valid_from {
        return Err(Error::Expired {
            what: "onion packet",
            valid_from,
            valid_until: keep_until,
            now,
        });
    }
    Ok(keep_until)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_minute_is_rounded_up_past_the_validity() {
        let now = 1_800_000_000_000 + 12_345;
        let m = not_after_minute(now);
        let end = minute_to_ms(m);
        assert_eq!(end % MINUTE_MS, 0);
        assert!(end >= now + ONION_VALIDITY_MS);
        assert!(end < now + ONION_VALIDITY_MS + MINUTE_MS);
        // Every client in the same minute writes the same value.
        assert_eq!(not_after_minute(now - 12_345 + 1), m);
        assert_eq!(not_after_minute(u64::MAX), u32::MAX);
    }

    #[test]
    fn a_hop_accepts_within_the_clocks_tolerance_and_refuses_after() {
        let built = 1_800_000_000_000;
        let not_after = minute_to_ms(not_after_minute(built));
        // A hop on time, or whose clock is off either way by the tolerance.
        for now in [
            built,
            built + 10_000,
            built.saturating_sub(PEER_CLOCK_TOLERANCE_MS),
            not_after + PEER_CLOCK_TOLERANCE_MS,
        ] {
            assert_eq!(
                check_not_after(not_after, now).unwrap(),
                not_after + PEER_CLOCK_TOLERANCE_MS,
                "now {now}"
            );
        }
        // Too late, and too far ahead of the hop's clock.
        for now in [
            not_after + PEER_CLOCK_TOLERANCE_MS + 1,
            not_after - MAX_AHEAD_MS - 1,
        ] {
            assert!(matches!(
                check_not_after(not_after, now),
                Err(Error::Expired { .. })
            ));
        }
        // A packet without a validity (zero, as before the field existed) is
        // refused at any sensible time.
        assert!(check_not_after(0, built).is_err());
    }
}
