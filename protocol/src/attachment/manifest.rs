//! The manifest of a file of more than one chunk: the hashes of its data chunks
//! in order, sealed as one chunk of its own stream so the message carries only
//! the manifest's hash.

use serde::{Deserialize, Serialize};

use super::error::{AttachmentError, AttachmentResult};
use super::{CHUNK_DATA_LEN, ChunkHash, MAX_DATA_CHUNKS};
use crate::codec;

/// Bytes of the length prefix before the encoded manifest in its chunk.
const LEN_PREFIX: usize = 4;

/// The data chunks of a file, in order. Plaintext layout inside its chunk: the
/// encoding's length (u32 LE), the postcard encoding, zero padding.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Hash of each data chunk, index 0 first.
    pub hashes: Vec<ChunkHash>,
}

impl Manifest {
    /// The plaintext of the manifest chunk, before padding.
    pub fn to_plaintext(&self) -> AttachmentResult<Vec<u8>> {
        self.check()?;
        let body = codec::encode_bounded("attachment manifest", self, CHUNK_DATA_LEN - LEN_PREFIX)?;
        let len = u32::try_from(body.len()).map_err(|_| crate::Error::TooLarge {
            what: "attachment manifest",
            len: body.len(),
            max: CHUNK_DATA_LEN - LEN_PREFIX,
        })?;
        let mut out = Vec::with_capacity(LEN_PREFIX + body.len());
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Reads a manifest from the (padded) plaintext of its chunk: the length is
    /// checked before decoding, the encoding must be canonical, the padding zero,
    /// and the manifest must list between 2 and [`MAX_DATA_CHUNKS`] chunks.
    pub fn from_plaintext(plain: &[u8]) -> AttachmentResult<Self> {
        let Some((len, rest)) = plain.split_first_chunk::<LEN_PREFIX>() else {
            return Err(crate::Error::TooShort {
                what: "attachment manifest",
                len: plain.len(),
                min: LEN_PREFIX,
            }
            .into());
        };
        let len = u32::from_le_bytes(*len) as usize;
        let Some((body, padding)) = rest.split_at_checked(len) else {
            return Err(crate::Error::Decode {
                what: "attachment manifest",
                reason: format!("length {len} runs past the chunk"),
            }
            .into());
        };
        if padding.iter().any(|&b| b != 0) {
            return Err(AttachmentError::BadPadding);
        }
        let manifest: Manifest =
            codec::decode("attachment manifest", body, CHUNK_DATA_LEN - LEN_PREFIX)?;
        manifest.check()?;
        Ok(manifest)
    }

    fn check(&self) -> AttachmentResult<()> {
        let n = self.hashes.len();
        if !(2..=MAX_DATA_CHUNKS).contains(&n) {
            return Err(crate::Error::OutOfRange {
                what: "attachment manifest",
                reason: format!("{n} chunks; a manifest lists 2 to {MAX_DATA_CHUNKS}"),
            }
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let m = Manifest {
            hashes: (0u8..5).map(|i| ChunkHash([i; 32])).collect(),
        };
        let mut plain = m.to_plaintext().unwrap();
        assert_eq!(Manifest::from_plaintext(&plain).unwrap(), m);
        plain.resize(CHUNK_DATA_LEN, 0);
        assert_eq!(Manifest::from_plaintext(&plain).unwrap(), m);
        let mut dirty = plain.clone();
        dirty[CHUNK_DATA_LEN - 1] = 1;
        assert_eq!(
            Manifest::from_plaintext(&dirty),
            Err(AttachmentError::BadPadding)
        );
        let mut long = plain.clone();
        long[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(Manifest::from_plaintext(&long).is_err());
        assert!(Manifest::from_plaintext(&plain[..3]).is_err());
        let one = Manifest {
            hashes: vec![ChunkHash([1; 32])],
        };
        assert!(one.to_plaintext().is_err());
        let full = Manifest {
            hashes: vec![ChunkHash([1; 32]); MAX_DATA_CHUNKS],
        };
        assert!(full.to_plaintext().unwrap().len() <= CHUNK_DATA_LEN);
        let over = Manifest {
            hashes: vec![ChunkHash([1; 32]); MAX_DATA_CHUNKS + 1],
        };
        assert!(over.to_plaintext().is_err());
    }
}
