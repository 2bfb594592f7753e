//! Read receipts and typing notices in groups: off by default, switched on
//! per group ([`GroupPrefs`]).
//!
//! In a 1:1 conversation a receipt is one small message; in a group every
//! notice is stored once and read by every member, so a group of 1,000 where
//! each reads each message would store a thousand receipts per message and
//! have every member read them all. So both stay off unless the user turns
//! them on for a group (a small group of friends, say), and, as in Signal,
//! an account that does not send them does not see others' either.
//!
//! - Typing: [`Messenger::set_group_typing`] stores a `Typing` content for
//!   one minute (nothing is kept); a member that has typing on for the group
//!   gets [`ChatEvent::GroupTyping`].
//! - Receipts: showing group messages ([`Messenger::mark_group_messages_read`])
//!   sends one `Receipt { Read }` per group naming what was shown. A member
//!   with receipts on records, for its own messages, who read them
//!   (`group_reads` tree: message id ‖ reader); an own message is `Read` once
//!   every other current member has read it ([`Messenger::group_read_by`]).

use serde::{Deserialize, Serialize};
use sotto_protocol::AccountId;
use sotto_protocol::envelope::{Content, ContentBody, ContentId, ReceiptKind};

use super::group_chat::{GroupMessage, Pending};
use super::{ChatError, ChatEvent, Inner, MessageId, MessageState, Messenger};
use crate::group::GroupId;
use crate::group::net::MESSAGE_TTL_MS;

/// How long a typing notice is kept in the group's swarm.
const TYPING_TTL_MS: u64 = 60_000;

/// What a group sends and shows besides texts; both off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupPrefs {
    /// Send read receipts to the group, and see who read own messages.
    pub receipts: bool,
    /// Send typing notices to the group, and see others'.
    pub typing: bool,
}

fn prefs_key(group: &GroupId) -> Vec<u8> {
    let mut key = b"group_prefs/".to_vec();
    key.extend_from_slice(&group.0);
    key
}

impl Inner {
    pub(super) fn group_prefs(&self, group: &GroupId) -> Result<GroupPrefs, ChatError> {
        let s = &self.store;
        Ok(s.get(&s.meta, &prefs_key(group))?.unwrap_or_default())
    }

    /// Encrypts `body` for the group and queues it for its swarm (not
    /// recorded as a message).
    fn send_group_control(
        &self,
        group: &GroupId,
        body: ContentBody,
        ttl_ms: u64,
    ) -> Result<(), ChatError> {
        let now = self.now();
        let content = Content::new(&mut rand::rng(), now, body);
        let bytes = content
            .to_bytes()
            .map_err(|e| ChatError::Invalid(e.to_string()))?;
        let (bytes, epoch) = self.with_groups(|g| {
            let bytes = g.send(group, &bytes, now)?;
            Ok((bytes, *g.epoch_account(group)?.entropy()))
        })?;
        self.change_pending(|p| {
            p.push(Pending {
                group: *group,
                epoch,
                bytes,
                ttl_ms,
                handshake: false,
                message: None,
                welcome_to: None,
            })
        })?;
        self.group_wake.notify_one();
        Ok(())
    }

    /// Sends a read receipt for `ids` to `group` if receipts are on there.
    pub(super) fn send_group_receipt(
        &self,
        group: &GroupId,
        ids: Vec<ContentId>,
    ) -> Result<(), ChatError> {
        if ids.is_empty() || !self.group_prefs(group)?.receipts {
            return Ok(());
        }
        let limit = sotto_protocol::constants::MAX_CONTENT_IDS;
        for part in ids.chunks(limit) {
            let body = ContentBody::Receipt {
                kind: ReceiptKind::Read,
                ids: part.to_vec(),
            };
            self.send_group_control(group, body, MESSAGE_TTL_MS)?;
        }
        Ok(())
    }

    /// A member's content other than a text; `false` if it is not one a
    /// group carries (counted by the caller).
    pub(super) fn group_control(
        &self,
        group: GroupId,
        sender: AccountId,
        body: ContentBody,
    ) -> Result<bool, ChatError> {
        match body {
            ContentBody::Typing { started } => {
                if self.group_prefs(&group)?.typing {
                    self.emit(ChatEvent::GroupTyping {
                        group,
                        member: sender,
                        typing: started,
                    });
                }
                Ok(true)
            }
            ContentBody::Receipt {
                kind: ReceiptKind::Read,
                ids,
            } => {
                if self.group_prefs(&group)?.receipts {
                    self.record_group_reads(group, sender, &ids)?;
                }
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Notes that `reader` read the own messages `ids` of `group`; one read
    /// by every other current member becomes `Read`.
    fn record_group_reads(
        &self,
        group: GroupId,
        reader: AccountId,
        ids: &[ContentId],
    ) -> Result<(), ChatError> {
        let s = &self.store;
        let own: Vec<(sled::IVec, GroupMessage)> = s
            .scan::<GroupMessage>(&s.group_msgs, &group.0)?
            .into_iter()
            .filter(|(_, m)| m.outgoing && ids.contains(&m.id.0))
            .collect();
        if own.is_empty() {
            return Ok(());
        }
        let members = self.read_groups(|g| Ok(g.info(&group)?.members))?;
        for (key, message) in own {
            let mut read = read_key(&message.id);
            read.extend_from_slice(reader.as_bytes());
            s.group_reads.insert(read, &[])?;
            let readers = readers(s, &message.id)?;
            let all = members
                .iter()
                .filter(|m| **m != self.id)
                .all(|m| readers.contains(m));
            if all {
                self.set_group_state(&key, MessageState::Read)?;
            } else {
                self.emit(ChatEvent::GroupStateChanged {
                    group,
                    id: message.id,
                    state: message.state,
                });
            }
        }
        Ok(())
    }
}

fn read_key(id: &MessageId) -> Vec<u8> {
    id.0.as_bytes().to_vec()
}

fn readers(s: &super::store::Store, id: &MessageId) -> Result<Vec<AccountId>, ChatError> {
    let prefix = read_key(id);
    let mut out = Vec::new();
    for item in s.group_reads.scan_prefix(&prefix) {
        let (k, _) = item?;
        if let Some(bytes) = k.get(prefix.len()..)
            && let Ok(bytes) = <[u8; 32]>::try_from(bytes)
            && let Ok(a) = AccountId::from_bytes(bytes)
        {
            out.push(a);
        }
    }
    Ok(out)
}

impl Messenger {
    /// The group's receipt and typing switches.
    pub fn group_prefs(&self, group: &GroupId) -> Result<GroupPrefs, ChatError> {
        self.inner.group_prefs(group)
    }

    /// Sets the group's receipt and typing switches.
    pub fn set_group_prefs(&self, group: &GroupId, prefs: GroupPrefs) -> Result<(), ChatError> {
        self.groups()?
            .iter()
            .find(|g| g.id == *group)
            .ok_or_else(|| ChatError::UnknownGroup(group.to_hex()))?;
        let s = &self.inner.store;
        s.put(&s.meta, &prefs_key(group), &prefs)?;
        s.flush()
    }

    /// Tells the group that this account started or stopped typing, if
    /// typing notices are on for it (else nothing is sent).
    pub fn set_group_typing(&self, group: &GroupId, typing: bool) -> Result<(), ChatError> {
        if !self.inner.group_prefs(group)?.typing {
            return Ok(());
        }
        self.inner.send_group_control(
            group,
            ContentBody::Typing { started: typing },
            TYPING_TTL_MS,
        )
    }

    /// Who has read the own group message `id` (with receipts on).
    pub fn group_read_by(&self, id: &MessageId) -> Result<Vec<AccountId>, ChatError> {
        readers(&self.inner.store, id)
    }
}
