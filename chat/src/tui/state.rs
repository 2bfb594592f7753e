//! What the UI shows: plain data, filled from the chat library by the runner.

use sotto_client::{AccountId, PathStatus, VerificationCode};

/// Most characters the composer holds; the library refuses longer texts anyway
/// and an unbounded line would grow without limit on a stuck key.
pub const MAX_COMPOSER_CHARS: usize = 4000;

/// Delivery state of an outgoing message, as ticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tick {
    /// Waiting in the outbox.
    Queued,
    /// A quorum of the recipient's swarm holds it.
    Sent,
    /// The recipient's device has it.
    Delivered,
    /// The recipient has read it.
    Read,
}

impl Tick {
    /// The glyph after an outgoing message. Delivered and Read share "✓✓";
    /// Read is also coloured, and the words are in the help screen.
    pub fn glyph(self) -> &'static str {
        match self {
            Tick::Queued => "…",
            Tick::Sent => "✓",
            Tick::Delivered | Tick::Read => "✓✓",
        }
    }
}

/// Whether the user checked a contact's verification code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trust {
    /// Never compared.
    Unverified,
    /// Compared and marked verified.
    Verified,
    /// Marked verified once, but the key changed since: warn.
    Changed,
}

/// One line of the conversation list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvRow {
    /// The other side.
    pub peer: AccountId,
    /// Nickname, display name or short ID.
    pub title: String,
    /// Incoming messages not read yet.
    pub unread: usize,
    /// Start of the last message.
    pub preview: String,
    /// Verification state.
    pub trust: Trust,
}

/// One message of the open conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgRow {
    /// Sent by this device.
    pub outgoing: bool,
    /// The text.
    pub text: String,
    /// Sender's clock, unix ms.
    pub sent_at: u64,
    /// Delivery state (for incoming messages: Delivered or Read).
    pub tick: Tick,
    /// When it disappears, unix ms.
    pub expires_at: Option<u64>,
}

/// One pending message request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestRow {
    /// Who wrote.
    pub from: AccountId,
    /// The display name they gave, if any.
    pub name: Option<String>,
    /// How many messages wait.
    pub messages: usize,
    /// Their first message.
    pub first_text: String,
}

/// The verification screen's content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyView {
    /// The contact.
    pub peer: AccountId,
    /// Their title.
    pub title: String,
    /// The 60-digit code both sides see.
    pub code: VerificationCode,
    /// Whether it was checked.
    pub trust: Trust,
}

/// Which screen is up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Screen {
    /// Conversation list, messages and composer.
    Main,
    /// Pending message requests.
    Requests,
    /// A contact's verification code and its QR.
    Verify(VerifyView),
}

/// The whole UI state.
#[derive(Clone, Debug)]
pub struct App {
    /// Own account.
    pub me: AccountId,
    /// Conversations, newest activity first.
    pub conversations: Vec<ConvRow>,
    /// Index of the open conversation in `conversations`.
    pub selected: usize,
    /// Messages of the open conversation, oldest first.
    pub messages: Vec<MsgRow>,
    /// Text being written.
    pub composer: String,
    /// Pending requests.
    pub requests: Vec<RequestRow>,
    /// Selected request.
    pub request_selected: usize,
    /// Path state.
    pub path: PathStatus,
    /// Whether the hops of each path are shown.
    pub show_hops: bool,
    /// Current screen.
    pub screen: Screen,
    /// Last notice (an error or a confirmation), shown above the composer.
    pub status: Option<String>,
    /// Whether the open conversation's peer is typing.
    pub peer_typing: bool,
    /// Set when the user asked to leave.
    pub quit: bool,
}

impl App {
    /// An empty UI for account `me`.
    pub fn new(me: AccountId) -> Self {
        Self {
            me,
            conversations: Vec::new(),
            selected: 0,
            messages: Vec::new(),
            composer: String::new(),
            requests: Vec::new(),
            request_selected: 0,
            path: PathStatus::Offline,
            show_hops: false,
            screen: Screen::Main,
            status: None,
            peer_typing: false,
            quit: false,
        }
    }

    /// The open conversation's peer.
    pub fn current_peer(&self) -> Option<AccountId> {
        self.conversations.get(self.selected).map(|c| c.peer)
    }

    /// Replaces the conversation list, keeping the same peer open if it is
    /// still there (the list reorders as messages arrive).
    pub fn set_conversations(&mut self, rows: Vec<ConvRow>) {
        let open = self.current_peer();
        self.conversations = rows;
        self.selected = open
            .and_then(|p| self.conversations.iter().position(|c| c.peer == p))
            .unwrap_or(0);
    }

    /// Replaces the request list, keeping the selection in range.
    pub fn set_requests(&mut self, rows: Vec<RequestRow>) {
        self.requests = rows;
        self.request_selected = self
            .request_selected
            .min(self.requests.len().saturating_sub(1));
    }

    /// Total unread messages (for the title bar).
    pub fn unread_total(&self) -> usize {
        self.conversations.iter().map(|c| c.unread).sum()
    }
}
