//! The holder's side of the local socket: accepts connections from its own
//! uid, runs each one's command over the open `Messenger` and streams the
//! output back.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use sotto_client::chat::Messenger;
use tokio::io::AsyncReadExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::{JoinHandle, JoinSet};

use super::frame::{self, MAX_REQUEST_BYTES, Reply, Request};
use super::{Kind, SOCKET_NAME, Unsafe, check_home, my_uid, socket_path};
use crate::app::console::{Remote, Stream};
use crate::app::error::{EXIT_FAILURE, EXIT_USAGE};
use crate::app::{AppError, Ctx};
use crate::cli::Cli;
use crate::config::Resolved;

/// How much a server allows.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Clients served at once; more are told the holder is busy.
    pub max_clients: usize,
    /// How long a client may take to send its request after connecting.
    pub request_timeout: Duration,
    /// How long a reply frame may take to be written (a client that stops
    /// reading is dropped).
    pub write_timeout: Duration,
    /// After this long without output, an [`Reply::Alive`] is sent.
    pub keepalive: Duration,
    /// When the holder closes the home, how long the commands it is running
    /// for clients may take to finish before they are stopped.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_clients: 8,
            request_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(30),
            keepalive: Duration::from_secs(10),
            drain: Duration::from_secs(10),
        }
    }
}

/// Why the socket is not served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The home or a file in the way is not safe.
    #[error("{0}")]
    Unsafe(#[from] Unsafe),
    /// Called outside a tokio runtime (there is nothing to serve with).
    #[error("no async runtime to serve the local socket on")]
    NoRuntime,
    /// Binding failed (a path too long for a socket, among others).
    #[error("cannot serve {}: {source}", path.display())]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// A running server; [`Server::stop`] ends it and removes the socket.
pub struct Server {
    path: PathBuf,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// What every connection needs.
struct Shared {
    settings: Resolved,
    messenger: Messenger,
    uid: u32,
    limits: Limits,
}

impl Server {
    /// Serves the home of `settings` for `messenger`, which holds it.
    pub fn start(settings: &Resolved, messenger: Messenger) -> Result<Server, ServeError> {
        Self::start_with(settings, messenger, Limits::default())
    }

    /// [`Server::start`] with other limits (tests use short ones).
    pub fn start_with(
        settings: &Resolved,
        messenger: Messenger,
        limits: Limits,
    ) -> Result<Server, ServeError> {
        // Binding and serving need a runtime; without one they would panic.
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ServeError::NoRuntime)?;
        let home = &settings.home;
        check_home(home)?;
        let path = socket_path(home);
        // We hold the home, so a socket already there was left by a holder
        // that is gone (killed, or the machine stopped).
        if let Ok(meta) = std::fs::symlink_metadata(&path) {
            use std::os::unix::fs::FileTypeExt;
            if !meta.file_type().is_socket() {
                return Err(Unsafe::NotASocket(path).into());
            }
            tracing::info!("removing the stale socket {}", path.display());
            let _ = std::fs::remove_file(&path);
        }
        let bind_err = |source| ServeError::Bind {
            path: path.clone(),
            source,
        };
        // Bound under a private name, made 0600, then renamed into place: a
        // client never sees the socket with the umask's wider mode.
        let fresh = home.join(format!(".{SOCKET_NAME}.{}", std::process::id()));
        let _ = std::fs::remove_file(&fresh);
        let listener = UnixListener::bind(&fresh).map_err(bind_err)?;
        let placed = std::fs::set_permissions(&fresh, std::fs::Permissions::from_mode(0o600))
            .and_then(|()| std::fs::rename(&fresh, &path));
        if let Err(e) = placed {
            let _ = std::fs::remove_file(&fresh);
            return Err(bind_err(e));
        }
        let (stop, stop_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            settings: settings.clone(),
            messenger,
            uid: my_uid(),
            limits,
        });
        let task = runtime.spawn(accept_loop(listener, shared, stop_rx));
        Ok(Server { path, stop, task })
    }

    /// Stops accepting, removes the socket, lets the commands in progress
    /// finish within the drain time and stops the rest (their clients are
    /// told the holder closed).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = std::fs::remove_file(&self.path);
        let _ = self.task.await;
    }
}

async fn accept_loop(listener: UnixListener, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let slots = Arc::new(Semaphore::new(shared.limits.max_clients));
    let mut running = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(_) = running.join_next(), if !running.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let shared = shared.clone();
                        running.spawn(async move {
                            serve(stream, &shared).await;
                            drop(permit);
                        });
                    }
                    Err(_) => busy(&stream, shared.limits.max_clients),
                },
                Err(e) => {
                    // Out of descriptors, say: wait rather than spin.
                    tracing::warn!("local socket: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(shared.limits.drain, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::info!(
            "stopping {} command(s) run for other sotto processes",
            running.len()
        );
    }
    running.shutdown().await;
}

/// Tells a client over the limit so, without waiting on it.
fn busy(stream: &UnixStream, max: usize) {
    let text = format!(
        "sotto: the sotto process {} holding this home is already running {max} commands for others: try again\n",
        std::process::id()
    );
    let mut bytes = Vec::new();
    for r in [
        Reply::Started,
        Reply::Err(text),
        Reply::Exit(EXIT_FAILURE as u8),
    ] {
        if let Ok(b) = frame::encode(&r) {
            bytes.extend(b);
        }
    }
    // A fresh socket's buffer takes these few bytes; if not, the client just
    // sees the connection close.
    let _ = stream.try_write(&bytes);
}

/// One client: check who it is, read its request, run it, reply.
async fn serve(stream: UnixStream, shared: &Shared) {
    match stream.peer_cred() {
        Ok(c) if c.uid() == shared.uid => {}
        Ok(c) => {
            tracing::warn!(
                "local socket: refused a connection from uid {} (pid {:?})",
                c.uid(),
                c.pid()
            );
            return;
        }
        Err(e) => {
            tracing::warn!("local socket: no peer credentials, refused: {e}");
            return;
        }
    }
    let (mut rd, wr) = stream.into_split();
    let request = tokio::time::timeout(
        shared.limits.request_timeout,
        frame::read::<Request, _>(&mut rd, MAX_REQUEST_BYTES),
    )
    .await;
    let request = match request {
        Ok(Ok(Some(r))) => r,
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            tracing::debug!("local socket: bad request: {e}");
            return;
        }
        Err(_) => {
            tracing::debug!("local socket: no request in time; dropped");
            return;
        }
    };
    let mut out = Replies {
        wr,
        timeout: shared.limits.write_timeout,
    };
    if out.send(&Reply::Started).await.is_err() {
        return;
    }
    let cli = match parse(&request) {
        Ok(cli) => cli,
        Err((text, code)) => {
            let _ = out.send(&Reply::Err(text)).await;
            let _ = out.send(&Reply::Exit(code)).await;
            return;
        }
    };
    tracing::debug!("local socket: running a command for another sotto process");
    let ctx = Ctx::served(
        shared.settings.clone(),
        shared.messenger.clone(),
        request.network,
    );
    let remote = Remote::new(request.stderr_tty);
    let run = remote
        .clone()
        .scope(Box::pin(crate::app::dispatch(&ctx, cli.command)));
    let ended = run_streaming(run, &remote, &mut out, &mut rd, shared.limits.keepalive).await;
    let Some(result) = ended else {
        // The client went away (Ctrl-C, say): its command stops with it.
        remote.close();
        return;
    };
    let code = match result {
        Ok(()) => 0,
        Err(AppError::OutputClosed) => return,
        Err(e) => {
            remote.write_last(Stream::Err, format!("sotto: {e}\n"));
            u8::try_from(e.exit_code()).unwrap_or(EXIT_FAILURE as u8)
        }
    };
    if out.flush(&remote).await.is_ok() {
        let _ = out.send(&Reply::Exit(code)).await;
    }
}

/// The command line of a request, or the refusal to send back.
fn parse(request: &Request) -> Result<Cli, (String, u8)> {
    let pid = std::process::id();
    let mine = env!("CARGO_PKG_VERSION");
    if request.version != mine {
        return Err((
            format!(
                "sotto: the sotto process {pid} holding this home is version {mine}, this is {}: close it first\n",
                request.version
            ),
            EXIT_FAILURE as u8,
        ));
    }
    let cli = Cli::try_parse_from(&request.argv)
        .map_err(|e| (format!("sotto: {e}"), EXIT_USAGE as u8))?;
    if let Kind::Exclusive(what) = Kind::of(&cli.command) {
        return Err((
            format!(
                "sotto: this home is open in sotto process {pid}: {what} cannot run beside it\n"
            ),
            EXIT_FAILURE as u8,
        ));
    }
    Ok(cli)
}

/// Runs `run` while sending its output as it comes; `None` if the client
/// went away (or stopped reading) first.
async fn run_streaming<F: Future<Output = Result<(), AppError>>>(
    run: F,
    remote: &Remote,
    out: &mut Replies,
    rd: &mut OwnedReadHalf,
    keepalive: Duration,
) -> Option<Result<(), AppError>> {
    let mut run = std::pin::pin!(run);
    let mut gone = std::pin::pin!(closed(rd));
    loop {
        tokio::select! {
            biased;
            result = &mut run => return Some(result),
            () = &mut gone => return None,
            () = remote.written() => {
                if out.flush(remote).await.is_err() {
                    return None;
                }
            }
            () = tokio::time::sleep(keepalive) => {
                if out.send(&Reply::Alive).await.is_err() {
                    return None;
                }
            }
        }
    }
}

/// Resolves when the client closes its end (it sends nothing after its
/// request; anything it does send ends the session too).
async fn closed(rd: &mut OwnedReadHalf) {
    let mut byte = [0u8; 1];
    let _ = rd.read(&mut byte).await;
}

/// The writing half, with a bound on each write.
struct Replies {
    wr: OwnedWriteHalf,
    timeout: Duration,
}

impl Replies {
    async fn send(&mut self, reply: &Reply) -> Result<(), ()> {
        match tokio::time::timeout(self.timeout, frame::write(&mut self.wr, reply)).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
    }

    /// Sends what the command wrote so far.
    async fn flush(&mut self, remote: &Remote) -> Result<(), ()> {
        for (stream, text) in remote.take() {
            for piece in frame::pieces(&text) {
                let reply = match stream {
                    Stream::Out => Reply::Out(piece.to_string()),
                    Stream::Err => Reply::Err(piece.to_string()),
                };
                self.send(&reply).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
