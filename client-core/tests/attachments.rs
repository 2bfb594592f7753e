//! Attachments over real service nodes in process: files cut into chunks,
//! each stored in the swarm of its own hash through onion paths, fetched and
//! checked back, and an upload that fails half-way resumed without storing
//! anything twice.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/harness.rs"]
mod harness;

use std::collections::HashSet;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{TestNet, sotto_client_now, wait_status};
use sotto_client::attach::{
    ChunkStore, NetworkChunks, StoreError, StoreResult, Uploaded, download, upload,
};
use sotto_client::{Client, PathStatus};
use sotto_protocol::Namespace;
use sotto_protocol::attachment::{Attachment, AttachmentKind, CHUNK_DATA_LEN, ChunkHash};
use sotto_protocol::rpc::{Request, StoreRequest};

const LIMIT: Duration = Duration::from_secs(240);

fn write_source(dir: &Path, len: usize, seed: u8) -> std::path::PathBuf {
    let path = dir.join(format!("source-{len}-{seed}"));
    let data: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed ^ (i >> 16) as u8)
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

/// The network store, failing every put after `fail_after` of them and
/// recording which chunks the network acknowledged.
struct Flaky {
    inner: NetworkChunks,
    puts: AtomicU32,
    fail_after: Option<u32>,
    acknowledged: Mutex<Vec<ChunkHash>>,
}

impl ChunkStore for Flaky {
    async fn put(&self, hash: ChunkHash, bytes: Vec<u8>) -> StoreResult<()> {
        let n = self.puts.fetch_add(1, Ordering::SeqCst);
        if self.fail_after.is_some_and(|max| n >= max) {
            return Err(StoreError("the sender crashed".into()));
        }
        self.inner.put(hash, bytes).await?;
        self.acknowledged.lock().unwrap().push(hash);
        Ok(())
    }
    async fn get(&self, hash: ChunkHash) -> StoreResult<Option<Vec<u8>>> {
        self.inner.get(hash).await
    }
    async fn has(&self, hash: ChunkHash) -> StoreResult<bool> {
        self.inner.has(hash).await
    }
}

/// How many running nodes hold the chunk `hash` in their chunk namespace.
fn holders(net: &TestNet, hash: &ChunkHash) -> usize {
    net.running()
        .filter(|(_, node)| {
            let page = node
                .context()
                .store
                .retrieve(
                    &hash.account(),
                    Namespace::CHUNKS,
                    0,
                    0,
                    u32::MAX,
                    sotto_client_now(),
                )
                .unwrap();
            page.messages
                .iter()
                .any(|m| ChunkHash::of(&m.data) == *hash)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_round_trip_through_the_swarms_of_their_chunks() {
    tokio::time::timeout(LIMIT, async {
        let net = TestNet::start(8).await;
        let client = Client::start(net.client_config()).await.unwrap();
        wait_status(&client, "Ready", |s| matches!(s, PathStatus::Ready { .. })).await;
        let client = Arc::new(client);
        let chunks = NetworkChunks::new(client.clone());
        let tmp = tempfile::tempdir().unwrap();
        let downloads = tmp.path().join("downloads");
        std::fs::create_dir(&downloads).unwrap();
        let quorum = usize::from(net.params.store_quorum);
        for len in [0, CHUNK_DATA_LEN, CHUNK_DATA_LEN + 1, 25_000_000] {
            let source = write_source(tmp.path(), len, 1);
            let journal = tmp.path().join(format!("{len}.journal"));
            let up = upload(&chunks, &source, &journal, &mut rand::rng(), |_| {})
                .await
                .unwrap();
            let total = up.chunk_count + u32::from(up.chunk_count > 1);
            assert_eq!(up.stored_now, total, "{len} bytes");
            // The root (the only chunk, or the manifest) is on a quorum of
            // the nodes of its own swarm.
            assert!(holders(&net, &up.root) >= quorum, "{len} bytes");
            let name = format!("file-{len}.bin");
            let mut last = None;
            let got = download(&chunks, &descriptor(&up, &name), &downloads, |p| {
                last = Some(p)
            })
            .await
            .unwrap();
            assert_eq!(last.map(|p| (p.done, p.total)), Some((total, total)));
            assert!(std::fs::read(&got.path).unwrap() == std::fs::read(&source).unwrap());
            let mode = std::fs::metadata(&got.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        // A chunk no node holds is missing, not an error.
        assert_eq!(
            chunks.get(ChunkHash::of(b"never stored")).await.unwrap(),
            None
        );
        // A plain store (no postage) in the chunk namespace is refused
        // before it leaves the client, as a node would refuse it.
        let plain = StoreRequest::unsigned(
            ChunkHash::of(b"x").account(),
            Namespace::CHUNKS,
            vec![0; 10],
            60_000,
        );
        assert!(Request::Store(plain).encode().is_err());
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_interrupted_upload_resumes_without_storing_a_chunk_twice() {
    tokio::time::timeout(LIMIT, async {
        let net = TestNet::start(8).await;
        let client = Client::start(net.client_config()).await.unwrap();
        wait_status(&client, "Ready", |s| matches!(s, PathStatus::Ready { .. })).await;
        let chunks = NetworkChunks::new(Arc::new(client));
        let tmp = tempfile::tempdir().unwrap();
        let source = write_source(tmp.path(), 20 * CHUNK_DATA_LEN + 3, 9);
        let journal = tmp.path().join("up.journal");
        let first = Flaky {
            inner: chunks.clone(),
            puts: AtomicU32::new(0),
            fail_after: Some(8),
            acknowledged: Mutex::new(vec![]),
        };
        let err = upload(&first, &source, &journal, &mut rand::rng(), |_| {}).await;
        assert!(err.is_err());
        let acknowledged: HashSet<ChunkHash> =
            first.acknowledged.lock().unwrap().iter().copied().collect();
        assert!(!acknowledged.is_empty());

        // The restart: the same journal, the same file.
        let second = Flaky {
            inner: chunks.clone(),
            puts: AtomicU32::new(0),
            fail_after: None,
            acknowledged: Mutex::new(vec![]),
        };
        let up = upload(&second, &source, &journal, &mut rand::rng(), |_| {})
            .await
            .unwrap();
        let again: HashSet<ChunkHash> = second
            .acknowledged
            .lock()
            .unwrap()
            .iter()
            .copied()
            .collect();
        assert!(
            acknowledged.is_disjoint(&again),
            "a chunk the network had acknowledged was stored again"
        );
        assert_eq!(up.stored_now + up.already_stored, 21 + 1);
        assert!(up.already_stored as usize >= acknowledged.len());
        let got = download(&chunks, &descriptor(&up, "resumed.bin"), tmp.path(), |_| {})
            .await
            .unwrap();
        assert!(std::fs::read(got.path).unwrap() == std::fs::read(&source).unwrap());
    })
    .await
    .unwrap();
}
