//! Retrieve, with the long poll: a retrieve that finds fewer messages than it
//! waits for (`wait_for`, usually one) is parked in
//! the node's [`Waiters`](super::Waiters) (no task, no request slot) and
//! answered when a store for its account wakes it or its wait is over. Only
//! owner-signed reads wait: a read anyone may make answers at once.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sotto_protocol::UnixMillis;
use sotto_protocol::constants::MAX_LONG_POLL_MS;
use sotto_protocol::rpc::{ReadCursor, Response, RetrieveRequest};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::blocking::{blocking, failure_answer};
use super::wait::Parked;
use super::{Service, Step};
use crate::context::Context;
use crate::store::{Page, Store, StoreError};

/// A retrieve that found nothing and may wait.
pub(super) struct Wait {
    pub(super) req: RetrieveRequest,
    pub(super) deadline: Instant,
    pub(super) empty: ReadCursor,
    /// The write counter of its key before the read.
    pub(super) epoch: u64,
}

impl Wait {
    pub(super) fn into_parked(self, reply: super::wait::Reply) -> (Parked, u64) {
        (
            Parked::new(self.req, self.deadline, self.empty, reply),
            self.epoch,
        )
    }
}

/// How long the retrieve `req` may wait: nothing for a read that needs no
/// owner's signature (anyone could hold such waits by the thousand), else
/// what it asks, capped at the protocol's longest wait.
fn wait_of(req: &RetrieveRequest) -> u64 {
    match req.namespace.read_needs_owner() {
        Ok(true) => u64::from(req.wait_ms).min(MAX_LONG_POLL_MS),
        _ => 0,
    }
}

impl Service {
    /// Answers `req` with a page, or says it waits (the caller parks it).
    pub(super) async fn retrieve(&self, req: RetrieveRequest) -> Step {
        let wait = wait_of(&req);
        let deadline = Instant::now() + Duration::from_millis(wait);
        // Taken before the read: a store that lands between the read and the
        // park wakes the waiter at once.
        let epoch = self.ctx.waiters.epoch(req.account, req.namespace);
        let page = match read_page(&self.ctx, &req).await {
            Ok(page) => page,
            Err(answer) => return Step::Now(answer),
        };
        if enough(&page, &req) || wait == 0 {
            return Step::Now(messages(page, self.ctx.store.id()));
        }
        let empty = ReadCursor {
            store: self.ctx.store.id(),
            seq: page.seq,
        };
        Step::Wait(Wait {
            req,
            deadline,
            empty,
            epoch,
        })
    }

    /// Starts the task serving the parked waiters, once per node.
    pub(super) fn serve_waiters(&self) {
        if let Some(kick) = self.ctx.waiters.start() {
            tokio::spawn(serve(Arc::downgrade(&self.ctx), kick));
        }
    }
}

/// Serves woken and expired waiters until the node's context is gone.
async fn serve(ctx: Weak<Context>, kick: Arc<Notify>) {
    loop {
        let next = {
            let Some(ctx) = ctx.upgrade() else { return };
            serve_once(&ctx).await
        };
        let far = Instant::now() + Duration::from_secs(3600);
        tokio::select! {
            _ = kick.notified() => {}
            _ = tokio::time::sleep_until(next.unwrap_or(far)) => {}
        }
    }
}

/// Reads again for the woken waiters (one blocking call for all of them),
/// answers those with enough to say, parks the others again, answers the
/// expired ones (empty, or with what there is for a poll that waits for
/// more than one message), and says when the next deadline is.
async fn serve_once(ctx: &Arc<Context>) -> Option<Instant> {
    let woken = ctx.waiters.take_woken();
    let now = Instant::now();
    for (p, epoch, page) in read_again(ctx, woken).await {
        if enough(&page, &p.req) || now >= p.deadline {
            (p.reply)(messages(page, ctx.store.id()));
        } else {
            ctx.waiters.repark(p, epoch);
        }
    }
    let (expired, next) = ctx.waiters.take_expired(now);
    // Only a poll that waits for more than one message may have any: for
    // the others, being parked at their end means nothing came.
    let (counted, empty): (Vec<Parked>, Vec<Parked>) =
        expired.into_iter().partition(|p| p.req.wait_for > 1);
    for p in empty {
        (p.reply)(Response::Messages {
            messages: Vec::new(),
            cursor: p.empty,
            more: false,
        });
    }
    let counted = counted.into_iter().map(|p| (p, 0)).collect();
    for (p, _, page) in read_again(ctx, counted).await {
        (p.reply)(messages(page, ctx.store.id()));
    }
    next
}

/// Reads a page for each of `parked` in one blocking call. A waiter whose
/// read failed is answered with the failure here; if the blocking task
/// failed, all of them went with it (their callbacks were dropped, which
/// their callers take for a failed request).
async fn read_again(ctx: &Arc<Context>, parked: Vec<(Parked, u64)>) -> Vec<(Parked, u64, Page)> {
    if parked.is_empty() {
        return Vec::new();
    }
    let store = ctx.store.clone();
    let now = ctx.clock.now();
    let read = blocking(move || {
        Ok(parked
            .into_iter()
            .map(|(p, epoch)| {
                let page = read(&store, &p.req, now);
                (p, epoch, page)
            })
            .collect::<Vec<_>>())
    })
    .await;
    let read = match read {
        Ok(read) => read,
        Err(f) => {
            let _ = failure_answer(ctx, "retrieve", f);
            return Vec::new();
        }
    };
    let mut out = Vec::with_capacity(read.len());
    for (p, epoch, page) in read {
        match page {
            Ok(page) => {
                count_corrupt(ctx, &page);
                out.push((p, epoch, page));
            }
            Err(e) => {
                let answer = failure_answer(ctx, "retrieve", super::Failure::Store(e));
                (p.reply)(answer);
            }
        }
    }
    out
}

/// Whether `page` answers `req` now rather than wait: it holds as many
/// messages as the request waits for, or more did not fit, or the scan
/// stopped before the end (more may be there).
fn enough(page: &Page, req: &RetrieveRequest) -> bool {
    page.messages.len() >= usize::from(req.wait_for.max(1)) || page.more || page.scan_limited
}

fn read(store: &Store, req: &RetrieveRequest, now: UnixMillis) -> Result<Page, StoreError> {
    let after = req.after_seq(store.id());
    let not_before = req.not_before_for(store.id());
    store.retrieve(
        &req.account,
        req.namespace,
        after,
        not_before,
        req.max_bytes,
        now,
    )
}

fn count_corrupt(ctx: &Context, page: &Page) {
    for _ in 0..page.corrupt {
        ctx.metrics.rejected.inc("store", "corrupt_record");
    }
}

/// One page of `req` at the node's clock now.
async fn read_page(ctx: &Context, req: &RetrieveRequest) -> Result<Page, Response> {
    let store = ctx.store.clone();
    let now = ctx.clock.now();
    let req2 = req.clone();
    let page = blocking(move || read(&store, &req2, now))
        .await
        .map_err(|f| failure_answer(ctx, "retrieve", f))?;
    count_corrupt(ctx, &page);
    Ok(page)
}

fn messages(page: Page, store: u64) -> Response {
    Response::Messages {
        messages: page.messages,
        cursor: ReadCursor {
            store,
            seq: page.seq,
        },
        more: page.more,
    }
}
