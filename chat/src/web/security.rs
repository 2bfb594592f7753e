//! The checks every request to the local web app passes before anything
//! else reads it: the `Host` (DNS rebinding), the `Origin` and
//! `Sec-Fetch-Site` (requests from other sites), and the session cookie
//! (other local users and programs), plus the headers every answer carries.

use std::net::SocketAddr;
use std::sync::Mutex;

use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, StatusCode};
use rand::Rng as _;

/// The cookie that carries the session secret.
pub const COOKIE: &str = "sotto_session";
/// The query parameter that carries the one-time token.
pub const TOKEN_PARAM: &str = "token";
/// Bytes of randomness in the token and the session secret.
const SECRET_BYTES: usize = 32;

/// The Content-Security-Policy of every answer: scripts, styles, images and
/// connections from this server only, no inline code, no frames, no plugins.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Why a listen address was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ListenError {
    /// Not `IP:PORT`.
    #[error("{0:?} is not an address like 127.0.0.1:7717")]
    Malformed(String),
    /// Not a loopback address: other machines could reach the app.
    #[error(
        "{0} is not a loopback address: the app listens on this machine only (127.0.0.1 or [::1])"
    )]
    NotLoopback(SocketAddr),
}

/// Parses `--listen`, refusing anything but loopback.
pub fn listen_addr(s: &str) -> Result<SocketAddr, ListenError> {
    let addr: SocketAddr = s
        .trim()
        .parse()
        .map_err(|_| ListenError::Malformed(s.chars().take(80).collect()))?;
    if !addr.ip().is_loopback() {
        return Err(ListenError::NotLoopback(addr));
    }
    Ok(addr)
}

/// What to do with a request after the checks.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Serve it.
    Allow,
    /// The one-time token was right: set the session cookie and send the
    /// browser to the app without the token in the address.
    Exchange,
    /// Refuse it with this status and reason (plain text, for a person).
    Refuse(StatusCode, &'static str),
}

/// The secrets and names of one running app.
pub struct Guard {
    /// `Host` values this server answers to.
    hosts: Vec<String>,
    /// `Origin` values allowed to make requests.
    origins: Vec<String>,
    /// The one-time token in the printed URL; `None` once used.
    token: Mutex<Option<String>>,
    /// The session secret the cookie carries.
    session: String,
}

fn random_hex() -> String {
    let mut b = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Compares secrets without stopping at the first difference.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Guard {
    /// A guard for a server bound to `addr` (the real port, after binding),
    /// with fresh random secrets.
    pub fn new(addr: SocketAddr) -> Guard {
        let port = addr.port();
        let ip = match addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        let hosts = vec![format!("{ip}:{port}"), format!("localhost:{port}")];
        let origins = hosts.iter().map(|h| format!("http://{h}")).collect();
        Guard {
            hosts,
            origins,
            token: Mutex::new(Some(random_hex())),
            session: random_hex(),
        }
    }

    /// The URL to open: the first host, with the one-time token.
    pub fn url(&self) -> String {
        let token = self.lock_token().clone().unwrap_or_default();
        let host = self.hosts.first().map_or("", String::as_str);
        format!("http://{host}/?{TOKEN_PARAM}={token}")
    }

    fn lock_token(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        match self.token.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The `Set-Cookie` value that starts a session.
    pub fn set_cookie(&self) -> String {
        format!(
            "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/",
            self.session
        )
    }

    /// Checks one request: its method, path, query and headers.
    pub fn check(&self, method: &Method, path: &str, query: &str, headers: &HeaderMap) -> Verdict {
        let one = |name: header::HeaderName| -> Result<Option<&str>, ()> {
            let mut all = headers.get_all(name).iter();
            match (all.next(), all.next()) {
                (None, _) => Ok(None),
                (Some(v), None) => v.to_str().map(Some).map_err(|_| ()),
                (Some(_), Some(_)) => Err(()),
            }
        };
        // DNS rebinding: a page of another site whose name now points at
        // 127.0.0.1 still sends its own name as Host.
        match one(header::HOST) {
            Ok(Some(h)) if self.hosts.iter().any(|a| a.eq_ignore_ascii_case(h)) => {}
            _ => return Verdict::Refuse(StatusCode::MISDIRECTED_REQUEST, "wrong Host"),
        }
        // Another site's page: browsers name it in Origin (always on POST)
        // and in Sec-Fetch-Site.
        let origin = match one(header::ORIGIN) {
            Ok(o) => o,
            Err(()) => return Verdict::Refuse(StatusCode::FORBIDDEN, "bad Origin"),
        };
        if let Some(o) = origin
            && !self.origins.iter().any(|a| a.eq_ignore_ascii_case(o))
        {
            return Verdict::Refuse(StatusCode::FORBIDDEN, "foreign Origin");
        }
        let safe = method == Method::GET || method == Method::HEAD;
        if !safe && origin.is_none() {
            return Verdict::Refuse(
                StatusCode::FORBIDDEN,
                "no Origin on a state-changing request",
            );
        }
        match headers
            .get("sec-fetch-site")
            .map(|v| v.to_str().unwrap_or(""))
        {
            None | Some("same-origin") | Some("none") => {}
            Some(_) => return Verdict::Refuse(StatusCode::FORBIDDEN, "cross-site request"),
        }
        if self.has_session(headers) {
            return Verdict::Allow;
        }
        if method == Method::GET && path == "/" && self.take_token(query) {
            return Verdict::Exchange;
        }
        Verdict::Refuse(
            StatusCode::UNAUTHORIZED,
            "no session: open the address `sotto app` printed (its link works once; \
             restart sotto app for a new one)",
        )
    }

    fn has_session(&self, headers: &HeaderMap) -> bool {
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .any(|(k, v)| k == COOKIE && same_secret(v, &self.session))
    }

    /// Whether `query` carries the one-time token; it is used up if so.
    fn take_token(&self, query: &str) -> bool {
        let given = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == TOKEN_PARAM)
            .map(|(_, v)| v);
        let Some(given) = given else { return false };
        let mut token = self.lock_token();
        if token.as_deref().is_some_and(|t| same_secret(t, given)) {
            *token = None;
            return true;
        }
        false
    }
}

/// Headers every answer carries, whatever it is.
pub fn harden(headers: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(headers, "content-security-policy", CSP);
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "cache-control", "no-store");
    set(headers, "cross-origin-opener-policy", "same-origin");
    set(headers, "cross-origin-resource-policy", "same-origin");
    set(
        headers,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    );
}

#[cfg(test)]
mod tests;
