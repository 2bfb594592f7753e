//! The v2 sessions a client keeps with one contact: the *current* one it sends
//! on and a few *archived* ones it still reads with, and the receive path that
//! picks the right one and applies [`crate::ratchet::on_init`]. Serde-serializable
//! for the client's sealed home; every method is transactional (on error nothing
//! changed) so the client stores the value after each success.

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::constants::MAX_ARCHIVED_SESSIONS;
use crate::envelope::Content;
use crate::envelope::v2::{Body, Unsealed, accept_init, open_content, seal_content, start_session};
use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::keys::AccountKey;
use crate::pqxdh::SessionId;
use crate::prekey::{PrekeySecrets, UsedPrekeys, VerifiedBundle};
use crate::ratchet::{InitDecision, Session, on_init};
use crate::time::UnixMillis;

/// One contact's sessions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sessions {
    current: Option<Session>,
    /// Newest last; at most `MAX_ARCHIVED_SESSIONS`.
    archived: Vec<Session>,
    /// A peer initiation archived by the id tie-break while ours was still
    /// unanswered (rule 4 of [`crate::ratchet::choice`]).
    declined: Option<SessionId>,
}

/// What [`Sessions::receive`] read.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The content.
    pub content: Content,
    /// The session it came on.
    pub session: SessionId,
    /// One-time prekeys a new initiation used: pass to
    /// [`PrekeySecrets::mark_used`] after storing these sessions.
    pub used: Option<UsedPrekeys>,
}

impl Sessions {
    /// The session messages are sent on, if any.
    pub fn current(&self) -> Option<&Session> {
        self.current.as_ref()
    }

    /// Sessions kept for reading only, oldest first.
    pub fn archived(&self) -> &[Session] {
        &self.archived
    }

    /// Starts a new current session with the bundle's owner (archiving the one
    /// there was). For a first message, or after the peer's messages stopped
    /// opening (it restored its account: [`Error::UnknownPrekey`] or no session).
    pub fn start<R: CryptoRng + ?Sized>(
        &mut self,
        own: &AccountKey,
        bundle: &VerifiedBundle,
        now: UnixMillis,
        rng: &mut R,
    ) -> Result<SessionId> {
        if self.peer().is_some_and(|p| p != bundle.bundle().account) {
            return Err(wrong_peer());
        }
        let session = start_session(own, bundle, now, rng)?;
        let id = session.id();
        self.make_current(session);
        Ok(id)
    }

    /// Seals `content` on the current session. Store these sessions before the
    /// envelope leaves. Fails if there is no current session (call
    /// [`Sessions::start`] with the peer's bundle first).
    pub fn seal<R: CryptoRng + ?Sized>(
        &mut self,
        content: &Content,
        rng: &mut R,
    ) -> Result<Vec<u8>> {
        let current = self.current.as_mut().ok_or(Error::OutOfRange {
            what: "v2 sessions",
            reason: "no session with this contact yet: start one with their prekey bundle".into(),
        })?;
        seal_content(current, content, rng)
    }

    /// Reads an unsealed envelope from this contact: a session it names or
    /// fits (current first, then archived, newest first), else a new initiation
    /// accepted and placed by the rule of [`crate::ratchet::choice`]. Store
    /// these sessions before marking the message seen, then mark `used`.
    /// Fails with the error of the last session tried; [`Error::Decrypt`] or
    /// [`Error::OldMessage`] for a ratchet message no session opens (after a
    /// restore from the 12 words, start a new session).
    pub fn receive(
        &mut self,
        own: &AccountKey,
        secrets: &PrekeySecrets,
        unsealed: &Unsealed,
        now: UnixMillis,
    ) -> Result<Received> {
        if self.peer().is_some_and(|p| p != unsealed.sender) {
            return Err(wrong_peer());
        }
        let (init, message) = match &unsealed.body {
            Body::Init { init, message } => (Some(init), message),
            Body::Ratchet { message } => (None, message),
        };
        let named = init.map(|i| i.session_id()).transpose()?;
        let mut last_err = Error::Decrypt {
            what: "v2 message: no session of this contact opens it",
        };
        let known = self
            .current
            .iter_mut()
            .chain(self.archived.iter_mut().rev())
            .filter(|s| named.is_none_or(|id| id == s.id()));
        let mut matched = false;
        for session in known {
            matched = true;
            match open_content(session, message, now) {
                Ok(content) => {
                    return Ok(Received {
                        content,
                        session: session.id(),
                        used: None,
                    });
                }
                Err(e) => last_err = e,
            }
        }
        let Some(init) = init else {
            return Err(last_err);
        };
        if matched {
            // The initiation of a session we have: a repeat whose message is
            // a duplicate or broken.
            return Err(last_err);
        }
        let accepted = accept_init(own, secrets, &unsealed.sender, init, message, now)?;
        let session = accepted.session.id();
        let ours_unanswered = self
            .current
            .as_ref()
            .is_some_and(|c| c.we_initiated() && !c.received_any());
        let decision = match on_init(self.current.as_ref(), init)? {
            // Rule 4: a second, different initiation while ours is unanswered.
            InitDecision::Archive if ours_unanswered && self.declined.is_some() => {
                InitDecision::Adopt
            }
            d => d,
        };
        match decision {
            InitDecision::Adopt => self.make_current(accepted.session),
            InitDecision::Archive => {
                if ours_unanswered {
                    self.declined = Some(session);
                }
                self.archive(accepted.session);
            }
        }
        Ok(Received {
            content: accepted.content,
            session,
            used: Some(accepted.used),
        })
    }

    /// Drops old skipped keys in every session.
    pub fn prune(&mut self, now: UnixMillis) {
        self.current
            .iter_mut()
            .chain(self.archived.iter_mut())
            .for_each(|s| s.prune(now));
    }

    fn peer(&self) -> Option<AccountId> {
        self.current
            .iter()
            .chain(&self.archived)
            .next()
            .map(Session::peer)
    }

    fn make_current(&mut self, session: Session) {
        if let Some(old) = self.current.replace(session) {
            self.archive(old);
        }
        self.declined = None;
    }

    fn archive(&mut self, session: Session) {
        self.archived.push(session);
        let excess = self.archived.len().saturating_sub(MAX_ARCHIVED_SESSIONS);
        self.archived.drain(..excess);
    }
}

fn wrong_peer() -> Error {
    Error::OutOfRange {
        what: "v2 sessions",
        reason: "these sessions are with another contact".into(),
    }
}
