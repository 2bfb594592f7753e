//! What makes the UI comfortable for a real conversation: wrapping,
//! scrollback, editing, pasting, panels that Esc closes, a list that holds
//! still, status lines that go away, a help line that fits.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use sotto_client::PathStatus;
use sotto_protocol::NodeId;

use super::{conv, ctrl, id, key, msg, rows, sample};
use crate::tui::*;

fn screen_of(app: &App, w: u16, h: u16) -> Buffer {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| draw(f, app)).unwrap();
    t.backend().buffer().clone()
}

/// The runner's bookkeeping before each draw (page size, scroll bound).
fn fit(app: &mut App, w: u16, h: u16) {
    let area = Rect::new(0, 0, w, h);
    app.page = render::page_lines(app, area);
    app.scroll = app.scroll.min(render::max_scroll(app, area));
}

fn alt(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::ALT)
}

#[test]
fn a_long_message_wraps_and_keeps_its_tick() {
    let mut app = sample();
    let words: Vec<String> = (0..40).map(|i| format!("word{i:02}")).collect();
    app.messages = vec![msg(true, &words.join(" "), Tick::Read)];
    let b = screen_of(&app, 80, 24);
    let all = rows(&b);
    let joined = all.join("\n");
    // Every word is on screen, none cut at the pane edge.
    for w in &words {
        assert!(joined.contains(w.as_str()), "{w} missing:\n{joined}");
    }
    // The message takes several rows of the message pane, and its tick
    // follows the last word.
    let first = all.iter().position(|r| r.contains("word00")).unwrap();
    let last = all.iter().position(|r| r.contains("word39")).unwrap();
    assert!(
        last > first + 2,
        "wrapped over rows {first}..{last}:\n{joined}"
    );
    let tick_row = all.iter().position(|r| r.contains("✓✓")).unwrap();
    assert!(tick_row == last || tick_row == last + 1, "{joined}");
    let w = b.area.width as usize;
    assert!(
        b.content[tick_row * w..(tick_row + 1) * w]
            .iter()
            .any(|c| c.symbol() == "✓" && c.fg == render::READ_TICK),
        "the read tick keeps its colour"
    );
}

#[test]
fn scrollback_shows_older_messages() {
    let mut app = sample();
    app.messages = (0..60)
        .map(|i| msg(false, &format!("message {i:02}"), Tick::Delivered))
        .collect();
    fit(&mut app, 100, 24);
    let s = rows(&screen_of(&app, 100, 24)).join("\n");
    assert!(s.contains("message 59"), "newest at the bottom:\n{s}");
    assert!(!s.contains("message 00"), "{s}");
    for _ in 0..20 {
        handle_key(&mut app, key(KeyCode::PageUp));
        fit(&mut app, 100, 24);
    }
    let s = rows(&screen_of(&app, 100, 24)).join("\n");
    assert!(s.contains("message 00"), "oldest reached:\n{s}");
    assert!(!s.contains("message 59"), "{s}");
    assert!(s.contains("PgDn for newer"), "{s}");
    // One PgDn is one page: the view moves, but not all the way back.
    handle_key(&mut app, key(KeyCode::PageDown));
    fit(&mut app, 100, 24);
    let s = rows(&screen_of(&app, 100, 24)).join("\n");
    assert!(
        !s.contains("message 00") && !s.contains("message 59"),
        "{s}"
    );
    // Sending jumps back to the newest.
    handle_key(&mut app, key(KeyCode::Char('x')));
    handle_key(&mut app, key(KeyCode::Enter));
    assert_eq!(app.scroll, 0);
    let s = rows(&screen_of(&app, 100, 24)).join("\n");
    assert!(
        s.contains("message 59") && !s.contains("PgDn for newer"),
        "{s}"
    );
}

#[test]
fn esc_closes_panels_and_never_quits() {
    let mut app = sample();
    handle_key(&mut app, ctrl('p'));
    assert_eq!(app.panel, Some(Panel::Paths));
    assert!(
        rows(&screen_of(&app, 110, 32))
            .join("\n")
            .contains("Onion paths")
    );
    handle_key(&mut app, key(KeyCode::Esc));
    assert_eq!(app.panel, None);
    assert!(!app.quit);
    assert!(
        !rows(&screen_of(&app, 110, 32))
            .join("\n")
            .contains("Onion paths")
    );
    handle_key(&mut app, key(KeyCode::F(1)));
    let s = rows(&screen_of(&app, 110, 32)).join("\n");
    assert!(s.contains("Keys") && s.contains("cyan ✓✓ read"), "{s}");
    handle_key(&mut app, key(KeyCode::Esc));
    assert_eq!(app.panel, None);
    // With nothing open Esc still does not quit; Ctrl-Q does.
    handle_key(&mut app, key(KeyCode::Esc));
    assert!(!app.quit);
    handle_key(&mut app, ctrl('q'));
    assert!(app.quit);
}

#[test]
fn the_selected_conversation_stays_selected() {
    let mut app = sample();
    let alice = app.conversations[0].chat;
    let bob = app.conversations[1].chat;
    let carol = app.conversations[2].chat;
    handle_key(&mut app, key(KeyCode::Down));
    assert_eq!(app.current_chat(), Some(bob));
    // Carol writes (the library now lists her first) and Dave is new.
    let mut dave = conv("Dave", 1, Trust::Unverified);
    let dave_id = dave.chat;
    let mut rows_now = app.conversations.clone();
    rows_now[2].unread = 13;
    rows_now.rotate_right(1);
    dave.preview = "hi".into();
    rows_now.insert(0, dave);
    app.set_conversations(rows_now);
    let order: Vec<_> = app.conversations.iter().map(|c| c.chat).collect();
    assert_eq!(order, [dave_id, alice, bob, carol]);
    assert_eq!(app.current_chat(), Some(bob));
    assert_eq!(app.conversations[3].unread, 13, "rows are updated in place");
    let s = rows(&screen_of(&app, 110, 32)).join("\n");
    assert!(s.contains("> Bob"), "{s}");
    // A conversation that goes away takes its row with it.
    let without_alice: Vec<_> = app
        .conversations
        .iter()
        .filter(|c| c.chat != alice)
        .cloned()
        .collect();
    app.set_conversations(without_alice);
    assert_eq!(app.current_chat(), Some(bob));
    assert_eq!(app.conversations.len(), 3);
}

#[test]
fn the_composer_edits_at_the_cursor_over_several_lines() {
    let mut app = sample();
    for c in "helo".chars() {
        handle_key(&mut app, key(KeyCode::Char(c)));
    }
    handle_key(&mut app, key(KeyCode::Left));
    handle_key(&mut app, key(KeyCode::Char('l')));
    handle_key(&mut app, key(KeyCode::End));
    assert_eq!(handle_key(&mut app, alt(KeyCode::Enter)), Action::None);
    handle_key(&mut app, KeyEvent::new(KeyCode::Enter, KeyModifiers::SHIFT));
    for c in "world".chars() {
        handle_key(&mut app, key(KeyCode::Char(c)));
    }
    handle_key(&mut app, key(KeyCode::Home));
    handle_key(&mut app, key(KeyCode::Delete));
    assert_eq!(app.composer.text(), "hello\n\norld");
    let s = rows(&screen_of(&app, 110, 32)).join("\n");
    assert!(s.contains("│hello") && s.contains("│orld"), "{s}");
    let alice = app.current_peer().unwrap();
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Enter)),
        Action::Send {
            to: Chat::Direct(alice),
            text: "hello\n\norld".into()
        }
    );
}

#[test]
fn a_long_draft_scrolls_in_the_composer() {
    let mut app = sample();
    let lines: Vec<String> = (0..12).map(|i| format!("draft line {i:02}")).collect();
    handle_paste(&mut app, &lines.join("\n"));
    let s = rows(&screen_of(&app, 110, 32)).join("\n");
    // The box grows to its limit and shows the end, where the cursor is.
    assert!(s.contains("draft line 11"), "{s}");
    assert!(s.contains("draft line 07"), "{s}");
    assert!(!s.contains("draft line 06"), "{s}");
    for _ in 0..200 {
        handle_key(&mut app, key(KeyCode::Left));
    }
    let s = rows(&screen_of(&app, 110, 32)).join("\n");
    assert!(
        s.contains("draft line 00") && !s.contains("draft line 11"),
        "{s}"
    );
}

#[test]
fn a_paste_is_typed_not_sent() {
    let mut app = sample();
    let alice = app.current_peer().unwrap();
    assert_eq!(
        handle_paste(&mut app, "first line\r\nsecond line\n"),
        Action::Typing {
            peer: alice,
            typing: true
        }
    );
    assert_eq!(app.composer.text(), "first line\nsecond line\n");
    // A paste too long for a message is cut and says so.
    let huge = "y".repeat(state::MAX_COMPOSER_CHARS);
    handle_paste(&mut app, &huge);
    assert_eq!(app.composer.len(), state::MAX_COMPOSER_CHARS);
    assert!(app.status_text().unwrap().contains("at most"));
}

#[test]
fn status_lines_go_when_the_problem_does() {
    let mut app = sample();
    app.notice("Blocked.", Clears::OnKey);
    handle_key(&mut app, key(KeyCode::Char('a')));
    assert_eq!(app.status, None, "an answer goes at the next key");
    app.notice("Offline: no bootstrap node answered", Clears::OnPath);
    handle_key(&mut app, key(KeyCode::Char('b')));
    app.set_path(PathStatus::Building);
    assert!(app.status.is_some(), "still offline");
    assert!(
        rows(&screen_of(&app, 110, 32))
            .join("\n")
            .contains("Offline:")
    );
    app.set_path(PathStatus::Ready {
        hops: vec![vec![NodeId([1; 32])]],
    });
    assert_eq!(app.status, None);
    assert!(
        !rows(&screen_of(&app, 110, 32))
            .join("\n")
            .contains("Offline:")
    );
    app.notice("Not sent yet (timeout); it stays queued.", Clears::OnPath);
    app.network_ok();
    assert_eq!(app.status, None);
}

#[test]
fn the_help_line_fits_narrow_terminals() {
    for width in [120u16, 100, 80, 60] {
        let app = sample();
        let b = screen_of(&app, width, 30);
        let all = rows(&b);
        // The help line is at the bottom, wrapped over as many rows as it needs.
        let bottom = all[all.len() - 3..].join(" ");
        let flat: String = bottom.split_whitespace().collect::<Vec<_>>().join(" ");
        for hint in render::help_text(&Screen::Main).split(" · ") {
            assert!(
                flat.contains(hint),
                "{width} columns: {hint:?} missing in {flat:?}"
            );
        }
    }
}

#[test]
fn paths_show_each_hop_address() {
    let mut app = sample();
    app.set_path(PathStatus::Ready {
        hops: vec![vec![NodeId([1; 32]), NodeId([2; 32]), NodeId([3; 32])]],
    });
    app.hops = vec![vec![
        "198.51.100.1:4600".into(),
        "198.51.100.2:4600".into(),
        "[2001:db8::3]:4600".into(),
    ]];
    handle_key(&mut app, ctrl('p'));
    let s = rows(&screen_of(&app, 110, 32)).join("\n");
    assert!(
        s.contains("path 1: 198.51.100.1:4600 → 198.51.100.2:4600 → [2001:db8::3]:4600"),
        "{s}"
    );
    assert!(!s.contains("0101010101"), "{s}");
}

#[test]
fn a_new_conversation_is_started_from_the_ui() {
    let mut app = App::new(id());
    handle_key(&mut app, ctrl('n'));
    assert!(matches!(app.screen, Screen::NewChat(_)));
    let peer = id().to_string();
    handle_paste(&mut app, &format!("{peer}\n"));
    assert!(rows(&screen_of(&app, 110, 32)).join("\n").contains(&peer));
    // Enter on the ID moves on to the name.
    assert_eq!(handle_key(&mut app, key(KeyCode::Enter)), Action::None);
    for c in "Zoë".chars() {
        handle_key(&mut app, key(KeyCode::Char(c)));
    }
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Enter)),
        Action::AddContact {
            id: peer,
            name: Some("Zoë".into())
        }
    );
    // Esc goes back without adding.
    handle_key(&mut app, key(KeyCode::Esc));
    assert_eq!(app.screen, Screen::Main);
    assert!(!app.quit);
}

#[test]
fn a_group_is_listed_with_the_conversations_and_written_to() {
    let mut app = App::new(id());
    let group = sotto_client::group::GroupId([7; 32]);
    app.set_conversations(vec![
        ConvRow {
            chat: Chat::Group(group),
            title: "club".into(),
            unread: 2,
            preview: String::new(),
            trust: Trust::Unverified,
        },
        ConvRow {
            chat: Chat::Direct(id()),
            title: "Alice".into(),
            unread: 0,
            preview: String::new(),
            trust: Trust::Unverified,
        },
    ]);
    app.messages = vec![MsgRow {
        outgoing: false,
        from: Some("Bob".into()),
        text: "hello club".into(),
        sent_at: 0,
        tick: Tick::Delivered,
        expires_at: None,
    }];
    let s = rows(&screen_of(&app, 110, 32)).join("\n");
    assert!(s.contains("> # club (2)"), "a group is marked:\n{s}");
    assert!(s.contains("Bob: hello club"), "the sender is named:\n{s}");
    assert_eq!(app.current_chat(), Some(Chat::Group(group)));
    assert_eq!(app.current_peer(), None);
    // Typing is said to the group (the library sends it only where typing
    // notices are on); Enter sends to the group.
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Char('h'))),
        Action::GroupTyping {
            group,
            typing: true
        }
    );
    handle_key(&mut app, key(KeyCode::Char('i')));
    assert_eq!(
        handle_key(&mut app, key(KeyCode::Enter)),
        Action::Send {
            to: Chat::Group(group),
            text: "hi".into()
        }
    );
    // Ctrl-V verifies contacts, not groups.
    assert_eq!(handle_key(&mut app, ctrl('v')), Action::None);
}
