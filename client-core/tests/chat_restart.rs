//! A messenger closed with messages still queued sends them after it is
//! opened and connected again; delete-for-everyone and typing reach the peer.

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

use chat::{WAIT, connect, new_user, next_event, opts, until, wait_messages};
use harness::TestNet;
use sotto_client::chat::{ChatError, ChatEvent, MessageState, Messenger};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queued_messages_survive_a_restart() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let started = Instant::now();
        let net = TestNet::start(8).await;
        let (da, alice) = new_user("Alice");
        let (_db, bob) = new_user("Bob");
        let b = bob.account_id();
        alice.add_contact(b, Some("Bobby")).unwrap();
        bob.add_contact(alice.account_id(), None).unwrap();

        // Never connected: both stay queued, and waiting says why.
        let one = alice.send_text(&b, "queued one").await.unwrap();
        let two = alice.send_text(&b, "queued two").await.unwrap();
        let r = alice
            .wait_state(&one, MessageState::Sent, Duration::from_millis(300))
            .await;
        match r {
            Err(ChatError::NotSent { reason }) => {
                assert!(reason.contains("not connected"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        // The process goes away without a shutdown.
        drop(alice);

        let alice = Messenger::open(&opts(&da)).unwrap();
        let queued = alice.messages(&b, 10).unwrap();
        assert_eq!(queued.len(), 2);
        assert!(queued.iter().all(|m| m.state == MessageState::Queued));
        // Bob's bundle must be out before Alice can start a session.
        connect(&net, &bob).await;
        connect(&net, &alice).await;
        for id in [&one, &two] {
            alice
                .wait_state(id, MessageState::Sent, WAIT)
                .await
                .unwrap();
        }
        let got = wait_messages(&bob, &alice.account_id(), 2).await;
        let texts: Vec<&str> = got.iter().map(|m| m.text.as_str()).collect();
        assert!(
            texts.contains(&"queued one") && texts.contains(&"queued two"),
            "{texts:?}"
        );
        assert!(matches!(
            alice.connect(net.client_config()).await,
            Err(ChatError::AlreadyConnected)
        ));

        // Typing, then delete-for-everyone of the first message.
        let mut bob_events = bob.subscribe();
        alice.set_typing(&b, true).await.unwrap();
        let typing = next_event(&mut bob_events, |e| match e {
            ChatEvent::Typing { typing, .. } => Some(*typing),
            _ => None,
        })
        .await;
        assert!(typing);
        alice.delete_for_everyone(&one).await.unwrap();
        next_event(&mut bob_events, |e| match e {
            ChatEvent::Deleted { id, .. } if *id == one => Some(()),
            _ => None,
        })
        .await;
        assert_eq!(bob.messages(&alice.account_id(), 10).unwrap().len(), 1);
        assert_eq!(alice.messages(&b, 10).unwrap().len(), 1);
        // Bob cannot delete Alice's message, and nobody deletes a received one.
        let kept = bob.messages(&alice.account_id(), 10).unwrap()[0].id;
        assert!(matches!(
            bob.delete_for_everyone(&kept).await,
            Err(ChatError::UnknownMessage)
        ));
        until("Alice's second message delivered", || {
            alice.messages(&b, 10).unwrap()[0].state >= MessageState::Delivered
        })
        .await;
        println!("restart test: {:?}", started.elapsed());
        alice.shutdown().await;
        bob.shutdown().await;
    })
    .await
    .expect("the test took too long");
}
