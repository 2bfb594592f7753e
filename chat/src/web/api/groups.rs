//! Groups: the list, a group with its messages, sending, creating,
//! changing and leaving, and the invitations of strangers.
//!
//! A change (add, remove, promote, rename, leave) is a commit the members
//! apply once its epoch has settled (ARCHITECTURE, Groups: a few seconds).
//! A call answers once the change is queued; the page hears
//! `group_changed` on the event stream when it took effect.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use sotto_client::chat::{ChatError, Messenger};
use sotto_client::group::meta::MAX_NAME_BYTES;
use sotto_client::group::{GroupId, GroupInfo};
use sotto_client::{AccountId, PathStatus};

use super::{Answer, Failure, blocking, ok, parse};
use crate::web::state::Shared;
use crate::web::view::{self, Names};

/// Messages of a group loaded at once, as for a conversation.
const MESSAGE_WINDOW: usize = 500;
/// Members one create or add call takes: each one's key package is an
/// onion request made in turn (a second or so each), so more would keep the
/// page waiting for minutes. More are added in further calls.
const MAX_PER_CALL: usize = 50;
/// How long a call that fetches key packages waits for a first onion path
/// (the app connects when the account opens; paths take a few seconds).
const PATH_WAIT: Duration = Duration::from_secs(20);
/// Hex digits of a group's id (32 bytes).
const GROUP_ID_HEX: usize = 64;
/// Hex digits of an invitation's id (`GroupInvite::id`).
const INVITE_ID_HEX: usize = 16;

#[derive(Deserialize)]
struct CreateBody {
    name: String,
    members: Vec<String>,
}

#[derive(Deserialize)]
struct MembersBody {
    members: Vec<String>,
}

#[derive(Deserialize)]
struct MemberBody {
    member: String,
}

#[derive(Deserialize)]
struct NameBody {
    name: String,
}

#[derive(Deserialize)]
struct SendBody {
    text: String,
}

/// Answers the calls under `groups`.
pub async fn route(
    shared: &Arc<Shared>,
    m: &Messenger,
    method: &Method,
    parts: &[&str],
    body: &Bytes,
) -> Answer {
    match (method, parts) {
        (&Method::GET, ["groups"]) => list(m).await,
        (&Method::POST, ["groups"]) => create(shared, m, body).await,
        (&Method::GET, ["groups", "invites"]) => {
            let list = blocking(m, |m| {
                Ok(m.group_invites()?
                    .iter()
                    .map(|i| view::group_invite(m, i))
                    .collect())
            })
            .await?;
            ok(Value::Array(list))
        }
        (&Method::POST, ["groups", "invites", id, what]) => invite(m, id, what).await,
        (&Method::GET, ["groups", id]) => one(m, group_id(id)?).await,
        (&Method::POST, ["groups", id, what]) => change(shared, m, group_id(id)?, what, body).await,
        _ => Err(Failure(StatusCode::NOT_FOUND, "no such call".into())),
    }
}

/// Every group with its members, new-message count and last message.
async fn list(m: &Messenger) -> Answer {
    let list = blocking(m, |m| {
        let names = Names::new(m)?;
        let unseen = m.unseen_group_messages()?;
        let mut out = Vec::new();
        for g in m.groups()? {
            let unread = unseen.iter().filter(|u| u.group == g.id).count();
            let last = m.group_messages(&g.id, 1)?.pop();
            out.push(view::group(&g, &names, unread, last.as_ref()));
        }
        Ok(out)
    })
    .await?;
    ok(Value::Array(list))
}

/// One group with its latest messages, oldest first.
async fn one(m: &Messenger, id: GroupId) -> Answer {
    let v = blocking(m, move |m| {
        let g = held(m, &id)?;
        let names = Names::new(m)?;
        let msgs = m.group_messages(&id, MESSAGE_WINDOW)?;
        let unread = m
            .unseen_group_messages()?
            .iter()
            .filter(|u| u.group == id)
            .count();
        let mut v = view::group(&g, &names, unread, msgs.last());
        if let Some(fields) = v.as_object_mut() {
            let list = msgs.iter().map(|msg| view::group_message(msg, &names));
            fields.insert("messages".into(), list.collect());
        }
        Ok(v)
    })
    .await?;
    ok(v)
}

/// Creates a group with the accounts in the body; answers with its id.
async fn create(shared: &Arc<Shared>, m: &Messenger, body: &Bytes) -> Answer {
    let b: CreateBody = parse(body)?;
    let name = group_name(&b.name)?;
    let who = accounts(m.account_id(), &b.members)?;
    path_ready(shared, m).await?;
    let id = m
        .create_group(&name, &who)
        .await
        .map_err(|e| cannot_add(m, e, &who))?;
    ok(json!({"id": id.to_hex()}))
}

/// The calls on one group.
async fn change(
    shared: &Arc<Shared>,
    m: &Messenger,
    id: GroupId,
    what: &str,
    body: &Bytes,
) -> Answer {
    match what {
        "send" => {
            let b: SendBody = parse(body)?;
            if b.text.trim().is_empty() {
                return Err(Failure::bad("nothing to send"));
            }
            let sent = blocking(m, move |m| {
                held(m, &id)?;
                m.send_group_text(&id, &b.text)
            })
            .await?;
            ok(json!({"id": sent.to_string()}))
        }
        "read" => {
            m.mark_group_read(&id).await?;
            ok(json!({}))
        }
        "add" => {
            let b: MembersBody = parse(body)?;
            let who = accounts(m.account_id(), &b.members)?;
            let check = who.clone();
            blocking(m, move |m| {
                let g = held(m, &id)?;
                match check.iter().find(|a| g.members.contains(a)) {
                    Some(a) => Err(ChatError::Invalid(format!(
                        "{} is in the group already",
                        view::title_of(m, a)
                    ))),
                    None => Ok(()),
                }
            })
            .await?;
            path_ready(shared, m).await?;
            m.add_to_group(&id, &who)
                .await
                .map_err(|e| cannot_add(m, e, &who))?;
            ok(json!({}))
        }
        "remove" => {
            let b: MembersBody = parse(body)?;
            let who = accounts(m.account_id(), &b.members)?;
            blocking(m, move |m| {
                let g = held(m, &id)?;
                if let Some(a) = who.iter().find(|a| !g.members.contains(a)) {
                    return Err(ChatError::Invalid(format!(
                        "{} is not in the group",
                        view::title_of(m, a)
                    )));
                }
                m.remove_from_group(&id, &who)
            })
            .await?;
            ok(json!({}))
        }
        "promote" => {
            let b: MemberBody = parse(body)?;
            let who = member(&b.member)?;
            blocking(m, move |m| {
                let g = held(m, &id)?;
                if !g.members.contains(&who) {
                    return Err(ChatError::Invalid(format!(
                        "{} is not in the group",
                        view::title_of(m, &who)
                    )));
                }
                if g.meta.admins.contains(&who) {
                    return Err(ChatError::Invalid(format!(
                        "{} is an admin already",
                        view::title_of(m, &who)
                    )));
                }
                m.promote_in_group(&id, who)
            })
            .await?;
            ok(json!({}))
        }
        "rename" => {
            let b: NameBody = parse(body)?;
            let name = group_name(&b.name)?;
            blocking(m, move |m| {
                held(m, &id)?;
                m.rename_group(&id, &name)
            })
            .await?;
            ok(json!({}))
        }
        "leave" => {
            blocking(m, move |m| {
                held(m, &id)?;
                m.leave_group(&id)
            })
            .await?;
            ok(json!({}))
        }
        _ => Err(Failure(StatusCode::NOT_FOUND, "no such call".into())),
    }
}

/// Accepts or declines a stranger's invitation.
async fn invite(m: &Messenger, id: &str, what: &str) -> Answer {
    if id.len() != INVITE_ID_HEX || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Failure::bad(format!(
            "not an invitation id ({INVITE_ID_HEX} hex digits)"
        )));
    }
    let id = id.to_ascii_lowercase();
    match what {
        "accept" => {
            let group = blocking(m, move |m| m.accept_group_invite(&id)).await?;
            ok(json!({"group": group.to_hex()}))
        }
        "decline" => {
            blocking(m, move |m| m.decline_group_invite(&id)).await?;
            ok(json!({}))
        }
        _ => Err(Failure::bad("accept or decline")),
    }
}

/// The group `id` if this account is in it.
fn held(m: &Messenger, id: &GroupId) -> Result<GroupInfo, ChatError> {
    m.groups()?
        .into_iter()
        .find(|g| g.id == *id)
        .ok_or_else(|| {
            ChatError::Invalid("you are not in this group (you left it, or were removed)".into())
        })
}

/// A group's id from the path: exactly 64 hex digits.
fn group_id(s: &str) -> Result<GroupId, Failure> {
    let bad = || Failure::bad(format!("not a group id ({GROUP_ID_HEX} hex digits)"));
    if s.len() != GROUP_ID_HEX {
        return Err(bad());
    }
    let mut id = [0u8; 32];
    for (i, byte) in id.iter_mut().enumerate() {
        let pair = s.get(2 * i..2 * i + 2).ok_or_else(bad)?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
    }
    Ok(GroupId(id))
}

/// A group name: one line, not empty, at most [`MAX_NAME_BYTES`].
fn group_name(name: &str) -> Result<String, Failure> {
    let name = name.trim();
    if name.is_empty() {
        return Err(Failure::bad("give the group a name"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Failure::bad(format!(
            "a group name is at most {MAX_NAME_BYTES} bytes (this one is {})",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Failure::bad("a group name is one line of plain text"));
    }
    Ok(name.to_owned())
}

/// One account ID from a body.
fn member(s: &str) -> Result<AccountId, Failure> {
    s.trim()
        .parse()
        .map_err(|e| Failure::bad(format!("not an account ID: {e}")))
}

/// The accounts of a create, add or remove: 1 to [`MAX_PER_CALL`] IDs,
/// none of them this account's; repeats count once.
fn accounts(me: AccountId, list: &[String]) -> Result<Vec<AccountId>, Failure> {
    if list.is_empty() {
        return Err(Failure::bad("pick at least one member"));
    }
    if list.len() > MAX_PER_CALL {
        return Err(Failure::bad(format!(
            "at most {MAX_PER_CALL} members at a time: add the others afterwards"
        )));
    }
    let mut out = Vec::with_capacity(list.len());
    for (i, s) in list.iter().enumerate() {
        let a = s
            .trim()
            .parse::<AccountId>()
            .map_err(|e| Failure::bad(format!("member {}: not an account ID: {e}", i + 1)))?;
        if a == me {
            return Err(Failure::bad(
                "that is your own account ID: you are in your groups already",
            ));
        }
        if !out.contains(&a) {
            out.push(a);
        }
    }
    Ok(out)
}

/// Waits up to [`PATH_WAIT`] for an onion path: key packages are fetched
/// over one.
async fn path_ready(shared: &Shared, m: &Messenger) -> Result<(), Failure> {
    let deadline = tokio::time::Instant::now() + PATH_WAIT;
    loop {
        if matches!(m.path_status(), PathStatus::Ready { .. }) {
            return Ok(());
        }
        if let Some(why) = shared.offline() {
            return Err(Failure(StatusCode::SERVICE_UNAVAILABLE, why));
        }
        if let Some(w) = m.wrong_network() {
            return Err(ChatError::WrongNetwork(w).into());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(Failure(
                StatusCode::SERVICE_UNAVAILABLE,
                "no onion path is ready yet: try again once the indicator shows Connected".into(),
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A member whose key package could not be fetched is named, with what to
/// do about it.
fn cannot_add(m: &Messenger, e: ChatError, who: &[AccountId]) -> Failure {
    let ChatError::Session(why) = e else {
        return e.into();
    };
    // The library says "<account ID>: <reason>"; the page shows the name.
    let named = who
        .iter()
        .find_map(|a| {
            let rest = why.strip_prefix(&a.to_string())?;
            Some(format!("{}{rest}", view::title_of(m, a)))
        })
        .unwrap_or(why);
    Failure(StatusCode::CONFLICT, format!("cannot add {named}"))
}
