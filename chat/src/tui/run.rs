//! `sotto chat`: the terminal, the key reader, library events and the loop
//! that ties them to the pure UI parts.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crossterm::event::{self, DisableBracketedPaste, EnableBracketedPaste, Event, KeyEvent};
use std::collections::HashMap;

use sotto_client::chat::{ChatError, ChatEvent, MessageId, Messenger, short_id};
use sotto_client::{AccountId, PathStatus};
use tokio::sync::{broadcast, mpsc};

use super::convert::{
    attachment_row, conv_row, group_msg_row, group_row, hop_address, msg_row, request_row, trust,
};
use super::keys::{Action, handle_key, handle_paste};
use super::state::{App, Chat, Clears, Screen, VerifyView};
use crate::app::{AppError, Ctx};

/// Messages of the open conversation loaded at once.
const MESSAGE_WINDOW: usize = 500;
/// Key presses buffered between the reader thread and the loop.
const KEY_QUEUE: usize = 64;
/// How often the screen is refreshed when nothing happens (clock, paths).
const IDLE_REFRESH: Duration = Duration::from_secs(5);

/// Everything the screen shows from the store, read in one blocking call.
struct Snapshot {
    conversations: Vec<super::ConvRow>,
    messages: Vec<super::MsgRow>,
    requests: Vec<super::RequestRow>,
    last_attachment: Option<MessageId>,
}

fn snapshot(m: &Messenger, open: Option<Chat>) -> Result<Snapshot, ChatError> {
    let summaries = m.conversations()?;
    // Conversations and groups in one list, by their last message.
    let mut rows: Vec<(u64, super::ConvRow)> = summaries
        .iter()
        .map(|c| (c.last.as_ref().map_or(0, |l| l.sent_at), conv_row(c)))
        .collect();
    let unseen = m.unseen_group_messages()?;
    let titles: HashMap<AccountId, String> = summaries
        .iter()
        .map(|c| (c.peer, c.title.clone()))
        .collect();
    for g in m.groups()? {
        let last = m.group_messages(&g.id, 1)?.pop();
        let unread = unseen.iter().filter(|u| u.group == g.id).count();
        let at = last.as_ref().map_or(0, |l| l.sent_at);
        rows.push((at, group_row(&g, unread, last.as_ref())));
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.0));
    let conversations: Vec<super::ConvRow> = rows.into_iter().map(|(_, r)| r).collect();
    // The open conversation may have moved in the list; keep following it.
    let chat = open
        .filter(|p| conversations.iter().any(|c| c.chat == *p))
        .or_else(|| conversations.first().map(|c| c.chat));
    let mut messages = Vec::new();
    let mut last_attachment = None;
    match chat {
        Some(Chat::Direct(p)) => {
            for msg in m.messages(&p, MESSAGE_WINDOW)? {
                match m.attachment(&msg.id)? {
                    Some(a) => {
                        last_attachment = Some(msg.id);
                        messages.push(attachment_row(&msg, &a.state));
                    }
                    None => messages.push(msg_row(&msg)),
                }
            }
        }
        Some(Chat::Group(g)) => {
            for msg in m.group_messages(&g, MESSAGE_WINDOW)? {
                let from = titles
                    .get(&msg.sender)
                    .cloned()
                    .unwrap_or_else(|| short_id(&msg.sender));
                messages.push(group_msg_row(&msg, from));
            }
        }
        None => {}
    }
    let requests = m.requests()?.iter().map(request_row).collect();
    Ok(Snapshot {
        conversations,
        messages,
        requests,
        last_attachment,
    })
}

/// Marks `chat` read (it is open and shown).
async fn mark_read(m: &Messenger, chat: Chat) -> Result<(), ChatError> {
    match chat {
        Chat::Direct(p) => m.mark_read(&p).await,
        Chat::Group(g) => m.mark_group_read(&g).await,
    }
}

/// What the terminal sends the UI.
enum Input {
    /// A key press.
    Key(KeyEvent),
    /// Text pasted at once (bracketed paste): never sent by itself.
    Paste(String),
}

/// Most bytes of one paste taken; the composer holds far fewer anyway.
const MAX_PASTE_BYTES: usize = 64 * 1024;

/// A new path state, with each hop's address looked up in the directory.
fn set_path(app: &mut App, m: &Messenger, path: PathStatus) {
    app.hops = match &path {
        PathStatus::Ready { hops } => hops
            .iter()
            .map(|relays| {
                relays
                    .iter()
                    .map(|n| hop_address(&m.node_addrs(n)).unwrap_or_else(|| n.short()))
                    .collect()
            })
            .collect(),
        _ => Vec::new(),
    };
    app.set_path(path);
}

/// Reloads the UI from the store (sled reads run off the async threads).
async fn refresh(app: &mut App, m: &Messenger) {
    let m2 = m.clone();
    let open = app.current_chat();
    match tokio::task::spawn_blocking(move || snapshot(&m2, open)).await {
        Ok(Ok(s)) => {
            app.set_conversations(s.conversations);
            app.messages = s.messages;
            app.last_attachment = s.last_attachment;
            app.set_requests(s.requests);
        }
        Ok(Err(e)) => app.notice(e.to_string(), Clears::OnKey),
        Err(e) => app.notice(format!("reading the store failed: {e}"), Clears::OnKey),
    }
    set_path(app, m, m.path_status());
}

/// Reads keys and pastes on a thread of its own (crossterm's reads block)
/// into a bounded queue; stops when `stop` is set.
fn key_reader(tx: mpsc::Sender<Input>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        match event::poll(Duration::from_millis(100)) {
            Ok(true) => {
                let input = match event::read() {
                    Ok(Event::Key(k)) => Input::Key(k),
                    Ok(Event::Paste(mut text)) => {
                        if text.len() > MAX_PASTE_BYTES {
                            let mut cut = MAX_PASTE_BYTES;
                            while !text.is_char_boundary(cut) {
                                cut -= 1;
                            }
                            text.truncate(cut);
                        }
                        Input::Paste(text)
                    }
                    _ => continue,
                };
                if tx.blocking_send(input).is_err() {
                    return;
                }
            }
            Ok(false) => {}
            Err(_) => return,
        }
    }
}

/// Carries out what a key asked for.
async fn act(app: &mut App, m: &Messenger, action: Action) -> Result<(), ChatError> {
    match action {
        Action::None => {}
        Action::Open(chat) => {
            refresh(app, m).await;
            mark_read(m, chat).await?;
        }
        Action::Send {
            to: Chat::Group(g),
            text,
        } => {
            if let Err(e) = m.send_group_text(&g, &text) {
                if app.composer.is_empty() {
                    app.composer.set(&text);
                }
                return Err(e);
            }
            if let Err(e) = m.set_group_typing(&g, false) {
                tracing::debug!("typing notice not queued: {e}");
            }
            refresh(app, m).await;
        }
        Action::Send {
            to: Chat::Direct(to),
            text,
        } => {
            if let Err(e) = m.send_text(&to, &text).await {
                // Not queued (blocked, too long, store full): the text goes
                // back to the composer rather than being lost.
                if app.composer.is_empty() {
                    app.composer.set(&text);
                }
                return Err(e);
            }
            // Best effort: a lost "stopped typing" must not look like a
            // failed send.
            if let Err(e) = m.set_typing(&to, false).await {
                tracing::debug!("typing notice not queued: {e}");
            }
            refresh(app, m).await;
        }
        Action::Typing { peer, typing } => m.set_typing(&peer, typing).await?,
        Action::GroupTyping { group, typing } => m.set_group_typing(&group, typing)?,
        Action::ShowRequests => refresh(app, m).await,
        Action::Accept(id) => {
            m.accept_request(&id).await?;
            app.notice("Accepted: they are now a contact.", Clears::OnKey);
            refresh(app, m).await;
        }
        Action::Decline(id) => {
            m.decline_request(&id).await?;
            app.notice("Request declined.", Clears::OnKey);
            refresh(app, m).await;
        }
        Action::Block(id) => {
            m.block(&id).await?;
            app.notice("Blocked.", Clears::OnKey);
            refresh(app, m).await;
        }
        Action::ShowVerify(peer) => {
            let v = m.verification(&peer)?;
            let title = app
                .conversations
                .iter()
                .find(|c| c.chat == Chat::Direct(peer))
                .map_or_else(|| peer.to_string(), |c| c.title.clone());
            app.screen = Screen::Verify(VerifyView {
                peer,
                title,
                code: v.code,
                trust: trust(v.status),
            });
        }
        Action::AddContact { id, name } => add_contact(app, m, &id, name.as_deref()).await?,
        Action::Save(id) => {
            app.notice("Saving the attachment…", Clears::OnKey);
            let path = m.save_attachment(&id, None, |_| {}).await?;
            app.notice(format!("Saved to {}", path.display()), Clears::OnKey);
            refresh(app, m).await;
        }
        Action::MarkVerified(peer) => {
            m.mark_verified(&peer)?;
            if let Screen::Verify(view) = &mut app.screen {
                view.trust = trust(m.verification(&peer)?.status);
            }
            refresh(app, m).await;
        }
    }
    Ok(())
}

/// Adds the contact typed into the new-chat form (or finds it) and opens
/// its conversation. A mistyped ID keeps the form open with the reason.
async fn add_contact(
    app: &mut App,
    m: &Messenger,
    id: &str,
    name: Option<&str>,
) -> Result<(), ChatError> {
    let peer: AccountId = match id.parse() {
        Ok(p) => p,
        Err(e) => {
            app.notice(format!("Not an account ID: {e}"), Clears::OnKey);
            return Ok(());
        }
    };
    if peer == app.me {
        app.notice("That is your own ID.", Clears::OnKey);
        return Ok(());
    }
    // A known conversation just opens; a name given renames the contact.
    if app.title_of(&peer).is_none() || name.is_some() {
        m.add_contact(peer, name)?;
    }
    app.screen = Screen::Main;
    refresh(app, m).await;
    if app.open(peer) {
        refresh(app, m).await;
        m.mark_read(&peer).await?;
    }
    Ok(())
}

/// A library event: update what it touches.
async fn on_event(app: &mut App, m: &Messenger, ev: ChatEvent) {
    match ev {
        ChatEvent::Path(p) => set_path(app, m, p),
        ChatEvent::Typing { peer, typing } => {
            if app.current_peer() == Some(peer) {
                app.peer_typing = typing;
            }
        }
        ChatEvent::SendFailed { reason, .. } => {
            app.notice(
                format!("Not sent yet ({reason}); it stays queued."),
                Clears::OnPath,
            );
        }
        ChatEvent::StateChanged { .. } => {
            // A message moved on: whatever held the network back is over.
            app.network_ok();
            refresh(app, m).await;
        }
        ChatEvent::Message(msg) => {
            let open = app.current_peer() == Some(msg.peer) && app.screen == Screen::Main;
            refresh(app, m).await;
            if open && let Err(e) = m.mark_read(&msg.peer).await {
                app.notice(e.to_string(), Clears::OnKey);
            }
        }
        ChatEvent::GroupTyping { group, typing, .. } => {
            if app.current_chat() == Some(Chat::Group(group)) {
                app.peer_typing = typing;
            }
        }
        ChatEvent::GroupMessage(msg) => {
            let chat = Chat::Group(msg.group);
            let open = app.current_chat() == Some(chat) && app.screen == Screen::Main;
            refresh(app, m).await;
            if open && let Err(e) = mark_read(m, chat).await {
                app.notice(e.to_string(), Clears::OnKey);
            }
        }
        _ => refresh(app, m).await,
    }
}

/// Runs the UI until the user quits.
pub async fn run(ctx: &Ctx) -> Result<(), AppError> {
    // The passphrase prompt (if any) needs the normal terminal, so the home
    // is opened before the UI takes the screen.
    let m = ctx.open()?;
    let mut app = App::new(m.account_id());
    app.my_name = m.display_name();
    match ctx.client_config() {
        Ok(config) => {
            if let Err(e) = ctx.connect(&m, config).await {
                app.notice(format!("Offline: {e}"), Clears::OnPath);
            }
        }
        Err(e) => app.notice(format!("Offline: {e}"), Clears::OnPath),
    }
    // ratatui's init also installs a panic hook that restores the terminal.
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            // It may have got half way (raw mode on): undo whatever it did.
            ratatui::restore();
            ctx.close(&m).await;
            return Err(AppError::Io(format!("cannot take over the terminal: {e}")));
        }
    };
    // Pasted text arrives whole instead of as keys (its newlines would send).
    if let Err(e) = crossterm::execute!(std::io::stdout(), EnableBracketedPaste) {
        tracing::debug!("bracketed paste not available: {e}");
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (key_tx, mut keys) = mpsc::channel(KEY_QUEUE);
    let reader = {
        let stop = stop.clone();
        std::thread::spawn(move || key_reader(key_tx, stop))
    };
    let mut events = m.subscribe();
    refresh(&mut app, &m).await;
    if let Some(chat) = app.current_chat()
        && let Err(e) = mark_read(&m, chat).await
    {
        app.notice(e.to_string(), Clears::OnKey);
    }
    let mut result = Ok(());
    while !app.quit {
        if let Ok(size) = terminal.size() {
            let area = ratatui::layout::Rect::new(0, 0, size.width, size.height);
            app.page = super::render::page_lines(&app, area);
            app.scroll = app.scroll.min(super::render::max_scroll(&app, area));
        }
        if let Err(e) = terminal.draw(|f| super::draw(f, &app)) {
            result = Err(AppError::Io(format!("drawing the screen failed: {e}")));
            break;
        }
        tokio::select! {
            k = keys.recv() => match k {
                Some(input) => {
                    let action = match input {
                        Input::Key(k) => handle_key(&mut app, k),
                        Input::Paste(text) => handle_paste(&mut app, &text),
                    };
                    if let Err(e) = act(&mut app, &m, action).await {
                        app.notice(e.to_string(), Clears::OnKey);
                    }
                }
                None => break,
            },
            ev = events.recv() => match ev {
                Ok(ev) => on_event(&mut app, &m, ev).await,
                // Fell behind: the store has everything, so re-read it.
                Err(broadcast::error::RecvError::Lagged(_)) => refresh(&mut app, &m).await,
                // Only when the library is gone; nothing more will come.
                Err(broadcast::error::RecvError::Closed) => break,
            },
            _ = tokio::time::sleep(IDLE_REFRESH) => refresh(&mut app, &m).await,
        }
    }
    stop.store(true, Ordering::Relaxed);
    let _ = crossterm::execute!(std::io::stdout(), DisableBracketedPaste);
    ratatui::restore();
    let _ = reader.join();
    ctx.close(&m).await;
    result
}

#[cfg(test)]
mod tests;
