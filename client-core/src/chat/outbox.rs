//! The persistent outbox: every content to send (texts and the control
//! contents: receipts, profile, request answers, timer changes, deletes) is
//! kept until a quorum of the recipient's swarm stored it. It is queued as a
//! content (sealed at rest like every stored value) and sealed to the
//! recipient's session on its first try ([`super::seal`]): the session state
//! and the sealed envelope are written together before anything leaves. The
//! sender task retries with capped exponential backoff; the same sealed bytes
//! are sent every time, so a store that landed but whose answer was lost is
//! the same message (same hash) on the next try, never a second one.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sotto_protocol::AccountId;
use sotto_protocol::constants::{DEFAULT_TTL_MS, MIN_TTL_MS};
use sotto_protocol::envelope::{Content, ContentBody, ContentId};
use sotto_protocol::rpc::Response;
use tokio::sync::watch;

use super::{ChatError, ChatEvent, Inner, MessageId, MessageState};

/// Longest wait between two tries of one item.
const MAX_BACKOFF_MS: u64 = 60_000;
/// First wait after a failed try.
const FIRST_BACKOFF_MS: u64 = 1_000;
/// Most items the outbox holds; more sends are refused until some leave.
pub(crate) const MAX_OUTBOX: usize = 5_000;
/// How long after connect the sender waits for a first ready path before
/// trying anyway.
const STARTUP_GRACE: Duration = Duration::from_secs(15);
/// How often the sender looks at the outbox when nothing wakes it.
const IDLE_TICK: Duration = Duration::from_secs(1);

/// One content waiting to be stored in the recipient's swarm.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct OutItem {
    pub(crate) id: ContentId,
    pub(crate) peer: AccountId,
    /// The content until its first try, then the sealed envelope.
    pub(crate) body: OutBody,
    pub(crate) ttl_ms: u64,
    /// A message a person sent (text, attachment, location): its state is
    /// tracked; the control contents are fire-and-retry.
    pub(crate) text: bool,
    pub(crate) tries: u32,
    pub(crate) next_try: u64,
    pub(crate) last_error: Option<String>,
}

/// What an outbox item holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum OutBody {
    /// Not sealed yet: sealing needs the recipient's session (or their
    /// published prekeys), so it happens when the item is first sent.
    Content(Content),
    /// The sealed envelope, sent as it is on every try.
    Sealed(Vec<u8>),
}

/// An outbox item as homes before Messages v2 stored it: always sealed (v1).
#[derive(Deserialize)]
struct LegacyOutItem {
    id: ContentId,
    peer: AccountId,
    data: Vec<u8>,
    ttl_ms: u64,
    text: bool,
    tries: u32,
    next_try: u64,
    last_error: Option<String>,
}

/// The meta key marking an outbox in the current layout.
const OUTBOX_LAYOUT_KEY: &[u8] = b"outbox_layout";
/// The current layout: items hold an [`OutBody`].
const OUTBOX_LAYOUT: u32 = 2;

impl Inner {
    /// Seals `body` to `peer` and puts it in the outbox; returns its id.
    pub(crate) fn enqueue(
        &self,
        peer: &AccountId,
        body: ContentBody,
        ttl_ms: Option<u64>,
    ) -> Result<ContentId, ChatError> {
        let content = Content::new(&mut rand::rng(), self.now(), body);
        self.enqueue_content(peer, &content, ttl_ms)?;
        Ok(content.id)
    }

    /// Puts an already made content in the outbox.
    pub(crate) fn enqueue_content(
        &self,
        peer: &AccountId,
        content: &Content,
        ttl_ms: Option<u64>,
    ) -> Result<(), ChatError> {
        let s = &self.store;
        if s.outbox.len() >= MAX_OUTBOX {
            return Err(ChatError::NotSent {
                reason: format!("{MAX_OUTBOX} messages already wait to be sent"),
            });
        }
        // What the recipient would refuse is refused now, not at sealing.
        super::seal::check_content(content)?;
        let item = OutItem {
            id: content.id,
            peer: *peer,
            body: OutBody::Content(content.clone()),
            // Rounded up to a preset, so that the TTL does not mark one
            // conversation's envelopes (metadata.rs).
            ttl_ms: super::metadata::preset_ttl(ttl_ms.unwrap_or(DEFAULT_TTL_MS).max(MIN_TTL_MS)),
            text: matches!(
                content.body,
                ContentBody::Text { .. }
                    | ContentBody::Attachment { .. }
                    | ContentBody::Location { .. }
            ),
            tries: 0,
            next_try: 0,
            last_error: None,
        };
        let mut key = s.next_seq()?.to_be_bytes().to_vec();
        key.extend_from_slice(content.id.as_bytes());
        s.put(&s.outbox, &key, &item)?;
        self.outbox_wake.notify_one();
        Ok(())
    }

    /// Tells `peer` this account's display name.
    pub(crate) fn enqueue_profile(&self, peer: &AccountId) -> Result<(), ChatError> {
        let s = &self.store;
        let name: Option<String> = s.get::<Option<String>>(&s.meta, b"display_name")?.flatten();
        self.enqueue(
            peer,
            ContentBody::Profile {
                display_name: name.unwrap_or_default(),
            },
            None,
        )?;
        Ok(())
    }

    /// The last send error of a queued message, if it is still queued.
    pub(crate) fn queued_error(&self, id: &ContentId) -> Option<String> {
        let s = &self.store;
        // One item in memory at a time: the outbox may hold many large ones.
        s.outbox
            .iter()
            .flatten()
            .filter(|(k, _)| k.get(8..) == Some(id.as_bytes().as_slice()))
            .find_map(|(k, v)| s.decode::<OutItem>(&s.outbox, &k, &v).ok())
            .and_then(|i| i.last_error)
    }

    /// One pass over the due items; returns when the next one is due.
    async fn send_due(self: &Arc<Self>, client: &crate::Client) -> Result<Option<u64>, ChatError> {
        let s = &self.store;
        // Delivery receipts whose random wait is over join the outbox now.
        let mut next: Option<u64> = self.release_receipts(client.now())?;
        // Keys only up front; each item is read when its turn comes, so one
        // envelope at a time is in memory however full the outbox is.
        let keys: Vec<sled::IVec> = s.outbox.iter().keys().collect::<Result<_, _>>()?;
        for key in keys {
            let Some(mut item) = s.get::<OutItem>(&s.outbox, &key)? else {
                continue;
            };
            if item.text && s.message(&item.id)?.is_none() {
                // Deleted or disappeared before it could be sent: sending it
                // now would bring back what the user no longer has.
                s.outbox.remove(&key)?;
                continue;
            }
            let now = client.now();
            if item.next_try > now {
                next = Some(next.map_or(item.next_try, |n| n.min(item.next_try)));
                continue;
            }
            let answer = match self.sealed_data(client, &key, &mut item).await {
                // With the peer's token into its inbox, else into its
                // requests with postage (`delivery.rs`).
                Ok(data) => self
                    .deliver(client, &item.peer, data, item.ttl_ms)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match answer {
                Ok(Response::Stored { .. }) => {
                    s.outbox.remove(&key)?;
                    if item.text {
                        self.advance(&item.id, MessageState::Sent)?;
                    }
                }
                other => {
                    let reason = match other {
                        Err(e) => e,
                        Ok(r) => format!("the recipient's swarm answered {}", r.kind()),
                    };
                    item.tries = item.tries.saturating_add(1);
                    let backoff = FIRST_BACKOFF_MS
                        .saturating_mul(1u64 << item.tries.min(16).saturating_sub(1))
                        .min(MAX_BACKOFF_MS);
                    item.next_try = client.now().saturating_add(backoff);
                    item.last_error = Some(reason.clone());
                    s.put(&s.outbox, &key, &item)?;
                    if item.text {
                        self.emit(ChatEvent::SendFailed {
                            id: MessageId(item.id),
                            peer: item.peer,
                            reason,
                        });
                    }
                    next = Some(next.map_or(item.next_try, |n| n.min(item.next_try)));
                }
            }
        }
        Ok(next)
    }

    /// The sealed bytes of `item` (stored at `key`), sealing it first if it
    /// is not yet: then the session state and the sealed item are durable
    /// before this returns, so what leaves is always on disk.
    async fn sealed_data(
        &self,
        client: &crate::Client,
        key: &[u8],
        item: &mut OutItem,
    ) -> Result<Vec<u8>, ChatError> {
        if let OutBody::Sealed(data) = &item.body {
            return Ok(data.clone());
        }
        self.seal_item(client, key, item).await?;
        match &item.body {
            OutBody::Sealed(data) => Ok(data.clone()),
            OutBody::Content(_) => Err(ChatError::Store("an item was not sealed".into())),
        }
    }

    /// Moves outbox items of homes from before Messages v2 (sealed v1
    /// envelopes) to the current layout, once. They are sent as they are.
    pub(crate) fn migrate_outbox(&self) -> Result<(), ChatError> {
        let s = &self.store;
        if s.get::<u32>(&s.meta, OUTBOX_LAYOUT_KEY)? == Some(OUTBOX_LAYOUT) {
            return Ok(());
        }
        for entry in s.outbox.iter() {
            let (key, raw) = entry?;
            let item = match s.decode::<LegacyOutItem>(&s.outbox, &key, &raw) {
                Ok(old) => OutItem {
                    id: old.id,
                    peer: old.peer,
                    body: OutBody::Sealed(old.data),
                    ttl_ms: old.ttl_ms,
                    text: old.text,
                    tries: old.tries,
                    next_try: old.next_try,
                    last_error: old.last_error,
                },
                Err(e) => {
                    tracing::warn!("dropping an outbox item that does not decode: {e}");
                    s.outbox.remove(&key)?;
                    continue;
                }
            };
            s.put(&s.outbox, &key, &item)?;
        }
        s.put(&s.meta, OUTBOX_LAYOUT_KEY, &OUTBOX_LAYOUT)?;
        s.flush()
    }

    /// Moves an outgoing message forward to `state` (never back); emits
    /// `StateChanged` when it moved.
    pub(crate) fn advance(&self, id: &ContentId, state: MessageState) -> Result<bool, ChatError> {
        let s = &self.store;
        let Some((key, old)) = s.message(id)? else {
            return Ok(false);
        };
        if !old.msg.outgoing || old.msg.state >= state {
            return Ok(false);
        }
        let mut new = old.clone();
        new.msg.state = state;
        s.update_message(&key, &old, &new)?;
        self.emit(ChatEvent::StateChanged {
            id: MessageId(*id),
            peer: old.msg.peer,
            state,
        });
        Ok(true)
    }
}

/// The sender task: sends due items, then sleeps until the next is due, a new
/// item arrives, or a second passes (paths may have come up).
pub(crate) async fn run(
    inner: Arc<Inner>,
    client: Arc<crate::Client>,
    mut stop: watch::Receiver<bool>,
) {
    let mut paths = client.path_status();
    let started = std::time::Instant::now();
    while !*stop.borrow() {
        let ready = matches!(*paths.borrow_and_update(), crate::PathStatus::Ready { .. });
        if !ready && started.elapsed() < STARTUP_GRACE {
            // Right after connect no path is up yet (the directory is still
            // being fetched): every try would fail and tell the user so for
            // no reason. Wait for the first path, but not forever: when the
            // network stays out of reach, tries go on and say why.
            tokio::select! {
                r = paths.changed() => if r.is_err() {
                    // The client is going away: do not spin until stopped.
                    tokio::time::sleep(IDLE_TICK).await;
                },
                _ = tokio::time::sleep(IDLE_TICK) => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        let next = tokio::select! {
            r = inner.send_due(&client) => r,
            _ = stop.changed() => return,
        };
        if let Err(e) = &next {
            tracing::warn!("outbox: {e}");
        }
        let wait = match next {
            Ok(Some(at)) => Duration::from_millis(at.saturating_sub(client.now())).min(IDLE_TICK),
            _ => IDLE_TICK,
        };
        tokio::select! {
            _ = inner.outbox_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}
