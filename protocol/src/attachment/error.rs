//! What can go wrong while sealing, fetching or opening an attachment.

/// An attachment that cannot be sealed or opened. Opening never hands out
/// plaintext for the whole file unless every chunk passed its checks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AttachmentError {
    /// The file is over [`super::MAX_FILE_LEN`].
    #[error("the file is {size} bytes; the largest attachment is {max} bytes")]
    FileTooLarge {
        /// Its size.
        size: u64,
        /// The limit.
        max: u64,
    },
    /// A chunk is not [`super::CHUNK_LEN`] bytes long.
    #[error("chunk {index} is {len} bytes; every chunk is {expected} bytes")]
    ChunkLength {
        /// Position of the chunk in the file (the manifest is `u32::MAX`).
        index: u32,
        /// Its length.
        len: usize,
        /// The length of every chunk.
        expected: usize,
    },
    /// A fetched chunk does not hash to the address it was fetched by: the node
    /// that returned it altered it, or returned another chunk.
    #[error("chunk {index} does not match its hash: the node returned altered data")]
    HashMismatch {
        /// Position of the chunk in the file (the manifest is `u32::MAX`).
        index: u32,
    },
    /// A chunk the file needs could not be fetched.
    #[error("chunk {index} is missing: no node returned it")]
    MissingChunk {
        /// Position of the chunk in the file (the manifest is `u32::MAX`).
        index: u32,
    },
    /// A chunk did not decrypt at its position: wrong key, or the chunk belongs
    /// at another position, in another file, or the file was cut short.
    #[error("chunk {index} does not decrypt at its position: reordered, truncated or wrong key")]
    Decrypt {
        /// Position of the chunk in the file (the manifest is `u32::MAX`).
        index: u32,
    },
    /// The padding after the last byte of the file is not all zeros.
    #[error("the padding of the last chunk is not zero")]
    BadPadding,
    /// Chunks were given in another order than the file's, or too few or too many.
    #[error("expected chunk {expected} next, got {got}")]
    OutOfOrder {
        /// The index the opener expected.
        expected: u32,
        /// The index it was given.
        got: u32,
    },
    /// The file ended before all its chunks were given.
    #[error("the file ended after {got} of {expected} chunks")]
    Truncated {
        /// Chunks given.
        got: u32,
        /// Chunks the file has.
        expected: u32,
    },
    /// A descriptor, manifest or location is malformed.
    #[error(transparent)]
    Format(#[from] crate::Error),
}

/// `Result` with an [`AttachmentError`].
pub type AttachmentResult<T> = std::result::Result<T, AttachmentError>;
