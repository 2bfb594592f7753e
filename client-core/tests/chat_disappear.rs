//! Disappearing messages: after-send and after-read timers remove messages on
//! both sides; the swarm's copy of an after-send message carries the preset
//! TTL above the timer (never the timer itself, which would mark the
//! conversation), and a read shortens an after-read message's copies.

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

use chat::{connect, new_user, next_event, send_sent, stored_expiries, until, wait_messages};
use harness::{TestNet, sotto_client_now};
use sotto_client::chat::{ChatEvent, Disappearing};

/// The shortest timer the protocol allows (a node's shortest TTL).
const TIMER: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn timers_remove_messages_on_both_sides_and_in_the_swarm() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let started = Instant::now();
        let net = TestNet::start(8).await;
        let (_da, alice) = new_user("Alice");
        let (_db, bob) = new_user("Bob");
        alice.add_contact(bob.account_id(), None).unwrap();
        bob.add_contact(alice.account_id(), None).unwrap();
        let mut bob_events = bob.subscribe();
        let mut alice_events = alice.subscribe();
        connect(&net, &alice).await;
        connect(&net, &bob).await;
        let (a, b) = (alice.account_id(), bob.account_id());

        // After-send: both copies carry the timer; the swarm's TTL is the
        // smallest preset that holds it (1 h), not the timer.
        alice
            .set_disappearing(&b, Disappearing::AfterSend(TIMER))
            .await
            .unwrap();
        let mode = next_event(&mut bob_events, |e| match e {
            ChatEvent::DisappearingChanged { peer, mode } if *peer == a => Some(*mode),
            _ => None,
        })
        .await;
        assert_eq!(mode, Disappearing::AfterSend(TIMER));
        assert_eq!(
            bob.disappearing(&a).unwrap(),
            Disappearing::AfterSend(TIMER)
        );
        let before = sotto_client_now();
        let id = send_sent(&alice, &b, "self-destructs").await;
        let got = wait_messages(&bob, &a, 1).await;
        assert!(got[0].expires_at.is_some());
        let after = sotto_client_now();
        let hour = 3_600_000;
        let preset: Vec<u64> = stored_expiries(&net, &b)
            .into_iter()
            .filter(|e| *e >= before + hour - 5_000 && *e <= after + hour + 5_000)
            .collect();
        assert!(!preset.is_empty(), "no stored copy has the 1 h preset");
        assert!(
            stored_expiries(&net, &b)
                .into_iter()
                .all(|e| e > after + TIMER.as_millis() as u64 + 60_000),
            "a stored copy carries the exact timer"
        );
        next_event(&mut bob_events, |e| match e {
            ChatEvent::Deleted { id: d, .. } if *d == id => Some(()),
            _ => None,
        })
        .await;
        next_event(&mut alice_events, |e| match e {
            ChatEvent::Deleted { id: d, .. } if *d == id => Some(()),
            _ => None,
        })
        .await;
        assert!(bob.messages(&a, 10).unwrap().is_empty());
        assert!(alice.messages(&b, 10).unwrap().is_empty());
        let after_send = started.elapsed();

        // After-read: nothing runs until Bob reads; then his copy, the swarm's
        // copies and Alice's copy (on the read receipt) follow the timer.
        alice
            .set_disappearing(&b, Disappearing::AfterRead(TIMER))
            .await
            .unwrap();
        until("Bob has the after-read timer", || {
            bob.disappearing(&a).unwrap() == Disappearing::AfterRead(TIMER)
        })
        .await;
        send_sent(&alice, &b, "read me once").await;
        let got = wait_messages(&bob, &a, 1).await;
        assert_eq!(got[0].expires_at, None);
        let soon = |net: &TestNet| {
            let limit = sotto_client_now() + TIMER.as_millis() as u64 + 5_000;
            stored_expiries(net, &b)
                .into_iter()
                .filter(|e| *e <= limit)
                .count()
        };
        assert_eq!(soon(&net), 0, "nothing should expire soon before reading");
        bob.mark_read(&a).await.unwrap();
        assert!(bob.messages(&a, 10).unwrap()[0].expires_at.is_some());
        until("a stored copy's expiry shortened", || soon(&net) >= 1).await;
        until("Alice's copy has the timer", || {
            alice
                .messages(&b, 10)
                .unwrap()
                .first()
                .is_some_and(|m| m.expires_at.is_some())
        })
        .await;
        until("both copies gone", || {
            bob.messages(&a, 10).unwrap().is_empty() && alice.messages(&b, 10).unwrap().is_empty()
        })
        .await;
        println!(
            "disappearing test: after-send part {after_send:?}, whole {:?}",
            started.elapsed()
        );
        alice.shutdown().await;
        bob.shutdown().await;
    })
    .await
    .expect("the test took too long");
}
