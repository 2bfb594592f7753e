//! Moving a store of an older on-disk format to [`super::STORE_FORMAT`] when it
//! is opened, so an operator upgrades by restarting the node.

use super::error::{Result, StoreError};
use super::{META_FORMAT, STORE_FORMAT, Store};

/// Records numbered per transaction: small enough that one transaction stays
/// short, large enough that a big store migrates in seconds.
const BATCH: usize = 256;

impl Store {
    /// Format 1 → 2: every held message gets a sequence number and an entry in
    /// `seqs`, in `messages` order (account, namespace, timestamp), which is the
    /// best guess at the order they arrived in. Batches are transactions; a
    /// crash part-way leaves some records numbered and the format still 1, and
    /// the next open numbers the rest (numbered records are skipped). The
    /// format is set to 2 and flushed only when every record has its number.
    pub(super) fn migrate_from_1(&self) -> Result<()> {
        let engine = |e| StoreError::engine("migrate", e);
        let mut numbered = 0u64;
        let mut keys = Vec::with_capacity(BATCH);
        let mut iter = self.messages.iter().keys();
        loop {
            keys.clear();
            for k in iter.by_ref().take(BATCH) {
                keys.push(k.map_err(engine)?);
            }
            if keys.is_empty() {
                break;
            }
            let n = self.transact("migrate", |tx| {
                let mut n = 0u64;
                for k in &keys {
                    n += u64::from(tx.number(k)?);
                }
                Ok(n)
            })?;
            numbered = numbered.saturating_add(n);
        }
        self.meta
            .insert(META_FORMAT, &STORE_FORMAT.to_be_bytes())
            .map_err(engine)?;
        self.flush()?;
        tracing::info!(
            messages = numbered,
            "store migrated from on-disk format 1 to {STORE_FORMAT}"
        );
        Ok(())
    }
}
