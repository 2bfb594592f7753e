//! Key presses and pastes: each changes the [`App`] and may return an
//! [`Action`] for the runner to carry out with the chat library.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use sotto_client::AccountId;

use super::state::{App, Chat, Clears, MAX_COMPOSER_CHARS, NewChat, Panel, Screen};

/// Most characters of an account ID or a name typed into the new-chat form
/// (an ID is 64; anything longer is a paste gone wrong).
pub const MAX_FIELD_CHARS: usize = 200;

/// Work the UI asks of the library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do.
    None,
    /// A different conversation is open: load its messages and mark it read.
    Open(Chat),
    /// Send a text.
    Send {
        /// Recipient: an account or a group.
        to: Chat,
        /// The text.
        text: String,
    },
    /// The user started (true) or stopped (false) typing to a peer.
    Typing {
        /// The peer.
        peer: AccountId,
        /// Whether typing.
        typing: bool,
    },
    /// The user started or stopped typing in a group (sent only where
    /// typing notices are on for it).
    GroupTyping {
        /// The group.
        group: sotto_client::group::GroupId,
        /// Whether typing.
        typing: bool,
    },
    /// Load the requests for the requests pane.
    ShowRequests,
    /// Accept a request.
    Accept(AccountId),
    /// Decline a request.
    Decline(AccountId),
    /// Block a sender.
    Block(AccountId),
    /// Load the verification screen for a contact.
    ShowVerify(AccountId),
    /// Mark a contact verified.
    MarkVerified(AccountId),
    /// Save an attachment into the download folder.
    Save(sotto_client::chat::MessageId),
    /// Add a contact and open the conversation with it.
    AddContact {
        /// The account ID as typed (the runner parses it and explains typos).
        id: String,
        /// The name to give it, if any.
        name: Option<String>,
    },
}

/// Applies one key press.
pub fn handle_key(app: &mut App, key: KeyEvent) -> Action {
    // Terminals that report releases would otherwise type every letter twice.
    if key.kind == KeyEventKind::Release {
        return Action::None;
    }
    // An answer to the last key is stale once the user does something else.
    if app
        .status
        .as_ref()
        .is_some_and(|s| s.clears == Clears::OnKey)
    {
        app.status = None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('q')) {
        app.quit = true;
        return Action::None;
    }
    match app.screen.clone() {
        Screen::Main => main_key(app, key, ctrl),
        Screen::Requests => requests_key(app, key),
        Screen::Verify(view) => match key.code {
            KeyCode::Esc => {
                app.screen = Screen::Main;
                Action::None
            }
            KeyCode::Char('m') => Action::MarkVerified(view.peer),
            _ => Action::None,
        },
        Screen::NewChat(form) => new_chat_key(app, form, key),
    }
}

/// Applies pasted text (bracketed paste): it goes where typing goes, newlines
/// included, and is never sent by itself.
pub fn handle_paste(app: &mut App, text: &str) -> Action {
    match &mut app.screen {
        Screen::Main => type_text(app, text),
        Screen::NewChat(form) => {
            // One line fields: a pasted ID often ends in a newline.
            let field = form.field();
            let room = MAX_FIELD_CHARS.saturating_sub(field.chars().count());
            field.extend(text.trim().chars().filter(|c| !c.is_control()).take(room));
            Action::None
        }
        _ => Action::None,
    }
}

/// Inserts `text` into the composer at the cursor; tells the peer when
/// typing starts.
fn type_text(app: &mut App, text: &str) -> Action {
    let was_empty = app.composer.is_empty();
    let room = MAX_COMPOSER_CHARS.saturating_sub(app.composer.len());
    if app.composer.insert(text, room) > 0 {
        app.notice(
            format!("A message holds at most {MAX_COMPOSER_CHARS} characters"),
            Clears::OnKey,
        );
    }
    match app.current_chat() {
        Some(Chat::Direct(peer)) if was_empty && !app.composer.is_empty() => {
            Action::Typing { peer, typing: true }
        }
        Some(Chat::Group(group)) if was_empty && !app.composer.is_empty() => Action::GroupTyping {
            group,
            typing: true,
        },
        _ => Action::None,
    }
}

fn main_key(app: &mut App, key: KeyEvent, ctrl: bool) -> Action {
    let alt = key.modifiers.contains(KeyModifiers::ALT);
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);
    match key.code {
        // Esc closes what is open; it never quits (Ctrl-Q does).
        KeyCode::Esc => {
            app.panel = None;
            Action::None
        }
        KeyCode::F(1) => {
            app.panel = toggle(app.panel, Panel::Help);
            Action::None
        }
        KeyCode::Char('p') if ctrl => {
            app.panel = toggle(app.panel, Panel::Paths);
            Action::None
        }
        KeyCode::Char('r') if ctrl => {
            app.panel = None;
            app.screen = Screen::Requests;
            Action::ShowRequests
        }
        KeyCode::Char('n') if ctrl => {
            app.panel = None;
            app.screen = Screen::NewChat(NewChat::default());
            Action::None
        }
        KeyCode::Char('s') if ctrl => match app.last_attachment {
            Some(id) => Action::Save(id),
            None => {
                app.notice("No attachment in this conversation.", Clears::OnKey);
                Action::None
            }
        },
        KeyCode::Char('v') if ctrl => match app.current_peer() {
            Some(p) => Action::ShowVerify(p),
            None => Action::None,
        },
        KeyCode::Up => select(app, app.selected.checked_sub(1)),
        KeyCode::Down => select(app, app.selected.checked_add(1)),
        KeyCode::PageUp => {
            app.scroll = app.scroll.saturating_add(app.page.max(1));
            Action::None
        }
        KeyCode::PageDown => {
            app.scroll = app.scroll.saturating_sub(app.page.max(1));
            Action::None
        }
        KeyCode::Left => {
            app.composer.left();
            Action::None
        }
        KeyCode::Right => {
            app.composer.right();
            Action::None
        }
        KeyCode::Home => {
            app.composer.home();
            Action::None
        }
        KeyCode::End => {
            app.composer.end();
            Action::None
        }
        // A newline: Alt+Enter or Shift+Enter where the terminal tells them
        // apart, Ctrl-J everywhere.
        KeyCode::Enter if alt || shift => type_text(app, "\n"),
        KeyCode::Char('j') if ctrl => type_text(app, "\n"),
        KeyCode::Enter => send(app),
        KeyCode::Backspace => {
            app.composer.backspace();
            stopped_typing(app)
        }
        KeyCode::Delete => {
            app.composer.delete();
            stopped_typing(app)
        }
        KeyCode::Char(c) if !ctrl => type_text(app, c.encode_utf8(&mut [0; 4])),
        _ => Action::None,
    }
}

fn toggle(open: Option<Panel>, panel: Panel) -> Option<Panel> {
    (open != Some(panel)).then_some(panel)
}

fn send(app: &mut App) -> Action {
    let text = app.composer.text().trim().to_string();
    match app.current_chat() {
        Some(to) if !text.is_empty() => {
            app.composer.take();
            // The sent message is at the bottom: show it.
            app.scroll = 0;
            Action::Send { to, text }
        }
        Some(_) => Action::None,
        None => {
            app.notice(
                "No conversation open: Ctrl-N adds a contact to write to",
                Clears::OnKey,
            );
            Action::None
        }
    }
}

fn stopped_typing(app: &App) -> Action {
    match app.current_chat() {
        Some(Chat::Direct(peer)) if app.composer.is_empty() => Action::Typing {
            peer,
            typing: false,
        },
        Some(Chat::Group(group)) if app.composer.is_empty() => Action::GroupTyping {
            group,
            typing: false,
        },
        _ => Action::None,
    }
}

fn select(app: &mut App, to: Option<usize>) -> Action {
    match to.and_then(|i| app.conversations.get(i)).map(|c| c.chat) {
        Some(chat) if app.current_chat() != Some(chat) => {
            app.open_chat(chat);
            Action::Open(chat)
        }
        _ => Action::None,
    }
}

fn new_chat_key(app: &mut App, mut form: NewChat, key: KeyEvent) -> Action {
    let mut action = Action::None;
    match key.code {
        KeyCode::Esc => {
            app.screen = Screen::Main;
            return Action::None;
        }
        KeyCode::Tab | KeyCode::BackTab | KeyCode::Up | KeyCode::Down => {
            form.on_name = !form.on_name
        }
        KeyCode::Backspace => {
            form.field().pop();
        }
        KeyCode::Enter if !form.on_name && !form.id.trim().is_empty() => form.on_name = true,
        KeyCode::Enter if form.id.trim().is_empty() => {
            app.notice(
                "Type or paste the account ID first (sotto1…)",
                Clears::OnKey,
            );
        }
        KeyCode::Enter => {
            let name = form.name.trim();
            action = Action::AddContact {
                id: form.id.trim().to_string(),
                name: (!name.is_empty()).then(|| name.to_string()),
            };
        }
        KeyCode::Char(c)
            if !key.modifiers.contains(KeyModifiers::CONTROL)
                && form.field().chars().count() < MAX_FIELD_CHARS =>
        {
            form.field().push(c)
        }
        _ => {}
    }
    app.screen = Screen::NewChat(form);
    action
}

fn requests_key(app: &mut App, key: KeyEvent) -> Action {
    let chosen = app.requests.get(app.request_selected).map(|r| r.from);
    match (key.code, chosen) {
        (KeyCode::Esc, _) => {
            app.screen = Screen::Main;
            Action::None
        }
        (KeyCode::Up, _) => {
            app.request_selected = app.request_selected.saturating_sub(1);
            Action::None
        }
        (KeyCode::Down, _) => {
            if app.request_selected + 1 < app.requests.len() {
                app.request_selected += 1;
            }
            Action::None
        }
        (KeyCode::Char('a'), Some(id)) => Action::Accept(id),
        (KeyCode::Char('d'), Some(id)) => Action::Decline(id),
        (KeyCode::Char('b'), Some(id)) => Action::Block(id),
        _ => Action::None,
    }
}
