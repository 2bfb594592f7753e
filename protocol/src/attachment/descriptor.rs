//! What the message that carries an attachment holds: the file's name, declared
//! type, size, secret, root hash and chunk count, a sealed thumbnail for images
//! and a duration for voice notes; and a shared location.
//!
//! The envelope content kinds that wrap these live in [`crate::envelope`]; these
//! types are the payloads they carry.

use serde::{Deserialize, Serialize};

use super::error::{AttachmentError, AttachmentResult};
use super::file::SealedFile;
use super::stream::{FLAG_LAST, FLAG_THUMBNAIL, FileSecret};
use super::{ChunkHash, MAX_FILE_LEN, data_chunks_for};
use crate::codec;
use crate::constants::{MAX_CONTENT_LEN, TAG_LEN};

/// Longest file name a descriptor carries, in bytes (the common file-system
/// limit); the receiver still makes it safe with [`super::safe_file_name`].
pub const MAX_NAME_LEN: usize = 255;
/// Longest declared media type, in bytes (RFC 6838 allows 127 per part).
pub const MAX_MEDIA_TYPE_LEN: usize = 127;
/// Largest thumbnail plaintext: 8 KiB holds a small JPEG preview and keeps the
/// message in the 32 KiB envelope bucket.
pub const MAX_THUMBNAIL_LEN: usize = 8 * 1024;
/// Longest voice note duration: 24 hours, far past any real one.
pub const MAX_VOICE_DURATION_MS: u32 = 24 * 60 * 60 * 1000;
/// Longest location label, in bytes.
pub const MAX_LOCATION_LABEL_LEN: usize = 256;
/// Largest encoded [`Attachment`]: every field at its limit, with room for the
/// varints and option tags.
pub const MAX_ATTACHMENT_LEN: usize =
    MAX_NAME_LEN + MAX_MEDIA_TYPE_LEN + MAX_THUMBNAIL_LEN + TAG_LEN + 32 + 19 + 32 + 64;
/// Largest encoded [`Location`].
pub const MAX_LOCATION_LEN: usize = 16 + MAX_LOCATION_LABEL_LEN + 8;

const _: () = assert!(MAX_ATTACHMENT_LEN + MAX_LOCATION_LEN < MAX_CONTENT_LEN);

/// What kind of attachment a message announces; shown differently, stored alike.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum AttachmentKind {
    /// Any file.
    File,
    /// A picture, which may carry a thumbnail.
    Image,
    /// A recorded audio message, which carries its duration.
    VoiceNote,
}

/// An attachment as the message that carries it describes it. The declared
/// type and name are hints from the sender: never trusted to decide how to
/// open the file, and the name is sanitised before saving.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Attachment {
    /// File, image or voice note.
    pub kind: AttachmentKind,
    /// The sender's name for the file.
    pub name: String,
    /// The declared media type (`image/jpeg`), a hint only.
    pub media_type: String,
    /// Plaintext size in bytes.
    pub size: u64,
    /// Key and nonce prefix of the file.
    pub secret: FileSecret,
    /// The single data chunk's hash, or the manifest's for several chunks.
    pub root: ChunkHash,
    /// Number of data chunks.
    pub chunk_count: u32,
    /// For images: a small preview sealed under the file's key
    /// ([`Attachment::seal_thumbnail`]).
    pub thumbnail: Option<Vec<u8>>,
    /// For voice notes: the length of the recording in milliseconds.
    pub duration_ms: Option<u32>,
}

impl Attachment {
    /// The descriptor of `file` with no thumbnail or duration.
    pub fn new(kind: AttachmentKind, name: &str, media_type: &str, file: &SealedFile) -> Self {
        Self {
            kind,
            name: name.to_string(),
            media_type: media_type.to_string(),
            size: file.size,
            secret: file.secret.clone(),
            root: file.root,
            chunk_count: u32::try_from(file.chunks.len()).unwrap_or(u32::MAX),
            thumbnail: None,
            duration_ms: None,
        }
    }

    /// Seals `preview` (at most [`MAX_THUMBNAIL_LEN`] bytes) under the file's
    /// key, with a nonce of its own, and attaches it.
    pub fn seal_thumbnail(&mut self, preview: &[u8]) -> AttachmentResult<()> {
        if preview.len() > MAX_THUMBNAIL_LEN {
            return Err(crate::Error::TooLarge {
                what: "thumbnail",
                len: preview.len(),
                max: MAX_THUMBNAIL_LEN,
            }
            .into());
        }
        let sealed = self
            .secret
            .seal_small(self.size, FLAG_THUMBNAIL | FLAG_LAST, preview)?;
        self.thumbnail = Some(sealed);
        Ok(())
    }

    /// The thumbnail's plaintext, if there is one and it opens.
    pub fn open_thumbnail(&self) -> AttachmentResult<Option<Vec<u8>>> {
        self.thumbnail
            .as_deref()
            .map(|t| {
                self.secret
                    .open_small(self.size, FLAG_THUMBNAIL | FLAG_LAST, t)
            })
            .transpose()
    }

    /// Encodes the descriptor, refusing one that breaks a rule of
    /// [`Attachment::decode`].
    pub fn encode(&self) -> AttachmentResult<Vec<u8>> {
        self.validate()?;
        Ok(codec::encode_bounded(
            "attachment",
            self,
            MAX_ATTACHMENT_LEN,
        )?)
    }

    /// Decodes a descriptor (size-checked before decoding) and checks its
    /// fields: lengths, size limit, a chunk count that fits the size, a
    /// thumbnail only on images and a duration only on voice notes.
    pub fn decode(bytes: &[u8]) -> AttachmentResult<Self> {
        let a: Self = codec::decode("attachment", bytes, MAX_ATTACHMENT_LEN)?;
        a.validate()?;
        Ok(a)
    }

    /// Checks the rules [`Attachment::decode`] applies (lengths, size limit,
    /// chunk count, thumbnail and duration by kind), for a descriptor that
    /// travels inside another encoding such as an envelope content.
    pub fn validate(&self) -> AttachmentResult<()> {
        let bad = |reason: String| -> AttachmentError {
            crate::Error::OutOfRange {
                what: "attachment",
                reason,
            }
            .into()
        };
        if self.name.len() > MAX_NAME_LEN {
            return Err(bad(format!("name of {} bytes", self.name.len())));
        }
        if self.media_type.len() > MAX_MEDIA_TYPE_LEN {
            return Err(bad(format!(
                "media type of {} bytes",
                self.media_type.len()
            )));
        }
        if self.size > MAX_FILE_LEN {
            return Err(AttachmentError::FileTooLarge {
                size: self.size,
                max: MAX_FILE_LEN,
            });
        }
        if u64::from(self.chunk_count) != data_chunks_for(self.size) {
            return Err(bad(format!(
                "{} chunks for {} bytes",
                self.chunk_count, self.size
            )));
        }
        if let Some(t) = &self.thumbnail {
            if self.kind != AttachmentKind::Image {
                return Err(bad("a thumbnail on something other than an image".into()));
            }
            if t.len() > MAX_THUMBNAIL_LEN + TAG_LEN || t.len() < TAG_LEN {
                return Err(bad(format!("thumbnail of {} bytes", t.len())));
            }
        }
        match (self.kind, self.duration_ms) {
            (AttachmentKind::VoiceNote, Some(ms)) if ms <= MAX_VOICE_DURATION_MS => Ok(()),
            (AttachmentKind::VoiceNote, _) => {
                Err(bad("a voice note needs a duration of at most 24 h".into()))
            }
            (_, Some(_)) => Err(bad("a duration on something other than a voice note".into())),
            (_, None) => Ok(()),
        }
    }
}

/// A shared location: WGS 84 latitude and longitude in degrees, and an optional
/// label ("Café Central").
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct Location {
    /// Latitude, −90 to 90.
    pub lat: f64,
    /// Longitude, −180 to 180.
    pub lon: f64,
    /// What the place is, at most [`MAX_LOCATION_LABEL_LEN`] bytes.
    pub label: Option<String>,
}

impl Location {
    /// Encodes a location, refusing one [`Location::decode`] would refuse.
    pub fn encode(&self) -> AttachmentResult<Vec<u8>> {
        self.validate()?;
        Ok(codec::encode_bounded("location", self, MAX_LOCATION_LEN)?)
    }

    /// Decodes a location (size-checked first) and checks its range.
    pub fn decode(bytes: &[u8]) -> AttachmentResult<Self> {
        let l: Self = codec::decode("location", bytes, MAX_LOCATION_LEN)?;
        l.validate()?;
        Ok(l)
    }

    /// Checks the range of the coordinates and the label's length, as
    /// [`Location::decode`] does.
    pub fn validate(&self) -> AttachmentResult<()> {
        let in_range = |v: f64, max: f64| v.is_finite() && (-max..=max).contains(&v);
        if !in_range(self.lat, 90.0) || !in_range(self.lon, 180.0) {
            return Err(crate::Error::OutOfRange {
                what: "location",
                reason: format!(
                    "({}, {}) is not a latitude and longitude",
                    self.lat, self.lon
                ),
            }
            .into());
        }
        if self
            .label
            .as_ref()
            .is_some_and(|l| l.len() > MAX_LOCATION_LABEL_LEN)
        {
            return Err(crate::Error::OutOfRange {
                what: "location",
                reason: format!("label over {MAX_LOCATION_LABEL_LEN} bytes"),
            }
            .into());
        }
        Ok(())
    }
}
