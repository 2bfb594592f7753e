//! The side of a command that found its home held by another `sotto`
//! process: it has that process run the command and prints what comes back
//! as its own output, with its exit code.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use super::frame::{self, MAX_REPLY_BYTES, Reply, Request};
use super::{check_socket, my_uid, socket_path};
use crate::app::AppError;
use crate::config::Resolved;

/// How long sending the request may take.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// The holder sends at least an `Alive` this often
/// ([`super::server::Limits::keepalive`]); this much silence means it hangs.
const SILENCE: Duration = Duration::from_secs(60);

/// What came of trying the holder.
#[derive(Debug)]
pub enum Reach {
    /// No process answers on the socket (none is there yet, or the holder is
    /// closing): the command never started, so trying the home again is safe.
    NoHolder,
    /// The holder ran the command: its result (output already printed).
    Ran(Result<(), AppError>),
}

/// A checked connection to the holder, and its pid.
async fn connect(home: &Path) -> Result<Option<(UnixStream, Option<i32>)>, AppError> {
    let path = socket_path(home);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AppError::Io(format!("{}: {e}", path.display()))),
    };
    check_socket(&path, &meta).map_err(|e| AppError::Io(e.to_string()))?;
    let stream = match UnixStream::connect(&path).await {
        Ok(s) => s,
        // A socket file whose process is gone, or one closing right now.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(AppError::Io(format!("{}: {e}", path.display()))),
    };
    let cred = stream
        .peer_cred()
        .map_err(|e| AppError::Io(format!("{}: no peer credentials: {e}", path.display())))?;
    if cred.uid() != my_uid() {
        return Err(AppError::Io(format!(
            "{} is served by uid {}, not by you: refusing to use it",
            path.display(),
            cred.uid()
        )));
    }
    Ok(Some((stream, cred.pid())))
}

/// The pid of the process serving `home`'s socket, if one answers.
pub async fn holder_pid(home: &Path) -> Option<i32> {
    match connect(home).await {
        Ok(Some((_, pid))) => pid,
        _ => None,
    }
}

/// Has the process holding `settings.home` run `argv`, printing its output
/// here as it comes.
pub async fn forward(settings: &Resolved, argv: Vec<String>) -> Result<Reach, AppError> {
    let home = &settings.home;
    let Some((stream, pid)) = connect(home).await? else {
        return Ok(Reach::NoHolder);
    };
    let holder = match pid {
        Some(p) => format!("the sotto process {p} holding {}", home.display()),
        None => format!("the sotto process holding {}", home.display()),
    };
    let request = Request {
        version: env!("CARGO_PKG_VERSION").to_string(),
        argv,
        network: settings.params.name.clone(),
        stderr_tty: std::io::stderr().is_terminal(),
    };
    let (mut rd, mut wr) = stream.into_split();
    let bytes = frame::encode(&request).map_err(|e| AppError::Io(e.to_string()))?;
    match tokio::time::timeout(SEND_TIMEOUT, wr.write_all(&bytes)).await {
        Ok(Ok(())) => {}
        // Closed before taking the request: it is going away.
        Ok(Err(_)) => return Ok(Reach::NoHolder),
        Err(_) => return Err(AppError::Io(format!("{holder} does not answer"))),
    }
    let mut started = false;
    loop {
        let next = tokio::time::timeout(SILENCE, frame::read::<Reply, _>(&mut rd, MAX_REPLY_BYTES));
        let reply = match next.await {
            Ok(Ok(Some(r))) => r,
            Ok(Ok(None)) | Ok(Err(frame::FrameError::Io(_))) if !started => {
                return Ok(Reach::NoHolder);
            }
            Ok(Ok(None)) | Ok(Err(frame::FrameError::Io(_))) => {
                return Err(AppError::Io(format!(
                    "{holder} closed before the command finished: see what it did (sotto history, sotto inbox) before running it again"
                )));
            }
            Ok(Err(e)) => return Err(AppError::Io(format!("{holder}: {e}"))),
            Err(_) => {
                return Err(AppError::Io(format!(
                    "{holder} stopped answering while running the command"
                )));
            }
        };
        match reply {
            Reply::Started => started = true,
            Reply::Out(text) => {
                let mut out = std::io::stdout().lock();
                out.write_all(text.as_bytes())?;
                out.flush()?;
            }
            Reply::Err(text) => {
                let mut err = std::io::stderr().lock();
                let _ = err.write_all(text.as_bytes());
                let _ = err.flush();
            }
            Reply::Alive => {}
            Reply::Exit(0) => return Ok(Reach::Ran(Ok(()))),
            Reply::Exit(code) => return Ok(Reach::Ran(Err(AppError::Relayed(code)))),
        }
    }
}
