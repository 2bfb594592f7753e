//! Conversations, messages, contacts and requests.

use std::time::Duration;

use hyper::Method;
use hyper::body::Bytes;
use serde::Deserialize;
use serde_json::{Value, json};
use sotto_client::chat::{Disappearing, MessageId, Messenger, short_id};

use super::{Answer, Failure, account, blocking, ok, parse, svg_answer};
use crate::web::view;

/// Messages of a conversation loaded at once.
const MESSAGE_WINDOW: usize = 500;
/// Longest disappearing timer the page may set: four weeks.
const MAX_TIMER: Duration = Duration::from_secs(28 * 24 * 3600);

#[derive(Deserialize)]
struct SendBody {
    text: String,
}

#[derive(Deserialize)]
struct TypingBody {
    typing: bool,
}

#[derive(Deserialize)]
struct TimerBody {
    mode: String,
    #[serde(default)]
    seconds: u64,
}

#[derive(Deserialize)]
struct AddBody {
    id: String,
    #[serde(default)]
    name: String,
}

/// Answers the calls about people and messages.
pub async fn route(m: &Messenger, method: &Method, parts: &[&str], body: &Bytes) -> Answer {
    match (method, parts) {
        (&Method::GET, ["conversations"]) => {
            let list = blocking(m, |m| m.conversations()).await?;
            ok(Value::Array(list.iter().map(view::conversation).collect()))
        }
        (&Method::GET, ["conversations", peer]) => conversation(m, peer).await,
        (&Method::POST, ["conversations", peer, "read"]) => {
            m.mark_read(&account(peer)?).await?;
            ok(json!({}))
        }
        (&Method::POST, ["conversations", peer, "send"]) => {
            let peer = account(peer)?;
            let b: SendBody = parse(body)?;
            if b.text.trim().is_empty() {
                return Err(Failure::bad("nothing to send"));
            }
            let id = m.send_text(&peer, &b.text).await?;
            // Best effort: a lost "stopped typing" is not a failed send.
            if let Err(e) = m.set_typing(&peer, false).await {
                tracing::debug!("typing notice not queued: {e}");
            }
            ok(json!({"id": id.to_string()}))
        }
        (&Method::POST, ["conversations", peer, "typing"]) => {
            let b: TypingBody = parse(body)?;
            m.set_typing(&account(peer)?, b.typing).await?;
            ok(json!({}))
        }
        (&Method::POST, ["conversations", peer, "disappearing"]) => {
            let peer = account(peer)?;
            let b: TimerBody = parse(body)?;
            let t = Duration::from_secs(b.seconds);
            if b.mode != "off" && (t.is_zero() || t > MAX_TIMER) {
                return Err(Failure::bad("a timer is between 1 second and 4 weeks"));
            }
            let mode = match b.mode.as_str() {
                "off" => Disappearing::Off,
                "after-send" => Disappearing::AfterSend(t),
                "after-read" => Disappearing::AfterRead(t),
                _ => return Err(Failure::bad("mode is off, after-send or after-read")),
            };
            m.set_disappearing(&peer, mode).await?;
            ok(json!({}))
        }
        (&Method::POST, ["messages", id, "delete"]) => {
            let id: MessageId = id
                .parse()
                .map_err(|e: sotto_client::chat::BadMessageId| Failure::bad(e.to_string()))?;
            let mine = blocking(m, move |m| m.message(&id)).await?;
            if !mine.is_some_and(|msg| msg.outgoing) {
                return Err(Failure::bad(
                    "only your own messages can be deleted for everyone",
                ));
            }
            m.delete_for_everyone(&id).await?;
            ok(json!({}))
        }
        (&Method::GET, ["contacts"]) => {
            let mut list = blocking(m, |m| m.contacts()).await?;
            list.sort_by_cached_key(|c| c.title().to_lowercase());
            ok(Value::Array(
                list.iter()
                    .map(|c| {
                        json!({
                            "id": c.id.to_string(),
                            "title": c.title(),
                            "trust": view::trust(c.verified),
                        })
                    })
                    .collect(),
            ))
        }
        (&Method::POST, ["contacts"]) => add_contact(m, body).await,
        (&Method::GET, ["contacts", peer, "verification"]) => {
            let peer = account(peer)?;
            let (v, title) = blocking(m, move |m| {
                Ok((m.verification(&peer)?, view::title_of(m, &peer)))
            })
            .await?;
            ok(json!({
                "peer": peer.to_string(),
                "title": title,
                "lines": v.code.lines(),
                "digits": v.code.digits(),
                "trust": view::trust(v.status),
            }))
        }
        (&Method::GET, ["contacts", peer, "code.svg"]) => {
            let peer = account(peer)?;
            let v = blocking(m, move |m| m.verification(&peer)).await?;
            svg_answer(&v.code.digits())
        }
        (&Method::POST, ["contacts", peer, "verified"]) => {
            let peer = account(peer)?;
            blocking(m, move |m| m.mark_verified(&peer)).await?;
            ok(json!({}))
        }
        (&Method::GET, ["requests"]) => {
            let list = blocking(m, |m| m.requests()).await?;
            ok(Value::Array(list.iter().map(view::request).collect()))
        }
        (&Method::POST, ["requests", peer, what]) => {
            let peer = account(peer)?;
            match *what {
                "accept" => m.accept_request(&peer).await?,
                "decline" => m.decline_request(&peer).await?,
                "block" => m.block(&peer).await?,
                _ => return Err(Failure::bad("accept, decline or block")),
            }
            ok(json!({}))
        }
        _ => Err(Failure(hyper::StatusCode::NOT_FOUND, "no such call".into())),
    }
}

/// One conversation with its messages, oldest first.
async fn conversation(m: &Messenger, peer: &str) -> Answer {
    let peer = account(peer)?;
    let v = blocking(m, move |m| {
        let msgs = m.messages(&peer, MESSAGE_WINDOW)?;
        let contact = m.contacts()?.into_iter().find(|c| c.id == peer);
        let request = m.requests()?.into_iter().any(|r| r.from == peer);
        Ok(json!({
            "peer": peer.to_string(),
            "short": short_id(&peer),
            "title": view::title_of(m, &peer),
            "contact": contact.is_some(),
            "request": request,
            "trust": contact.map_or("unverified", |c| view::trust(c.verified)),
            "disappearing": view::disappearing(m.disappearing(&peer)?),
            "messages": msgs.iter().map(view::message).collect::<Vec<_>>(),
        }))
    })
    .await?;
    ok(v)
}

/// Adds a contact by ID (an existing one keeps its name unless one is
/// given) and answers with the conversation's peer.
async fn add_contact(m: &Messenger, body: &Bytes) -> Answer {
    let b: AddBody = parse(body)?;
    let peer = account(b.id.trim())?;
    if peer == m.account_id() {
        return Err(Failure::bad("that is your own account ID"));
    }
    let name = Some(b.name.trim().to_string()).filter(|n| !n.is_empty());
    blocking(m, move |m| {
        let known = m.contacts()?.iter().any(|c| c.id == peer);
        if !known || name.is_some() {
            m.add_contact(peer, name.as_deref())?;
        }
        Ok(())
    })
    .await?;
    ok(json!({"peer": peer.to_string()}))
}
