//! What is new and what was read: one notion for every front end. An incoming
//! message is *new* until the user has been shown it by any front end; being
//! shown it is reading it (its state becomes `Read`, a read receipt goes out
//! if enabled, an after-read timer starts). So a message read in the terminal
//! UI is not new to `sotto inbox`, and one printed by `inbox` is not unread in
//! the UI. A message request is shown but not "read": its sender gets no
//! receipt until the request is accepted.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use sotto_protocol::constants::{MAX_CONTENT_IDS, MAX_HASHES_PER_REQUEST};
use sotto_protocol::envelope::{ContentBody, ContentId, ReceiptKind};
use sotto_protocol::rpc::{ExpireRequest, MessageHash, Request, Response};
use sotto_protocol::{AccountId, Namespace};

use super::records::MsgRecord;
use super::{ChatError, ChatMessage, Disappearing, MessageId, MessageState, Messenger};

/// How soon [`Messenger::wait_unseen`] tries again after its own receive
/// round failed (the background loop keeps trying too).
const RETRY_ROUND: Duration = Duration::from_secs(2);

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Messenger {
    /// New incoming messages (contacts and requests), oldest first: those
    /// no front end has shown yet. Asking does not change that: a front end
    /// marks read what it has shown ([`Messenger::mark_messages_read`]), so a
    /// failure half-way through showing them (a closed pipe, a crash) loses
    /// nothing.
    pub fn unseen(&self) -> Result<Vec<ChatMessage>, ChatError> {
        let s = &self.inner.store;
        let mut out = Vec::new();
        for item in s.unseen.iter() {
            let (_, key) = item?;
            if let Some(rec) = s.get::<MsgRecord>(&s.messages, &key)?
                // Read elsewhere (a store from before reading cleared the
                // index): not new.
                && rec.msg.state < MessageState::Read
            {
                out.push(rec.msg);
            }
        }
        Ok(out)
    }

    /// Waits up to `wait` for new messages and returns them (not marked
    /// read), as soon as there are any: whichever receive round brought them,
    /// the background loop's or the one this starts at once when connected.
    /// Empty when none came in time; an error when connected and no round
    /// could fetch at all, or when the bootstrap nodes are on another
    /// network.
    pub async fn wait_unseen(&self, wait: Duration) -> Result<Vec<ChatMessage>, ChatError> {
        // Subscribed before looking, so nothing arriving in between is missed.
        let mut events = self.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        let connected = self.inner.client().is_some();
        let mut fetched = false;
        let mut last_error = None;
        loop {
            if connected && !fetched {
                match self.receive_once(Duration::ZERO).await {
                    Ok(_) => fetched = true,
                    Err(e) => {
                        tracing::debug!("receive round failed: {e}");
                        last_error = Some(e);
                    }
                }
            }
            let new = self.unseen()?;
            if !new.is_empty() {
                return Ok(new);
            }
            if let Some(w) = self.wrong_network() {
                return Err(ChatError::WrongNetwork(w));
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::select! {
                ev = events.recv() => {
                    if let Err(tokio::sync::broadcast::error::RecvError::Closed) = ev {
                        break;
                    }
                }
                // A round of our own failed: try again now and then.
                _ = tokio::time::sleep(RETRY_ROUND), if connected && !fetched => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
        match (fetched, last_error) {
            (false, Some(e)) => Err(e),
            _ => Ok(Vec::new()),
        }
    }

    /// [`Messenger::unseen`], all of it marked read at once: for a front end
    /// that keeps what it reads (the `sotto` app prints and marks instead).
    pub async fn take_unseen(&self) -> Result<Vec<ChatMessage>, ChatError> {
        let out = self.unseen()?;
        let ids: Vec<MessageId> = out.iter().map(|m| m.id).collect();
        self.mark_messages_read(&ids).await?;
        Ok(out)
    }

    /// Marks a whole conversation read (the user opened it): it is no longer
    /// new anywhere, read receipts go out (if enabled), and after-read timers
    /// start here and on the copy the swarm keeps.
    pub async fn mark_read(&self, peer: &AccountId) -> Result<(), ChatError> {
        let who = *peer;
        let (expiry, hashes) = self
            .blocking(move |i| i.mark_read_local(&who, None))
            .await?;
        self.shorten_swarm_copies(expiry, hashes);
        Ok(())
    }

    /// Marks the incoming messages `ids` read (the user was shown them, as
    /// `sotto inbox` does), as [`Messenger::mark_read`] does for a whole
    /// conversation. Unknown ids and own messages are skipped.
    pub async fn mark_messages_read(&self, ids: &[MessageId]) -> Result<(), ChatError> {
        let ids: Vec<MessageId> = ids.to_vec();
        let done = self
            .blocking(move |i| {
                let mut by_peer: BTreeMap<AccountId, BTreeSet<ContentId>> = BTreeMap::new();
                for id in &ids {
                    if let Some((_, rec)) = i.store.message(&id.0)?
                        && !rec.msg.outgoing
                    {
                        by_peer.entry(rec.msg.peer).or_default().insert(id.0);
                    }
                }
                let mut out = Vec::new();
                for (peer, only) in by_peer {
                    out.push(i.mark_read_local(&peer, Some(&only))?);
                }
                Ok(out)
            })
            .await?;
        for (expiry, hashes) in done {
            self.shorten_swarm_copies(expiry, hashes);
        }
        Ok(())
    }

    /// Brings the swarm's copies of `hashes` forward to expire at `expiry`.
    /// A network round trip, done in the background so marking read stays
    /// instant. The local copy already follows the timer and the swarm's copy
    /// expires by its TTL anyway, so a failure is logged, not fatal.
    ///
    /// A copy's hash covers its namespace, and a contact's message sits in
    /// the requests namespace when the sender did not yet have this account's
    /// token (`delivery.rs`); the store does not keep which, so the inbox is
    /// asked first and the hashes its answer leaves out go to the requests.
    fn shorten_swarm_copies(&self, expiry: Option<u64>, hashes: Vec<MessageHash>) {
        let inner = &self.inner;
        let (Some(at), Some(client)) = (expiry, inner.client()) else {
            return;
        };
        let inner = inner.clone();
        tokio::spawn(async move {
            let network = inner.network();
            for chunk in hashes.chunks(MAX_HASHES_PER_REQUEST) {
                let mut left: Vec<MessageHash> = chunk.to_vec();
                for ns in [Namespace::INBOX, Namespace::REQUESTS] {
                    if left.is_empty() {
                        break;
                    }
                    let make = |now| match ExpireRequest::signed(
                        &inner.key,
                        &network,
                        ns,
                        left.clone(),
                        at,
                        now,
                    ) {
                        Ok(r) => Request::Expire(r),
                        Err(_) => Request::Ping,
                    };
                    // A refusal or a failure would meet the second
                    // namespace too: the rest of the chunk waits for the TTL.
                    let why = match client.swarm_request(&inner.id, make).await {
                        Ok(Response::Expired { hashes, .. }) => {
                            left.retain(|h| !hashes.contains(h));
                            continue;
                        }
                        Ok(other) => format!("the swarm answered {}", other.kind()),
                        Err(e) => e.to_string(),
                    };
                    tracing::warn!("could not shorten the stored copies' expiry: {why}");
                    break;
                }
            }
        });
    }
}

impl super::Inner {
    /// The local part of marking read, for the whole conversation with
    /// `peer` or only the messages in `only`: no longer new, states, timers,
    /// receipts. Returns the after-read expiry for the swarm's copies
    /// (corrected clock) and the swarm hashes it applies to; the local timers
    /// run on the device clock.
    fn mark_read_local(
        &self,
        peer: &AccountId,
        only: Option<&BTreeSet<ContentId>>,
    ) -> Result<(Option<u64>, Vec<MessageHash>), ChatError> {
        let s = &self.store;
        let now = self.now();
        let mode = s.conv(peer)?.mode;
        let mut ids: Vec<ContentId> = Vec::new();
        let mut hashes = Vec::new();
        let mut expiry = None;
        for (key, rec) in s.conversation(peer)? {
            if rec.msg.outgoing || only.is_some_and(|o| !o.contains(&rec.msg.id.0)) {
                continue;
            }
            // Shown, so not new: requests too.
            if let Some(seq) = key.get(32..40) {
                s.unseen.remove(seq)?;
            }
            if rec.msg.state >= MessageState::Read || rec.msg.request {
                continue;
            }
            let mut new = rec.clone();
            new.msg.state = MessageState::Read;
            if let Disappearing::AfterRead(d) = mode {
                // The local timer runs on the device clock (no node's time
                // can make local messages vanish); the swarm's copies are
                // shortened on the corrected clock the nodes check.
                let local = self.device_now().saturating_add(ms(d));
                new.msg.expires_at = Some(rec.msg.expires_at.map_or(local, |e| e.min(local)));
                expiry = Some(now.saturating_add(ms(d)));
                hashes.extend(rec.hash);
            }
            s.update_message(&key, &rec, &new)?;
            // A notice of an unreadable message has no swarm copy and an id
            // no envelope carried: the peer has nothing to mark read.
            if rec.hash.is_some() {
                ids.push(rec.msg.id.0);
            }
        }
        if self.settings_read_receipts() && s.contacts.contains_key(peer.as_bytes())? {
            for chunk in ids.chunks(MAX_CONTENT_IDS) {
                self.enqueue(
                    peer,
                    ContentBody::Receipt {
                        kind: ReceiptKind::Read,
                        ids: chunk.to_vec(),
                    },
                    None,
                )?;
            }
        }
        s.flush()?;
        Ok((expiry, hashes))
    }

    fn settings_read_receipts(&self) -> bool {
        let s = &self.store;
        s.get::<super::Settings>(&s.meta, b"settings")
            .ok()
            .flatten()
            .unwrap_or_default()
            .read_receipts
    }
}
