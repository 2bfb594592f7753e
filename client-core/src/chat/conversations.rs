//! Conversations: sending, reading, receipts, typing, deleting and timers.

use std::collections::BTreeSet;
use std::time::Duration;

use sotto_protocol::AccountId;
use sotto_protocol::envelope::{Content, ContentBody};

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
        let (ttl, expires_at) = inner.send_timer(to)?;
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
        inner.after_send(to, now)?;
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
                if state == MessageState::Queued
                    && let Some(w) = self.wrong_network()
                {
                    // Through these bootstrap nodes it never will be sent.
                    return Err(ChatError::WrongNetwork(w));
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
                    (MessageState::Queued, None) if self.bootstrap_problem().is_some() => self
                        .bootstrap_problem()
                        .map(|p| p.to_string())
                        .unwrap_or_default(),
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

    /// One message by id, if this device holds it.
    pub fn message(&self, id: &MessageId) -> Result<Option<ChatMessage>, ChatError> {
        Ok(self.inner.store.message(&id.0)?.map(|(_, r)| r.msg))
    }

    /// How many contents (messages, receipts, notices) wait in the outbox
    /// to be sent.
    pub fn pending_sends(&self) -> usize {
        self.inner.store.outbox.len()
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
        let now = self.inner.now();
        let content = Content::new(&mut rand::rng(), now, body);
        self.inner.enqueue_content(peer, &content, None)?;
        // Stamped like the peer's changes: whichever is later wins on both
        // sides (metadata.rs).
        self.inner.newer_change(
            super::metadata::Setting::Timer,
            peer,
            (content.sent_at, content.id),
            now,
        )?;
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
    /// The swarm TTL and the local expiry of a message sent to `to` now,
    /// by the conversation's disappearing timer. The local timer runs on the
    /// device clock; the swarm's copy gets the TTL (counted by the nodes'
    /// clocks).
    pub(crate) fn send_timer(
        &self,
        to: &AccountId,
    ) -> Result<(Option<u64>, Option<u64>), ChatError> {
        Ok(match self.store.conv(to)?.mode {
            Disappearing::AfterSend(d) => {
                (Some(ms(d)), Some(self.device_now().saturating_add(ms(d))))
            }
            _ => (None, None),
        })
    }

    /// After a message to `to` was queued at `now`: notes the activity, and
    /// makes `to` a contact if they were not (the user chose to talk to
    /// them), telling them this account's profile.
    pub(crate) fn after_send(&self, to: &AccountId, now: u64) -> Result<(), ChatError> {
        let s = &self.store;
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
            self.enqueue_profile(to)?;
            self.enqueue_token(to)?;
        }
        Ok(())
    }
}
