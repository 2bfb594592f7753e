//! The server against clients that misbehave or ask for what it refuses,
//! over real Unix sockets in a temporary home.

use std::time::Duration;

use sotto_client::chat::{HomeOptions, Messenger};
use sotto_protocol::NetworkParams;
use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use super::*;
use crate::app::local::frame::MAX_REPLY_BYTES;

/// A generous bound for what must happen soon; never a measurement.
const PATIENCE: Duration = Duration::from_secs(60);

fn home() -> (tempfile::TempDir, Resolved, Messenger) {
    let dir = tempfile::tempdir().unwrap();
    let settings = Resolved {
        home: dir.path().join("home"),
        params: NetworkParams::devnet(),
        bootstrap: Vec::new(),
        log: "info".into(),
    };
    let opts = HomeOptions {
        home: settings.home.clone(),
        passphrase: None,
    };
    let (m, _) = Messenger::create(&opts, Some("Ann")).unwrap();
    (dir, settings, m)
}

fn request(args: &[&str]) -> Request {
    Request {
        version: env!("CARGO_PKG_VERSION").into(),
        argv: std::iter::once("sotto")
            .chain(args.iter().copied())
            .map(String::from)
            .collect(),
        network: NetworkParams::devnet().name,
        stderr_tty: false,
    }
}

/// Sends `req` and collects the replies until the connection closes.
async fn ask(settings: &Resolved, req: &Request) -> Vec<Reply> {
    let mut s = UnixStream::connect(socket_path(&settings.home))
        .await
        .unwrap();
    frame::write(&mut s, req).await.unwrap();
    let mut replies = Vec::new();
    while let Some(r) = tokio::time::timeout(PATIENCE, frame::read(&mut s, MAX_REPLY_BYTES))
        .await
        .unwrap()
        .unwrap()
    {
        replies.push(r);
    }
    replies
}

/// Waits for the server to close `s` (EOF or reset), bounded.
async fn closed_by_server(s: &mut UnixStream) {
    let got = tokio::time::timeout(PATIENCE, frame::read::<Reply, _>(s, MAX_REPLY_BYTES)).await;
    assert!(
        matches!(got, Ok(Ok(None)) | Ok(Err(_))),
        "expected the server to hang up, got {got:?}"
    );
}

#[tokio::test]
async fn a_command_runs_and_its_output_and_code_come_back() {
    let (_dir, settings, m) = home();
    let server = Server::start(&settings, m.clone()).unwrap();
    let meta = std::fs::symlink_metadata(socket_path(&settings.home)).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let names: Vec<_> = std::fs::read_dir(&settings.home)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("sock"))
        .collect();
    assert_eq!(
        names,
        vec!["sotto.sock".to_string()],
        "bound, then renamed into place"
    );
    let id = m.account_id().to_string();
    let replies = ask(&settings, &request(&["id"])).await;
    assert_eq!(
        replies,
        vec![
            Reply::Started,
            Reply::Out(format!("{id}\n")),
            Reply::Exit(0)
        ]
    );
    // A failing command: its error line and exit code, as `main` gives them.
    let replies = ask(&settings, &request(&["send", "nobody", "hi"])).await;
    assert_eq!(replies.first(), Some(&Reply::Started));
    assert_eq!(replies.last(), Some(&Reply::Exit(EXIT_USAGE as u8)));
    assert!(
        matches!(&replies[1], Reply::Err(t) if t.starts_with("sotto: ") && t.contains("nobody")),
        "{replies:?}"
    );
    server.stop().await;
    assert!(
        !socket_path(&settings.home).exists(),
        "the socket goes with the server"
    );
}

#[tokio::test]
async fn what_needs_the_home_alone_or_another_version_is_refused_by_pid() {
    let (_dir, settings, m) = home();
    let server = Server::start(&settings, m).unwrap();
    let pid = std::process::id().to_string();
    for args in [&["chat"][..], &["init"], &["restore"]] {
        let replies = ask(&settings, &request(args)).await;
        assert_eq!(
            replies.last(),
            Some(&Reply::Exit(EXIT_FAILURE as u8)),
            "{args:?}"
        );
        assert!(
            matches!(&replies[1], Reply::Err(t) if t.contains(&pid) && t.contains("cannot run beside it")),
            "{replies:?}"
        );
    }
    let mut old = request(&["id"]);
    old.version = "0.0.0-other".into();
    let replies = ask(&settings, &old).await;
    assert!(
        matches!(&replies[1], Reply::Err(t) if t.contains("0.0.0-other") && t.contains(&pid)),
        "{replies:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_silent_or_oversized_client_is_dropped_without_running_anything() {
    let (_dir, settings, m) = home();
    let limits = Limits {
        request_timeout: Duration::from_millis(200),
        ..Limits::default()
    };
    let server = Server::start_with(&settings, m, limits).unwrap();
    let path = socket_path(&settings.home);
    // Says nothing: hung up on after the request timeout, nothing started.
    let mut silent = UnixStream::connect(&path).await.unwrap();
    closed_by_server(&mut silent).await;
    // Announces a frame past the limit: hung up on at once, unread.
    let mut big = UnixStream::connect(&path).await.unwrap();
    big.write_all(&(MAX_REQUEST_BYTES + 1).to_be_bytes())
        .await
        .unwrap();
    closed_by_server(&mut big).await;
    // Garbage of a valid length: not a request.
    let mut junk = UnixStream::connect(&path).await.unwrap();
    junk.write_all(&3u32.to_be_bytes()).await.unwrap();
    junk.write_all(b"{x}").await.unwrap();
    closed_by_server(&mut junk).await;
    server.stop().await;
}

#[tokio::test]
async fn clients_past_the_limit_are_told_the_holder_is_busy() {
    let (_dir, settings, m) = home();
    let limits = Limits {
        max_clients: 1,
        request_timeout: PATIENCE,
        // The silent first client is still there at the end: not waited for.
        drain: Duration::from_millis(100),
        ..Limits::default()
    };
    let server = Server::start_with(&settings, m, limits).unwrap();
    let path = socket_path(&settings.home);
    // Holds the only slot by saying nothing (connections are accepted in
    // order, so this one is taken first).
    let _first = UnixStream::connect(&path).await.unwrap();
    let mut second = UnixStream::connect(&path).await.unwrap();
    let mut replies = Vec::new();
    while let Ok(Some(r)) = tokio::time::timeout(
        PATIENCE,
        frame::read::<Reply, _>(&mut second, MAX_REPLY_BYTES),
    )
    .await
    .unwrap()
    {
        replies.push(r);
    }
    assert_eq!(replies.len(), 3, "{replies:?}");
    assert!(
        matches!(&replies[1], Reply::Err(t) if t.contains("already running 1 commands")),
        "{replies:?}"
    );
    assert_eq!(replies[2], Reply::Exit(EXIT_FAILURE as u8));
    server.stop().await;
}

#[tokio::test]
async fn a_stale_socket_is_replaced_and_a_foreign_file_is_left_alone() {
    let (_dir, settings, m) = home();
    let path = socket_path(&settings.home);
    // A socket left behind by a holder that is gone.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let server = Server::start(&settings, m.clone()).unwrap();
    let replies = ask(&settings, &request(&["id"])).await;
    assert_eq!(replies.last(), Some(&Reply::Exit(0)));
    server.stop().await;
    // Not a socket: not ours to remove.
    std::fs::write(&path, b"keep me").unwrap();
    let e = Server::start(&settings, m).err().unwrap();
    assert!(e.to_string().contains("not a socket"), "{e}");
    assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
}
