//! The attachment transfer engine (issue 16), apart from the chat store and the
//! network: uploading a file's chunks with a resume journal, and downloading
//! one into a folder with every chunk checked before the file appears.
//!
//! The format (chunks, manifest, descriptor, safe names) is
//! [`sotto_protocol::attachment`]; this module moves chunks through a
//! [`ChunkStore`]: on the network, [`NetworkChunks`] (each chunk stored in and
//! fetched from the swarm of its own hash, through onion paths, with postage);
//! in unit tests, an in-memory store.
//!
//! - [`upload()`] seals a file chunk by chunk and stores each chunk once: a
//!   journal next to the upload records the file's secret and, for every
//!   chunk, the intent to store it and that it was stored, so a sender that
//!   crashes and restarts skips what is stored and asks the store about a chunk
//!   it was in the middle of, instead of storing anything twice.
//! - [`download()`] fetches the manifest and the chunks, checks each one (hash,
//!   then AEAD at its position) before writing it to a private temporary file in
//!   the target folder, and only when the whole file verified syncs it and links
//!   it under its sanitised name with mode 0600. Nothing is ever opened or run.

pub mod download;
pub mod journal;
pub mod network;
pub mod thumbnail;
pub mod upload;
pub mod wav;

#[cfg(test)]
mod tests;

use std::future::Future;

use sotto_protocol::attachment::{AttachmentError, ChunkHash};

pub use download::{Downloaded, download};
pub use journal::UploadJournal;
pub use network::NetworkChunks;
pub use thumbnail::make_thumbnail;
pub use upload::{Uploaded, upload};
pub use wav::{WavError, wav_file_duration_ms};

/// Chunks an upload or a download keeps in flight at once. A client sends
/// each request over a path of its own choosing, so a slow path or member
/// holds up one chunk, not the transfer; six 64 KiB chunks are 384 KiB of
/// memory and keep a few paths busy without crowding a node's request slots.
pub const CHUNKS_IN_FLIGHT: usize = 6;

/// Where chunks go: put and get by hash. The network implementation stores a
/// chunk in the swarm of [`ChunkHash::position`]; a node checks the hash.
pub trait ChunkStore {
    /// Stores `bytes` (one sealed chunk) under `hash`.
    fn put(&self, hash: ChunkHash, bytes: Vec<u8>) -> impl Future<Output = StoreResult<()>> + Send;
    /// The chunk stored under `hash`, or `None` if no node has it.
    fn get(&self, hash: ChunkHash) -> impl Future<Output = StoreResult<Option<Vec<u8>>>> + Send;
    /// Whether a chunk is stored under `hash` (asked only about a chunk whose
    /// store an earlier run started but did not see finish).
    fn has(&self, hash: ChunkHash) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// Why a [`ChunkStore`] call failed (network, node refused, timeout).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("chunk store: {0}")]
pub struct StoreError(pub String);

/// `Result` of a [`ChunkStore`] call.
pub type StoreResult<T> = std::result::Result<T, StoreError>;

/// What can stop an upload or a download.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttachError {
    /// Reading the file, writing the journal or the download failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The error.
        source: std::io::Error,
    },
    /// The file or a chunk broke a rule of the format, or failed a check.
    #[error(transparent)]
    Format(#[from] AttachmentError),
    /// The chunk store failed; the upload can be resumed later.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The journal is damaged; delete it to start the upload again.
    #[error("upload journal {path} is damaged ({reason}); delete it to start over")]
    Journal {
        /// Its path.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// Every candidate name in the download folder is taken.
    #[error("no free name for {name} in {dir}: clean up the download folder")]
    NoFreeName {
        /// The sanitised name.
        name: String,
        /// The folder.
        dir: String,
    },
}

/// `Result` with an [`AttachError`].
pub type AttachResult<T> = std::result::Result<T, AttachError>;

/// Progress of a transfer: chunks done of the total (manifest included).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Chunks stored or verified so far.
    pub done: u32,
    /// Chunks in all.
    pub total: u32,
}

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> AttachError {
    let what = what.into();
    move |source| AttachError::Io { what, source }
}
