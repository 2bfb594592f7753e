//! Keeping a batch of replicated items (a push, or what anti-entropy fetched):
//! only for accounts this node serves, durable before it is acknowledged, and
//! waking the long-polls it concerns.

use std::collections::{BTreeSet, HashMap};

use sotto_protocol::rpc::{DeleteRequest, ExpireRequest, StoredMessage};
use sotto_protocol::{AccountId, Namespace};

use super::{ReplicationError, blocking};
use crate::context::Context;
use crate::store::StoreError;

/// What keeping a batch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct Applied {
    /// Per message of the batch, in its order: whether this node holds it now
    /// (stored, or held already). What an `Ack` answers.
    pub held: Vec<bool>,
    /// Messages that were new here.
    pub new_messages: u32,
    /// Messages refused because an account or the node is over its quota.
    pub over_quota: u32,
    /// New messages refused because the disk is at its free-space watermark.
    pub disk_full: u32,
}

/// A batch of items, already decoded, validated and authorized by the caller.
#[derive(Debug, Default)]
pub(super) struct Batch {
    /// Messages.
    pub messages: Vec<StoredMessage>,
    /// The owners' signed deletes.
    pub deletes: Vec<DeleteRequest>,
    /// The owners' signed expiry changes.
    pub expiries: Vec<ExpireRequest>,
}

/// Keeps what of `batch` belongs to accounts this node serves (the rest is
/// counted as rejected under `source`, and answered as not held), flushes the
/// store, and wakes the long-polls of every (account, namespace) that got a
/// message.
///
/// Messages go first, then expiry changes (they need the message present),
/// then deletes. A message the owner deleted or that has expired is skipped:
/// the sender's copy is stale, not wrong. A message over a quota, or new while
/// the disk is at its watermark, is skipped and counted in
/// [`Applied::over_quota`] or [`Applied::disk_full`]; the rest of the batch is
/// still kept (deletes and expiry changes free space, so they always are).
pub(super) async fn apply(
    ctx: &Context,
    source: &'static str,
    batch: Batch,
) -> Result<Applied, ReplicationError> {
    let Batch {
        messages,
        deletes,
        expiries,
    } = batch;
    let mut serves = HashMap::<AccountId, bool>::new();
    let mut mine = |account: &AccountId| {
        *serves
            .entry(*account)
            .or_insert_with(|| ctx.dir(|d| d.in_swarm(account, &ctx.node_id)))
    };
    let before = messages.len() + deletes.len() + expiries.len();
    // Messages keep their place in the batch (the answer is per message);
    // one that is not ours is a `None` and is answered as not held.
    let messages: Vec<Option<StoredMessage>> = messages
        .into_iter()
        .map(|m| mine(&m.account).then_some(m))
        .collect();
    let deletes: Vec<_> = deletes.into_iter().filter(|d| mine(&d.account)).collect();
    let expiries: Vec<_> = expiries.into_iter().filter(|e| mine(&e.account)).collect();
    let kept = messages.iter().flatten().count() + deletes.len() + expiries.len();
    for _ in 0..before - kept {
        ctx.metrics.rejected.inc(source, "not_my_swarm");
    }

    let now = ctx.clock.now();
    let (applied, touched) = blocking(&ctx.store, move |store| {
        let mut applied = Applied::default();
        let mut touched = BTreeSet::<(AccountId, Namespace)>::new();
        for m in messages {
            let Some(m) = m else {
                applied.held.push(false);
                continue;
            };
            let key = (m.account, m.namespace);
            let held = match store.put(m, now) {
                Ok(outcome) => {
                    if outcome.is_new() {
                        applied.new_messages = applied.new_messages.saturating_add(1);
                        touched.insert(key);
                    }
                    true
                }
                Err(StoreError::QuotaExceeded { .. }) => {
                    applied.over_quota = applied.over_quota.saturating_add(1);
                    false
                }
                Err(StoreError::DiskFull { .. }) => {
                    applied.disk_full = applied.disk_full.saturating_add(1);
                    false
                }
                Err(StoreError::Deleted { .. } | StoreError::Expired { .. }) => false,
                Err(e) => return Err(e),
            };
            applied.held.push(held);
        }
        for e in &expiries {
            store.expire(e, now)?;
        }
        for d in &deletes {
            store.delete(d, now)?;
        }
        // What the answer acknowledges must survive a crash.
        store.flush()?;
        Ok((applied, touched))
    })
    .await?;
    for _ in 0..applied.over_quota {
        ctx.metrics.rejected.inc(source, "quota_exceeded");
    }
    for _ in 0..applied.disk_full {
        ctx.metrics.rejected.inc(source, "disk_full");
    }
    ctx.metrics.observe_store(&ctx.store);
    for (account, namespace) in &touched {
        ctx.waiters.wake(account, *namespace);
    }
    Ok(applied)
}
