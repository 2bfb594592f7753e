//! The engine against an in-memory chunk store that checks hashes like a node
//! and can fail on demand, standing in for a crash.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Mutex;

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sotto_protocol::attachment::{
    Attachment, AttachmentError, AttachmentKind, CHUNK_DATA_LEN, ChunkHash,
};

use super::*;

#[derive(Default)]
struct MemoryStore {
    chunks: Mutex<HashMap<ChunkHash, Vec<u8>>>,
    puts: Mutex<HashMap<ChunkHash, u32>>,
    /// Refuse every put after this many (the sender "crashes" before storing).
    fail_before_put: Option<u32>,
    /// Store the nth put, then report a failure (a crash after the chunk
    /// reached the network, before the journal recorded it).
    fail_after_put: Option<u32>,
    has_calls: Mutex<u32>,
}

impl MemoryStore {
    fn total_puts(&self) -> u32 {
        self.puts.lock().unwrap().values().sum()
    }
}

impl ChunkStore for MemoryStore {
    async fn put(&self, hash: ChunkHash, bytes: Vec<u8>) -> StoreResult<()> {
        let n = self.total_puts();
        if self.fail_before_put.is_some_and(|max| n >= max) {
            return Err(StoreError("connection lost".into()));
        }
        if ChunkHash::of(&bytes) != hash {
            return Err(StoreError("hash does not match".into()));
        }
        self.chunks.lock().unwrap().insert(hash, bytes);
        *self.puts.lock().unwrap().entry(hash).or_default() += 1;
        if self.fail_after_put == Some(n) {
            return Err(StoreError("crashed after the put".into()));
        }
        Ok(())
    }

    async fn get(&self, hash: ChunkHash) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.chunks.lock().unwrap().get(&hash).cloned())
    }

    async fn has(&self, hash: ChunkHash) -> StoreResult<bool> {
        *self.has_calls.lock().unwrap() += 1;
        Ok(self.chunks.lock().unwrap().contains_key(&hash))
    }
}

fn write_source(dir: &Path, len: usize, seed: u8) -> std::path::PathBuf {
    let path = dir.join(format!("source-{len}-{seed}"));
    let data: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect();
    std::fs::write(&path, data).unwrap();
    path
}

fn descriptor(up: &Uploaded, name: &str) -> Attachment {
    Attachment {
        kind: AttachmentKind::File,
        name: name.into(),
        media_type: "application/octet-stream".into(),
        size: up.size,
        secret: up.secret.clone(),
        root: up.root,
        chunk_count: up.chunk_count,
        thumbnail: None,
        duration_ms: None,
    }
}

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::from_seed([0x5a; 32])
}

fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn files_round_trip_into_the_download_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let downloads = tmp.path().join("downloads");
    std::fs::create_dir(&downloads).unwrap();
    for len in [
        0,
        CHUNK_DATA_LEN,
        CHUNK_DATA_LEN + 1,
        3 * CHUNK_DATA_LEN + 5,
    ] {
        let store = MemoryStore::default();
        let source = write_source(tmp.path(), len, 1);
        let journal = tmp.path().join(format!("{len}.journal"));
        let mut seen = vec![];
        let up = upload(&store, &source, &journal, &mut rng(), |p| seen.push(p))
            .await
            .unwrap();
        assert_eq!(up.size, len as u64);
        assert_eq!(up.stored_now, store.total_puts());
        assert_eq!(seen.last().map(|p| p.done == p.total), Some(true));
        let name = format!("file-{len}.bin");
        let got = download(&store, &descriptor(&up, &name), &downloads, |_| {})
            .await
            .unwrap();
        assert_eq!(got.path, downloads.join(&name));
        assert!(std::fs::read(&got.path).unwrap() == std::fs::read(&source).unwrap());
        let mode = std::fs::metadata(&got.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{len}");
        let journal_mode = std::fs::metadata(&journal).unwrap().permissions().mode();
        assert_eq!(journal_mode & 0o777, 0o600);
    }
    // Only the saved files: no partial file is left behind.
    assert!(entries(&downloads).iter().all(|n| n.starts_with("file-")));
}

#[tokio::test]
async fn a_restarted_upload_stores_no_chunk_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let source = write_source(tmp.path(), 6 * CHUNK_DATA_LEN + 10, 2);
    let journal = tmp.path().join("up.journal");
    // First run: the network goes away after 3 chunks.
    let mut store = MemoryStore {
        fail_before_put: Some(3),
        ..MemoryStore::default()
    };
    let err = upload(&store, &source, &journal, &mut rng(), |_| {}).await;
    assert!(matches!(err, Err(AttachError::Store(_))), "{err:?}");
    assert_eq!(store.total_puts(), 3);
    // Second run, as after a restart: a fresh generator, the same journal.
    store.fail_before_put = None;
    let mut other_rng = ChaCha20Rng::from_seed([0x77; 32]);
    let up = upload(&store, &source, &journal, &mut other_rng, |_| {})
        .await
        .unwrap();
    assert_eq!(up.already_stored, 3);
    assert_eq!(up.stored_now, 7 + 1 - 3, "7 data chunks and a manifest");
    assert!(store.puts.lock().unwrap().values().all(|&n| n == 1));
    let got = download(&store, &descriptor(&up, "f"), tmp.path(), |_| {})
        .await
        .unwrap();
    assert!(std::fs::read(got.path).unwrap() == std::fs::read(&source).unwrap());
}

#[tokio::test]
async fn a_crash_between_store_and_journal_is_not_stored_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let source = write_source(tmp.path(), 3 * CHUNK_DATA_LEN, 3);
    let journal = tmp.path().join("up.journal");
    let mut store = MemoryStore {
        fail_after_put: Some(1),
        ..MemoryStore::default()
    };
    assert!(
        upload(&store, &source, &journal, &mut rng(), |_| {})
            .await
            .is_err()
    );
    store.fail_after_put = None;
    let up = upload(&store, &source, &journal, &mut rng(), |_| {})
        .await
        .unwrap();
    // The chunk whose store "crashed" and the one started with it (chunks
    // go out several at a time) were begun and not seen to finish: only
    // those are looked up, and only the one not stored is stored.
    assert_eq!(
        *store.has_calls.lock().unwrap(),
        2,
        "only the uncertain chunks are looked up"
    );
    assert_eq!(up.already_stored, 2);
    assert!(store.puts.lock().unwrap().values().all(|&n| n == 1));
    assert_eq!(store.total_puts(), 4);
}

#[tokio::test]
async fn a_changed_file_gets_a_fresh_secret_and_a_torn_record_is_dropped() {
    let tmp = tempfile::tempdir().unwrap();
    let source = write_source(tmp.path(), 2 * CHUNK_DATA_LEN, 4);
    let journal = tmp.path().join("up.journal");
    let store = MemoryStore::default();
    let first = upload(&store, &source, &journal, &mut rng(), |_| {})
        .await
        .unwrap();
    // A record torn by a crash at the end of the journal.
    let mut bytes = std::fs::read(&journal).unwrap();
    bytes.extend_from_slice(b"S\x01\x02");
    std::fs::write(&journal, bytes).unwrap();
    let again = upload(&store, &source, &journal, &mut rng(), |_| {})
        .await
        .unwrap();
    assert_eq!(again.root, first.root);
    assert_eq!(again.stored_now, 0);
    std::fs::write(&source, b"other bytes").unwrap();
    // A journal wrongly resumed would keep the first secret whatever the
    // generator gives.
    let mut fresh = ChaCha20Rng::from_seed([0x99; 32]);
    let changed = upload(&store, &source, &journal, &mut fresh, |_| {})
        .await
        .unwrap();
    assert_ne!(changed.secret, first.secret);
    assert_eq!(changed.stored_now, 1);
}

#[tokio::test]
async fn broken_files_are_never_saved() {
    let tmp = tempfile::tempdir().unwrap();
    let source = write_source(tmp.path(), 3 * CHUNK_DATA_LEN, 5);
    let store = MemoryStore::default();
    let up = upload(&store, &source, &tmp.path().join("j"), &mut rng(), |_| {})
        .await
        .unwrap();
    let downloads = tmp.path().join("dl");
    std::fs::create_dir(&downloads).unwrap();
    let a = descriptor(&up, "report.pdf");
    // Read the manifest's hashes through an opener.
    let mut opener = sotto_protocol::attachment::FileOpener::new(
        a.secret.clone(),
        a.size,
        a.chunk_count,
        a.root,
    )
    .unwrap();
    let manifest = store.chunks.lock().unwrap()[&a.root].clone();
    let hashes = opener.open_manifest(&manifest).unwrap().to_vec();

    // A chunk altered on a node.
    store.chunks.lock().unwrap().get_mut(&hashes[2]).unwrap()[7] ^= 1;
    let err = download(&store, &a, &downloads, |_| {}).await.unwrap_err();
    assert!(matches!(
        err,
        AttachError::Format(AttachmentError::HashMismatch { index: 2 })
    ));
    assert!(entries(&downloads).is_empty(), "{:?}", entries(&downloads));
    // A chunk missing.
    store.chunks.lock().unwrap().remove(&hashes[2]);
    let err = download(&store, &a, &downloads, |_| {}).await.unwrap_err();
    assert!(matches!(
        err,
        AttachError::Format(AttachmentError::MissingChunk { index: 2 })
    ));
    assert!(entries(&downloads).is_empty());
    // Chunks reordered: a node answers for chunk 1 with chunk 0.
    let c0 = store.chunks.lock().unwrap()[&hashes[0]].clone();
    store.chunks.lock().unwrap().insert(hashes[1], c0);
    let err = download(&store, &a, &downloads, |_| {}).await.unwrap_err();
    assert!(matches!(
        err,
        AttachError::Format(AttachmentError::HashMismatch { index: 1 })
    ));
    // A descriptor claiming a shorter file (truncation) does not open.
    let mut short = a.clone();
    short.size = 2 * CHUNK_DATA_LEN as u64;
    short.chunk_count = 2;
    assert!(download(&store, &short, &downloads, |_| {}).await.is_err());
    assert!(entries(&downloads).is_empty());
}

#[tokio::test]
async fn hostile_names_are_saved_inside_the_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let source = write_source(tmp.path(), 100, 6);
    let store = MemoryStore::default();
    let up = upload(&store, &source, &tmp.path().join("j"), &mut rng(), |_| {})
        .await
        .unwrap();
    let downloads = tmp.path().join("dl");
    std::fs::create_dir(&downloads).unwrap();
    let long = "n".repeat(1_000);
    let cases = [
        ("../../.bashrc", "bashrc".to_string()),
        ("a/b", "b".to_string()),
        ("\u{202e}gpj.exe", "gpj.exe".to_string()),
        ("", "attachment".to_string()),
        (long.as_str(), "n".repeat(200)),
        ("../../.bashrc", "bashrc (1)".to_string()),
    ];
    for (given, saved) in cases {
        let got = download(&store, &descriptor(&up, given), &downloads, |_| {})
            .await
            .unwrap();
        assert_eq!(got.path, downloads.join(&saved), "{given:?}");
        assert_eq!(got.path.parent(), Some(downloads.as_path()));
    }
    assert!(!tmp.path().join(".bashrc").exists());
    assert_eq!(entries(&downloads).len(), 6);
}
