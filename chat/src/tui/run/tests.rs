//! The runner's glue against a real (offline) Messenger on disk: library
//! state reaches the screen, and key actions reach the library.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use sotto_client::Account;
use sotto_client::chat::{HomeOptions, Messenger, VerificationStatus};

use super::*;

fn messenger() -> (tempfile::TempDir, Messenger) {
    let dir = tempfile::tempdir().unwrap();
    let opts = HomeOptions {
        home: dir.path().to_path_buf(),
        passphrase: None,
    };
    let (m, _) = Messenger::create(&opts, Some("Me")).unwrap();
    (dir, m)
}

fn screen(app: &App) -> String {
    let mut t = Terminal::new(TestBackend::new(100, 30)).unwrap();
    t.draw(|f| super::super::draw(f, app)).unwrap();
    let b = t.backend().buffer().clone();
    b.content
        .chunks(b.area.width as usize)
        .map(|r| r.iter().map(|c| c.symbol()).collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

fn key(code: KeyCode) -> KeyEvent {
    KeyEvent::new(code, KeyModifiers::NONE)
}

#[tokio::test]
async fn typed_message_is_queued_and_shown_with_its_tick() {
    let (_dir, m) = messenger();
    let bob = Account::create().id();
    m.add_contact(bob, Some("bob")).unwrap();
    let mut app = App::new(m.account_id());
    refresh(&mut app, &m).await;
    assert_eq!(app.current_peer(), Some(bob));
    assert!(screen(&app).contains("> bob"));
    // Offline: the path indicator says so.
    assert!(screen(&app).contains("● offline"));

    for c in "hello".chars() {
        let a = handle_key(&mut app, key(KeyCode::Char(c)));
        act(&mut app, &m, a).await.unwrap();
    }
    let a = handle_key(&mut app, key(KeyCode::Enter));
    act(&mut app, &m, a).await.unwrap();
    // The library holds it as queued (no network), and the screen shows it so.
    let stored = m.messages(&bob, 10).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].text, "hello");
    let s = screen(&app);
    assert!(s.contains("You: hello …"), "{s}");
}

#[tokio::test]
async fn a_message_the_library_refuses_stays_in_the_composer() {
    let (_dir, m) = messenger();
    let bob = Account::create().id();
    m.add_contact(bob, Some("bob")).unwrap();
    m.block(&bob).await.unwrap();
    let mut app = App::new(m.account_id());
    refresh(&mut app, &m).await;
    app.composer = "kept".into();
    let a = handle_key(&mut app, key(KeyCode::Enter));
    assert!(
        act(&mut app, &m, a).await.is_err(),
        "a blocked contact refuses"
    );
    assert_eq!(app.composer, "kept");
    assert!(m.messages(&bob, 10).unwrap().is_empty());
}

#[tokio::test]
async fn verify_screen_and_marking_reach_the_library() {
    let (_dir, m) = messenger();
    let bob = Account::create().id();
    m.add_contact(bob, Some("bob")).unwrap();
    let mut app = App::new(m.account_id());
    refresh(&mut app, &m).await;
    let a = handle_key(
        &mut app,
        KeyEvent::new(KeyCode::Char('v'), KeyModifiers::CONTROL),
    );
    act(&mut app, &m, a).await.unwrap();
    let code = m.verification(&bob).unwrap().code;
    let s = screen(&app);
    assert!(s.contains(&code.lines()[0]), "{s}");
    let a = handle_key(&mut app, key(KeyCode::Char('m')));
    act(&mut app, &m, a).await.unwrap();
    assert_eq!(
        m.verification(&bob).unwrap().status,
        VerificationStatus::Verified
    );
    assert!(screen(&app).contains("✔ Verified"));
}
