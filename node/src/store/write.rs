//! What changes the store: storing a message (idempotent, merged by the
//! protocol's rule, refused past a quota or after a delete), the owner's deletes
//! (tombstones with their signed proof) and expiry changes (shortening only).

use std::collections::BTreeSet;

use sotto_protocol::rpc::{DeleteRequest, ExpireRequest, MessageHash, StoredMessage};
use sotto_protocol::time::UnixMillis;

use super::Store;
use super::error::{Result, StoreError};
use super::limits::charge;
use super::records::{ItemRecord, MessageRecord, PresentItem, Proof};
use super::space::SpaceGuard;
use super::tx::{TxResult, abort};

/// How long a tombstone for a hash this node never held is kept: the
/// replication-lag window, in which a copy pushed before the delete (a retry
/// from a member's backlog, an anti-entropy round, a member back from a
/// partition of several hours) can still arrive. Not the longest a message may
/// live (30 days): an owner deleting hashes nobody holds must not be able to
/// pin a month of tombstones on every member of the swarm.
pub const UNHELD_TOMBSTONE_MS: UnixMillis = 12 * 60 * 60 * 1000;

/// What [`Store::put_first`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FirstPut {
    /// No live copy was held: the message went through [`Store::put`].
    Put(PutOutcome),
    /// A live copy was held and is left as it was.
    Held {
        /// The held copy.
        message: StoredMessage,
        /// Its expiry as served: the earlier of its own and the owner's
        /// shortened one.
        expiry: UnixMillis,
    },
}

/// What [`Store::put`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutOutcome {
    /// The message is new here and is now stored.
    Stored,
    /// The store already held this message with these times; nothing changed
    /// and nothing more is charged.
    Duplicate {
        /// The timestamp it is kept under.
        timestamp: UnixMillis,
        /// Its expiry.
        expiry: UnixMillis,
    },
    /// The store held this message with other times and now keeps these, by
    /// the protocol's merge rule ([`StoredMessage::merged`]).
    Merged {
        /// The timestamp it is now kept under.
        timestamp: UnixMillis,
        /// Its expiry now.
        expiry: UnixMillis,
    },
}

impl PutOutcome {
    /// Whether the message was new here (what a replication `Ack` counts).
    pub fn is_new(&self) -> bool {
        matches!(self, PutOutcome::Stored)
    }
}

impl Store {
    /// Stores `msg` at the caller's clock `now`. The caller has checked it
    /// ([`StoredMessage::validate_at`], and [`StoredMessage::verify_owner`] where
    /// the namespace needs the owner).
    ///
    /// - Idempotent by hash: the same message again is
    ///   [`PutOutcome::Duplicate`] and is not charged twice.
    /// - A copy of the same hash with other times is merged into the held one
    ///   ([`StoredMessage::merged`]: the later timestamp, and where no owner proof
    ///   binds them the later expiry), so replicas converge whatever order
    ///   copies reach them in. An owner's shortening stays in force.
    /// - Refused with [`StoreError::Deleted`] while a tombstone for the hash
    ///   lasts, so a deleted message never comes back.
    /// - Refused with [`StoreError::Expired`] if it has expired at `now`.
    /// - Refused with [`StoreError::QuotaExceeded`] if its charge would take the
    ///   account or the node past its limit, and with [`StoreError::DiskFull`]
    ///   if it is new here and would leave the disk below the free-space
    ///   watermark; nothing is written then. A copy of a held message is
    ///   merged whatever the disk: it adds nothing.
    pub fn put(&self, msg: StoredMessage, now: UnixMillis) -> Result<PutOutcome> {
        check_live(&msg, now)?;
        let limits = self.limits;
        self.transact("put", |tx| put_in(tx, &msg, &limits, &self.space, now))
    }

    /// Stores a message a client sent, as [`Store::put`] does, unless a live
    /// copy is already held: that copy is then returned untouched, with its
    /// expiry as served (the owner may have shortened it). A client sending the
    /// same message again (its first answer was lost) must not move it: the
    /// merge rule takes the later timestamp, which would re-date it after
    /// readers' cursors. One transaction, so the check and the write agree.
    pub fn put_first(&self, msg: StoredMessage, now: UnixMillis) -> Result<FirstPut> {
        check_live(&msg, now)?;
        let limits = self.limits;
        self.transact("put_first", |tx| {
            match tx.item(&msg.account, &msg.hash)? {
                Some(rec @ ItemRecord::Present(p)) if rec.live_at(now) => {
                    let held = tx.message(&msg.account, &msg.hash, &p)?.message;
                    let expiry = p.effective_expiry();
                    Ok(FirstPut::Held {
                        message: held,
                        expiry,
                    })
                }
                _ => put_in(tx, &msg, &limits, &self.space, now).map(FirstPut::Put),
            }
        })
    }

    /// Applies the owner's delete `req`, already authorized by the caller, at
    /// `now`, as one transaction. Each named message held in the request's
    /// namespace is removed and a tombstone holding the signed request takes
    /// its place until [`DeleteRequest::tombstone_expiry`] of its expiry; a hash
    /// the store does not hold gets a tombstone for [`UNHELD_TOMBSTONE_MS`]
    /// (at most until `tombstone_expiry(None)`), so that the message cannot
    /// arrive later by replication. Returns the hashes of the messages removed.
    ///
    /// A hash that is already a tombstone, or is held in another namespace, is
    /// left as it is. Where the tombstone would already have ended (a delete
    /// older than any message it can be about), nothing is done.
    pub fn delete(&self, req: &DeleteRequest, now: UnixMillis) -> Result<Vec<MessageHash>> {
        let hashes: BTreeSet<MessageHash> = req.hashes.iter().copied().collect();
        let proof = Proof::Delete(req.clone());
        self.transact("delete", |tx| {
            let mut deleted = Vec::new();
            for hash in &hashes {
                let mut state = tx.item(&req.account, hash)?;
                if let Some(rec @ ItemRecord::Deleted(t)) = state {
                    if t.until > now {
                        continue;
                    }
                    tx.remove_item(&req.account, hash, &rec)?;
                    state = None;
                }
                match state {
                    Some(ItemRecord::Present(p)) if p.namespace == req.namespace => {
                        let until = req.tombstone_expiry(Some(p.expiry));
                        if until <= now {
                            continue;
                        }
                        tx.drop_present(&req.account, hash, &p)?;
                        tx.insert_tombstone(&req.account, hash, req.namespace, until, &proof)?;
                        deleted.push(*hash);
                    }
                    Some(_) => {}
                    None => {
                        // Never held here: the tombstone only has to outlast
                        // a copy still on its way by replication.
                        let until = req
                            .tombstone_expiry(None)
                            .min(now.saturating_add(UNHELD_TOMBSTONE_MS));
                        if until > now {
                            tx.insert_tombstone(&req.account, hash, req.namespace, until, &proof)?;
                        }
                    }
                }
            }
            Ok(deleted)
        })
    }

    /// Applies the owner's expiry change `req`, already authorized by the
    /// caller, at `now`, as one transaction. For each named message held in the
    /// request's namespace and not expired, the store keeps the earliest signed
    /// change (the request itself, as proof for anti-entropy) and serves the
    /// message until the earlier of its expiry and that change. An expiry is
    /// never extended; a change at or before a message's timestamp is refused
    /// for that message ([`ExpireRequest::apply_to`]). Hashes the store does
    /// not hold are skipped: anti-entropy brings the message and the change
    /// together. Returns the hashes whose expiry is now `req.expiry`.
    pub fn expire(&self, req: &ExpireRequest, now: UnixMillis) -> Result<Vec<MessageHash>> {
        let hashes: BTreeSet<MessageHash> = req.hashes.iter().copied().collect();
        let proof = Proof::Expire(req.clone());
        self.transact("expire", |tx| {
            let mut changed = Vec::new();
            for hash in &hashes {
                let Some(ItemRecord::Present(p)) = tx.item(&req.account, hash)? else {
                    continue;
                };
                if p.namespace != req.namespace || p.effective_expiry() <= now {
                    continue;
                }
                if req.apply_to(p.timestamp, p.expiry).is_err() {
                    continue;
                }
                let mut new = p;
                if p.shortened.is_none_or(|(s, _)| req.expiry < s) {
                    let id = tx.acquire_proof(&proof)?;
                    if let Some((_, old)) = p.shortened {
                        tx.release_proof(old)?;
                    }
                    new.shortened = Some((req.expiry, id));
                    let mut rec = tx.message(&req.account, hash, &p)?;
                    rec.shortened = Some(req.expiry);
                    tx.replace_present(&p, &rec, &new)?;
                }
                if new.effective_expiry() == req.expiry {
                    changed.push(*hash);
                }
            }
            Ok(changed)
        })
    }
}

/// Merges `msg` into the held copy whose item is `p`.
fn check_live(msg: &StoredMessage, now: UnixMillis) -> Result<()> {
    if msg.expiry <= now {
        return Err(StoreError::Expired {
            hash: msg.hash,
            expiry: msg.expiry,
            now,
        });
    }
    Ok(())
}

/// The body of [`Store::put`] inside a transaction.
fn put_in(
    tx: &super::tx::Tx<'_>,
    msg: &StoredMessage,
    limits: &super::limits::StoreLimits,
    space: &SpaceGuard,
    now: UnixMillis,
) -> TxResult<PutOutcome> {
    let (account, hash) = (&msg.account, &msg.hash);
    // Only a message new here adds to the disk. sled may run this body again
    // on a conflict and admit twice: that over-reserves until the next
    // measurement, which errs on the safe side.
    let admit = || space.admit(charge(msg.data.len())).map_err(abort);
    match tx.item(account, hash)? {
        Some(ItemRecord::Deleted(t)) if t.until > now => Err(abort(StoreError::Deleted {
            account: *account,
            hash: *hash,
        })),
        Some(rec @ ItemRecord::Deleted(_)) => {
            // The tombstone is over and not purged yet: the delete has
            // nothing left to do (DeleteRequest::tombstone_expiry).
            admit()?;
            tx.remove_item(account, hash, &rec)?;
            tx.insert_new(msg, limits)?;
            Ok(PutOutcome::Stored)
        }
        Some(ItemRecord::Present(p)) => merge_into(tx, msg, &p),
        None => {
            admit()?;
            tx.insert_new(msg, limits)?;
            Ok(PutOutcome::Stored)
        }
    }
}

fn merge_into(
    tx: &super::tx::Tx<'_>,
    msg: &StoredMessage,
    p: &PresentItem,
) -> TxResult<PutOutcome> {
    let held = tx.message(&msg.account, &msg.hash, p)?;
    // The hash covers the namespace, so another namespace means a message whose
    // hash was not checked: the protocol's merge leaves the held one alone.
    let merged = if p.namespace == msg.namespace {
        held.message.merged(msg)
    } else {
        held.message.clone()
    };
    if merged == held.message {
        return Ok(PutOutcome::Duplicate {
            timestamp: held.message.timestamp,
            expiry: held.message.expiry,
        });
    }
    let new = PresentItem {
        timestamp: merged.timestamp,
        expiry: merged.expiry,
        ..*p
    };
    let (timestamp, expiry) = (merged.timestamp, merged.expiry);
    let rec = MessageRecord {
        shortened: held.shortened,
        seq: held.seq,
        message: merged,
    };
    tx.replace_present(p, &rec, &new)?;
    Ok(PutOutcome::Merged { timestamp, expiry })
}
