//! The byte limits that protect a node's disk, and what one message is charged.

/// One mebibyte.
const MIB: u64 = 1024 * 1024;

/// What one stored message costs besides its data: its record in `messages`
/// (key 74 bytes; a 9-byte header and the message's account, hash, times and
/// owner proof, at most 176 bytes, which
/// [`sotto_protocol::constants::STORED_MESSAGE_OVERHEAD`] rounds to 256), its
/// entry in `items` (key 64, value up to 59) and its expiry index key (72):
/// about 450 bytes. sled adds a few bytes per entry in its pages (lengths and
/// a prefix-encoded key), and the account's `usage` entry (48 bytes) is shared
/// by its messages; rounded up to 512. Charging it means a flood of one-byte
/// messages fills a quota as surely as large ones do, instead of filling the
/// disk with index entries that the quota does not see. What sled's log holds
/// beyond the live data until it reclaims space is not charged: the free-disk
/// watermark covers that ([`crate::store::SpaceGuard`]).
pub const PER_MESSAGE_OVERHEAD: u64 = 512;

/// What one tombstone costs until the purge removes it: its entry in `items`
/// (key 64, value 43) and its expiry index key (72), 179 bytes, plus the
/// owner's signed delete it refers to in `proofs`. That proof is kept once
/// however many tombstones share it: about 200 bytes for a delete of one
/// hash, and about 32 bytes a hash for a delete of many. So a tombstone costs
/// between about 210 and 390 bytes with sled's per-entry bytes; charged like
/// a message's overhead, 512, so that deleting a held message never makes its
/// account use more than before. A fixed charge, because the proof's share
/// changes as other tombstones sharing it are purged, and a charge must be
/// taken back exactly as it was given.
pub const TOMBSTONE_CHARGE: u64 = 512;

// It covers the item entry (64 + 43), the index key (72) and a lone delete's
// proof (about 200).
const _: () = assert!(TOMBSTONE_CHARGE >= 64 + 43 + 72 + 200);

/// The byte limits of a node's store. A store past one of them is refused with
/// [`crate::store::StoreError::QuotaExceeded`]; nothing already stored is ever
/// dropped to make room (DESIGN §5).
///
/// Each message is charged its data length plus [`PER_MESSAGE_OVERHEAD`], and
/// each tombstone [`TOMBSTONE_CHARGE`] until it is purged. A delete is never
/// refused for a quota (it is how an owner makes room), so tombstones can take
/// an account past its limit; its stores are refused until they end (with the
/// message they stand for, at most 30 days after the delete).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoreLimits {
    /// Most bytes charged to one account, over all its namespaces. Default
    /// 50 MiB: about 790 messages of the largest size (64 KiB), or about 33,000
    /// typical 1 KiB sealed chat messages, which is weeks of busy chat waiting
    /// for an offline user within the default 14-day TTL. One account cannot
    /// take more than 1/200 of a node at the default node limit.
    pub max_account_bytes: u64,
    /// Most bytes charged on the node. Default 10 GiB: sled is log-structured
    /// and its files run ahead of the live data until it reclaims space, so
    /// this asks for some tens of GiB of free disk, which a small volunteer VPS
    /// has. Operators with more disk raise it in the node config.
    pub max_total_bytes: u64,
    /// Most bytes all attachment chunks together may take on the node (they
    /// count towards [`StoreLimits::max_total_bytes`] too). Default 4 GiB: a
    /// flood of chunks, which anyone may store with postage, can fill at most
    /// this share and never the space inboxes need; about 64,000 chunks of
    /// 64 KiB. A node in a network of N nodes holds about 5/N of all chunks.
    pub max_chunk_bytes: u64,
    /// Most bytes one account's message requests may take
    /// ([`sotto_protocol::Namespace::REQUESTS`], what senders without its
    /// delivery token store), charged apart from
    /// [`StoreLimits::max_account_bytes`]. Default 2 MiB: about 30 messages
    /// of the largest size or 2,000 typical first messages, far more than
    /// the requests a person answers in two weeks; a stranger flooding it
    /// fills this share only, never the contacts'.
    pub max_request_bytes: u64,
}

impl StoreLimits {
    /// The defaults (50 MiB per account, 10 GiB per node, 4 GiB of chunks,
    /// 2 MiB of message requests per account).
    pub const DEFAULT: StoreLimits = StoreLimits {
        max_account_bytes: 50 * MIB,
        max_total_bytes: 10 * 1024 * MIB,
        max_chunk_bytes: 4 * 1024 * MIB,
        max_request_bytes: 2 * MIB,
    };
}

impl Default for StoreLimits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The bytes a message of `data_len` bytes is charged against the limits.
pub fn charge(data_len: usize) -> u64 {
    u64::try_from(data_len)
        .unwrap_or(u64::MAX)
        .saturating_add(PER_MESSAGE_OVERHEAD)
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_protocol::constants::{MAX_MESSAGE_DATA, STORED_MESSAGE_OVERHEAD};

    #[test]
    fn defaults_and_charge() {
        let d = StoreLimits::default();
        assert_eq!(d.max_account_bytes, 52_428_800);
        assert_eq!(d.max_total_bytes, 10_737_418_240);
        assert_eq!(d.max_total_bytes / d.max_account_bytes, 204);
        assert_eq!(charge(0), PER_MESSAGE_OVERHEAD);
        // A tombstone never costs more than the message it replaces.
        assert!(TOMBSTONE_CHARGE <= charge(0));
        // The overhead covers the record's own overhead plus the index keys.
        assert!(PER_MESSAGE_OVERHEAD >= STORED_MESSAGE_OVERHEAD as u64 + 64 + 72);
        assert_eq!(
            d.max_account_bytes / charge(MAX_MESSAGE_DATA),
            793,
            "about 790 of the largest messages per account"
        );
    }

    #[test]
    fn tombstones_are_charged_until_purged_and_counters_stay_exact() {
        use crate::store::{Store, Usage};
        use sotto_protocol::rpc::{DeleteRequest, MessageHash, StoredMessage};
        use sotto_protocol::{AccountKey, Namespace};
        const NOW: u64 = 1_700_000_000_000;
        const DAY_MS: u64 = 86_400_000;

        let dir = tempfile::tempdir().unwrap();
        let open = || Store::open(dir.path(), StoreLimits::default()).unwrap();
        let s = open();
        let k = AccountKey::from_entropy([1; 16]);
        let a = k.account_id();
        let held = StoredMessage::new(a, Namespace::INBOX, vec![1; 100], NOW, DAY_MS);
        s.put(held.clone(), NOW).unwrap();
        // Another account's message, due between the two tombstones.
        let b = AccountKey::from_entropy([2; 16]).account_id();
        let other = StoredMessage::new(b, Namespace::INBOX, b"other".to_vec(), NOW, 2 * DAY_MS);
        s.put(other, NOW).unwrap();
        let unknown = MessageHash([5; 32]);
        let del =
            DeleteRequest::signed(&k, "test", Namespace::INBOX, vec![held.hash, unknown], NOW)
                .unwrap();
        s.delete(&del, NOW).unwrap();
        let after_delete = Usage {
            bytes: 2 * TOMBSTONE_CHARGE,
            messages: 0,
        };
        assert_eq!(s.usage(&a).unwrap(), after_delete);
        assert_eq!(s.total_bytes().unwrap(), 2 * TOMBSTONE_CHARGE + charge(5));
        assert_eq!(s.message_count().unwrap(), 1);
        // Deleting again charges nothing more; reopening keeps the charges.
        s.delete(&del, NOW + 1).unwrap();
        s.flush().unwrap();
        drop(s);
        let s = open();
        assert_eq!(s.usage(&a).unwrap(), after_delete);
        // The unknown hash's tombstone ends after the replication-lag window,
        // the held message's with its expiry: each takes its charge back.
        let lag = crate::store::UNHELD_TOMBSTONE_MS;
        assert!(NOW + lag < held.expiry);
        assert_eq!(s.purge_expired(NOW + lag - 1, 100).unwrap(), 0);
        assert_eq!(s.purge_expired(NOW + lag, 100).unwrap(), 1);
        assert_eq!(s.usage(&a).unwrap().bytes, TOMBSTONE_CHARGE);
        assert_eq!(s.purge_expired(held.expiry, 100).unwrap(), 1);
        assert_eq!(s.usage(&a).unwrap(), Usage::default());
        assert_eq!(s.purge_expired(del.tombstone_expiry(None), 100).unwrap(), 1);
        assert_eq!(
            (s.total_bytes().unwrap(), s.message_count().unwrap()),
            (0, 0)
        );
        // Tombstones handed off with their account are taken back too (neither
        // hash is held now: two tombstones).
        s.delete(&del, NOW).unwrap();
        assert_eq!(s.usage(&a).unwrap().bytes, 2 * TOMBSTONE_CHARGE);
        assert_eq!(s.remove_account(&a).unwrap(), 2);
        assert_eq!(s.total_bytes().unwrap(), 0);
    }
}
