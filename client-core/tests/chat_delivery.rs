//! Delivery tokens in the chat over real nodes (issue 12): a stranger's
//! message goes into the recipient's requests; once accepted, the contact
//! writes into the inbox with the token; a stranger's plain store into the
//! inbox is refused; blocking a contact replaces the token, so the blocked
//! contact's next message lands in the requests, is dropped and is deleted
//! from the swarm.

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

use std::time::Duration;

use chat::{connect, new_user, send_sent, until, wait_messages};
use harness::{TestNet, sotto_client_now, wait_status};
use sotto_client::{Client, ClientError, PathStatus};
use sotto_protocol::AccountId;
use sotto_protocol::namespace::Namespace;
use sotto_protocol::rpc::{Request, StoreRequest};
use sotto_protocol::time::DAY_MS;

/// How many live items the swarm members hold, at most, in `account`'s `ns`.
fn held(net: &TestNet, account: &AccountId, ns: Namespace) -> usize {
    net.running()
        .map(|(_, node)| {
            node.context()
                .store
                .retrieve(account, ns, 0, 0, u32::MAX, sotto_client_now())
                .unwrap()
                .messages
                .len()
        })
        .max()
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn contacts_use_the_token_strangers_the_requests_and_a_block_rotates_it() {
    tokio::time::timeout(Duration::from_secs(150), async {
        let net = TestNet::start(8).await;
        let (_dc, carol) = new_user("Carol");
        let (_ds, stan) = new_user("Stan");
        connect(&net, &carol).await;
        connect(&net, &stan).await;
        let (cid, sid) = (carol.account_id(), stan.account_id());
        until("Carol's token registered", || {
            held(&net, &cid, Namespace::DELIVERY) >= 1
        })
        .await;

        // Stan is a stranger to Carol: his message is a request.
        send_sent(&stan, &cid, "hello, we met yesterday").await;
        until("a request", || carol.requests().unwrap().len() == 1).await;
        assert!(held(&net, &cid, Namespace::REQUESTS) >= 1);
        assert_eq!(held(&net, &cid, Namespace::INBOX), 0);

        // Accepted: Carol's token reaches Stan, his next message goes to
        // the inbox.
        carol.accept_request(&sid).await.unwrap();
        send_sent(&stan, &cid, "thanks").await;
        wait_messages(&carol, &sid, 2).await;
        let mut sent = 2;
        while held(&net, &cid, Namespace::INBOX) == 0 {
            // The token may still be on its way: the next one uses it.
            assert!(sent < 8, "Stan never wrote into Carol's inbox");
            send_sent(&stan, &cid, "and again").await;
            sent += 1;
            wait_messages(&carol, &sid, sent).await;
        }

        // A stranger's plain store into Carol's inbox is refused.
        let mallory = Client::start(net.client_config()).await.unwrap();
        wait_status(&mallory, "ready", |s| matches!(s, PathStatus::Ready { .. })).await;
        let spam = StoreRequest::unsigned(cid, Namespace::INBOX, vec![0x55; 600], DAY_MS);
        let refused = mallory
            .swarm_request(&cid, |_| Request::Store(spam.clone()))
            .await;
        assert!(
            matches!(refused, Err(ClientError::TokenRequired)),
            "{refused:?}"
        );

        // Carol blocks Stan: a new token, so his next message is refused at
        // the inbox, goes to the requests, is dropped as blocked and deleted
        // from the swarm.
        let requests_before = held(&net, &cid, Namespace::REQUESTS);
        carol.block(&sid).await.unwrap();
        until("the old token replaced", || {
            held(&net, &cid, Namespace::DELIVERY) == 1 && carol.pending_sends() == 0
        })
        .await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        until("the old token's item gone", || {
            held(&net, &cid, Namespace::DELIVERY) == 1
        })
        .await;
        send_sent(&stan, &cid, "are you there?").await;
        until("the blocked message counted", || {
            carol.counters().blocked >= 1
        })
        .await;
        until("the blocked message deleted from the swarm", || {
            held(&net, &cid, Namespace::REQUESTS) == requests_before
        })
        .await;
        assert_eq!(carol.messages(&sid, 20).unwrap().len(), sent);

        mallory.shutdown().await;
        carol.shutdown().await;
        stan.shutdown().await;
    })
    .await
    .expect("the test took too long");
}
