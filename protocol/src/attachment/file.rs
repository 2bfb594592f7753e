//! Sealing a file into chunks and opening it again, chunk by chunk, with every
//! chunk checked (hash, then AEAD at its position) before its plaintext is used.

use rand_core::CryptoRng;

use super::error::{AttachmentError, AttachmentResult};
use super::manifest::Manifest;
use super::stream::{FLAG_LAST, FLAG_MANIFEST, FileSecret};
use super::{CHUNK_DATA_LEN, ChunkHash, MAX_FILE_LEN, data_chunks_for};

/// The index errors use for the manifest chunk.
pub const MANIFEST_INDEX: u32 = u32::MAX;

/// One sealed chunk, ready to store at its hash.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SealedChunk {
    /// Where it is stored.
    pub hash: ChunkHash,
    /// Exactly [`super::CHUNK_LEN`] bytes.
    pub bytes: Vec<u8>,
}

impl SealedChunk {
    fn new(bytes: Vec<u8>) -> Self {
        Self {
            hash: ChunkHash::of(&bytes),
            bytes,
        }
    }
}

/// Seals a file of a known size chunk by chunk, so a large file never has to be
/// in memory at once. Sealing is deterministic given the secret, the size and
/// the bytes: a sender that restarts an upload with the same secret gets the
/// same chunks and hashes again, which is what lets it resume.
#[derive(Debug)]
pub struct FileSealer {
    secret: FileSecret,
    size: u64,
    count: u32,
    hashes: Vec<ChunkHash>,
}

impl FileSealer {
    /// A sealer for a file of `size` bytes.
    pub fn new(secret: FileSecret, size: u64) -> AttachmentResult<Self> {
        if size > MAX_FILE_LEN {
            return Err(AttachmentError::FileTooLarge {
                size,
                max: MAX_FILE_LEN,
            });
        }
        // Under MAX_FILE_LEN the count fits a u32 (checked in `attachment.rs`).
        let count = u32::try_from(data_chunks_for(size)).unwrap_or(u32::MAX);
        Ok(Self {
            secret,
            size,
            count,
            hashes: Vec::with_capacity(count as usize),
        })
    }

    /// Number of data chunks the file takes.
    pub fn chunk_count(&self) -> u32 {
        self.count
    }

    /// Seals the next chunk. Every chunk but the last must be exactly
    /// [`CHUNK_DATA_LEN`] bytes, and the lengths must add up to the size.
    pub fn seal_next(&mut self, data: &[u8]) -> AttachmentResult<SealedChunk> {
        let index = u32::try_from(self.hashes.len()).unwrap_or(u32::MAX);
        if index >= self.count {
            return Err(AttachmentError::OutOfOrder {
                expected: self.count,
                got: index,
            });
        }
        let last = index + 1 == self.count;
        let expected = if last {
            (self.size - u64::from(index) * CHUNK_DATA_LEN as u64) as usize
        } else {
            CHUNK_DATA_LEN
        };
        if data.len() != expected {
            return Err(AttachmentError::ChunkLength {
                index,
                len: data.len(),
                expected,
            });
        }
        let flags = if last { FLAG_LAST } else { 0 };
        let chunk = SealedChunk::new(self.secret.seal_chunk(self.size, index, flags, data)?);
        self.hashes.push(chunk.hash);
        Ok(chunk)
    }

    /// After the last chunk: the root hash the message names, and the manifest
    /// chunk to store as well (none for a file of one chunk, whose root is that
    /// chunk).
    pub fn finish(self) -> AttachmentResult<(ChunkHash, Option<SealedChunk>)> {
        let got = u32::try_from(self.hashes.len()).unwrap_or(u32::MAX);
        if got != self.count {
            return Err(AttachmentError::Truncated {
                got,
                expected: self.count,
            });
        }
        match self.hashes.as_slice() {
            [only] => Ok((*only, None)),
            _ => {
                let plain = Manifest {
                    hashes: self.hashes.clone(),
                }
                .to_plaintext()?;
                let chunk = SealedChunk::new(self.secret.seal_chunk(
                    self.size,
                    0,
                    FLAG_MANIFEST | FLAG_LAST,
                    &plain,
                )?);
                Ok((chunk.hash, Some(chunk)))
            }
        }
    }
}

/// A whole file sealed in memory (tests, vectors, small files).
#[derive(Debug)]
pub struct SealedFile {
    /// The file's key and nonce prefix.
    pub secret: FileSecret,
    /// The plaintext size.
    pub size: u64,
    /// The data chunks, in order.
    pub chunks: Vec<SealedChunk>,
    /// The manifest chunk, for files of more than one chunk.
    pub manifest: Option<SealedChunk>,
    /// The hash the message names.
    pub root: ChunkHash,
}

impl SealedFile {
    /// Every chunk to store: the data chunks, then the manifest.
    pub fn all_chunks(&self) -> impl Iterator<Item = &SealedChunk> {
        self.chunks.iter().chain(self.manifest.iter())
    }
}

/// Seals `data` under `secret` (use [`FileSecret::generate`] for a real file).
pub fn seal_file(secret: FileSecret, data: &[u8]) -> AttachmentResult<SealedFile> {
    let size = data.len() as u64;
    let mut sealer = FileSealer::new(secret.clone(), size)?;
    let chunks = if data.is_empty() {
        vec![sealer.seal_next(&[])?]
    } else {
        data.chunks(CHUNK_DATA_LEN)
            .map(|piece| sealer.seal_next(piece))
            .collect::<AttachmentResult<Vec<_>>>()?
    };
    let (root, manifest) = sealer.finish()?;
    Ok(SealedFile {
        secret,
        size,
        chunks,
        manifest,
        root,
    })
}

/// Seals `data` under a fresh secret from `rng`.
pub fn seal_new_file<R: CryptoRng + ?Sized>(
    rng: &mut R,
    data: &[u8],
) -> AttachmentResult<SealedFile> {
    seal_file(FileSecret::generate(rng), data)
}

/// Opens a file's chunks. First [`FileOpener::expected`] (after
/// [`FileOpener::open_manifest`] for a file of several chunks) says which hashes
/// to fetch; [`FileOpener::open_at`] checks and opens any one of them, in any
/// order (for parallel downloads); [`FileOpener::push`] and
/// [`FileOpener::finish`] do the same in order and refuse a file that stops early.
#[derive(Debug)]
pub struct FileOpener {
    secret: FileSecret,
    size: u64,
    count: u32,
    root: ChunkHash,
    hashes: Option<Vec<ChunkHash>>,
    next: u32,
}

impl FileOpener {
    /// An opener for the file `root` names, of `size` bytes in `chunk_count`
    /// data chunks (which must agree with the size).
    pub fn new(
        secret: FileSecret,
        size: u64,
        chunk_count: u32,
        root: ChunkHash,
    ) -> AttachmentResult<Self> {
        if size > MAX_FILE_LEN {
            return Err(AttachmentError::FileTooLarge {
                size,
                max: MAX_FILE_LEN,
            });
        }
        let count = data_chunks_for(size);
        if u64::from(chunk_count) != count {
            return Err(crate::Error::OutOfRange {
                what: "attachment chunk count",
                reason: format!("{chunk_count} chunks for {size} bytes; it takes {count}"),
            }
            .into());
        }
        let hashes = (chunk_count == 1).then(|| vec![root]);
        Ok(Self {
            secret,
            size,
            count: chunk_count,
            root,
            hashes,
            next: 0,
        })
    }

    /// The hash of the manifest to fetch first, if the file has one and it has
    /// not been opened yet.
    pub fn manifest_needed(&self) -> Option<ChunkHash> {
        self.hashes.is_none().then_some(self.root)
    }

    /// Checks and opens the manifest chunk.
    pub fn open_manifest(&mut self, chunk: &[u8]) -> AttachmentResult<&[ChunkHash]> {
        if ChunkHash::of(chunk) != self.root {
            return Err(AttachmentError::HashMismatch {
                index: MANIFEST_INDEX,
            });
        }
        let plain = self
            .secret
            .open_chunk(self.size, 0, FLAG_MANIFEST | FLAG_LAST, chunk)
            .map_err(|e| match e {
                AttachmentError::Decrypt { .. } => AttachmentError::Decrypt {
                    index: MANIFEST_INDEX,
                },
                other => other,
            })?;
        let manifest = Manifest::from_plaintext(&plain)?;
        if manifest.hashes.len() != self.count as usize {
            return Err(crate::Error::OutOfRange {
                what: "attachment manifest",
                reason: format!(
                    "lists {} chunks, the file has {}",
                    manifest.hashes.len(),
                    self.count
                ),
            }
            .into());
        }
        Ok(self.hashes.insert(manifest.hashes))
    }

    /// The hashes of the data chunks in order, once known.
    pub fn expected(&self) -> Option<&[ChunkHash]> {
        self.hashes.as_deref()
    }

    /// Number of data chunks.
    pub fn chunk_count(&self) -> u32 {
        self.count
    }

    /// Where the bytes of chunk `index` start in the file.
    pub fn offset_of(index: u32) -> u64 {
        u64::from(index) * CHUNK_DATA_LEN as u64
    }

    /// Checks chunk `index` (its hash, then its AEAD tag at that position) and
    /// returns its part of the file, padding removed.
    pub fn open_at(&self, index: u32, chunk: &[u8]) -> AttachmentResult<Vec<u8>> {
        let Some(hashes) = self.hashes.as_deref() else {
            return Err(AttachmentError::MissingChunk {
                index: MANIFEST_INDEX,
            });
        };
        let Some(expected) = hashes.get(index as usize) else {
            return Err(AttachmentError::OutOfOrder {
                expected: self.count,
                got: index,
            });
        };
        if ChunkHash::of(chunk) != *expected {
            return Err(AttachmentError::HashMismatch { index });
        }
        let last = index + 1 == self.count;
        let flags = if last { FLAG_LAST } else { 0 };
        let mut plain = self.secret.open_chunk(self.size, index, flags, chunk)?;
        if last {
            let len = (self.size - Self::offset_of(index)) as usize;
            if plain
                .get(len..)
                .is_none_or(|pad| pad.iter().any(|&b| b != 0))
            {
                return Err(AttachmentError::BadPadding);
            }
            plain.truncate(len);
        }
        Ok(plain)
    }

    /// Opens the next chunk in order (`index` must be the next one).
    pub fn push(&mut self, index: u32, chunk: &[u8]) -> AttachmentResult<Vec<u8>> {
        if index != self.next {
            return Err(AttachmentError::OutOfOrder {
                expected: self.next,
                got: index,
            });
        }
        let plain = self.open_at(index, chunk)?;
        self.next += 1;
        Ok(plain)
    }

    /// Succeeds only if every chunk was pushed.
    pub fn finish(&self) -> AttachmentResult<()> {
        if self.next != self.count {
            return Err(AttachmentError::Truncated {
                got: self.next,
                expected: self.count,
            });
        }
        Ok(())
    }
}

/// Opens a whole file in memory, fetching each chunk by hash with `fetch`. The
/// plaintext is returned only if the manifest and every chunk passed.
pub fn open_file(
    opener: FileOpener,
    mut fetch: impl FnMut(&ChunkHash) -> Option<Vec<u8>>,
) -> AttachmentResult<Vec<u8>> {
    let mut opener = opener;
    if let Some(root) = opener.manifest_needed() {
        let chunk = fetch(&root).ok_or(AttachmentError::MissingChunk {
            index: MANIFEST_INDEX,
        })?;
        opener.open_manifest(&chunk)?;
    }
    let hashes = opener
        .expected()
        .map(<[ChunkHash]>::to_vec)
        .unwrap_or_default();
    let mut out = Vec::with_capacity(opener.size as usize);
    for (index, hash) in (0u32..).zip(hashes.iter()) {
        let chunk = fetch(hash).ok_or(AttachmentError::MissingChunk { index })?;
        out.extend_from_slice(&opener.push(index, &chunk)?);
    }
    opener.finish()?;
    Ok(out)
}
