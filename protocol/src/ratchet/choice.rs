//! Which session a conversation uses when an initiation arrives for a session it
//! does not know: the one deterministic rule both sides apply, so that two
//! accounts that start a session with each other at the same time, or a contact
//! who restored the account on a new machine, end up on one session without
//! anyone doing anything.
//!
//! The client keeps one *current* session per contact (the one it sends on) and
//! a few *archived* ones it still reads with. It calls [`on_init`] for an
//! initiation whose session id is neither current nor archived (one it knows is
//! a repeat: the initiator attaches it to every message until answered), after
//! the initiation's first message decrypted, and does what the answer says.
//!
//! The rule, with "the peer's clock" the times the peer put on its initiation
//! and its contents (one clock compared with itself, never with ours):
//!
//! 1. No current session: adopt the new one.
//! 2. The peer has sent us something on the current session: if the new
//!    initiation is *newer* than everything the peer sent on the current one,
//!    the peer started over (lost or restored its state): adopt. Otherwise it
//!    was made before the peer moved to the current session (it crossed ours in
//!    flight): archive it.
//! 3. The current session is our own initiation and the peer has not answered:
//!    both initiated at once. The session with the lower id wins on both sides;
//!    the other is archived, so messages already sent on it are still read.
//!
//! 4. One refinement needs state [`on_init`] does not see, so the caller keeps
//!    it (`envelope::v2::Sessions` does): if case 3 already archived one
//!    initiation of the peer while ours is still unanswered, a *second,
//!    different* one is adopted whatever the ids. In a true simultaneous
//!    start the peer makes exactly one initiation (repeats have its id); a
//!    second one means the peer could not read ours (it restored its account
//!    from the 12 words, so ours named prekeys it no longer has) and started
//!    over. Without this, a restored peer whose contact's unanswered
//!    initiation had the lower id would never get a session that contact
//!    sends on. (Found by the client integration.)
//!
//! Why both sides converge in case 3: the side whose initiation lost receives
//! the winner before anything of its own is answered (the winner's side never
//! answers on the loser), so it applies rule 3 too; the side whose initiation
//! won may already have the answer on it, and then the losing initiation is
//! older than that answer (rule 2, archive).

use crate::error::Result;
use crate::pqxdh::InitHeader;
use crate::ratchet::Session;

/// What to do with an initiation of an unknown session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitDecision {
    /// Make the new session current; archive the current one (if any).
    Adopt,
    /// Keep the current session; archive the new one (read with it, never send).
    Archive,
}

/// The rule above. `current` is the conversation's current session; `incoming`
/// is the initiation just accepted.
pub fn on_init(current: Option<&Session>, incoming: &InitHeader) -> Result<InitDecision> {
    let Some(current) = current else {
        return Ok(InitDecision::Adopt);
    };
    if current.received_any() {
        let peer_time = current.latest_peer_time().unwrap_or(0);
        return Ok(if incoming.created_at > peer_time {
            InitDecision::Adopt
        } else {
            InitDecision::Archive
        });
    }
    Ok(if incoming.session_id()? < current.id() {
        InitDecision::Adopt
    } else {
        InitDecision::Archive
    })
}
