//! The receive loop: long polls of the account's own swarm through paths,
//! with persisted per-member read cursors, dedupe by hash and by content id, and the handling
//! of every content kind.

use std::sync::Arc;
use std::time::Duration;

use sotto_protocol::constants::MAX_LONG_POLL_MS;
use sotto_protocol::envelope::{self, Content, ContentBody, ContentId, ReceiptKind};
use sotto_protocol::rpc::{Request, Response, RetrievedMessage};
use sotto_protocol::{AccountId, Namespace};
use tokio::sync::watch;

use super::AttachmentState;
use super::attachments::{Extra, summary};
use super::metadata::Setting;
use super::records::{ContactRecord, MsgRecord, RequestRecord};
use super::{ChatError, ChatEvent, ChatMessage, Disappearing, Inner, MessageId, MessageState};
use crate::Client;

/// Most pages read in a row after pages that say `more`.
const MAX_PAGES: usize = 16;
/// Most pending message requests; messages of further strangers are dropped
/// (and counted) until some are answered.
const MAX_REQUESTS: usize = 1_000;
/// Most messages one pending request keeps.
const MAX_REQUEST_MESSAGES: usize = 100;
/// The wait after a failed round, so a dead network is not hammered.
const FAILED_ROUND_PAUSE: Duration = Duration::from_secs(1);
/// The longest a node's `RateLimited` answer makes the loop wait (a node
/// asking for more is not believed beyond this).
const MAX_RATE_LIMITED_PAUSE: Duration = Duration::from_secs(60);

/// Why a round ended without its pages.
#[derive(Debug)]
pub(crate) enum RoundFailure {
    /// The member asked the reader to come back later (it holds all the
    /// waiting retrieves it allows, or the account's rate is used up).
    RateLimited {
        /// What it asked for.
        retry_after_ms: u64,
    },
    /// Anything else.
    Other(ChatError),
}

impl From<ChatError> for RoundFailure {
    fn from(e: ChatError) -> Self {
        RoundFailure::Other(e)
    }
}

impl From<RoundFailure> for ChatError {
    fn from(f: RoundFailure) -> Self {
        match f {
            RoundFailure::RateLimited { retry_after_ms } => {
                crate::ClientError::RateLimited { retry_after_ms }.into()
            }
            RoundFailure::Other(e) => e,
        }
    }
}

/// How long the loop waits after `failure` before it polls again: what a
/// rate-limiting node asked for (within bounds), else a short pause. Polling
/// again at once is what turned a full node into a request storm.
pub(crate) fn pause_after(failure: &RoundFailure) -> Duration {
    match failure {
        RoundFailure::RateLimited { retry_after_ms } => {
            Duration::from_millis(*retry_after_ms).clamp(FAILED_ROUND_PAUSE, MAX_RATE_LIMITED_PAUSE)
        }
        RoundFailure::Other(_) => FAILED_ROUND_PAUSE,
    }
}

/// The loop: rounds until stopped, in `namespace` (the connection runs one
/// for the inbox and one for the message requests). Each round long-polls
/// one member of the swarm, picked at random, from this reader's cursor on
/// that member ([`crate::ReadCursors`]): a message that reached a member late
/// is after the cursor there, so nothing needs re-reading on a timer.
pub(crate) async fn run(
    inner: Arc<Inner>,
    client: Arc<Client>,
    mut stop: watch::Receiver<bool>,
    namespace: Namespace,
) {
    let wait = Duration::from_millis(MAX_LONG_POLL_MS);
    while !*stop.borrow() {
        let result = tokio::select! {
            r = round_or_refusal(&inner, &client, wait, namespace) => r,
            _ = stop.changed() => return,
        };
        if let Err(failure) = result {
            tracing::debug!("receive round failed: {failure:?}");
            tokio::select! {
                _ = tokio::time::sleep(pause_after(&failure)) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

/// One round in each namespace: what is there now (no waiting) in the inbox
/// and the requests, then, if `wait` > 0 and that brought nothing, a long
/// poll of both until either has something. Returns how many new messages
/// (texts) reached the app.
pub(crate) async fn round(
    inner: &Arc<Inner>,
    client: &Client,
    wait: Duration,
) -> Result<usize, ChatError> {
    let mut found = 0;
    for ns in [Namespace::INBOX, Namespace::REQUESTS] {
        found += round_or_refusal(inner, client, Duration::ZERO, ns).await?;
    }
    if found > 0 || wait.is_zero() {
        return Ok(found);
    }
    // Whichever answers first; the other poll is dropped (its waiter on the
    // node ends by itself).
    Ok(tokio::select! {
        r = round_or_refusal(inner, client, wait, Namespace::INBOX) => r?,
        r = round_or_refusal(inner, client, wait, Namespace::REQUESTS) => r?,
    })
}

/// A round in `namespace`, telling a `RateLimited` answer apart.
async fn round_or_refusal(
    inner: &Arc<Inner>,
    client: &Client,
    wait: Duration,
    namespace: Namespace,
) -> Result<usize, RoundFailure> {
    let network = inner.network();
    let wait_ms = u32::try_from(wait.as_millis().min(u128::from(MAX_LONG_POLL_MS))).unwrap_or(0);
    let mut new = 0;
    for page in 0..MAX_PAGES {
        let cursors = inner.store.read_cursors(namespace)?;
        let key = &inner.key;
        let id = inner.id;
        let make = |member, now| {
            let mut req = cursors.request(&member, id, namespace);
            req.wait_ms = if page == 0 { wait_ms } else { 0 };
            match req.sign(key, &network, now) {
                Ok(r) => Request::Retrieve(r),
                // Signing fails only on an encoding error; the node then
                // answers a ping, which this round refuses below.
                Err(_) => Request::Ping,
            }
        };
        let (member, answer) = match client.swarm_request_at(&id, make).await {
            Ok(answer) => answer,
            Err(crate::ClientError::RateLimited { retry_after_ms }) => {
                return Err(RoundFailure::RateLimited { retry_after_ms });
            }
            Err(e) => return Err(ChatError::from(e).into()),
        };
        let Response::Messages {
            messages,
            cursor,
            more,
        } = answer
        else {
            return Err(ChatError::Network(format!(
                "the swarm answered a retrieve with {}",
                answer.kind()
            ))
            .into());
        };
        // Handling is sled work: off the async threads, and one page at a
        // time across rounds (the loops and `receive_once` may all poll; the
        // network waits run in parallel, the handling never does).
        let one_at_a_time = inner.receiving.lock().await;
        let worker = inner.clone();
        let now = client.now();
        let handled = tokio::task::spawn_blocking(move || -> Result<_, ChatError> {
            let _handling = super::lock(&worker.handling);
            let mut n = 0;
            for m in &messages {
                // A store failure returns before the cursor moves past the
                // message: it is read again next round, never lost.
                if worker.accept(m, namespace)? {
                    n += 1;
                }
            }
            // Read again under the lock: another round may have moved this
            // member's cursor further, and it must not go back.
            let mut cursors = worker.store.read_cursors(namespace)?;
            let behind = cursors
                .get(&member)
                .is_some_and(|old| old.store == cursor.store && old.seq > cursor.seq);
            if !behind {
                cursors.advance(member, cursor, &messages, now);
                worker.store.set_read_cursors(namespace, &cursors)?;
            }
            Ok((n, worker.take_doomed()))
        })
        .await
        .map_err(|e| ChatError::Store(format!("the receive task failed: {e}")))?;
        drop(one_at_a_time);
        let (page_new, doomed) = handled?;
        new += page_new;
        // What this account cannot open, or a blocked sender sent, leaves its
        // swarm (it would hold the quota until it expires). Best effort: the
        // message was handled, and expires anyway.
        if !doomed.is_empty()
            && let Err(e) = inner.delete_own(client, namespace, doomed).await
        {
            tracing::debug!("deleting unwanted messages from the swarm: {e}");
        }
        if !more {
            break;
        }
    }
    Ok(new)
}

impl Inner {
    /// Checks, dedupes, opens and handles one retrieved message; `true` if a
    /// new text reached the app.
    pub(crate) fn accept(&self, m: &RetrievedMessage, ns: Namespace) -> Result<bool, ChatError> {
        let s = &self.store;
        let now = self.now();
        if !m.hash_matches(&self.id, ns) {
            self.count(|c| c.malformed += 1);
            return Ok(false);
        }
        let hash = m.hash.as_bytes();
        if s.is_seen(b'h', hash)? {
            self.count(|c| c.duplicates += 1);
            return Ok(false);
        }
        if sotto_protocol::envelope::v2::version(&m.data)
            == Some(sotto_protocol::constants::ENVELOPE_VERSION_V2)
        {
            return self.accept_v2(m, now, ns);
        }
        // Envelope v1 (signed, no forward secrecy): accepted during the
        // transition, for items older clients queued before they moved to
        // v2; nothing sends v1 any more (ARCHITECTURE, "Messages v2").
        // `open` checks the length and version before any key operation.
        let opened = match envelope::open(&self.key, &m.data) {
            Ok(o) => o,
            Err(e) => {
                tracing::debug!("an envelope did not open: {e}");
                self.doom(m.hash);
                return self.drop_envelope(hash, now, |c| c.malformed += 1);
            }
        };
        let sender = opened.sender;
        if s.blocked.contains_key(sender.as_bytes())? {
            self.doom(m.hash);
            return self.drop_envelope(hash, now, |c| c.blocked += 1);
        }
        let mut cid = sender.as_bytes().to_vec();
        cid.extend_from_slice(opened.content.id.as_bytes());
        if s.is_seen(b'c', &cid)? {
            return self.drop_envelope(hash, now, |c| c.duplicates += 1);
        }
        // Seen only once handled: a store failure in between leaves the
        // message to be read again, never lost.
        let new = self.handle(sender, opened.content, m, ns)?;
        self.count(|c| c.v1 += 1);
        s.mark_seen(b'c', &cid, now)?;
        s.mark_seen(b'h', hash, now)?;
        Ok(new)
    }

    pub(super) fn handle(
        &self,
        sender: AccountId,
        content: Content,
        m: &RetrievedMessage,
        ns: Namespace,
    ) -> Result<bool, ChatError> {
        let s = &self.store;
        let now = self.now();
        // Its id may be forgotten by now: a replay of a deleted or
        // disappeared message, or an old timer change (metadata.rs).
        if self.too_old(content.sent_at, now) {
            return Ok(false);
        }
        let is_contact = s.contacts.contains_key(sender.as_bytes())?;
        if ns == Namespace::REQUESTS && is_contact {
            // A contact without this account's current token.
            self.offer_token(&sender)?;
        }
        let head = (content.id, content.sent_at);
        match content.body {
            ContentBody::Text { text } => {
                self.record_incoming(sender, head, m, text, None, is_contact)
            }
            ContentBody::Attachment {
                attachment,
                caption,
            } => {
                let max = self.settings().auto_fetch_max_bytes;
                // Fetched ahead only from contacts: a stranger must not make
                // this device fetch anything before the user says so.
                let auto = is_contact && max > 0 && attachment.size <= max;
                let extra = Extra::Attachment {
                    descriptor: attachment,
                    caption,
                    state: AttachmentState::Pending,
                    auto,
                };
                let text = summary(&extra);
                let new = self.record_incoming(sender, head, m, text, Some(extra), is_contact)?;
                if new && auto {
                    self.queue_fetch(&head.0)?;
                }
                Ok(new)
            }
            ContentBody::Location { location } => {
                let extra = Extra::Location(location);
                let text = summary(&extra);
                self.record_incoming(sender, head, m, text, Some(extra), is_contact)
            }
            ContentBody::Receipt { kind, ids } => {
                let state = match kind {
                    ReceiptKind::Delivered => MessageState::Delivered,
                    ReceiptKind::Read => MessageState::Read,
                };
                let mode = s.conv(&sender)?.mode;
                for id in ids {
                    match s.message(&id)? {
                        Some((key, rec)) if rec.msg.outgoing && rec.msg.peer == sender => {
                            self.advance(&id, state)?;
                            if let (MessageState::Read, Disappearing::AfterRead(d)) = (state, mode)
                            {
                                // The sender's copy follows the reader's timer.
                                if let Some((_, now_rec)) = s.message(&id)? {
                                    let mut new = now_rec.clone();
                                    // A local timer: the device clock.
                                    let at = self.device_now().saturating_add(
                                        u64::try_from(d.as_millis()).unwrap_or(u64::MAX),
                                    );
                                    new.msg.expires_at =
                                        Some(now_rec.msg.expires_at.map_or(at, |e| e.min(at)));
                                    s.update_message(&key, &now_rec, &new)?;
                                }
                            }
                        }
                        _ => self.count(|c| c.refused += 1),
                    }
                }
                Ok(false)
            }
            ContentBody::Typing { started } => {
                if is_contact {
                    self.emit(ChatEvent::Typing {
                        peer: sender,
                        typing: started,
                    });
                }
                Ok(false)
            }
            ContentBody::DisappearingTimer { mode } => {
                // The latest change wins, whichever side made it and in
                // whatever order they arrive.
                if !self.newer_change(Setting::Timer, &sender, (head.1, head.0), now)? {
                    return Ok(false);
                }
                let mode = Disappearing::from_wire(mode);
                let mut conv = s.conv(&sender)?;
                conv.mode = mode;
                s.put(&s.convs, sender.as_bytes(), &conv)?;
                self.emit(ChatEvent::DisappearingChanged { peer: sender, mode });
                Ok(false)
            }
            ContentBody::RequestResponse { accepted } => {
                if accepted && !is_contact && self.wrote_to(&sender)? {
                    s.put(
                        &s.contacts,
                        sender.as_bytes(),
                        &ContactRecord {
                            nickname: None,
                            added_at: now,
                        },
                    )?;
                }
                self.emit(ChatEvent::RequestAnswered {
                    by: sender,
                    accepted,
                });
                Ok(false)
            }
            ContentBody::Profile { display_name } => {
                if !self.newer_change(Setting::Profile, &sender, (head.1, head.0), now)? {
                    return Ok(false);
                }
                let mut conv = s.conv(&sender)?;
                let name = (!display_name.is_empty()).then_some(display_name);
                conv.display_name = name.clone();
                s.put(&s.convs, sender.as_bytes(), &conv)?;
                self.emit(ChatEvent::Profile {
                    peer: sender,
                    display_name: name,
                });
                Ok(false)
            }
            ContentBody::DeliveryToken { token } => {
                // Kept from contacts only: a stranger's token would be a
                // record per fresh account, and is not needed (a reply to a
                // request goes to the stranger's requests, and once they are
                // a contact they send it again).
                if is_contact {
                    self.set_peer_token(&sender, Some(token))?;
                }
                Ok(false)
            }
            ContentBody::GroupInvite { welcome } => {
                // A stranger's invitation is a request: kept (bounded) until
                // the user accepts or declines it, never joined by itself.
                // An admin answering this account's rejoin request counts
                // as a contact here (`group_rejoin.rs`).
                let expected = !is_contact && self.expects_rejoin_from(&sender)?;
                if !is_contact && !expected {
                    self.keep_invite(sender, welcome, false)?;
                    return Ok(false);
                }
                // A large Welcome comes by reference: joined once the group
                // task has fetched it (`group_large.rs`).
                if crate::group::large::is_reference(&welcome) {
                    self.keep_invite(sender, welcome, true)?;
                    return Ok(false);
                }
                match self.join_welcome(&sender, &welcome, is_contact) {
                    Ok(group) => {
                        self.emit(ChatEvent::GroupChanged { group });
                        Ok(false)
                    }
                    // A Welcome that does not check out (or a group already
                    // joined): counted; a store failure is returned and the
                    // message read again.
                    Err(ChatError::Invalid(e)) => {
                        tracing::debug!("a group invitation was refused: {e}");
                        self.count(|c| c.refused += 1);
                        Ok(false)
                    }
                    Err(e) => Err(e),
                }
            }
            ContentBody::GroupRejoin { group } => {
                self.on_rejoin_request(sender, crate::group::GroupId(group))?;
                Ok(false)
            }
            ContentBody::DeleteForEveryone { ids } => {
                for id in ids {
                    // Remembered, so that the message, if it arrives after
                    // its delete, stays deleted.
                    self.remember_deleted(&sender, &id, now)?;
                    match s.message(&id)? {
                        // Only the sender's own messages: nobody deletes what
                        // this account wrote, or a third party's messages.
                        Some((key, rec)) if !rec.msg.outgoing && rec.msg.peer == sender => {
                            s.remove_message(&key, &rec)?;
                            self.emit(ChatEvent::Deleted {
                                id: MessageId(id),
                                peer: sender,
                            });
                        }
                        Some(_) => self.count(|c| c.refused += 1),
                        None => {}
                    }
                }
                Ok(false)
            }
        }
    }

    /// Stores a new incoming message (a text, or the summary of what `extra`
    /// holds), in Requests if the sender is no contact, sends the delivery
    /// receipt and tells front ends; `true` if it is new.
    fn record_incoming(
        &self,
        sender: AccountId,
        (id, sent_at): (ContentId, u64),
        m: &RetrievedMessage,
        text: String,
        extra: Option<Extra>,
        is_contact: bool,
    ) -> Result<bool, ChatError> {
        let s = &self.store;
        let now = self.now();
        if !is_contact && !self.request_has_room(&sender)? {
            tracing::info!("dropped a message request: too many pending");
            self.count(|c| c.refused += 1);
            return Ok(false);
        }
        let conv = s.conv(&sender)?;
        // The sender's timer ends at `sent_at + d` on the network's
        // clock (never after the swarm's copy); locally it runs for
        // the time left on the device clock.
        let expires_at = match conv.mode {
            Disappearing::AfterSend(d) => Some(
                self.local_deadline(
                    sent_at
                        .saturating_add(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                        .min(m.expiry),
                    now,
                ),
            ),
            _ => None,
        };
        let msg = ChatMessage {
            id: MessageId(id),
            peer: sender,
            outgoing: false,
            text,
            sent_at,
            received_at: now,
            state: MessageState::Delivered,
            expires_at,
            request: !is_contact,
        };
        let rec = MsgRecord {
            msg: msg.clone(),
            hash: Some(m.hash),
        };
        if s.message(&id)?.is_some() {
            self.count(|c| c.duplicates += 1);
            return Ok(false);
        }
        if self.was_deleted(&sender, &id)? {
            self.count(|c| c.refused += 1);
            return Ok(false);
        }
        // What it carries first: a message is never shown without it.
        if let Some(extra) = &extra {
            self.put_extra(&id, extra)?;
        }
        if !s.insert_message(&rec, true)? {
            self.count(|c| c.duplicates += 1);
            return Ok(false);
        }
        s.touch(&sender, now)?;
        if is_contact {
            // After a random delay, batched with the peer's other receipts
            // (metadata.rs). Best effort: the message is stored; a receipt
            // that cannot be queued must not fail the page, or the next
            // round would count the message a duplicate and the app would
            // never hear of it.
            if let Err(e) = self.queue_delivery_receipt(&sender, &id, now) {
                tracing::warn!("delivery receipt not queued: {e}");
            }
        } else if !s.requests.contains_key(sender.as_bytes())? {
            s.put(
                &s.requests,
                sender.as_bytes(),
                &RequestRecord { received_at: now },
            )?;
            self.emit(ChatEvent::Request { from: sender });
        }
        self.emit(ChatEvent::Message(msg));
        Ok(true)
    }

    /// Whether a message from the stranger `from` still fits: at most
    /// [`MAX_REQUESTS`] pending requests of at most [`MAX_REQUEST_MESSAGES`]
    /// messages each, so strangers cannot fill the disk.
    pub(super) fn request_has_room(&self, from: &AccountId) -> Result<bool, ChatError> {
        let s = &self.store;
        if s.requests.contains_key(from.as_bytes())? {
            Ok(s.messages.scan_prefix(from.as_bytes()).count() < MAX_REQUEST_MESSAGES)
        } else {
            Ok(s.requests.len() < MAX_REQUESTS)
        }
    }

    /// Whether this account wrote to `peer` (so their acceptance makes them a
    /// contact here too).
    fn wrote_to(&self, peer: &AccountId) -> Result<bool, ChatError> {
        Ok(self
            .store
            .conversation(peer)?
            .iter()
            .any(|(_, r)| r.msg.outgoing))
    }
}

impl super::Messenger {
    /// Checks, dedupes, opens and handles one inbox message exactly as the
    /// receive loop does with each message it retrieves; `true` if a new text
    /// reached the app. Touches no network, so it works offline.
    ///
    /// Not part of the API: the fuzz harness (`fuzz/src/messenger.rs`) drives
    /// the handling of hostile envelopes through it.
    #[doc(hidden)]
    pub fn accept_retrieved(&self, m: &RetrievedMessage) -> Result<bool, ChatError> {
        self.inner.accept(m, sotto_protocol::Namespace::INBOX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_limited_round_waits_what_the_node_asked_within_bounds() {
        let limited = |ms| RoundFailure::RateLimited { retry_after_ms: ms };
        assert_eq!(pause_after(&limited(5_000)), Duration::from_secs(5));
        // Never at once, never for ever.
        assert_eq!(pause_after(&limited(0)), FAILED_ROUND_PAUSE);
        assert_eq!(pause_after(&limited(u64::MAX)), MAX_RATE_LIMITED_PAUSE);
        let other = RoundFailure::Other(ChatError::Network("down".into()));
        assert_eq!(pause_after(&other), FAILED_ROUND_PAUSE);
        // Callers of `round` still see the typed client error.
        let e = ChatError::from(limited(5_000));
        assert!(e.to_string().contains("5.0 s"), "{e}");
    }
}
