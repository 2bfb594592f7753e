//! Attachments in conversations: sending a file or a location through the
//! outbox like a text, recording received ones with their download state, and
//! saving one into a folder.
//!
//! A message that carries an attachment or a location is stored as a
//! [`ChatMessage`] whose text is a one-line summary (`[file] report.pdf
//! (200 kB)`), so every front end shows something sensible; what it carries is
//! kept beside it in the `extras` tree under its content id and handed out by
//! [`Messenger::attachment`] and [`Messenger::location`]. The descriptor (with
//! the file's key) never leaves this module except inside a sealed envelope.
//!
//! Where files go: fetched ahead into `HOME/attachments/` (0700, files 0600;
//! see [`super::autofetch`]), saved on request into the download folder (0600,
//! under a safe name, renamed on a clash). Nothing is ever opened or run.

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sotto_protocol::AccountId;
use sotto_protocol::attachment::{Attachment, AttachmentKind, Location, safe_file_name};
use sotto_protocol::envelope::{Content, ContentId};

use super::records::MsgRecord;
use super::{ChatError, ChatEvent, ChatMessage, Inner, MessageId, MessageState, Messenger};

mod transfer;

/// Where a received attachment is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AttachmentState {
    /// Not fetched: too large to fetch ahead, from a stranger, or waiting its
    /// turn.
    Pending,
    /// Being fetched now.
    Downloading,
    /// Fetched and verified, at this path (for one this account sent: the
    /// file it was sent from).
    Ready(PathBuf),
    /// Fetching failed, for this reason; `save` tries again.
    Failed(String),
}

impl std::fmt::Display for AttachmentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Pending => f.write_str("not downloaded"),
            Self::Downloading => f.write_str("downloading"),
            Self::Ready(_) => f.write_str("ready"),
            Self::Failed(why) => write!(f, "failed: {why}"),
        }
    }
}

/// An attachment as front ends see it: what the sender said it is (a hint,
/// never trusted to decide how to open it) and where it is. No key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttachmentInfo {
    /// The message carrying it.
    pub id: MessageId,
    /// Its conversation.
    pub peer: AccountId,
    /// Sent by this account.
    pub outgoing: bool,
    /// File, image or voice note.
    pub kind: AttachmentKind,
    /// The name it is saved under ([`safe_file_name`] of the sender's name).
    pub name: String,
    /// The declared media type.
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// The sender's caption.
    pub caption: Option<String>,
    /// For voice notes, the length in milliseconds.
    pub duration_ms: Option<u32>,
    /// For images, the sender's preview (a small JPEG, at most
    /// [`sotto_protocol::attachment::descriptor::MAX_THUMBNAIL_LEN`] bytes), opened with
    /// the file's key; `None` if it sent none or it does not open. Only the
    /// sender's word for what the file looks like: decode it as untrusted.
    pub thumbnail: Option<Vec<u8>>,
    /// Where it is.
    pub state: AttachmentState,
}

/// What a message carries besides its text (the `extras` tree).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) enum Extra {
    /// A file: the descriptor (with its key), the caption, and where it is.
    Attachment {
        descriptor: Attachment,
        caption: Option<String>,
        state: AttachmentState,
        /// Fetch it ahead (a contact sent it and it is small enough).
        auto: bool,
    },
    /// A shared location.
    Location(Location),
}

/// The kind and media type announced for a file, from its extension: images
/// by their usual extensions are `Image`, everything else (audio included) is
/// a `File` with a media type when the extension is well known. Voice notes
/// are recorded by an app that knows their duration, not guessed from a file.
pub fn kind_of(path: &Path) -> (AttachmentKind, &'static str) {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let image = |t| (AttachmentKind::Image, t);
    let file = |t| (AttachmentKind::File, t);
    match ext.as_str() {
        "jpg" | "jpeg" => image("image/jpeg"),
        "png" => image("image/png"),
        "gif" => image("image/gif"),
        "webp" => image("image/webp"),
        "heic" => image("image/heic"),
        "pdf" => file("application/pdf"),
        "txt" | "md" => file("text/plain"),
        "zip" => file("application/zip"),
        "mp3" => file("audio/mpeg"),
        "ogg" | "opus" => file("audio/ogg"),
        "m4a" => file("audio/mp4"),
        "wav" => file("audio/wav"),
        "mp4" => file("video/mp4"),
        _ => file("application/octet-stream"),
    }
}

/// A size for people: `512 B`, `200 kB`, `25.0 MB` (decimal, as the limit).
pub fn human_size(size: u64) -> String {
    match size {
        0..1_000 => format!("{size} B"),
        1_000..1_000_000 => format!("{} kB", size / 1_000),
        _ => format!("{:.1} MB", size as f64 / 1e6),
    }
}

/// A voice note's length as a clock: `0:12`, `3:05`, `72:00`.
pub fn clock_time(ms: u32) -> String {
    format!("{}:{:02}", ms / 60_000, ms / 1000 % 60)
}

/// The one-line text a message carrying `extra` shows in every front end.
pub(crate) fn summary(extra: &Extra) -> String {
    match extra {
        Extra::Attachment {
            descriptor: d,
            caption,
            ..
        } => {
            let name = safe_file_name(&d.name);
            let size = human_size(d.size);
            let mut line = match (d.kind, d.duration_ms) {
                (AttachmentKind::Image, _) => format!("[image] {name} ({size})"),
                (AttachmentKind::VoiceNote, Some(ms)) => {
                    format!("[voice] {name} {} ({size})", clock_time(ms))
                }
                _ => format!("[file] {name} ({size})"),
            };
            if let Some(c) = caption {
                line.push_str(" — ");
                line.push_str(c);
            }
            line
        }
        Extra::Location(l) => {
            let label = l.label.as_deref().unwrap_or("location");
            format!("[location] {label} {:.5},{:.5}", l.lat, l.lon)
        }
    }
}

/// The default download folder: `$XDG_DOWNLOAD_DIR`, else `$HOME/Downloads`,
/// else `Downloads` under the working directory.
pub fn default_download_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("XDG_DOWNLOAD_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map_or_else(
            || PathBuf::from("Downloads"),
            |h| Path::new(&h).join("Downloads"),
        )
}

/// Makes `dir` (and its parents) if missing, the last one with mode 0700.
pub(crate) fn private_dir(dir: &Path) -> Result<(), ChatError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| ChatError::Store(format!("cannot create {}: {e}", dir.display())))
}

fn io_error(what: String) -> impl FnOnce(io::Error) -> ChatError {
    move |e| ChatError::Store(format!("{what}: {e}"))
}

impl Inner {
    /// What message `id` carries besides its text.
    pub(crate) fn extra(&self, id: &ContentId) -> Result<Option<Extra>, ChatError> {
        let s = &self.store;
        s.get(&s.extras, id.as_bytes())
    }

    /// Records what message `id` carries.
    pub(crate) fn put_extra(&self, id: &ContentId, extra: &Extra) -> Result<(), ChatError> {
        let s = &self.store;
        s.put(&s.extras, id.as_bytes(), extra)
    }

    /// Moves a stored attachment to `state` and tells front ends.
    pub(crate) fn set_attachment_state(
        &self,
        id: &ContentId,
        peer: AccountId,
        new: AttachmentState,
    ) -> Result<(), ChatError> {
        let Some(Extra::Attachment {
            descriptor,
            caption,
            auto,
            ..
        }) = self.extra(id)?
        else {
            return Err(ChatError::UnknownMessage);
        };
        self.put_extra(
            id,
            &Extra::Attachment {
                descriptor,
                caption,
                state: new.clone(),
                auto,
            },
        )?;
        self.emit(ChatEvent::Attachment {
            id: MessageId(*id),
            peer,
            state: new,
        });
        Ok(())
    }

    /// The cache of attachments fetched ahead.
    pub(crate) fn cache_dir(&self) -> PathBuf {
        self.store.home.join("attachments")
    }

    /// Stores an outgoing message carrying `extra` and queues `content`: the
    /// path `send_text` takes, so it is sent, retried and tracked alike.
    fn queue_outgoing(
        &self,
        to: &AccountId,
        content: &Content,
        extra: &Extra,
    ) -> Result<(), ChatError> {
        let s = &self.store;
        if s.blocked.contains_key(to.as_bytes())? {
            return Err(ChatError::Blocked(*to));
        }
        let now = content.sent_at;
        let (ttl, expires_at) = self.send_timer(to)?;
        let rec = MsgRecord {
            msg: ChatMessage {
                id: MessageId(content.id),
                peer: *to,
                outgoing: true,
                text: summary(extra),
                sent_at: now,
                received_at: now,
                state: MessageState::Queued,
                expires_at,
                request: false,
            },
            hash: None,
        };
        self.put_extra(&content.id, extra)?;
        s.insert_message(&rec, false)?;
        if let Err(e) = self.enqueue_content(to, content, ttl) {
            if let Some((key, rec)) = s.message(&content.id)? {
                s.remove_message(&key, &rec)?;
            }
            return Err(e);
        }
        self.after_send(to, now)
    }
}

impl Messenger {
    /// The attachment message `id` carries, if it carries one.
    pub fn attachment(&self, id: &MessageId) -> Result<Option<AttachmentInfo>, ChatError> {
        let inner = &self.inner;
        let Some(Extra::Attachment {
            descriptor: d,
            caption,
            state,
            ..
        }) = inner.extra(&id.0)?
        else {
            return Ok(None);
        };
        let Some((_, rec)) = inner.store.message(&id.0)? else {
            return Ok(None);
        };
        let thumbnail = match d.open_thumbnail() {
            Ok(t) => t,
            Err(e) => {
                tracing::debug!("thumbnail of {:?} does not open: {e}", id);
                None
            }
        };
        Ok(Some(AttachmentInfo {
            id: *id,
            peer: rec.msg.peer,
            outgoing: rec.msg.outgoing,
            kind: d.kind,
            name: safe_file_name(&d.name),
            media_type: d.media_type,
            size: d.size,
            caption,
            duration_ms: d.duration_ms,
            thumbnail,
            state,
        }))
    }

    /// The location message `id` carries, if it carries one.
    pub fn location(&self, id: &MessageId) -> Result<Option<Location>, ChatError> {
        Ok(match self.inner.extra(&id.0)? {
            Some(Extra::Location(l)) => Some(l),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::transfer::{placeholder_descriptor, truncate_name};
    use super::*;

    #[test]
    fn kinds_by_extension() {
        assert_eq!(kind_of(Path::new("a/B.JPG")).0, AttachmentKind::Image);
        assert_eq!(
            kind_of(Path::new("x.png")),
            (AttachmentKind::Image, "image/png")
        );
        assert_eq!(
            kind_of(Path::new("song.mp3")),
            (AttachmentKind::File, "audio/mpeg")
        );
        assert_eq!(
            kind_of(Path::new("noext")),
            (AttachmentKind::File, "application/octet-stream")
        );
    }

    #[test]
    fn sizes_and_summaries() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(200_000), "200 kB");
        assert_eq!(human_size(25_000_000), "25.0 MB");
        let mut d = placeholder_descriptor();
        d.name = "../../.bashrc".into();
        d.size = 1_500;
        let extra = Extra::Attachment {
            descriptor: d,
            caption: Some("look".into()),
            state: AttachmentState::Pending,
            auto: false,
        };
        assert_eq!(summary(&extra), "[file] bashrc (1 kB) — look");
        let mut voice = placeholder_descriptor();
        voice.kind = AttachmentKind::VoiceNote;
        voice.name = "memo.wav".into();
        voice.size = 96_000;
        voice.duration_ms = Some(72_500);
        let extra = Extra::Attachment {
            descriptor: voice,
            caption: None,
            state: AttachmentState::Pending,
            auto: false,
        };
        assert_eq!(summary(&extra), "[voice] memo.wav 1:12 (96 kB)");
        assert_eq!(clock_time(12_999), "0:12");
        let here = Extra::Location(Location {
            lat: 48.2,
            lon: -16.5,
            label: None,
        });
        assert_eq!(summary(&here), "[location] location 48.20000,-16.50000");
    }

    #[test]
    fn long_names_are_cut_at_a_boundary() {
        let name = "語".repeat(100);
        let cut = truncate_name(&name);
        assert!(cut.len() <= 255 && cut.chars().all(|c| c == '語'));
    }
}
