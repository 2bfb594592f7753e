//! Moving attachments: sending a file (upload, then the message through the
//! outbox), forwarding one, sending a location, and saving one into a folder;
//! through any [`ChunkStore`] (`*_via`, for tests) or the network.

use std::fs::{self, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sotto_protocol::AccountId;
use sotto_protocol::attachment::name::first_free_name;
use sotto_protocol::attachment::{
    Attachment, AttachmentKind, Location, MAX_FILE_LEN, safe_file_name,
};
use sotto_protocol::envelope::{Content, ContentBody, ContentId};

use super::{
    AttachmentState, Extra, default_download_dir, human_size, io_error, kind_of, private_dir,
};
use crate::attach::download::MAX_NAME_TRIES;
use crate::attach::{ChunkStore, NetworkChunks, Progress, download, make_thumbnail, upload};
use crate::chat::{ChatError, ChatEvent, MessageId, Messenger};

impl Messenger {
    /// [`Messenger::send_file_via`] the network: chunks go to the swarms of
    /// their hashes through onion paths. Needs [`Messenger::connect`].
    pub async fn send_file(
        &self,
        to: &AccountId,
        path: &Path,
        caption: Option<String>,
        progress: impl FnMut(Progress),
    ) -> Result<MessageId, ChatError> {
        let client = self.inner.client().ok_or(ChatError::NotConnected)?;
        self.send_file_via(&NetworkChunks::new(client), to, path, caption, progress)
            .await
    }

    /// [`Messenger::save_attachment_via`] the network; needs
    /// [`Messenger::connect`].
    pub async fn save_attachment(
        &self,
        id: &MessageId,
        to_dir: Option<&Path>,
        progress: impl FnMut(Progress),
    ) -> Result<PathBuf, ChatError> {
        let client = self.inner.client().ok_or(ChatError::NotConnected)?;
        self.save_attachment_via(&NetworkChunks::new(client), id, to_dir, progress)
            .await
    }

    /// Sends the file at `path` to `to` through `store`: every chunk is
    /// stored (resuming a journal `HOME/uploads/…` left by an interrupted
    /// run), then the message naming it is queued in the outbox like a text.
    /// At most 100 MB. `progress` and [`ChatEvent::Transfer`] report each
    /// chunk. Returns the message's id once the message is queued.
    /// An image (by its extension) carries a sealed JPEG thumbnail when one
    /// can be made of it ([`make_thumbnail`], on a blocking thread).
    pub async fn send_file_via<S: ChunkStore + Sync>(
        &self,
        store: &S,
        to: &AccountId,
        path: &Path,
        caption: Option<String>,
        progress: impl FnMut(Progress),
    ) -> Result<MessageId, ChatError> {
        self.send_path_via(store, to, path, caption, None, progress)
            .await
    }

    /// [`Messenger::send_voice_note_via`] the network; needs
    /// [`Messenger::connect`].
    pub async fn send_voice_note(
        &self,
        to: &AccountId,
        path: &Path,
        duration_ms: u32,
        caption: Option<String>,
        progress: impl FnMut(Progress),
    ) -> Result<MessageId, ChatError> {
        let client = self.inner.client().ok_or(ChatError::NotConnected)?;
        let store = NetworkChunks::new(client);
        self.send_voice_note_via(&store, to, path, duration_ms, caption, progress)
            .await
    }

    /// Sends the recording at `path` as a voice note of `duration_ms`
    /// milliseconds (at most 24 h), otherwise as
    /// [`Messenger::send_file_via`]. The duration is checked before anything
    /// is uploaded.
    pub async fn send_voice_note_via<S: ChunkStore + Sync>(
        &self,
        store: &S,
        to: &AccountId,
        path: &Path,
        duration_ms: u32,
        caption: Option<String>,
        progress: impl FnMut(Progress),
    ) -> Result<MessageId, ChatError> {
        self.send_path_via(store, to, path, caption, Some(duration_ms), progress)
            .await
    }

    /// A file, or with `voice` a voice note of that many milliseconds.
    async fn send_path_via<S: ChunkStore + Sync>(
        &self,
        store: &S,
        to: &AccountId,
        path: &Path,
        caption: Option<String>,
        voice: Option<u32>,
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
        let (kind, media_type) = match (kind_of(path), voice) {
            ((_, media_type), Some(_)) => (AttachmentKind::VoiceNote, media_type),
            (guess, None) => guess,
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        // The caption and the duration are checked before anything is uploaded.
        let mut placeholder = placeholder_descriptor();
        placeholder.kind = kind;
        placeholder.duration_ms = voice;
        check_body_rules(&ContentBody::Attachment {
            attachment: placeholder,
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
        let mut descriptor = Attachment {
            kind,
            name: truncate_name(&name),
            media_type: media_type.to_owned(),
            size: up.size,
            secret: up.secret,
            root: up.root,
            chunk_count: up.chunk_count,
            thumbnail: None,
            duration_ms: voice,
        };
        if kind == AttachmentKind::Image {
            attach_thumbnail(&mut descriptor, path).await;
        }
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
        // Not held here (or the copy is gone or changed): fetch it.
        inner.set_attachment_state(&id.0, peer, AttachmentState::Downloading)?;
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
                inner.set_attachment_state(&id.0, peer, AttachmentState::Ready(d.path.clone()))?;
                Ok(d.path)
            }
            Err(e) => {
                inner.set_attachment_state(&id.0, peer, AttachmentState::Failed(e.to_string()))?;
                Err(e.into())
            }
        }
    }
}

/// Seals a thumbnail of the picture at `path` into `descriptor`, made on a
/// blocking thread; without one when it cannot be made (the file is sent all
/// the same).
async fn attach_thumbnail(descriptor: &mut Attachment, path: &Path) {
    let source = path.to_path_buf();
    let made = tokio::task::spawn_blocking(move || make_thumbnail(&source)).await;
    let Ok(Some(preview)) = made else {
        tracing::debug!(
            "no thumbnail for {}: not a picture this build decodes, too large or broken",
            path.display()
        );
        return;
    };
    if let Err(e) = descriptor.seal_thumbnail(&preview) {
        tracing::debug!("thumbnail for {} not attached: {e}", path.display());
    }
}

/// Checks `body` by the rules the recipient applies, worded for the user.
fn check_body_rules(body: &ContentBody) -> Result<(), ChatError> {
    body.validate()
        .map_err(|e| ChatError::Invalid(e.to_string()))
}

/// A valid descriptor of an empty file, for checking a caption by the
/// content rules before anything is uploaded.
pub(super) fn placeholder_descriptor() -> Attachment {
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
pub(super) fn truncate_name(name: &str) -> String {
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
