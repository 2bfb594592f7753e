//! `send`, `inbox` and `paths`: the commands that talk to the network.

use std::collections::HashMap;
use std::time::Duration;

use sotto_client::PathStatus;
use sotto_client::chat::{
    ChatError, ChatMessage, GroupMessage, MessageState, Messenger, NewMessages, short_id,
};
use sotto_client::group::{GroupId, GroupInfo};
use tokio::time::Instant;

use super::output::{self, InboxLine};
use super::{AppError, Ctx};

/// How long `inbox` waits for a first onion path before giving up.
pub(super) const PATH_WAIT: Duration = Duration::from_secs(20);

/// `sotto send CONTACT TEXT`: queues, connects and waits until a quorum of
/// the recipient's swarm holds the message.
pub async fn send(ctx: &Ctx, who: &str, text: &str, timeout: Duration) -> Result<(), AppError> {
    let m = ctx.open()?;
    let result = send_on(ctx, &m, who, text, timeout).await;
    ctx.close(&m).await;
    result
}

async fn send_on(
    ctx: &Ctx,
    m: &Messenger,
    who: &str,
    text: &str,
    timeout: Duration,
) -> Result<(), AppError> {
    if text.trim().is_empty() {
        return Err(AppError::Usage(
            "the message is empty: nothing to send".into(),
        ));
    }
    let to = match super::target(m, who)? {
        super::Target::Contact(to) => to,
        super::Target::Group(g) => return send_group(ctx, m, &g, text, timeout).await,
    };
    // Queued first: whatever happens to the network below, the message is
    // kept and a later run sends it.
    let id = m.send_text(&to, text).await?;
    let config = ctx.client_config().map_err(|e| {
        AppError::Usage(format!(
            "{e}\nThe message stays queued and is sent on the next connected run."
        ))
    })?;
    if let Err(e) = ctx.connect(m, config).await {
        return Err(AppError::Network(format!(
            "cannot reach the network ({e}); the message stays queued and is sent on the next run"
        )));
    }
    // On a terminal, say what the wait is for; scripts get only the result.
    let progress = super::progress::on_terminal(m, id);
    let state = m.wait_state(&id, MessageState::Sent, timeout).await;
    if let Some(p) = progress {
        p.finish();
    }
    say!("Sent to {who} ({}); message id {id}", state?);
    Ok(())
}

/// `sotto send GROUP TEXT`: as to a contact, the message is kept first and
/// the wait is for the group's swarm to hold it.
async fn send_group(
    ctx: &Ctx,
    m: &Messenger,
    g: &GroupInfo,
    text: &str,
    timeout: Duration,
) -> Result<(), AppError> {
    let id = m.send_group_text(&g.id, text)?;
    let name = output::shown(&g.meta.name);
    let config = ctx.client_config().map_err(|e| {
        AppError::Usage(format!(
            "{e}\nThe message stays queued and is sent on the next connected run."
        ))
    })?;
    if let Err(e) = ctx.connect(m, config).await {
        return Err(AppError::Network(format!(
            "cannot reach the network ({e}); the message stays queued and is sent on the next run"
        )));
    }
    let state = m.wait_group_sent(&g.id, &id, timeout).await?;
    if state < MessageState::Sent {
        return Err(ChatError::NotSent {
            reason: format!(
                "the group's swarm did not take it within {}; it stays queued",
                crate::duration::format(timeout)
            ),
        }
        .into());
    }
    say!("Sent to {name} ({state}); message id {id}");
    Ok(())
}

fn titles(m: &Messenger) -> HashMap<sotto_client::AccountId, String> {
    m.contacts()
        .map(|cs| cs.into_iter().map(|c| (c.id, c.title())).collect())
        .unwrap_or_default()
}

/// Prints `list` and marks read what was printed, and only that: a closed
/// pipe or a failed write part-way leaves the rest for the next `inbox`.
async fn print_messages(m: &Messenger, list: &[ChatMessage], json: bool) -> Result<(), AppError> {
    let names = titles(m);
    let mut printed = Vec::new();
    let result = (|| -> Result<(), AppError> {
        for msg in list {
            let attachment = m.attachment(&msg.id)?;
            if json {
                let mut line = InboxLine::from(msg);
                line.attachment = attachment.as_ref().map(output::AttachmentLine::from);
                line.location = m
                    .location(&msg.id)?
                    .as_ref()
                    .map(output::LocationLine::from);
                say!("{}", output::line(&line));
            } else {
                let who = names
                    .get(&msg.peer)
                    .cloned()
                    .unwrap_or_else(|| short_id(&msg.peer));
                let req = if msg.request { " (request)" } else { "" };
                let tail = attachment.map_or_else(String::new, |a| {
                    format!(
                        " [{}, {}; sotto save {}]",
                        output::shown(&a.media_type),
                        output::state_word(&a.state),
                        a.id
                    )
                });
                say!(
                    "[{}] {}{req}: {}{tail}",
                    crate::tui::render::clock(msg.sent_at),
                    output::shown(&who),
                    output::shown(&msg.text)
                );
            }
            printed.push(msg.id);
        }
        Ok(())
    })();
    m.mark_messages_read(&printed).await?;
    result
}

/// Prints new group messages (`[clock] [GROUP] sender: text`, or JSON
/// lines with `group`) and marks read what was printed.
async fn print_group_messages(
    m: &Messenger,
    list: &[GroupMessage],
    json: bool,
) -> Result<(), AppError> {
    let names = titles(m);
    let groups: HashMap<GroupId, String> = m
        .groups()?
        .into_iter()
        .map(|g| (g.id, g.meta.name))
        .collect();
    let mut printed = Vec::new();
    let result = (|| -> Result<(), AppError> {
        for msg in list {
            if json {
                say!("{}", output::line(&InboxLine::from(msg)));
            } else {
                let who = names
                    .get(&msg.sender)
                    .cloned()
                    .unwrap_or_else(|| short_id(&msg.sender));
                let group = groups
                    .get(&msg.group)
                    .cloned()
                    .unwrap_or_else(|| msg.group.to_hex().chars().take(8).collect());
                say!(
                    "[{}] [{}] {}: {}",
                    crate::tui::render::clock(msg.sent_at),
                    output::shown(&group),
                    output::shown(&who),
                    output::shown(&msg.text)
                );
            }
            printed.push(msg.id);
        }
        Ok(())
    })();
    m.mark_group_messages_read(&printed).await?;
    result
}

/// Prints both kinds, conversations first.
async fn print_new(m: &Messenger, new: &NewMessages, json: bool) -> Result<(), AppError> {
    print_messages(m, &new.direct, json).await?;
    print_group_messages(m, &new.groups, json).await
}

/// `sotto inbox [--wait DURATION] [--json]`: prints what arrived since the
/// last call (or was not shown by the terminal UI), fetching from the network
/// first; waits up to `wait` when nothing is new, printing as soon as
/// something is.
pub async fn inbox(ctx: &Ctx, wait: Duration, json: bool) -> Result<(), AppError> {
    let m = ctx.connected().await?;
    let result = inbox_on(&m, wait, json).await;
    ctx.close(&m).await;
    result
}

async fn inbox_on(m: &Messenger, wait: Duration, json: bool) -> Result<(), AppError> {
    // A fresh client has no path for its first moments; asking before one is
    // ready would only fail, so the first fetch waits for it (bounded).
    if !wait_for_path(m, PATH_WAIT).await? {
        let unseen = m.new_messages()?;
        if !unseen.is_empty() {
            return print_new(m, &unseen, json).await;
        }
        return Err(AppError::Network(format!(
            "no onion path became ready within {}: is the network reachable?",
            crate::duration::format(PATH_WAIT)
        )));
    }
    // Whichever receive round brings a message (the background loop's or
    // the library's own), it is printed at once.
    let new = match m.wait_new_messages(wait).await {
        Ok(new) => new,
        Err(e @ ChatError::WrongNetwork(_)) => return Err(e.into()),
        Err(e) => return Err(AppError::Network(format!("could not fetch messages: {e}"))),
    };
    if !new.is_empty() {
        return print_new(m, &new, json).await;
    }
    if !json {
        say!("No new messages.");
    }
    Ok(())
}

/// Text lines describing a path state (also used by the TUI's popup).
pub fn describe_paths(status: &PathStatus) -> Vec<String> {
    match status {
        PathStatus::Ready { hops } => {
            let mut out = vec![format!("Ready: {} path(s)", hops.len())];
            for (i, relays) in hops.iter().enumerate() {
                let chain: Vec<String> = relays.iter().map(|n| n.short()).collect();
                out.push(format!("  path {}: {}", i + 1, chain.join(" -> ")));
            }
            out
        }
        PathStatus::Building => vec!["Building paths (no path ready yet)".into()],
        PathStatus::Offline => vec!["Offline: no path can be built now".into()],
    }
}

/// Waits until a path is ready or `limit` passes; says whether one is.
/// Bootstrap nodes of another network end the wait at once: no path will
/// ever come through them.
pub(super) async fn wait_for_path(m: &Messenger, limit: Duration) -> Result<bool, AppError> {
    let deadline = Instant::now() + limit;
    loop {
        if matches!(m.path_status(), PathStatus::Ready { .. }) {
            return Ok(true);
        }
        if let Some(w) = m.wrong_network() {
            return Err(AppError::WrongNetwork(w));
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `sotto paths`: waits up to `wait` for a ready path and shows the hops.
pub async fn paths(ctx: &Ctx, wait: Duration) -> Result<(), AppError> {
    let m = ctx.connected().await?;
    let waited = wait_for_path(&m, wait).await;
    let status = m.path_status();
    ctx.close(&m).await;
    waited?;
    for line in describe_paths(&status) {
        say!("{line}");
    }
    match status {
        PathStatus::Ready { .. } => Ok(()),
        _ => Err(AppError::Network(format!(
            "no onion path became ready within {}",
            crate::duration::format(wait)
        ))),
    }
}
