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

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sotto_protocol::AccountId;
use sotto_protocol::attachment::name::first_free_name;
use sotto_protocol::attachment::{
    Attachment, AttachmentKind, Location, MAX_FILE_LEN, safe_file_name,
};
use sotto_protocol::envelope::{Content, ContentBody, ContentId};

use super::records::MsgRecord;
use super::{ChatError, ChatEvent, ChatMessage, Inner, MessageId, MessageState, Messenger};
use crate::attach::download::MAX_NAME_TRIES;
use crate::attach::{ChunkStore, Progress, download, upload};

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

/// The one-line text a message carrying `extra` shows in every front end.
pub(crate) fn summary(extra: &Extra) -> String {
    match extra {
        Extra::Attachment {
            descriptor: d,
            caption,
            ..
        } => {
            let tag = match (d.kind, d.duration_ms) {
                (AttachmentKind::Image, _) => "[image]".to_owned(),
                (AttachmentKind::VoiceNote, Some(ms)) => {
                    format!("[voice {}:{:02}]", ms / 60_000, ms / 1000 % 60)
                }
                _ => "[file]".to_owned(),
            };
            let name = safe_file_name(&d.name);
            let mut line = format!("{tag} {name} ({})", human_size(d.size));
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

    /// Sends the file at `path` to `to` through `store`: every chunk is
    /// stored (resuming a journal `HOME/uploads/…` left by an interrupted
    /// run), then the message naming it is queued in the outbox like a text.
    /// At most 100 MB. `progress` and [`ChatEvent::Transfer`] report each
    /// chunk. Returns the message's id once the message is queued.
    pub async fn send_file_via<S: ChunkStore>(
        &self,
        store: &S,
        to: &AccountId,
        path: &Path,
        caption: Option<String>,
        mut progress: impl FnMut(Progress),
    ) -> Result<MessageId, ChatError> {
        let inner = &self.inner;
        if inner.store.blocked.contains_key(to.as_bytes())? {
            return Err(ChatError::Blocked(*to));
        }
        let caption = caption.filter(|c| !c.trim().is_empty());
        let meta = fs::metadata(path).map_err(io_error(format!("reading {}", path.display())))?;
        if !meta.is_file() {
            return Err(ChatError::Invalid(format!(
                "{} is not a file: send one file at a time",
                path.display()
            )));
        }
        if meta.len() > MAX_FILE_LEN {
            return Err(ChatError::Invalid(format!(
                "{} is {}; attachments are at most {}: send a smaller file",
                path.display(),
                human_size(meta.len()),
                human_size(MAX_FILE_LEN)
            )));
        }
        let (kind, media_type) = kind_of(path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // The caption is checked before anything is uploaded.
        check_body_rules(&ContentBody::Attachment {
            attachment: placeholder_descriptor(),
            caption: caption.clone(),
        })?;
        let id = ContentId::random(&mut rand::rng());
        let uploads = inner.store.home.join("uploads");
        private_dir(&uploads)?;
        let journal = uploads.join(journal_name(path, &meta));
        let mut rng = ChaCha20Rng::from_rng(&mut rand::rng());
        let events = inner.events.clone();
        let peer = *to;
        let up = upload(store, path, &journal, &mut rng, |p| {
            progress(p);
            let _ = events.send(ChatEvent::Transfer {
                id: MessageId(id),
                peer,
                upload: true,
                progress: p,
            });
        })
        .await?;
        let descriptor = Attachment {
            kind,
            name: truncate_name(&name),
            media_type: media_type.to_owned(),
            size: up.size,
            secret: up.secret,
            root: up.root,
            chunk_count: up.chunk_count,
            thumbnail: None,
            duration_ms: None,
        };
        let content = Content {
            id,
            sent_at: inner.now(),
            body: ContentBody::Attachment {
                attachment: descriptor.clone(),
                caption: caption.clone(),
            },
        };
        let extra = Extra::Attachment {
            descriptor,
            caption,
            state: AttachmentState::Ready(path.to_path_buf()),
            auto: false,
        };
        let queued = self.blocking({
            let content = content.clone();
            move |i| i.queue_outgoing(&peer, &content, &extra)
        });
        queued.await?;
        self.flush().await?;
        // The message is durable in the outbox: the chunks are named there.
        if let Err(e) = fs::remove_file(&journal) {
            tracing::debug!("upload journal not removed: {e}");
        }
        Ok(MessageId(id))
    }

    /// Sends attachment `id` (received or sent) again, to `to`: the same
    /// descriptor, so the chunks already in the network are reused and
    /// nothing is uploaded.
    pub async fn forward_attachment(
        &self,
        id: &MessageId,
        to: &AccountId,
    ) -> Result<MessageId, ChatError> {
        let inner = &self.inner;
        let Some(Extra::Attachment {
            descriptor,
            caption,
            state,
            ..
        }) = inner.extra(&id.0)?
        else {
            return Err(ChatError::UnknownMessage);
        };
        let content = Content::new(
            &mut rand::rng(),
            inner.now(),
            ContentBody::Attachment {
                attachment: descriptor.clone(),
                caption: caption.clone(),
            },
        );
        // A copy this device holds stays usable for saving the forward.
        let state = match state {
            AttachmentState::Ready(p) => AttachmentState::Ready(p),
            _ => AttachmentState::Pending,
        };
        let extra = Extra::Attachment {
            descriptor,
            caption,
            state,
            auto: false,
        };
        let peer = *to;
        let new_id = content.id;
        self.blocking(move |i| i.queue_outgoing(&peer, &content, &extra))
            .await?;
        self.flush().await?;
        Ok(MessageId(new_id))
    }

    /// Sends a location (latitude −90…90, longitude −180…180, WGS 84) with
    /// an optional label, through the outbox like a text.
    pub async fn send_location(
        &self,
        to: &AccountId,
        lat: f64,
        lon: f64,
        label: Option<String>,
    ) -> Result<MessageId, ChatError> {
        let location = Location {
            lat,
            lon,
            label: label.filter(|l| !l.trim().is_empty()),
        };
        let body = ContentBody::Location {
            location: location.clone(),
        };
        check_body_rules(&body)?;
        let content = Content::new(&mut rand::rng(), self.inner.now(), body);
        let id = content.id;
        let peer = *to;
        let extra = Extra::Location(location);
        self.blocking(move |i| i.queue_outgoing(&peer, &content, &extra))
            .await?;
        self.flush().await?;
        Ok(MessageId(id))
    }

    /// Saves attachment `id` into `to_dir` (default: the `download_dir`
    /// setting, else [`default_download_dir`]; made with mode 0700 if
    /// missing) under its safe name, renamed on a clash, with mode 0600, and
    /// returns the path. A copy already fetched is copied; otherwise the
    /// file is fetched through `store` straight into the folder, every chunk
    /// checked before the file appears. Never opened or run.
    pub async fn save_attachment_via<S: ChunkStore>(
        &self,
        store: &S,
        id: &MessageId,
        to_dir: Option<&Path>,
        mut progress: impl FnMut(Progress),
    ) -> Result<PathBuf, ChatError> {
        let inner = &self.inner;
        let Some(Extra::Attachment {
            descriptor, state, ..
        }) = inner.extra(&id.0)?
        else {
            return Err(ChatError::UnknownMessage);
        };
        let peer = inner
            .store
            .message(&id.0)?
            .map(|(_, r)| r.msg.peer)
            .ok_or(ChatError::UnknownMessage)?;
        let dir = match to_dir {
            Some(d) => d.to_path_buf(),
            None => self
                .settings()
                .download_dir
                .unwrap_or_else(default_download_dir),
        };
        private_dir(&dir)?;
        if let AttachmentState::Ready(held) = &state
            && fs::metadata(held).is_ok_and(|m| m.is_file() && m.len() == descriptor.size)
        {
            let (held, dir, name) = (held.clone(), dir.clone(), descriptor.name.clone());
            let saved = self
                .blocking(move |_| copy_private(&held, &dir, &name))
                .await?;
            let total = descriptor.chunk_count + u32::from(descriptor.chunk_count > 1);
            progress(Progress { done: total, total });
            return Ok(saved);
        }
        let was_ready = matches!(state, AttachmentState::Ready(_));
        if !was_ready {
            inner.set_attachment_state(&id.0, peer, AttachmentState::Downloading)?;
        }
        let events = inner.events.clone();
        let msg_id = *id;
        let got = download(store, &descriptor, &dir, |p| {
            progress(p);
            let _ = events.send(ChatEvent::Transfer {
                id: msg_id,
                peer,
                upload: false,
                progress: p,
            });
        })
        .await;
        match got {
            Ok(d) => {
                if !was_ready {
                    inner.set_attachment_state(
                        &id.0,
                        peer,
                        AttachmentState::Ready(d.path.clone()),
                    )?;
                }
                Ok(d.path)
            }
            Err(e) => {
                if !was_ready {
                    inner.set_attachment_state(
                        &id.0,
                        peer,
                        AttachmentState::Failed(e.to_string()),
                    )?;
                }
                Err(e.into())
            }
        }
    }
}

/// Checks `body` by the rules the recipient applies, worded for the user.
fn check_body_rules(body: &ContentBody) -> Result<(), ChatError> {
    body.validate()
        .map_err(|e| ChatError::Invalid(e.to_string()))
}

/// A valid descriptor of an empty file, for checking a caption by the
/// content rules before anything is uploaded.
fn placeholder_descriptor() -> Attachment {
    Attachment {
        kind: AttachmentKind::File,
        name: String::new(),
        media_type: String::new(),
        size: 0,
        secret: sotto_protocol::attachment::FileSecret::from_parts(
            [0; 32],
            [0; sotto_protocol::attachment::stream::NONCE_PREFIX_LEN],
        ),
        root: sotto_protocol::attachment::ChunkHash([0; 32]),
        chunk_count: 1,
        thumbnail: None,
        duration_ms: None,
    }
}

/// The sender's file name cut to what a descriptor carries, at a character
/// boundary (the receiver makes it safe again in any case).
fn truncate_name(name: &str) -> String {
    let max = sotto_protocol::attachment::descriptor::MAX_NAME_LEN;
    let mut end = name.len().min(max);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name.get(..end).unwrap_or_default().to_owned()
}

/// The journal of one upload: named by the file's path, size and change
/// time, so running the same send again resumes it and a changed file starts
/// afresh.
fn journal_name(path: &Path, meta: &fs::Metadata) -> String {
    let mut h = blake3::Hasher::new();
    let full = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    h.update(full.as_os_str().as_encoded_bytes());
    h.update(&meta.len().to_le_bytes());
    h.update(&meta.mtime().to_le_bytes());
    h.update(&meta.mtime_nsec().to_le_bytes());
    let hex = h.finalize().to_hex();
    format!("{}.journal", hex.get(..32).unwrap_or_default())
}

/// Copies `from` into `dir` under the safe form of `name` (first free name),
/// created new with mode 0600: never over an existing file.
pub(crate) fn copy_private(from: &Path, dir: &Path, name: &str) -> Result<PathBuf, ChatError> {
    let safe = safe_file_name(name);
    let mut tries = 0;
    loop {
        let taken = |n: &str| dir.join(n).symlink_metadata().is_ok();
        let Some(free) = first_free_name(&safe, MAX_NAME_TRIES, taken) else {
            return Err(ChatError::Invalid(format!(
                "no free name for {safe} in {}: clean up the folder",
                dir.display()
            )));
        };
        let target = dir.join(free);
        let created = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&target);
        match created {
            Ok(mut out) => {
                let copied = fs::File::open(from)
                    .and_then(|mut src| io::copy(&mut src, &mut out))
                    .and_then(|_| out.sync_all());
                if let Err(e) = copied {
                    let _ = fs::remove_file(&target);
                    return Err(io_error(format!("saving {}", target.display()))(e));
                }
                return Ok(target);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && tries < 8 => tries += 1,
            Err(e) => return Err(io_error(format!("saving {}", target.display()))(e)),
        }
    }
}

#[cfg(test)]
mod tests {
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
