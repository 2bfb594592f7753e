//! Helpers of the desktop app's browser test: `sotto app` processes and
//! Chromium sessions driven through chromedriver, with waits on conditions
//! (never fixed sleeps) and screenshots.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// The `sotto` binary under test.
pub const SOTTO: &str = env!("CARGO_BIN_EXE_sotto");
/// How long any one thing may take to show up: generous, for a loaded
/// machine (six builds on two cores); waits end as soon as it is there.
pub const WAIT: Duration = Duration::from_secs(240);

pub fn which(names: &[&str]) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .flat_map(|d| names.iter().map(move |n| d.join(n)))
        .find(|p| p.is_file())
}

pub fn out_dir() -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR")).join("web_app");
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One `sotto app` with its own home.
pub struct App {
    home: tempfile::TempDir,
    pub url: String,
    _proc: Proc,
}

impl App {
    pub fn start(bootstrap: &Path) -> App {
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

    pub fn log(&self) -> String {
        let read = |f: &str| std::fs::read_to_string(self.home.path().join(f)).unwrap_or_default();
        format!(
            "stderr:\n{}\nlog:\n{}",
            read("app.stderr"),
            read("sotto.log")
        )
    }
}

/// A browser session with its own profile.
pub struct Browser {
    pub client: Client,
    name: &'static str,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn open(driver: &str, chromium: &Path, name: &'static str) -> Browser {
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

    pub async fn shot(&self, what: &str) {
        if let Ok(png) = self.client.screenshot().await {
            let path = out_dir().join(format!("{}-{what}.png", self.name));
            std::fs::write(&path, png).unwrap();
            eprintln!("screenshot: {}", path.display());
        }
    }

    /// What the page shows, for failure messages.
    pub async fn body_text(&self) -> String {
        match self.client.find(Locator::Css("body")).await {
            Ok(b) => b.text().await.unwrap_or_default(),
            Err(e) => format!("(no body: {e})"),
        }
    }

    pub async fn timeout(&self, what: &str, app: &App) -> ! {
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
    pub async fn wait(&self, css: &str, app: &App) -> Element {
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
    pub async fn wait_text(&self, css: &str, text: &str, app: &App) -> Element {
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

    /// Waits until `script` returns `true`.
    pub async fn wait_js(&self, script: &str, what: &str, app: &App) {
        let deadline = Instant::now() + WAIT;
        while self.js(script).await != json!(true) {
            if Instant::now() > deadline {
                self.timeout(what, app).await;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub async fn click(&self, css: &str, app: &App) {
        self.wait(css, app).await.click().await.unwrap();
    }

    pub async fn type_into(&self, css: &str, text: &str, app: &App) {
        self.wait(css, app).await.send_keys(text).await.unwrap();
    }

    pub async fn js(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap()
    }

    /// First start: creates the account and returns its ID.
    pub async fn create_account(&self, app: &App, name: &str) -> String {
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

    pub async fn send(&self, text: &str, app: &App) {
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
