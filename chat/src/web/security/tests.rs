use super::*;

fn guard() -> Guard {
    Guard::new("127.0.0.1:7717".parse().unwrap())
}

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, HeaderValue::from_str(v).unwrap());
    }
    h
}

fn token_of(g: &Guard) -> String {
    g.url().split_once("token=").unwrap().1.to_string()
}

fn cookie_of(g: &Guard) -> String {
    g.set_cookie().split(';').next().unwrap().to_string()
}

#[test]
fn listen_must_be_loopback() {
    assert!(listen_addr("127.0.0.1:0").is_ok());
    assert!(listen_addr("[::1]:8080").is_ok());
    assert!(matches!(
        listen_addr("0.0.0.0:7717"),
        Err(ListenError::NotLoopback(_))
    ));
    assert!(matches!(
        listen_addr("192.168.1.2:7717"),
        Err(ListenError::NotLoopback(_))
    ));
    assert!(matches!(
        listen_addr("localhost:7717"),
        Err(ListenError::Malformed(_))
    ));
}

#[test]
fn token_is_exchanged_once_then_the_cookie_is_needed() {
    let g = guard();
    let host = [("host", "127.0.0.1:7717")];
    let q = format!("token={}", token_of(&g));
    assert_eq!(
        g.check(&Method::GET, "/", &q, &headers(&host)),
        Verdict::Exchange
    );
    // Used up: the same link does not work twice.
    assert!(matches!(
        g.check(&Method::GET, "/", &q, &headers(&host)),
        Verdict::Refuse(StatusCode::UNAUTHORIZED, _)
    ));
    let cookie = cookie_of(&g);
    let with = headers(&[("host", "localhost:7717"), ("cookie", &cookie)]);
    assert_eq!(g.check(&Method::GET, "/app.js", "", &with), Verdict::Allow);
}

#[test]
fn missing_or_wrong_token_or_cookie_is_refused() {
    let g = guard();
    let host = ("host", "127.0.0.1:7717");
    for (path, query, cookie) in [
        ("/", "", None),
        ("/", "token=00", None),
        ("/api/conversations", "", None),
        ("/api/conversations", "", Some("sotto_session=abc")),
        ("/api/conversations", "", Some("other=1")),
    ] {
        let mut h = vec![host];
        if let Some(c) = cookie {
            h.push(("cookie", c));
        }
        assert!(
            matches!(
                g.check(&Method::GET, path, query, &headers(&h)),
                Verdict::Refuse(StatusCode::UNAUTHORIZED, _)
            ),
            "{path}?{query} {cookie:?}"
        );
    }
    // The token only opens the page, not the API.
    let q = format!("token={}", token_of(&g));
    assert!(matches!(
        g.check(&Method::GET, "/api/me", &q, &headers(&[host])),
        Verdict::Refuse(StatusCode::UNAUTHORIZED, _)
    ));
}

#[test]
fn wrong_host_is_refused_even_with_the_cookie() {
    let g = guard();
    let cookie = cookie_of(&g);
    for host in [
        Some("evil.example:7717"),
        Some("127.0.0.1:7718"),
        Some("127.0.0.1"),
        None,
    ] {
        let mut h = vec![("cookie", cookie.as_str())];
        if let Some(host) = host {
            h.push(("host", host));
        }
        assert!(
            matches!(
                g.check(&Method::GET, "/api/me", "", &headers(&h)),
                Verdict::Refuse(StatusCode::MISDIRECTED_REQUEST, _)
            ),
            "{host:?}"
        );
    }
    // Two Host headers are refused too.
    let h = headers(&[
        ("host", "127.0.0.1:7717"),
        ("host", "evil.example"),
        ("cookie", &cookie),
    ]);
    assert!(matches!(
        g.check(&Method::GET, "/", "", &h),
        Verdict::Refuse(..)
    ));
}

#[test]
fn foreign_origin_and_cross_site_are_refused() {
    let g = guard();
    let cookie = cookie_of(&g);
    let base = [("host", "127.0.0.1:7717"), ("cookie", cookie.as_str())];
    let with = |extra: &[(&'static str, &str)]| {
        let mut h = base.to_vec();
        h.extend_from_slice(extra);
        headers(&h)
    };
    for origin in [
        "http://evil.example",
        "null",
        "http://127.0.0.1:7718",
        "https://127.0.0.1:7717",
    ] {
        assert!(
            matches!(
                g.check(&Method::POST, "/api/send", "", &with(&[("origin", origin)])),
                Verdict::Refuse(StatusCode::FORBIDDEN, _)
            ),
            "{origin}"
        );
    }
    // A state-changing request must say where it comes from.
    assert!(matches!(
        g.check(&Method::POST, "/api/send", "", &with(&[])),
        Verdict::Refuse(StatusCode::FORBIDDEN, _)
    ));
    assert!(matches!(
        g.check(
            &Method::GET,
            "/api/me",
            "",
            &with(&[("sec-fetch-site", "cross-site")])
        ),
        Verdict::Refuse(StatusCode::FORBIDDEN, _)
    ));
    assert!(matches!(
        g.check(
            &Method::GET,
            "/api/me",
            "",
            &with(&[("sec-fetch-site", "same-site")])
        ),
        Verdict::Refuse(StatusCode::FORBIDDEN, _)
    ));
    // The app's own page.
    for origin in ["http://127.0.0.1:7717", "http://localhost:7717"] {
        assert_eq!(
            g.check(
                &Method::POST,
                "/api/send",
                "",
                &with(&[("origin", origin), ("sec-fetch-site", "same-origin")])
            ),
            Verdict::Allow
        );
    }
}

#[test]
fn cookie_is_httponly_and_strict_and_secrets_differ() {
    let g = guard();
    let c = g.set_cookie();
    assert!(
        c.contains("HttpOnly") && c.contains("SameSite=Strict"),
        "{c}"
    );
    assert_ne!(token_of(&g), cookie_of(&g).split_once('=').unwrap().1);
    assert_ne!(token_of(&g), token_of(&guard()));
    assert_eq!(token_of(&g).len(), 64);
}

#[test]
fn every_answer_is_hardened() {
    let mut h = HeaderMap::new();
    harden(&mut h);
    assert_eq!(h["x-content-type-options"], "nosniff");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'none'") && csp.contains("script-src 'self'"));
    assert!(!csp.contains("unsafe-inline") && !csp.contains("http"));
}
