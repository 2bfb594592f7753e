//! One user of the real `sotto` binary in the devnet tests: a home of its
//! own and the devnet's bootstrap file, every command bounded in time.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const SOTTO: &str = env!("CARGO_BIN_EXE_sotto");

/// One user: a home directory and the devnet's bootstrap file.
pub struct User {
    pub home: tempfile::TempDir,
    pub bootstrap: PathBuf,
}

impl User {
    pub fn new(bootstrap: &Path) -> User {
        User {
            home: tempfile::tempdir().unwrap(),
            bootstrap: bootstrap.to_path_buf(),
        }
    }

    /// Runs `sotto` with this home; killed if it runs past `limit`.
    pub fn run(&self, args: &[&str], limit: Duration) -> Output {
        let mut child = Command::new(SOTTO)
            .arg("--home")
            .arg(self.home.path())
            .args(args)
            // Settings through the environment, as a script would set them.
            .env("SOTTO_NETWORK", "devnet")
            .env("SOTTO_BOOTSTRAP", &self.bootstrap)
            .env_remove("SOTTO_HOME")
            .env_remove("SOTTO_PASSPHRASE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + limit;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "sotto {args:?} ran past {limit:?}\nstdout: {}\nstderr: {}\nlog: {}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let out = child.wait_with_output().unwrap();
        // Shown with the output of a failed test: where the time went.
        eprintln!(
            "sotto {args:?}: {:?}",
            limit.saturating_sub(deadline.saturating_duration_since(Instant::now()))
        );
        out
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, Duration::from_secs(90));
        assert!(
            out.status.success(),
            "sotto {args:?} failed ({}):\nstdout: {}\nstderr: {}\nlog: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.home.path().join("sotto.log")).unwrap_or_default()
    }

    /// `init`, returning the account ID it printed.
    pub fn init(&self, name: &str) -> String {
        let out = self.ok(&["init", "--name", name]);
        let id = out
            .lines()
            .find_map(|l| l.strip_prefix("Account ID: "))
            .unwrap_or_else(|| panic!("no Account ID line in:\n{out}"))
            .to_string();
        assert!(id.starts_with("sotto1"), "{id}");
        assert!(out.contains('▀') || out.contains('▄'), "a QR code is drawn");
        assert!(out.contains("shown only this once"), "{out}");
        // `id` prints the same ID alone.
        assert_eq!(self.ok(&["id"]).trim(), id);
        id
    }

    /// `inbox --json --wait`, parsed.
    pub fn inbox(&self) -> Vec<serde_json::Value> {
        self.ok(&["inbox", "--json", "--wait", "30"])
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}
