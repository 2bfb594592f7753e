//! `send-file`, `send-location` and `save`: attachments from the command
//! line. Files are read and written by the process holding the home (this one,
//! or the holder when the command runs through the local socket), so paths
//! are made absolute before a command line is forwarded ([`absolute_paths`]).

use std::path::Path;
use std::time::Duration;

use sotto_client::attach::{Progress, WavError, wav_file_duration_ms};
use sotto_client::chat::{AttachmentState, MessageId, MessageState, Messenger, human_size};

use super::console::{self, Stream};
use super::{AppError, Ctx};
use crate::cli::Command;

/// Width of the progress bar, in cells.
const BAR_CELLS: u32 = 20;

/// A progress reporter for `what` on the command's stderr, when it is a
/// terminal: one line per tenth of the chunks and one at the end (plain
/// lines, so they read the same through the local socket).
fn bar(what: String) -> impl FnMut(Progress) {
    let on = console::stderr_is_terminal();
    let sink = console::current();
    let mut last_tenth = None;
    move |p: Progress| {
        if !on || p.total == 0 {
            return;
        }
        let tenth = p.done * 10 / p.total;
        if last_tenth == Some(tenth) && p.done < p.total {
            return;
        }
        last_tenth = Some(tenth);
        let filled = p.done * BAR_CELLS / p.total;
        let cells: String = (0..BAR_CELLS)
            .map(|i| if i < filled { '#' } else { '-' })
            .collect();
        let _ = sink.line(
            Stream::Err,
            format_args!(
                "sotto: {what} [{cells}] {}% ({}/{} chunks)",
                p.done * 100 / p.total,
                p.done,
                p.total
            ),
        );
    }
}

/// `send-file --voice [--duration SECS]`: send the file as a voice note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Voice {
    /// The length given on the command line; without it, read from the
    /// file's WAV header.
    pub duration_ms: Option<u32>,
}

/// `sotto send-file CONTACT PATH [--caption TEXT] [--voice [--duration
/// SECS]]`: stores every chunk through onion paths, queues the message
/// naming them, and waits until a quorum of the recipient's swarm holds it.
pub async fn send_file(
    ctx: &Ctx,
    who: &str,
    path: &Path,
    caption: Option<String>,
    voice: Option<Voice>,
    timeout: Duration,
) -> Result<(), AppError> {
    // A voice note's length is known before connecting: a file that has
    // none is refused at once.
    let duration_ms = voice.map(|v| voice_duration(path, v)).transpose()?;
    let m = ctx.connected().await?;
    let result = send_file_on(&m, who, path, caption, duration_ms, timeout).await;
    ctx.close(&m).await;
    result
}

/// The length of the voice note at `path`: the one given, else its WAV
/// header's.
fn voice_duration(path: &Path, voice: Voice) -> Result<u32, AppError> {
    if let Some(ms) = voice.duration_ms {
        return Ok(ms);
    }
    wav_file_duration_ms(path).map_err(|e| match e {
        WavError::Io(why) => AppError::Usage(format!("cannot read {}: {why}", path.display())),
        other => AppError::Usage(format!(
            "{}: {other}; only a WAV file's length can be read: give it with --duration SECS",
            path.display()
        )),
    })
}

async fn send_file_on(
    m: &Messenger,
    who: &str,
    path: &Path,
    caption: Option<String>,
    voice_ms: Option<u32>,
    timeout: Duration,
) -> Result<(), AppError> {
    let to = super::resolve(m, who)?;
    need_path(m).await?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let progress = bar(format!("sending {name}"));
    let id = match voice_ms {
        Some(ms) => m.send_voice_note(&to, path, ms, caption, progress).await?,
        None => m.send_file(&to, path, caption, progress).await?,
    };
    wait_sent(m, who, &id, timeout).await
}

/// Waits until the message `id` is stored by the recipient's swarm, then
/// says so with its id.
async fn wait_sent(
    m: &Messenger,
    who: &str,
    id: &MessageId,
    timeout: Duration,
) -> Result<(), AppError> {
    let progress = super::progress::on_terminal(m, *id);
    let state = m.wait_state(id, MessageState::Sent, timeout).await;
    if let Some(p) = progress {
        p.finish();
    }
    say!("Sent to {who} ({}); message id {id}", state?);
    Ok(())
}

/// Waits (bounded) for a ready onion path: chunks can go nowhere before.
async fn need_path(m: &Messenger) -> Result<(), AppError> {
    if super::messages::wait_for_path(m, super::messages::PATH_WAIT).await? {
        return Ok(());
    }
    Err(AppError::Network(format!(
        "no onion path became ready within {}: is the network reachable?",
        crate::duration::format(super::messages::PATH_WAIT)
    )))
}

/// `sotto send-location CONTACT LAT LON [--label TEXT]`.
pub async fn send_location(
    ctx: &Ctx,
    who: &str,
    (lat, lon): (f64, f64),
    label: Option<String>,
    timeout: Duration,
) -> Result<(), AppError> {
    let m = ctx.connected().await?;
    let result = async {
        let to = super::resolve(&m, who)?;
        let id = m.send_location(&to, lat, lon, label).await?;
        wait_sent(&m, who, &id, timeout).await
    }
    .await;
    ctx.close(&m).await;
    result
}

/// `sotto save ID [--to DIR]`: saves an attachment (a copy fetched ahead,
/// or fetched now, every chunk checked) and prints the path.
pub async fn save(ctx: &Ctx, id: &str, to: Option<&Path>) -> Result<(), AppError> {
    let id: MessageId = id
        .parse()
        .map_err(|e: sotto_client::chat::BadMessageId| AppError::Usage(e.to_string()))?;
    let m = ctx.connected().await?;
    let result = async {
        let Some(info) = m.attachment(&id)? else {
            return Err(AppError::Usage(format!(
                "message {id} carries no attachment: `sotto inbox` and `sotto history` show ids"
            )));
        };
        if !matches!(info.state, AttachmentState::Ready(_)) {
            need_path(&m).await?;
        }
        let what = format!("fetching {} ({})", info.name, human_size(info.size));
        let path = m.save_attachment(&id, to, bar(what)).await?;
        say!("{}", path.display());
        Ok(())
    }
    .await;
    ctx.close(&m).await;
    result
}

/// `argv` with the paths of `command` made absolute against `cwd`, for a
/// command line run by another process (the holder of the home), whose
/// working directory is not this one's.
pub fn absolute_paths(command: &Command, argv: Vec<String>, cwd: &Path) -> Vec<String> {
    let path = match command {
        Command::SendFile { path, .. } => Some(path),
        Command::Save { to: Some(dir), .. } => Some(dir),
        _ => None,
    };
    let Some(path) = path.filter(|p| p.is_relative()) else {
        return argv;
    };
    let given = path.to_string_lossy().into_owned();
    let absolute = cwd.join(path).to_string_lossy().into_owned();
    let mut argv = argv;
    // The last occurrence: options and contacts come before it or are
    // spelled differently (`--to=DIR` is split below).
    if let Some(i) = argv.iter().rposition(|a| *a == given) {
        if let Some(a) = argv.get_mut(i) {
            *a = absolute;
        }
    } else if let Some(a) = argv
        .iter_mut()
        .rev()
        .find(|a| **a == format!("--to={given}"))
    {
        *a = format!("--to={absolute}");
    }
    argv
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::Cli;

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn relative_paths_are_made_absolute_for_the_holder() {
        let cwd = Path::new("/work/here");
        let line = argv(&["sotto", "send-file", "bob", "docs/a.pdf", "--caption", "x"]);
        let cli = Cli::try_parse_from(&line).unwrap();
        let out = absolute_paths(&cli.command, line, cwd);
        assert_eq!(out[3], "/work/here/docs/a.pdf");
        assert_eq!(out[5], "x");
        let line = argv(&["sotto", "save", "00", "--to=dl"]);
        let cli = Cli::try_parse_from(&line).unwrap();
        assert_eq!(
            absolute_paths(&cli.command, line, cwd)[3],
            "--to=/work/here/dl"
        );
        let line = argv(&[
            "sotto",
            "send-file",
            "bob",
            "m.wav",
            "--voice",
            "--duration",
            "2",
        ]);
        let cli = Cli::try_parse_from(&line).unwrap();
        let out = absolute_paths(&cli.command, line, cwd);
        assert_eq!(out[3..], ["/work/here/m.wav", "--voice", "--duration", "2"]);
        let line = argv(&["sotto", "save", "00", "--to", "/abs"]);
        let cli = Cli::try_parse_from(&line).unwrap();
        assert_eq!(absolute_paths(&cli.command, line.clone(), cwd), line);
    }

    #[test]
    fn a_voice_note_needs_a_length() {
        let dir = tempfile::tempdir().unwrap();
        let ogg = dir.path().join("memo.ogg");
        std::fs::write(&ogg, b"OggS not a wav").unwrap();
        let given = Voice {
            duration_ms: Some(4_000),
        };
        assert_eq!(voice_duration(&ogg, given).unwrap(), 4_000);
        let err = voice_duration(&ogg, Voice { duration_ms: None })
            .unwrap_err()
            .to_string();
        assert!(err.contains("--duration"), "{err}");
        let mut wav = b"RIFF\x24\x7d\0\0WAVEfmt \x10\0\0\0\x01\0\x01\0".to_vec();
        wav.extend_from_slice(&8_000u32.to_le_bytes());
        wav.extend_from_slice(&16_000u32.to_le_bytes());
        wav.extend_from_slice(b"\x02\0\x10\0data\x00\x7d\0\0");
        wav.resize(wav.len() + 32_000, 0);
        let path = dir.path().join("memo.wav");
        std::fs::write(&path, wav).unwrap();
        assert_eq!(
            voice_duration(&path, Voice { duration_ms: None }).unwrap(),
            2_000
        );
    }
}
