//! The JSON API under `/api/`: the account, settings and routing; the
//! conversation calls are in [`convs`], the group calls in [`groups`].

mod convs;
mod groups;

use std::sync::Arc;

use hyper::body::Bytes;
use hyper::{Method, Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sotto_client::AccountId;
use sotto_client::chat::{ChatError, HomeOptions, Messenger, Settings};

use super::server::{Body, answer, json as json_answer};
use super::state::Shared;
use super::{svg, view};
use crate::app::AppError;
use crate::app::error::{EXIT_NETWORK, EXIT_NOT_SENT, EXIT_USAGE};

/// A failed call: status and a sentence for the person.
pub struct Failure(StatusCode, String);

impl Failure {
    fn bad(why: impl Into<String>) -> Failure {
        Failure(StatusCode::BAD_REQUEST, why.into())
    }
}

impl From<ChatError> for Failure {
    fn from(e: ChatError) -> Self {
        let e = AppError::from(e);
        let status = match e.exit_code() {
            EXIT_USAGE => StatusCode::BAD_REQUEST,
            EXIT_NETWORK | EXIT_NOT_SENT => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Failure(status, e.to_string())
    }
}

/// What a call answers.
pub type Answer = Result<Response<Body>, Failure>;

fn ok(v: Value) -> Answer {
    Ok(json_answer(StatusCode::OK, &v))
}

/// Parses a JSON request body into `T`.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| Failure::bad(format!("bad request body: {e}")))
}

/// Parses an account ID from the path.
fn account(s: &str) -> Result<AccountId, Failure> {
    s.parse()
        .map_err(|e| Failure::bad(format!("not an account ID: {e}")))
}

/// Runs store work off the async threads.
async fn blocking<T: Send + 'static>(
    m: &Messenger,
    f: impl FnOnce(&Messenger) -> Result<T, ChatError> + Send + 'static,
) -> Result<T, Failure> {
    let m = m.clone();
    tokio::task::spawn_blocking(move || f(&m))
        .await
        .map_err(|e| {
            Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("a task failed: {e}"),
            )
        })?
        .map_err(Failure::from)
}

/// Answers one API request (the guard has passed it).
pub async fn route(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    body: &Bytes,
) -> Response<Body> {
    let parts: Vec<&str> = path
        .strip_prefix("/api/")
        .unwrap_or("")
        .split('/')
        .collect();
    let result = match (method, parts.as_slice()) {
        (&Method::GET, ["status"]) => ok(json!({
            "phase": shared.phase.read().await.name(),
            "offline": shared.offline(),
        })),
        (&Method::POST, ["account", what]) => account_call(shared, what, body).await,
        _ => match shared.messenger().await {
            Some(m) => ready_call(shared, &m, method, &parts, body).await,
            None => Err(Failure(
                StatusCode::CONFLICT,
                "no account is open yet".into(),
            )),
        },
    };
    result.unwrap_or_else(|Failure(status, why)| json_answer(status, &json!({"error": why})))
}

/// A call that needs the open account.
async fn ready_call(
    shared: &Arc<Shared>,
    m: &Messenger,
    method: &Method,
    parts: &[&str],
    body: &Bytes,
) -> Answer {
    match (method, parts) {
        (&Method::GET, ["me"]) => {
            let s = m.settings();
            ok(json!({
                "id": m.account_id().to_string(),
                "name": m.display_name(),
                "read_receipts": s.read_receipts,
                "typing_indicators": s.typing_indicators,
            }))
        }
        (&Method::GET, ["me", "qr.svg"]) => svg_answer(&m.account_id().to_string()),
        (&Method::POST, ["settings"]) => settings(m, body).await,
        (&Method::GET, ["path"]) => ok(view::path(m, &m.path_status(), shared.offline())),
        (_, ["groups", ..]) => groups::route(shared, m, method, parts, body).await,
        _ => convs::route(m, method, parts, body).await,
    }
}

/// An SVG QR code of `data`.
fn svg_answer(data: &str) -> Answer {
    let svg = svg::qr(data).ok_or_else(|| Failure::bad("too long for a QR code"))?;
    Ok(answer(StatusCode::OK, "image/svg+xml", svg))
}

#[derive(Deserialize)]
struct SettingsBody {
    display_name: Option<String>,
    read_receipts: Option<bool>,
    typing_indicators: Option<bool>,
}

async fn settings(m: &Messenger, body: &Bytes) -> Answer {
    let b: SettingsBody = parse(body)?;
    blocking(m, move |m| {
        if let Some(name) = &b.display_name
            && Some(name.trim()) != m.display_name().as_deref()
        {
            m.set_display_name(name.trim())?;
        }
        let now = m.settings();
        m.set_settings(Settings {
            read_receipts: b.read_receipts.unwrap_or(now.read_receipts),
            typing_indicators: b.typing_indicators.unwrap_or(now.typing_indicators),
            ..now
        })
    })
    .await?;
    ok(json!({}))
}

#[derive(Deserialize)]
struct AccountBody {
    #[serde(default)]
    name: String,
    #[serde(default)]
    passphrase: String,
    #[serde(default)]
    phrase: String,
}

/// `create`, `restore` and `unlock`: the screens before the account is open.
async fn account_call(shared: &Arc<Shared>, what: &str, body: &Bytes) -> Answer {
    let b: AccountBody = parse(body)?;
    let expect = if what == "unlock" { "locked" } else { "setup" };
    // Held across the (slow, key-stretching) open so two tabs cannot race.
    let phase = shared.phase.write().await;
    if phase.name() != expect {
        return Err(Failure(
            StatusCode::CONFLICT,
            format!("the account is {}, not {expect}", phase.name()),
        ));
    }
    drop(phase);
    let opts = HomeOptions {
        home: shared.home.home.clone(),
        passphrase: Some(b.passphrase.clone())
            .filter(|p| !p.is_empty())
            .or_else(|| shared.home.passphrase.clone()),
    };
    let name = Some(b.name.trim().to_string()).filter(|n| !n.is_empty());
    let what = what.to_string();
    let made =
        tokio::task::spawn_blocking(move || -> Result<(Messenger, Option<String>), ChatError> {
            match what.as_str() {
                "create" => {
                    let (m, phrase) = Messenger::create(&opts, name.as_deref())?;
                    Ok((m, Some(phrase.as_str().to_string())))
                }
                "restore" => Ok((
                    Messenger::restore(&opts, b.phrase.trim(), name.as_deref())?,
                    None,
                )),
                "unlock" => Ok((Messenger::open(&opts)?, None)),
                _ => Err(ChatError::Invalid(format!("no such account call: {what}"))),
            }
        })
        .await
        .map_err(|e| {
            Failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("a task failed: {e}"),
            )
        })??;
    let (m, phrase) = made;
    let id = m.account_id().to_string();
    shared.become_ready(m).await;
    ok(json!({"id": id, "phrase": phrase}))
}
