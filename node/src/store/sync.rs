//! What anti-entropy needs from the store (DESIGN §6): an account's digest, its
//! items page by page in hash order, the messages and signed proofs behind
//! hashes, the accounts held, and removing an account handed off to others.
//!
//! Digests are computed on demand by scanning the account's items, not kept up
//! to date incrementally. An item that expires changes the digest at that
//! instant, with no write to hook an update on, and two nodes must agree at the
//! same `now` whether or not their purges have run; and the protocol's
//! `DigestAccumulator` keeps its sum private, so it could not be persisted
//! across restarts anyway. One scan reads only the small `items` records (at
//! most about 100,000 per account at the default quota).

use std::collections::BTreeSet;

use sled::Tree;
use sotto_protocol::AccountId;
use sotto_protocol::constants::KEY_LEN;
use sotto_protocol::rpc::{
    AccountDigest, DeleteRequest, DigestAccumulator, DigestItem, ExpireRequest, MessageHash,
    StoredMessage,
};
use sotto_protocol::time::UnixMillis;

use super::Store;
use super::error::{Result, StoreError};
use super::keys::{item_key, parse_item_key, prefix_end};
use super::records::{ItemRecord, Proof, ProofId};

/// How many items [`Store::remove_account`] removes per transaction.
const REMOVE_BATCH: usize = 512;

/// What a node sends for fetched hashes: the shape of `NodeResponse::Messages`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Fetched {
    /// The held messages, with their owner proofs.
    pub messages: Vec<StoredMessage>,
    /// The owners' signed deletes behind the tombstones, each once.
    pub deletes: Vec<DeleteRequest>,
    /// The owners' earliest signed expiry changes of the messages, each once.
    pub expiries: Vec<ExpireRequest>,
}

impl Store {
    /// The digest of everything `account` holds that is live at `now`: its
    /// messages not expired (by their own expiry or the owner's), and its
    /// tombstones not ended ([`DigestItem`] and [`DigestAccumulator`]).
    pub fn digest(&self, account: &AccountId, now: UnixMillis) -> Result<AccountDigest> {
        let mut acc = DigestAccumulator::new();
        for entry in self.items.scan_prefix(account.as_bytes()) {
            let (key, value) = entry.map_err(|e| StoreError::engine("digest", e))?;
            let rec = ItemRecord::decode(&key, &value)?;
            if rec.live_at(now) {
                acc.add(&rec.digest_item(item_hash(&key)?));
            }
        }
        Ok(acc.to_account_digest(*account))
    }

    /// Up to `limit` of `account`'s items live at `now`, in increasing hash
    /// order, after the hash `after`; and whether more follow (never on an
    /// empty page).
    pub fn list(
        &self,
        account: &AccountId,
        after: Option<MessageHash>,
        limit: usize,
        now: UnixMillis,
    ) -> Result<(Vec<DigestItem>, bool)> {
        let start = match after {
            Some(h) => std::ops::Bound::Excluded(item_key(account, &h).to_vec()),
            None => std::ops::Bound::Included(account.as_bytes().to_vec()),
        };
        let end = prefix_end(account.as_bytes())
            .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        let mut items = Vec::new();
        if limit == 0 {
            return Ok((items, false));
        }
        for entry in self.items.range::<Vec<u8>, _>((start, end)) {
            let (key, value) = entry.map_err(|e| StoreError::engine("list", e))?;
            let rec = ItemRecord::decode(&key, &value)?;
            if !rec.live_at(now) {
                continue;
            }
            if items.len() == limit {
                return Ok((items, true));
            }
            items.push(rec.digest_item(item_hash(&key)?));
        }
        Ok((items, false))
    }

    /// What the store holds for `hashes` at `now`, read as one consistent
    /// snapshot: each live message with the owner's earliest signed expiry
    /// change it holds for it, and the signed delete behind each live
    /// tombstone. Hashes it does not hold, or that are no longer live, are left
    /// out; each proof appears once.
    pub fn fetch(&self, hashes: &[(AccountId, MessageHash)], now: UnixMillis) -> Result<Fetched> {
        self.transact("fetch", |tx| {
            let mut out = Fetched::default();
            let mut proofs = BTreeSet::<ProofId>::new();
            for (account, hash) in hashes {
                let Some(rec) = tx.item(account, hash)? else {
                    continue;
                };
                if !rec.live_at(now) {
                    continue;
                }
                let id = match rec {
                    ItemRecord::Present(p) => {
                        out.messages.push(tx.message(account, hash, &p)?.message);
                        p.shortened.map(|(_, id)| id)
                    }
                    ItemRecord::Deleted(t) => Some(t.proof),
                };
                if let Some(id) = id.filter(|id| proofs.insert(*id)) {
                    match tx.proof(id)? {
                        Proof::Delete(d) => out.deletes.push(d),
                        Proof::Expire(e) => out.expiries.push(e),
                    }
                }
            }
            Ok(out)
        })
    }

    /// The accounts the store holds anything for (messages or tombstones, live
    /// or not yet purged), in increasing order. Each step is one seek, so a
    /// node can walk them all while it serves requests.
    pub fn accounts(&self) -> Accounts {
        Accounts {
            items: self.items.clone(),
            next: Some(Vec::new()),
        }
    }

    /// Removes everything held for `account` (messages, tombstones, their proofs
    /// and index entries), updating the counters: for data the node no longer
    /// serves after the swarm changed and the grace period passed. Runs in
    /// transactions of a few hundred items, each complete on its own, so an
    /// interrupted removal leaves a consistent store with part of the account
    /// still there. Returns how many items were removed.
    pub fn remove_account(&self, account: &AccountId) -> Result<usize> {
        let mut removed = 0;
        loop {
            let mut hashes = Vec::with_capacity(REMOVE_BATCH);
            for key in self
                .items
                .scan_prefix(account.as_bytes())
                .keys()
                .take(REMOVE_BATCH)
            {
                let key = key.map_err(|e| StoreError::engine("remove account", e))?;
                hashes.push(item_hash(&key)?);
            }
            if hashes.is_empty() {
                return Ok(removed);
            }
            removed += self.transact("remove account", |tx| {
                let mut n = 0;
                for hash in &hashes {
                    if let Some(rec) = tx.item(account, hash)? {
                        tx.remove_item(account, hash, &rec)?;
                        n += 1;
                    }
                }
                Ok(n)
            })?;
        }
    }
}

/// The accounts of a store, from [`Store::accounts`].
pub struct Accounts {
    items: Tree,
    /// Where the next account's items start; `None` when done.
    next: Option<Vec<u8>>,
}

impl Iterator for Accounts {
    type Item = Result<AccountId>;

    fn next(&mut self) -> Option<Self::Item> {
        let from = self.next.take()?;
        let found = match self.items.range(from..).keys().next()? {
            Ok(key) => key,
            Err(e) => return Some(Err(StoreError::engine("list accounts", e))),
        };
        let account = match parse_item_key(&found) {
            Ok((account, _)) => account,
            Err(e) => return Some(Err(e)),
        };
        self.next = prefix_end(account.as_bytes());
        Some(Ok(account))
    }
}

/// The hash in a key of `items` (the account is the caller's).
fn item_hash(key: &[u8]) -> Result<MessageHash> {
    key.get(KEY_LEN..)
        .and_then(|h| <[u8; 32]>::try_from(h).ok())
        .map(MessageHash)
        .ok_or_else(|| StoreError::corrupt("items", key, "key has the wrong length"))
}
