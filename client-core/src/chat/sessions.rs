//! The sessions of each peer (messages v2): the protocol's
//! `envelope::v2::Sessions` (one *current* session, the one this account sends
//! on, and a few *archived* ones it still reads with; the receive path and the
//! initiation rule, including its rule 4 for a peer that restored), plus what
//! only the client decides: whether the next content must start a new session
//! because the peer's messages could not be read here, and when it last did.
//!
//! Stored sealed at rest like every value of the home, one record per peer,
//! always changed under [`Inner::sessions_lock`] so that sending and receiving
//! never advance one session from two copies (which would reuse a message key).

use serde::{Deserialize, Serialize};
use sotto_protocol::AccountId;
use sotto_protocol::envelope::v2::Sessions;
use sotto_protocol::ratchet::Session;

use super::{ChatError, Inner};

/// The sessions of one peer.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(crate) struct PeerSessions {
    /// Current and archived sessions.
    pub(crate) sessions: Sessions,
    /// The next content to this peer starts a new session (its messages
    /// could not be read here).
    pub(crate) restart: bool,
    /// When (network clock) this account last started over with this peer
    /// because of an unreadable message.
    pub(crate) restarted_at: u64,
}

impl PeerSessions {
    /// Whether the current session is our own initiation, still unanswered.
    pub(crate) fn ours_unanswered(&self) -> bool {
        self.sessions
            .current()
            .is_some_and(|c| c.we_initiated() && !c.received_any())
    }
}

impl Inner {
    /// The sessions of `peer` (none yet: empty).
    pub(crate) fn sessions(&self, peer: &AccountId) -> Result<PeerSessions, ChatError> {
        let s = &self.store;
        Ok(s.get(&s.sessions, peer.as_bytes())?.unwrap_or_default())
    }

    /// The encoded (sealed) record of `peer`'s sessions, for a transaction.
    pub(crate) fn encode_sessions(
        &self,
        peer: &AccountId,
        sessions: &PeerSessions,
    ) -> Result<Vec<u8>, ChatError> {
        let s = &self.store;
        s.encode(&s.sessions, peer.as_bytes(), sessions)
    }

    /// Stores `peer`'s sessions.
    pub(crate) fn put_sessions(
        &self,
        peer: &AccountId,
        sessions: &PeerSessions,
    ) -> Result<(), ChatError> {
        let s = &self.store;
        s.put(&s.sessions, peer.as_bytes(), sessions)
    }
}

impl super::Messenger {
    /// Whether this account has a session with `peer` to send on (messages
    /// v2), and how many older ones it still reads with.
    pub fn session_status(&self, peer: &AccountId) -> Result<(bool, usize), ChatError> {
        let p = self.inner.sessions(peer)?;
        Ok((p.sessions.current().is_some(), p.sessions.archived().len()))
    }

    /// The sessions kept with `peer`, current first: ratchet secrets.
    ///
    /// Not part of the API: the forward-secrecy test plays an attacker who
    /// copied the device and reads them.
    #[doc(hidden)]
    pub fn export_sessions(&self, peer: &AccountId) -> Result<Vec<Session>, ChatError> {
        let p = self.inner.sessions(peer)?;
        Ok(p.sessions
            .current()
            .into_iter()
            .chain(p.sessions.archived())
            .cloned()
            .collect())
    }
}
