//! One transaction across all the store's trees, with the typed steps every
//! operation is built from: so that a record, its index entry, its proof's
//! reference count and the counters always change together.

use sled::transaction::{
    ConflictableTransactionError, TransactionError, Transactional, TransactionalTree,
};
use sotto_protocol::AccountId;
use sotto_protocol::Namespace;
use sotto_protocol::rpc::{Cursor, MessageHash, StoredMessage};
use sotto_protocol::time::UnixMillis;

use super::error::{QuotaScope, Result, StoreError};
use super::keys::{due_key, item_key, message_key, seq_key};
use super::limits::{StoreLimits, TOMBSTONE_CHARGE, charge};
use super::records::{
    ItemRecord, MessageRecord, PresentItem, Proof, ProofId, ProofRecord, Tombstone,
};
use super::{
    CHUNK_POOL, META_BYTES, META_MESSAGES, REQUESTS_USAGE_PREFIX, Store, Usage, decode_u64,
    decode_usage, encode_usage,
};

/// The `usage` key an item of `account` in `namespace` is charged to: the
/// account's own, except chunks, which share the node's chunk pool (each chunk
/// is an account of its own, so a per-account quota would bound nothing), and
/// the account's message requests, which have a small quota of their own
/// ([`REQUESTS_USAGE_PREFIX`] and the account) so that strangers cannot use
/// up its contacts' share.
fn charged_key(account: &AccountId, namespace: Namespace) -> Vec<u8> {
    if namespace == Namespace::CHUNKS {
        CHUNK_POOL.to_vec()
    } else if namespace == Namespace::REQUESTS {
        let mut k = REQUESTS_USAGE_PREFIX.to_vec();
        k.extend_from_slice(account.as_bytes());
        k
    } else {
        account.as_bytes().to_vec()
    }
}

/// A failed step: the transaction is aborted with this error (or retried by
/// sled on a conflict).
pub(super) type Abort = ConflictableTransactionError<StoreError>;
/// The result of a step inside a transaction.
pub(super) type TxResult<T> = std::result::Result<T, Abort>;

/// Aborts the transaction with `e`.
pub(super) fn abort(e: StoreError) -> Abort {
    ConflictableTransactionError::Abort(e)
}

/// The trees as one transaction sees them.
pub(super) struct Tx<'a> {
    messages: &'a TransactionalTree,
    items: &'a TransactionalTree,
    proofs: &'a TransactionalTree,
    expiry: &'a TransactionalTree,
    usage: &'a TransactionalTree,
    meta: &'a TransactionalTree,
    seqs: &'a TransactionalTree,
}

impl Store {
    /// Runs `f` as one transaction over every tree. sled may run `f` more than
    /// once (on a conflict), so `f` only returns what it computed.
    pub(super) fn transact<T>(
        &self,
        op: &'static str,
        f: impl Fn(&Tx<'_>) -> TxResult<T>,
    ) -> Result<T> {
        // Before it runs, so that no one who sees `false` misses what it
        // writes (see `Store::may_hold_items`).
        self.touched
            .store(true, std::sync::atomic::Ordering::SeqCst);
        (
            &self.messages,
            &self.items,
            &self.proofs,
            &self.expiry,
            &self.usage,
            &self.meta,
            &self.seqs,
        )
            .transaction(|(messages, items, proofs, expiry, usage, meta, seqs)| {
                f(&Tx {
                    messages,
                    items,
                    proofs,
                    expiry,
                    usage,
                    meta,
                    seqs,
                })
            })
            .map_err(|e| match e {
                TransactionError::Abort(e) => e,
                TransactionError::Storage(e) => StoreError::engine(op, e),
            })
    }
}

impl Tx<'_> {
    /// The state of `hash` in `account`, if the store has one.
    pub fn item(&self, account: &AccountId, hash: &MessageHash) -> TxResult<Option<ItemRecord>> {
        let key = item_key(account, hash);
        match self.items.get(key)? {
            Some(v) => ItemRecord::decode(&key, &v).map(Some).map_err(abort),
            None => Ok(None),
        }
    }

    fn set_item(&self, account: &AccountId, hash: &MessageHash, rec: &ItemRecord) -> TxResult<()> {
        self.items
            .insert(item_key(account, hash).as_slice(), rec.encode())?;
        Ok(())
    }

    fn index(&self, due: UnixMillis, account: &AccountId, hash: &MessageHash) -> TxResult<()> {
        self.expiry
            .insert(due_key(due, account, hash).as_slice(), &[])?;
        Ok(())
    }

    /// Removes the `expiry` index entry of `hash` at `due`.
    pub fn unindex(
        &self,
        due: UnixMillis,
        account: &AccountId,
        hash: &MessageHash,
    ) -> TxResult<()> {
        self.expiry.remove(due_key(due, account, hash).as_slice())?;
        Ok(())
    }

    /// The held message `hash` whose item is `p`.
    pub fn message(
        &self,
        account: &AccountId,
        hash: &MessageHash,
        p: &PresentItem,
    ) -> TxResult<MessageRecord> {
        let key = present_key(account, hash, p);
        match self.messages.get(&key)? {
            Some(v) => MessageRecord::decode(&key, &v).map_err(abort),
            None => Err(abort(StoreError::corrupt(
                "messages",
                &key,
                "the item says the message is held, but it is not",
            ))),
        }
    }

    /// Writes `rec` in `messages` and points its sequence number at it in
    /// `seqs`.
    fn set_message(&self, rec: &MessageRecord) -> TxResult<()> {
        let m = &rec.message;
        let cursor = m.cursor();
        let key = message_key(&m.account, m.namespace, &cursor);
        self.messages.insert(key, rec.encode().map_err(abort)?)?;
        self.seqs.insert(
            seq_key(&m.account, m.namespace, rec.seq),
            cursor.to_key().as_slice(),
        )?;
        Ok(())
    }

    /// The next sequence number: larger than every one this store gave
    /// before, in the order transactions commit.
    ///
    /// Why that order holds: a sled transaction runs its closure and commits
    /// under sled's global write lock, so no other write commits between the
    /// number being drawn and this transaction's commit; and sled's id
    /// generator never hands out a number twice or goes back, across restarts
    /// and crashes too (it persists ahead of what it hands out). So a retrieve
    /// that read up to number `n` can never see a later commit numbered `≤ n`.
    fn next_seq(&self) -> TxResult<u64> {
        let id = self
            .seqs
            .generate_id()
            .map_err(ConflictableTransactionError::Storage)?;
        // 0 means "nothing read yet" in a read cursor.
        Ok(id.saturating_add(1))
    }

    /// Gives the format-1 record at `key` of `messages` its sequence number
    /// (the migration at open); says whether it needed one.
    pub fn number(&self, key: &[u8]) -> TxResult<bool> {
        let Some(v) = self.messages.get(key)? else {
            return Ok(false);
        };
        let rec = MessageRecord::decode(key, &v).map_err(abort)?;
        if rec.seq != 0 {
            return Ok(false);
        }
        let rec = MessageRecord {
            seq: self.next_seq()?,
            ..rec
        };
        self.set_message(&rec)?;
        Ok(true)
    }

    /// Stores a message the store has no item for, if the quotas allow it.
    pub fn insert_new(&self, msg: &StoredMessage, limits: &StoreLimits) -> TxResult<()> {
        let needed = charge(msg.data.len());
        let key = charged_key(&msg.account, msg.namespace);
        let usage = self.usage(&key)?;
        let (scope, limit) = if msg.namespace == Namespace::CHUNKS {
            (QuotaScope::Chunks, limits.max_chunk_bytes)
        } else if msg.namespace == Namespace::REQUESTS {
            (QuotaScope::Requests, limits.max_request_bytes)
        } else {
            (QuotaScope::Account, limits.max_account_bytes)
        };
        if usage.bytes.saturating_add(needed) > limit {
            return Err(abort(StoreError::QuotaExceeded {
                scope,
                used: usage.bytes,
                needed,
                limit,
            }));
        }
        let total = self.counter(META_BYTES)?;
        if total.saturating_add(needed) > limits.max_total_bytes {
            return Err(abort(StoreError::QuotaExceeded {
                scope: QuotaScope::Node,
                used: total,
                needed,
                limit: limits.max_total_bytes,
            }));
        }
        let item = PresentItem {
            namespace: msg.namespace,
            timestamp: msg.timestamp,
            expiry: msg.expiry,
            shortened: None,
        };
        self.set_message(&MessageRecord {
            shortened: None,
            seq: self.next_seq()?,
            message: msg.clone(),
        })?;
        self.set_item(&msg.account, &msg.hash, &ItemRecord::Present(item))?;
        self.index(item.effective_expiry(), &msg.account, &msg.hash)?;
        self.count_key(&key, needed, 1, true)
    }

    /// Replaces the held message whose item is `old` by `rec` (same hash, other
    /// times or shortening), moving its keys in `messages` and `expiry`.
    pub fn replace_present(
        &self,
        old: &PresentItem,
        rec: &MessageRecord,
        new: &PresentItem,
    ) -> TxResult<()> {
        let m = &rec.message;
        self.messages
            .remove(present_key(&m.account, &m.hash, old))?;
        self.unindex(old.effective_expiry(), &m.account, &m.hash)?;
        // Same sequence number: readers already past it have it (same hash).
        self.set_message(rec)?;
        self.set_item(&m.account, &m.hash, &ItemRecord::Present(*new))?;
        self.index(new.effective_expiry(), &m.account, &m.hash)
    }

    /// Removes the held message `hash` whose item is `p`, with its index entry,
    /// its shortening's proof reference and its charge. Leaves the item for the
    /// caller to replace or remove.
    pub fn drop_present(
        &self,
        account: &AccountId,
        hash: &MessageHash,
        p: &PresentItem,
    ) -> TxResult<()> {
        let key = present_key(account, hash, p);
        let old = self.messages.remove(key.as_slice())?.ok_or_else(|| {
            abort(StoreError::corrupt(
                "messages",
                &key,
                "the item says the message is held, but it is not",
            ))
        })?;
        let rec = MessageRecord::decode(&key, &old).map_err(abort)?;
        self.seqs.remove(seq_key(account, p.namespace, rec.seq))?;
        self.unindex(p.effective_expiry(), account, hash)?;
        if let Some((_, id)) = p.shortened {
            self.release_proof(id)?;
        }
        self.count_key(
            &charged_key(account, p.namespace),
            charge(rec.message.data.len()),
            1,
            false,
        )
    }

    /// Removes whatever the store holds for `hash`: a message with everything
    /// [`Tx::drop_present`] removes, or a tombstone with its index entry and
    /// proof reference.
    pub fn remove_item(
        &self,
        account: &AccountId,
        hash: &MessageHash,
        rec: &ItemRecord,
    ) -> TxResult<()> {
        match rec {
            ItemRecord::Present(p) => self.drop_present(account, hash, p)?,
            ItemRecord::Deleted(t) => {
                self.unindex(t.until, account, hash)?;
                self.release_proof(t.proof)?;
                self.count(account, TOMBSTONE_CHARGE, 0, false)?;
            }
        }
        self.items.remove(item_key(account, hash).as_slice())?;
        Ok(())
    }

    /// Writes a tombstone for `hash` (which has no item now), referring to
    /// `proof`, and charges it ([`TOMBSTONE_CHARGE`]; never refused).
    pub fn insert_tombstone(
        &self,
        account: &AccountId,
        hash: &MessageHash,
        namespace: Namespace,
        until: UnixMillis,
        proof: &Proof,
    ) -> TxResult<()> {
        let proof = self.acquire_proof(proof)?;
        let t = Tombstone {
            namespace,
            until,
            proof,
        };
        self.set_item(account, hash, &ItemRecord::Deleted(t))?;
        self.index(until, account, hash)?;
        self.count(account, TOMBSTONE_CHARGE, 0, true)
    }

    /// Keeps `proof` (or counts one more reference to it) and returns its id.
    pub fn acquire_proof(&self, proof: &Proof) -> TxResult<ProofId> {
        let id = proof.id().map_err(abort)?;
        let refs = match self.proofs.get(id.0)? {
            Some(v) => {
                let rec = ProofRecord::decode(&id.0, &v).map_err(abort)?;
                rec.refs.checked_add(1).ok_or_else(|| {
                    abort(StoreError::corrupt(
                        "proofs",
                        &id.0,
                        "reference count overflows",
                    ))
                })?
            }
            None => 1,
        };
        let rec = ProofRecord {
            refs,
            proof: proof.clone(),
        };
        self.proofs.insert(&id.0, rec.encode().map_err(abort)?)?;
        Ok(id)
    }

    /// Counts one reference less to a proof, removing it with its last one.
    pub fn release_proof(&self, id: ProofId) -> TxResult<()> {
        let mut rec = self.proof_record(id)?;
        rec.refs = rec.refs.saturating_sub(1);
        if rec.refs == 0 {
            self.proofs.remove(&id.0)?;
        } else {
            self.proofs.insert(&id.0, rec.encode().map_err(abort)?)?;
        }
        Ok(())
    }

    /// A kept proof.
    pub fn proof(&self, id: ProofId) -> TxResult<Proof> {
        self.proof_record(id).map(|r| r.proof)
    }

    fn proof_record(&self, id: ProofId) -> TxResult<ProofRecord> {
        match self.proofs.get(id.0)? {
            Some(v) => ProofRecord::decode(&id.0, &v).map_err(abort),
            None => Err(abort(StoreError::corrupt(
                "proofs",
                &id.0,
                "an item refers to a proof the store does not hold",
            ))),
        }
    }

    fn usage(&self, key: &[u8]) -> TxResult<Usage> {
        match self.usage.get(key)? {
            Some(v) => decode_usage(key, &v).map_err(abort),
            None => Ok(Usage::default()),
        }
    }

    /// Sets the `meta` counter `key` to `value`.
    pub fn set_meta(&self, key: &'static [u8], value: u64) -> TxResult<()> {
        self.meta.insert(key, &value.to_be_bytes())?;
        Ok(())
    }

    fn counter(&self, key: &'static [u8]) -> TxResult<u64> {
        match self.meta.get(key)? {
            Some(v) => decode_u64("meta", key, &v).map_err(abort),
            None => Ok(0),
        }
    }

    /// Adds (`add`) or takes away `bytes` and `messages` (1 for a message, 0
    /// for a tombstone) charged to `account` and to the node. A counter that
    /// would go below zero is corrupt.
    pub fn count(&self, account: &AccountId, bytes: u64, messages: u64, add: bool) -> TxResult<()> {
        self.count_key(account.as_bytes(), bytes, messages, add)
    }

    /// [`Tx::count`] by `usage` key ([`charged_key`]).
    fn count_key(&self, acc: &[u8], bytes: u64, messages: u64, add: bool) -> TxResult<()> {
        let step = |tree: &'static str, key: &[u8], v: u64, d: u64| -> TxResult<u64> {
            let r = if add {
                v.checked_add(d)
            } else {
                v.checked_sub(d)
            };
            r.ok_or_else(|| abort(StoreError::corrupt(tree, key, "counter out of range")))
        };
        let u = self.usage(acc)?;
        let u = Usage {
            bytes: step("usage", acc, u.bytes, bytes)?,
            messages: step("usage", acc, u.messages, messages)?,
        };
        if u == Usage::default() {
            self.usage.remove(acc)?;
        } else {
            self.usage.insert(acc, &encode_usage(u))?;
        }
        let total = step("meta", META_BYTES, self.counter(META_BYTES)?, bytes)?;
        self.meta.insert(META_BYTES, &total.to_be_bytes())?;
        let n = step(
            "meta",
            META_MESSAGES,
            self.counter(META_MESSAGES)?,
            messages,
        )?;
        self.meta.insert(META_MESSAGES, &n.to_be_bytes())?;
        Ok(())
    }
}

/// The `messages` key of the held message `hash` whose item is `p`.
fn present_key(account: &AccountId, hash: &MessageHash, p: &PresentItem) -> Vec<u8> {
    let cursor = Cursor {
        timestamp: p.timestamp,
        hash: *hash,
    };
    message_key(account, p.namespace, &cursor)
}
