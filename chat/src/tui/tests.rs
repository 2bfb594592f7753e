//! The UI's screens drawn on ratatui's TestBackend, and key presses driving it.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use sotto_client::{Account, AccountId, PathStatus, verification_code};
use sotto_protocol::NodeId;

use super::render::{NOT_READY, READ_TICK, READY};
use super::*;

mod comfort;

fn id() -> AccountId {
    Account::create().id()
}

fn screen(app: &App) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(110, 32)).unwrap();
    t.draw(|f| draw(f, app)).unwrap();
    t.backend().buffer().clone()
}

fn rows(b: &Buffer) -> Vec<String> {
    let w = b.area.width as usize;
    b.content
        .chunks(w)
        .map(|r| r.iter().map(|c| c.symbol()).collect::<String>())
        .collect()
}

fn text(b: &Buffer) -> String {
    rows(b).join("\n")
}

/// Foreground colour of the first cell of `needle` on screen.
fn colour_of(b: &Buffer, needle: &str) -> Color {
    let w = b.area.width as usize;
    for (y, row) in rows(b).iter().enumerate() {
        if let Some(byte) = row.find(needle) {
            let x = row[..byte].chars().count();
            // Wide symbols occupy one cell each in this row of one-width glyphs.
            return b.content[y * w + x].fg;
        }
    }
    panic!("{needle:?} not on screen:\n{}", text(b));
}

fn conv(title: &str, unread: usize, trust: Trust) -> ConvRow {
    ConvRow {
        chat: Chat::Direct(id()),
        title: title.into(),
        unread,
        preview: String::new(),
        trust,
    }
}

fn msg(outgoing: bool, text: &str, tick: Tick) -> MsgRow {
    MsgRow {
        outgoing,
        from: None,
        text: text.into(),
        // 13:05 UTC on some day.
        sent_at: (20_000 * 24 * 60 + 13 * 60 + 5) * 60_000,
        tick,
        expires_at: None,
    }
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

fn ctrl(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
}

fn sample() -> App {
    let mut app = App::new(id());
    app.set_conversations(vec![
        conv("Alice", 3, Trust::Verified),
        conv("Bob", 0, Trust::Unverified),
        conv("Carol", 12, Trust::Changed),
    ]);
    app
}

#[test]
fn list_shows_titles_and_unread_counts() {
    let app = sample();
    let s = text(&screen(&app));
    assert!(s.contains("Alice (3)"), "{s}");
    assert!(s.contains("Carol (12)"), "{s}");
    assert!(s.contains("Bob"), "{s}");
    assert!(
        !s.contains("Bob ("),
        "no count when nothing is unread:\n{s}"
    );
    assert!(s.contains("key changed"), "{s}");
    assert!(
        s.contains("> Alice"),
        "the open conversation is marked:\n{s}"
    );
}

#[test]
fn messages_show_time_and_ticks() {
    let mut app = sample();
    app.messages = vec![
        msg(false, "hi there", Tick::Delivered),
        msg(true, "queued one", Tick::Queued),
        msg(true, "sent one", Tick::Sent),
        msg(true, "delivered one", Tick::Delivered),
        msg(true, "read one", Tick::Read),
    ];
    let b = screen(&app);
    let s = text(&b);
    assert!(s.contains("[13:05] Alice: hi there"), "{s}");
    assert!(s.contains("You: queued one …"), "{s}");
    assert!(s.contains("You: sent one ✓"), "{s}");
    assert!(s.contains("You: delivered one ✓✓"), "{s}");
    assert!(s.contains("You: read one ✓✓"), "{s}");
    // Incoming messages carry no tick.
    assert!(!s.contains("hi there ✓"), "{s}");
    assert_eq!(colour_of(&b, "✓✓ "), Color::Reset, "delivered is plain");
    let read_row = rows(&b)
        .into_iter()
        .position(|r| r.contains("read one"))
        .unwrap();
    let w = b.area.width as usize;
    let row = &b.content[read_row * w..(read_row + 1) * w];
    assert!(
        row.iter().any(|c| c.symbol() == "✓" && c.fg == READ_TICK),
        "read ticks are coloured"
    );
}

#[test]
fn path_indicator_colours() {
    let mut app = sample();
    app.path = PathStatus::Building;
    assert_eq!(colour_of(&screen(&app), "● building"), NOT_READY);
    app.path = PathStatus::Offline;
    assert_eq!(colour_of(&screen(&app), "● offline"), NOT_READY);
    app.path = PathStatus::Ready {
        hops: vec![vec![NodeId([1; 32]), NodeId([2; 32]), NodeId([3; 32])]],
    };
    let b = screen(&app);
    assert_eq!(colour_of(&b, "● 1 path(s) ready"), READY);
    // Hops only on demand.
    assert!(!text(&b).contains("0101010101010101"));
    handle_key(&mut app, ctrl('p'));
    let s = text(&screen(&app));
    assert!(
        s.contains("path 1: 0101010101010101 → 0202020202020202 → 0303030303030303"),
        "{s}"
    );
}

#[test]
fn requests_pane_lists_and_acts() {
    let mut app = sample();
    let stranger = id();
    let other = id();
    assert_eq!(handle_key(&mut app, ctrl('r')), Action::ShowRequests);
    assert!(text(&screen(&app)).contains("No message requests."));
    app.set_requests(vec![
        RequestRow {
            from: stranger,
            name: Some("Mallory".into()),
            messages: 2,
            first_text: "hello, remember me?".into(),
        },
        RequestRow {
            from: other,
            name: None,
            messages: 1,
            first_text: "hey".into(),
        },
    ]);
    let s = text(&screen(&app));
    assert!(s.contains("Mallory — 2 message(s)"), "{s}");
    assert!(s.contains("“hello, remember me?”"), "{s}");
    assert!(s.contains(&stranger.to_string()), "{s}");
    assert!(s.contains("requests: 2"), "{s}");
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Char('a'))),
        Action::Accept(stranger)
    );
    handle_key(&mut app, key(KeyCode::Down));
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Char('b'))),
        Action::Block(other)
    );
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Char('d'))),
        Action::Decline(other)
    );
    // Down stops at the last request.
    handle_key(&mut app, key(KeyCode::Down));
    assert_eq!(app.request_selected, 1);
    handle_key(&mut app, key(KeyCode::Esc));
    assert_eq!(app.screen, Screen::Main);
    assert!(!app.quit);
}

#[test]
fn attachments_show_their_state_and_ctrl_s_saves_the_newest() {
    let mut app = sample();
    // No attachment: Ctrl-S says so and asks for nothing.
    assert_eq!(handle_key(&mut app, ctrl('s')), Action::None);
    assert_eq!(
        app.status_text(),
        Some("No attachment in this conversation.")
    );
    let peer = app.current_peer().unwrap();
    let id: sotto_client::chat::MessageId = "00112233445566778899aabbccddeeff".parse().unwrap();
    let msg = sotto_client::chat::ChatMessage {
        id,
        peer,
        outgoing: false,
        text: "[file] report.pdf (200 kB)".into(),
        sent_at: 1_700_000_000_000,
        received_at: 1_700_000_000_000,
        state: sotto_client::chat::MessageState::Delivered,
        expires_at: None,
        request: false,
    };
    app.messages.push(convert::attachment_row(
        &msg,
        &sotto_client::chat::AttachmentState::Pending,
    ));
    app.messages.push(convert::attachment_row(
        &msg,
        &sotto_client::chat::AttachmentState::Ready("/x".into()),
    ));
    app.last_attachment = Some(id);
    let shown = text(&screen(&app));
    assert!(
        shown.contains("[file] report.pdf (200 kB) · not downloaded"),
        "{shown}"
    );
    assert!(
        shown.contains("[file] report.pdf (200 kB) · ready"),
        "{shown}"
    );
    assert_eq!(handle_key(&mut app, ctrl('s')), Action::Save(id));
}

#[test]
fn verification_screen_shows_code_and_qr() {
    let mut app = sample();
    let peer = app.current_peer().unwrap();
    assert_eq!(handle_key(&mut app, ctrl('v')), Action::ShowVerify(peer));
    let code = verification_code(&app.me, &peer);
    app.screen = Screen::Verify(VerifyView {
        peer,
        title: "Alice".into(),
        code,
        trust: Trust::Unverified,
    });
    let b = Terminal::new(TestBackend::new(110, 60))
        .map(|mut t| {
            t.draw(|f| draw(f, &app)).unwrap();
            t.backend().buffer().clone()
        })
        .unwrap();
    let s = text(&b);
    assert!(s.contains("Verification code with Alice"), "{s}");
    for line in code.lines() {
        assert!(s.contains(&line), "missing {line:?}:\n{s}");
    }
    assert!(s.contains("Not verified"), "{s}");
    assert!(s.contains("▀") || s.contains("▄"), "QR drawn:\n{s}");
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Char('m'))),
        Action::MarkVerified(peer)
    );
    handle_key(&mut app, key(KeyCode::Esc));
    assert_eq!(app.screen, Screen::Main);
}

#[test]
fn typing_and_sending() {
    let mut app = sample();
    let alice = app.current_peer().unwrap();
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Char('h'))),
        Action::Typing {
            peer: alice,
            typing: true
        }
    );
    assert_eq!(handle_key(&mut app, key(KeyCode::Char('i'))), Action::None);
    assert!(text(&screen(&app)).contains("Message to Alice"));
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Enter)),
        Action::Send {
            to: Chat::Direct(alice),
            text: "hi".into()
        }
    );
    assert!(app.composer.is_empty());
    // An empty composer sends nothing.
    assert_eq!(handle_key(&mut app, key(KeyCode::Enter)), Action::None);
    handle_key(&mut app, key(KeyCode::Char('x')));
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Backspace)),
        Action::Typing {
            peer: alice,
            typing: false
        }
    );
}

#[test]
fn moving_between_conversations_opens_them() {
    let mut app = sample();
    let bob = app.conversations[1].chat;
    assert_eq!(handle_key(&mut app, key(KeyCode::Up)), Action::None);
    assert_eq!(handle_key(&mut app, key(KeyCode::Down)), Action::Open(bob));
    // The library's order changes with new activity; the rows on screen do
    // not move under the cursor, and Bob stays open.
    let before: Vec<_> = app.conversations.iter().map(|c| c.chat).collect();
    let mut reordered = app.conversations.clone();
    reordered.reverse();
    app.set_conversations(reordered);
    assert_eq!(app.current_chat(), Some(bob));
    let after: Vec<_> = app.conversations.iter().map(|c| c.chat).collect();
    assert_eq!(after, before);
    assert_eq!(app.unread_total(), 15);
    handle_key(&mut app, key(KeyCode::Down));
    handle_key(&mut app, key(KeyCode::Down));
    assert_eq!(app.selected, 2);
}

#[test]
fn quitting_and_bounds() {
    let mut app = App::new(id());
    // With no conversation, Enter explains instead of sending.
    handle_key(&mut app, key(KeyCode::Char('x')));
    assert_eq!(handle_key(&mut app, key(KeyCode::Enter)), Action::None);
    assert!(app.status_text().unwrap().contains("Ctrl-N adds a contact"));
    assert!(text(&screen(&app)).contains("Ctrl-N adds a contact"));
    for _ in 0..super::state::MAX_COMPOSER_CHARS + 10 {
        handle_key(&mut app, key(KeyCode::Char('y')));
    }
    assert_eq!(app.composer.len(), super::state::MAX_COMPOSER_CHARS);
    handle_key(&mut app, ctrl('c'));
    assert!(app.quit);
}

#[test]
fn clock_is_hours_and_minutes() {
    assert_eq!(render::clock(0), "00:00");
    assert_eq!(render::clock((23 * 60 + 59) * 60_000 + 59_999), "23:59");
    assert_eq!(render::clock(24 * 3_600_000 + 61_000), "00:01");
}
