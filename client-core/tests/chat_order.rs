//! A message that reaches the swarm's members late, dated minutes before
//! everything the receiver has read (its first member's clock was slow, or it
//! came by anti-entropy after a partition), is still read: each member numbers
//! it after every cursor it handed out, so the receiver's next read of any
//! member has it. With the time cursors of wave 1 it sat behind the cursor and
//! was lost once it was older than the re-read overlap.

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

use std::time::{Duration, Instant};

use chat::{connect, new_user, send_sent, wait_messages};
use harness::{TestNet, sotto_client_now};
use sotto_protocol::envelope::{self, Content, ContentBody};
use sotto_protocol::rpc::StoredMessage;
use sotto_protocol::{AccountKey, Namespace};

/// A bound on how long the test waits, far above the well-under-a-second a
/// woken long poll takes: the test asserts that the message arrives, not how
/// fast.
const PATIENCE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_late_arrival_dated_before_the_cursor_is_read() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let net = TestNet::start(8).await;
        let (_da, alice) = new_user("Alice");
        let (_db, bob) = new_user("Bob");
        alice.add_contact(bob.account_id(), Some("bob")).unwrap();
        connect(&net, &alice).await;
        connect(&net, &bob).await;

        // Bob's loop sees Alice's message: his cursor moves past its stamp.
        send_sent(&alice, &bob.account_id(), "first").await;
        wait_messages(&bob, &alice.account_id(), 1).await;
        let moved = Instant::now();

        // A stranger's message stamped 10 minutes earlier (twice the old
        // overlap) reaches every member of Bob's swarm, as replication
        // delivers it: stored, then the long polls woken.
        let eve = AccountKey::from_entropy([7; 16]);
        let now = sotto_client_now();
        let content = Content::new(
            &mut rand::rng(),
            now,
            ContentBody::Text {
                text: "late but not lost".into(),
            },
        );
        let data = envelope::seal(&eve, &bob.account_id(), &content, &mut rand::rng()).unwrap();
        let stamped = now - 10 * 60_000;
        let msg = StoredMessage::new(bob.account_id(), Namespace::INBOX, data, stamped, 3_600_000);
        for member in net.swarm(&bob.account_id()) {
            let node = net.node(net.index_of(&member)).unwrap();
            node.context().store.put(msg.clone(), now).unwrap();
            node.context()
                .waiters
                .wake(&bob.account_id(), Namespace::INBOX);
        }

        // It reaches Bob's requests.
        let deadline = moved + PATIENCE;
        loop {
            let got = bob
                .requests()
                .unwrap()
                .iter()
                .any(|r| r.from == eve.account_id() && r.first_text == "late but not lost");
            if got {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the late message, dated before Bob's reads, was never read"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        alice.shutdown().await;
        bob.shutdown().await;
    })
    .await
    .expect("test timed out");
}
