//! Retrieve, with the long poll: a retrieve that finds nothing may wait for a
//! message to arrive, woken by the store that writes it (no polling).

use std::time::Duration;

use sotto_protocol::constants::MAX_LONG_POLL_MS;
use sotto_protocol::rpc::{ReadCursor, Response, RetrieveRequest};
use tokio::time::Instant;

use super::Service;
use super::blocking::blocking;
use crate::store::Page;

impl Service {
    /// Answers `req` with a page; an empty page waits up to `req.wait_ms`
    /// (capped at the protocol's longest wait) for a message.
    pub(super) async fn retrieve(&self, req: RetrieveRequest) -> Response {
        let wait = u64::from(req.wait_ms).min(MAX_LONG_POLL_MS);
        let deadline = Instant::now() + Duration::from_millis(wait);
        let mut permit = None;
        let store_id = self.ctx.store.id();
        loop {
            // Registered before the read: a store that lands between the read
            // and the wait still wakes this retrieve. A wake takes the notifier
            // out of the map, so every round subscribes again.
            let notify = self.ctx.waiters.subscribe(req.account, req.namespace);
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();

            let page = match self.read_page(&req).await {
                Ok(page) => page,
                Err(answer) => return answer,
            };
            if !page.messages.is_empty() || page.scan_limited || Instant::now() >= deadline {
                return messages(page, store_id);
            }
            if permit.is_none() {
                // Waiting retrieves are bounded: with every slot taken, the
                // client gets its empty page now and asks again.
                match self.long_polls.clone().try_acquire_owned() {
                    Ok(p) => permit = Some(p),
                    Err(_) => return messages(page, store_id),
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return messages(page, store_id);
            }
            // Woken: read again. The page can still be empty (the message
            // has already expired, or was too old for a first read), so the
            // loop waits again until the deadline.
        }
    }

    /// One page of `req` at the node's clock now.
    async fn read_page(&self, req: &RetrieveRequest) -> Result<Page, Response> {
        let store = self.ctx.store.clone();
        let now = self.now();
        let (account, namespace) = (req.account, req.namespace);
        let after = req.after_seq(store.id());
        let not_before = req.not_before_for(store.id());
        let max_bytes = req.max_bytes;
        let page = blocking(move || {
            store.retrieve(&account, namespace, after, not_before, max_bytes, now)
        })
        .await
        .map_err(|f| self.failure("retrieve", f))?;
        for _ in 0..page.corrupt {
            self.ctx.metrics.rejected.inc("store", "corrupt_record");
        }
        Ok(page)
    }
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
