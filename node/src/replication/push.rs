//! Pushing a local write to the other members of its swarm, and retrying the
//! pushes that failed.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::PeerId;
use sotto_protocol::constants::MAX_REPLICATION_BATCH;
use sotto_protocol::rpc::{NodeRequest, NodeResponse};
use sotto_protocol::{NodeId, UnixMillis};

use super::backlog::{Backlog, Pending};
use super::{Replicator, lock, swarm_of};
use crate::context::{BoxFuture, Context, Push, Pusher};

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

/// Whether `p` no longer has anything to do at `now`: its message expired, the
/// delete's tombstone would be over, or the shortened expiry has come.
fn outlived(p: &Push, now: UnixMillis) -> bool {
    match p {
        Push::Store(m) => m.expiry <= now,
        Push::Delete(d) => d.tombstone_expiry(None) <= now,
        Push::Expire(e) => e.expiry <= now,
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
            ctx.metrics.pushes.inc(kind(&dropped.push), "dropped");
        }
    }
    ctx.metrics.replication_backlog.set_count(b.len());
}

impl Pusher for Replicator {
    fn push(&self, push: Push, need: usize) -> BoxFuture<usize> {
        let ctx = Arc::clone(&self.ctx);
        let backlog = Arc::clone(&self.backlog);
        Box::pin(async move {
            let (_, members) = swarm_of(&ctx, &push.account());
            if members.is_empty() {
                return 0;
            }
            let label = kind(&push);
            let request = request_of(std::iter::once(&push));
            let (tx, mut rx) = tokio::sync::mpsc::channel::<bool>(members.len());
            for (node, peer) in members {
                let (ctx, backlog, tx) = (Arc::clone(&ctx), Arc::clone(&backlog), tx.clone());
                let (request, push) = (request.clone(), push.clone());
                // Each push runs on its own task so that it completes (and a
                // failure reaches the backlog) after the caller has its quorum.
                // The request is time-bounded by the network handle.
                tokio::spawn(async move {
                    let ok = acked(&push, 0, &ctx.net.node_request(peer, request).await);
                    ctx.metrics
                        .pushes
                        .inc(label, if ok { "ok" } else { "failed" });
                    if !ok {
                        enqueue(
                            &ctx,
                            &backlog,
                            vec![Pending::new(node, push, Instant::now())],
                        );
                    }
                    // The receiver may have returned already.
                    let _ = tx.send(ok).await;
                });
            }
            drop(tx);
            let mut count = 0;
            while count < need {
                match rx.recv().await {
                    Some(true) => count += 1,
                    Some(false) => {}
                    None => break,
                }
            }
            count
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
            let label = kind(&p.push);
            if p.given_up(started) || outlived(&p.push, now) {
                ctx.metrics.pushes.inc(label, "gave_up");
                continue;
            }
            let account = p.push.account();
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
            let request = request_of(chunk.iter().map(|p| &p.push));
            let answer = self.ctx.net.node_request(peer, request).await;
            // The request's messages are the chunk's stores, in chunk order.
            let mut index = 0usize;
            for p in chunk {
                let ok = acked(&p.push, index, &answer);
                if matches!(p.push, Push::Store(_)) {
                    index += 1;
                }
                let label = kind(&p.push);
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
