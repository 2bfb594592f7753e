//! The desktop app in a real headless Chromium (issue 17): two `sotto app`
//! instances on an 8-node devnet of real `sotto-node` processes, each
//! driven through chromedriver. Alice creates her account, adds Bob by ID
//! and writes; Bob accepts the request and replies; Alice sees the reply,
//! her ticks turn to read, the path indicator is green with three hops;
//! Alice makes a group with Bob and they write in it; a stranger whose
//! display name is markup shows up as text.
//!
//! Skips (passes with a message) only when `chromium` or `chromedriver` is
//! not installed; `.ci/run` installs both. Screenshots land in
//! `target/tmp/web_app/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::field_reassign_with_default
)]

#[path = "support/browser.rs"]
mod browser;
#[path = "support/devnet.rs"]
mod devnet;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::Locator;
use fantoccini::key::Key;
use serde_json::json;

use browser::{App, Browser, Proc, SOTTO, WAIT, free_port, out_dir, which};

/// The display name of the stranger: markup that would run if the page
/// ever put a name in as HTML.
const EVIL: &str = "<img src=x onerror=alert(1)>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_browsers_chat_over_real_nodes() {
    let (Some(chromium), Some(chromedriver)) = (
        which(&["chromium", "chromium-browser", "google-chrome"]),
        which(&["chromedriver"]),
    ) else {
        eprintln!(
            "SKIPPED web_app: chromium and chromedriver are not installed \
             (apt-get install chromium chromium-driver; .ci/run does)"
        );
        return;
    };
    let started = Instant::now();
    let nodes = tokio::task::spawn_blocking(|| devnet::start(SOTTO))
        .await
        .unwrap();
    let net_dir = tempfile::tempdir().unwrap();
    let bootstrap = devnet::bootstrap_file(&nodes, net_dir.path());
    eprintln!(
        "devnet of {} up after {:?}",
        devnet::NODES,
        started.elapsed()
    );

    let port = free_port();
    let driver_log = std::fs::File::create(out_dir().join("chromedriver.log")).unwrap();
    let _driver = Proc(
        Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(driver_log.try_clone().unwrap())
            .stderr(driver_log)
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + WAIT;
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let driver = format!("http://127.0.0.1:{port}");

    let alice_app = App::start(&bootstrap);
    let bob_app = App::start(&bootstrap);
    let alice = Browser::open(&driver, &chromium, "alice").await;
    let bob = Browser::open(&driver, &chromium, "bob").await;

    let bob_id = bob.create_account(&bob_app, "Bob").await;
    let alice_id = alice.create_account(&alice_app, "Alice").await;

    // Alice adds Bob by ID and writes.
    alice.click("#new-chat", &alice_app).await;
    alice.type_into("#new-chat-id", &bob_id, &alice_app).await;
    alice.click("#new-chat-go", &alice_app).await;
    alice.wait("#conv-open", &alice_app).await;
    alice.send("Hello Bob, it is Alice", &alice_app).await;
    alice.shot("4-sent").await;

    // Bob sees a request, accepts it, reads and replies.
    bob.wait_text("#requests-count", "1", &bob_app).await;
    bob.click("#requests-button", &bob_app).await;
    bob.wait_text("li.request .request-name", "Alice", &bob_app)
        .await;
    bob.wait_text(
        "li.request .request-text",
        "Hello Bob, it is Alice",
        &bob_app,
    )
    .await;
    bob.shot("5-request").await;
    bob.click("li.request button.accept", &bob_app).await;
    bob.wait_text(
        "#messages li.theirs .msg-text",
        "Hello Bob, it is Alice",
        &bob_app,
    )
    .await;
    bob.send("Hi Alice, Bob here", &bob_app).await;
    bob.shot("6-replied").await;

    // Alice sees the reply; her message is read; the paths are up.
    alice
        .wait_text(
            "#messages li.theirs .msg-text",
            "Hi Alice, Bob here",
            &alice_app,
        )
        .await;
    alice
        .wait(r#"#messages li.mine[data-state="read"]"#, &alice_app)
        .await;
    let tick = alice
        .wait(r#"#messages li.mine[data-state="read"] .tick"#, &alice_app)
        .await;
    assert_eq!(
        tick.attr("aria-label").await.unwrap().as_deref(),
        Some("Read")
    );
    alice.shot("7-conversation").await;
    alice
        .wait(r#"#path-indicator[data-status="ready"]"#, &alice_app)
        .await;
    let green = alice
        .js("return getComputedStyle(document.querySelector('#path-indicator .dot')).backgroundColor")
        .await;
    assert_eq!(green, json!("rgb(31, 157, 85)"), "the path dot is green");
    alice.click("#path-indicator", &alice_app).await;
    alice.wait("#path-list li.path-item", &alice_app).await;
    let hops = alice
        .js("return Array.from(document.querySelectorAll('#path-list li.path-item')).map(p => p.querySelectorAll('li.hop').length)")
        .await;
    let hops: Vec<u64> = serde_json::from_value(hops).unwrap();
    assert!(!hops.is_empty() && hops.iter().all(|n| *n == 3), "{hops:?}");
    alice.shot("8-paths").await;
    alice.click("#dialog-close", &alice_app).await;

    more_screens(&alice, &alice_app, &bob, &bob_app).await;
    group_chat(&alice, &alice_app, &bob, &bob_app, &bob_id).await;

    // A stranger whose name is markup writes to Alice.
    let stranger = tempfile::tempdir().unwrap();
    let cli = |args: Vec<String>| {
        let home = stranger.path().to_path_buf();
        let bootstrap = bootstrap.clone();
        async move {
            tokio::task::spawn_blocking(move || {
                Command::new(SOTTO)
                    .arg("--home")
                    .arg(&home)
                    .args(&args)
                    .env("SOTTO_NETWORK", "devnet")
                    .env("SOTTO_BOOTSTRAP", &bootstrap)
                    .env_remove("SOTTO_HOME")
                    .env_remove("SOTTO_PASSPHRASE")
                    .stdin(Stdio::null())
                    .output()
                    .unwrap()
            })
            .await
            .unwrap()
        }
    };
    let out = cli(vec!["init".into(), "--name".into(), EVIL.into()]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Adding Alice first queues the stranger's profile (its name) ahead of
    // the message, so `send`, which waits for its message, sends it too.
    let out = cli(vec!["contacts".into(), "add".into(), alice_id.clone()]).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(vec![
        "send".into(),
        alice_id.clone(),
        "<b>hi</b> from a stranger".into(),
        "--timeout".into(),
        "3m".into(),
    ])
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    alice.wait_text("#requests-count", "1", &alice_app).await;
    alice.click("#requests-button", &alice_app).await;
    alice
        .wait_text("li.request .request-name", EVIL, &alice_app)
        .await;
    alice
        .wait_text(
            "li.request .request-text",
            "<b>hi</b> from a stranger",
            &alice_app,
        )
        .await;
    alice.shot("9-stranger-request").await;
    // Nothing of it became markup: no image, no bold, and no alert (an
    // open alert would have failed every command above).
    let injected = alice
        .js("return document.querySelectorAll('img[src=\"x\"], #dialog b').length")
        .await;
    assert_eq!(injected, json!(0));
    let name_html = alice
        .js("return document.querySelector('li.request .request-name').childElementCount")
        .await;
    assert_eq!(name_html, json!(0));
    // Reading the whole request, then blocking the stranger from there.
    alice.click("li.request button.view", &alice_app).await;
    alice.wait("#request-bar", &alice_app).await;
    alice.wait_text("#conv-title", EVIL, &alice_app).await;
    alice
        .wait_text(
            "#messages li.theirs .msg-text",
            "<b>hi</b> from a stranger",
            &alice_app,
        )
        .await;
    let composer = alice.client.find(Locator::Css("#composer")).await.unwrap();
    assert!(
        !composer.is_displayed().await.unwrap(),
        "no reply before accepting"
    );
    alice.shot("15-stranger-conversation").await;
    alice.click("#request-block", &alice_app).await;
    alice.wait("#conv-empty", &alice_app).await;
    alice
        .wait_js(
            "return document.getElementById('requests-count').hidden",
            "the blocked request to go",
            &alice_app,
        )
        .await;

    alice.client.close().await.unwrap();
    bob.client.close().await.unwrap();
    eprintln!("web app test done after {:?}", started.elapsed());
}

/// Typing, verification, the disappearing timer, delete for everyone,
/// the dark theme and a narrow window, between Alice and Bob.
async fn more_screens(alice: &Browser, alice_app: &App, bob: &Browser, bob_app: &App) {
    // Bob types without sending: Alice sees it; sending ends it. He keeps
    // typing until she does, since a pause of a few seconds tells her he
    // stopped (and on a loaded machine both notices may arrive together).
    bob.type_into("#composer", "Still here", bob_app).await;
    let deadline = Instant::now() + WAIT;
    loop {
        let shown = alice
            .js("const t = document.getElementById('typing'); return t.hidden ? '' : t.textContent")
            .await;
        if shown == json!("Bob is typing…") {
            break;
        }
        if Instant::now() > deadline {
            alice.timeout("Bob's typing to show", alice_app).await;
        }
        bob.type_into("#composer", ".", bob_app).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    alice.shot("10-typing").await;
    let enter = char::from(Key::Enter).to_string();
    bob.wait("#composer", bob_app)
        .await
        .send_keys(&enter)
        .await
        .unwrap();
    alice
        .wait_js(
            "return Array.from(document.querySelectorAll('#messages li.theirs .msg-text')) \
             .some(e => e.textContent.startsWith('Still here'))",
            "Bob's second message",
            alice_app,
        )
        .await;

    // Both see the same verification code; Alice marks Bob verified.
    alice.click("#details-button", alice_app).await;
    let code = alice
        .wait("#verification-code", alice_app)
        .await
        .text()
        .await
        .unwrap();
    let digits: String = code.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(digits.len(), 60, "{code}");
    alice.wait("#dialog img.qr", alice_app).await;
    alice.click("#mark-verified", alice_app).await;
    alice
        .wait_text(
            "#trust-status",
            "Verified: you compared this code with them.",
            alice_app,
        )
        .await;
    alice.shot("11-verified").await;
    alice.click("#dialog-close", alice_app).await;
    bob.click("#details-button", bob_app).await;
    let theirs = bob
        .wait("#verification-code", bob_app)
        .await
        .text()
        .await
        .unwrap();
    let theirs: String = theirs.chars().filter(char::is_ascii_digit).collect();
    assert_eq!(digits, theirs, "both sides show one code");
    bob.click("#dialog-close", bob_app).await;

    // Alice turns on disappearing messages; Bob's side follows.
    alice
        .click(r#"#timer option[value="after-send:3600"]"#, alice_app)
        .await;
    bob.wait_text("#conv-title", "Alice", bob_app).await;
    bob.wait_js(
        "return document.getElementById('timer').value === 'after-send:3600'",
        "the timer to reach Bob",
        bob_app,
    )
    .await;
    alice
        .click(r#"#timer option[value="off:0"]"#, alice_app)
        .await;

    // Delete for everyone: gone on both sides.
    alice.send("a message to take back", alice_app).await;
    bob.wait_text(
        "#messages li.theirs .msg-text",
        "a message to take back",
        bob_app,
    )
    .await;
    let last = alice
        .js("return Array.from(document.querySelectorAll('#messages li.mine')).pop().dataset.id")
        .await;
    let last = last.as_str().unwrap().to_string();
    alice
        .click(
            &format!(r#"#messages li[data-id="{last}"] button.msg-delete"#),
            alice_app,
        )
        .await;
    // "Delete this message for everyone?"
    alice.client.accept_alert().await.unwrap();
    let gone =
        format!(r#"return document.querySelector('#messages li[data-id="{last}"]') === null"#);
    for (who, app) in [(alice, alice_app), (bob, bob_app)] {
        who.wait_js(&gone, "the deleted message to go", app).await;
    }

    // Dark theme, then a narrow window: one pane at a time.
    bob.click("#settings-button", bob_app).await;
    bob.click(r#"#settings-theme option[value="dark"]"#, bob_app)
        .await;
    bob.click("#settings-save", bob_app).await;
    bob.wait(r#"html[data-theme="dark"] #conv-open"#, bob_app)
        .await;
    bob.shot("12-dark").await;
    bob.client.set_window_size(420, 800).await.unwrap();
    bob.wait("#back", bob_app).await;
    let sidebar = bob.client.find(Locator::Css(".sidebar")).await.unwrap();
    assert!(
        !sidebar.is_displayed().await.unwrap(),
        "narrow: the list hides behind the conversation"
    );
    bob.shot("13-narrow-conversation").await;
    bob.click("#back", bob_app).await;
    bob.wait(".sidebar #conversations button.conv", bob_app)
        .await;
    bob.shot("14-narrow-list").await;
}

/// Alice makes a group with Bob from the "New group" form (each is the
/// other's contact, so Bob's app joins at once); they write in it and each
/// sees the other's message under the sender's name; the members dialog
/// lists both, and follows when Bob leaves.
async fn group_chat(alice: &Browser, alice_app: &App, bob: &Browser, bob_app: &App, bob_id: &str) {
    // Bob is back to a wide window, on the list.
    bob.client.set_window_size(1280, 800).await.unwrap();
    bob.wait("#conversations button.conv", bob_app).await;

    let started = Instant::now();
    alice.click("#new-group", alice_app).await;
    alice.type_into("#group-name", "Book club", alice_app).await;
    alice
        .click(
            &format!(r#"#group-pick input[value="{bob_id}"]"#),
            alice_app,
        )
        .await;
    alice.shot("16-new-group").await;
    // The page opens the group once it is made. Making it fetches Bob's key
    // package over an onion path; a fetch that failed (a loaded machine)
    // is said in the form, and the person, as here, presses Create again.
    let deadline = Instant::now() + WAIT;
    loop {
        alice.click("#group-create", alice_app).await;
        let outcome = loop {
            let now = alice
                .js("const err = document.querySelector('#dialog .form-error'); \
                     if (!document.getElementById('dialog').open \
                         && document.getElementById('conv-title').textContent === 'Book club') return 'made'; \
                     return err && !err.hidden ? err.textContent : ''")
                .await;
            let now = now.as_str().unwrap_or_default().to_string();
            if !now.is_empty() || Instant::now() > deadline {
                break now;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        if outcome == "made" {
            break;
        }
        if Instant::now() > deadline {
            alice.timeout("the group to be made", alice_app).await;
        }
        eprintln!("making the group failed, pressing Create again: {outcome}");
    }
    alice
        .wait_text("#details-button", "Members", alice_app)
        .await;
    alice
        .wait_text(
            "#conversations button.conv.group[aria-current=\"true\"] .conv-title",
            "Book club",
            alice_app,
        )
        .await;
    eprintln!("group created after {:?}", started.elapsed());
    alice.send("Hello club, Alice here", alice_app).await;
    // Stored in the group's swarm: queued, then sent.
    alice
        .wait(r#"#messages li.mine[data-state="sent"]"#, alice_app)
        .await;

    // Bob's list shows the group (marked as one) with the message; opening
    // it shows who wrote it.
    bob.wait_text(
        "#conversations button.conv.group .conv-last",
        "Alice: Hello club, Alice here",
        bob_app,
    )
    .await;
    eprintln!("Bob has the group after {:?}", started.elapsed());
    bob.click("#conversations button.conv.group", bob_app).await;
    bob.wait_text("#conv-title", "Book club", bob_app).await;
    let theirs = bob
        .wait_text(
            "#messages li.theirs .msg-text",
            "Hello club, Alice here",
            bob_app,
        )
        .await;
    let from = bob
        .js("return document.querySelector('#messages li.theirs .msg-from').textContent")
        .await;
    assert_eq!(from, json!("Alice"));
    assert!(theirs.is_displayed().await.unwrap());
    // Opened is read: no unread badge left on the group's row.
    bob.wait_js(
        "return document.querySelector('#conversations button.conv.group .conv-unread') === null",
        "the group's unread count to clear",
        bob_app,
    )
    .await;
    bob.send("Hi Alice, Bob in the club", bob_app).await;
    bob.shot("17-group").await;

    alice
        .wait_text(
            "#messages li.theirs .msg-text",
            "Hi Alice, Bob in the club",
            alice_app,
        )
        .await;
    let from = alice
        .js("return document.querySelector('#messages li.theirs .msg-from').textContent")
        .await;
    assert_eq!(from, json!("Bob"));
    eprintln!("the group round trip took {:?}", started.elapsed());
    alice.shot("18-group").await;

    // The members dialog: both, Alice the admin.
    alice.click("#details-button", alice_app).await;
    alice
        .wait(
            r#"#members-list li.member[data-id] .member-name"#,
            alice_app,
        )
        .await;
    let members = alice
        .js("return Array.from(document.querySelectorAll('#members-list li.member')) \
             .map(m => [m.querySelector('.member-name').textContent, m.querySelector('.tag') !== null])")
        .await;
    assert_eq!(members, json!([["You", true], ["Bob", false]]));
    alice.wait("#members-list button.remove", alice_app).await;
    alice.shot("19-members").await;

    // Bob leaves: the group goes from his list, and Alice's app (the
    // admin's) commits his removal, which her open dialog follows.
    bob.click("#details-button", bob_app).await;
    bob.click("#group-leave", bob_app).await;
    // "Leave Book club? …"
    bob.client.accept_alert().await.unwrap();
    bob.wait("#conv-empty", bob_app).await;
    bob.wait_js(
        "return document.querySelector('#conversations button.conv.group') === null",
        "the group to leave Bob's list",
        bob_app,
    )
    .await;
    alice
        .wait_js(
            "return document.querySelectorAll('#members-list li.member').length === 1",
            "Bob's removal to reach Alice's members dialog",
            alice_app,
        )
        .await;
    alice
        .wait_text("#conv-sub", "Group · 1 member: you", alice_app)
        .await;
    eprintln!("Bob left the group after {:?}", started.elapsed());
    alice.click("#dialog-close", alice_app).await;
}

/// `--listen` takes loopback addresses only: another host could reach the
/// app otherwise.
#[test]
fn app_refuses_non_loopback_listen() {
    let home = tempfile::tempdir().unwrap();
    for addr in ["0.0.0.0:7717", "192.0.2.1:7717", "[::]:7717"] {
        let out = Command::new(SOTTO)
            .arg("--home")
            .arg(home.path())
            .args(["app", "--no-open", "--listen", addr])
            .env_remove("SOTTO_PASSPHRASE")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{addr}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("not a loopback address"), "{addr}: {err}");
    }
}
