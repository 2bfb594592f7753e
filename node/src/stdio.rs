//! Writing to stdout and stderr without panicking when nobody reads them any
//! more (`sotto-node run 2>&1 | head -2`, a `tee` that Ctrl-C stopped first),
//! and colour only where a person sees it.
//!
//! Rust ignores SIGPIPE, so a write to a closed pipe fails with `EPIPE`, and
//! `println!` turns that failure into a panic (exit 101). Output that cannot be
//! written is dropped here instead: the process goes on (a node keeps
//! serving, a supervisor still stops its nodes) and exits as it would have.

use std::fmt;
use std::io::{self, IsTerminal, Write};

/// Whether to write ANSI colours to a stream: only to a terminal, and never
/// when `NO_COLOR` is set to a non-empty value (<https://no-color.org>).
pub fn colour(is_terminal: bool) -> bool {
    is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Whether logs on stderr get colours (see [`colour`]).
pub fn stderr_colour() -> bool {
    colour(io::stderr().is_terminal())
}

/// stderr as a writer that never fails: what cannot be written (a closed
/// pipe, a full disk behind a redirect) is dropped. Pass `LossyStderr::default`
/// to `tracing_subscriber`'s `with_writer`.
#[derive(Debug, Clone, Copy, Default)]
pub struct LossyStderr;

impl Write for LossyStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        lossy(io::stderr().write(buf), buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        lossy(io::stderr().flush(), ())
    }
}

/// The result of a write, with every failure but an interruption (which the
/// caller retries) turned into "done".
fn lossy<T>(r: io::Result<T>, done: T) -> io::Result<T> {
    match r {
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
        Err(_) => Ok(done),
        ok => ok,
    }
}

/// Writes `args` and a newline to stdout, or nothing if stdout is closed.
/// Use through [`outln!`](crate::outln).
pub fn out(args: fmt::Arguments<'_>) {
    let mut o = io::stdout().lock();
    let _ = o.write_fmt(args).and_then(|()| o.write_all(b"\n"));
}

/// Writes `args` and a newline to stderr, or nothing if stderr is closed.
/// Use through [`errln!`](crate::errln).
pub fn err(args: fmt::Arguments<'_>) {
    let mut e = io::stderr().lock();
    let _ = e.write_fmt(args).and_then(|()| e.write_all(b"\n"));
}

/// `println!` that drops its line when stdout is closed instead of panicking.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::stdio::out(format_args!($($arg)*))
    };
}

/// `eprintln!` that drops its line when stderr is closed instead of panicking.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::stdio::err(format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_become_done_but_interruptions_stay() {
        let pipe = io::Error::from(io::ErrorKind::BrokenPipe);
        assert_eq!(lossy(Err(pipe), 7).ok(), Some(7));
        let intr = io::Error::from(io::ErrorKind::Interrupted);
        assert!(lossy(Err(intr), 7).is_err());
        assert_eq!(lossy(Ok(3), 7).ok(), Some(3));
    }

    #[test]
    fn no_colour_off_a_terminal() {
        assert!(!colour(false));
    }
}
