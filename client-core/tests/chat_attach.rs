//! Attachments between two messengers over an in-process network of real
//! nodes (issue 16): files of 0 bytes, exactly one chunk and one chunk + 1
//! byte are sent with `send_file`, fetched ahead by the recipient (a
//! contact's small files) and saved byte for byte; a location arrives too.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/chat.rs"]
mod chat;
#[path = "support/harness.rs"]
mod harness;

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use chat::{WAIT, connect, new_user, until, wait_messages};
use harness::TestNet;
use sotto_client::chat::{AttachmentState, MessageState};
use sotto_protocol::attachment::CHUNK_DATA_LEN;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_and_a_location_over_real_nodes() {
    tokio::time::timeout(Duration::from_secs(240), async {
        let started = Instant::now();
        let net = TestNet::start(8).await;
        let (dir_a, alice) = new_user("Alice");
        let (_db, bob) = new_user("Bob");
        alice.add_contact(bob.account_id(), Some("bob")).unwrap();
        bob.add_contact(alice.account_id(), Some("alice")).unwrap();
        connect(&net, &alice).await;
        connect(&net, &bob).await;

        let sizes = [0, CHUNK_DATA_LEN, CHUNK_DATA_LEN + 1];
        let mut sent = Vec::new();
        for (i, len) in sizes.into_iter().enumerate() {
            let bytes: Vec<u8> = (0..len).map(|j| (j * 13 % 251) as u8 ^ i as u8).collect();
            let path = dir_a.path().join(format!("f{i}.bin"));
            std::fs::write(&path, &bytes).unwrap();
            let mut last = None;
            let id = alice
                .send_file(&bob.account_id(), &path, None, |p| last = Some(p))
                .await
                .unwrap();
            let p = last.expect("no progress reported");
            assert_eq!(p.done, p.total);
            alice
                .wait_state(&id, MessageState::Sent, WAIT)
                .await
                .unwrap();
            sent.push((id, bytes));
        }
        let loc = alice
            .send_location(&bob.account_id(), 59.3293, 18.0686, Some("Slussen".into()))
            .await
            .unwrap();

        wait_messages(&bob, &alice.account_id(), sizes.len() + 1).await;
        let to = tempfile::tempdir().unwrap();
        for (id, bytes) in &sent {
            // Fetched ahead in the background (small, from a contact).
            until("the attachment is fetched ahead", || {
                matches!(
                    bob.attachment(id).unwrap().unwrap().state,
                    AttachmentState::Ready(_) | AttachmentState::Failed(_)
                )
            })
            .await;
            let info = bob.attachment(id).unwrap().unwrap();
            let AttachmentState::Ready(cached) = &info.state else {
                panic!("fetching failed: {:?}", info.state);
            };
            assert_eq!(&std::fs::read(cached).unwrap(), bytes);
            let saved = bob
                .save_attachment(id, Some(to.path()), |_| {})
                .await
                .unwrap();
            assert_eq!(&std::fs::read(&saved).unwrap(), bytes);
            let mode = std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        // A saved copy is independent of the cache: fetched again straight
        // from the network when the cache is gone.
        let (id, bytes) = &sent[2];
        if let AttachmentState::Ready(cached) = bob.attachment(id).unwrap().unwrap().state {
            std::fs::remove_file(cached).unwrap();
        }
        let again = bob
            .save_attachment(id, Some(to.path()), |_| {})
            .await
            .unwrap();
        assert_eq!(&std::fs::read(&again).unwrap(), bytes);

        let got = bob.location(&loc).unwrap().unwrap();
        assert_eq!((got.lat, got.lon), (59.3293, 18.0686));
        eprintln!("whole test took {:?}", started.elapsed());
        alice.shutdown().await;
        bob.shutdown().await;
    })
    .await
    .expect("the test ran past its bound");
}
