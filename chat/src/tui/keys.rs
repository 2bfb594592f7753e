//! Key presses: each changes the [`App`] and may return an [`Action`] for the
//! runner to carry out with the chat library.

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use sotto_client::AccountId;

use super::state::{App, MAX_COMPOSER_CHARS, Screen};

/// Work the UI asks of the library.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing to do.
    None,
    /// A different conversation is open: load its messages and mark it read.
    Open(AccountId),
    /// Send a text.
    Send {
        /// Recipient.
        to: AccountId,
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
}

/// Applies one key press.
pub fn handle_key(app: &mut App, key: KeyEvent) -> Action {
    // Terminals that report releases would otherwise type every letter twice.
    if key.kind == KeyEventKind::Release {
        return Action::None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('q')) {
        app.quit = true;
        return Action::None;
    }
    if ctrl && key.code == KeyCode::Char('p') {
        app.show_hops = !app.show_hops;
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
    }
}

fn main_key(app: &mut App, key: KeyEvent, ctrl: bool) -> Action {
    match key.code {
        KeyCode::Esc => {
            app.quit = true;
            Action::None
        }
        KeyCode::Char('r') if ctrl => {
            app.screen = Screen::Requests;
            Action::ShowRequests
        }
        KeyCode::Char('v') if ctrl => match app.current_peer() {
            Some(p) => Action::ShowVerify(p),
            None => Action::None,
        },
        KeyCode::Up => select(app, app.selected.checked_sub(1)),
        KeyCode::Down => select(app, app.selected.checked_add(1)),
        KeyCode::Enter => {
            let text = app.composer.trim().to_string();
            match app.current_peer() {
                Some(to) if !text.is_empty() => {
                    app.composer.clear();
                    Action::Send { to, text }
                }
                Some(_) => Action::None,
                None => {
                    app.status = Some("No conversation open: add a contact first".into());
                    Action::None
                }
            }
        }
        KeyCode::Backspace => {
            app.composer.pop();
            match app.current_peer() {
                Some(peer) if app.composer.is_empty() => Action::Typing {
                    peer,
                    typing: false,
                },
                _ => Action::None,
            }
        }
        KeyCode::Char(c) if !ctrl => {
            if app.composer.chars().count() >= MAX_COMPOSER_CHARS {
                app.status = Some(format!(
                    "A message holds at most {MAX_COMPOSER_CHARS} characters"
                ));
                return Action::None;
            }
            let started = app.composer.is_empty();
            app.composer.push(c);
            match app.current_peer() {
                Some(peer) if started => Action::Typing { peer, typing: true },
                _ => Action::None,
            }
        }
        _ => Action::None,
    }
}

fn select(app: &mut App, to: Option<usize>) -> Action {
    match to {
        Some(i) if i < app.conversations.len() && i != app.selected => {
            app.selected = i;
            app.messages.clear();
            app.peer_typing = false;
            app.conversations
                .get(i)
                .map_or(Action::None, |c| Action::Open(c.peer))
        }
        _ => Action::None,
    }
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
