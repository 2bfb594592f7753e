//! Uploading a file: seal it chunk by chunk and store every chunk exactly once,
//! resuming from the journal after a crash or restart.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use rand::CryptoRng;
use sotto_protocol::attachment::{
    AttachmentError, CHUNK_DATA_LEN, ChunkHash, FileSealer, FileSecret, MAX_FILE_LEN,
};

use super::journal::UploadJournal;
use super::{AttachError, AttachResult, ChunkStore, Progress, io_err};

/// A finished upload: what the message announcing the file needs, and what
/// this run did.
#[derive(Debug)]
pub struct Uploaded {
    /// The secret the file is sealed under.
    pub secret: FileSecret,
    /// The file's size.
    pub size: u64,
    /// The hash the message names.
    pub root: ChunkHash,
    /// Data chunks of the file.
    pub chunk_count: u32,
    /// Chunks this run stored.
    pub stored_now: u32,
    /// Chunks an earlier run had stored (found in the journal or, for a store
    /// the journal saw start but not finish, in the store).
    pub already_stored: u32,
}

/// Uploads `source` through `store`, journaling at `journal` (keep the journal
/// until the message naming the file is sent, then [`UploadJournal::remove`] it
/// or delete the file). Run again with the same paths after a failure, crash or
/// restart: chunks already stored are not stored again. `progress` is called
/// after every chunk.
pub async fn upload<S, R>(
    store: &S,
    source: &Path,
    journal: &Path,
    rng: &mut R,
    mut progress: impl FnMut(Progress),
) -> AttachResult<Uploaded>
where
    S: ChunkStore,
    R: CryptoRng + ?Sized,
{
    let what = format!("reading {}", source.display());
    let size = std::fs::metadata(source)
        .map_err(io_err(what.clone()))?
        .len();
    if size > MAX_FILE_LEN {
        return Err(AttachmentError::FileTooLarge {
            size,
            max: MAX_FILE_LEN,
        }
        .into());
    }
    let source_hash = hash_file(source)?;
    let mut journal = UploadJournal::open(journal, size, source_hash, rng)?;
    let secret = journal.secret().clone();
    let mut sealer = FileSealer::new(secret.clone(), size)?;
    let total = sealer.chunk_count() + u32::from(sealer.chunk_count() > 1);
    let mut counts = Counts::default();
    let mut reader = BufReader::new(File::open(source).map_err(io_err(what.clone()))?);
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; CHUNK_DATA_LEN];
    let mut left = size;
    for _ in 0..sealer.chunk_count() {
        let n = left.min(CHUNK_DATA_LEN as u64) as usize;
        let piece = buf.get_mut(..n).unwrap_or_default();
        reader.read_exact(piece).map_err(io_err(what.clone()))?;
        hasher.update(piece);
        left -= n as u64;
        let chunk = sealer.seal_next(piece)?;
        store_once(store, &mut journal, chunk.hash, chunk.bytes, &mut counts).await?;
        progress(Progress {
            done: counts.done(),
            total,
        });
    }
    if *hasher.finalize().as_bytes() != source_hash {
        // The file changed while it was read: what was stored mixes two
        // versions under one secret. Start over with a fresh secret.
        journal.remove()?;
        return Err(AttachError::Io {
            what,
            source: std::io::Error::other("the file changed during the upload; send it again"),
        });
    }
    let chunk_count = sealer.chunk_count();
    let (root, manifest) = sealer.finish()?;
    if let Some(m) = manifest {
        store_once(store, &mut journal, m.hash, m.bytes, &mut counts).await?;
        progress(Progress {
            done: counts.done(),
            total,
        });
    }
    Ok(Uploaded {
        secret,
        size,
        root,
        chunk_count,
        stored_now: counts.stored_now,
        already_stored: counts.already,
    })
}

#[derive(Default)]
struct Counts {
    stored_now: u32,
    already: u32,
}

impl Counts {
    fn done(&self) -> u32 {
        self.stored_now + self.already
    }
}

/// Stores one chunk unless the journal says it is stored. A chunk whose store
/// an earlier run began but did not see finish is looked up first.
async fn store_once<S: ChunkStore>(
    store: &S,
    journal: &mut UploadJournal,
    hash: ChunkHash,
    bytes: Vec<u8>,
    counts: &mut Counts,
) -> AttachResult<()> {
    if journal.is_stored(&hash) {
        counts.already += 1;
        return Ok(());
    }
    if journal.was_started(&hash) && store.has(hash).await? {
        journal.record_stored(&hash)?;
        counts.already += 1;
        return Ok(());
    }
    journal.record_intent(&hash)?;
    store.put(hash, bytes).await?;
    journal.record_stored(&hash)?;
    counts.stored_now += 1;
    Ok(())
}

/// BLAKE3 of a file, read in chunk-sized pieces.
fn hash_file(path: &Path) -> AttachResult<[u8; 32]> {
    let what = format!("reading {}", path.display());
    let mut reader = File::open(path).map_err(io_err(what.clone()))?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; CHUNK_DATA_LEN];
    loop {
        let n = reader.read(&mut buf).map_err(io_err(what.clone()))?;
        let Some(read) = buf.get(..n) else { break };
        if read.is_empty() {
            break;
        }
        hasher.update(read);
    }
    Ok(*hasher.finalize().as_bytes())
}
