//! Envelope v2: a Double Ratchet message (and, until the peer answers, the
//! PQXDH initiation) inside the same sealed-sender layer as v1, with no
//! signature: authentication comes from the handshake, so a transcript proves
//! nothing to a third party.
//!
//! ```text
//! envelope = 2 (1) ‖ ephemeral X25519 key (32) ‖ AEAD(inner) ‖ tag (16)
//! key      = blake3 derive_key("sotto envelope v2", shared ‖ ephemeral key ‖ recipient X25519 key)
//! inner    = sender account (32) ‖ kind (1) ‖ body length (u32 LE) ‖ body ‖ zeros
//! body     = kind 1 (init):    postcard(InitHeader, RatchetMessage)
//!            kind 2 (ratchet): postcard(RatchetMessage)
//! ```
//!
//! As in v1 the whole envelope is one of `ENVELOPE_BUCKETS`, sealed under a
//! fresh ephemeral key to the recipient's static key, AEAD associated data the
//! version byte. A storage node sees the recipient, a bucket and a TTL: no
//! ratchet key, counter, session id or sender, nothing that links two envelopes
//! of one conversation. The sender field is not authenticated by this layer
//! (anyone can seal anything to anyone); the ratchet message's AEAD, whose
//! associated data binds both accounts and the session, is what proves it.
//!
//! What the outer layer does not give: forward secrecy of the *metadata*. It is
//! sealed to the account's long-term key, so whoever later holds the 12 words
//! can open stored envelopes and learn who sent them and their ratchet headers,
//! but not their contents (those need the ratchet keys, long deleted).
//!
//! [`Sessions`] keeps one contact's current and archived sessions and applies
//! the receive path and the initiation rule.
//!
//! The version byte tells v1 and v2 apart ([`version`]); [`crate::envelope::open`]
//! still opens v1, and the client decides what it accepts.

pub mod sessions;

pub use sessions::{Received, Sessions};

use rand_core::CryptoRng;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::codec;
use crate::constants::{
    ENVELOPE_BUCKETS, ENVELOPE_HEADER_LEN, ENVELOPE_V2_INNER_FIXED_LEN, ENVELOPE_VERSION,
    ENVELOPE_VERSION_V2, KEY_LEN, MAX_CONTENT_LEN_V2, MAX_MESSAGE_DATA, TAG_LEN,
};
use crate::crypto::{dh, kdf, open_in_place, seal_in_place};
use crate::envelope::Content;
use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::keys::AccountKey;
use crate::pqxdh::{self, InitHeader};
use crate::prekey::{PrekeySecrets, UsedPrekeys, VerifiedBundle};
use crate::ratchet::{RatchetMessage, Session};
use crate::time::UnixMillis;

/// blake3 `derive_key` context of the envelope v2 encryption key.
pub const ENVELOPE_V2_KEY_CONTEXT: &str = "sotto envelope v2";
/// Inner kind byte of a message carrying a PQXDH initiation.
pub const KIND_INIT: u8 = 1;
/// Inner kind byte of a plain ratchet message.
pub const KIND_RATCHET: u8 = 2;

/// What an envelope v2 carries for its recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A message of a session the recipient may not have yet.
    Init {
        /// The initiation.
        init: InitHeader,
        /// The message.
        message: RatchetMessage,
    },
    /// A message of an established session.
    Ratchet {
        /// The message.
        message: RatchetMessage,
    },
}

/// An envelope v2 with its sealed-sender layer removed: who claims to have sent
/// it, and the body to hand to the right session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsealed {
    /// The sender named inside: not yet proven (the session proves it).
    pub sender: AccountId,
    /// The body.
    pub body: Body,
}

/// What [`accept_init`] gives: the new session (not yet stored), the first
/// content, and the one-time prekeys to mark used once the session is stored.
#[derive(Debug)]
pub struct Accepted {
    /// The responder's session.
    pub session: Session,
    /// The content of the message that came with the initiation.
    pub content: Content,
    /// For [`PrekeySecrets::mark_used`].
    pub used: UsedPrekeys,
}

/// The version byte of an envelope, if it has one this build knows (1 or 2).
pub fn version(bytes: &[u8]) -> Option<u8> {
    bytes
        .first()
        .copied()
        .filter(|v| *v == ENVELOPE_VERSION || *v == ENVELOPE_VERSION_V2)
}

/// Starts a session with the bundle's owner (PQXDH as initiator, then the
/// initiator's ratchet). Store it, then send with [`seal_content`].
pub fn start_session<R: CryptoRng + ?Sized>(
    own: &AccountKey,
    bundle: &VerifiedBundle,
    now: UnixMillis,
    rng: &mut R,
) -> Result<Session> {
    let (handshake, init) = pqxdh::initiate(own, bundle, now, rng)?;
    Session::initiator(handshake, init, rng)
}

/// Encrypts `content` on `session` and seals it to the session's peer: an init
/// envelope while the peer has not answered, a ratchet envelope after. The
/// session has advanced: store it before the envelope leaves.
pub fn seal_content<R: CryptoRng + ?Sized>(
    session: &mut Session,
    content: &Content,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let bytes = Zeroizing::new(content.to_bytes()?);
    if bytes.len() > MAX_CONTENT_LEN_V2 {
        return Err(Error::DoesNotFit {
            what: "envelope v2 content",
            len: bytes.len(),
            max: MAX_CONTENT_LEN_V2,
        });
    }
    let message = session.encrypt(&bytes, rng)?;
    let body = match session.pending_init() {
        Some(init) => Body::Init {
            init: init.clone(),
            message,
        },
        None => Body::Ratchet { message },
    };
    seal(&session.own(), &session.peer(), &body, rng)
}

/// Seals `body` from `sender` to `recipient`, padded to the smallest bucket.
pub fn seal<R: CryptoRng + ?Sized>(
    sender: &AccountId,
    recipient: &AccountId,
    body: &Body,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let recipient_x25519 = recipient.x25519_public()?;
    let (kind, encoded) = match body {
        Body::Init { init, message } => (
            KIND_INIT,
            codec::encode("envelope v2 body", &(init, message))?,
        ),
        Body::Ratchet { message } => (KIND_RATCHET, codec::encode("envelope v2 body", message)?),
    };
    let encoded = Zeroizing::new(encoded);
    let fixed = ENVELOPE_HEADER_LEN + TAG_LEN + ENVELOPE_V2_INNER_FIXED_LEN;
    let does_not_fit = || Error::DoesNotFit {
        what: "envelope v2 body",
        len: encoded.len(),
        max: MAX_MESSAGE_DATA - fixed,
    };
    let envelope_len = encoded
        .len()
        .checked_add(fixed)
        .and_then(crate::envelope::bucket_for)
        .ok_or_else(does_not_fit)?;
    let body_len = u32::try_from(encoded.len()).map_err(|_| does_not_fit())?;

    let mut inner = Zeroizing::new(Vec::with_capacity(envelope_len));
    inner.extend_from_slice(sender.as_bytes());
    inner.push(kind);
    inner.extend_from_slice(&body_len.to_le_bytes());
    inner.extend_from_slice(&encoded);
    inner.resize(envelope_len - ENVELOPE_HEADER_LEN - TAG_LEN, 0);

    let ephemeral = StaticSecret::random_from_rng(rng);
    let ephemeral_public = PublicKey::from(&ephemeral).to_bytes();
    let shared = dh(&ephemeral, &recipient_x25519)?;
    let key = envelope_key(&shared, &ephemeral_public, &recipient_x25519);
    let tag = seal_in_place(&key, &[ENVELOPE_VERSION_V2], &mut inner)?;
    let mut out = Vec::with_capacity(envelope_len);
    out.push(ENVELOPE_VERSION_V2);
    out.extend_from_slice(&ephemeral_public);
    out.extend_from_slice(&inner);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Removes the sealed-sender layer of an envelope v2 addressed to `recipient`:
/// checks the size (a bucket) and version before any public-key operation,
/// decrypts, checks the padding and decodes the body. Says nothing yet about
/// whether the sender is who it claims: [`accept_init`] and [`open_content`] do.
pub fn unseal(recipient: &AccountKey, bytes: &[u8]) -> Result<Unsealed> {
    if !ENVELOPE_BUCKETS.contains(&bytes.len()) {
        return Err(Error::OutOfRange {
            what: "envelope length",
            reason: format!(
                "{} bytes is not one of the sizes {ENVELOPE_BUCKETS:?}",
                bytes.len()
            ),
        });
    }
    let malformed = || Error::TooShort {
        what: "envelope v2",
        len: bytes.len(),
        min: ENVELOPE_HEADER_LEN + TAG_LEN,
    };
    let (&v, rest) = bytes.split_first().ok_or_else(malformed)?;
    if v != ENVELOPE_VERSION_V2 {
        return Err(Error::Version {
            what: "envelope",
            found: u16::from(v),
            supported: u16::from(ENVELOPE_VERSION_V2),
        });
    }
    let (ephemeral, rest) = rest.split_first_chunk::<KEY_LEN>().ok_or_else(malformed)?;
    let (ciphertext, tag) = rest.split_last_chunk::<TAG_LEN>().ok_or_else(malformed)?;
    let own_x25519 = recipient.x25519_public();
    let shared = dh(&recipient.x25519_secret(), ephemeral)?;
    let key = envelope_key(&shared, ephemeral, &own_x25519);
    let mut inner = Zeroizing::new(ciphertext.to_vec());
    open_in_place("envelope v2", &key, &[ENVELOPE_VERSION_V2], &mut inner, tag)?;
    parse_inner(&inner)
}

/// Accepts the initiation of an [`Unsealed`] `Body::Init` whose session the
/// recipient does not have: PQXDH as responder, the responder's ratchet, and the
/// first message decrypted and decoded. Nothing is changed: store the session,
/// then call [`PrekeySecrets::mark_used`] with [`Accepted::used`]. Fails (with
/// the AEAD's error) if the initiation was altered, its KEM ciphertext changed,
/// or the sender is not who it claims.
pub fn accept_init(
    own: &AccountKey,
    secrets: &PrekeySecrets,
    sender: &AccountId,
    init: &InitHeader,
    message: &RatchetMessage,
    now: UnixMillis,
) -> Result<Accepted> {
    let responded = pqxdh::respond(own, secrets, sender, init)?;
    let used = responded.used;
    let mut session = Session::responder(responded, init);
    let content = open_content(&mut session, message, now)?;
    Ok(Accepted {
        session,
        content,
        used,
    })
}

/// Decrypts a ratchet message on `session` and decodes its content; on success
/// the session has advanced (store it before marking the message seen), on any
/// error it is unchanged. Pick `session` by the unsealed sender: this function
/// does not see who the envelope claimed to be from (only the recipient can
/// unseal, so a mismatch can only come from the recipient itself).
pub fn open_content(
    session: &mut Session,
    message: &RatchetMessage,
    now: UnixMillis,
) -> Result<Content> {
    let mut trial = session.clone();
    let plaintext = trial.decrypt(message, now)?;
    if plaintext.len() > MAX_CONTENT_LEN_V2 {
        return Err(Error::TooLarge {
            what: "envelope v2 content",
            len: plaintext.len(),
            max: MAX_CONTENT_LEN_V2,
        });
    }
    let content = Content::from_bytes(&plaintext)?;
    trial.note_peer_time(content.sent_at);
    *session = trial;
    Ok(content)
}

fn envelope_key(
    shared: &[u8; KEY_LEN],
    ephemeral: &[u8; KEY_LEN],
    recipient_x25519: &[u8; KEY_LEN],
) -> Zeroizing<[u8; KEY_LEN]> {
    kdf(
        ENVELOPE_V2_KEY_CONTEXT,
        &[&shared[..], &ephemeral[..], &recipient_x25519[..]],
    )
}

/// Splits the inner plaintext, checks the padding, decodes the body.
fn parse_inner(inner: &[u8]) -> Result<Unsealed> {
    let malformed = |reason: String| Error::Decode {
        what: "envelope v2",
        reason,
    };
    let short = || {
        malformed(format!(
            "{} bytes inside, fewer than the fixed fields",
            inner.len()
        ))
    };
    let (sender, rest) = inner.split_first_chunk::<KEY_LEN>().ok_or_else(short)?;
    let (&kind, rest) = rest.split_first().ok_or_else(short)?;
    let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(short)?;
    let len = u32::from_le_bytes(*len);
    let (body, padding) = usize::try_from(len)
        .ok()
        .and_then(|n| rest.split_at_checked(n))
        .ok_or_else(|| {
            malformed(format!(
                "body length {len} is more than the {} bytes that follow",
                rest.len()
            ))
        })?;
    if padding.iter().any(|&b| b != 0) {
        return Err(malformed("padding is not all zeros".into()));
    }
    let sender = AccountId::from_bytes(*sender).map_err(|_| Error::BadKey {
        what: "envelope v2 sender key",
    })?;
    let body = match kind {
        KIND_INIT => {
            let (init, message): (InitHeader, RatchetMessage) =
                codec::decode("envelope v2 body", body, MAX_MESSAGE_DATA)?;
            Body::Init { init, message }
        }
        KIND_RATCHET => Body::Ratchet {
            message: codec::decode("envelope v2 body", body, MAX_MESSAGE_DATA)?,
        },
        other => return Err(malformed(format!("unknown kind {other}"))),
    };
    Ok(Unsealed { sender, body })
}

#[cfg(test)]
mod tests;
