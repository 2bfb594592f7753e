//! The purge: removes expired messages and ended tombstones in batches, oldest
//! first, through the `expiry` index, so its cost follows what is due and not
//! the size of the store.

use sotto_protocol::AccountId;
use sotto_protocol::rpc::MessageHash;
use sotto_protocol::time::UnixMillis;

use super::Store;
use super::error::{Result, StoreError};
use super::keys::{due_after, parse_due_key};
use super::tx::{Tx, TxResult};

/// What one [`Store::purge`] batch did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    /// Items removed (messages and tombstones).
    pub removed: usize,
    /// Due items left in place because a record of theirs is corrupt; their
    /// index entry is dropped so that they are counted once and do not take a
    /// place in every later batch.
    pub corrupt: usize,
    /// Index entries looked at: a batch that looked at `batch` entries may
    /// have left more behind.
    pub scanned: usize,
}

/// One due entry of the `expiry` index: its key, and what it parsed to.
type Due = (Vec<u8>, Result<(UnixMillis, AccountId, MessageHash)>);

impl Store {
    /// Removes up to `batch` items due at or before `now` (messages whose
    /// expiry or owner's shortening has come, tombstones whose end has come),
    /// updating the counters. Returns how many it removed; see
    /// [`Store::purge`] for what else a batch reports.
    pub fn purge_expired(&self, now: UnixMillis, batch: usize) -> Result<usize> {
        self.purge(now, batch).map(|p| p.removed)
    }

    /// Removes up to `batch` items due at or before `now`, in one transaction
    /// when every record involved is sound. An item with a corrupt record is
    /// skipped and counted in [`Purged::corrupt`] (logged with its key), and
    /// the others are still removed, each in a transaction of its own: one bad
    /// record never stops the purge, which is what frees space. A purge task
    /// calls it again at once while [`Purged::scanned`] is `batch`.
    pub fn purge(&self, now: UnixMillis, batch: usize) -> Result<Purged> {
        let mut due: Vec<Due> = Vec::with_capacity(batch.min(4096));
        for key in self.expiry.range(..due_after(now)).keys().take(batch) {
            let key = key.map_err(|e| StoreError::engine("purge", e))?;
            let parsed = parse_due_key(&key);
            due.push((key.to_vec(), parsed));
        }
        let mut out = Purged {
            scanned: due.len(),
            ..Purged::default()
        };
        if due.is_empty() {
            return Ok(out);
        }
        // An unparsable key is corrupt before any transaction: straight to
        // one by one.
        let together = due.iter().all(|(_, p)| p.is_ok()).then(|| {
            self.transact("purge", |tx| {
                let mut n = 0;
                for (at, account, hash) in due.iter().filter_map(|(_, p)| p.as_ref().ok()) {
                    n += purge_one(tx, *at, account, hash)?;
                }
                Ok(n)
            })
        });
        match together {
            Some(Ok(n)) => out.removed = n,
            Some(Err(e)) if !matches!(e, StoreError::Corrupt { .. }) => return Err(e),
            // Again one by one, so that only the bad ones are left.
            Some(Err(_)) | None => {
                for (key, entry) in &due {
                    let one = match entry {
                        Ok((at, account, hash)) => {
                            self.transact("purge", |tx| purge_one(tx, *at, account, hash))
                        }
                        Err(e) => Err(StoreError::corrupt("expiry", key, e.to_string())),
                    };
                    match one {
                        Ok(n) => out.removed += n,
                        // A record of this item (or its key, or its proof).
                        // Corrupt counters concern every item: those stop
                        // the purge, as they stop every write.
                        Err(e @ StoreError::Corrupt { tree, .. })
                            if tree != "meta" && tree != "usage" =>
                        {
                            tracing::error!(
                                "purge skips a corrupt item (left in place; \
                                 the swarm holds other copies): {e}"
                            );
                            self.expiry
                                .remove(key.as_slice())
                                .map_err(|e| StoreError::engine("purge", e))?;
                            out.corrupt += 1;
                        }
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        tracing::debug!(
            removed = out.removed,
            corrupt = out.corrupt,
            scanned = out.scanned,
            "purged expired items"
        );
        Ok(out)
    }
}

/// Removes the item the index entry (`at`, `account`, `hash`) points to, if it
/// is still due then; 1 if it removed one.
fn purge_one(
    tx: &Tx<'_>,
    at: UnixMillis,
    account: &AccountId,
    hash: &MessageHash,
) -> TxResult<usize> {
    match tx.item(account, hash)? {
        Some(rec) if rec.due() == at => {
            tx.remove_item(account, hash, &rec)?;
            Ok(1)
        }
        // An entry that no longer matches its item. Every change moves the
        // entry with the item in one transaction, so this only follows damage;
        // dropping it keeps it from taking a place in every batch.
        _ => {
            tx.unindex(at, account, hash)?;
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreLimits;
    use crate::store::keys::due_key;
    use sotto_protocol::rpc::{MessageHash, StoredMessage};
    use sotto_protocol::{AccountKey, Namespace};

    #[test]
    fn stale_index_entries_are_dropped_and_live_items_kept() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), StoreLimits::default()).unwrap();
        let a = AccountKey::from_entropy([1; 16]).account_id();
        let m = StoredMessage::new(a, Namespace::INBOX, vec![1], 1_000, 20_000);
        s.put(m.clone(), 1_000).unwrap();
        // An entry due at 5 000 for a message due at 21 000, and one for
        // nothing at all.
        s.expiry.insert(due_key(5_000, &a, &m.hash), &[]).unwrap();
        s.expiry
            .insert(due_key(6_000, &a, &MessageHash([3; 32])), &[])
            .unwrap();
        assert_eq!(s.purge_expired(10_000, 10).unwrap(), 0);
        assert_eq!(s.expiry.len(), 1, "only the message's own entry is left");
        assert_eq!(s.message_count().unwrap(), 1);
        assert_eq!(s.purge_expired(21_000, 10).unwrap(), 1);
        assert!(s.expiry.is_empty() && s.items.is_empty() && s.messages.is_empty());
    }

    #[test]
    fn corrupt_records_are_errors_that_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), StoreLimits::default()).unwrap();
        let a = AccountKey::from_entropy([1; 16]).account_id();
        let m = StoredMessage::new(a, Namespace::INBOX, vec![1], 1_000, 20_000);
        s.put(m.clone(), 1_000).unwrap();
        let key = crate::store::keys::item_key(&a, &m.hash);
        s.items.insert(key, &[9, 9]).unwrap();
        let want = crate::store::error::hex(&key);
        for err in [
            s.digest(&a, 1_000).unwrap_err(),
            s.put(m.clone(), 1_000).unwrap_err(),
        ] {
            assert!(
                matches!(&err, StoreError::Corrupt { key, .. } if *key == want),
                "{err}"
            );
        }
    }

    #[test]
    fn purge_skips_corrupt_items_counts_them_once_and_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), StoreLimits::default()).unwrap();
        let a = AccountKey::from_entropy([1; 16]).account_id();
        let ms: Vec<_> = (0..4u8)
            .map(|i| StoredMessage::new(a, Namespace::INBOX, vec![i; 10], 1_000, 20_000))
            .collect();
        for m in &ms {
            s.put(m.clone(), 1_000).unwrap();
        }
        // One bad item record, one bad message record, one index key that
        // does not parse.
        s.items
            .insert(crate::store::keys::item_key(&a, &ms[1].hash), &[9, 9])
            .unwrap();
        let mkey = crate::store::keys::message_key(&a, Namespace::INBOX, &ms[2].cursor());
        s.messages.insert(mkey, &[1]).unwrap();
        s.expiry
            .insert(&[0u8, 0, 0, 0, 0, 0, 0, 1, 7][..], &[])
            .unwrap();
        let p = s.purge(30_000, 10).unwrap();
        assert_eq!((p.removed, p.corrupt, p.scanned), (2, 3, 5), "{p:?}");
        // Counted once: their index entries are gone, the records are left.
        assert_eq!(s.purge(30_000, 10).unwrap(), Purged::default());
        assert!(s.expiry.is_empty());
        assert_eq!(s.items.len(), 2);
        // The counters charge exactly what is left: the two corrupt messages.
        assert_eq!(s.message_count().unwrap(), 2);
        assert_eq!(s.total_bytes().unwrap(), 2 * crate::store::charge(10));
    }
}
