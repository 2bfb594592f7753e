//! Uploading a file: seal it chunk by chunk and store every chunk exactly once,
//! resuming from the journal after a crash or restart.

use std::fs::File;
use std::future::Future;
use std::io::{BufReader, Read};
use std::path::Path;
use std::pin::Pin;

use rand::CryptoRng;
use sotto_protocol::attachment::{
    AttachmentError, CHUNK_DATA_LEN, ChunkHash, FileSealer, FileSecret, MAX_FILE_LEN,
};

use futures::StreamExt;
use futures::stream::FuturesUnordered;

use super::journal::UploadJournal;
use super::{
    AttachError, AttachResult, CHUNKS_IN_FLIGHT, ChunkStore, Progress, StoreResult, io_err,
};

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
    S: ChunkStore + Sync,
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
    let mut reader = BufReader::new(File::open(source).map_err(io_err(what.clone()))?);
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; CHUNK_DATA_LEN];
    let mut left = size;
    let mut stores = Stores::new(store, total);
    for _ in 0..sealer.chunk_count() {
        let n = left.min(CHUNK_DATA_LEN as u64) as usize;
        let piece = buf.get_mut(..n).unwrap_or_default();
        reader.read_exact(piece).map_err(io_err(what.clone()))?;
        hasher.update(piece);
        left -= n as u64;
        let chunk = sealer.seal_next(piece)?;
        stores
            .add(&mut journal, chunk.hash, chunk.bytes, &mut progress)
            .await?;
    }
    // Every data chunk is stored before the manifest that names them.
    stores.drain(&mut journal, &mut progress).await?;
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
        stores
            .add(&mut journal, m.hash, m.bytes, &mut progress)
            .await?;
        stores.drain(&mut journal, &mut progress).await?;
    }
    let counts = stores.counts;
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

/// What a chunk's store came to.
enum Outcome {
    /// This run stored it.
    Stored,
    /// An earlier run had (its store was begun but not seen to finish).
    Found,
}

type Flight<'s> = Pin<Box<dyn Future<Output = (ChunkHash, StoreResult<Outcome>)> + Send + 's>>;

/// The chunk stores of one upload, at most [`CHUNKS_IN_FLIGHT`] at once, with
/// the journal written in step: an intent before a store starts, "stored"
/// when it is seen to finish. On an error the stores still in flight are
/// dropped; their intents are in the journal, so the next run asks the store
/// about them instead of storing them again.
struct Stores<'s, S> {
    store: &'s S,
    flying: FuturesUnordered<Flight<'s>>,
    counts: Counts,
    total: u32,
}

impl<'s, S: ChunkStore + Sync> Stores<'s, S> {
    fn new(store: &'s S, total: u32) -> Self {
        Self {
            store,
            flying: FuturesUnordered::new(),
            counts: Counts::default(),
            total,
        }
    }

    /// Starts storing one chunk unless the journal says it is stored, after
    /// waiting for a free place in flight.
    async fn add(
        &mut self,
        journal: &mut UploadJournal,
        hash: ChunkHash,
        bytes: Vec<u8>,
        progress: &mut impl FnMut(Progress),
    ) -> AttachResult<()> {
        if journal.is_stored(&hash) {
            self.counts.already += 1;
            self.report(progress);
            return Ok(());
        }
        while self.flying.len() >= CHUNKS_IN_FLIGHT {
            self.land(journal, progress).await?;
        }
        let store = self.store;
        let flight: Flight<'s> = if journal.was_started(&hash) {
            // An earlier run began this store and did not see it finish.
            Box::pin(async move {
                let outcome = async {
                    if store.has(hash).await? {
                        return Ok(Outcome::Found);
                    }
                    store.put(hash, bytes).await.map(|()| Outcome::Stored)
                }
                .await;
                (hash, outcome)
            })
        } else {
            journal.record_intent(&hash)?;
            Box::pin(async move { (hash, store.put(hash, bytes).await.map(|()| Outcome::Stored)) })
        };
        self.flying.push(flight);
        Ok(())
    }

    /// Waits for every store in flight.
    async fn drain(
        &mut self,
        journal: &mut UploadJournal,
        progress: &mut impl FnMut(Progress),
    ) -> AttachResult<()> {
        while !self.flying.is_empty() {
            self.land(journal, progress).await?;
        }
        Ok(())
    }

    /// Waits for one store in flight to finish and journals it.
    async fn land(
        &mut self,
        journal: &mut UploadJournal,
        progress: &mut impl FnMut(Progress),
    ) -> AttachResult<()> {
        let Some((hash, outcome)) = self.flying.next().await else {
            return Ok(());
        };
        let outcome = outcome?;
        journal.record_stored(&hash)?;
        match outcome {
            Outcome::Stored => self.counts.stored_now += 1,
            Outcome::Found => self.counts.already += 1,
        }
        self.report(progress);
        Ok(())
    }

    fn report(&self, progress: &mut impl FnMut(Progress)) {
        progress(Progress {
            done: self.counts.done(),
            total: self.total,
        });
    }
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
