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
pub mod postage;
pub mod stream;

pub use descriptor::{Attachment, AttachmentKind, Location};
pub use error::{AttachmentError, AttachmentResult};
pub use file::{
    FileOpener, FileSealer, MANIFEST_INDEX, SealedChunk, SealedFile, open_file, seal_file,
    seal_new_file,
};
pub use manifest::Manifest;
pub use name::{rename_on_clash, safe_file_name};
pub use postage::{CHUNK_POSTAGE_BITS, check_postage, mine_postage, postage_bits};
pub use stream::FileSecret;

use serde::{Deserialize, Serialize};

use crate::constants::{HASH_LEN, MAX_MESSAGE_DATA, MAX_ONION_REQUEST, TAG_LEN};
use crate::id::{AccountId, NodeId};
use crate::position::Position;
use crate::time::DAY_MS;

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
/// blake3 `derive_key` context of the account a chunk is stored under
/// ([`ChunkHash::account`]).
pub const CHUNK_ACCOUNT_CONTEXT: &str = "sotto chunk account v1";
/// Longest a node keeps a chunk: 14 days (issue 16). A recipient who is offline
/// longer than that finds the attachment gone and asks for it again; the
/// node's disk is freed for the next files.
pub const MAX_CHUNK_TTL_MS: u64 = 14 * DAY_MS;

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

    /// The account the chunk is stored under, in the nodes' chunk namespace
    /// ([`crate::namespace::Namespace::CHUNKS`]): a valid Ed25519 point derived
    /// from the hash (blake3 `derive_key` with [`CHUNK_ACCOUNT_CONTEXT`] over the
    /// hash and a one-byte counter, the first counter giving a valid key; about
    /// half of all 32-byte strings are, so two tries on average). Nobody knows a
    /// secret key for it, so nobody can sign for it: nothing stored there can be
    /// deleted or changed, only left to expire. Nodes place, replicate and serve
    /// chunks with the code they use for accounts, and check on every copy that
    /// the data hashes to its account.
    pub fn account(&self) -> AccountId {
        for counter in 0..=u8::MAX {
            let mut h = blake3::Hasher::new_derive_key(CHUNK_ACCOUNT_CONTEXT);
            h.update(&self.0);
            h.update(&[counter]);
            if let Ok(account) = AccountId::from_bytes(*h.finalize().as_bytes()) {
                return account;
            }
        }
        // 256 misses in a row happen with probability 2^-256; even then the
        // answer is a fixed valid key, so the function stays total and
        // deterministic (such a chunk would share its swarm with that key).
        crate::keys::AccountKey::from_entropy([0; 16]).account_id()
    }

    /// Where the chunk lives: the position of its [`ChunkHash::account`], so
    /// chunks spread evenly over the keyspace and the nodes' swarm rules apply
    /// to them unchanged.
    pub fn position(&self) -> Position {
        Position::of_account(&self.account())
    }

    /// The hash as lower-case hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The swarm of a chunk: the `r` distinct nodes closest to
/// [`ChunkHash::position`] by XOR distance, closest first, exactly the swarm of
/// its [`ChunkHash::account`] ([`crate::position::swarm_for`]).
/// `nodes` pairs each node with its record's admission proof.
pub fn swarm_for_chunk(
    chunk: &ChunkHash,
    nodes: &[(NodeId, crate::record::admission::Admission)],
    r: usize,
) -> Vec<NodeId> {
    crate::position::swarm_for(&chunk.account(), nodes, r)
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
        use crate::record::admission::Admission;
        let zero = Admission::default();
        let nodes: Vec<(NodeId, Admission)> = (0u8..20).map(|i| (NodeId([i; 32]), zero)).collect();
        let mut reversed = nodes.clone();
        reversed.reverse();
        let h = ChunkHash::of(b"chunk");
        let swarm = swarm_for_chunk(&h, &nodes, 5);
        assert_eq!(swarm.len(), 5);
        assert_eq!(swarm, swarm_for_chunk(&h, &reversed, 5));
        // The closest node is closer than every node left out.
        let target = h.position();
        let worst = Position::of_node(&swarm[4], zero).distance(&target);
        for (n, _) in nodes.iter().filter(|(n, _)| !swarm.contains(n)) {
            assert!(Position::of_node(n, zero).distance(&target) > worst);
        }
        assert_ne!(h.position().0, h.0);
        assert_eq!(swarm, crate::position::swarm_for(&h.account(), &nodes, 5));
    }

    #[test]
    fn chunk_accounts_are_valid_keys_and_differ_per_chunk() {
        let accounts: Vec<AccountId> = (0u32..200)
            .map(|i| ChunkHash::of(&i.to_le_bytes()).account())
            .collect();
        for a in &accounts {
            assert_eq!(AccountId::from_bytes(*a.as_bytes()).unwrap(), *a);
        }
        let mut distinct = accounts.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), accounts.len());
        // Deterministic.
        assert_eq!(ChunkHash::of(b"x").account(), ChunkHash::of(b"x").account());
    }
}
