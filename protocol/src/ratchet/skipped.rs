//! Skipped message keys (Double Ratchet spec §3.2 `MKSKIPPED`, §3.5
//! `SkipMessageKeys`), bounded by count (`MAX_SKIPPED_KEYS`, oldest dropped
//! first) and by age (`SKIPPED_KEY_MAX_AGE_MS`). Each key opens one late
//! message; keeping it is a small loss of forward secrecy (§6.5), hence the
//! bounds.

use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::constants::{KEY_LEN, MAX_SKIPPED_KEYS, SKIPPED_KEY_MAX_AGE_MS};
use crate::crypto::SymmetricKey;
use crate::time::UnixMillis;

/// One stored message key.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct SkippedKey {
    /// The sender's ratchet key of the chain it belongs to.
    pub dh: [u8; KEY_LEN],
    /// Its number in that chain.
    pub n: u32,
    /// The message key.
    pub key: [u8; KEY_LEN],
    /// When it was skipped (receiver's clock).
    pub stored_at: UnixMillis,
}

/// The skipped keys of one session, oldest first.
#[derive(Clone, Default, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub(crate) struct SkippedKeys(Vec<SkippedKey>);

impl SkippedKeys {
    /// The index of the key for message `n` of chain `dh`.
    pub fn find(&self, dh: &[u8; KEY_LEN], n: u32) -> Option<usize> {
        self.0.iter().position(|k| k.n == n && k.dh == *dh)
    }

    /// The key at `i`.
    pub fn key(&self, i: usize) -> Option<&[u8; KEY_LEN]> {
        self.0.get(i).map(|k| &k.key)
    }

    /// Removes (and wipes) the key at `i` once its message was read.
    pub fn remove(&mut self, i: usize) {
        if i < self.0.len() {
            self.0.remove(i);
        }
    }

    /// Adds keys skipped by one accepted message, then applies the bounds.
    pub fn extend(&mut self, new: Vec<(([u8; KEY_LEN], u32), SymmetricKey)>, now: UnixMillis) {
        self.0
            .extend(new.into_iter().map(|((dh, n), key)| SkippedKey {
                dh,
                n,
                key: *key,
                stored_at: now,
            }));
        self.prune(now);
    }

    /// Drops keys older than `SKIPPED_KEY_MAX_AGE_MS`, then the oldest beyond
    /// `MAX_SKIPPED_KEYS`.
    pub fn prune(&mut self, now: UnixMillis) {
        self.0
            .retain(|k| now.saturating_sub(k.stored_at) <= SKIPPED_KEY_MAX_AGE_MS);
        let excess = self.0.len().saturating_sub(MAX_SKIPPED_KEYS);
        if excess > 0 {
            self.0.drain(..excess);
        }
    }

    /// How many keys are kept.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}
