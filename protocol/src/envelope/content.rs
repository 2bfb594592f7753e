//! What an envelope carries: a [`Content`] (random id, sender's clock, one of the
//! content kinds of a conversation) and the rules every decoded content must meet.
//!
//! A content is encoded with [`crate::codec`] (postcard) and checked with
//! [`Content::validate`] on both sides: the sender refuses to seal what the
//! recipient would refuse to open. What people wrote (texts, display names) is
//! never shown by `Debug`, so a stray `{:?}` in a log line cannot leak it.

use std::fmt;

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::attachment::{Attachment, Location};
use crate::codec;
use crate::constants::{
    CONTENT_ID_LEN, MAX_CONTENT_IDS, MAX_CONTENT_LEN, MAX_DISAPPEAR_TIMER_MS,
    MAX_DISPLAY_NAME_CHARS, MIN_DISAPPEAR_TIMER_MS,
};
use crate::error::{Error, Result};
use crate::time::{DAY_MS, SECOND_MS, UnixMillis};

/// Longest caption of an attachment, in bytes: a sentence or two under a
/// photo; longer words go in a text message.
pub const MAX_CAPTION_LEN: usize = 1024;

/// The random 16-byte id of one content. Receivers dedupe by it; receipts and
/// deletes refer to contents by it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContentId(pub [u8; CONTENT_ID_LEN]);

impl ContentId {
    /// A fresh id from `rng`. 128 random bits: collisions are not a concern.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut id = [0u8; CONTENT_ID_LEN];
        rng.fill_bytes(&mut id);
        Self(id)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; CONTENT_ID_LEN] {
        &self.0
    }
}

impl fmt::Display for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentId({self})")
    }
}

/// Which receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReceiptKind {
    /// The recipient's client has the messages.
    Delivered,
    /// The recipient has seen the messages.
    Read,
}

/// A conversation's disappearing-messages setting (DESIGN §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DisappearMode {
    /// Messages stay.
    Off,
    /// Messages disappear `ms` after they were sent; the swarm TTL is the timer.
    AfterSend {
        /// The timer, in milliseconds.
        ms: u64,
    },
    /// Messages disappear `ms` after the recipient read them.
    AfterRead {
        /// The timer, in milliseconds.
        ms: u64,
    },
}

/// One of the content kinds of a conversation (DESIGN §8).
///
/// The order of the variants is the wire format (postcard encodes the index):
/// add new kinds at the end only.
///
/// Not `Eq`: a [`Location`] holds floating-point coordinates.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub enum ContentBody {
    /// A text message. Not empty; its length is bounded only by what fits in the
    /// largest envelope ([`crate::envelope::seal`] says `DoesNotFit` otherwise).
    Text {
        /// The text, UTF-8.
        text: String,
    },
    /// Delivery or read receipt for earlier contents.
    Receipt {
        /// Delivered or read.
        kind: ReceiptKind,
        /// The contents it is for: 1 to [`MAX_CONTENT_IDS`].
        ids: Vec<ContentId>,
    },
    /// Typing started or stopped.
    Typing {
        /// `true` when typing started, `false` when it stopped.
        started: bool,
    },
    /// The sender changed the conversation's disappearing-messages timer.
    DisappearingTimer {
        /// The new setting.
        mode: DisappearMode,
    },
    /// The answer to a message request.
    RequestResponse {
        /// `true` if the request was accepted.
        accepted: bool,
    },
    /// The sender's profile.
    Profile {
        /// Display name: at most [`MAX_DISPLAY_NAME_CHARS`] characters, no control
        /// or bidirectional-override characters. Empty means "no name".
        display_name: String,
    },
    /// The sender deletes its own earlier contents for both ends.
    DeleteForEveryone {
        /// The contents to delete: 1 to [`MAX_CONTENT_IDS`].
        ids: Vec<ContentId>,
    },
    /// A file, image or voice note stored as chunks in the network
    /// ([`crate::attachment`]); the descriptor holds its key.
    Attachment {
        /// What the file is and how to fetch and open it.
        attachment: Attachment,
        /// Words shown with it: not empty or blank if present, at most
        /// [`MAX_CAPTION_LEN`] bytes.
        caption: Option<String>,
    },
    /// A shared location.
    Location {
        /// Where.
        location: Location,
    },
    /// The sender's delivery token: with it, the receiver's messages go into
    /// the sender's inbox rather than its message requests
    /// ([`crate::rpc::deliver`]). Sent to contacts, and again when it changes.
    DeliveryToken {
        /// The token.
        token: crate::rpc::DeliveryToken,
    },
    /// An invitation to a group: the MLS Welcome (RFC 9420 §12.4.3.1) that
    /// adds the recipient, as the group's admin made it. Not empty; at most
    /// what fits in the largest envelope.
    GroupInvite {
        /// The TLS-encoded MLS Welcome message.
        welcome: Vec<u8>,
    },
    /// A member that fell behind its group (away longer than the group's
    /// changes are kept, or on a fork) asks an admin to add it again: the
    /// admin removes its old leaf and adds it from its current key package
    /// in one commit, and sends it the Welcome.
    GroupRejoin {
        /// The group's id (also its MLS group id).
        group: [u8; 32],
    },
}

impl ContentBody {
    /// Checks the rules of this kind; the error says which value is wrong and why.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Text { text } => {
                if text.is_empty() {
                    return Err(out_of_range("message text", "it is empty".into()));
                }
                Ok(())
            }
            Self::Receipt { ids, .. } => check_ids("receipt ids", ids),
            Self::DeleteForEveryone { ids } => check_ids("delete-for-everyone ids", ids),
            Self::DisappearingTimer { mode } => check_timer(mode),
            Self::Profile { display_name } => check_display_name(display_name),
            Self::Typing { .. }
            | Self::RequestResponse { .. }
            | Self::DeliveryToken { .. }
            | Self::GroupRejoin { .. } => Ok(()),
            Self::GroupInvite { welcome } => {
                if welcome.is_empty() {
                    return Err(out_of_range("group invitation", "it is empty".into()));
                }
                Ok(())
            }
            Self::Attachment {
                attachment,
                caption,
            } => {
                attachment.validate().map_err(|e| {
                    out_of_range("attachment", format!("the descriptor is malformed: {e}"))
                })?;
                check_caption(caption.as_deref())
            }
            Self::Location { location } => location
                .validate()
                .map_err(|e| out_of_range("location", e.to_string())),
        }
    }
}

impl fmt::Debug for ContentBody {
    /// Texts, display names, file names, captions and labels are shown by
    /// length only; coordinates and keys not at all.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text { text } => f
                .debug_struct("Text")
                .field("text_len", &text.len())
                .finish_non_exhaustive(),
            Self::Receipt { kind, ids } => f
                .debug_struct("Receipt")
                .field("kind", kind)
                .field("ids", ids)
                .finish(),
            Self::Typing { started } => f.debug_struct("Typing").field("started", started).finish(),
            Self::DisappearingTimer { mode } => f
                .debug_struct("DisappearingTimer")
                .field("mode", mode)
                .finish(),
            Self::RequestResponse { accepted } => f
                .debug_struct("RequestResponse")
                .field("accepted", accepted)
                .finish(),
            Self::Profile { display_name } => f
                .debug_struct("Profile")
                .field("display_name_chars", &display_name.chars().count())
                .finish_non_exhaustive(),
            Self::DeleteForEveryone { ids } => f
                .debug_struct("DeleteForEveryone")
                .field("ids", ids)
                .finish(),
            Self::Attachment {
                attachment,
                caption,
            } => f
                .debug_struct("Attachment")
                .field("kind", &attachment.kind)
                .field("size", &attachment.size)
                .field("chunk_count", &attachment.chunk_count)
                .field("name_len", &attachment.name.len())
                .field("media_type_len", &attachment.media_type.len())
                .field(
                    "thumbnail_len",
                    &attachment.thumbnail.as_ref().map(Vec::len),
                )
                .field("caption_len", &caption.as_ref().map(String::len))
                .finish_non_exhaustive(),
            Self::Location { location } => f
                .debug_struct("Location")
                .field("label_len", &location.label.as_ref().map(String::len))
                .finish_non_exhaustive(),
            Self::DeliveryToken { .. } => f.debug_struct("DeliveryToken").finish_non_exhaustive(),
            Self::GroupInvite { welcome } => f
                .debug_struct("GroupInvite")
                .field("welcome_len", &welcome.len())
                .finish(),
            Self::GroupRejoin { .. } => f.debug_struct("GroupRejoin").finish_non_exhaustive(),
        }
    }
}

/// What one envelope carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Content {
    /// Random id; receivers dedupe by it.
    pub id: ContentId,
    /// The sender's clock when it was written (not trusted for ordering across
    /// senders; the swarm timestamp is).
    pub sent_at: UnixMillis,
    /// What it says.
    pub body: ContentBody,
}

impl Content {
    /// A content with a fresh random id.
    pub fn new<R: CryptoRng + ?Sized>(rng: &mut R, sent_at: UnixMillis, body: ContentBody) -> Self {
        Self {
            id: ContentId::random(rng),
            sent_at,
            body,
        }
    }

    /// Checks the rules of its kind.
    pub fn validate(&self) -> Result<()> {
        self.body.validate()
    }

    /// Validates and encodes; fails with [`Error::DoesNotFit`] if the encoding is
    /// longer than [`MAX_CONTENT_LEN`], the most the largest envelope holds.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let bytes = codec::encode("envelope content", self)?;
        if bytes.len() > MAX_CONTENT_LEN {
            return Err(Error::DoesNotFit {
                what: "envelope content",
                len: bytes.len(),
                max: MAX_CONTENT_LEN,
            });
        }
        Ok(bytes)
    }

    /// Decodes exactly `bytes` (at most [`MAX_CONTENT_LEN`]) and validates.
    /// [`codec::decode`] refuses any encoding but the canonical one, so the same
    /// content never travels as two byte strings.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let content: Self = codec::decode("envelope content", bytes, MAX_CONTENT_LEN)?;
        content.validate()?;
        Ok(content)
    }
}

fn out_of_range(what: &'static str, reason: String) -> Error {
    Error::OutOfRange { what, reason }
}

fn check_ids(what: &'static str, ids: &[ContentId]) -> Result<()> {
    if ids.is_empty() {
        return Err(out_of_range(what, "the list is empty".into()));
    }
    if ids.len() > MAX_CONTENT_IDS {
        return Err(out_of_range(
            what,
            format!(
                "{} ids, at most {MAX_CONTENT_IDS} fit in one content: send several",
                ids.len()
            ),
        ));
    }
    Ok(())
}

fn check_caption(caption: Option<&str>) -> Result<()> {
    let Some(caption) = caption else {
        return Ok(());
    };
    if caption.trim().is_empty() {
        return Err(out_of_range(
            "attachment caption",
            "it is empty: leave it out instead".into(),
        ));
    }
    if caption.len() > MAX_CAPTION_LEN {
        return Err(out_of_range(
            "attachment caption",
            format!(
                "{} bytes, at most {MAX_CAPTION_LEN} are allowed: send the rest as a text",
                caption.len()
            ),
        ));
    }
    Ok(())
}

fn check_timer(mode: &DisappearMode) -> Result<()> {
    let ms = match mode {
        DisappearMode::Off => return Ok(()),
        DisappearMode::AfterSend { ms } | DisappearMode::AfterRead { ms } => *ms,
    };
    if !(MIN_DISAPPEAR_TIMER_MS..=MAX_DISAPPEAR_TIMER_MS).contains(&ms) {
        return Err(out_of_range(
            "disappearing-messages timer",
            format!(
                "{ms} ms, it must be between {} seconds and {} days",
                MIN_DISAPPEAR_TIMER_MS / SECOND_MS,
                MAX_DISAPPEAR_TIMER_MS / DAY_MS
            ),
        ));
    }
    Ok(())
}

/// Characters a display name may not hold: control characters, line and paragraph
/// separators (they break a one-line UI) and bidirectional embeddings, overrides
/// and isolates (they reorder what follows and let one name pose as another).
/// Also used to show text from a peer in an RPC error (`rpc::error`).
pub(crate) fn forbidden_in_name(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn check_display_name(name: &str) -> Result<()> {
    let chars = name.chars().count();
    if chars > MAX_DISPLAY_NAME_CHARS {
        return Err(out_of_range(
            "display name",
            format!("{chars} characters, at most {MAX_DISPLAY_NAME_CHARS} are allowed"),
        ));
    }
    if let Some((i, c)) = name
        .chars()
        .enumerate()
        .find(|(_, c)| forbidden_in_name(*c))
    {
        return Err(out_of_range(
            "display name",
            format!(
                "character {} (U+{:04X}) is a control or text-direction character",
                i + 1,
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests;
