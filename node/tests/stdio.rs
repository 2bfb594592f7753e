//! `sotto-node` writing into pipes nobody reads any more, and into files: a
//! closed stdout or stderr is not a panic (exit 101), and logs that are not
//! on a terminal carry no colour codes.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sotto-node");

fn init(dir: &Path) {
    let out = Command::new(BIN)
        .args(["init", "--network", "devnet", "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The writing end of a pipe whose reading end is already closed: every
/// write to it fails with EPIPE, as after `| head -2` has read its lines.
fn closed_pipe() -> Stdio {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    Stdio::from(writer)
}

/// `run` on `dir` with loopback listening on a free port, no metrics.
fn run(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.args(["run", "--listen", "/ip4/127.0.0.1/tcp/0", "--data-dir"])
        .arg(dir)
        .env_remove("RUST_LOG")
        .env_remove("NO_COLOR")
        .stdin(Stdio::null());
    c
}

/// Waits (at most 60 s) until the node has written run.json (it is up and
/// has logged), then stops it with SIGTERM and returns its exit status.
fn stop_when_up(child: &mut Child, dir: &Path) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !dir.join("run.json").exists() {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "node not up within 60 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() >= deadline {
            child.kill().unwrap();
            panic!("node did not stop on SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn info_into_a_closed_stdout_does_not_panic() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    init(&dir);
    let out = Command::new(BIN)
        .args(["info", "--data-dir"])
        .arg(&dir)
        .stdout(closed_pipe())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(101), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(out.status.success(), "{}: {err}", out.status);
}

#[test]
fn run_with_closed_stdout_and_stderr_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    init(&dir);
    // Logs go to a closed stderr from the first line on.
    let mut child = run(&dir)
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .spawn()
        .unwrap();
    let status = stop_when_up(&mut child, &dir);
    assert_ne!(status.code(), Some(101), "panicked");
    assert!(status.success(), "{status}");
    assert!(
        !dir.join("run.json").exists(),
        "a clean stop removes run.json"
    );
}

#[test]
fn logs_into_a_pipe_have_no_colour_and_name_the_configured_network() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    init(&dir);
    let mut child = run(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        stderr.read_to_end(&mut all).unwrap();
        all
    });
    let status = stop_when_up(&mut child, &dir);
    let log = reader.join().unwrap();
    let text = String::from_utf8_lossy(&log);
    assert!(status.success(), "{status}: {text}");
    assert!(text.contains("node started"), "{text}");
    assert!(!log.contains(&0x1b), "ANSI escape in a piped log:\n{text}");
    assert!(text.contains("network=devnet"), "{text}");
}
