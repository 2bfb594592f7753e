//! The desktop app in a real headless Chromium (issue 17): two `sotto app`
//! instances on an 8-node devnet of real `sotto-node` processes, each
//! driven through chromedriver. Alice creates her account, adds Bob by ID
//! and writes; Bob accepts the request and replies; Alice sees the reply,
//! her ticks turn to read, the path indicator is green with three hops; a
//! stranger whose display name is markup shows up as text.
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

#[path = "support/devnet.rs"]
mod devnet;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const SOTTO: &str = env!("CARGO_BIN_EXE_sotto");
/// How long any one thing may take to show up: generous, for a loaded
/// machine (six builds on two cores); waits end as soon as it is there.
const WAIT: Duration = Duration::from_secs(240);
/// The display name of the stranger: markup that would run if the page
/// ever put a name in as HTML.
const EVIL: &str = "<img src=x onerror=alert(1)>";

fn which(names: &[&str]) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

fn out_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web_app");
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One `sotto app` with its own home.
struct App {
    home: tempfile::TempDir,
    url: String,
    _proc: Proc,
}

impl App {
    fn start(bootstrap: &Path) -> App {
        let home = tempfile::tempdir().unwrap();
        let err = std::fs::File::create(home.path().join("app.stderr")).unwrap();
        let mut child = Command::new(SOTTO)
            .arg("--home")
            .arg(home.path())
            .args(["app", "--no-open", "--listen", "127.0.0.1:0"])
            .env("SOTTO_NETWORK", "devnet")
            .env("SOTTO_BOOTSTRAP", bootstrap)
            .env_remove("SOTTO_HOME")
            .env_remove("SOTTO_PASSPHRASE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(err)
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let proc = Proc(child);
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + WAIT;
        let url = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(u) = line.strip_prefix("Sotto is running at ") {
                        break u.to_string();
                    }
                }
                Err(e) => panic!(
                    "sotto app printed no address ({e}); stderr: {}",
                    std::fs::read_to_string(home.path().join("app.stderr")).unwrap_or_default()
                ),
            }
        };
        assert!(
            url.starts_with("http://127.0.0.1:") && url.contains("/?token="),
            "{url}"
        );
        App {
            home,
            url,
            _proc: proc,
        }
    }

    fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.home.path().join(f)).unwrap_or_default();
        format!(
            "stderr:\n{}\nlog:\n{}",
            read("app.stderr"),
            read("sotto.log")
        )
    }
}

/// A browser session with its own profile.
struct Browser {
    client: Client,
    name: &'static str,
    _profile: tempfile::TempDir,
}

impl Browser {
    async fn open(driver: &str, chromium: &Path, name: &'static str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let args = vec![
            "--headless".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            "--window-size=1280,800".into(),
            format!("--user-data-dir={}", profile.path().display()),
        ];
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": chromium, "args": args},
        });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(driver)
            .await
            .unwrap();
        Browser {
            client,
            name,
            _profile: profile,
        }
    }

    async fn shot(&self, what: &str) {
        if let Ok(png) = self.client.screenshot().await {
            let path = out_dir().join(format!("{}-{what}.png", self.name));
            std::fs::write(&path, png).unwrap();
            eprintln!("screenshot: {}", path.display());
        }
    }

    /// What the page shows, for failure messages.
    async fn body_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(b) => b.text().await.unwrap_or_default(),
            Err(e) => format!("(no body: {e})"),
        }
    }

    async fn timeout(&self, what: &str, app: &App) -> ! {
        self.shot(&format!(
            "timeout-{}",
            what.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
        ))
        .await;
        panic!(
            "{}: {what} did not happen within {WAIT:?}\npage:\n{}\napp:\n{}",
            self.name,
            self.body_text().await,
            app.log()
        );
    }

    /// Waits until `css` matches a displayed element.
    async fn wait(&self, css: &str, app: &App) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(all) = self.client.find_all(Locator::Css(css)).await {
                for e in all {
                    if e.is_displayed().await.unwrap_or(false) {
                        return e;
                    }
                }
            }
            if Instant::now() > deadline {
                self.timeout(css, app).await;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits until an element matching `css` has exactly `text`.
    async fn wait_text(&self, css: &str, text: &str, app: &App) -> Element {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(all) = self.client.find_all(Locator::Css(css)).await {
                for e in all {
                    if e.text().await.is_ok_and(|t| t.trim() == text) {
                        return e;
                    }
                }
            }
            if Instant::now() > deadline {
                self.timeout(&format!("{css} = {text:?}"), app).await;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    async fn click(&self, css: &str, app: &App) {
        self.wait(css, app).await.click().await.unwrap();
    }

    async fn type_into(&self, css: &str, text: &str, app: &App) {
        self.wait(css, app).await.send_keys(text).await.unwrap();
    }

    async fn js(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// First start: creates the account and returns its ID.
    async fn create_account(&self, app: &App, name: &str) -> String {
        self.client.goto(&app.url).await.unwrap();
        self.type_into("#setup-name", name, app).await;
        self.shot("1-first-start").await;
        self.click("#setup-create", app).await;
        self.wait("#phrase", app).await;
        let words = self
            .client
            .find_all(Locator::Css("#phrase li"))
            .await
            .unwrap();
        assert_eq!(words.len(), 12, "the recovery phrase has 12 words");
        // "Continue" waits for "I wrote it down".
        let next = self.wait("#phrase-done", app).await;
        assert!(next.attr("disabled").await.unwrap().is_some());
        self.shot("2-recovery-phrase").await;
        self.click("#phrase-ack", app).await;
        self.click("#phrase-done", app).await;
        self.wait_text("#me-name", name, app).await;
        self.click("#me-button", app).await;
        let id = self.wait("#my-id", app).await.text().await.unwrap();
        assert!(id.starts_with("sotto1"), "{id}");
        self.wait("img.qr", app).await;
        self.shot("3-my-id").await;
        self.click("#dialog-close", app).await;
        id
    }

    async fn send(&self, text: &str, app: &App) {
        self.type_into("#composer", text, app).await;
        let enter = char::from(Key::Enter).to_string();
        self.wait("#composer", app)
            .await
            .send_keys(&enter)
            .await
            .unwrap();
        self.wait_text("#messages li.mine .msg-text", text, app)
            .await;
    }
}

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
    let deadline = Instant::now() + WAIT;
    while alice
        .js("return document.getElementById('requests-count').hidden")
        .await
        != json!(true)
    {
        if Instant::now() > deadline {
            alice.timeout("the blocked request to go", &alice_app).await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    alice.client.close().await.unwrap();
    bob.client.close().await.unwrap();
    eprintln!("web app test done after {:?}", started.elapsed());
}

/// Typing, verification, the disappearing timer, delete for everyone,
/// the dark theme and a narrow window, between Alice and Bob.
async fn more_screens(alice: &Browser, alice_app: &App, bob: &Browser, bob_app: &App) {
    // Bob types without sending: Alice sees it; sending ends it.
    bob.type_into("#composer", "Still here", bob_app).await;
    alice
        .wait_text("#typing", "Bob is typing…", alice_app)
        .await;
    alice.shot("10-typing").await;
    let enter = char::from(Key::Enter).to_string();
    bob.wait("#composer", bob_app)
        .await
        .send_keys(&enter)
        .await
        .unwrap();
    alice
        .wait_text("#messages li.theirs .msg-text", "Still here", alice_app)
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
    let deadline = Instant::now() + WAIT;
    while bob
        .js("return document.getElementById('timer').value")
        .await
        != json!("after-send:3600")
    {
        if Instant::now() > deadline {
            bob.timeout("the timer to reach Bob", bob_app).await;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
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
        let deadline = Instant::now() + WAIT;
        while who.js(&gone).await != json!(true) {
            if Instant::now() > deadline {
                who.timeout("the deleted message to go", app).await;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
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
