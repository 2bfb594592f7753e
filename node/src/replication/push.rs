//! Pushing a local write to the other members of its swarm, and retrying the
//! pushes that failed.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::PeerId;
use sotto_protocol::constants::MAX_REPLICATION_BATCH;
use sotto_protocol::rpc::{MessageHash, NodeRequest, NodeResponse, StorageReceipt, StoredMessage};
use sotto_protocol::{AccountId, NodeId};

use super::backlog::{Backlog, Item, Pending};
use super::{Replicator, blocking, lock, swarm_of};
use crate::context::{Acks, BoxFuture, Context, Push, Pusher};

/// How many members the retry loop talks to at once.
const RETRY_PARALLEL_PEERS: usize = 8;

/// The metrics label of a push.
fn kind(p: &Push) -> &'static str {
    match p {
        Push::Store(_) => "store",
        Push::Delete(_) => "delete",
        Push::Expire(_) => "expire",
    }
}

/// The replication request carrying `pushes`; the caller keeps each kind to at
/// most [`MAX_REPLICATION_BATCH`].
fn request_of<'a>(pushes: impl Iterator<Item = &'a Push>) -> NodeRequest {
    let (mut messages, mut deletes, mut expiries) = (Vec::new(), Vec::new(), Vec::new());
    for p in pushes {
        match p {
            Push::Store(m) => messages.push(m.clone()),
            Push::Delete(d) => deletes.push(d.clone()),
            Push::Expire(e) => expiries.push(e.clone()),
        }
    }
    NodeRequest::Replicate {
        messages,
        deletes,
        expiries,
    }
}

/// The verified storage receipt of `node` in `answer` for the store `push`
/// at `index`: what makes a replica's acknowledgement count toward a
/// store's quorum (the client checks the same receipts).
fn receipt_of(
    ctx: &Context,
    node: NodeId,
    push: &Push,
    index: usize,
    answer: &Result<NodeResponse, crate::net::NetError>,
) -> Option<StorageReceipt> {
    let (Push::Store(m), Ok(answer)) = (push, answer) else {
        return None;
    };
    let r = answer.receipt(index)?;
    (r.node == node && r.verify(&ctx.params.name, &m.account, &m.hash).is_ok()).then(|| r.clone())
}

/// Whether `answer` to a `Replicate` acknowledges `push`, whose message (if it
/// is a store) is the request's message number `index`: a store only if the
/// member says it holds that message, a delete or expiry change if the answer
/// is an `Ack` at all.
fn acked(push: &Push, index: usize, answer: &Result<NodeResponse, crate::net::NetError>) -> bool {
    let Ok(answer) = answer else {
        return false;
    };
    match push {
        Push::Store(_) => answer.holds(index),
        Push::Delete(_) | Push::Expire(_) => answer.is_ack(),
    }
}

/// Puts `entries` in the backlog, counting what a full backlog drops.
fn enqueue(ctx: &Context, backlog: &Mutex<Backlog>, entries: Vec<Pending>) {
    let mut b = lock(backlog);
    for p in entries {
        if let Some(dropped) = b.add(p) {
            // Anti-entropy carries the same data to the member later.
            ctx.metrics.pushes.inc(dropped.item.kind(), "dropped");
        }
    }
    ctx.metrics.replication_backlog.set_count(b.len());
}

impl Pusher for Replicator {
    fn push(&self, push: Push, need: usize) -> BoxFuture<Acks> {
        let ctx = Arc::clone(&self.ctx);
        let backlog = Arc::clone(&self.backlog);
        let pushing = Arc::clone(&self.pushing);
        let witnessed = Arc::clone(&self.witnessed);
        Box::pin(async move {
            let (_, members) = swarm_of(&ctx, &push.account());
            if members.is_empty() {
                return Acks::default();
            }
            let label = kind(&push);
            let request = request_of(std::iter::once(&push));
            let push = Arc::new(push);
            let is_store = matches!(*push, Push::Store(_));
            let (tx, mut rx) =
                tokio::sync::mpsc::channel::<(bool, Option<StorageReceipt>)>(members.len());
            for (node, peer) in members {
                // Pushes in flight are bounded: past the bound, the push goes
                // straight to the backlog (a reference, not a copy).
                let Ok(permit) = Arc::clone(&pushing).try_acquire_owned() else {
                    ctx.metrics.pushes.inc(label, "deferred");
                    enqueue(
                        &ctx,
                        &backlog,
                        vec![Pending::new(node, &push, Instant::now())],
                    );
                    continue;
                };
                let (ctx, backlog, tx) = (Arc::clone(&ctx), Arc::clone(&backlog), tx.clone());
                let witnessed = Arc::clone(&witnessed);
                let (request, push) = (request.clone(), Arc::clone(&push));
                // Each push runs on its own task so that it completes (and a
                // failure reaches the backlog) after the caller has its quorum.
                // The request is time-bounded by the network handle.
                tokio::spawn(async move {
                    let _permit = permit;
                    let answer = ctx.net.node_request(peer, request).await;
                    // What a full directory goes by when a newcomer arrives.
                    // An answer from a member in good standing (the usual
                    // case) takes no write lock on the directory.
                    match &answer {
                        Ok(_) if ctx.dir(|d| d.is_failing(&node)) => {
                            ctx.dir_mut(|d| d.note_reachable(&node));
                        }
                        Ok(_) => {}
                        Err(_) => ctx.dir_mut(|d| d.note_unreachable(&node)),
                    }
                    let ok = acked(&push, 0, &answer);
                    let mut receipt = receipt_of(&ctx, node, &push, 0, &answer);
                    if ok && is_store && receipt.is_none() {
                        // It says it holds the message but will not sign for
                        // it: it holds it (no retry), but it is no witness.
                        ctx.metrics.rejected.inc("replicate", "no_receipt");
                    }
                    if let (Some(_), Push::Store(m)) = (&receipt, &*push) {
                        let mut w = lock(&witnessed);
                        if w.is_caught(&peer, Instant::now()) {
                            // Caught lacking what it signed for: its word
                            // counts for nothing until AVOID_FOR has passed.
                            ctx.metrics.rejected.inc("replicate", "caught_member");
                            receipt = None;
                        } else {
                            w.record(peer, (m.account, m.hash));
                        }
                    }
                    ctx.metrics
                        .pushes
                        .inc(label, if ok { "ok" } else { "failed" });
                    if !ok {
                        enqueue(
                            &ctx,
                            &backlog,
                            vec![Pending::new(node, &push, Instant::now())],
                        );
                    }
                    // The receiver may have returned already.
                    let _ = tx.send((ok, receipt)).await;
                });
            }
            drop(tx);
            let mut acks = Acks::default();
            while acks.count < need {
                match rx.recv().await {
                    Some((_, Some(receipt))) => {
                        acks.count += 1;
                        acks.receipts.push(receipt);
                    }
                    Some((true, None)) if !is_store => acks.count += 1,
                    Some(_) => {}
                    None => break,
                }
            }
            acks
        })
    }
}

impl Replicator {
    /// Retries every backlog entry that is due, batched per member. Drops an
    /// entry whose member left the account's swarm, whose item has no effect
    /// any more, or that has been retried for an hour (anti-entropy carries
    /// it); an entry that fails again waits longer before its next try.
    pub async fn retry_once(&self) {
        let ctx = &self.ctx;
        let due = {
            let mut b = lock(&self.backlog);
            let due = b.take_due(Instant::now());
            ctx.metrics.replication_backlog.set_count(b.len());
            due
        };
        if due.is_empty() {
            return;
        }
        let now = ctx.clock.now();
        let started = Instant::now();
        let mut by_member = BTreeMap::<NodeId, (PeerId, Vec<Pending>)>::new();
        for p in due {
            let label = p.item.kind();
            if p.given_up(started) || p.item.outlived(now) {
                ctx.metrics.pushes.inc(label, "gave_up");
                continue;
            }
            let account = p.item.account();
            let peer = ctx.dir(|d| {
                d.in_swarm(&account, &p.target)
                    .then(|| d.get(&p.target).map(|e| e.peer))
                    .flatten()
            });
            match peer {
                Some(peer) => by_member
                    .entry(p.target)
                    .or_insert((peer, Vec::new()))
                    .1
                    .push(p),
                None => ctx.metrics.pushes.inc(label, "not_member"),
            }
        }
        let base = Duration::from_millis(ctx.config.replication.retry_interval_ms);
        let failed: Vec<Pending> = futures::stream::iter(by_member.into_values())
            .map(|(peer, entries)| self.retry_member(peer, entries, base))
            .buffer_unordered(RETRY_PARALLEL_PEERS)
            .flat_map(futures::stream::iter)
            .collect()
            .await;
        enqueue(ctx, &self.backlog, failed);
    }

    /// Sends `entries` to `peer` in batches; returns those that failed again.
    async fn retry_member(
        &self,
        peer: PeerId,
        entries: Vec<Pending>,
        base: Duration,
    ) -> Vec<Pending> {
        let mut failed = Vec::new();
        // Each kind of item is at most the batch limit when the whole request
        // is.
        let mut rest = entries;
        while !rest.is_empty() {
            let chunk: Vec<Pending> = rest
                .drain(..rest.len().min(MAX_REPLICATION_BATCH))
                .collect();
            let (chunk, pushes) = self.resolve(chunk).await;
            if chunk.is_empty() {
                continue;
            }
            let request = request_of(pushes.iter());
            let answer = self.ctx.net.node_request(peer, request).await;
            // The request's messages are the chunk's stores, in chunk order.
            let mut index = 0usize;
            for (p, push) in chunk.into_iter().zip(&pushes) {
                let ok = acked(push, index, &answer);
                if matches!(push, Push::Store(_)) {
                    index += 1;
                }
                let label = p.item.kind();
                self.ctx
                    .metrics
                    .pushes
                    .inc(label, if ok { "ok" } else { "failed" });
                if !ok {
                    failed.push(p.failed_again(base, Instant::now()));
                }
            }
        }
        failed
    }
}

impl Replicator {
    /// The pushes of `chunk`: stored messages read back from the store (one
    /// read for the chunk). An entry whose message the store no longer serves
    /// (deleted, expired, handed off) is dropped and counted `gone`. Returns
    /// the entries kept and their pushes, in the same order.
    async fn resolve(&self, chunk: Vec<Pending>) -> (Vec<Pending>, Vec<Push>) {
        let refs: Vec<(AccountId, MessageHash)> = chunk
            .iter()
            .filter_map(|p| match &p.item {
                Item::Store { account, hash, .. } => Some((*account, *hash)),
                _ => None,
            })
            .collect();
        let mut found: HashMap<(AccountId, MessageHash), StoredMessage> = HashMap::new();
        if !refs.is_empty() {
            let now = self.ctx.clock.now();
            match blocking(&self.ctx.store, move |s| s.fetch(&refs, now)).await {
                Ok(f) => found.extend(f.messages.into_iter().map(|m| ((m.account, m.hash), m))),
                // Tried again at the next round, like a failed push.
                Err(e) => tracing::debug!("cannot read back messages to push: {e}"),
            }
        }
        let mut kept = Vec::with_capacity(chunk.len());
        let mut pushes = Vec::with_capacity(chunk.len());
        for p in chunk {
            let push = match &p.item {
                Item::Store { account, hash, .. } => match found.remove(&(*account, *hash)) {
                    Some(m) => Push::Store(m),
                    None => {
                        self.ctx.metrics.pushes.inc("store", "gone");
                        continue;
                    }
                },
                Item::Delete(d) => Push::Delete(d.clone()),
                Item::Expire(e) => Push::Expire(e.clone()),
            };
            kept.push(p);
            pushes.push(push);
        }
        (kept, pushes)
    }
}
