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
    app.composer.set("kept");
    let a = handle_key(&mut app, key(KeyCode::Enter));
    assert!(
        act(&mut app, &m, a).await.is_err(),
        "a blocked contact refuses"
    );
    assert_eq!(app.composer.text(), "kept");
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

#[tokio::test]
async fn a_contact_added_in_the_ui_opens_with_its_name() {
    let (_dir, m) = messenger();
    let bob = Account::create().id();
    let mut app = App::new(m.account_id());
    refresh(&mut app, &m).await;
    assert_eq!(app.current_peer(), None);
    // A typo keeps the form open and says why.
    let mut typo = bob.to_string();
    typo.pop();
    typo.push(if bob.to_string().ends_with('q') {
        'p'
    } else {
        'q'
    });
    app.screen = Screen::NewChat(super::super::NewChat::default());
    let a = Action::AddContact {
        id: typo,
        name: None,
    };
    act(&mut app, &m, a).await.unwrap();
    assert!(matches!(app.screen, Screen::NewChat(_)));
    assert!(app.status_text().unwrap().contains("Not an account ID"));
    assert!(m.contacts().unwrap().is_empty());

    let a = Action::AddContact {
        id: bob.to_string(),
        name: Some("Bob".into()),
    };
    act(&mut app, &m, a).await.unwrap();
    assert_eq!(app.screen, Screen::Main);
    assert_eq!(app.current_peer(), Some(bob));
    assert_eq!(m.contacts().unwrap()[0].id, bob);
    let s = screen(&app);
    assert!(s.contains("> Bob") && s.contains("Message to Bob"), "{s}");
}
