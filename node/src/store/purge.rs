//! The purge: removes expired messages and ended tombstones in batches, oldest
//! first, through the `expiry` index, so its cost follows what is due and not
//! the size of the store.

use sotto_protocol::time::UnixMillis;

use super::Store;
use super::error::{Result, StoreError};
use super::keys::{due_after, parse_due_key};

impl Store {
    /// Removes up to `batch` items due at or before `now` (messages whose
    /// expiry or owner's shortening has come, tombstones whose end has come), in
    /// one transaction, updating the counters. Returns how many it removed: a
    /// purge task calls it again at once while that is `batch`, and otherwise
    /// waits for its next round.
    pub fn purge_expired(&self, now: UnixMillis, batch: usize) -> Result<usize> {
        let mut due = Vec::with_capacity(batch.min(4096));
        for key in self.expiry.range(..due_after(now)).keys().take(batch) {
            let key = key.map_err(|e| StoreError::engine("purge", e))?;
            due.push(parse_due_key(&key)?);
        }
        if due.is_empty() {
            return Ok(0);
        }
        let removed = self.transact("purge", |tx| {
            let mut n = 0;
            for (at, account, hash) in &due {
                match tx.item(account, hash)? {
                    Some(rec) if rec.due() == *at => {
                        tx.remove_item(account, hash, &rec)?;
                        n += 1;
                    }
                    // An entry that no longer matches its item. Every change
                    // moves the entry with the item in one transaction, so this
                    // only follows damage; dropping it keeps it from taking a
                    // place in every batch.
                    _ => tx.unindex(*at, account, hash)?,
                }
            }
            Ok(n)
        })?;
        tracing::debug!(removed, scanned = due.len(), "purged expired items");
        Ok(removed)
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
            s.purge_expired(30_000, 10).unwrap_err(),
            s.put(m.clone(), 1_000).unwrap_err(),
        ] {
            assert!(
                matches!(&err, StoreError::Corrupt { key, .. } if *key == want),
                "{err}"
            );
        }
    }
}
