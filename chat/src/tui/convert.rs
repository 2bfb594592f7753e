//! From the chat library's values to the UI's rows.

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use sotto_client::chat::{
    AttachmentState, ChatMessage, ConversationSummary, GroupMessage, MessageRequest, MessageState,
    VerificationStatus,
};
use sotto_client::group::GroupInfo;

use super::state::{Chat, ConvRow, MsgRow, RequestRow, Tick, Trust};

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
        chat: Chat::Direct(c.peer),
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

/// A group's row: its name, new messages and the last one.
pub fn group_row(g: &GroupInfo, unread: usize, last: Option<&GroupMessage>) -> ConvRow {
    ConvRow {
        chat: Chat::Group(g.id),
        title: if g.meta.name.trim().is_empty() {
            format!("group {}", &g.id.to_hex()[..8])
        } else {
            g.meta.name.clone()
        },
        unread,
        preview: last
            .map(|m| m.text.chars().take(PREVIEW_CHARS).collect())
            .unwrap_or_default(),
        trust: Trust::Unverified,
    }
}

/// A group message's row; `from` names the sender of an incoming one.
pub fn group_msg_row(m: &GroupMessage, from: String) -> MsgRow {
    MsgRow {
        outgoing: m.outgoing,
        from: (!m.outgoing).then_some(from),
        text: m.text.clone(),
        sent_at: m.sent_at,
        tick: tick(m.state),
        expires_at: None,
    }
}

/// A message row.
pub fn msg_row(m: &ChatMessage) -> MsgRow {
    MsgRow {
        outgoing: m.outgoing,
        from: None,
        text: m.text.clone(),
        sent_at: m.sent_at,
        tick: tick(m.state),
        expires_at: m.expires_at,
    }
}

/// A message row for a message carrying an attachment: its summary and
/// where the file is (`[file] a.pdf (200 kB) · ready`).
pub fn attachment_row(m: &ChatMessage, state: &AttachmentState) -> MsgRow {
    let mut row = msg_row(m);
    let word = match state {
        AttachmentState::Pending => "not downloaded: Ctrl-S saves it".to_owned(),
        AttachmentState::Downloading => "downloading".to_owned(),
        AttachmentState::Ready(_) => "ready".to_owned(),
        AttachmentState::Failed(why) => format!("failed ({why})"),
    };
    row.text = format!("{} · {word}", m.text);
    row
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

/// A relay's address for a person: `ip:port` (`[ip6]:port`, `host:port`)
/// from the first of its multiaddrs that has both; `None` if none has.
pub fn hop_address(addrs: &[Multiaddr]) -> Option<String> {
    addrs.iter().find_map(|a| {
        let mut host = None;
        let mut port = None;
        for p in a.iter() {
            match p {
                Protocol::Ip4(ip) => host = Some(ip.to_string()),
                Protocol::Ip6(ip) => host = Some(format!("[{ip}]")),
                Protocol::Dns(h) | Protocol::Dns4(h) | Protocol::Dns6(h) => {
                    host = Some(h.to_string());
                }
                Protocol::Tcp(n) | Protocol::Udp(n) => port = Some(n),
                _ => {}
            }
        }
        Some(format!("{}:{}", host?, port?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_addresses_are_ip_and_port() {
        let a = |s: &str| s.parse::<Multiaddr>().unwrap();
        assert_eq!(
            hop_address(&[a(
                "/ip4/203.0.113.7/tcp/4600/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"
            )]),
            Some("203.0.113.7:4600".into())
        );
        assert_eq!(
            hop_address(&[a("/memory/5"), a("/ip6/::1/udp/9/quic-v1")]),
            Some("[::1]:9".into())
        );
        assert_eq!(
            hop_address(&[a("/dns4/localhost/tcp/1")]),
            Some("localhost:1".into())
        );
        assert_eq!(hop_address(&[a("/memory/5")]), None);
        assert_eq!(hop_address(&[]), None);
    }
}
