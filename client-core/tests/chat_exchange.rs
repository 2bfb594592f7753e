//! Two messengers over an in-process network of real nodes: messages both
//! ways, delivery to a recipient that was offline, receipts (and turning read
//! receipts off), and no message delivered twice, also across a restart.

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

use chat::{WAIT, connect, new_user, next_event, opts, send_sent, wait_messages};
use harness::TestNet;
use sotto_client::chat::{ChatError, ChatEvent, MessageState, Messenger, Settings};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn exchange_offline_delivery_receipts_and_no_duplicates() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let started = Instant::now();
        let net = TestNet::start(8).await;
        let (_da, alice) = new_user("Alice");
        let (db, bob) = new_user("Bob");
        alice.add_contact(bob.account_id(), Some("bob")).unwrap();
        bob.add_contact(alice.account_id(), None).unwrap();

        // Bob was online once (his prekey bundle is in his swarm), and is
        // offline now: the message waits in his swarm.
        connect(&net, &bob).await;
        bob.shutdown().await;
        let mut alice_events = alice.subscribe();
        connect(&net, &alice).await;
        next_event(&mut alice_events, |e| match e {
            ChatEvent::Path(sotto_client::PathStatus::Ready { hops }) => Some(hops.len()),
            _ => None,
        })
        .await;
        assert!(matches!(
            bob.path_status(),
            sotto_client::PathStatus::Offline
        ));
        let first = send_sent(&alice, &bob.account_id(), "hello while you were away").await;

        let mut bob_events = bob.subscribe();
        connect(&net, &bob).await;
        let got = next_event(&mut bob_events, |e| match e {
            ChatEvent::Message(m) => Some(m.clone()),
            _ => None,
        })
        .await;
        assert_eq!(got.id, first);
        assert_eq!(got.text, "hello while you were away");
        assert!(!got.request);
        // Bob's device sent a delivery receipt.
        assert_eq!(
            alice
                .wait_state(&first, MessageState::Delivered, WAIT)
                .await
                .unwrap(),
            MessageState::Delivered
        );

        // And back.
        send_sent(&bob, &alice.account_id(), "hi Alice").await;
        let at_alice = wait_messages(&alice, &bob.account_id(), 1).await;
        assert_eq!(at_alice[0].text, "hi Alice");

        // Reading moves Alice's message to Read.
        bob.mark_read(&alice.account_id()).await.unwrap();
        alice
            .wait_state(&first, MessageState::Read, WAIT)
            .await
            .unwrap();
        // Read is read everywhere: nothing of Alice's is new any more.
        assert!(bob.take_unseen().await.unwrap().is_empty());

        // Bob restarts: the recent past is read again (the overlap), and
        // nothing reaches the app twice.
        bob.shutdown().await;
        drop(bob);
        let bob = Messenger::open(&opts(&db)).unwrap();
        connect(&net, &bob).await;
        // A round under load may reach no member (its errors are retried by
        // the next round), so rounds go on until one re-read the overlap;
        // none may bring anything new.
        let deadline = Instant::now() + WAIT;
        loop {
            let n = bob.receive_once(Duration::from_secs(1)).await.unwrap();
            assert_eq!(n, 0);
            if bob.counters().duplicates >= 1 || Instant::now() > deadline {
                break;
            }
        }
        assert_eq!(wait_messages(&bob, &alice.account_id(), 1).await.len(), 1);
        assert!(bob.take_unseen().await.unwrap().is_empty());
        let dupes = bob.counters().duplicates;
        assert!(dupes >= 1, "the overlap should have re-read something");

        // Read receipts off: Delivered still comes, Read does not.
        bob.set_settings(Settings {
            read_receipts: false,
            typing_indicators: true,
            ..Settings::default()
        })
        .unwrap();
        let second = send_sent(&alice, &bob.account_id(), "second").await;
        wait_messages(&bob, &alice.account_id(), 2).await;
        alice
            .wait_state(&second, MessageState::Delivered, WAIT)
            .await
            .unwrap();
        bob.mark_read(&alice.account_id()).await.unwrap();
        let r = alice
            .wait_state(&second, MessageState::Read, Duration::from_secs(5))
            .await;
        assert!(matches!(r, Err(ChatError::NotSent { .. })), "{r:?}");
        let convs = bob.conversations().unwrap();
        assert_eq!(convs.len(), 1);
        assert_eq!(convs[0].unread, 0);
        assert_eq!(convs[0].title, "Alice");

        println!(
            "exchange test: {:?}, bob's duplicates skipped after restart: {dupes}",
            started.elapsed()
        );
        alice.shutdown().await;
        bob.shutdown().await;
    })
    .await
    .expect("the test took too long");
}
