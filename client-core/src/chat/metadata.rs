//! Rules that make the chat's traffic say less and keep old or reordered
//! control contents from changing state (issue 13, "Metadata"):
//!
//! - a content sent longer ago than the longest TTL ([`STALE_AFTER_MS`]) is
//!   refused: no honest swarm still holds it, and its id may be forgotten
//!   soon after ([`SEEN_KEEP_MS`] is a day longer), so a swarm node that kept
//!   the bytes could otherwise replay a deleted or disappeared message, or an
//!   old "timer off";
//! - disappearing-timer and profile changes apply last-writer-wins by
//!   `(sent_at, id)`, not in arrival order (this account's own timer changes
//!   are stamped too, so a peer's older change never undoes a newer one);
//! - the ids a delete-for-everyone names are remembered for the window, so a
//!   message that arrives after its delete stays deleted;
//! - the swarm TTL of what this account sends is rounded up to one of
//!   [`TTL_PRESETS_MS`]: an exact disappearing timer in milliseconds marked
//!   every envelope of one conversation;
//! - delivery receipts wait a random delay (`ClientConfig::receipt_delay`,
//!   5–60 s by default) and leave batched per peer: one sent seconds after
//!   each message let anyone who sees both swarms match sender and
//!   recipient (Martiny et al., "Improving Signal's Sealed Sender", NDSS
//!   2021).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use rand::RngExt;
use sotto_protocol::AccountId;
use sotto_protocol::constants::{CONTENT_ID_LEN, MAX_CONTENT_IDS, MAX_TTL_MS};
use sotto_protocol::envelope::{ContentBody, ContentId, ReceiptKind};
use sotto_protocol::time::{DAY_MS, HOUR_MS};

use super::records::SEEN_KEEP_MS;
use super::{ChatError, Inner};

/// The swarm TTLs a sent envelope may have; a TTL is rounded up to the
/// first that holds it.
pub(crate) const TTL_PRESETS_MS: [u64; 5] = [HOUR_MS, DAY_MS, 7 * DAY_MS, 14 * DAY_MS, MAX_TTL_MS];

/// A content sent longer ago than this is refused: the longest TTL, a day
/// less than how long a handled id is remembered ([`SEEN_KEEP_MS`]), so that
/// a sender whose clock is up to a day ahead of this device's is still
/// covered (see `too_old`).
pub(crate) const STALE_AFTER_MS: u64 = MAX_TTL_MS;

// The replay argument of `too_old` rests on this.
const _: () = assert!(SEEN_KEEP_MS == STALE_AFTER_MS + DAY_MS);

/// Default range of the random delay before a delivery receipt leaves.
pub const DEFAULT_RECEIPT_DELAY: (Duration, Duration) =
    (Duration::from_secs(5), Duration::from_secs(60));

/// Most delivery receipts waiting; past it a receipt leaves with the next
/// batch at once (the wait is a privacy measure, never a reason to drop).
const MAX_PENDING_RECEIPTS: usize = 4_096;

/// Key prefixes in the `meta` tree.
const RECEIPT_PREFIX: &[u8] = b"rcpt";
const CHANGE_PREFIX: &[u8] = b"lww";

/// Which setting a last-writer-wins stamp is for.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Setting {
    /// The conversation's disappearing timer (either side changes it).
    Timer,
    /// The peer's display name.
    Profile,
}

/// `ttl_ms` rounded up to the nearest preset (the longest at most).
pub(crate) fn preset_ttl(ttl_ms: u64) -> u64 {
    TTL_PRESETS_MS
        .iter()
        .copied()
        .find(|p| *p >= ttl_ms)
        .unwrap_or(MAX_TTL_MS)
}

fn change_key(setting: Setting, peer: &AccountId) -> Vec<u8> {
    let mut key = CHANGE_PREFIX.to_vec();
    key.push(match setting {
        Setting::Timer => b't',
        Setting::Profile => b'p',
    });
    key.extend_from_slice(peer.as_bytes());
    key
}

fn receipt_key(peer: &AccountId, id: &ContentId) -> Vec<u8> {
    let mut key = RECEIPT_PREFIX.to_vec();
    key.extend_from_slice(peer.as_bytes());
    key.extend_from_slice(id.as_bytes());
    key
}

impl Inner {
    /// Whether a content sent at `sent_at` is too old at `now` (counted
    /// `stale`): then it is refused unread.
    ///
    /// Why no replay gets past this and the seen set together: a content
    /// handled at `h` has its id kept until `h + SEEN_KEEP_MS`; it is
    /// refused here from `sent_at + STALE_AFTER_MS`. With
    /// `SEEN_KEEP_MS = STALE_AFTER_MS + 1 day`, the id outlives the
    /// acceptance window whenever `sent_at <= h + 1 day`, i.e. unless the
    /// sender's clock was more than a day ahead.
    pub(crate) fn too_old(&self, sent_at: u64, now: u64) -> bool {
        let old = sent_at.saturating_add(STALE_AFTER_MS) < now;
        if old {
            self.count(|c| c.stale += 1);
        }
        old
    }

    /// Last-writer-wins for `setting` of the conversation with `peer`:
    /// whether a change stamped `stamp` (its `sent_at` and content id) is
    /// newer than the last one applied, recording it if so. An older one is
    /// counted `stale`, and so is one dated more than a day after `now`: a
    /// peer must not stamp a change far ahead and so win against every later
    /// one. Ids are random, so two changes never tie.
    pub(crate) fn newer_change(
        &self,
        setting: Setting,
        peer: &AccountId,
        stamp: (u64, ContentId),
        now: u64,
    ) -> Result<bool, ChatError> {
        if stamp.0 > now.saturating_add(DAY_MS) {
            self.count(|c| c.stale += 1);
            return Ok(false);
        }
        let s = &self.store;
        let key = change_key(setting, peer);
        let last: Option<(u64, ContentId)> = s.get(&s.meta, &key)?;
        if last.is_some_and(|l| l >= stamp) {
            self.count(|c| c.stale += 1);
            return Ok(false);
        }
        s.put(&s.meta, &key, &stamp)?;
        Ok(true)
    }

    /// Remembers that `peer` deleted its message `id` for everyone (for the
    /// dedupe window, like a seen id).
    pub(crate) fn remember_deleted(
        &self,
        peer: &AccountId,
        id: &ContentId,
        now: u64,
    ) -> Result<(), ChatError> {
        let mut key = peer.as_bytes().to_vec();
        key.extend_from_slice(id.as_bytes());
        self.store.mark_seen(b'd', &key, now)
    }

    /// Whether `peer` deleted its message `id` for everyone.
    pub(crate) fn was_deleted(&self, peer: &AccountId, id: &ContentId) -> Result<bool, ChatError> {
        let mut key = peer.as_bytes().to_vec();
        key.extend_from_slice(id.as_bytes());
        self.store.is_seen(b'd', &key)
    }

    /// Queues a delivery receipt for `peer`'s message `id`: it leaves after
    /// a random delay, with every other receipt waiting for that peer.
    pub(crate) fn queue_delivery_receipt(
        &self,
        peer: &AccountId,
        id: &ContentId,
        now: u64,
    ) -> Result<(), ChatError> {
        let s = &self.store;
        let (lo, hi) = self.receipt_delay();
        let due = if s.meta.scan_prefix(RECEIPT_PREFIX).count() >= MAX_PENDING_RECEIPTS {
            now
        } else {
            let (lo, hi) = (ms(lo), ms(hi).max(ms(lo)));
            now.saturating_add(rand::rng().random_range(lo..=hi))
        };
        s.meta
            .insert(receipt_key(peer, id), &due.to_be_bytes()[..])?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// Puts the receipts of every peer with one due by `now` into the
    /// outbox, all of that peer's waiting receipts together; returns when
    /// the next waiting one is due.
    pub(crate) fn release_receipts(&self, now: u64) -> Result<Option<u64>, ChatError> {
        let s = &self.store;
        let id_len = CONTENT_ID_LEN;
        let mut waiting: Vec<(AccountId, ContentId, u64, sled::IVec)> = Vec::new();
        for item in s.meta.scan_prefix(RECEIPT_PREFIX) {
            let (k, v) = item?;
            let rest = k.get(RECEIPT_PREFIX.len()..).unwrap_or_default();
            let due = v.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0);
            let parsed = rest.split_at_checked(rest.len().saturating_sub(id_len));
            let Some((peer, id)) = parsed.and_then(|(p, i)| {
                let peer = AccountId::from_bytes(p.try_into().ok()?).ok()?;
                let id = ContentId(i.try_into().ok()?);
                Some((peer, id))
            }) else {
                s.meta.remove(&k)?;
                continue;
            };
            waiting.push((peer, id, due, k));
        }
        let due_peers: HashSet<AccountId> = waiting
            .iter()
            .filter(|(_, _, due, _)| *due <= now)
            .map(|(p, ..)| *p)
            .collect();
        let mut next: Option<u64> = None;
        let mut batches: HashMap<AccountId, Vec<ContentId>> = HashMap::new();
        for (peer, id, due, key) in waiting {
            if !due_peers.contains(&peer) {
                next = Some(next.map_or(due, |n| n.min(due)));
                continue;
            }
            batches.entry(peer).or_default().push(id);
            s.meta.remove(key)?;
        }
        for (peer, ids) in batches {
            for chunk in ids.chunks(MAX_CONTENT_IDS) {
                let body = ContentBody::Receipt {
                    kind: ReceiptKind::Delivered,
                    ids: chunk.to_vec(),
                };
                // Best effort, as before the wait: a full outbox must not
                // stop the sender.
                if let Err(e) = self.enqueue(&peer, body, None) {
                    tracing::warn!("delivery receipts not queued: {e}");
                }
            }
        }
        Ok(next)
    }
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_presets() {
        assert_eq!(preset_ttl(10_000), HOUR_MS);
        assert_eq!(preset_ttl(HOUR_MS), HOUR_MS);
        assert_eq!(preset_ttl(HOUR_MS + 1), DAY_MS);
        assert_eq!(preset_ttl(5 * DAY_MS), 7 * DAY_MS);
        assert_eq!(preset_ttl(14 * DAY_MS), 14 * DAY_MS);
        assert_eq!(preset_ttl(20 * DAY_MS), MAX_TTL_MS);
        assert_eq!(preset_ttl(u64::MAX), MAX_TTL_MS);
    }
}
