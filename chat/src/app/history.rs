//! `history` and `delete`: a conversation's messages with their states, and
//! taking one of your own back.

use std::time::Duration;

use sotto_client::chat::{ChatMessage, MessageId, MessageState, Messenger};
use tokio::time::Instant;

use super::output::{self, HistoryLine};
use super::people::{open_maybe_connected, title_of};
use super::{AppError, Ctx};
use sotto_client::group::GroupInfo;

/// `sotto history CONTACT [--limit N] [--json]`: the last messages of a
/// conversation, oldest first. Showing them is reading them: the
/// conversation's new messages are marked read, as opening it in the
/// terminal UI does (their read receipts go out with the next connected run).
pub async fn history(ctx: &Ctx, who: &str, limit: usize, json: bool) -> Result<(), AppError> {
    let m = ctx.open()?;
    let peer = match super::target(&m, who)? {
        super::Target::Contact(peer) => peer,
        super::Target::Group(g) => {
            let r = group_history(&m, &g, limit, json).await;
            ctx.close(&m).await;
            return r;
        }
    };
    let list = m.messages(&peer, limit)?;
    let name = m
        .contacts()?
        .into_iter()
        .find(|c| c.id == peer)
        .map_or_else(|| sotto_client::chat::short_id(&peer), |c| c.title());
    if json {
        for msg in &list {
            say!("{}", output::line(&HistoryLine::from(msg)));
        }
    } else if list.is_empty() {
        say!("No messages with {} yet.", output::shown(&name));
    } else {
        for msg in &list {
            say!("{}", history_line(msg, &name));
        }
    }
    m.mark_read(&peer).await?;
    ctx.close(&m).await;
    Ok(())
}

/// `sotto history GROUP`: a group conversation, marked read once shown.
async fn group_history(
    m: &Messenger,
    g: &GroupInfo,
    limit: usize,
    json: bool,
) -> Result<(), AppError> {
    let list = m.group_messages(&g.id, limit)?;
    if json {
        for msg in &list {
            say!("{}", output::line(&HistoryLine::from(msg)));
        }
    } else if list.is_empty() {
        say!("No messages in {} yet.", output::shown(&g.meta.name));
    } else {
        for msg in &list {
            let when = output::date_time(msg.sent_at);
            let text = output::shown(&msg.text);
            if msg.outgoing {
                let readers = m.group_read_by(&msg.id)?.len();
                let read_by = if readers > 0 && msg.state < MessageState::Read {
                    format!(", read by {readers}")
                } else {
                    String::new()
                };
                say!(
                    "[{when}] you: {text}  ({}{read_by}; id {})",
                    msg.state,
                    msg.id
                );
            } else {
                let state = if msg.state >= MessageState::Read {
                    "read"
                } else {
                    "new"
                };
                say!("[{when}] {}: {text}  ({state})", title_of(m, &msg.sender));
            }
        }
    }
    // Only what was shown counts as read (and gets a receipt, where on).
    let shown: Vec<_> = list.iter().filter(|m| !m.outgoing).map(|m| m.id).collect();
    m.mark_group_messages_read(&shown).await?;
    Ok(())
}

/// One message as `history` prints it.
fn history_line(msg: &ChatMessage, name: &str) -> String {
    let when = output::date_time(msg.sent_at);
    if msg.outgoing {
        format!(
            "[{when}] you: {}  ({}; id {})",
            output::shown(&msg.text),
            msg.state,
            msg.id
        )
    } else {
        let state = if msg.state >= MessageState::Read {
            "read"
        } else {
            "new"
        };
        let request = if msg.request { ", request" } else { "" };
        format!(
            "[{when}] {}: {}  ({state}{request})",
            output::shown(name),
            output::shown(&msg.text)
        )
    }
}

/// `sotto delete ID [--timeout D]`: deletes one of your messages here at
/// once and tells the recipient's device to delete it too, waiting up to
/// `timeout` for the network to take that notice.
pub async fn delete(ctx: &Ctx, id: &str, timeout: Duration) -> Result<(), AppError> {
    let id: MessageId = id
        .parse()
        .map_err(|e: sotto_client::chat::BadMessageId| AppError::Usage(e.to_string()))?;
    let (m, connected) = open_maybe_connected(ctx).await?;
    let result = delete_on(&m, &id, connected, timeout).await;
    ctx.close(&m).await;
    result
}

async fn delete_on(
    m: &Messenger,
    id: &MessageId,
    connected: bool,
    timeout: Duration,
) -> Result<(), AppError> {
    let msg = m.message(id)?.filter(|msg| msg.outgoing).ok_or_else(|| {
        AppError::Usage(format!(
            "no message of yours has the id {id}: see sotto history CONTACT"
        ))
    })?;
    m.delete_for_everyone(id).await?;
    let who = super::people::title_of(m, &msg.peer);
    if connected && outbox_drained(m, timeout).await {
        say!("Deleted here and sent the deletion to {who}'s device.");
    } else {
        say!(
            "Deleted here; the deletion for {who}'s device is queued and goes out on the next connected run."
        );
    }
    Ok(())
}

/// Waits (bounded) until the outbox has sent everything.
pub(super) async fn outbox_drained(m: &Messenger, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let mut events = m.subscribe();
    while m.pending_sends() > 0 {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::select! {
            _ = events.recv() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use sotto_client::Account;

    use super::*;

    fn msg(outgoing: bool, state: MessageState) -> ChatMessage {
        ChatMessage {
            id: "00112233445566778899aabbccddeeff".parse().unwrap(),
            peer: Account::create().id(),
            outgoing,
            text: "hi\u{1b}[2J".into(),
            sent_at: 1_764_559_800_000,
            received_at: 1_764_559_800_500,
            state,
            expires_at: None,
            request: false,
        }
    }

    #[test]
    fn lines_say_direction_time_and_state() {
        let out = history_line(&msg(true, MessageState::Delivered), "bob");
        assert_eq!(
            out,
            "[2025-12-01 03:30] you: hi\u{FFFD}[2J  (delivered; id 00112233445566778899aabbccddeeff)"
        );
        let unread = history_line(&msg(false, MessageState::Delivered), "bob");
        assert!(unread.starts_with("[2025-12-01 03:30] bob: "), "{unread}");
        assert!(unread.ends_with("(new)"), "{unread}");
        let read = history_line(&msg(false, MessageState::Read), "bob");
        assert!(read.ends_with("(read)"), "{read}");
    }
}
