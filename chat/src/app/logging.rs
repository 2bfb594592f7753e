//! Logs go to HOME/sotto.log, never to the terminal (the TUI owns the screen
//! and scripts read stdout).

use std::fs::OpenOptions;
use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

/// Name of the log file in the home.
pub const LOG_FILE: &str = "sotto.log";
/// A log past this size is moved to `sotto.log.1` at start, so the home
/// never holds more than about twice this much log.
pub const MAX_LOG_BYTES: u64 = 8 * 1024 * 1024;

/// Starts logging into `home`. Failing to log is not a reason to fail the
/// command, so problems here are silently skipped.
pub fn init(home: &Path, filter: &str) {
    if std::fs::create_dir_all(home).is_err() {
        return;
    }
    let path = home.join(LOG_FILE);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_LOG_BYTES) {
        let _ = std::fs::rename(&path, home.join(format!("{LOG_FILE}.1")));
    }
    let Ok(file) = OpenOptions::new().create(true).append(true).open(&path) else {
        return;
    };
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|f| EnvFilter::try_new(f).ok())
        .or_else(|| EnvFilter::try_new(filter).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .try_init();
}
