//! What a user does to a group through the [`Messenger`]: send a text, add,
//! remove, rename, promote, leave, and read the conversation. Each change is
//! a commit queued for the group's swarm (`group_chat.rs` stores it and
//! settles the epoch).

use sotto_protocol::AccountId;
use sotto_protocol::envelope::{Content, ContentBody};

use super::group_chat::{GroupMessage, MAX_PENDING, Pending};
use super::{ChatError, MessageId, MessageState, Messenger};
use crate::group::net::MESSAGE_TTL_MS;
use crate::group::{GroupId, Outgoing};

impl Messenger {
    /// Sends `text` to the group: stored at once as an outgoing message, and
    /// in the group's swarm by the group task (retried until it is; its state
    /// becomes [`MessageState::Sent`] then).
    pub fn send_group_text(&self, group: &GroupId, text: &str) -> Result<MessageId, ChatError> {
        let inner = &self.inner;
        if text.trim().is_empty() {
            return Err(ChatError::Invalid("the message is empty".into()));
        }
        if inner.pending()?.len() >= MAX_PENDING {
            return Err(ChatError::NotSent {
                reason: format!("{MAX_PENDING} group messages already wait to be sent"),
            });
        }
        let now = inner.now();
        let content = Content::new(
            &mut rand::rng(),
            now,
            ContentBody::Text {
                text: text.to_owned(),
            },
        );
        let body = content
            .to_bytes()
            .map_err(|e| ChatError::Invalid(e.to_string()))?;
        let (bytes, epoch) = inner.with_groups(|g| {
            let bytes = g.send(group, &body, now)?;
            Ok((bytes, *g.epoch_account(group)?.entropy()))
        })?;
        // Said now rather than dropped later: it would not fit one stored
        // message (the key it used is skipped over by the readers).
        if bytes.len() > crate::group::wrap::MAX_WRAPPED {
            return Err(ChatError::TooLong {
                len: bytes.len(),
                max: crate::group::wrap::MAX_WRAPPED,
            });
        }
        let id = MessageId(content.id);
        let key = inner.record_group_message(&GroupMessage {
            id,
            group: *group,
            sender: inner.id,
            text: text.to_owned(),
            sent_at: now,
            received_at: now,
            outgoing: true,
            state: MessageState::Queued,
        })?;
        inner.change_pending(|p| {
            p.push(Pending {
                group: *group,
                epoch,
                bytes,
                ttl_ms: MESSAGE_TTL_MS,
                handshake: false,
                message: Some(key),
                welcome_to: None,
            })
        })?;
        inner.group_wake.notify_one();
        Ok(id)
    }

    /// Queues what a group operation made ([`Inner::queue_group_items`]).
    fn queue_group_output(
        &self,
        group: &GroupId,
        out: Vec<Outgoing>,
        epoch: [u8; 16],
    ) -> Result<(), ChatError> {
        self.inner.queue_group_items(group, out, epoch)
    }

    /// Adds `members` to the group (admins only): their key packages are
    /// fetched, and the commit goes to the group; each gets its invitation
    /// once the commit has won its epoch.
    pub async fn add_to_group(
        &self,
        group: &GroupId,
        members: &[AccountId],
    ) -> Result<(), ChatError> {
        let client = self.inner.client().ok_or(ChatError::NotConnected)?;
        let mut packages = Vec::with_capacity(members.len());
        for member in members {
            let package = crate::group::publish::fetch_key_package(&client, member)
                .await
                .map_err(|e| ChatError::Session(format!("{}: {e}", member.to_text())))?;
            packages.push(package);
        }
        let now = client.now();
        let (out, epoch) = self.inner.with_groups(|g| {
            let epoch = *g.epoch_account(group)?.entropy();
            Ok((g.add(group, &packages, now)?, epoch))
        })?;
        self.queue_group_output(group, out, epoch)
    }

    /// Removes `members` from the group (admins only).
    pub fn remove_from_group(
        &self,
        group: &GroupId,
        members: &[AccountId],
    ) -> Result<(), ChatError> {
        let now = self.inner.now();
        let (out, epoch) = self.inner.with_groups(|g| {
            let epoch = *g.epoch_account(group)?.entropy();
            Ok((g.remove(group, members, now)?, epoch))
        })?;
        self.queue_group_output(group, out, epoch)
    }

    /// Renames the group (admins only).
    pub fn rename_group(&self, group: &GroupId, name: &str) -> Result<(), ChatError> {
        let now = self.inner.now();
        let (out, epoch) = self.inner.with_groups(|g| {
            let epoch = *g.epoch_account(group)?.entropy();
            Ok((g.rename(group, name, now)?, epoch))
        })?;
        self.queue_group_output(group, out, epoch)
    }

    /// Makes `member` an admin of the group (admins only).
    pub fn promote_in_group(&self, group: &GroupId, member: AccountId) -> Result<(), ChatError> {
        let now = self.inner.now();
        let (out, epoch) = self.inner.with_groups(|g| {
            let epoch = *g.epoch_account(group)?.entropy();
            Ok((g.promote(group, member, now)?, epoch))
        })?;
        self.queue_group_output(group, out, epoch)
    }

    /// Leaves the group: the request goes to the group, an admin commits it.
    pub fn leave_group(&self, group: &GroupId) -> Result<(), ChatError> {
        let now = self.inner.now();
        let (bytes, epoch) = self.inner.with_groups(|g| {
            let epoch = *g.epoch_account(group)?.entropy();
            Ok((g.leave(group, now)?, epoch))
        })?;
        self.queue_group_output(group, vec![Outgoing::Group(bytes)], epoch)
    }

    /// The last `limit` messages of a group conversation, oldest first.
    pub fn group_messages(
        &self,
        group: &GroupId,
        limit: usize,
    ) -> Result<Vec<GroupMessage>, ChatError> {
        let mut out = self.inner.newest_group_messages(group, |_| false, limit)?;
        out.reverse();
        Ok(out)
    }
}
