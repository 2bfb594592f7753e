//! What the UI shows: plain data, filled from the chat library by the runner.

use sotto_client::group::GroupId;
use sotto_client::{AccountId, PathStatus, VerificationCode};

pub use super::composer::Composer;

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

/// What a line of the conversation list is: a conversation with one
/// account, or a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Chat {
    /// With one account.
    Direct(AccountId),
    /// A group conversation.
    Group(GroupId),
}

impl Chat {
    /// The account of a conversation with one.
    pub fn peer(self) -> Option<AccountId> {
        match self {
            Chat::Direct(p) => Some(p),
            Chat::Group(_) => None,
        }
    }

    /// The group of a group conversation.
    pub fn group(self) -> Option<GroupId> {
        match self {
            Chat::Group(g) => Some(g),
            Chat::Direct(_) => None,
        }
    }
}

/// One line of the conversation list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConvRow {
    /// The other side: an account or a group.
    pub chat: Chat,
    /// Nickname, display name or short ID.
    pub title: String,
    /// Incoming messages not read yet.
    pub unread: usize,
    /// Start of the last message.
    pub preview: String,
    /// Verification state (groups: unverified).
    pub trust: Trust,
}

/// One message of the open conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgRow {
    /// Sent by this device.
    pub outgoing: bool,
    /// Who wrote an incoming message of a group (shown before its text).
    pub from: Option<String>,
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

/// The form that starts a conversation: an account ID and a name for it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewChat {
    /// The ID as typed.
    pub id: String,
    /// The name to give the contact (optional).
    pub name: String,
    /// Whether the name field has the focus (else the ID field).
    pub on_name: bool,
}

impl NewChat {
    /// The field that has the focus.
    pub fn field(&mut self) -> &mut String {
        if self.on_name {
            &mut self.name
        } else {
            &mut self.id
        }
    }
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
    /// Adding a contact to write to.
    NewChat(NewChat),
}

/// A panel drawn over the main screen; Esc closes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    /// The onion paths, hop by hop.
    Paths,
    /// Every key and what the ticks mean.
    Help,
}

/// When a status line goes away by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clears {
    /// At the next key press (answers to what the user just did).
    OnKey,
    /// When a path is ready again (network trouble).
    OnPath,
}

/// A line above the composer: an error or a confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Status {
    /// What it says.
    pub text: String,
    /// When it goes away.
    pub clears: Clears,
}

/// The whole UI state.
#[derive(Clone, Debug)]
pub struct App {
    /// Own account.
    pub me: AccountId,
    /// Own display name, if one is set.
    pub my_name: Option<String>,
    /// Conversations, newest activity first.
    pub conversations: Vec<ConvRow>,
    /// Index of the open conversation in `conversations`.
    pub selected: usize,
    /// Messages of the open conversation, oldest first.
    pub messages: Vec<MsgRow>,
    /// Lines the message view is scrolled back from the newest (0: newest
    /// at the bottom).
    pub scroll: usize,
    /// Lines PgUp and PgDn move (the runner sets it from the screen size).
    pub page: usize,
    /// Text being written.
    pub composer: Composer,
    /// Pending requests.
    pub requests: Vec<RequestRow>,
    /// Selected request.
    pub request_selected: usize,
    /// Path state.
    pub path: PathStatus,
    /// Each ready path's hops as shown: the relay's address where the
    /// directory knows it, else its short node id; guard first.
    pub hops: Vec<Vec<String>>,
    /// The panel over the main screen, if one is open.
    pub panel: Option<Panel>,
    /// Current screen.
    pub screen: Screen,
    /// Last notice (an error or a confirmation), shown above the composer.
    pub status: Option<Status>,
    /// Whether the open conversation's peer is typing.
    pub peer_typing: bool,
    /// The newest attachment of the open conversation (what Ctrl-S saves).
    pub last_attachment: Option<sotto_client::chat::MessageId>,
    /// Set when the user asked to leave.
    pub quit: bool,
}

impl App {
    /// An empty UI for account `me`.
    pub fn new(me: AccountId) -> Self {
        Self {
            me,
            my_name: None,
            conversations: Vec::new(),
            selected: 0,
            messages: Vec::new(),
            scroll: 0,
            page: 10,
            composer: Composer::default(),
            requests: Vec::new(),
            request_selected: 0,
            path: PathStatus::Offline,
            hops: Vec::new(),
            panel: None,
            screen: Screen::Main,
            status: None,
            peer_typing: false,
            last_attachment: None,
            quit: false,
        }
    }

    /// The open conversation.
    pub fn current_chat(&self) -> Option<Chat> {
        self.conversations.get(self.selected).map(|c| c.chat)
    }

    /// The open conversation's peer (none when a group is open).
    pub fn current_peer(&self) -> Option<AccountId> {
        self.current_chat().and_then(Chat::peer)
    }

    /// Replaces the conversation list without moving rows under the
    /// cursor: conversations already listed keep their places (updated),
    /// new ones come first in the order given, gone ones leave, and the open
    /// conversation stays selected. The list is sorted by activity when the
    /// UI starts, not while one reads it.
    pub fn set_conversations(&mut self, rows: Vec<ConvRow>) {
        let open = self.current_chat();
        let mut fresh: Vec<ConvRow> = rows
            .iter()
            .filter(|r| !self.conversations.iter().any(|c| c.chat == r.chat))
            .cloned()
            .collect();
        let kept = self
            .conversations
            .iter()
            .filter_map(|c| rows.iter().find(|r| r.chat == c.chat).cloned());
        fresh.extend(kept);
        self.conversations = fresh;
        self.selected = open
            .and_then(|p| self.conversations.iter().position(|c| c.chat == p))
            .unwrap_or(0);
    }

    /// Opens the conversation with `peer` if it is listed; true if it was.
    pub fn open(&mut self, peer: AccountId) -> bool {
        self.open_chat(Chat::Direct(peer))
    }

    /// Opens `chat` if it is listed; true if it was.
    pub fn open_chat(&mut self, chat: Chat) -> bool {
        match self.conversations.iter().position(|c| c.chat == chat) {
            Some(i) => {
                if i != self.selected {
                    self.selected = i;
                    self.messages.clear();
                    self.scroll = 0;
                    self.peer_typing = false;
                }
                true
            }
            None => false,
        }
    }

    /// Shows `text` above the composer until `clears`.
    pub fn notice(&mut self, text: impl Into<String>, clears: Clears) {
        self.status = Some(Status {
            text: text.into(),
            clears,
        });
    }

    /// The status line's text, if any.
    pub fn status_text(&self) -> Option<&str> {
        self.status.as_ref().map(|s| s.text.as_str())
    }

    /// A new path state; a ready path clears network trouble from the
    /// status line.
    pub fn set_path(&mut self, path: PathStatus) {
        if matches!(path, PathStatus::Ready { .. }) {
            self.network_ok();
        }
        self.path = path;
    }

    /// The network works again (a path is ready, a message moved on):
    /// network trouble leaves the status line.
    pub fn network_ok(&mut self) {
        if self
            .status
            .as_ref()
            .is_some_and(|s| s.clears == Clears::OnPath)
        {
            self.status = None;
        }
    }

    /// A title for `peer`: the conversation's (the contact's name) if listed.
    pub fn title_of(&self, peer: &AccountId) -> Option<&str> {
        self.conversations
            .iter()
            .find(|c| c.chat == Chat::Direct(*peer))
            .map(|c| c.title.as_str())
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
