//! From the chat library's values to the UI's rows.

use sotto_client::chat::{
    ChatMessage, ConversationSummary, MessageRequest, MessageState, VerificationStatus,
};

use super::state::{ConvRow, MsgRow, RequestRow, Tick, Trust};

/// Characters of the last message shown in the conversation list.
const PREVIEW_CHARS: usize = 40;

/// Ticks for a delivery state.
pub fn tick(s: MessageState) -> Tick {
    match s {
        MessageState::Queued => Tick::Queued,
        MessageState::Sent => Tick::Sent,
        MessageState::Delivered => Tick::Delivered,
        MessageState::Read => Tick::Read,
    }
}

/// Trust for a verification status.
pub fn trust(s: VerificationStatus) -> Trust {
    match s {
        VerificationStatus::Unverified => Trust::Unverified,
        VerificationStatus::Verified => Trust::Verified,
        VerificationStatus::Changed => Trust::Changed,
    }
}

/// A conversation list row.
pub fn conv_row(c: &ConversationSummary) -> ConvRow {
    ConvRow {
        peer: c.peer,
        title: c.title.clone(),
        unread: c.unread,
        preview: c
            .last
            .as_ref()
            .map(|m| m.text.chars().take(PREVIEW_CHARS).collect())
            .unwrap_or_default(),
        trust: trust(c.verified),
    }
}

/// A message row.
pub fn msg_row(m: &ChatMessage) -> MsgRow {
    MsgRow {
        outgoing: m.outgoing,
        text: m.text.clone(),
        sent_at: m.sent_at,
        tick: tick(m.state),
        expires_at: m.expires_at,
    }
}

/// A request row.
pub fn request_row(r: &MessageRequest) -> RequestRow {
    RequestRow {
        from: r.from,
        name: r.display_name.clone(),
        messages: r.messages,
        first_text: r.first_text.clone(),
    }
}
