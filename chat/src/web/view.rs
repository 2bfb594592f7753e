//! The library's values as the JSON the page reads. Every string a peer
//! controls goes out as a JSON string; the page puts it in the document as
//! text, never as markup.

use std::collections::HashMap;

use serde_json::{Value, json};
use sotto_client::chat::{
    ChatError, ChatEvent, ChatMessage, ConversationSummary, Disappearing, GroupInvite,
    GroupMessage, MessageRequest, Messenger, VerificationStatus, short_id,
};
use sotto_client::group::GroupInfo;
use sotto_client::{AccountId, PathStatus};

use crate::tui::convert::hop_address;

/// A verification status's name.
pub fn trust(s: VerificationStatus) -> &'static str {
    match s {
        VerificationStatus::Unverified => "unverified",
        VerificationStatus::Verified => "verified",
        VerificationStatus::Changed => "changed",
    }
}

/// A disappearing setting: `{mode, seconds}`.
pub fn disappearing(d: Disappearing) -> Value {
    match d {
        Disappearing::Off => json!({"mode": "off", "seconds": 0}),
        Disappearing::AfterSend(t) => json!({"mode": "after-send", "seconds": t.as_secs()}),
        Disappearing::AfterRead(t) => json!({"mode": "after-read", "seconds": t.as_secs()}),
    }
}

/// One message.
pub fn message(m: &ChatMessage) -> Value {
    json!({
        "id": m.id.to_string(),
        "peer": m.peer.to_string(),
        "outgoing": m.outgoing,
        "text": m.text,
        "sent_at": m.sent_at,
        "received_at": m.received_at,
        "state": m.state.to_string(),
        "expires_at": m.expires_at,
        "request": m.request,
    })
}

/// One row of the conversation list.
pub fn conversation(c: &ConversationSummary) -> Value {
    json!({
        "peer": c.peer.to_string(),
        "title": c.title,
        "unread": c.unread,
        "last": c.last.as_ref().map(message),
        "disappearing": disappearing(c.disappearing),
        "trust": trust(c.verified),
    })
}

/// One message request.
pub fn request(r: &MessageRequest) -> Value {
    json!({
        "from": r.from.to_string(),
        "short": short_id(&r.from),
        "display_name": r.display_name,
        "messages": r.messages,
        "first_text": r.first_text,
        "received_at": r.received_at,
    })
}

/// The path state with each ready path's hops as addresses.
pub fn path(m: &Messenger, status: &PathStatus, offline: Option<String>) -> Value {
    match status {
        PathStatus::Ready { hops } => {
            let paths: Vec<Vec<Value>> = hops
                .iter()
                .map(|relays| {
                    relays
                        .iter()
                        .map(|n| {
                            json!({
                                "node": n.short(),
                                "addr": hop_address(&m.node_addrs(n)),
                            })
                        })
                        .collect()
                })
                .collect();
            json!({"status": "ready", "paths": paths, "offline": offline})
        }
        PathStatus::Building => json!({"status": "building", "paths": [], "offline": offline}),
        PathStatus::Offline => json!({"status": "offline", "paths": [], "offline": offline}),
    }
}

/// What to call an account: a contact's title, a requester's own name, or
/// a short ID.
pub fn title_of(m: &Messenger, peer: &AccountId) -> String {
    if let Ok(contacts) = m.contacts()
        && let Some(c) = contacts.iter().find(|c| c.id == *peer)
    {
        return c.title();
    }
    if let Ok(reqs) = m.requests()
        && let Some(name) = reqs
            .into_iter()
            .find(|r| r.from == *peer)
            .and_then(|r| r.display_name)
    {
        return name;
    }
    short_id(peer)
}

/// A library event as the page gets it.
pub fn event(m: &Messenger, ev: &ChatEvent, offline: Option<String>) -> Value {
    match ev {
        ChatEvent::Message(msg) => json!({
            "type": "message",
            "peer": msg.peer.to_string(),
            "name": title_of(m, &msg.peer),
            "message": message(msg),
        }),
        ChatEvent::StateChanged { id, peer, state } => json!({
            "type": "state", "id": id.to_string(), "peer": peer.to_string(),
            "state": state.to_string(),
        }),
        ChatEvent::SendFailed { id, peer, reason } => json!({
            "type": "send_failed", "id": id.to_string(), "peer": peer.to_string(),
            "reason": reason,
        }),
        ChatEvent::Request { from } => json!({
            "type": "request", "peer": from.to_string(), "name": title_of(m, from),
        }),
        ChatEvent::RequestAnswered { by, accepted } => json!({
            "type": "request_answered", "peer": by.to_string(), "accepted": accepted,
        }),
        ChatEvent::Typing { peer, typing } => json!({
            "type": "typing", "peer": peer.to_string(), "typing": typing,
        }),
        ChatEvent::Deleted { id, peer } => json!({
            "type": "deleted", "id": id.to_string(), "peer": peer.to_string(),
        }),
        ChatEvent::DisappearingChanged { peer, mode } => json!({
            "type": "disappearing", "peer": peer.to_string(), "disappearing": disappearing(*mode),
        }),
        ChatEvent::Profile { peer, .. } => json!({"type": "profile", "peer": peer.to_string()}),
        ChatEvent::Path(p) => json!({"type": "path", "path": path(m, p, offline)}),
        ChatEvent::WrongNetwork(w) => json!({
            "type": "wrong_network",
            "text": crate::app::AppError::WrongNetwork(w.clone()).to_string(),
        }),
        // The page shows attachments by their summary text for now.
        ChatEvent::Transfer {
            id, peer, progress, ..
        } => json!({
            "type": "transfer", "id": id.to_string(), "peer": peer.to_string(),
            "done": progress.done, "total": progress.total,
        }),
        ChatEvent::Attachment { id, peer, state } => json!({
            "type": "attachment", "id": id.to_string(), "peer": peer.to_string(),
            "state": crate::app::output::state_word(state),
        }),
        // The page re-reads the list and the open group; the names are for
        // a notification.
        ChatEvent::GroupMessage(msg) => json!({
            "type": "group_message", "group": msg.group.to_hex(), "id": msg.id.to_string(),
            "from": msg.sender.to_string(), "name": title_of(m, &msg.sender),
            "group_name": m.groups().ok().and_then(|gs| {
                gs.into_iter().find(|g| g.id == msg.group).map(|g| g.meta.name)
            }),
        }),
        ChatEvent::GroupStateChanged { group, id, state } => json!({
            "type": "group_state", "group": group.to_hex(), "id": id.to_string(),
            "state": state.to_string(),
        }),
        ChatEvent::GroupChanged { group } => json!({
            "type": "group_changed", "group": group.to_hex(),
        }),
        ChatEvent::GroupTyping {
            group,
            member,
            typing,
        } => json!({
            "type": "group_typing", "group": group.to_hex(), "member": member.to_string(),
            "name": title_of(m, member), "typing": typing,
        }),
        ChatEvent::GroupInvited { from } => json!({
            "type": "group_invite", "peer": from.to_string(), "name": title_of(m, from),
        }),
    }
}

/// What to call the accounts of a group: the contacts read once rather
/// than once per member (a group has up to 1,000).
pub struct Names {
    me: AccountId,
    contacts: HashMap<AccountId, String>,
}

impl Names {
    /// Reads the contacts.
    pub fn new(m: &Messenger) -> Result<Names, ChatError> {
        Ok(Names {
            me: m.account_id(),
            contacts: m
                .contacts()?
                .into_iter()
                .map(|c| (c.id, c.title()))
                .collect(),
        })
    }

    /// "You", a contact's title, or a short ID.
    pub fn title(&self, who: &AccountId) -> String {
        if *who == self.me {
            return "You".into();
        }
        self.contacts
            .get(who)
            .cloned()
            .unwrap_or_else(|| short_id(who))
    }

    /// Whether `who` is this account.
    pub fn is_me(&self, who: &AccountId) -> bool {
        *who == self.me
    }
}

/// One message of a group, with its sender's name.
pub fn group_message(msg: &GroupMessage, names: &Names) -> Value {
    json!({
        "id": msg.id.to_string(),
        "group": msg.group.to_hex(),
        "from": msg.sender.to_string(),
        "name": names.title(&msg.sender),
        "outgoing": msg.outgoing,
        "text": msg.text,
        "sent_at": msg.sent_at,
        "received_at": msg.received_at,
        "state": msg.state.to_string(),
    })
}

/// One group: name, members with their names (this account first), admins,
/// how many messages are new and the last one.
pub fn group(g: &GroupInfo, names: &Names, unread: usize, last: Option<&GroupMessage>) -> Value {
    let mut members: Vec<&AccountId> = g.members.iter().collect();
    members.sort_by_key(|a| !names.is_me(a));
    json!({
        "id": g.id.to_hex(),
        "name": g.meta.name,
        "epoch": g.epoch,
        "admin": g.meta.admins.iter().any(|a| names.is_me(a)),
        "admins": g.meta.admins.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "members": members.iter().map(|a| json!({
            "id": a.to_string(),
            "title": names.title(a),
            "admin": g.meta.admins.contains(a),
            "me": names.is_me(a),
        })).collect::<Vec<_>>(),
        "unread": unread,
        "last": last.map(|msg| group_message(msg, names)),
    })
}

/// A group invitation from someone who is not a contact.
pub fn group_invite(m: &Messenger, i: &GroupInvite) -> Value {
    json!({
        "id": i.id,
        "from": i.from.to_string(),
        "title": title_of(m, &i.from),
        "short": short_id(&i.from),
        "received_at": i.received_at,
    })
}
