//! `GET /api/events`: the library's events pushed to the page as
//! server-sent events, one JSON object per event.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use http_body_util::channel::Channel;
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::server::{Body, json as json_answer};
use super::state::Shared;
use super::view;

/// Events buffered per page before the writer waits for the socket.
const BUFFER: usize = 32;
/// A comment line this often keeps the connection from idling out and
/// finds a closed tab.
const KEEPALIVE: Duration = Duration::from_secs(15);

fn frame(v: &serde_json::Value) -> Bytes {
    Bytes::from(format!("data: {v}\n\n"))
}

/// The event stream; the first event is the current path state.
pub async fn stream(shared: &Arc<Shared>) -> Response<Body> {
    let Some(m) = shared.messenger().await else {
        return json_answer(
            StatusCode::CONFLICT,
            &json!({"error": "no account is open yet"}),
        );
    };
    let mut events = m.subscribe();
    let (mut tx, body) = Channel::<Bytes>::new(BUFFER);
    let shared = shared.clone();
    tokio::spawn(async move {
        let first =
            json!({"type": "path", "path": view::path(&m, &m.path_status(), shared.offline())});
        if tx.send_data(frame(&first)).await.is_err() {
            return;
        }
        loop {
            let out = tokio::select! {
                ev = events.recv() => match ev {
                    Ok(ev) => {
                        let m2 = m.clone();
                        let offline = shared.offline();
                        // Names come from the store: read off the async threads.
                        match tokio::task::spawn_blocking(move || view::event(&m2, &ev, offline)).await {
                            Ok(v) => frame(&v),
                            Err(_) => continue,
                        }
                    }
                    // Fell behind: the page re-reads everything.
                    Err(RecvError::Lagged(_)) => frame(&json!({"type": "resync"})),
                    Err(RecvError::Closed) => return,
                },
                () = tokio::time::sleep(KEEPALIVE) => Bytes::from_static(b": keepalive\n\n"),
            };
            if tx.send_data(out).await.is_err() {
                return;
            }
        }
    });
    let mut r = Response::new(body.boxed());
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r
}
