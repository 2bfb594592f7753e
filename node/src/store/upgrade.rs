//! Bringing the counters of a store written by an older build up to this
//! build's charging rule, once, when it is opened.
//!
//! Builds before the `charges` meta key charged messages only; this one also
//! charges each tombstone ([`TOMBSTONE_CHARGE`]) and takes the charge back when
//! the tombstone goes. A store from before would take back charges it never
//! gave (a counter below zero is corrupt), so the tombstones it holds are
//! charged on open, in one transaction with the key that says it was done.

use std::collections::BTreeMap;

use sotto_protocol::AccountId;

use super::error::{Result, StoreError};
use super::keys::parse_item_key;
use super::limits::TOMBSTONE_CHARGE;
use super::records::ItemRecord;
use super::{META_CHARGES, Store, decode_u64};

/// The charging rule this build keeps the counters in: 2, messages and
/// tombstones (1, implied by a missing key: messages only).
pub(super) const CHARGES: u64 = 2;

impl Store {
    /// Charges the tombstones of a store whose counters do not charge them
    /// yet, and records that it did. A newer rule than this build's is
    /// refused as another format.
    pub(super) fn upgrade_charges(&self) -> Result<()> {
        let found = self
            .meta
            .get(META_CHARGES)
            .map_err(|e| StoreError::engine("open", e))?;
        match found
            .map(|v| decode_u64("meta", META_CHARGES, &v))
            .transpose()?
        {
            Some(CHARGES) => return Ok(()),
            Some(other) => {
                return Err(StoreError::Format {
                    found: other,
                    expected: CHARGES,
                });
            }
            None => {}
        }
        let mut tombstones = BTreeMap::<AccountId, u64>::new();
        for entry in &self.items {
            let (key, value) = entry.map_err(|e| StoreError::engine("open", e))?;
            match ItemRecord::decode(&key, &value) {
                Ok(ItemRecord::Deleted(_)) => {
                    let (account, _) = parse_item_key(&key)?;
                    *tombstones.entry(account).or_default() += 1;
                }
                Ok(ItemRecord::Present(_)) => {}
                // Never removed by the store (the purge skips it), so never
                // charged back either: leaving it uncharged keeps the counters
                // exact.
                Err(e) => tracing::warn!("not charging a corrupt item: {e}"),
            }
        }
        let n: u64 = tombstones.values().sum();
        self.transact("open", |tx| {
            for (account, count) in &tombstones {
                tx.count(account, count.saturating_mul(TOMBSTONE_CHARGE), 0, true)?;
            }
            tx.set_meta(META_CHARGES, CHARGES)
        })?;
        if n > 0 {
            tracing::info!(tombstones = n, "store counters now charge tombstones");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{StoreLimits, Usage, charge};
    use sotto_protocol::rpc::{DeleteRequest, MessageHash, StoredMessage};
    use sotto_protocol::{AccountKey, Namespace};

    #[test]
    fn an_old_store_gets_its_tombstones_charged_once() {
        let dir = tempfile::tempdir().unwrap();
        let k = AccountKey::from_entropy([4; 16]);
        let a = k.account_id();
        let now = 1_700_000_000_000;
        let m = StoredMessage::new(a, Namespace::INBOX, vec![1; 10], now, 3_600_000);
        {
            let s = Store::open(dir.path(), StoreLimits::default()).unwrap();
            s.put(m.clone(), now).unwrap();
            let del = DeleteRequest::signed(
                &k,
                "test",
                Namespace::INBOX,
                vec![MessageHash([1; 32]), MessageHash([2; 32])],
                now,
            )
            .unwrap();
            s.delete(&del, now).unwrap();
            // What an older build left: the same items, counters without the
            // tombstones, and no `charges` key.
            let old = Usage {
                bytes: charge(10),
                messages: 1,
            };
            s.usage
                .insert(a.as_bytes(), &super::super::encode_usage(old))
                .unwrap();
            s.meta
                .insert(super::super::META_BYTES, &charge(10).to_be_bytes())
                .unwrap();
            s.meta.remove(META_CHARGES).unwrap();
            s.flush().unwrap();
        }
        let want = Usage {
            bytes: charge(10) + 2 * TOMBSTONE_CHARGE,
            messages: 1,
        };
        for _ in 0..2 {
            let s = Store::open(dir.path(), StoreLimits::default()).unwrap();
            assert_eq!(s.usage(&a).unwrap(), want);
            assert_eq!(s.total_bytes().unwrap(), want.bytes);
            s.flush().unwrap();
        }
        let s = Store::open(dir.path(), StoreLimits::default()).unwrap();
        s.meta.insert(META_CHARGES, &9u64.to_be_bytes()).unwrap();
        drop(s);
        assert!(matches!(
            Store::open(dir.path(), StoreLimits::default()),
            Err(StoreError::Format { found: 9, .. })
        ));
    }
}
