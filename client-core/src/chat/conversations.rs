//! Conversations: sending, reading, receipts, typing, deleting and timers.

use std::collections::BTreeSet;
use std::time::Duration;

use sotto_protocol::constants::{MAX_CONTENT_IDS, MAX_HASHES_PER_REQUEST};
use sotto_protocol::envelope::{Content, ContentBody, ContentId, ReceiptKind};
use sotto_protocol::rpc::{ExpireRequest, MessageHash, Request};
use sotto_protocol::{AccountId, Namespace};

use super::records::{ContactRecord, MsgRecord};
use super::{
    ChatError, ChatEvent, ChatMessage, ConversationSummary, Disappearing, MessageId, MessageState,
    Messenger, short_id,
};

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Messenger {
    /// Persists the message as `Queued` and returns at once; the outbox sends
    /// it when connected. Writing to someone who is not a contact makes them
    /// one (the user chose to talk to them).
    pub async fn send_text(&self, to: &AccountId, text: &str) -> Result<MessageId, ChatError> {
        let inner = &self.inner;
        let s = &inner.store;
        if s.blocked.contains_key(to.as_bytes())? {
            return Err(ChatError::Blocked(*to));
        }
        if text.trim().is_empty() {
            return Err(ChatError::Invalid("the message is empty".into()));
        }
        let now = inner.now();
        let mode = s.conv(to)?.mode;
        // The local timer runs on the device clock; the swarm's copy gets
        // the TTL (counted by the nodes' clocks).
        let (ttl, expires_at) = match mode {
            Disappearing::AfterSend(d) => {
                (Some(ms(d)), Some(inner.device_now().saturating_add(ms(d))))
            }
            _ => (None, None),
        };
        let content = Content::new(
            &mut rand::rng(),
            now,
            ContentBody::Text {
                text: text.to_owned(),
            },
        );
        let rec = MsgRecord {
            msg: ChatMessage {
                id: MessageId(content.id),
                peer: *to,
                outgoing: true,
                text: text.to_owned(),
                sent_at: now,
                received_at: now,
                state: MessageState::Queued,
                expires_at,
                request: false,
            },
            hash: None,
        };
        // The message first, then its outbox item: the sender drops items
        // whose message is gone, and must not see this one before it exists.
        s.insert_message(&rec, false)?;
        if let Err(e) = inner.enqueue_content(to, &content, ttl) {
            if let Some((key, rec)) = s.message(&content.id)? {
                s.remove_message(&key, &rec)?;
            }
            return Err(e);
        }
        s.touch(to, now)?;
        if !s.contacts.contains_key(to.as_bytes())? {
            s.put(
                &s.contacts,
                to.as_bytes(),
                &ContactRecord {
                    nickname: None,
                    added_at: now,
                },
            )?;
            inner.enqueue_profile(to)?;
        }
        self.flush().await?;
        Ok(MessageId(content.id))
    }

    /// Waits until the message reaches `at_least` or `timeout` passes.
    pub async fn wait_state(
        &self,
        id: &MessageId,
        at_least: MessageState,
        timeout: Duration,
    ) -> Result<MessageState, ChatError> {
        let mut events = self.subscribe();
        let current = || -> Result<MessageState, ChatError> {
            let s = &self.inner.store;
            s.message(&id.0)?
                .map(|(_, r)| r.msg.state)
                .ok_or(ChatError::UnknownMessage)
        };
        let waited = tokio::time::timeout(timeout, async {
            loop {
                let state = current()?;
                if state >= at_least {
                    return Ok(state);
                }
                // Any event (or a lag) is a reason to look again.
                if let Err(tokio::sync::broadcast::error::RecvError::Closed) = events.recv().await {
                    return Err(ChatError::NotConnected);
                }
            }
        })
        .await;
        match waited {
            Ok(r) => r,
            Err(_) => {
                let state = current()?;
                let reason = match (state, self.inner.queued_error(&id.0)) {
                    (MessageState::Queued, Some(e)) => e,
                    (MessageState::Queued, None) if self.inner.client().is_none() => {
                        "not connected to the network".into()
                    }
                    (MessageState::Queued, None)
                        if !matches!(self.path_status(), crate::PathStatus::Ready { .. }) =>
                    {
                        "no onion path to the network yet".into()
                    }
                    (MessageState::Queued, None) => {
                        "no answer from the recipient's swarm yet".into()
                    }
                    (s, _) => {
                        format!("it is {s}; the recipient's device has not confirmed more yet")
                    }
                };
                Err(ChatError::NotSent { reason })
            }
        }
    }

    /// Conversations with contacts (and peers written to), newest activity
    /// first. Pending requests are listed by [`Messenger::requests`] instead.
    pub fn conversations(&self) -> Result<Vec<ConversationSummary>, ChatError> {
        let s = &self.inner.store;
        let mut peers: BTreeSet<AccountId> = BTreeSet::new();
        for c in self.contacts()? {
            peers.insert(c.id);
        }
        for item in s.convs.iter() {
            let (k, _) = item?;
            if let Some(p) = super::records::peer_of_key(&k)
                && !s.requests.contains_key(&k)?
                && !s.blocked.contains_key(p.as_bytes())?
            {
                peers.insert(p);
            }
        }
        let contacts = self.contacts()?;
        let mut out = Vec::new();
        for peer in peers {
            let msgs = s.conversation(&peer)?;
            let conv = s.conv(&peer)?;
            let contact = contacts.iter().find(|c| c.id == peer);
            // A declined stranger leaves a record (name, activity) but no
            // conversation.
            if msgs.is_empty() && contact.is_none() {
                continue;
            }
            let title = contact.map_or_else(
                || conv.display_name.clone().unwrap_or_else(|| short_id(&peer)),
                |c| c.title(),
            );
            let activity = conv.last_activity.max(contact.map_or(0, |c| c.added_at));
            out.push((
                activity,
                ConversationSummary {
                    peer,
                    title,
                    unread: msgs
                        .iter()
                        .filter(|(_, r)| !r.msg.outgoing && r.msg.state < MessageState::Read)
                        .count(),
                    last: msgs.last().map(|(_, r)| r.msg.clone()),
                    disappearing: conv.mode,
                    verified: self.verification(&peer)?.status,
                },
            ));
        }
        out.sort_by_key(|c| std::cmp::Reverse(c.0));
        Ok(out.into_iter().map(|(_, c)| c).collect())
    }

    /// The last `limit` messages of a conversation, oldest first.
    pub fn messages(&self, peer: &AccountId, limit: usize) -> Result<Vec<ChatMessage>, ChatError> {
        let msgs = self.inner.store.conversation(peer)?;
        let skip = msgs.len().saturating_sub(limit);
        Ok(msgs.into_iter().skip(skip).map(|(_, r)| r.msg).collect())
    }

    /// Incoming messages (contacts and requests) not yet marked seen with
    /// [`Messenger::mark_seen`], oldest first. Reading does not mark them: a
    /// front end marks what it has shown, so a failure half-way through
    /// showing them (a closed pipe, a crash) loses nothing.
    pub fn unseen(&self) -> Result<Vec<ChatMessage>, ChatError> {
        let s = &self.inner.store;
        let mut out = Vec::new();
        for item in s.unseen.iter() {
            let (_, key) = item?;
            if let Some(rec) = s.get::<MsgRecord>(&s.messages, &key)? {
                out.push(rec.msg);
            }
        }
        Ok(out)
    }

    /// Marks `ids` seen: [`Messenger::unseen`] no longer returns them.
    pub fn mark_seen(&self, ids: &[MessageId]) -> Result<(), ChatError> {
        let s = &self.inner.store;
        let ids: BTreeSet<&MessageId> = ids.iter().collect();
        for item in s.unseen.iter() {
            let (k, key) = item?;
            let seen = match s.get::<MsgRecord>(&s.messages, &key)? {
                Some(rec) => ids.contains(&rec.msg.id),
                // Its message is gone (deleted or expired): nothing to show.
                None => true,
            };
            if seen {
                s.unseen.remove(k)?;
            }
        }
        s.flush()
    }

    /// [`Messenger::unseen`], all of it marked seen at once: for a front end
    /// that keeps what it reads (the `sotto` app prints and marks instead).
    pub fn take_unseen(&self) -> Result<Vec<ChatMessage>, ChatError> {
        let out = self.unseen()?;
        let ids: Vec<MessageId> = out.iter().map(|m| m.id).collect();
        self.mark_seen(&ids)?;
        Ok(out)
    }

    /// Marks a conversation read: read receipts (if enabled), and after-read
    /// timers start here and on the copy the swarm keeps.
    pub async fn mark_read(&self, peer: &AccountId) -> Result<(), ChatError> {
        let inner = &self.inner;
        let who = *peer;
        let (expiry, hashes) = self.blocking(move |i| i.mark_read_local(&who)).await?;
        if let (Some(at), Some(client)) = (expiry, inner.client()) {
            // Shortening the swarm's copies is a network round trip: done in
            // the background so marking read stays instant. The local copy
            // already follows the timer, and the swarm's copy expires by its
            // TTL anyway, so a failure is logged, not fatal.
            let inner = inner.clone();
            tokio::spawn(async move {
                let network = inner.network();
                for chunk in hashes.chunks(MAX_HASHES_PER_REQUEST) {
                    let make = |now| match ExpireRequest::signed(
                        &inner.key,
                        &network,
                        Namespace::INBOX,
                        chunk.to_vec(),
                        at,
                        now,
                    ) {
                        Ok(r) => Request::Expire(r),
                        Err(_) => Request::Ping,
                    };
                    if let Err(e) = client.swarm_request(&inner.id, make).await {
                        tracing::warn!("could not shorten the stored copies' expiry: {e}");
                    }
                }
            });
        }
        Ok(())
    }

    /// Tells the peer typing started or stopped (nothing if disabled).
    pub async fn set_typing(&self, peer: &AccountId, typing: bool) -> Result<(), ChatError> {
        if !self.settings().typing_indicators {
            return Ok(());
        }
        // Typing is stale within seconds: the shortest TTL a node takes.
        self.inner.enqueue(
            peer,
            ContentBody::Typing { started: typing },
            Some(sotto_protocol::constants::MIN_TTL_MS),
        )?;
        Ok(())
    }

    /// Deletes one of this account's own messages on both ends.
    pub async fn delete_for_everyone(&self, id: &MessageId) -> Result<(), ChatError> {
        let inner = &self.inner;
        let s = &inner.store;
        let Some((key, rec)) = s.message(&id.0)? else {
            return Err(ChatError::UnknownMessage);
        };
        if !rec.msg.outgoing {
            return Err(ChatError::UnknownMessage);
        }
        inner.enqueue(
            &rec.msg.peer,
            ContentBody::DeleteForEveryone { ids: vec![id.0] },
            None,
        )?;
        s.remove_message(&key, &rec)?;
        inner.emit(ChatEvent::Deleted {
            id: *id,
            peer: rec.msg.peer,
        });
        self.flush().await
    }

    /// Sets the conversation's disappearing timer and tells the peer.
    pub async fn set_disappearing(
        &self,
        peer: &AccountId,
        mode: Disappearing,
    ) -> Result<(), ChatError> {
        let body = ContentBody::DisappearingTimer {
            mode: mode.to_wire(),
        };
        body.validate()
            .map_err(|e| ChatError::Invalid(e.to_string()))?;
        let s = &self.inner.store;
        self.inner.enqueue(peer, body, None)?;
        let mut conv = s.conv(peer)?;
        conv.mode = mode;
        s.put(&s.convs, peer.as_bytes(), &conv)?;
        self.flush().await
    }

    /// The conversation's disappearing timer.
    pub fn disappearing(&self, peer: &AccountId) -> Result<Disappearing, ChatError> {
        Ok(self.inner.store.conv(peer)?.mode)
    }
}

impl super::Inner {
    /// The local part of `mark_read`: states, timers, receipts. Returns the
    /// after-read expiry for the swarm's copies (corrected clock) and the
    /// swarm hashes it applies to; the local timers run on the device clock.
    fn mark_read_local(
        &self,
        peer: &AccountId,
    ) -> Result<(Option<u64>, Vec<MessageHash>), ChatError> {
        let s = &self.store;
        let now = self.now();
        let mode = s.conv(peer)?.mode;
        let mut ids: Vec<ContentId> = Vec::new();
        let mut hashes = Vec::new();
        let mut expiry = None;
        for (key, rec) in s.conversation(peer)? {
            if rec.msg.outgoing || rec.msg.state >= MessageState::Read || rec.msg.request {
                continue;
            }
            let mut new = rec.clone();
            new.msg.state = MessageState::Read;
            if let Disappearing::AfterRead(d) = mode {
                let local = self.device_now().saturating_add(ms(d));
                new.msg.expires_at = Some(rec.msg.expires_at.map_or(local, |e| e.min(local)));
                expiry = Some(now.saturating_add(ms(d)));
                hashes.extend(rec.hash);
            }
            s.update_message(&key, &rec, &new)?;
            ids.push(rec.msg.id.0);
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
