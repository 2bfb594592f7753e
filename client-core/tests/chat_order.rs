//! A message that reaches the polled swarm member after a later-stamped one
//! was already handed out sits before the receiver's cursor. The receive loop
//! must read the recent past again soon after its cursor moves, not only at
//! its periodic re-read.

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

/// The receive loop's periodic re-read (`OVERLAP_EVERY` in chat/receive.rs).
const PERIODIC_REREAD: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_earlier_stamped_late_arrival_is_read_soon_after_the_cursor_moves() {
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

        // A stranger's message stamped 5 s earlier appears on every member of
        // Bob's swarm without waking anyone (as if replication had just
        // delivered it to the member Bob polls).
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
        let stamped = now - 5_000;
        let msg = StoredMessage::new(bob.account_id(), Namespace::INBOX, data, stamped, 3_600_000);
        for member in net.swarm(&bob.account_id()) {
            let node = net.node(net.index_of(&member)).unwrap();
            node.context().store.put(msg.clone(), now).unwrap();
        }

        // It reaches Bob's requests well before the periodic re-read is due.
        let deadline = moved + PERIODIC_REREAD - Duration::from_secs(5);
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
                "the late message was not read again after the cursor moved"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        alice.shutdown().await;
        bob.shutdown().await;
    })
    .await
    .expect("test timed out");
}
