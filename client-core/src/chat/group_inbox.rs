//! What front ends show of groups: which group a name means, the group
//! messages no front end has shown yet, the invitations of strangers, and
//! waiting for an own message or change to reach the group's swarm.
//!
//! New group messages follow the notion of `read.rs`: a message is new until
//! a front end has shown it, and showing it is reading it: it moves out of
//! [`Messenger::unseen_group_messages`], and a read receipt goes to the group
//! only where receipts are on (`group_extras.rs`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sotto_protocol::AccountId;

use super::{ChatError, ChatEvent, ChatMessage, GroupMessage, Inner, MessageId, MessageState};
use super::{Messenger, group_chat};
use crate::group::{GroupId, GroupInfo};

/// Invitations from strangers kept at most; more are refused and counted.
pub const MAX_INVITES: usize = 32;
/// Invitations kept per stranger.
pub const MAX_INVITES_PER_SENDER: usize = 2;
/// How long an invitation is kept (its Welcome's handshakes are kept no
/// longer).
pub const INVITE_KEPT_MS: u64 = 30 * sotto_protocol::time::DAY_MS;
/// Hex digits a group id may be shortened to when naming a group.
pub const MIN_ID_PREFIX: usize = 8;

/// A group invitation from someone who is not a contact: a message request
/// for a group. Nothing of the group is joined or read until it is accepted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInvite {
    /// Who invited.
    pub from: AccountId,
    /// A short id for it (16 hex digits of the Welcome's hash).
    pub id: String,
    /// When this device stored it (unix ms).
    pub received_at: u64,
    /// The MLS Welcome, or a reference to it until the group task has
    /// fetched it (`group_large.rs`).
    pub(crate) welcome: Vec<u8>,
    /// A contact's invitation waiting only for its Welcome to be fetched:
    /// joined then, never listed.
    pub(crate) auto: bool,
}

/// What `inbox` shows: new messages of conversations and of groups.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewMessages {
    /// From contacts and requests ([`Messenger::unseen`]).
    pub direct: Vec<ChatMessage>,
    /// From groups ([`Messenger::unseen_group_messages`]).
    pub groups: Vec<GroupMessage>,
}

impl NewMessages {
    /// Nothing new.
    pub fn is_empty(&self) -> bool {
        self.direct.is_empty() && self.groups.is_empty()
    }
}

impl Inner {
    /// Keeps an invitation (bounded per sender and in all): a stranger's,
    /// or (`auto`) a contact's whose Welcome must be fetched before it is
    /// joined. `false` when it was refused for room or was there already.
    pub(super) fn keep_invite(
        &self,
        from: AccountId,
        welcome: Vec<u8>,
        auto: bool,
    ) -> Result<bool, ChatError> {
        let s = &self.store;
        let hash = blake3::hash(&welcome);
        let mut key = from.as_bytes().to_vec();
        key.extend_from_slice(&hash.as_bytes()[..8]);
        if s.group_invites.contains_key(&key)? {
            return Ok(false);
        }
        // Invitations older than a Welcome can be useful go, so strangers
        // cannot hold the places for good; contacts' (auto) ones have their
        // own room.
        let now = self.now();
        let mut same_kind = 0;
        let mut from_them = 0;
        for (k, i) in s.scan::<GroupInvite>(&s.group_invites, &[])? {
            if now.saturating_sub(i.received_at) > INVITE_KEPT_MS {
                s.group_invites.remove(k)?;
                continue;
            }
            if i.auto == auto {
                same_kind += 1;
                from_them += usize::from(i.from == from);
            }
        }
        if (!auto && from_them >= MAX_INVITES_PER_SENDER) || same_kind >= MAX_INVITES {
            self.count(|c| c.refused += 1);
            return Ok(false);
        }
        let invite = GroupInvite {
            from,
            id: hash.to_hex()[..16].to_owned(),
            received_at: self.now(),
            welcome,
            auto,
        };
        s.put(&s.group_invites, &key, &invite)?;
        s.flush()?;
        self.group_wake.notify_one();
        if !auto {
            self.emit(ChatEvent::GroupInvited { from });
        }
        Ok(true)
    }
}

impl Messenger {
    /// The group `which` names: its name (any case), its id in hex, or at
    /// least [`MIN_ID_PREFIX`] leading hex digits of it.
    pub fn group(&self, which: &str) -> Result<GroupInfo, ChatError> {
        let wanted = which.trim();
        let lower = wanted.to_lowercase();
        let groups = self.groups()?;
        let is_hex = wanted.len() >= MIN_ID_PREFIX && wanted.chars().all(|c| c.is_ascii_hexdigit());
        let by_id: Vec<&GroupInfo> = groups
            .iter()
            .filter(|g| is_hex && g.id.to_hex().starts_with(&lower))
            .collect();
        let by_name: Vec<&GroupInfo> = groups
            .iter()
            .filter(|g| g.meta.name.to_lowercase() == lower)
            .collect();
        // A name and an id prefix that point at different groups (a group
        // whose id starts like a hex-looking name) are refused, never guessed.
        match (by_name.as_slice(), by_id.as_slice()) {
            ([one], []) | ([], [one]) => Ok((*one).clone()),
            ([a], [b]) if a.id == b.id => Ok((*a).clone()),
            ([], []) => Err(ChatError::UnknownGroup(which.to_owned())),
            _ => Err(ChatError::Ambiguous(which.to_owned())),
        }
    }

    /// New incoming group messages, oldest first (not marked read: a front
    /// end marks what it showed with [`Messenger::mark_group_messages_read`]).
    pub fn unseen_group_messages(&self) -> Result<Vec<GroupMessage>, ChatError> {
        let s = &self.inner.store;
        let mut out = Vec::new();
        for item in s.group_unseen.iter() {
            let (_, key) = item?;
            if let Some(m) = s.get::<GroupMessage>(&s.group_msgs, &key)? {
                out.push(m);
            }
        }
        Ok(out)
    }

    /// Marks the new group messages `ids` read (shown); others stay new.
    pub async fn mark_group_messages_read(&self, ids: &[MessageId]) -> Result<(), ChatError> {
        let ids = ids.to_vec();
        self.blocking(move |i| {
            let s = &i.store;
            let mut read: std::collections::BTreeMap<GroupId, Vec<_>> = Default::default();
            for item in s.group_unseen.iter() {
                let (seq, key) = item?;
                let Some(m) = s.get::<GroupMessage>(&s.group_msgs, &key)? else {
                    // Its message is gone: nothing to show.
                    s.group_unseen.remove(seq)?;
                    continue;
                };
                if ids.contains(&m.id) {
                    i.set_group_state(&key, MessageState::Read)?;
                    s.group_unseen.remove(seq)?;
                    read.entry(m.group).or_default().push(m.id.0);
                }
            }
            s.flush()?;
            // Receipts go where they are on; a group left since is skipped.
            for (group, ids) in read {
                match i.send_group_receipt(&group, ids) {
                    Ok(()) | Err(ChatError::Invalid(_)) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })
        .await
    }

    /// Marks every message of `group` read (the user opened it).
    pub async fn mark_group_read(&self, group: &GroupId) -> Result<(), ChatError> {
        let ids: Vec<MessageId> = self
            .unseen_group_messages()?
            .into_iter()
            .filter(|m| m.group == *group)
            .map(|m| m.id)
            .collect();
        self.mark_group_messages_read(&ids).await
    }

    /// Both kinds of new messages.
    pub fn new_messages(&self) -> Result<NewMessages, ChatError> {
        Ok(NewMessages {
            direct: self.unseen()?,
            groups: self.unseen_group_messages()?,
        })
    }

    /// [`Messenger::wait_unseen`] for both kinds: reads the groups at once
    /// when connected, then waits up to `wait` for new messages of
    /// conversations or groups and returns as soon as there are any.
    pub async fn wait_new_messages(&self, wait: Duration) -> Result<NewMessages, ChatError> {
        use tokio::sync::broadcast::error::RecvError;
        let mut events = self.subscribe();
        if self.inner.client().is_some()
            && let Err(e) = self.read_groups_now().await
        {
            tracing::debug!("reading the groups: {e}");
        }
        // What came before this call (the group task's own round) too.
        let groups = self.unseen_group_messages()?;
        if !groups.is_empty() {
            return Ok(NewMessages {
                direct: self.unseen()?,
                groups,
            });
        }
        let direct = self.wait_unseen(wait);
        tokio::pin!(direct);
        let mut listening = true;
        loop {
            tokio::select! {
                d = &mut direct => {
                    return Ok(NewMessages {
                        direct: d?,
                        groups: self.unseen_group_messages()?,
                    });
                }
                ev = events.recv(), if listening => match ev {
                    Ok(ChatEvent::GroupMessage(_)) | Err(RecvError::Lagged(_)) => {
                        let new = self.new_messages()?;
                        if !new.is_empty() {
                            return Ok(new);
                        }
                    }
                    Err(RecvError::Closed) => listening = false,
                    Ok(_) => {}
                },
            }
        }
    }

    /// Runs a round of the group task now: stores what waits, reads every
    /// group's swarm and settles what can settle. Needs a connection.
    pub async fn read_groups_now(&self) -> Result<(), ChatError> {
        let client = self.inner.client().ok_or(ChatError::NotConnected)?;
        group_chat::round_now(&self.inner, &client).await
    }

    /// Waits up to `wait` until the own group message `id` is in its
    /// group's swarm; its state then (`Queued` if the wait ran out).
    pub async fn wait_group_sent(
        &self,
        group: &GroupId,
        id: &MessageId,
        wait: Duration,
    ) -> Result<MessageState, ChatError> {
        let state = || -> Result<MessageState, ChatError> {
            let found = self
                .inner
                .newest_group_messages(group, |m| m.id == *id, usize::MAX)?
                .pop()
                .filter(|m| m.id == *id)
                .ok_or(ChatError::UnknownMessage)?;
            Ok(found.state)
        };
        self.wait_for(wait, || Ok(state()? >= MessageState::Sent))
            .await?;
        state()
    }

    /// Waits up to `wait` until nothing of `group` is waiting: its items are
    /// stored, no commit is settling, and the outbox (which carries its
    /// invitations) is empty. `true` if that came in time.
    pub async fn wait_group_settled(
        &self,
        group: &GroupId,
        wait: Duration,
    ) -> Result<bool, ChatError> {
        self.wait_for(wait, || {
            // A round in progress may be settling and about to queue
            // invitations: only a moment between rounds tells.
            let Ok(_between_rounds) = self.inner.group_round_lock.try_lock() else {
                return Ok(false);
            };
            let busy = self.inner.group_busy(group)?;
            Ok(!busy && self.pending_sends() == 0)
        })
        .await
    }

    /// Polls `done` every 100 ms (and on every event) until it holds or
    /// `wait` passes; whether it held.
    async fn wait_for(
        &self,
        wait: Duration,
        done: impl Fn() -> Result<bool, ChatError>,
    ) -> Result<bool, ChatError> {
        let mut events = self.subscribe();
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if done()? {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::select! {
                _ = events.recv() => {}
                _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    /// Invitations from strangers, oldest first.
    pub fn group_invites(&self) -> Result<Vec<GroupInvite>, ChatError> {
        let s = &self.inner.store;
        let mut out: Vec<GroupInvite> = s
            .scan::<GroupInvite>(&s.group_invites, &[])?
            .into_iter()
            .map(|(_, i)| i)
            .filter(|i| !i.auto)
            .collect();
        out.sort_by_key(|i| i.received_at);
        Ok(out)
    }

    /// Accepts the invitation `id` (as [`Messenger::group_invites`] lists
    /// it): the group is joined and the invitation gone.
    pub fn accept_group_invite(&self, id: &str) -> Result<GroupId, ChatError> {
        let (key, invite) = self.find_invite(id)?;
        if crate::group::large::is_reference(&invite.welcome) {
            return Err(ChatError::NotSent {
                reason: "this invitation is large and still being fetched: try again once connected for a moment".into(),
            });
        }
        let group = self.join_group(&invite.welcome)?;
        let s = &self.inner.store;
        s.group_invites.remove(key)?;
        s.flush()?;
        Ok(group)
    }

    /// Declines the invitation `id`: it is dropped, nothing is joined (the
    /// inviter is not told, as a declined group is not in Signal either).
    pub fn decline_group_invite(&self, id: &str) -> Result<AccountId, ChatError> {
        let (key, invite) = self.find_invite(id)?;
        let s = &self.inner.store;
        s.group_invites.remove(key)?;
        s.flush()?;
        Ok(invite.from)
    }

    fn find_invite(&self, id: &str) -> Result<(sled::IVec, GroupInvite), ChatError> {
        let s = &self.inner.store;
        let wanted = id.trim().to_lowercase();
        s.scan::<GroupInvite>(&s.group_invites, &[])?
            .into_iter()
            .find(|(_, i)| !i.auto && !wanted.is_empty() && i.id.starts_with(&wanted))
            .ok_or_else(|| ChatError::Invalid(format!("no group invitation {id:?}")))
    }
}
