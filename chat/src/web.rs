//! `sotto app`: the desktop app, served to a browser on this machine.
//!
//! A small HTTP server on a loopback address serves the page (HTML, CSS and
//! JavaScript embedded in the binary) and a JSON API over the same
//! [`Messenger`] the terminal UI drives; the library's events reach the page
//! as server-sent events.
//!
//! - [`security`]: the Host, Origin and session checks, and the headers
//!   every answer carries.
//! - `server`: connections, the guard, bounded request bodies.
//! - `api`: the JSON calls; `events`: the event stream; `view`: library
//!   values as JSON; `assets`: the embedded files; `svg`: QR codes.

mod api;
mod assets;
mod events;
pub mod security;
mod server;
mod state;
mod svg;
mod view;

use std::io::Write as _;
use std::sync::{Arc, Mutex};

use sotto_client::chat::{ChatError, Messenger};
use tokio::net::TcpListener;
use tokio::sync::RwLock;

use self::security::Guard;
use self::state::{Phase, Shared};
use crate::app::{AppError, Ctx, close};

/// The default `--listen` address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7717";

/// Runs the app until Ctrl-C.
pub async fn run(ctx: &Ctx, listen: &str, no_open: bool) -> Result<(), AppError> {
    let addr = security::listen_addr(listen).map_err(|e| AppError::Usage(e.to_string()))?;
    let home = ctx.home_options();
    let (phase, opened) = match state::open_home(&home) {
        Ok(Some(m)) => (Phase::Setup, Some(m)),
        Ok(None) => (Phase::Setup, None),
        Err(ChatError::WrongPassphrase) => (Phase::Locked, None),
        Err(e) => return Err(e.into()),
    };
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| AppError::Io(format!("cannot listen on {addr}: {e}")))?;
    let bound = listener.local_addr()?;
    let shared = Arc::new(Shared {
        guard: Guard::new(bound),
        home,
        config: ctx.client_config().map_err(|e| e.to_string()),
        phase: RwLock::new(phase),
        offline: Mutex::new(None),
    });
    if let Some(m) = opened {
        // Other `sotto` commands on this home run through this process while
        // the app holds it (an account made or unlocked in the page is
        // served from the next start).
        ctx.serve(&m);
        shared.become_ready(m).await;
    }
    let url = shared.guard.url();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "Sotto is running at {url}")?;
        writeln!(
            out,
            "Open that address in your browser on this machine (the link works once). Ctrl-C stops the app."
        )?;
        out.flush()?;
    }
    if !no_open {
        open_browser(&url);
    }
    server::serve(listener, shared.clone(), async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot watch for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    })
    .await;
    let m: Option<Messenger> = shared.messenger().await;
    if let Some(m) = m {
        close(&m).await;
    }
    Ok(())
}

/// Opens `url` in the default browser; failing is not fatal (the address
/// is printed).
fn open_browser(url: &str) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    match tokio::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(mut child) => {
            tokio::spawn(async move {
                let _ = child.wait().await;
            });
        }
        Err(e) => eprintln!("sotto: cannot open a browser ({opener}: {e}); open the address above"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use clap::Parser;

    use crate::cli::{Cli, Command};

    #[test]
    fn app_takes_listen_and_no_open() {
        let c = Cli::try_parse_from(["sotto", "app"]).unwrap();
        assert!(
            matches!(c.command, Command::App { ref listen, no_open: false } if listen == super::DEFAULT_LISTEN)
        );
        let c = Cli::try_parse_from(["sotto", "app", "--listen", "[::1]:0", "--no-open"]).unwrap();
        match c.command {
            Command::App { listen, no_open } => {
                assert_eq!(listen, "[::1]:0");
                assert!(no_open);
            }
            other => panic!("{other:?}"),
        }
        assert!(super::security::listen_addr(super::DEFAULT_LISTEN).is_ok());
    }
}
