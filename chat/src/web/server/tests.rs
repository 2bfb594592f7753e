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
