//! The sessions of each peer (messages v2): one *current* session, the one
//! this account sends on, and a few *archived* ones it still reads with
//! (messages already sent on a session that lost a simultaneous start, or on
//! the session a peer replaced after a restore). Stored sealed at rest like
//! every value of the home, one record per peer, always changed under
//! [`Inner::sessions_lock`] so that sending and receiving never advance one
//! session from two copies (which would reuse a message key).
//!
//! Which session becomes current when an initiation arrives is the protocol's
//! rule (`sotto_protocol::ratchet::choice`), with one addition here: a peer
//! that sends a *second*, different initiation while ours is still unanswered
//! could not read ours (it restored its account, so our initiation named
//! prekeys it no longer has, and it started over): its session is adopted
//! even if ours would win the tie. Without this, an account restored on a new
//! machine whose contact's unanswered initiation had the lower session id
//! would never get a session the contact sends on.

use serde::{Deserialize, Serialize};
use sotto_protocol::AccountId;
use sotto_protocol::pqxdh::{InitHeader, SessionId};
use sotto_protocol::ratchet::{InitDecision, Session, on_init};

use super::{ChatError, Inner};

/// Most archived sessions kept per peer; the oldest goes first. Each one only
/// reads messages sent before the peer moved on, which the swarm keeps at
/// most 30 days.
pub(crate) const MAX_ARCHIVED: usize = 4;

/// The sessions of one peer.
#[derive(Clone, Default, Serialize, Deserialize)]
pub(crate) struct PeerSessions {
    /// The session sent on.
    pub(crate) current: Option<Session>,
    /// Older sessions still read with, newest first.
    pub(crate) archived: Vec<Session>,
    /// The next content to this peer starts a new session (its messages
    /// could not be read here).
    pub(crate) restart: bool,
    /// When (network clock) this account last started over with this peer
    /// because of an unreadable message.
    pub(crate) restarted_at: u64,
    /// A peer initiation archived because ours won the tie while ours was
    /// still unanswered.
    pub(crate) declined: Option<SessionId>,
}

impl PeerSessions {
    /// The session with this id, current or archived.
    pub(crate) fn find_mut(&mut self, id: &SessionId) -> Option<&mut Session> {
        if self.current.as_ref().is_some_and(|s| s.id() == *id) {
            return self.current.as_mut();
        }
        self.archived.iter_mut().find(|s| s.id() == *id)
    }

    /// Moves the current session (if any) to the archive.
    pub(crate) fn archive_current(&mut self) {
        if let Some(old) = self.current.take() {
            self.archive(old);
        }
    }

    /// Archives `session` (newest first, bounded).
    pub(crate) fn archive(&mut self, session: Session) {
        self.archived.insert(0, session);
        self.archived.truncate(MAX_ARCHIVED);
    }

    /// Makes `session` current, archiving the one before.
    pub(crate) fn adopt(&mut self, session: Session) {
        self.archive_current();
        self.current = Some(session);
        self.declined = None;
    }

    /// Files the session of an initiation accepted from the peer: the
    /// protocol's rule, and the rule of a second initiation (module doc).
    pub(crate) fn take_initiation(
        &mut self,
        init: &InitHeader,
        session: Session,
    ) -> Result<InitDecision, ChatError> {
        let ours_unanswered = self
            .current
            .as_ref()
            .is_some_and(|c| c.we_initiated() && !c.received_any());
        let decision = match on_init(self.current.as_ref(), init)
            .map_err(|e| ChatError::Invalid(e.to_string()))?
        {
            InitDecision::Archive if ours_unanswered && self.declined.is_some() => {
                // A second, different initiation (a repeat of the declined
                // one is found by id before this): ours was not readable.
                InitDecision::Adopt
            }
            d => d,
        };
        match decision {
            InitDecision::Adopt => self.adopt(session),
            InitDecision::Archive => {
                if ours_unanswered {
                    self.declined = Some(session.id());
                }
                self.archive(session);
            }
        }
        Ok(decision)
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
        Ok((p.current.is_some(), p.archived.len()))
    }

    /// The sessions kept with `peer`, current first: ratchet secrets.
    ///
    /// Not part of the API: the forward-secrecy test plays an attacker who
    /// copied the device and reads them.
    #[doc(hidden)]
    pub fn export_sessions(&self, peer: &AccountId) -> Result<Vec<Session>, ChatError> {
        let p = self.inner.sessions(peer)?;
        Ok(p.current.into_iter().chain(p.archived).collect())
    }
}
