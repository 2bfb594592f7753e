//! The upload journal: one small file per upload recording the file's secret
//! and, chunk by chunk, the intent to store it and that it was stored.
//!
//! Layout: `sotto-uj` (8 bytes), the header's length (u32 LE), the header
//! (postcard: source length, BLAKE3 of the source, the file secret), then
//! records of 33 bytes appended and synced one by one: `I` or `S` and a chunk
//! hash. A crash can tear only the last record, which loading drops. The file
//! holds the key of the attachment, so it is created with mode 0600.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rand::CryptoRng;
use serde::{Deserialize, Serialize};
use sotto_protocol::attachment::{ChunkHash, FileSecret, MAX_DATA_CHUNKS};
use sotto_protocol::codec;

use super::{AttachError, AttachResult, io_err};

const MAGIC: &[u8; 8] = b"sotto-uj";
const MAX_HEADER_LEN: usize = 256;
const RECORD_LEN: usize = 33;
const INTENT: u8 = b'I';
const STORED: u8 = b'S';
/// Largest journal: the header and an intent and a stored record for every
/// data chunk and the manifest.
const MAX_JOURNAL_LEN: u64 =
    (MAGIC.len() + 4 + MAX_HEADER_LEN + 2 * (MAX_DATA_CHUNKS + 1) * RECORD_LEN) as u64;

#[derive(Serialize, Deserialize, PartialEq, Eq)]
struct Header {
    source_len: u64,
    source_hash: [u8; 32],
    secret: FileSecret,
}

/// An open upload journal (see the module docs).
#[derive(Debug)]
pub struct UploadJournal {
    path: PathBuf,
    file: File,
    secret: FileSecret,
    stored: HashSet<ChunkHash>,
    started: HashSet<ChunkHash>,
    resumed: bool,
}

impl std::fmt::Debug for Header {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Header(..)")
    }
}

impl UploadJournal {
    /// Opens the journal at `path` for a source of `source_len` bytes hashing to
    /// `source_hash`. A journal for the same source is resumed with its secret;
    /// one for other bytes (the file changed) is replaced with a fresh secret,
    /// since sealing other bytes under the old secret would reuse its keystream.
    pub fn open<R: CryptoRng + ?Sized>(
        path: &Path,
        source_len: u64,
        source_hash: [u8; 32],
        rng: &mut R,
    ) -> AttachResult<Self> {
        match Self::load(path)? {
            Some((header, journal))
                if header.source_len == source_len && header.source_hash == source_hash =>
            {
                Ok(journal)
            }
            _ => Self::create(path, source_len, source_hash, FileSecret::generate(rng)),
        }
    }

    /// The secret the file is sealed under.
    pub fn secret(&self) -> &FileSecret {
        &self.secret
    }

    /// Whether this journal was resumed from an earlier run.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// Whether `hash` is recorded as stored.
    pub fn is_stored(&self, hash: &ChunkHash) -> bool {
        self.stored.contains(hash)
    }

    /// Whether an earlier run started storing `hash` without recording the
    /// outcome (it may or may not be stored).
    pub fn was_started(&self, hash: &ChunkHash) -> bool {
        self.started.contains(hash) && !self.stored.contains(hash)
    }

    /// Records, durably, that `hash` is about to be stored.
    pub fn record_intent(&mut self, hash: &ChunkHash) -> AttachResult<()> {
        self.append(INTENT, hash)?;
        self.started.insert(*hash);
        Ok(())
    }

    /// Records, durably, that `hash` is stored.
    pub fn record_stored(&mut self, hash: &ChunkHash) -> AttachResult<()> {
        self.append(STORED, hash)?;
        self.stored.insert(*hash);
        Ok(())
    }

    /// Deletes the journal (once the message naming the file is sent).
    pub fn remove(self) -> AttachResult<()> {
        fs::remove_file(&self.path).map_err(io_err(format!("removing {}", self.path.display())))
    }

    fn append(&mut self, tag: u8, hash: &ChunkHash) -> AttachResult<()> {
        let mut record = [0u8; RECORD_LEN];
        record[0] = tag;
        record[1..].copy_from_slice(&hash.0);
        let what = format!("writing {}", self.path.display());
        self.file.write_all(&record).map_err(io_err(what.clone()))?;
        self.file.sync_data().map_err(io_err(what))
    }

    fn create(
        path: &Path,
        source_len: u64,
        source_hash: [u8; 32],
        secret: FileSecret,
    ) -> AttachResult<Self> {
        let header = Header {
            source_len,
            source_hash,
            secret,
        };
        let body = codec::encode_bounded("upload journal header", &header, MAX_HEADER_LEN)
            .map_err(|e| journal_err(path, e.to_string()))?;
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&(body.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&body);
        // Written under a temporary name and renamed, so a crash leaves either
        // the old journal or the whole new header.
        let tmp = path.with_extension("tmp");
        let _ = fs::remove_file(&tmp);
        let what = format!("writing {}", tmp.display());
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io_err(what.clone()))?;
        f.write_all(&bytes).map_err(io_err(what.clone()))?;
        f.sync_all().map_err(io_err(what))?;
        fs::rename(&tmp, path).map_err(io_err(format!("renaming to {}", path.display())))?;
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(io_err(format!("opening {}", path.display())))?;
        Ok(Self {
            path: path.to_path_buf(),
            file,
            secret: header.secret,
            stored: HashSet::new(),
            started: HashSet::new(),
            resumed: false,
        })
    }

    fn load(path: &Path) -> AttachResult<Option<(Header, Self)>> {
        let what = format!("reading {}", path.display());
        let mut file = match OpenOptions::new().read(true).append(true).open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(what)(e)),
        };
        let len = file.metadata().map_err(io_err(what.clone()))?.len();
        if len > MAX_JOURNAL_LEN {
            return Err(journal_err(
                path,
                format!("{len} bytes is more than a journal holds"),
            ));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes).map_err(io_err(what.clone()))?;
        let Some(rest) = bytes.strip_prefix(MAGIC) else {
            return Err(journal_err(path, "not an upload journal".into()));
        };
        let Some((hlen, rest)) = rest.split_first_chunk::<4>() else {
            return Err(journal_err(path, "header cut short".into()));
        };
        let Some((head, records)) = rest.split_at_checked(u32::from_le_bytes(*hlen) as usize)
        else {
            return Err(journal_err(path, "header cut short".into()));
        };
        let header: Header = codec::decode("upload journal header", head, MAX_HEADER_LEN)
            .map_err(|e| journal_err(path, e.to_string()))?;
        let mut stored = HashSet::new();
        let mut started = HashSet::new();
        let whole = records.len() - records.len() % RECORD_LEN;
        for record in records.chunks_exact(RECORD_LEN) {
            let Some((&tag, hash)) = record.split_first() else {
                continue;
            };
            let mut h = [0u8; 32];
            h.copy_from_slice(hash);
            match tag {
                INTENT => started.insert(ChunkHash(h)),
                STORED => stored.insert(ChunkHash(h)),
                other => return Err(journal_err(path, format!("unknown record {other:#04x}"))),
            };
        }
        if whole != records.len() {
            // A record torn by a crash: drop it, so new records line up.
            let keep = (bytes.len() - (records.len() - whole)) as u64;
            file.set_len(keep).map_err(io_err(what))?;
        }
        let journal = Self {
            path: path.to_path_buf(),
            file,
            secret: header.secret.clone(),
            stored,
            started,
            resumed: true,
        };
        Ok(Some((header, journal)))
    }
}

fn journal_err(path: &Path, reason: String) -> AttachError {
    AttachError::Journal {
        path: path.display().to_string(),
        reason,
    }
}
