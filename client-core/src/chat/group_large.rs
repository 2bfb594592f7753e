//! Large group items in the home ([`crate::group::large`]): a commit or
//! Welcome of a large group is stored as an attachment and a reference takes
//! its place, in the epoch account or in the invitation.
//!
//! - Storing: an item whose sealed form would not fit one stored message is
//!   uploaded first (chunks kept as long as the item, at most 14 days: a
//!   member away longer asks to rejoin, `group_rejoin.rs`), then its
//!   reference is stored in the epoch account.
//! - Reading: a reference read from an epoch account is fetched before the
//!   engine sees the item; one that cannot be fetched is counted and skipped
//!   (the chunks are gone, or a member stored a bad reference).
//! - Welcomes: one larger than [`MAX_INLINE_WELCOME`] waits in the pending
//!   list until the group task has uploaded it, and each new member gets an
//!   invitation holding the reference. A received reference waits in the
//!   invitations until the task has fetched it: a contact's is then joined,
//!   a stranger's waits for the user as any other.

use std::collections::VecDeque;
use std::sync::Arc;

use sotto_protocol::AccountKey;
use sotto_protocol::attachment::MAX_CHUNK_TTL_MS;
use sotto_protocol::envelope::ContentBody;

use super::group_chat::Pending;
use super::group_inbox::GroupInvite;
use super::{ChatError, ChatEvent, Inner};
use crate::attach::NetworkChunks;
use crate::group::large::{self, MAX_INLINE_WELCOME};
use crate::group::net::{self, Item};
use crate::group::wrap::MAX_WRAPPED;
use crate::group::{GroupError, GroupId};
use crate::{AccountId, ClientError};

/// References remembered as fetched (a member's cursor at a second swarm
/// member brings the same items again).
const FETCHED_MEMORY: usize = 256;

/// Why a pending item was not stored.
pub(super) enum StoreFailure {
    /// It never can be (too large, refused by the nodes): dropped, counted.
    Drop(String),
    /// It may be next round (the network).
    Retry(String),
}

impl Inner {
    /// Sends the Welcome `bytes` to `to`: inside an invitation when it fits,
    /// else by reference once the group task has uploaded it.
    pub(super) fn send_welcome(
        &self,
        group: GroupId,
        to: Vec<AccountId>,
        bytes: Vec<u8>,
    ) -> Result<(), ChatError> {
        if bytes.len() <= MAX_INLINE_WELCOME {
            for peer in &to {
                self.enqueue(
                    peer,
                    ContentBody::GroupInvite {
                        welcome: bytes.clone(),
                    },
                    None,
                )?;
            }
            self.outbox_wake.notify_one();
            return Ok(());
        }
        self.change_pending(|p| {
            p.push(Pending {
                group,
                epoch: [0; 16],
                bytes,
                ttl_ms: MAX_CHUNK_TTL_MS,
                handshake: false,
                message: None,
                welcome_to: Some(to),
            })
        })?;
        self.group_wake.notify_one();
        Ok(())
    }

    /// Stores one pending item: in its epoch account (by reference when too
    /// large), or, for a large Welcome, as an attachment whose reference goes
    /// to each new member.
    pub(super) async fn store_item(
        &self,
        client: &Arc<crate::Client>,
        item: &Pending,
    ) -> Result<(), StoreFailure> {
        let put_failed = |e: GroupError| match e {
            GroupError::TooLarge => StoreFailure::Drop(e.to_string()),
            e => StoreFailure::Retry(e.to_string()),
        };
        let chunks = NetworkChunks::with_ttl(client.clone(), item.ttl_ms);
        if let Some(to) = &item.welcome_to {
            let reference = large::put(&chunks, &item.bytes).await.map_err(put_failed)?;
            for peer in to {
                self.enqueue(
                    peer,
                    ContentBody::GroupInvite {
                        welcome: reference.clone(),
                    },
                    None,
                )
                .map_err(|e| StoreFailure::Retry(e.to_string()))?;
            }
            self.outbox_wake.notify_one();
            return Ok(());
        }
        let epoch = AccountKey::from_entropy(item.epoch);
        let payload = if item.bytes.len() > MAX_WRAPPED {
            large::put(&chunks, &item.bytes).await.map_err(put_failed)?
        } else {
            item.bytes.clone()
        };
        match net::store(client, &self.network(), &epoch, &payload, item.ttl_ms).await {
            Ok(_) => Ok(()),
            Err(e @ (ClientError::BadRequest(_) | ClientError::Refused(_))) => {
                Err(StoreFailure::Drop(e.to_string()))
            }
            Err(e) => Err(StoreFailure::Retry(e.to_string())),
        }
    }

    /// Replaces each reference among `items` by the item it names; one that
    /// cannot be fetched is counted and left out, one fetched lately too.
    pub(super) async fn resolve_large(
        &self,
        client: &Arc<crate::Client>,
        items: &mut Vec<Item>,
        fetched: &mut VecDeque<[u8; 32]>,
    ) {
        if !items.iter().any(|i| large::is_reference(&i.message)) {
            return;
        }
        let chunks = NetworkChunks::new(client.clone());
        let mut out = Vec::with_capacity(items.len());
        for mut item in items.drain(..) {
            if !large::is_reference(&item.message) {
                out.push(item);
                continue;
            }
            let key = *blake3::hash(&item.message).as_bytes();
            if fetched.contains(&key) {
                continue;
            }
            match large::get(&chunks, &item.message).await {
                Ok(bytes) => {
                    if fetched.len() >= FETCHED_MEMORY {
                        fetched.pop_front();
                    }
                    fetched.push_back(key);
                    item.message = bytes;
                    out.push(item);
                }
                Err(e) => {
                    tracing::debug!("a large group item could not be fetched: {e}");
                    self.count(|c| c.malformed += 1);
                }
            }
        }
        *items = out;
    }

    /// Fetches the invitations that hold a reference; a contact's is joined
    /// once fetched. One that cannot be fetched stays and is tried again.
    pub(super) async fn resolve_invites(
        &self,
        client: &Arc<crate::Client>,
    ) -> Result<(), ChatError> {
        let s = &self.store;
        let waiting: Vec<(sled::IVec, GroupInvite)> = s
            .scan::<GroupInvite>(&s.group_invites, &[])?
            .into_iter()
            .filter(|(_, i)| large::is_reference(&i.welcome))
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        let chunks = NetworkChunks::new(client.clone());
        for (key, mut invite) in waiting {
            let welcome = match large::get(&chunks, &invite.welcome).await {
                Ok(w) => w,
                Err(GroupError::Storage(e)) => {
                    tracing::debug!("a large invitation is not fetched yet: {e}");
                    continue;
                }
                Err(e) => {
                    // Not a reference that can ever open: dropped, counted.
                    tracing::debug!("a large invitation is refused: {e}");
                    self.count(|c| c.refused += 1);
                    s.group_invites.remove(&key)?;
                    continue;
                }
            };
            if invite.auto {
                let is_contact = s.contacts.contains_key(invite.from.as_bytes())?;
                match self.join_welcome(&invite.from, &welcome, is_contact) {
                    Ok(group) => {
                        self.emit(ChatEvent::GroupChanged { group });
                    }
                    Err(ChatError::Invalid(e)) => {
                        tracing::debug!("a group invitation was refused: {e}");
                        self.count(|c| c.refused += 1);
                    }
                    Err(e) => return Err(e),
                }
                s.group_invites.remove(&key)?;
            } else {
                invite.welcome = welcome;
                s.put(&s.group_invites, &key, &invite)?;
                self.emit(ChatEvent::GroupInvited { from: invite.from });
            }
        }
        s.flush()
    }
}
