//! Message requests: a stranger's message waits in Requests; accepting makes
//! them a contact and tells them; blocking drops what they send later.

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

use chat::{connect, new_user, next_event, send_sent, until, wait_messages};
use harness::TestNet;
use sotto_client::chat::{ChatError, ChatEvent, MessageState};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_accept_decline_and_block() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let started = Instant::now();
        let net = TestNet::start(8).await;
        let (_dc, carol) = new_user("Carol");
        let (_dm, mallory) = new_user("Mallory");
        let (_ds, stan) = new_user("Stan");
        let mut carol_events = carol.subscribe();
        let mut stan_events = stan.subscribe();
        for m in [&carol, &mallory, &stan] {
            connect(&net, m).await;
        }

        // Stan and Mallory write to Carol, who knows neither.
        let first = send_sent(&stan, &carol.account_id(), "hi, we met at the conference").await;
        let from = next_event(&mut carol_events, |e| match e {
            ChatEvent::Request { from } => Some(*from),
            _ => None,
        })
        .await;
        assert_eq!(from, stan.account_id());
        send_sent(&mallory, &carol.account_id(), "buy cheap watches").await;
        until("two requests", || carol.requests().unwrap().len() == 2).await;
        let reqs = carol.requests().unwrap();
        let stan_req = reqs.iter().find(|r| r.from == stan.account_id()).unwrap();
        assert_eq!(stan_req.first_text, "hi, we met at the conference");
        assert_eq!(stan_req.messages, 1);
        until("Stan's profile", || {
            carol
                .requests()
                .unwrap()
                .iter()
                .any(|r| r.display_name.as_deref() == Some("Stan"))
        })
        .await;
        assert!(carol.contacts().unwrap().is_empty());
        assert!(carol.conversations().unwrap().is_empty());
        let unseen = carol.take_unseen().await.unwrap();
        assert_eq!(unseen.len(), 2);
        assert!(unseen.iter().all(|m| m.request));

        // Accept Stan: he becomes a contact and hears about it.
        carol.accept_request(&stan.account_id()).await.unwrap();
        let accepted = next_event(&mut stan_events, |e| match e {
            ChatEvent::RequestAnswered { by, accepted } if *by == carol.account_id() => {
                Some(*accepted)
            }
            _ => None,
        })
        .await;
        assert!(accepted);
        // The waiting message now counts as delivered.
        stan.wait_state(&first, MessageState::Delivered, chat::WAIT)
            .await
            .unwrap();
        let contacts = carol.contacts().unwrap();
        assert_eq!(contacts.len(), 1);
        assert_eq!(contacts[0].id, stan.account_id());
        assert_eq!(contacts[0].title(), "Stan");
        assert_eq!(carol.resolve("stan").unwrap(), stan.account_id());
        assert!(matches!(
            carol.resolve("nobody"),
            Err(ChatError::UnknownContact(_))
        ));
        let msgs = carol.messages(&stan.account_id(), 10).unwrap();
        assert!(msgs.iter().all(|m| !m.request));
        // Stan's next message is an ordinary one.
        send_sent(&stan, &carol.account_id(), "great").await;
        wait_messages(&carol, &stan.account_id(), 2).await;

        // Block Mallory: her request goes, later messages are dropped.
        carol.block(&mallory.account_id()).await.unwrap();
        assert_eq!(carol.blocked().unwrap(), vec![mallory.account_id()]);
        assert_eq!(carol.requests().unwrap().len(), 0);
        send_sent(&mallory, &carol.account_id(), "still there?").await;
        until("the blocked message counted", || {
            carol.counters().blocked >= 1
        })
        .await;
        assert!(
            carol
                .messages(&mallory.account_id(), 10)
                .unwrap()
                .is_empty()
        );
        assert!(carol.requests().unwrap().is_empty());
        assert!(matches!(
            carol.send_text(&mallory.account_id(), "no").await,
            Err(ChatError::Blocked(_))
        ));

        println!(
            "requests test: {:?}, counters {:?}",
            started.elapsed(),
            carol.counters()
        );
        for m in [&carol, &mallory, &stan] {
            m.shutdown().await;
        }
    })
    .await
    .expect("the test took too long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn decline_tells_the_sender_and_drops_the_request() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let net = TestNet::start(8).await;
        let (_dc, carol) = new_user("Carol");
        let (_ds, stan) = new_user("Stan");
        let mut stan_events = stan.subscribe();
        connect(&net, &carol).await;
        connect(&net, &stan).await;
        send_sent(&stan, &carol.account_id(), "hello?").await;
        until("a request", || carol.requests().unwrap().len() == 1).await;
        carol.decline_request(&stan.account_id()).await.unwrap();
        let accepted = next_event(&mut stan_events, |e| match e {
            ChatEvent::RequestAnswered { accepted, .. } => Some(*accepted),
            _ => None,
        })
        .await;
        assert!(!accepted);
        assert!(carol.requests().unwrap().is_empty());
        assert!(carol.messages(&stan.account_id(), 10).unwrap().is_empty());
        assert!(carol.contacts().unwrap().is_empty());
        assert!(carol.conversations().unwrap().is_empty());
        carol.shutdown().await;
        stan.shutdown().await;
    })
    .await
    .expect("the test took too long");
}
