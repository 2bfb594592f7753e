//! The records the store keeps and the operations on them that more than one
//! part of the chat code needs: messages with their indexes, the seen set and
//! the read cursors.

use serde::{Deserialize, Serialize};
use sotto_protocol::constants::MAX_TTL_MS;
use sotto_protocol::envelope::ContentId;
use sotto_protocol::rpc::MessageHash;
use sotto_protocol::{AccountId, Namespace};

use crate::reader::ReadCursors;
use sotto_protocol::time::DAY_MS;

use super::store::Store;
use super::{ChatError, ChatMessage, Disappearing};

/// A message as stored: what the API shows, plus what only the store needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct MsgRecord {
    pub(crate) msg: ChatMessage,
    /// The hash the swarm stored an incoming message under (for `Expire`).
    pub(crate) hash: Option<MessageHash>,
}

/// A contact as stored (its verification status is computed when read).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ContactRecord {
    pub(crate) nickname: Option<String>,
    pub(crate) added_at: u64,
}

/// A pending message request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct RequestRecord {
    pub(crate) received_at: u64,
}

/// What is known of a peer: the conversation's settings and activity, and
/// the display name from their profile (kept for strangers too, so a request
/// can show it).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ConvRecord {
    pub(crate) mode: Disappearing,
    pub(crate) last_activity: u64,
    pub(crate) display_name: Option<String>,
}

impl Default for ConvRecord {
    fn default() -> Self {
        Self {
            mode: Disappearing::Off,
            last_activity: 0,
            display_name: None,
        }
    }
}

/// How long a seen hash or content id is remembered: a swarm keeps nothing
/// longer than the longest TTL, so after it (and a day of clock slack) the same
/// envelope cannot come back.
pub(crate) const SEEN_KEEP_MS: u64 = MAX_TTL_MS + DAY_MS;

/// A message key and the key of its index entry.
pub(crate) type KeyPair = (Vec<u8>, Vec<u8>);

/// The key of a message: peer ++ seq.
pub(crate) fn msg_key(peer: &AccountId, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(40);
    k.extend_from_slice(peer.as_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The peer a message key belongs to.
pub(crate) fn peer_of_key(key: &[u8]) -> Option<AccountId> {
    let bytes: [u8; 32] = key.get(..32)?.try_into().ok()?;
    AccountId::from_bytes(bytes).ok()
}

fn seen_key(tag: u8, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + key.len());
    k.push(tag);
    k.extend_from_slice(key);
    k
}

fn expiry_key(at: u64, msg_key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(8 + msg_key.len());
    k.extend_from_slice(&at.to_be_bytes());
    k.extend_from_slice(msg_key);
    k
}

impl Store {
    /// Stores a new message (with its id and expiry indexes); `false` if a
    /// message with its id is already stored.
    pub(crate) fn insert_message(&self, rec: &MsgRecord, unseen: bool) -> Result<bool, ChatError> {
        let id = rec.msg.id.0;
        if self.msgidx.contains_key(id.as_bytes())? {
            return Ok(false);
        }
        let seq = self.next_seq()?;
        let key = msg_key(&rec.msg.peer, seq);
        self.put(&self.messages, &key, rec)?;
        self.msgidx.insert(id.as_bytes(), key.as_slice())?;
        if let Some(at) = rec.msg.expires_at {
            self.expiry.insert(expiry_key(at, &key), &[][..])?;
        }
        if unseen {
            self.unseen.insert(seq.to_be_bytes(), key.as_slice())?;
        }
        Ok(true)
    }

    /// The message with content id `id`, and its key.
    pub(crate) fn message(
        &self,
        id: &ContentId,
    ) -> Result<Option<(Vec<u8>, MsgRecord)>, ChatError> {
        let Some(key) = self.msgidx.get(id.as_bytes())? else {
            return Ok(None);
        };
        Ok(self
            .get::<MsgRecord>(&self.messages, &key)?
            .map(|r| (key.to_vec(), r)))
    }

    /// Writes a changed message back, moving its expiry index if needed.
    pub(crate) fn update_message(
        &self,
        key: &[u8],
        old: &MsgRecord,
        new: &MsgRecord,
    ) -> Result<(), ChatError> {
        if old.msg.expires_at != new.msg.expires_at {
            if let Some(at) = old.msg.expires_at {
                self.expiry.remove(expiry_key(at, key))?;
            }
            if let Some(at) = new.msg.expires_at {
                self.expiry.insert(expiry_key(at, key), &[][..])?;
            }
        }
        self.put(&self.messages, key, new)
    }

    /// Removes a message and its indexes, and what it carries: an
    /// attachment's copy fetched into the home's cache goes with it (a copy
    /// the user saved elsewhere is theirs and stays).
    pub(crate) fn remove_message(&self, key: &[u8], rec: &MsgRecord) -> Result<(), ChatError> {
        if let Ok(Some(super::attachments::Extra::Attachment {
            state: super::AttachmentState::Ready(path),
            ..
        })) = self.get(&self.extras, rec.msg.id.0.as_bytes())
            && !rec.msg.outgoing
            && path.starts_with(self.home.join("attachments"))
            && let Err(e) = std::fs::remove_file(&path)
        {
            tracing::debug!("a cached attachment was not removed: {e}");
        }
        self.extras.remove(rec.msg.id.0.as_bytes())?;
        self.messages.remove(key)?;
        self.msgidx.remove(rec.msg.id.0.as_bytes())?;
        if let Some(at) = rec.msg.expires_at {
            self.expiry.remove(expiry_key(at, key))?;
        }
        if let Some(seq) = key.get(32..40) {
            self.unseen.remove(seq)?;
        }
        Ok(())
    }

    /// The messages of one conversation, oldest first.
    pub(crate) fn conversation(
        &self,
        peer: &AccountId,
    ) -> Result<Vec<(sled::IVec, MsgRecord)>, ChatError> {
        self.scan(&self.messages, peer.as_bytes())
    }

    /// Messages whose timer ran out by `now`: (key, expiry index key).
    pub(crate) fn expired(&self, now: u64) -> Result<Vec<KeyPair>, ChatError> {
        let mut out = Vec::new();
        for item in self
            .expiry
            .range(..now.saturating_add(1).to_be_bytes().to_vec())
        {
            let (k, _) = item?;
            if let Some(msg) = k.get(8..) {
                out.push((msg.to_vec(), k.to_vec()));
            }
        }
        Ok(out)
    }

    /// Whether `tag ++ key` was seen.
    pub(crate) fn is_seen(&self, tag: u8, key: &[u8]) -> Result<bool, ChatError> {
        Ok(self.seen.contains_key(seen_key(tag, key))?)
    }

    /// Marks `tag ++ key` seen at `now`.
    pub(crate) fn mark_seen(&self, tag: u8, key: &[u8], now: u64) -> Result<(), ChatError> {
        self.seen
            .insert(seen_key(tag, key), &now.to_be_bytes()[..])?;
        Ok(())
    }

    /// Forgets seen entries older than [`SEEN_KEEP_MS`].
    pub(crate) fn prune_seen(&self) -> Result<usize, ChatError> {
        let now = super::system_now();
        let cutoff = now.saturating_sub(SEEN_KEEP_MS);
        let mut removed = 0;
        for item in self.seen.iter() {
            let (k, v) = item?;
            let at = v.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0);
            if at < cutoff {
                self.seen.remove(k)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The persisted read cursors of `ns` on the swarm members (none yet: an
    /// empty set, so every member is read from its start). A home of wave 1
    /// kept one time cursor under `cursor`; it is not used any more: the first
    /// reads fetch what the swarm holds and seen hashes drop what was had.
    pub(crate) fn read_cursors(&self, ns: Namespace) -> Result<ReadCursors, ChatError> {
        Ok(self
            .get::<ReadCursors>(&self.meta, cursors_key(ns))?
            .unwrap_or_default())
    }

    /// Persists the read cursors of `ns`.
    pub(crate) fn set_read_cursors(&self, ns: Namespace, c: &ReadCursors) -> Result<(), ChatError> {
        self.put(&self.meta, cursors_key(ns), c)
    }

    /// A conversation's record (default if none yet).
    pub(crate) fn conv(&self, peer: &AccountId) -> Result<ConvRecord, ChatError> {
        Ok(self.get(&self.convs, peer.as_bytes())?.unwrap_or_default())
    }

    /// Notes activity in a conversation at `at`.
    pub(crate) fn touch(&self, peer: &AccountId, at: u64) -> Result<(), ChatError> {
        let mut c = self.conv(peer)?;
        c.last_activity = c.last_activity.max(at);
        self.put(&self.convs, peer.as_bytes(), &c)
    }
}

/// The meta key of the read cursors of a namespace: the inbox keeps the key
/// homes have always used.
fn cursors_key(ns: Namespace) -> &'static [u8] {
    if ns == Namespace::REQUESTS {
        b"read_cursors/requests"
    } else {
        b"read_cursors"
    }
}
