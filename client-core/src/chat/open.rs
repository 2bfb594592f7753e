//! Opening an envelope v2 (messages v2) against the stored sessions: an
//! initiation starts a session (or is a repeat of one already known), a ratchet
//! message advances the session it belongs to, and a message no session can
//! read leaves a notice in the conversation and starts a new session with the
//! sender, without the user doing anything.
//!
//! Crash rule: the content is handled first (stored, deduplicated by content
//! id), then the advanced session is written, then the message is marked seen.
//! A crash before the session is written reads the message again on the old
//! state and the content id drops the repeat; a crash after it finds the key
//! used (`OldMessage`), which is a duplicate of a handled message. Nothing is
//! lost, nothing reaches the app twice.

use sotto_protocol::envelope::v2;
use sotto_protocol::envelope::{Content, ContentBody, ContentId};
use sotto_protocol::prekey::UsedPrekeys;
use sotto_protocol::rpc::RetrievedMessage;
use sotto_protocol::time::SECOND_MS;
use sotto_protocol::{AccountId, Error as ProtocolError};

use super::records::{MsgRecord, RequestRecord};
use super::sessions::PeerSessions;
use super::{ChatError, ChatEvent, ChatMessage, Inner, MessageId, MessageState};

/// The text of the notice a conversation shows for a message that could not
/// be read (front ends may show it differently from what the peer wrote; it is
/// an incoming message whose id no envelope carried).
pub const UNREADABLE_NOTICE: &str = "a message could not be read (sent under an older session)";

/// Shortest time between two new sessions started with one peer because its
/// messages could not be read: a burst of old messages (say, everything a
/// contact sent while this account was being restored) starts one, not one
/// each. A peer that keeps sending on a session this account cannot read
/// after that gets another.
const RESTART_GAP_MS: u64 = 10 * SECOND_MS;

/// What opening one envelope v2 came to.
enum Opened {
    /// A content, from a session that is now advanced (and, for a new
    /// initiation, the one-time prekeys it used).
    Content(Box<Content>, Option<UsedPrekeys>),
    /// The message's key was used already: a duplicate.
    Duplicate,
    /// Refused without touching any session (too many skipped keys).
    Refused,
    /// Not a valid message (its inner parts do not decode, or it names
    /// another account's session).
    Forged,
    /// No session here can read it (sent under an older session, or made with
    /// prekeys this account no longer has).
    Unreadable,
}

impl Inner {
    /// Opens, handles and files one envelope v2 (`m`, not seen yet); `true`
    /// if a new text reached the app.
    pub(crate) fn accept_v2(
        &self,
        m: &RetrievedMessage,
        now: u64,
        ns: sotto_protocol::Namespace,
    ) -> Result<bool, ChatError> {
        let s = &self.store;
        let hash = m.hash.as_bytes();
        let unsealed = match v2::unseal(&self.key, &m.data) {
            Ok(u) => u,
            Err(e) => {
                tracing::debug!("an envelope v2 did not open: {e}");
                self.doom(m.hash);
                return self.drop_envelope(hash, now, |c| c.malformed += 1);
            }
        };
        let sender = unsealed.sender;
        if s.blocked.contains_key(sender.as_bytes())? {
            self.doom(m.hash);
            return self.drop_envelope(hash, now, |c| c.blocked += 1);
        }
        let _one = super::lock(&self.sessions_lock);
        let mut sessions = self.sessions(&sender)?;
        let secrets = self.prekey_secrets()?;
        let opened = match sessions
            .sessions
            .receive(&self.key, &secrets, &unsealed, now)
        {
            Ok(r) => Opened::Content(Box::new(r.content), r.used),
            // The key of this message was used: a duplicate.
            Err(ProtocolError::OldMessage { .. }) => Opened::Duplicate,
            Err(ProtocolError::TooManySkipped { .. }) => Opened::Refused,
            // No session opens it, or it names prekeys this account no
            // longer has: sent under a session of before (a restore).
            Err(ProtocolError::UnknownPrekey { .. } | ProtocolError::Decrypt { .. }) => {
                Opened::Unreadable
            }
            Err(e) => {
                tracing::debug!("an envelope v2 was refused: {e}");
                Opened::Forged
            }
        };
        match opened {
            Opened::Content(content, used) => {
                let mut cid = sender.as_bytes().to_vec();
                cid.extend_from_slice(content.id.as_bytes());
                let new = if s.is_seen(b'c', &cid)? {
                    self.count(|c| c.duplicates += 1);
                    false
                } else {
                    self.handle(sender, *content, m, ns)?
                };
                self.put_sessions(&sender, &sessions)?;
                if let Some(used) = used {
                    self.mark_prekeys_used(&used, now)?;
                }
                s.mark_seen(b'c', &cid, now)?;
                s.mark_seen(b'h', hash, now)?;
                Ok(new)
            }
            Opened::Duplicate => self.drop_envelope(hash, now, |c| c.duplicates += 1),
            Opened::Refused => self.drop_envelope(hash, now, |c| c.refused += 1),
            Opened::Forged => {
                self.doom(m.hash);
                self.drop_envelope(hash, now, |c| c.malformed += 1)
            }
            Opened::Unreadable => {
                // No session here will ever read it: it leaves the swarm.
                self.doom(m.hash);
                self.count(|c| c.unreadable += 1);
                self.unreadable(sender, &mut sessions, m, now)?;
                self.put_sessions(&sender, &sessions)?;
                s.mark_seen(b'h', hash, now)?;
                Ok(false)
            }
        }
    }

    /// A message from `sender` no session could read: a notice in the
    /// conversation (one while the last one is unread) and, unless one was
    /// just started, a new session with the sender, carried by a content that
    /// changes nothing at the other end (typing stopped).
    fn unreadable(
        &self,
        sender: AccountId,
        sessions: &mut PeerSessions,
        m: &RetrievedMessage,
        now: u64,
    ) -> Result<(), ChatError> {
        let s = &self.store;
        let is_contact = s.contacts.contains_key(sender.as_bytes())?;
        if !is_contact && !self.request_has_room(&sender)? {
            self.count(|c| c.refused += 1);
            return Ok(());
        }
        let just_started = sessions.ours_unanswered()
            && now.saturating_sub(sessions.restarted_at) < RESTART_GAP_MS;
        if !sessions.restart && !just_started {
            // Best effort: an outbox that cannot take it (full) must not fail
            // the page, or the message would be read again forever.
            match self.enqueue(&sender, ContentBody::Typing { started: false }, None) {
                Ok(_) => {
                    sessions.restart = true;
                    sessions.restarted_at = now;
                }
                Err(e) => tracing::warn!("a new session could not be queued: {e}"),
            }
        }
        let last_is_notice = s.conversation(&sender)?.last().is_some_and(|(_, r)| {
            !r.msg.outgoing && r.msg.text == UNREADABLE_NOTICE && r.msg.state < MessageState::Read
        });
        if last_is_notice {
            return Ok(());
        }
        let msg = ChatMessage {
            id: MessageId(ContentId::random(&mut rand::rng())),
            peer: sender,
            outgoing: false,
            text: UNREADABLE_NOTICE.to_owned(),
            sent_at: m.timestamp,
            received_at: now,
            state: MessageState::Delivered,
            expires_at: None,
            request: !is_contact,
        };
        s.insert_message(
            &MsgRecord {
                msg: msg.clone(),
                hash: None,
            },
            true,
        )?;
        s.touch(&sender, now)?;
        if !is_contact && !s.requests.contains_key(sender.as_bytes())? {
            s.put(
                &s.requests,
                sender.as_bytes(),
                &RequestRecord { received_at: now },
            )?;
            self.emit(ChatEvent::Request { from: sender });
        }
        self.emit(ChatEvent::Message(msg));
        Ok(())
    }
}
