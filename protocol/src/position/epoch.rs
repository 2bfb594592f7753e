//! Position epochs: a node's position lasts one period, then it must pay for
//! a new one.
//!
//! A position is a hash of the node's key and an admission proof
//! ([`super::Position::of_node`]), and the proof is mined for one *epoch* of
//! the network's `position_period_ms`. When the epoch ends, the record that
//! carries the proof expires and the node needs a proof for the next epoch,
//! which lands it at a new, random place. A place next to a chosen account is
//! therefore rented, not bought: an operator who wants to stay there pays the
//! whole price (about `N / r` proofs) again every period. I2P rotates its
//! DHT routing keys daily for the same reason (its "routing key" is the hash
//! of the identity and the current date).
//!
//! **Staggered.** Epoch boundaries are not the same moment for every node: a
//! node's epochs are shifted by an offset derived from its key, uniform over
//! the period. So in a network of `N` nodes one node moves about every
//! `period / N`, which replication and handoff treat as one ordinary leave and
//! join; a shared boundary would move every node at once, and every swarm
//! would hand over all its data in the same minute.
//!
//! **Overlap.** A record for epoch `e` must lie within `e`'s window widened by
//! [`overlap`] at both ends (`issued_at ≥ start − overlap`, `expires_at ≤ end +
//! overlap`). That is a check on the record's own fields, so it needs no
//! clock beyond the record checks that exist already; the overlap lets a node
//! publish its next record before its boundary, as it does before any expiry.
//!
//! A period of 0 turns rotation off (a devnet, tests): every proof is for
//! epoch 0 and lasts as long as the key.

use crate::error::{Error, Result};
use crate::id::NodeId;
use crate::time::{HOUR_MS, UnixMillis};

/// blake3 `derive_key` context of a node's epoch offset.
pub const EPOCH_OFFSET_CONTEXT: &str = "sotto position epoch offset v1";

/// The longest [`overlap`]: one hour.
pub const MAX_EPOCH_OVERLAP_MS: u64 = HOUR_MS;

/// How much a record may stick out of its epoch at each end: a quarter of the
/// period, at most [`MAX_EPOCH_OVERLAP_MS`]. 0 when positions do not rotate.
pub fn overlap(period_ms: u64) -> u64 {
    (period_ms / 4).min(MAX_EPOCH_OVERLAP_MS)
}

/// Where in the period `node`'s epochs begin: the first 8 bytes (LE) of
/// `derive_key(EPOCH_OFFSET_CONTEXT, key)` modulo the period; 0 when positions
/// do not rotate.
pub fn offset(node: &NodeId, period_ms: u64) -> u64 {
    if period_ms == 0 {
        return 0;
    }
    let hash = blake3::derive_key(EPOCH_OFFSET_CONTEXT, node.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash[..8]);
    u64::from_le_bytes(first) % period_ms
}

/// `node`'s epoch at `at`: `⌊(at + offset) / period⌋`; always 0 when
/// positions do not rotate.
pub fn epoch_at(node: &NodeId, at: UnixMillis, period_ms: u64) -> u64 {
    if period_ms == 0 {
        return 0;
    }
    let shifted = u128::from(at) + u128::from(offset(node, period_ms));
    // Over u64 only for a period of 1 ms near the end of time: saturate.
    u64::try_from(shifted / u128::from(period_ms)).unwrap_or(u64::MAX)
}

/// The window `[start, end)` of `node`'s `epoch` in Unix ms (`start` is
/// clamped at 0), or `None` if it lies beyond the `u64` range (a hostile
/// epoch). With rotation off, epoch 0 is all of time.
pub fn window(node: &NodeId, epoch: u64, period_ms: u64) -> Option<(UnixMillis, UnixMillis)> {
    if period_ms == 0 {
        return (epoch == 0).then_some((0, UnixMillis::MAX));
    }
    let off = i128::from(offset(node, period_ms));
    let period = i128::from(period_ms);
    let start = i128::from(epoch).checked_mul(period)? - off;
    let end = u64::try_from(start.checked_add(period)?).ok()?;
    Some((u64::try_from(start.max(0)).ok()?, end))
}

/// The epoch a record `node` issues at `now` must be for: the current one,
/// or the next one once `now` is within [`overlap`] of the boundary (so a
/// record published just before the boundary does not expire at once).
pub fn epoch_for_record(node: &NodeId, now: UnixMillis, period_ms: u64) -> u64 {
    let epoch = epoch_at(node, now, period_ms);
    match window(node, epoch, period_ms) {
        Some((_, end)) if period_ms > 0 && now >= end.saturating_sub(overlap(period_ms)) => {
            epoch.saturating_add(1)
        }
        _ => epoch,
    }
}

/// When a record for `epoch` issued at `now` with the network's `lifetime`
/// must expire: at `now + lifetime`, or at the epoch's end plus [`overlap`]
/// if that is sooner.
pub fn record_expiry(
    node: &NodeId,
    epoch: u64,
    now: UnixMillis,
    lifetime_ms: u64,
    period_ms: u64,
) -> UnixMillis {
    let natural = now.saturating_add(lifetime_ms);
    match window(node, epoch, period_ms) {
        Some((_, end)) if period_ms > 0 => natural.min(end.saturating_add(overlap(period_ms))),
        _ => natural,
    }
}

/// Checks that a record of `node` valid from `issued_at` to `expires_at`
/// may carry a proof for `epoch`: it lies within the epoch's window widened
/// by [`overlap`] at both ends (with rotation off, the epoch is 0).
pub fn check_epoch(
    node: &NodeId,
    epoch: u64,
    issued_at: UnixMillis,
    expires_at: UnixMillis,
    period_ms: u64,
) -> Result<()> {
    let refuse = |reason: String| {
        Err(Error::OutOfRange {
            what: "node record position epoch",
            reason,
        })
    };
    let Some((start, end)) = window(node, epoch, period_ms) else {
        return refuse(format!(
            "epoch {epoch} is not one this network's positions can have"
        ));
    };
    let slack = overlap(period_ms);
    let from = start.saturating_sub(slack);
    let until = end.saturating_add(slack);
    if issued_at < from || expires_at > until {
        return refuse(format!(
            "the record ({issued_at}..{expires_at} ms) is outside its epoch {epoch} \
             ({from}..{until} ms with the overlap): the position has expired or is not yet due"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::{DAY_MS, MINUTE_MS};
    use proptest::prelude::*;

    fn node(b: u8) -> NodeId {
        NodeId([b; 32])
    }

    #[test]
    fn offsets_differ_between_nodes_and_stay_in_the_period() {
        let offsets: std::collections::HashSet<u64> =
            (0..50u8).map(|b| offset(&node(b), DAY_MS)).collect();
        assert!(offsets.len() >= 49, "{} distinct of 50", offsets.len());
        assert!(offsets.iter().all(|o| *o < DAY_MS));
        assert_eq!(offset(&node(1), 0), 0);
    }

    #[test]
    fn rotation_off_is_epoch_zero_for_ever() {
        let n = node(2);
        assert_eq!(epoch_at(&n, u64::MAX, 0), 0);
        assert_eq!(epoch_for_record(&n, 1_000, 0), 0);
        assert_eq!(window(&n, 0, 0), Some((0, u64::MAX)));
        assert_eq!(window(&n, 1, 0), None);
        check_epoch(&n, 0, 5, u64::MAX, 0).unwrap();
        assert!(check_epoch(&n, 1, 5, 6, 0).is_err());
        assert_eq!(record_expiry(&n, 0, 10, 7_200_000, 0), 7_200_010);
    }

    /// The record a node makes at any moment passes the check others run,
    /// including just before and just after its boundary.
    #[test]
    fn a_record_made_at_any_moment_checks() {
        let n = node(3);
        let period = 8 * HOUR_MS;
        let lifetime = 2 * HOUR_MS;
        let e = epoch_at(&n, 1_700_000_000_000, period);
        let (start, end) = window(&n, e, period).unwrap();
        for now in [
            start,
            start + 1,
            end - overlap(period) - 1,
            end - overlap(period),
            end - 1,
            end,
            end + 5 * MINUTE_MS,
        ] {
            let epoch = epoch_for_record(&n, now, period);
            let expires = record_expiry(&n, epoch, now, lifetime, period);
            assert!(expires > now, "at {now}");
            check_epoch(&n, epoch, now, expires, period).unwrap();
        }
        // Just before the boundary the record is already for the next epoch.
        assert_eq!(epoch_for_record(&n, end - 1, period), e + 1);
        assert_eq!(epoch_for_record(&n, start + 1, period), e);
    }

    /// A proof for an epoch that has ended is refused: the position expired.
    #[test]
    fn a_record_for_an_ended_epoch_is_refused() {
        let n = node(4);
        let period = DAY_MS;
        let now = 1_700_000_000_000;
        let e = epoch_at(&n, now, period);
        let lifetime = 2 * HOUR_MS;
        let issued = now;
        check_epoch(&n, e, issued, issued + MINUTE_MS, period).unwrap();
        let err = check_epoch(&n, e - 1, issued, issued + MINUTE_MS, period);
        assert!(err.is_err());
        // Nor can a record stretch its epoch past the overlap.
        let (_, end) = window(&n, e, period).unwrap();
        assert!(check_epoch(&n, e, end - lifetime / 2, end + overlap(period) + 1, period).is_err());
        // Nor claim a far future epoch.
        assert!(check_epoch(&n, e + 2, issued, issued + MINUTE_MS, period).is_err());
        assert!(check_epoch(&n, u64::MAX, issued, issued + 1, period).is_err());
    }

    proptest! {
        /// Consecutive epochs tile time: each starts where the last ended, and
        /// the epoch at any moment is the one whose window holds it.
        #[test]
        fn epochs_tile_time(
            key in any::<[u8; 32]>(),
            at in 0u64..4_000_000_000_000,
            period in 60_000u64..30 * DAY_MS,
        ) {
            let n = NodeId(key);
            let e = epoch_at(&n, at, period);
            let (start, end) = window(&n, e, period).unwrap();
            prop_assert!(start <= at && at < end);
            let (next_start, _) = window(&n, e + 1, period).unwrap();
            prop_assert_eq!(next_start, end);
        }

        #[test]
        fn hostile_epochs_never_panic(key in any::<[u8; 32]>(), epoch in any::<u64>(), period in any::<u64>()) {
            let n = NodeId(key);
            let _ = window(&n, epoch, period);
            let _ = check_epoch(&n, epoch, 0, u64::MAX, period);
            let _ = epoch_at(&n, u64::MAX, period);
            let _ = epoch_for_record(&n, u64::MAX, period);
            let _ = record_expiry(&n, epoch, u64::MAX, u64::MAX, period);
        }
    }
}
