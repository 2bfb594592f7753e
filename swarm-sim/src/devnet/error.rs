//! What can stop a devnet, each with what to do about it.

use std::path::PathBuf;

/// Why the devnet could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum DevnetError {
    /// An option is out of range.
    #[error("{0}")]
    Args(String),
    /// The `sotto-node` binary is not where it should be.
    #[error(
        "{} not found: build it with `cargo build --release -p sotto-node` (or `cargo build -p sotto-node` for a debug swarm-sim), or pass --sotto-node PATH",
        path.display()
    )]
    NodeBinary {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A port the devnet needs is taken.
    #[error("port {port} ({what}) is already in use: {hint}")]
    PortBusy {
        /// The port.
        port: u16,
        /// Which node uses it for what.
        what: String,
        /// What to do.
        hint: String,
    },
    /// A file or process operation failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// `sotto-node init` or `info` failed for a node.
    #[error("{node}: {message}")]
    Prepare {
        /// The node (`node-3`).
        node: String,
        /// What went wrong, with the tool's own message.
        message: String,
    },
    /// Some directories were still incomplete when the wait ran out.
    #[error("not every node's directory lists all {want} nodes after {secs} s; behind:{behind}")]
    NotReady {
        /// The nodes expected.
        want: usize,
        /// How long the wait was.
        secs: u64,
        /// Each node behind, what it sees and its log file, a line each.
        behind: String,
    },
    /// A node exited while it should have been running.
    #[error("{node} exited unexpectedly ({status}); its log is {}:\n{tail}", log.display())]
    NodeExited {
        /// The node.
        node: String,
        /// How it exited.
        status: String,
        /// Its log file.
        log: PathBuf,
        /// The last lines of that log.
        tail: String,
    },
    /// Every node has exited on its own.
    #[error("every node has exited: nothing is left to run (see the reports above)")]
    AllExited,
    /// SIGINT or SIGTERM could not be watched.
    #[error("cannot watch {signal}: {source}")]
    Signal {
        /// The signal's name.
        signal: &'static str,
        /// The operating system's error.
        source: std::io::Error,
    },
}

/// The devnet's result type.
pub type Result<T> = std::result::Result<T, DevnetError>;
