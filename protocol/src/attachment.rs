//! Attachments: files, photos, voice notes and locations, stored in the network
//! itself (issue 16), as pure functions.
//!
//! A file is encrypted under a fresh random key with a STREAM-like construction
//! ([`stream`]), cut into fixed-size chunks of [`CHUNK_LEN`] bytes (the last one
//! padded, so every chunk looks alike), and each chunk is addressed by the BLAKE3
//! hash of its ciphertext ([`ChunkHash`]) and stored in the swarm of that hash's
//! position ([`ChunkHash::position`], [`swarm_for_chunk`]). A file of more than
//! one chunk also gets a manifest chunk ([`manifest`]) listing the data chunks'
//! hashes, so the message that carries the attachment ([`Attachment`]) names only
//! the root hash. [`mod@file`] seals a whole file and opens it again, checking every
//! chunk before any plaintext is handed out.
//!
//! The content kind that wraps an [`Attachment`] or a [`Location`] in an envelope
//! is not defined here: envelope contents live in [`crate::envelope`].

pub mod descriptor;
pub mod error;
pub mod file;
pub mod manifest;
pub mod name;
pub mod stream;

pub use descriptor::{Attachment, AttachmentKind, Location};
pub use error::{AttachmentError, AttachmentResult};
pub use file::{
    FileOpener, FileSealer, MANIFEST_INDEX, SealedChunk, SealedFile, open_file, seal_file,
    seal_new_file,
};
pub use manifest::Manifest;
pub use name::{rename_on_clash, safe_file_name};
pub use stream::FileSecret;

use serde::{Deserialize, Serialize};

use crate::constants::{HASH_LEN, MAX_MESSAGE_DATA, MAX_ONION_REQUEST, TAG_LEN};
use crate::id::NodeId;
use crate::position::{Distance, Position};

/// Length of every stored chunk, padding and tag included: the largest data a
/// node stores for one message ([`MAX_MESSAGE_DATA`], 64 KiB), so a chunk store
/// rides in the 96 KiB onion request class with room for the RPC framing, and a
/// node's existing limits and retrieve pages hold it unchanged.
pub const CHUNK_LEN: usize = MAX_MESSAGE_DATA;
/// Plaintext bytes one chunk carries: the chunk less its Poly1305 tag.
pub const CHUNK_DATA_LEN: usize = CHUNK_LEN - TAG_LEN;
/// Largest file: 100 MB (issue 16; ten times Session's 10 MB).
pub const MAX_FILE_LEN: u64 = 100 * 1_000_000;
/// Most data chunks of one file: [`MAX_FILE_LEN`] in [`CHUNK_DATA_LEN`] pieces.
pub const MAX_DATA_CHUNKS: usize = (MAX_FILE_LEN as usize).div_ceil(CHUNK_DATA_LEN);
/// blake3 `derive_key` context for a chunk's position in the keyspace.
pub const CHUNK_POSITION_CONTEXT: &str = "sotto chunk position v1";

// A full manifest (length prefix, a varint count and every hash) fits one chunk,
// so under the file limit the manifest never needs chunks of its own.
const _: () = {
    assert!(4 + 5 + MAX_DATA_CHUNKS * HASH_LEN <= CHUNK_DATA_LEN);
    assert!(CHUNK_LEN + 1024 < MAX_ONION_REQUEST);
    assert!(MAX_DATA_CHUNKS < u32::MAX as usize);
};

/// The address of a stored chunk: the BLAKE3 hash of its ciphertext, so any node
/// can check what it stores and any client what it fetched.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug, Serialize, Deserialize)]
pub struct ChunkHash(pub [u8; HASH_LEN]);

impl ChunkHash {
    /// The hash of `chunk`.
    pub fn of(chunk: &[u8]) -> Self {
        Self(*blake3::hash(chunk).as_bytes())
    }

    /// Where the chunk lives: derived from the hash the way an account's position
    /// is derived from its key (blake3 `derive_key`, its own context), so chunks
    /// spread evenly over the keyspace and no account's swarm carries them.
    pub fn position(&self) -> Position {
        Position(blake3::derive_key(CHUNK_POSITION_CONTEXT, &self.0))
    }

    /// The hash as lower-case hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The swarm of a chunk: the `r` distinct nodes closest to
/// [`ChunkHash::position`] by XOR distance, closest first, ranked exactly as
/// [`crate::position::swarm_for`] ranks nodes for an account.
pub fn swarm_for_chunk(chunk: &ChunkHash, nodes: &[NodeId], r: usize) -> Vec<NodeId> {
    let target = chunk.position();
    let mut ranked: Vec<(Distance, NodeId)> = nodes
        .iter()
        .map(|n| (Position::of_node(n).distance(&target), *n))
        .collect();
    ranked.sort_unstable();
    ranked.dedup_by(|a, b| a.1 == b.1);
    ranked.into_iter().take(r).map(|(_, n)| n).collect()
}

/// Number of data chunks a file of `size` bytes takes: at least one (an empty
/// file is one chunk of padding), so every file has a chunk to point at.
pub fn data_chunks_for(size: u64) -> u64 {
    size.div_ceil(CHUNK_DATA_LEN as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_counts() {
        assert_eq!(data_chunks_for(0), 1);
        assert_eq!(data_chunks_for(1), 1);
        assert_eq!(data_chunks_for(CHUNK_DATA_LEN as u64), 1);
        assert_eq!(data_chunks_for(CHUNK_DATA_LEN as u64 + 1), 2);
        assert_eq!(data_chunks_for(MAX_FILE_LEN), MAX_DATA_CHUNKS as u64);
    }

    #[test]
    fn chunk_swarm_is_deterministic_and_distinct_from_accounts() {
        let nodes: Vec<NodeId> = (0u8..20).map(|i| NodeId([i; 32])).collect();
        let mut reversed = nodes.clone();
        reversed.reverse();
        let h = ChunkHash::of(b"chunk");
        let swarm = swarm_for_chunk(&h, &nodes, 5);
        assert_eq!(swarm.len(), 5);
        assert_eq!(swarm, swarm_for_chunk(&h, &reversed, 5));
        // The closest node is closer than every node left out.
        let target = h.position();
        let worst = Position::of_node(&swarm[4]).distance(&target);
        for n in nodes.iter().filter(|n| !swarm.contains(n)) {
            assert!(Position::of_node(n).distance(&target) > worst);
        }
        assert_ne!(h.position().0, h.0);
    }
}
