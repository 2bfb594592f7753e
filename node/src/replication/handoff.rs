//! Handing off the accounts this node no longer serves after the directory
//! changed (DESIGN §4 "Churn"), and purging what expired.

use libp2p::PeerId;
use sotto_protocol::constants::{MAX_LISTING_PAGE, MAX_REPLICATION_BATCH};
use sotto_protocol::rpc::{MessageHash, NodeRequest};
use sotto_protocol::{AccountId, UnixMillis};

use super::{ReplicationError, Replicator, blocking, lock, swarm_of};

/// What the node knows of an account it holds but no longer serves.
#[derive(Debug, Clone, Copy)]
pub(super) struct Leaving {
    /// When it first saw itself out of the account's swarm (its clock, ms).
    since: UnixMillis,
    /// The directory version at which every current member acknowledged all
    /// of the account's data; `None` until that happened.
    handed_at: Option<u64>,
}

impl Replicator {
    /// One handoff pass over every account the store holds. For an account
    /// this node is no longer a swarm member of, it pushes everything it holds
    /// (messages, tombstones, expiry changes) to the current members, again
    /// whenever the directory changes, until all of them acknowledge it. Once
    /// they have, and the network's `handoff_grace_ms` has passed since it left
    /// the swarm, it removes the account and counts the items in
    /// `metrics.handed_off_messages`. Data that could not be handed over is
    /// kept. Coming back into the swarm cancels all of that. A store that
    /// holds nothing ([`crate::store::Store::may_hold_items`]) has no pass.
    pub async fn handoff_once(&self) {
        let ctx = &self.ctx;
        if !ctx.store.may_hold_items() {
            return;
        }
        let accounts =
            match blocking(&ctx.store, |s| s.accounts().collect::<Result<Vec<_>, _>>()).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "handoff could not list the accounts held");
                    return;
                }
            };
        let now = ctx.clock.now();
        let (version, gone) = ctx.dir(|d| {
            let gone: Vec<AccountId> = accounts
                .iter()
                .filter(|a| !d.in_swarm(a, &ctx.node_id))
                .copied()
                .collect();
            (d.version(), gone)
        });
        {
            let mut leaving = lock(&self.leaving);
            // Only accounts still held and still not served stay, so the map
            // is never larger than the store's list of accounts.
            leaving.retain(|a, _| gone.binary_search(a).is_ok());
            for a in &gone {
                leaving.entry(*a).or_insert(Leaving {
                    since: now,
                    handed_at: None,
                });
            }
        }
        let grace = ctx.params.handoff_grace_ms;
        for account in gone {
            let Some(state) = lock(&self.leaving).get(&account).copied() else {
                continue;
            };
            let mut handed = state.handed_at == Some(version);
            if !handed {
                match self.hand_over(account).await {
                    Ok(true) => {
                        handed = true;
                        if let Some(s) = lock(&self.leaving).get_mut(&account) {
                            s.handed_at = Some(version);
                        }
                    }
                    Ok(false) => {}
                    Err(e) => tracing::debug!(error = %e, "handoff of an account failed"),
                }
            }
            if handed && now.saturating_sub(state.since) >= grace {
                match blocking(&ctx.store, move |s| s.remove_account(&account)).await {
                    Ok(n) => {
                        lock(&self.leaving).remove(&account);
                        ctx.metrics
                            .handed_off_messages
                            .add(u64::try_from(n).unwrap_or(u64::MAX));
                        ctx.metrics.observe_store(&ctx.store);
                    }
                    Err(e) => tracing::warn!(error = %e, "could not remove a handed-off account"),
                }
            }
        }
    }

    /// Pushes everything held for `account` to every current member of its
    /// swarm; whether all of them acknowledged all of it.
    async fn hand_over(&self, account: AccountId) -> Result<bool, ReplicationError> {
        let (_, members) = swarm_of(&self.ctx, &account);
        if members.is_empty() {
            return Ok(false);
        }
        let mut all_acked = true;
        let mut after: Option<MessageHash> = None;
        loop {
            let now = self.ctx.clock.now();
            let (items, more) = blocking(&self.ctx.store, move |s| {
                s.list(&account, after, MAX_LISTING_PAGE, now)
            })
            .await?;
            after = items.last().map(|i| i.hash);
            for chunk in items.chunks(MAX_REPLICATION_BATCH) {
                let hashes: Vec<_> = chunk.iter().map(|i| (account, i.hash)).collect();
                let f = blocking(&self.ctx.store, move |s| s.fetch(&hashes, now)).await?;
                let request = NodeRequest::Replicate {
                    messages: f.messages,
                    deletes: f.deletes,
                    expiries: f.expiries,
                };
                let sends = members
                    .iter()
                    .map(|(_, peer)| self.send_handoff(*peer, request.clone()));
                all_acked &= futures::future::join_all(sends)
                    .await
                    .into_iter()
                    .all(|ok| ok);
            }
            if !more || after.is_none() {
                return Ok(all_acked);
            }
        }
    }

    /// Sends one hand-off batch; whether `peer` holds every message of it
    /// (and applied its deletes and expiry changes). A member that answers
    /// `Ack` but does not hold a message (it thinks the account is not its
    /// own) has not taken it over, so this copy must stay.
    async fn send_handoff(&self, peer: PeerId, request: NodeRequest) -> bool {
        let count = match &request {
            NodeRequest::Replicate { messages, .. } => messages.len(),
            _ => 0,
        };
        let ok = match self.ctx.net.node_request(peer, request).await {
            Ok(answer) => answer.is_ack() && (0..count).all(|i| answer.holds(i)),
            Err(_) => false,
        };
        self.ctx
            .metrics
            .pushes
            .inc("handoff", if ok { "ok" } else { "failed" });
        ok
    }

    /// Removes everything expired, batch after batch until a batch is not full,
    /// counts what it removed and the corrupt items it skipped, and updates the
    /// stored-messages and stored-bytes gauges (only the gauges for a store
    /// that holds nothing, [`crate::store::Store::may_hold_items`]). Returns
    /// how many items it removed.
    pub async fn purge_once(&self) -> usize {
        let ctx = &self.ctx;
        let batch = ctx.config.store.purge_batch.max(1);
        let mut total = 0usize;
        while ctx.store.may_hold_items() {
            let now = ctx.clock.now();
            match blocking(&ctx.store, move |s| s.purge(now, batch)).await {
                Ok(p) => {
                    total = total.saturating_add(p.removed);
                    let count = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
                    ctx.metrics.purged_messages.add(count(p.removed));
                    ctx.metrics.store_corrupt_items.add(count(p.corrupt));
                    if p.scanned < batch {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "purging expired messages failed");
                    break;
                }
            }
        }
        ctx.metrics.observe_store(&ctx.store);
        total
    }
}
