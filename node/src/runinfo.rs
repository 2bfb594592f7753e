//! What a running node tells the world about itself through its data
//! directory: `DATA_DIR/run.json` holds the process id and the addresses the
//! node actually bound.
//!
//! An operator may ask for port 0 (`--listen /ip4/127.0.0.1/tcp/0`,
//! `--metrics 127.0.0.1:0`), which only the kernel resolves; scripts and
//! tests then read the real ports here instead of guessing free ones, which
//! races with every other program on the machine. (`swarm-sim devnet` gives
//! its nodes fixed ports from `--base-port` instead, so a rerun keeps its
//! addresses.) Tor's
//! `ControlPortWriteToFile` serves the same purpose. The file is written once
//! the node listens and removed on a clean stop; after a crash it stays, and
//! [`RunInfo::is_alive`] tells a stale file from a live node.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The file's name inside the data directory.
pub const RUN_FILE: &str = "run.json";

/// Larger files are not read: the real one is a few hundred bytes.
const MAX_RUN_FILE_BYTES: u64 = 64 * 1024;

/// A running node's process id and bound addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The node process's id.
    pub pid: u32,
    /// The node's libp2p peer id.
    pub peer_id: String,
    /// Every address the node listens on, each ending in `/p2p/<peer id>`.
    pub listen: Vec<String>,
    /// Where `/metrics` is served (`host:port`), if it is.
    pub metrics: Option<String>,
}

/// Why `run.json` could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RunInfoError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The file is larger than a real one can be.
    #[error("{path} is {len} bytes, more than a node writes; not reading it")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// Its length.
        len: u64,
    },
    /// The file is not what a node writes.
    #[error("{path} is not a valid run file: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl RunInfo {
    /// Writes the file atomically (a temporary file renamed over it), so a
    /// reader never sees half of it.
    pub fn write(&self, data_dir: &Path) -> io::Result<()> {
        let path = data_dir.join(RUN_FILE);
        let tmp = data_dir.join(format!("{RUN_FILE}.tmp"));
        let text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        fs::write(&tmp, text)?;
        fs::rename(&tmp, &path)
    }

    /// Reads the file; `None` when there is none (the node never ran, or
    /// stopped cleanly).
    pub fn read(data_dir: &Path) -> Result<Option<RunInfo>, RunInfoError> {
        let path = data_dir.join(RUN_FILE);
        let io_err = |source| RunInfoError::Io {
            path: path.clone(),
            source,
        };
        let len = match fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        if len > MAX_RUN_FILE_BYTES {
            return Err(RunInfoError::TooLarge { path, len });
        }
        let text = fs::read_to_string(&path).map_err(io_err)?;
        serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| RunInfoError::Invalid {
                path,
                reason: e.to_string(),
            })
    }

    /// Removes the file (on a clean stop); a missing file is fine.
    pub fn remove(data_dir: &Path) -> io::Result<()> {
        match fs::remove_file(data_dir.join(RUN_FILE)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Whether the process that wrote the file still runs. Where `/proc` is
    /// missing (not Linux) this cannot be known and the answer is `None`.
    pub fn is_alive(&self) -> Option<bool> {
        let proc_root = Path::new("/proc");
        if !proc_root.join("self").exists() {
            return None;
        }
        Some(proc_root.join(self.pid.to_string()).exists())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> RunInfo {
        RunInfo {
            pid: std::process::id(),
            peer_id: "12D3KooW".into(),
            listen: vec!["/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW".into()],
            metrics: Some("127.0.0.1:9100".into()),
        }
    }

    #[test]
    fn write_read_remove() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(RunInfo::read(dir.path()).unwrap(), None);
        sample().write(dir.path()).unwrap();
        assert_eq!(RunInfo::read(dir.path()).unwrap(), Some(sample()));
        assert_eq!(sample().is_alive(), Some(true));
        RunInfo::remove(dir.path()).unwrap();
        RunInfo::remove(dir.path()).unwrap();
        assert_eq!(RunInfo::read(dir.path()).unwrap(), None);
    }

    #[test]
    fn garbage_and_oversized_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(RUN_FILE), "{not json").unwrap();
        assert!(matches!(
            RunInfo::read(dir.path()),
            Err(RunInfoError::Invalid { .. })
        ));
        fs::write(
            dir.path().join(RUN_FILE),
            vec![b' '; MAX_RUN_FILE_BYTES as usize + 1],
        )
        .unwrap();
        assert!(matches!(
            RunInfo::read(dir.path()),
            Err(RunInfoError::TooLarge { .. })
        ));
    }
}
