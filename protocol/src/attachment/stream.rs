//! The per-file streaming AEAD: XChaCha20-Poly1305 with a nonce built from a
//! random per-file prefix, the chunk's index and flags (last chunk, manifest,
//! thumbnail).
//!
//! This is the STREAM construction of Hoang, Reyhanitabar, Rogaway and Vizár,
//! "Online Authenticated-Encryption and its Nonce-Reuse Misuse-Resistance"
//! (CRYPTO 2015): every segment is sealed under one key with a nonce made of a
//! fixed prefix, the segment counter and a flag on the final segment. A chunk
//! moved to another index, a chunk from another file, a dropped chunk or a file
//! cut after any chunk but the real last one all fail to decrypt, because the
//! opener derives the nonce from where it expects the chunk to be. The file's
//! size is the associated data of every chunk, so a descriptor that lies about
//! the size does not open either.

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::error::{AttachmentError, AttachmentResult};
use super::{CHUNK_DATA_LEN, CHUNK_LEN};
use crate::constants::{KEY_LEN, TAG_LEN};

/// Length of the random per-file nonce prefix: the 24-byte XChaCha20 nonce less
/// the 4-byte chunk index and the flags byte.
pub const NONCE_PREFIX_LEN: usize = 24 - 4 - 1;
/// Flag of the last chunk of a stream.
pub const FLAG_LAST: u8 = 0x01;
/// Flag of the manifest's stream, so it never shares a nonce with data chunks.
pub const FLAG_MANIFEST: u8 = 0x02;
/// Flag of the thumbnail, sealed under the file's key as a stream of its own.
pub const FLAG_THUMBNAIL: u8 = 0x04;
/// Associated data prefix of every chunk (the file size follows, u64 LE).
const AD_PREFIX: &[u8] = b"sotto attachment v1";

/// The key and nonce prefix of one file: fresh and random for every file sent,
/// carried end-to-end encrypted in the message that announces the file. Wiped
/// on drop and never printed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct FileSecret {
    key: [u8; KEY_LEN],
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
}

impl std::fmt::Debug for FileSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileSecret(..)")
    }
}

impl FileSecret {
    /// A fresh key and nonce prefix from `rng`.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = [0u8; KEY_LEN];
        let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
        rng.fill_bytes(&mut key);
        rng.fill_bytes(&mut nonce_prefix);
        Self { key, nonce_prefix }
    }

    /// A secret from known bytes (vectors and tests).
    pub fn from_parts(key: [u8; KEY_LEN], nonce_prefix: [u8; NONCE_PREFIX_LEN]) -> Self {
        Self { key, nonce_prefix }
    }

    fn nonce(&self, index: u32, flags: u8) -> XNonce {
        let mut n = [0u8; 24];
        n[..NONCE_PREFIX_LEN].copy_from_slice(&self.nonce_prefix);
        n[NONCE_PREFIX_LEN..NONCE_PREFIX_LEN + 4].copy_from_slice(&index.to_be_bytes());
        n[23] = flags;
        XNonce::from(n)
    }

    fn ad(size: u64) -> [u8; AD_PREFIX.len() + 8] {
        let mut ad = [0u8; AD_PREFIX.len() + 8];
        let size = size.to_le_bytes();
        for (out, b) in ad.iter_mut().zip(AD_PREFIX.iter().chain(size.iter())) {
            *out = *b;
        }
        ad
    }

    /// Seals one chunk: `data` (at most [`CHUNK_DATA_LEN`] bytes) zero-padded to
    /// [`CHUNK_DATA_LEN`], encrypted at `index` with `flags`, tag appended. The
    /// result is always [`CHUNK_LEN`] bytes.
    pub fn seal_chunk(
        &self,
        size: u64,
        index: u32,
        flags: u8,
        data: &[u8],
    ) -> AttachmentResult<Vec<u8>> {
        if data.len() > CHUNK_DATA_LEN {
            return Err(AttachmentError::ChunkLength {
                index,
                len: data.len(),
                expected: CHUNK_DATA_LEN,
            });
        }
        let mut buf = Vec::with_capacity(CHUNK_LEN);
        buf.extend_from_slice(data);
        buf.resize(CHUNK_DATA_LEN, 0);
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        let tag = cipher
            .encrypt_inout_detached(
                &self.nonce(index, flags),
                &Self::ad(size),
                buf.as_mut_slice().into(),
            )
            .map_err(|_| AttachmentError::Decrypt { index })?;
        buf.extend_from_slice(&tag);
        Ok(buf)
    }

    /// Opens one chunk sealed by [`FileSecret::seal_chunk`] at `index` with
    /// `flags`, returning the padded plaintext ([`CHUNK_DATA_LEN`] bytes).
    pub fn open_chunk(
        &self,
        size: u64,
        index: u32,
        flags: u8,
        chunk: &[u8],
    ) -> AttachmentResult<Vec<u8>> {
        if chunk.len() != CHUNK_LEN {
            return Err(AttachmentError::ChunkLength {
                index,
                len: chunk.len(),
                expected: CHUNK_LEN,
            });
        }
        let (body, tag) = chunk.split_at(CHUNK_DATA_LEN);
        let mut tag_bytes = [0u8; TAG_LEN];
        tag_bytes.copy_from_slice(tag);
        let mut buf = body.to_vec();
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        cipher
            .decrypt_inout_detached(
                &self.nonce(index, flags),
                &Self::ad(size),
                buf.as_mut_slice().into(),
                (&tag_bytes).into(),
            )
            .map_err(|_| AttachmentError::Decrypt { index })?;
        Ok(buf)
    }
}

impl FileSecret {
    /// Seals a small value that is not a chunk (a thumbnail) unpadded, at
    /// index 0 with `flags`, which must be a flag no chunk stream uses.
    pub fn seal_small(&self, size: u64, flags: u8, data: &[u8]) -> AttachmentResult<Vec<u8>> {
        let mut buf = data.to_vec();
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        let tag = cipher
            .encrypt_inout_detached(
                &self.nonce(0, flags),
                &Self::ad(size),
                buf.as_mut_slice().into(),
            )
            .map_err(|_| AttachmentError::Decrypt { index: 0 })?;
        buf.extend_from_slice(&tag);
        Ok(buf)
    }

    /// Opens a value sealed by [`FileSecret::seal_small`].
    pub fn open_small(&self, size: u64, flags: u8, sealed: &[u8]) -> AttachmentResult<Vec<u8>> {
        let Some(body_len) = sealed.len().checked_sub(TAG_LEN) else {
            return Err(AttachmentError::Decrypt { index: 0 });
        };
        let (body, tag) = sealed.split_at(body_len);
        let mut tag_bytes = [0u8; TAG_LEN];
        tag_bytes.copy_from_slice(tag);
        let mut buf = body.to_vec();
        let cipher = XChaCha20Poly1305::new((&self.key).into());
        cipher
            .decrypt_inout_detached(
                &self.nonce(0, flags),
                &Self::ad(size),
                buf.as_mut_slice().into(),
                (&tag_bytes).into(),
            )
            .map_err(|_| AttachmentError::Decrypt { index: 0 })?;
        Ok(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret() -> FileSecret {
        FileSecret::from_parts([7; 32], [9; NONCE_PREFIX_LEN])
    }

    #[test]
    fn index_flags_and_size_are_bound() {
        let s = secret();
        let c = s.seal_chunk(10, 3, 0, b"hello").unwrap();
        assert_eq!(c.len(), CHUNK_LEN);
        let p = s.open_chunk(10, 3, 0, &c).unwrap();
        assert_eq!(&p[..5], b"hello");
        assert!(p[5..].iter().all(|&b| b == 0));
        assert_eq!(
            s.open_chunk(10, 4, 0, &c),
            Err(AttachmentError::Decrypt { index: 4 })
        );
        assert!(s.open_chunk(10, 3, FLAG_LAST, &c).is_err());
        assert!(s.open_chunk(10, 3, FLAG_MANIFEST, &c).is_err());
        assert!(s.open_chunk(11, 3, 0, &c).is_err());
        let other = FileSecret::from_parts([7; 32], [8; NONCE_PREFIX_LEN]);
        assert!(other.open_chunk(10, 3, 0, &c).is_err());
        assert!(matches!(
            s.open_chunk(10, 3, 0, &c[1..]),
            Err(AttachmentError::ChunkLength { .. })
        ));
        assert!(format!("{s:?}").find("7").is_none());
    }
}
