//! The real server on a loopback port, spoken to in raw HTTP/1.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

use sotto_client::chat::HomeOptions;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::RwLock;

use super::super::security::Guard;
use super::super::state::{Phase, Shared};
use super::*;

struct Running {
    addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    _home: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

async fn start() -> Running {
    let home = tempfile::tempdir().unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shared = Arc::new(Shared {
        guard: Guard::new(addr),
        home: HomeOptions {
            home: home.path().to_path_buf(),
            passphrase: None,
        },
        config: Err("offline in this test".into()),
        phase: RwLock::new(Phase::Setup),
        offline: Mutex::new(None),
    });
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve(listener, shared.clone(), async {
        let _ = rx.await;
    }));
    Running {
        addr,
        shared,
        _home: home,
        stop: Some(tx),
    }
}

/// Status line and headers (lower-cased names) and body of one request.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

async fn send(addr: std::net::SocketAddr, head: &str, body: &str) -> Reply {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{head}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).await.unwrap();
    let raw = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

/// Signs in with the printed link and returns the cookie.
async fn sign_in(r: &Running) -> String {
    let url = r.shared.guard.url();
    let path = url.split_once(&r.addr.to_string()).unwrap().1.to_string();
    let host = format!("Host: {}", r.addr);
    let reply = send(r.addr, &format!("GET {path} HTTP/1.1\r\n{host}"), "").await;
    assert_eq!(reply.status, 303);
    assert_eq!(reply.header("location"), Some("/"));
    let cookie = reply.header("set-cookie").unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    cookie.split(';').next().unwrap().to_string()
}

#[tokio::test]
async fn wrong_host_foreign_origin_and_missing_token_are_refused() {
    let r = start().await;
    let host = format!("Host: {}", r.addr);
    // No token, no cookie.
    let reply = send(r.addr, &format!("GET / HTTP/1.1\r\n{host}"), "").await;
    assert_eq!(reply.status, 401, "{}", reply.body);
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    let reply = send(r.addr, &format!("GET /api/status HTTP/1.1\r\n{host}"), "").await;
    assert_eq!(reply.status, 401);
    let cookie = sign_in(&r).await;
    // The link worked once only.
    let url = r.shared.guard.url();
    assert!(url.ends_with("token="), "{url}");
    // Signed in, but the wrong Host: a rebinding attack.
    let reply = send(
        r.addr,
        &format!(
            "GET /api/status HTTP/1.1\r\nHost: evil.example:{}\r\nCookie: {cookie}",
            r.addr.port()
        ),
        "",
    )
    .await;
    assert_eq!(reply.status, 421);
    // Signed in, but another site's page posts.
    let reply = send(
        r.addr,
        &format!(
            "POST /api/account/create HTTP/1.1\r\n{host}\r\nCookie: {cookie}\r\nOrigin: http://evil.example"
        ),
        "{\"name\":\"x\"}",
    )
    .await;
    assert_eq!(reply.status, 403);
    assert_eq!(
        r.shared.phase.read().await.name(),
        "setup",
        "nothing was created"
    );
    // The same with the app's own origin works.
    let origin = format!("Origin: http://{}", r.addr);
    let reply = send(
        r.addr,
        &format!("POST /api/account/create HTTP/1.1\r\n{host}\r\nCookie: {cookie}\r\n{origin}"),
        "{\"name\":\"Alice\"}",
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let v: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
    assert_eq!(v["phrase"].as_str().unwrap().split(' ').count(), 12);
    let reply = send(
        r.addr,
        &format!("GET /api/me HTTP/1.1\r\n{host}\r\nCookie: {cookie}"),
        "",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("\"name\":\"Alice\""), "{}", reply.body);
    // A second account cannot be made over it.
    let reply = send(
        r.addr,
        &format!("POST /api/account/create HTTP/1.1\r\n{host}\r\nCookie: {cookie}\r\n{origin}"),
        "{\"name\":\"Mallory\"}",
    )
    .await;
    assert_eq!(reply.status, 409);
}

#[tokio::test]
async fn pages_are_hardened_and_bodies_bounded() {
    let r = start().await;
    let host = format!("Host: {}", r.addr);
    let cookie = sign_in(&r).await;
    let reply = send(
        r.addr,
        &format!("GET / HTTP/1.1\r\n{host}\r\nCookie: {cookie}"),
        "",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let csp = reply.header("content-security-policy").unwrap();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe"));
    assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    let origin = format!("Origin: http://{}", r.addr);
    let big = "x".repeat(MAX_BODY + 1);
    let reply = send(
        r.addr,
        &format!("POST /api/account/create HTTP/1.1\r\n{host}\r\nCookie: {cookie}\r\n{origin}"),
        &big,
    )
    .await;
    assert_eq!(reply.status, 413);
    // Before an account exists, account calls are the only ones.
    let reply = send(
        r.addr,
        &format!("GET /api/conversations HTTP/1.1\r\n{host}\r\nCookie: {cookie}"),
        "",
    )
    .await;
    assert_eq!(reply.status, 409);
    let reply = send(
        r.addr,
        &format!("GET /api/status HTTP/1.1\r\n{host}\r\nCookie: {cookie}"),
        "",
    )
    .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("\"phase\":\"setup\""), "{}", reply.body);
}

/// The API over an account that is not connected: calls are checked and
/// refused with reasons, and what is queued shows up.
#[tokio::test]
async fn api_checks_its_input() {
    let r = start().await;
    let host = format!("Host: {}", r.addr);
    let cookie = sign_in(&r).await;
    let origin = format!("Origin: http://{}", r.addr);
    let post = |path: &str, body: &str| {
        let head = format!("POST /api/{path} HTTP/1.1\r\n{host}\r\nCookie: {cookie}\r\n{origin}");
        let body = body.to_string();
        async move { send(r.addr, &head, &body).await }
    };
    let get = |path: &str| {
        let head = format!("GET /api/{path} HTTP/1.1\r\n{host}\r\nCookie: {cookie}");
        async move { send(r.addr, &head, "").await }
    };
    assert_eq!(
        post("account/create", "{\"name\":\"Alice\"}").await.status,
        200
    );
    let me: serde_json::Value = serde_json::from_str(&get("me").await.body).unwrap();
    let me = me["id"].as_str().unwrap().to_string();
    let bob = sotto_client::Account::create().id().to_string();

    // Bad input is refused with a reason, never a crash.
    assert_eq!(
        post("contacts", "{\"id\":\"sotto1nope\"}").await.status,
        400
    );
    let own = post("contacts", &format!("{{\"id\":\"{me}\"}}")).await;
    assert_eq!(own.status, 400);
    assert!(own.body.contains("your own"), "{}", own.body);
    assert_eq!(post("contacts", "not json").await.status, 400);
    assert_eq!(get("conversations/xyz").await.status, 400);
    assert_eq!(get("nothing/here").await.status, 404);

    // A contact, a queued message, a timer.
    let added = post(
        "contacts",
        &format!("{{\"id\":\"{bob}\",\"name\":\"Bob\"}}"),
    )
    .await;
    assert_eq!(added.status, 200, "{}", added.body);
    assert_eq!(
        post(&format!("conversations/{bob}/send"), "{\"text\":\"  \"}")
            .await
            .status,
        400
    );
    let sent = post(
        &format!("conversations/{bob}/send"),
        "{\"text\":\"<b>hi</b>\"}",
    )
    .await;
    assert_eq!(sent.status, 200, "{}", sent.body);
    let conv: serde_json::Value =
        serde_json::from_str(&get(&format!("conversations/{bob}")).await.body).unwrap();
    assert_eq!(conv["title"], "Bob");
    assert_eq!(conv["messages"][0]["text"], "<b>hi</b>");
    assert_eq!(conv["messages"][0]["state"], "queued");
    assert_eq!(conv["messages"][0]["outgoing"], true);
    let timer = |mode: &str, seconds: u64| format!("{{\"mode\":\"{mode}\",\"seconds\":{seconds}}}");
    let path = format!("conversations/{bob}/disappearing");
    assert_eq!(post(&path, &timer("after-send", 0)).await.status, 400);
    assert_eq!(
        post(&path, &timer("after-send", 60 * 24 * 3600))
            .await
            .status,
        400
    );
    assert_eq!(post(&path, &timer("sometimes", 60)).await.status, 400);
    assert_eq!(post(&path, &timer("after-read", 300)).await.status, 200);
    let conv: serde_json::Value =
        serde_json::from_str(&get(&format!("conversations/{bob}")).await.body).unwrap();
    assert_eq!(conv["disappearing"]["mode"], "after-read");
    assert_eq!(conv["disappearing"]["seconds"], 300);

    // The verification code and QR images.
    let v: serde_json::Value =
        serde_json::from_str(&get(&format!("contacts/{bob}/verification")).await.body).unwrap();
    assert_eq!(v["digits"].as_str().unwrap().len(), 60);
    assert_eq!(v["trust"], "unverified");
    let svg = get(&format!("contacts/{bob}/code.svg")).await;
    assert_eq!(svg.header("content-type"), Some("image/svg+xml"));
    assert_eq!(get("me/qr.svg").await.status, 200);

    // Deleting someone else's message id is refused; settings round-trip.
    let id = conv["messages"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(
        post("messages/00112233445566778899aabbccddeeff/delete", "")
            .await
            .status,
        400
    );
    assert_eq!(post(&format!("messages/{id}/delete"), "").await.status, 200);
    let s = post(
        "settings",
        "{\"display_name\":\"Alice B\",\"read_receipts\":false}",
    )
    .await;
    assert_eq!(s.status, 200, "{}", s.body);
    let me: serde_json::Value = serde_json::from_str(&get("me").await.body).unwrap();
    assert_eq!(me["name"], "Alice B");
    assert_eq!(me["read_receipts"], false);
    assert_eq!(me["typing_indicators"], true);
}

/// The group calls over an account that is not connected: inputs are
/// checked with reasons, what needs the network says so, and an unknown
/// group or invitation is refused.
#[tokio::test]
async fn group_calls_check_their_input() {
    let r = start().await;
    let host = format!("Host: {}", r.addr);
    let cookie = sign_in(&r).await;
    let origin = format!("Origin: http://{}", r.addr);
    let post = |path: &str, body: &str| {
        let head = format!("POST /api/{path} HTTP/1.1\r\n{host}\r\nCookie: {cookie}\r\n{origin}");
        let body = body.to_string();
        async move { send(r.addr, &head, &body).await }
    };
    let get = |path: &str| {
        let head = format!("GET /api/{path} HTTP/1.1\r\n{host}\r\nCookie: {cookie}");
        async move { send(r.addr, &head, "").await }
    };
    assert_eq!(
        post("account/create", "{\"name\":\"Alice\"}").await.status,
        200
    );
    let me: serde_json::Value = serde_json::from_str(&get("me").await.body).unwrap();
    let me = me["id"].as_str().unwrap().to_string();
    let bob = sotto_client::Account::create().id().to_string();

    assert_eq!(get("groups").await.body, "[]");
    assert_eq!(get("groups/invites").await.body, "[]");
    assert_eq!(get("contacts").await.body, "[]");

    // A create is checked before anything goes out.
    let create = |name: &str, members: &[&str]| {
        serde_json::json!({"name": name, "members": members}).to_string()
    };
    let refused = [
        (create("  ", &[&bob]), "a name"),
        (create(&"x".repeat(129), &[&bob]), "at most 128 bytes"),
        (create("two\nlines", &[&bob]), "one line"),
        (create("club", &[]), "at least one member"),
        (
            create("club", &["sotto1nope"]),
            "member 1: not an account ID",
        ),
        (create("club", &[&me]), "your own account ID"),
        (create("club", &vec![bob.as_str(); 51]), "at most 50"),
        ("{\"name\":\"club\"}".to_string(), "bad request body"),
    ];
    for (body, why) in refused {
        let reply = post("groups", &body).await;
        assert_eq!(reply.status, 400, "{body}: {}", reply.body);
        assert!(reply.body.contains(why), "{body}: {}", reply.body);
    }
    // A good one needs the network, and says so at once.
    let offline = post("groups", &create("club", &[&bob])).await;
    assert_eq!(offline.status, 503, "{}", offline.body);
    assert!(
        offline.body.contains("offline in this test"),
        "{}",
        offline.body
    );

    // Group ids are 64 hex digits, and only groups this account is in.
    let unknown = "ab".repeat(32);
    for path in [
        "groups/xyz",
        "groups/xyz/send",
        &format!("groups/{}", "g".repeat(64)),
    ] {
        let reply = if path.ends_with("send") {
            post(path, "{\"text\":\"hi\"}").await
        } else {
            get(path).await
        };
        assert_eq!(reply.status, 400, "{path}: {}", reply.body);
        assert!(reply.body.contains("not a group id"), "{}", reply.body);
    }
    let reply = get(&format!("groups/{unknown}")).await;
    assert_eq!(reply.status, 400);
    assert!(reply.body.contains("not in this group"), "{}", reply.body);
    for (what, body) in [
        ("send", "{\"text\":\"hi\"}".to_string()),
        ("remove", format!("{{\"members\":[\"{bob}\"]}}")),
        ("promote", format!("{{\"member\":\"{bob}\"}}")),
        ("rename", "{\"name\":\"new\"}".to_string()),
        ("leave", String::new()),
    ] {
        let reply = post(&format!("groups/{unknown}/{what}"), &body).await;
        assert_eq!(reply.status, 400, "{what}: {}", reply.body);
        assert!(
            reply.body.contains("not in this group"),
            "{what}: {}",
            reply.body
        );
    }
    let empty = post(&format!("groups/{unknown}/send"), "{\"text\":\" \"}").await;
    assert!(empty.body.contains("nothing to send"), "{}", empty.body);
    assert_eq!(post(&format!("groups/{unknown}/fly"), "").await.status, 404);

    // Invitations: ids are 16 hex digits; an unknown one is refused.
    assert_eq!(post("groups/invites/zz/accept", "").await.status, 400);
    let none = post("groups/invites/0011223344556677/accept", "").await;
    assert_eq!(none.status, 400);
    assert!(none.body.contains("no group invitation"), "{}", none.body);
    assert_eq!(
        post("groups/invites/0011223344556677/maybe", "")
            .await
            .status,
        400
    );

    // Contacts come sorted by name, for the member picker.
    let carol = sotto_client::Account::create().id().to_string();
    for (id, name) in [(&carol, "carol"), (&bob, "Bob")] {
        let body = format!("{{\"id\":\"{id}\",\"name\":\"{name}\"}}");
        assert_eq!(post("contacts", &body).await.status, 200);
    }
    let contacts: serde_json::Value = serde_json::from_str(&get("contacts").await.body).unwrap();
    assert_eq!(contacts[0]["title"], "Bob");
    assert_eq!(contacts[1]["title"], "carol");
    assert_eq!(contacts[1]["id"], carol.as_str());
}
