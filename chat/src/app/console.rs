//! Where a command's output goes: this process's stdout and stderr, or, when
//! the command runs for another `sotto` process over the home's local socket
//! ([`super::local`]), that process's (streamed back to it in order).
//!
//! Commands write through [`out`] and [`err`] (the `say!` macro uses [`out`])
//! and ask [`stderr_is_terminal`] rather than looking at this process's own
//! descriptors: a command served for a client must never write to the
//! holder's terminal (it may be the terminal UI's screen).

use std::collections::VecDeque;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

use super::AppError;

/// Most bytes of output a served command may have waiting for its client;
/// past this the client is not reading and the command fails.
pub const MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;

tokio::task_local! {
    /// Set while a command runs for a client of the local socket.
    static REMOTE: Remote;
}

/// Which of the client's streams a piece of output belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Out,
    /// Standard error.
    Err,
}

/// The output of a command served for a client: text waiting to be sent, in
/// the order it was written, and what the client's streams are.
#[derive(Clone)]
pub struct Remote {
    inner: Arc<RemoteInner>,
}

struct RemoteInner {
    pending: Mutex<Pending>,
    notify: Notify,
    stderr_tty: bool,
}

#[derive(Default)]
struct Pending {
    chunks: VecDeque<(Stream, String)>,
    bytes: usize,
    /// The client went away: writing more is pointless.
    closed: bool,
}

impl Remote {
    /// Output for a client whose stderr is (or is not) a terminal.
    pub fn new(stderr_tty: bool) -> Self {
        Self {
            inner: Arc::new(RemoteInner {
                pending: Mutex::new(Pending::default()),
                notify: Notify::new(),
                stderr_tty,
            }),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        match self.inner.pending.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Queues `text` for the client; fails once the client is gone or is
    /// not reading.
    pub fn write(&self, stream: Stream, text: String) -> Result<(), AppError> {
        {
            let mut p = self.pending();
            if p.closed {
                return Err(AppError::OutputClosed);
            }
            if p.bytes + text.len() > MAX_PENDING_BYTES {
                return Err(AppError::Io(
                    "the other sotto process does not read this command's output".into(),
                ));
            }
            p.bytes += text.len();
            p.chunks.push_back((stream, text));
        }
        self.inner.notify.notify_one();
        Ok(())
    }

    /// Queues `text` whatever the bound (one closing line).
    pub fn write_last(&self, stream: Stream, text: String) {
        let mut p = self.pending();
        p.bytes += text.len();
        p.chunks.push_back((stream, text));
    }

    /// Takes what is waiting, oldest first.
    pub fn take(&self) -> Vec<(Stream, String)> {
        let mut p = self.pending();
        p.bytes = 0;
        p.chunks.drain(..).collect()
    }

    /// Marks the client gone: further writes fail.
    pub fn close(&self) {
        self.pending().closed = true;
    }

    /// Resolves when something was written since the last call.
    pub async fn written(&self) {
        self.inner.notify.notified().await;
    }

    /// Runs `fut` with its output going to this client.
    pub async fn scope<F: Future>(self, fut: F) -> F::Output {
        REMOTE.scope(self, fut).await
    }
}

/// Where output goes, for a task spawned by a command (task-locals do not
/// follow `tokio::spawn`).
#[derive(Clone)]
pub enum Sink {
    /// This process's stdout and stderr.
    Local,
    /// A client of the local socket.
    Remote(Remote),
}

impl Sink {
    /// Writes one line to `stream`.
    pub fn line(&self, stream: Stream, args: fmt::Arguments<'_>) -> Result<(), AppError> {
        match self {
            Sink::Remote(r) => r.write(stream, format!("{args}\n")),
            Sink::Local => {
                match stream {
                    Stream::Out => writeln!(std::io::stdout().lock(), "{args}")?,
                    Stream::Err => writeln!(std::io::stderr().lock(), "{args}")?,
                }
                Ok(())
            }
        }
    }
}

/// Where the running command's output goes.
pub fn current() -> Sink {
    REMOTE
        .try_with(|r| Sink::Remote(r.clone()))
        .unwrap_or(Sink::Local)
}

/// Writes a line to the command's stdout.
pub fn out(args: fmt::Arguments<'_>) -> Result<(), AppError> {
    current().line(Stream::Out, args)
}

/// Writes a line to the command's stderr.
pub fn err(args: fmt::Arguments<'_>) -> Result<(), AppError> {
    current().line(Stream::Err, args)
}

/// Whether the command's stderr is a terminal (the client's, when served).
pub fn stderr_is_terminal() -> bool {
    REMOTE
        .try_with(|r| r.inner.stderr_tty)
        .unwrap_or_else(|_| std::io::stderr().is_terminal())
}

/// Whether the command runs for a client of the local socket.
pub fn is_remote() -> bool {
    REMOTE.try_with(|_| ()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn served_output_keeps_its_order_and_its_bound() {
        let r = Remote::new(true);
        let got = r
            .clone()
            .scope(async {
                assert!(is_remote() && stderr_is_terminal());
                out(format_args!("one")).unwrap();
                err(format_args!("two")).unwrap();
                out(format_args!("three")).unwrap();
                let big = "x".repeat(MAX_PENDING_BYTES);
                out(format_args!("{big}"))
            })
            .await;
        assert!(matches!(got, Err(AppError::Io(_))), "{got:?}");
        assert_eq!(
            r.take(),
            vec![
                (Stream::Out, "one\n".to_string()),
                (Stream::Err, "two\n".to_string()),
                (Stream::Out, "three\n".to_string()),
            ]
        );
        r.close();
        let gone = r.scope(async { out(format_args!("late")) }).await;
        assert!(matches!(gone, Err(AppError::OutputClosed)));
        assert!(!is_remote());
    }
}
