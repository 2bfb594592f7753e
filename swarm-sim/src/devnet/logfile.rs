//! A node's log file with a size cap: the node writes to a pipe, and a
//! thread of the supervisor copies it into `node.log`, moving a full file to
//! `node.log.1`. A devnet left running for days at `--log debug` then holds
//! at most two files' worth per node instead of filling the disk.

use std::fs::File;
use std::io::{BufRead, BufReader, PipeReader, Read, Write};
use std::path::{Path, PathBuf};

use sotto_node::errln;
use tokio::sync::oneshot;

/// Size at which a log file is moved aside and a new one started.
pub const MAX_LOG_BYTES: u64 = 16 * 1024 * 1024;
/// Longest line copied whole; the rest of a longer line is dropped, so a
/// runaway line cannot take unbounded memory.
const MAX_LINE: u64 = 16 * 1024;

/// The file a full log is moved to.
pub fn rotated(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".1");
    PathBuf::from(name)
}

/// Copies `pipe` into a fresh file at `path` until the writing end closes
/// (the node exited), capping files at `max` bytes. The receiver completes
/// when everything is written, so the end of the log can be read after that.
pub fn pump(pipe: PipeReader, path: PathBuf, max: u64) -> std::io::Result<oneshot::Receiver<()>> {
    let file = File::create(&path)?;
    let (done, flushed) = oneshot::channel();
    std::thread::Builder::new()
        .name("devnet-log".into())
        .spawn(move || {
            if let Err(e) = copy(pipe, file, &path, max) {
                // Nowhere better to say it: the log itself is what failed.
                errln!("swarm-sim devnet: log {}: {e}", path.display());
            }
            let _ = done.send(());
        })?;
    Ok(flushed)
}

fn copy(pipe: PipeReader, mut file: File, path: &Path, max: u64) -> std::io::Result<()> {
    let mut reader = BufReader::new(pipe);
    let mut written = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader
            .by_ref()
            .take(MAX_LINE)
            .read_until(b'\n', &mut line)?;
        if n == 0 {
            return file.flush();
        }
        if n as u64 == MAX_LINE && line.last() != Some(&b'\n') {
            // Cut short at MAX_LINE: skip to the end of the line, keep the head.
            skip_line(&mut reader)?;
            line.extend_from_slice(b" [line cut]\n");
        }
        let len = line.len() as u64;
        if written > 0 && written + len > max {
            file.flush()?;
            std::fs::rename(path, rotated(path))?;
            file = File::create(path)?;
            written = 0;
        }
        file.write_all(&line)?;
        written += len;
    }
}

/// Reads up to the next newline without keeping what it reads.
fn skip_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    loop {
        let buf = reader.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                reader.consume(i + 1);
                return Ok(());
            }
            None => {
                let all = buf.len();
                reader.consume(all);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test]
    async fn full_files_move_aside_and_long_lines_are_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.log");
        let (reader, mut writer) = std::io::pipe().unwrap();
        let flushed = pump(reader, path.clone(), 1_000).unwrap();
        for i in 0..100 {
            writeln!(writer, "line {i:03} of the log").unwrap();
        }
        writer.write_all(&vec![b'x'; 40_000]).unwrap();
        writer.write_all(b"\nlast\n").unwrap();
        drop(writer);
        tokio::time::timeout(std::time::Duration::from_secs(10), flushed)
            .await
            .unwrap()
            .unwrap();
        // 2,100 bytes of short lines went through files of at most 1,000;
        // the long line was cut to MAX_LINE, marked, and filled a file alone
        // (its tail did not become a line of its own); "last" started a new one.
        let now = std::fs::read_to_string(&path).unwrap();
        let old = std::fs::read_to_string(rotated(&path)).unwrap();
        assert_eq!(now, "last\n");
        assert_eq!(old.len() as u64, MAX_LINE + " [line cut]\n".len() as u64);
        assert!(old.starts_with("xxx") && old.ends_with("x [line cut]\n"));
    }

    #[tokio::test]
    async fn a_small_log_is_copied_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.log");
        let (reader, mut writer) = std::io::pipe().unwrap();
        let flushed = pump(reader, path.clone(), MAX_LOG_BYTES).unwrap();
        writer
            .write_all(b"one\ntwo\nno newline at the end")
            .unwrap();
        drop(writer);
        flushed.await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "one\ntwo\nno newline at the end"
        );
        assert!(!rotated(&path).exists());
    }
}
