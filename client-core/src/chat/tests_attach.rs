//! Attachments between two Messengers without a network: the sender's queued
//! content is sealed here and handed to the recipient's receive path, chunks
//! go through an in-memory store that checks hashes like a node.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sotto_protocol::Namespace;
use sotto_protocol::attachment::{AttachmentKind, CHUNK_DATA_LEN, ChunkHash};
use sotto_protocol::envelope::{self, Content};
use sotto_protocol::rpc::{MessageHash, RetrievedMessage};

use super::outbox::{OutBody, OutItem};
use super::*;
use crate::attach::{ChunkStore, Progress, StoreError, StoreResult};

/// Chunks by hash, checked like a node checks them; counts puts.
#[derive(Clone, Default)]
struct Memory {
    chunks: Arc<Mutex<HashMap<ChunkHash, Vec<u8>>>>,
    puts: Arc<Mutex<u32>>,
}

impl ChunkStore for Memory {
    async fn put(&self, hash: ChunkHash, bytes: Vec<u8>) -> StoreResult<()> {
        if ChunkHash::of(&bytes) != hash {
            return Err(StoreError("hash does not match".into()));
        }
        *self.puts.lock().unwrap() += 1;
        self.chunks.lock().unwrap().insert(hash, bytes);
        Ok(())
    }

    async fn get(&self, hash: ChunkHash) -> StoreResult<Option<Vec<u8>>> {
        Ok(self.chunks.lock().unwrap().get(&hash).cloned())
    }

    async fn has(&self, hash: ChunkHash) -> StoreResult<bool> {
        Ok(self.chunks.lock().unwrap().contains_key(&hash))
    }
}

fn user(dir: &tempfile::TempDir, name: &str) -> Messenger {
    let opts = HomeOptions {
        home: dir.path().join(name),
        passphrase: None,
    };
    Messenger::create(&opts, None).unwrap().0
}

/// The content `from` queued for `id`, sealed (v1) to `to` as a retrieve
/// would return it.
fn deliver(from: &Messenger, id: &MessageId, to: &Messenger) -> RetrievedMessage {
    let s = &from.inner.store;
    let content: Content = s
        .outbox
        .iter()
        .values()
        .map(|v| v.unwrap())
        .zip(s.outbox.iter().keys().map(|k| k.unwrap()))
        .find_map(
            |(v, k)| match s.decode::<OutItem>(&s.outbox, &k, &v).unwrap() {
                OutItem {
                    body: OutBody::Content(c),
                    ..
                } if c.id == id.0 => Some(c),
                _ => None,
            },
        )
        .unwrap();
    let data = envelope::seal(
        &from.inner.key,
        &to.account_id(),
        &content,
        &mut rand::rng(),
    )
    .unwrap();
    RetrievedMessage {
        hash: MessageHash::compute(&to.account_id(), Namespace::INBOX, &data),
        data,
        timestamp: system_now(),
        expiry: system_now() + 60_000,
    }
}

fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Waits (bounded) until attachment `id` of `m` is no longer waiting.
async fn settled(m: &Messenger, id: &MessageId) -> AttachmentState {
    let mut events = m.subscribe();
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let state = m.attachment(id).unwrap().unwrap().state;
            if matches!(
                state,
                AttachmentState::Ready(_) | AttachmentState::Failed(_)
            ) {
                return state;
            }
            let _ = tokio::time::timeout(Duration::from_millis(200), events.recv()).await;
        }
    })
    .await
    .expect("the attachment was not fetched in time")
}

#[tokio::test]
async fn files_of_edge_sizes_go_from_sender_to_saved_copy_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (user(&dir, "alice"), user(&dir, "bob"));
    bob.add_contact(alice.account_id(), Some("alice")).unwrap();
    let store = Memory::default();
    let fetcher = bob.start_fetching_via(store.clone());
    for (i, len) in [0, CHUNK_DATA_LEN, CHUNK_DATA_LEN + 1]
        .into_iter()
        .enumerate()
    {
        let bytes = pattern(len);
        let source = dir.path().join(format!("file{i}.bin"));
        std::fs::write(&source, &bytes).unwrap();
        let mut seen: Vec<Progress> = Vec::new();
        let id = alice
            .send_file_via(
                &store,
                &bob.account_id(),
                &source,
                Some("here".into()),
                |p| seen.push(p),
            )
            .await
            .unwrap();
        let total = if len > CHUNK_DATA_LEN { 3 } else { 1 };
        assert_eq!(seen.last(), Some(&Progress { done: total, total }), "{len}");
        // The journal is gone once the message is queued.
        assert_eq!(
            std::fs::read_dir(dir.path().join("alice/uploads"))
                .unwrap()
                .count(),
            0
        );
        let sent = alice.message(&id).unwrap().unwrap();
        assert_eq!(sent.state, MessageState::Queued);
        assert!(
            sent.text.starts_with(&format!("[file] file{i}.bin")),
            "{}",
            sent.text
        );

        assert!(
            bob.inner
                .accept(&deliver(&alice, &id, &bob), Namespace::INBOX)
                .unwrap()
        );
        let info = bob.attachment(&id).unwrap().unwrap();
        assert_eq!(
            (info.size, info.caption.as_deref()),
            (len as u64, Some("here"))
        );
        assert!(!info.outgoing);
        // Small, from a contact: fetched ahead into the private cache.
        let AttachmentState::Ready(cached) = settled(&bob, &id).await else {
            panic!("not fetched");
        };
        assert!(cached.starts_with(dir.path().join("bob/attachments")));
        assert_eq!(std::fs::read(&cached).unwrap(), bytes);
        assert_eq!(mode(&cached), 0o600);
        assert_eq!(mode(&dir.path().join("bob/attachments")), 0o700);

        // Saving copies it; a second save gets a new name.
        let to = dir.path().join("downloads");
        let first = bob
            .save_attachment_via(&store, &id, Some(&to), |_| {})
            .await
            .unwrap();
        let second = bob
            .save_attachment_via(&store, &id, Some(&to), |_| {})
            .await
            .unwrap();
        assert_eq!(first, to.join(format!("file{i}.bin")));
        assert_eq!(second, to.join(format!("file{i} (1).bin")));
        assert_eq!(std::fs::read(&second).unwrap(), bytes);
        assert_eq!(mode(&first), 0o600);
    }
    fetcher.stop().await;
}

#[tokio::test]
async fn large_and_stranger_attachments_wait_for_save_and_forwarding_reuses_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob, carol) = (user(&dir, "a"), user(&dir, "b"), user(&dir, "c"));
    bob.add_contact(alice.account_id(), None).unwrap();
    let mut settings = bob.settings();
    settings.auto_fetch_max_bytes = 1_000;
    bob.set_settings(settings.clone()).unwrap();
    assert_eq!(bob.settings(), settings);
    let store = Memory::default();
    let _fetcher = bob.start_fetching_via(store.clone());
    let bytes = pattern(5_000);
    let source = dir.path().join("photo.JPG");
    std::fs::write(&source, &bytes).unwrap();
    let id = alice
        .send_file_via(&store, &bob.account_id(), &source, None, |_| {})
        .await
        .unwrap();
    bob.inner
        .accept(&deliver(&alice, &id, &bob), Namespace::INBOX)
        .unwrap();
    let info = bob.attachment(&id).unwrap().unwrap();
    assert_eq!(info.kind, AttachmentKind::Image);
    assert_eq!(info.media_type, "image/jpeg");
    // Over the limit: nothing fetched until asked.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        bob.attachment(&id).unwrap().unwrap().state,
        AttachmentState::Pending
    );
    let saved = bob
        .save_attachment_via(&store, &id, Some(&dir.path().join("dl")), |_| {})
        .await
        .unwrap();
    assert_eq!(std::fs::read(&saved).unwrap(), bytes);
    assert_eq!(
        bob.attachment(&id).unwrap().unwrap().state,
        AttachmentState::Ready(saved)
    );

    // Bob forwards it to Carol (a stranger to her): no chunk is stored again,
    // and she must ask before anything is fetched.
    let puts = *store.puts.lock().unwrap();
    let fwd = bob
        .forward_attachment(&id, &carol.account_id())
        .await
        .unwrap();
    assert_eq!(*store.puts.lock().unwrap(), puts);
    carol
        .inner
        .accept(&deliver(&bob, &fwd, &carol), Namespace::INBOX)
        .unwrap();
    assert_eq!(carol.requests().unwrap().len(), 1);
    assert_eq!(
        carol.attachment(&fwd).unwrap().unwrap().state,
        AttachmentState::Pending
    );
    let got = carol
        .save_attachment_via(&store, &fwd, Some(&dir.path().join("cdl")), |_| {})
        .await
        .unwrap();
    assert_eq!(std::fs::read(got).unwrap(), bytes);
}

#[tokio::test]
async fn a_missing_chunk_fails_the_attachment_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (user(&dir, "a"), user(&dir, "b"));
    let store = Memory::default();
    let source = dir.path().join("doc.pdf");
    std::fs::write(&source, pattern(CHUNK_DATA_LEN * 2)).unwrap();
    let id = alice
        .send_file_via(&store, &bob.account_id(), &source, None, |_| {})
        .await
        .unwrap();
    bob.inner
        .accept(&deliver(&alice, &id, &bob), Namespace::INBOX)
        .unwrap();
    let empty = Memory::default();
    let to = dir.path().join("dl");
    let err = bob
        .save_attachment_via(&empty, &id, Some(&to), |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    assert!(matches!(
        bob.attachment(&id).unwrap().unwrap().state,
        AttachmentState::Failed(_)
    ));
    assert_eq!(std::fs::read_dir(&to).unwrap().count(), 0);
}

#[tokio::test]
async fn limits_and_locations() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (user(&dir, "a"), user(&dir, "b"));
    let store = Memory::default();
    // Over 100 MB: refused before anything is read or stored (a sparse file).
    let big = dir.path().join("big.iso");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(100_000_001)
        .unwrap();
    let err = alice
        .send_file_via(&store, &bob.account_id(), &big, None, |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at most 100.0 MB"), "{err}");
    assert_eq!(*store.puts.lock().unwrap(), 0);
    // A folder, and a blank caption turned into none.
    assert!(
        alice
            .send_file_via(&store, &bob.account_id(), dir.path(), None, |_| {})
            .await
            .is_err()
    );
    // Locations: out of range refused, in range sent and received.
    assert!(
        alice
            .send_location(&bob.account_id(), 91.0, 0.0, None)
            .await
            .is_err()
    );
    let id = alice
        .send_location(&bob.account_id(), 48.2104, 16.3638, Some("Café".into()))
        .await
        .unwrap();
    bob.inner
        .accept(&deliver(&alice, &id, &bob), Namespace::INBOX)
        .unwrap();
    let got = bob.location(&id).unwrap().unwrap();
    assert_eq!(
        (got.lat, got.lon, got.label.as_deref()),
        (48.2104, 16.3638, Some("Café"))
    );
    let msg = bob.message(&id).unwrap().unwrap();
    assert_eq!(msg.text, "[location] Café 48.21040,16.36380");
    assert!(bob.attachment(&id).unwrap().is_none());
    // Deleting a message for everyone takes what it carries along.
    alice.delete_for_everyone(&id).await.unwrap();
    assert!(alice.location(&id).unwrap().is_none());
}

#[test]
fn settings_of_an_older_home_keep_their_choices() {
    #[derive(serde::Serialize)]
    struct Before {
        read_receipts: bool,
        typing_indicators: bool,
    }
    let dir = tempfile::tempdir().unwrap();
    let m = user(&dir, "a");
    let s = &m.inner.store;
    let old = Before {
        read_receipts: false,
        typing_indicators: true,
    };
    s.put(&s.meta, b"settings", &old).unwrap();
    let got = m.settings();
    assert!(!got.read_receipts && got.typing_indicators);
    assert_eq!(got.auto_fetch_max_bytes, DEFAULT_AUTO_FETCH_MAX_BYTES);
    assert_eq!(got.download_dir, None);
}

#[tokio::test]
async fn an_image_arrives_with_a_thumbnail_and_a_voice_note_with_its_length() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, bob) = (user(&dir, "alice"), user(&dir, "bob"));
    bob.add_contact(alice.account_id(), None).unwrap();
    let store = Memory::default();

    let picture = image::RgbImage::from_fn(640, 320, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, ((x + y) % 256) as u8])
    });
    let source = dir.path().join("Beach.PNG");
    picture
        .save_with_format(&source, image::ImageFormat::Png)
        .unwrap();
    let id = alice
        .send_file_via(&store, &bob.account_id(), &source, None, |_| {})
        .await
        .unwrap();
    assert!(
        alice
            .message(&id)
            .unwrap()
            .unwrap()
            .text
            .starts_with("[image] Beach.PNG (")
    );
    bob.inner
        .accept(&deliver(&alice, &id, &bob), Namespace::INBOX)
        .unwrap();
    let info = bob.attachment(&id).unwrap().unwrap();
    assert_eq!(info.kind, AttachmentKind::Image);
    let thumb = info.thumbnail.expect("the image came without a thumbnail");
    assert!(thumb.len() <= sotto_protocol::attachment::descriptor::MAX_THUMBNAIL_LEN);
    let preview = image::load_from_memory_with_format(&thumb, image::ImageFormat::Jpeg).unwrap();
    assert_eq!((preview.width(), preview.height()), (160, 80));
    assert_eq!(
        alice.attachment(&id).unwrap().unwrap().thumbnail,
        Some(thumb)
    );

    // A file named like a picture that is none goes without a thumbnail.
    let fake = dir.path().join("fake.jpg");
    std::fs::write(&fake, pattern(5_000)).unwrap();
    let id = alice
        .send_file_via(&store, &bob.account_id(), &fake, None, |_| {})
        .await
        .unwrap();
    bob.inner
        .accept(&deliver(&alice, &id, &bob), Namespace::INBOX)
        .unwrap();
    let info = bob.attachment(&id).unwrap().unwrap();
    assert_eq!((info.kind, info.thumbnail), (AttachmentKind::Image, None));

    // A voice note carries its length; one over 24 h is refused up front.
    let memo = dir.path().join("memo.wav");
    std::fs::write(&memo, pattern(9_000)).unwrap();
    let puts = *store.puts.lock().unwrap();
    let err = alice
        .send_voice_note_via(&store, &bob.account_id(), &memo, 86_400_001, None, |_| {})
        .await
        .unwrap_err();
    assert!(err.to_string().contains("24 h"), "{err}");
    assert_eq!(*store.puts.lock().unwrap(), puts, "nothing uploaded");
    let id = alice
        .send_voice_note_via(&store, &bob.account_id(), &memo, 12_400, None, |_| {})
        .await
        .unwrap();
    bob.inner
        .accept(&deliver(&alice, &id, &bob), Namespace::INBOX)
        .unwrap();
    let info = bob.attachment(&id).unwrap().unwrap();
    assert_eq!(
        (info.kind, info.duration_ms, info.media_type.as_str()),
        (AttachmentKind::VoiceNote, Some(12_400), "audio/wav")
    );
    assert_eq!(
        bob.message(&id).unwrap().unwrap().text,
        "[voice] memo.wav 0:12 (9 kB)"
    );
}
