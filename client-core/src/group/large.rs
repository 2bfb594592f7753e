//! Group items too large for one stored message: a Welcome or a commit of a
//! large group (a Welcome carries the ratchet tree, about 390 bytes per
//! member; a commit that removes someone from a tree with blank parents
//! encrypts its path to many members one by one). Such an item travels as an
//! attachment: its bytes sealed as a file in chunks, each in the swarm of its
//! own hash ([`crate::attach`]), and a *reference* takes its place in the
//! epoch account or in the invitation: [`LARGE_TAG`] and the attachment's
//! descriptor, which holds the file key.
//!
//! A reference is told from an MLS message by its first byte: every
//! TLS-encoded `MLSMessage` starts with its protocol version, `mls10` =
//! 0x0001 (RFC 9420 §6), so its first byte is 0x00; a reference's is 0xff.
//! A reference is only ever read from inside an epoch account's wrap or an
//! end-to-end sealed invitation, so only a member (or the inviter) can make
//! a reader fetch: a fetch is bounded by [`MAX_LARGE`] bytes and by the
//! chunks that size needs, and checked chunk by chunk before anything is
//! used.

use sotto_protocol::attachment::descriptor::MAX_ATTACHMENT_LEN;
use sotto_protocol::attachment::{
    Attachment, AttachmentKind, ChunkHash, FileOpener, seal_new_file,
};

use super::{GroupError, MAX_MESSAGE_BYTES};
use crate::attach::ChunkStore;

/// First byte of a reference (an MLS message's first byte is 0x00).
pub const LARGE_TAG: u8 = 0xff;
/// Largest item sent by reference: the largest group message taken at all.
pub const MAX_LARGE: usize = MAX_MESSAGE_BYTES;
/// Largest Welcome sent inside an invitation itself; a larger one goes by
/// reference (an envelope v2 holds a little under 64 KiB of content).
pub const MAX_INLINE_WELCOME: usize = 48 * 1024;
/// Name and type the reference's descriptor carries (never shown).
const NAME: &str = "group item";
const MEDIA_TYPE: &str = "application/x-sotto-mls";

/// Whether `bytes` is a reference rather than an MLS message.
pub fn is_reference(bytes: &[u8]) -> bool {
    bytes.first() == Some(&LARGE_TAG)
}

/// Stores `bytes` as an attachment through `store` and returns the reference
/// to send in its place.
pub async fn put<S: ChunkStore + Sync>(store: &S, bytes: &[u8]) -> Result<Vec<u8>, GroupError> {
    if bytes.len() > MAX_LARGE {
        return Err(GroupError::TooLarge);
    }
    let sealed = seal_new_file(&mut rand::rng(), bytes).map_err(storage)?;
    for chunk in sealed.all_chunks() {
        store
            .put(chunk.hash, chunk.bytes.clone())
            .await
            .map_err(storage)?;
    }
    let descriptor = Attachment::new(AttachmentKind::File, NAME, MEDIA_TYPE, &sealed);
    let mut out = vec![LARGE_TAG];
    out.extend_from_slice(&descriptor.encode().map_err(storage)?);
    Ok(out)
}

/// Fetches and checks the item `reference` names.
pub async fn get<S: ChunkStore + Sync>(store: &S, reference: &[u8]) -> Result<Vec<u8>, GroupError> {
    let descriptor = decode(reference)?;
    let mut opener = FileOpener::new(
        descriptor.secret.clone(),
        descriptor.size,
        descriptor.chunk_count,
        descriptor.root,
    )
    .map_err(|_| GroupError::Malformed)?;
    if let Some(root) = opener.manifest_needed() {
        let manifest = fetch(store, root).await?;
        opener
            .open_manifest(&manifest)
            .map_err(|_| GroupError::Malformed)?;
    }
    let hashes = opener.expected().map(<[_]>::to_vec).unwrap_or_default();
    let mut out = Vec::with_capacity(descriptor.size as usize);
    for (i, hash) in hashes.into_iter().enumerate() {
        let chunk = fetch(store, hash).await?;
        let index = u32::try_from(i).map_err(|_| GroupError::Malformed)?;
        out.extend(
            opener
                .push(index, &chunk)
                .map_err(|_| GroupError::Malformed)?,
        );
    }
    opener.finish().map_err(|_| GroupError::Malformed)?;
    Ok(out)
}

/// The descriptor in `reference`, size-checked before and after decoding.
fn decode(reference: &[u8]) -> Result<Attachment, GroupError> {
    let body = match reference {
        [LARGE_TAG, body @ ..] if body.len() <= MAX_ATTACHMENT_LEN => body,
        _ => return Err(GroupError::Malformed),
    };
    let descriptor = Attachment::decode(body).map_err(|_| GroupError::Malformed)?;
    if descriptor.size > MAX_LARGE as u64 {
        return Err(GroupError::TooLarge);
    }
    Ok(descriptor)
}

async fn fetch<S: ChunkStore + Sync>(store: &S, hash: ChunkHash) -> Result<Vec<u8>, GroupError> {
    store
        .get(hash)
        .await
        .map_err(storage)?
        .ok_or(GroupError::Storage(
            "a chunk of a large group item is missing".into(),
        ))
}

fn storage(e: impl std::fmt::Display) -> GroupError {
    GroupError::Storage(e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;
    use crate::attach::StoreResult;

    /// Chunks in memory.
    #[derive(Default)]
    struct Memory(Mutex<HashMap<ChunkHash, Vec<u8>>>);

    impl ChunkStore for Memory {
        async fn put(&self, hash: ChunkHash, bytes: Vec<u8>) -> StoreResult<()> {
            self.0.lock().unwrap().insert(hash, bytes);
            Ok(())
        }
        async fn get(&self, hash: ChunkHash) -> StoreResult<Option<Vec<u8>>> {
            Ok(self.0.lock().unwrap().get(&hash).cloned())
        }
        async fn has(&self, hash: ChunkHash) -> StoreResult<bool> {
            Ok(self.0.lock().unwrap().contains_key(&hash))
        }
    }

    #[tokio::test]
    async fn a_large_item_comes_back_whole_and_a_damaged_one_does_not() {
        let store = Memory::default();
        // A Welcome of a 1,000-member group is about 390 kB: several chunks
        // and a manifest.
        let item: Vec<u8> = (0..390_000u32).map(|i| (i % 253) as u8).collect();
        let reference = put(&store, &item).await.unwrap();
        assert!(is_reference(&reference));
        assert!(reference.len() < 1_000, "{}", reference.len());
        assert_eq!(get(&store, &reference).await.unwrap(), item);

        // A chunk changed in the store: refused, never returned.
        {
            let mut chunks = store.0.lock().unwrap();
            let any = chunks.values_mut().next().unwrap();
            any[10] ^= 1;
        }
        assert!(get(&store, &reference).await.is_err());
        // Not a reference, or a damaged one.
        assert_eq!(get(&store, &[0, 1, 2]).await, Err(GroupError::Malformed));
        assert_eq!(
            get(&store, &reference[..reference.len() / 2]).await,
            Err(GroupError::Malformed)
        );
        assert!(!is_reference(&[0, 1]));
        // Too large to send by reference at all.
        assert_eq!(
            put(&store, &vec![0; MAX_LARGE + 1]).await,
            Err(GroupError::TooLarge)
        );
    }
}
