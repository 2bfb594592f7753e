//! The values the chat API hands out: messages, contacts, conversations,
//! requests, settings and events.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sotto_protocol::AccountId;
use sotto_protocol::constants::CONTENT_ID_LEN;
use sotto_protocol::envelope::{ContentId, DisappearMode};

use crate::{PathStatus, VerificationCode};

/// The user's choices about what the other side learns, and about
/// attachments.
///
/// Delivery receipts are always sent to contacts (they only say the device has
/// the message, which the sender needs to stop worrying); read receipts and
/// typing indicators say when the user looks at the app, so they can be off.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settings {
    /// Send read receipts when a conversation is marked read.
    pub read_receipts: bool,
    /// Send typing indicators.
    pub typing_indicators: bool,
    /// Attachments from contacts of at most this many bytes are fetched into
    /// the home's private cache as soon as they arrive; larger ones (and every
    /// one from a stranger) wait for `save`. 0 turns fetching ahead off.
    /// Default [`DEFAULT_AUTO_FETCH_MAX_BYTES`] (10 MB).
    pub auto_fetch_max_bytes: u64,
    /// Where `save` puts attachments when no folder is given; `None` means
    /// `$XDG_DOWNLOAD_DIR`, else `$HOME/Downloads`.
    pub download_dir: Option<PathBuf>,
}

/// Default of [`Settings::auto_fetch_max_bytes`]: 10 MB, the size of a phone
/// photo or a short voice note many times over, and what Session allows for a
/// whole attachment.
pub const DEFAULT_AUTO_FETCH_MAX_BYTES: u64 = 10 * 1_000_000;

impl Default for Settings {
    fn default() -> Self {
        Self {
            read_receipts: true,
            typing_indicators: true,
            auto_fetch_max_bytes: DEFAULT_AUTO_FETCH_MAX_BYTES,
            download_dir: None,
        }
    }
}

/// [`Settings`] as homes from before attachments stored them.
#[derive(Deserialize)]
pub(crate) struct LegacySettings {
    pub(crate) read_receipts: bool,
    pub(crate) typing_indicators: bool,
}

impl From<LegacySettings> for Settings {
    fn from(old: LegacySettings) -> Self {
        Self {
            read_receipts: old.read_receipts,
            typing_indicators: old.typing_indicators,
            ..Self::default()
        }
    }
}

/// The id of one message: the random content id its envelope carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MessageId(pub ContentId);

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// A message id that is not 32 hex digits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a message id is 32 hexadecimal digits; {0:?} is not one")]
pub struct BadMessageId(pub String);

impl FromStr for MessageId {
    type Err = BadMessageId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadMessageId(s.chars().take(40).collect());
        let s = s.trim();
        if s.len() != CONTENT_ID_LEN * 2 || !s.is_ascii() {
            return Err(bad());
        }
        let mut out = [0u8; CONTENT_ID_LEN];
        for (i, byte) in out.iter_mut().enumerate() {
            let pair = s.get(i * 2..i * 2 + 2).ok_or_else(bad)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        Ok(MessageId(ContentId(out)))
    }
}

/// Where an outgoing message is; incoming ones are `Delivered` (unread) or
/// `Read`. States only ever move forward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum MessageState {
    /// Stored locally, not yet acknowledged by the recipient's swarm.
    Queued,
    /// A quorum of the recipient's swarm holds it.
    Sent,
    /// The recipient's device has it.
    Delivered,
    /// The recipient has seen it.
    Read,
}

impl fmt::Display for MessageState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Queued => "queued",
            Self::Sent => "sent",
            Self::Delivered => "delivered",
            Self::Read => "read",
        })
    }
}

/// A conversation's disappearing-messages setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Disappearing {
    /// Messages stay.
    Off,
    /// Messages disappear this long after they were sent (also the swarm TTL).
    AfterSend(Duration),
    /// Messages disappear this long after the recipient read them.
    AfterRead(Duration),
}

impl Disappearing {
    /// The wire form.
    pub fn to_wire(self) -> DisappearMode {
        let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        match self {
            Self::Off => DisappearMode::Off,
            Self::AfterSend(d) => DisappearMode::AfterSend { ms: ms(d) },
            Self::AfterRead(d) => DisappearMode::AfterRead { ms: ms(d) },
        }
    }

    /// From the wire form.
    pub fn from_wire(mode: DisappearMode) -> Self {
        match mode {
            DisappearMode::Off => Self::Off,
            DisappearMode::AfterSend { ms } => Self::AfterSend(Duration::from_millis(ms)),
            DisappearMode::AfterRead { ms } => Self::AfterRead(Duration::from_millis(ms)),
        }
    }

    /// The timer in milliseconds, if any.
    pub fn timer_ms(self) -> Option<u64> {
        match self.to_wire() {
            DisappearMode::Off => None,
            DisappearMode::AfterSend { ms } | DisappearMode::AfterRead { ms } => Some(ms),
        }
    }
}

/// Whether a contact's verification code was checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VerificationStatus {
    /// Never marked verified.
    Unverified,
    /// Marked verified, and the code is still the one that was checked.
    Verified,
    /// Marked verified once, but the code no longer matches the one checked.
    Changed,
}

/// A contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    /// Their account.
    pub id: AccountId,
    /// The name the user gave them.
    pub nickname: Option<String>,
    /// The name they gave themselves (from their profile).
    pub display_name: Option<String>,
    /// Whether their code was verified.
    pub verified: VerificationStatus,
    /// When they were added (Unix ms).
    pub added_at: u64,
}

impl Contact {
    /// What to call them: the nickname, else the display name, else a short id.
    pub fn title(&self) -> String {
        self.nickname
            .clone()
            .or_else(|| self.display_name.clone())
            .unwrap_or_else(|| short_id(&self.id))
    }
}

/// `sotto1abcd…wxyz`: enough of an account id to tell people apart on screen.
pub fn short_id(id: &AccountId) -> String {
    let text = id.to_text();
    let chars: Vec<char> = text.chars().collect();
    if chars.len() <= 14 {
        return text;
    }
    let head: String = chars.iter().take(10).collect();
    let tail: String = chars.iter().skip(chars.len() - 4).collect();
    format!("{head}…{tail}")
}

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Its id.
    pub id: MessageId,
    /// The other side of the conversation.
    pub peer: AccountId,
    /// Sent by this account.
    pub outgoing: bool,
    /// The text.
    pub text: String,
    /// The sender's clock when it was written.
    pub sent_at: u64,
    /// The local clock when it was stored (for outgoing: when it was queued).
    pub received_at: u64,
    /// Outgoing: delivery state; incoming: `Delivered` (unread) or `Read`.
    pub state: MessageState,
    /// When it disappears, if a timer runs (Unix ms by this device's own
    /// clock, not the clock corrected from the network's time).
    pub expires_at: Option<u64>,
    /// Incoming from a non-contact: it sits in Requests.
    pub request: bool,
}

/// A conversation as the list shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversationSummary {
    /// The other side.
    pub peer: AccountId,
    /// What to call them.
    pub title: String,
    /// Incoming messages not read yet.
    pub unread: usize,
    /// The newest message.
    pub last: Option<ChatMessage>,
    /// The disappearing-messages setting.
    pub disappearing: Disappearing,
    /// Whether the peer's code was verified.
    pub verified: VerificationStatus,
}

/// A message request: a non-contact wrote.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageRequest {
    /// Who wrote.
    pub from: AccountId,
    /// The name they gave themselves, if their profile arrived.
    pub display_name: Option<String>,
    /// How many messages wait.
    pub messages: usize,
    /// The first one's text.
    pub first_text: String,
    /// When the first one arrived.
    pub received_at: u64,
}

/// The verification code of a conversation and whether it was checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verification {
    /// The 60-digit code both sides compare.
    pub code: VerificationCode,
    /// Whether it was checked.
    pub status: VerificationStatus,
}

/// What happened, for front ends to react to.
#[derive(Clone, Debug)]
pub enum ChatEvent {
    /// A new incoming (or request) message.
    Message(ChatMessage),
    /// An outgoing message moved forward.
    StateChanged {
        /// The message.
        id: MessageId,
        /// Its conversation.
        peer: AccountId,
        /// Its new state.
        state: MessageState,
    },
    /// A try to send failed; the message stays queued.
    SendFailed {
        /// The message.
        id: MessageId,
        /// Its conversation.
        peer: AccountId,
        /// Why, for a person.
        reason: String,
    },
    /// A non-contact wrote for the first time.
    Request {
        /// Who.
        from: AccountId,
    },
    /// Someone answered our message request.
    RequestAnswered {
        /// Who answered.
        by: AccountId,
        /// Whether they accepted.
        accepted: bool,
    },
    /// The peer started or stopped typing.
    Typing {
        /// Who.
        peer: AccountId,
        /// Started (`true`) or stopped.
        typing: bool,
    },
    /// A message is gone: deleted for everyone, or its timer ran out.
    Deleted {
        /// The message.
        id: MessageId,
        /// Its conversation.
        peer: AccountId,
    },
    /// The peer changed the conversation's disappearing timer.
    DisappearingChanged {
        /// The conversation.
        peer: AccountId,
        /// The new setting.
        mode: Disappearing,
    },
    /// The peer's display name changed.
    Profile {
        /// Who.
        peer: AccountId,
        /// Their new name.
        display_name: Option<String>,
    },
    /// The network's path state changed.
    Path(PathStatus),
    /// The bootstrap nodes turned out to be on another network: nothing
    /// will be sent or received until the settings change.
    WrongNetwork(crate::directory::WrongNetwork),
    /// Chunks of an attachment moved (sent or fetched).
    Transfer {
        /// The message carrying the attachment.
        id: MessageId,
        /// Its conversation.
        peer: AccountId,
        /// `true` while uploading, `false` while downloading.
        upload: bool,
        /// Chunks done of the total.
        progress: crate::attach::Progress,
    },
    /// A member's message arrived in a group.
    GroupMessage(super::GroupMessage),
    /// An own group message moved forward (stored in the group's swarm).
    GroupStateChanged {
        /// The group.
        group: crate::group::GroupId,
        /// The message.
        id: MessageId,
        /// Its new state.
        state: MessageState,
    },
    /// A group changed: joined, a commit applied (members, name, admins),
    /// or this account removed from it.
    GroupChanged {
        /// The group.
        group: crate::group::GroupId,
    },
    /// A member of a group with typing notices on started or stopped typing.
    GroupTyping {
        /// The group.
        group: crate::group::GroupId,
        /// Who.
        member: AccountId,
        /// Started (`true`) or stopped.
        typing: bool,
    },
    /// Someone who is not a contact invited this account to a group; the
    /// invitation waits in [`super::Messenger::group_invites`].
    GroupInvited {
        /// Who.
        from: AccountId,
    },
    /// A received attachment's download state changed.
    Attachment {
        /// The message carrying it.
        id: MessageId,
        /// Its conversation.
        peer: AccountId,
        /// The new state.
        state: super::AttachmentState,
    },
}

/// What the receive loop refused or dropped, by reason (never silently).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChatCounters {
    /// Messages from blocked accounts, dropped.
    pub blocked: u64,
    /// Envelopes that did not open (not for us, forged, malformed).
    pub malformed: u64,
    /// Envelopes seen before (by hash or content id), skipped.
    pub duplicates: u64,
    /// Contents that referred to messages the sender may not touch, and
    /// messages v2 refused before decryption (too many skipped keys).
    pub refused: u64,
    /// Messages v2 no session could read (sent under an older session, or
    /// made with prekeys this account no longer has): each left a notice and
    /// started a new session with its sender.
    pub unreadable: u64,
    /// Envelopes v1 accepted (the transition: see `receive`).
    pub v1: u64,
    /// Contents refused as stale: sent longer ago than the longest TTL,
    /// or a timer or profile change older than the one applied.
    pub stale: u64,
}
