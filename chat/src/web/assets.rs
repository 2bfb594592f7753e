//! The page's files, embedded in the binary: no CDN, no build step.

use hyper::{Response, StatusCode};

use super::server::{Body, answer, text};

/// Path, content type and contents of each file.
const FILES: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("assets/index.html"),
    ),
    (
        "/app.css",
        "text/css; charset=utf-8",
        include_str!("assets/app.css"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/app.js"),
    ),
    (
        "/api.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/api.js"),
    ),
    (
        "/dom.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/dom.js"),
    ),
    (
        "/setup.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/setup.js"),
    ),
    (
        "/chat.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/chat.js"),
    ),
    (
        "/panels.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/panels.js"),
    ),
    (
        "/groups.js",
        "text/javascript; charset=utf-8",
        include_str!("assets/groups.js"),
    ),
    (
        "/favicon.svg",
        "image/svg+xml",
        include_str!("assets/favicon.svg"),
    ),
];

/// A static file, or 404.
pub fn serve(path: &str) -> Response<Body> {
    match FILES.iter().find(|(p, _, _)| *p == path) {
        Some((_, kind, body)) => answer(StatusCode::OK, kind, *body),
        None => text(StatusCode::NOT_FOUND, "not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether markup has an attribute like ` onclick=`.
    fn has_inline_handler(html: &str) -> bool {
        html.match_indices(" on").any(|(i, _)| {
            let rest = html.get(i + 3..).unwrap_or("");
            let name: String = rest.chars().take_while(char::is_ascii_lowercase).collect();
            !name.is_empty() && rest.get(name.len()..).is_some_and(|r| r.starts_with('='))
        })
    }

    /// The CSP forbids inline code: no file may carry any.
    #[test]
    fn no_inline_script_style_or_remote_resource() {
        for (path, _, body) in FILES {
            if path.ends_with(".html") || *path == "/" {
                assert!(!body.contains("<script>"), "{path}");
                assert!(!body.contains("style="), "{path}");
                assert!(!body.contains("<style"), "{path}");
                assert!(!has_inline_handler(body), "{path}: inline event handler");
            }
            assert!(
                !body.contains("http://") || path.ends_with(".svg"),
                "{path}"
            );
            assert!(!body.contains("https://"), "{path}");
            assert!(!body.contains("innerHTML"), "{path}");
            assert!(!body.contains("outerHTML"), "{path}");
            assert!(!body.contains("insertAdjacentHTML"), "{path}");
            assert!(!body.contains("eval("), "{path}");
        }
        assert_eq!(serve("/nope").status(), StatusCode::NOT_FOUND);
        assert_eq!(serve("/app.js").status(), StatusCode::OK);
    }
}
