//! A client given the bootstrap nodes of another network says so at once, by
//! name, instead of retrying into silence (issue 11, item 1): the nodes of
//! the in-process network are on `devnet`, the client on `public`.

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

use chat::{new_user, next_event};
use harness::TestNet;
use sotto_client::chat::{ChatError, ChatEvent, MessageState};
use sotto_client::directory::WrongNetwork;
use sotto_client::{Account, Client, ClientError};
use sotto_protocol::NetworkParams;
use sotto_protocol::rpc::Request;

/// Bound of the whole test.
const LIMIT: Duration = Duration::from_secs(150);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bootstrap_nodes_of_another_network_are_named() {
    tokio::time::timeout(LIMIT, async {
        let net = TestNet::start(4).await;
        let expected = WrongNetwork {
            ours: NetworkParams::public().name,
            theirs: Some(net.params.name.clone()),
        };
        assert_ne!(
            expected.ours, net.params.name,
            "the test needs two networks"
        );

        let mut config = net.client_config();
        config.params = NetworkParams::public();
        let client = Client::start(config.clone()).await.unwrap();
        let found = client
            .wrong_network()
            .wait_for(Option::is_some)
            .await
            .unwrap()
            .clone();
        assert_eq!(found, Some(expected.clone()));
        // A request fails with it too, not with "no path".
        let account = Account::create().id();
        let err = client
            .swarm_request(&account, |_| Request::Ping)
            .await
            .unwrap_err();
        assert_eq!(err, ClientError::WrongNetwork(expected.clone()));
        client.shutdown().await;

        // Through the chat library: waiting for a message to be sent ends
        // with the reason (an event too), and the message stays queued.
        let (_dir, ann) = new_user("Ann");
        let mut events = ann.subscribe();
        ann.connect(config).await.unwrap();
        let id = ann.send_text(&account, "hello?").await.unwrap();
        let err = ann
            .wait_state(&id, MessageState::Sent, LIMIT)
            .await
            .unwrap_err();
        match err {
            ChatError::WrongNetwork(w) => assert_eq!(w, expected),
            other => panic!("expected the wrong network, got {other}"),
        }
        let event = next_event(&mut events, |e| match e {
            ChatEvent::WrongNetwork(w) => Some(w.clone()),
            _ => None,
        })
        .await;
        assert_eq!(event, expected);
        assert_eq!(ann.wrong_network(), Some(expected));
        let queued = ann.messages(&account, 10).unwrap();
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].state, MessageState::Queued);
        ann.shutdown().await;

        // A client on the nodes' own network gets their directory and no
        // such complaint.
        let right = Client::start(net.client_config()).await.unwrap();
        while right.directory_len() == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(*right.wrong_network().borrow(), None);
        right.shutdown().await;
    })
    .await
    .expect("the test ran past its bound");
}
