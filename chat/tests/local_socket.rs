//! Issue 11, item 2: while one `sotto` process holds a home, other `sotto`
//! commands on that home run through it (the home's local socket) with the
//! output and exit code they have when run directly; a socket open to
//! others is refused; a socket left by a killed holder is cleaned up.
//!
//! The holder here is `paths --wait 10m` against a bootstrap address where
//! nothing listens: it keeps the home open, connected but with no path, for
//! as long as the test needs. Every wait is on a condition.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SOTTO: &str = env!("CARGO_BIN_EXE_sotto");
/// A generous bound for what must happen soon under any load.
const PATIENCE: Duration = Duration::from_secs(120);

/// A bootstrap address where nothing listens (port 1 on loopback).
fn dead_bootstrap() -> String {
    let peer = libp2p::identity::Keypair::generate_ed25519()
        .public()
        .to_peer_id();
    format!("/ip4/127.0.0.1/tcp/1/p2p/{peer}")
}

/// One home and the settings every command on it gets.
struct Home {
    dir: tempfile::TempDir,
    boot: String,
    passphrase: Option<&'static str>,
}

impl Home {
    fn new(passphrase: Option<&'static str>) -> Home {
        let home = Home {
            dir: tempfile::tempdir().unwrap(),
            boot: dead_bootstrap(),
            passphrase,
        };
        let args: &[&str] = if passphrase.is_some() {
            &["init", "--name", "Ann", "--encrypt"]
        } else {
            &["init", "--name", "Ann"]
        };
        let out = home.command(args, passphrase).output().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        home
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn socket(&self) -> PathBuf {
        self.path().join("sotto.sock")
    }

    fn command(&self, args: &[&str], passphrase: Option<&str>) -> Command {
        let mut c = Command::new(SOTTO);
        c.arg("--home")
            .arg(self.path())
            .arg("--bootstrap")
            .arg(&self.boot)
            .args(args)
            .env_remove("SOTTO_BOOTSTRAP")
            .env_remove("SOTTO_NETWORK")
            .env_remove("SOTTO_HOME")
            .env_remove("SOTTO_PASSPHRASE")
            .stdin(Stdio::null());
        if let Some(p) = passphrase {
            c.env("SOTTO_PASSPHRASE", p);
        }
        c
    }

    /// Runs a command (without the passphrase), killed past `PATIENCE`.
    fn run(&self, args: &[&str]) -> Output {
        let mut child = self
            .command(args, None)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + PATIENCE;
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let out = child.wait_with_output().unwrap();
                panic!(
                    "sotto {args:?} ran past {PATIENCE:?}\nstdout: {}\nstderr: {}\nlog: {}",
                    text(&out.stdout),
                    text(&out.stderr),
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.path().join("sotto.log")).unwrap_or_default()
    }

    /// Starts a process that holds the home, once it serves its socket.
    fn hold(&self) -> Holder {
        let child = self
            .command(&["paths", "--wait", "10m"], self.passphrase)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut holder = Holder(child);
        wait_until("the holder serves its socket", || {
            assert!(holder.running(), "the holder ended early:\n{}", self.log());
            self.socket().exists()
        });
        holder
    }
}

/// A process holding a home; killed when dropped.
struct Holder(Child);

impl Holder {
    fn running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }

    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What a person or a script sees of a run.
fn seen(o: &Output) -> (Option<i32>, String, String) {
    (o.status.code(), text(&o.stdout), text(&o.stderr))
}

#[test]
fn commands_run_through_the_process_holding_the_home() {
    let home = Home::new(None);
    let friend = sotto_client::Account::create().id().to_string();
    let added = home.run(&["contacts", "add", &friend, "--name", "bo"]);
    assert!(added.status.success(), "{}", text(&added.stderr));
    let commands: [&[&str]; 5] = [
        &["id"],
        &["id", "--qr"],
        &["contacts", "list", "--json"],
        // Nothing listens at the bootstrap address: not sent in time (3).
        &["send", "bo", "hello", "--timeout", "2"],
        // Bad input (2).
        &["send", "nobody", "hello"],
    ];
    let direct: Vec<_> = commands.iter().map(|c| seen(&home.run(c))).collect();
    assert!(direct[0].1.starts_with("sotto1"), "{direct:?}");
    assert_eq!(direct[3].0, Some(3), "{direct:?}");
    assert!(direct[3].2.contains("not sent yet"), "{direct:?}");
    assert_eq!(direct[4].0, Some(2), "{direct:?}");

    let mut holder = home.hold();
    for (c, want) in commands.iter().zip(&direct) {
        assert_eq!(&seen(&home.run(c)), want, "sotto {c:?} through the holder");
        assert!(holder.running(), "the home stayed held during {c:?}");
    }
    // The holder ran them: its pid is the one serving the socket, and the
    // sent messages are queued in the one store.
    let history = home.run(&["history", "bo", "--json"]);
    assert_eq!(text(&history.stdout).matches("\"hello\"").count(), 2);

    // What needs the home to itself is refused, naming the holder.
    for (args, what) in [
        (&["chat"][..], "a second terminal UI"),
        (&["init"], "sotto init"),
    ] {
        let o = home.run(args);
        let err = text(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains(&format!("open in sotto process {}", holder.pid())) && err.contains(what),
            "{err}"
        );
    }
    assert!(holder.running());
}

#[test]
fn an_encrypted_home_held_open_is_not_unlocked_again() {
    let home = Home::new(Some("correct horse battery"));
    // Directly, without the passphrase: refused.
    let o = home.run(&["id"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("SOTTO_PASSPHRASE"));
    // Through the holder, which has the home open: no passphrase needed.
    let mut holder = home.hold();
    let o = home.run(&["id"]);
    assert!(o.status.success(), "{}", text(&o.stderr));
    assert!(text(&o.stdout).starts_with("sotto1"));
    assert!(holder.running());
}

#[test]
fn a_socket_open_to_others_is_refused() {
    let home = Home::new(None);
    let direct = seen(&home.run(&["id"]));
    let mut holder = home.hold();
    let set = |mode: u32| {
        std::fs::set_permissions(home.socket(), std::fs::Permissions::from_mode(mode)).unwrap()
    };
    set(0o666);
    let o = home.run(&["id"]);
    let err = text(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("mode 666") && err.contains("refusing"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    set(0o600);
    assert_eq!(seen(&home.run(&["id"])), direct);
    assert!(holder.running());
}

#[test]
fn a_socket_left_by_a_killed_holder_is_cleaned_and_the_command_runs_directly() {
    let home = Home::new(None);
    let direct = seen(&home.run(&["id"]));
    let mut holder = home.hold();
    holder.0.kill().unwrap();
    holder.0.wait().unwrap();
    assert!(home.socket().exists(), "SIGKILL leaves the socket behind");
    assert_eq!(seen(&home.run(&["id"])), direct);
    assert!(
        !home.socket().exists(),
        "the stale socket was replaced, and removed when that command ended"
    );
}
