//! A pair of long polls (`reader::PollPair`) against real service nodes in
//! process, through onion paths: each message answers one of the two polls,
//! and the other, already parked, answers the next one without a new poll.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/harness.rs"]
mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::{TestNet, wait_status};
use sotto_client::reader::{PollPair, ReadCursors};
use sotto_client::{Client, PathStatus};
use sotto_protocol::namespace::Namespace;
use sotto_protocol::rpc::{Request, Response, StoreRequest};
use sotto_protocol::time::MINUTE_MS;
use sotto_protocol::{AccountId, AccountKey, NodeId};

const LIMIT: Duration = Duration::from_secs(120);
/// How long a step may take on a loaded machine: a bound, not a figure.
const STEP: Duration = Duration::from_secs(30);

async fn store(client: &Client, account: AccountId, data: &[u8]) {
    let req = StoreRequest::unsigned(account, Namespace::INBOX, data.to_vec(), 10 * MINUTE_MS);
    let r = client
        .swarm_request(&account, move |_| Request::Store(req.clone()))
        .await
        .unwrap();
    assert!(matches!(r, Response::Stored { .. }), "{r:?}");
}

/// Waits until `node` holds `n` parked retrieves, or fails after [`STEP`].
async fn wait_parked(net: &TestNet, node: usize, n: usize) {
    let waiters = || net.node(node).unwrap().context().waiters.len();
    tokio::time::timeout(STEP, async {
        while waiters() != n {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("node {node} holds {} waiters, not {n}", waiters()));
}

fn data(messages: &[sotto_protocol::rpc::RetrievedMessage]) -> Vec<&[u8]> {
    messages.iter().map(|m| m.data.as_slice()).collect()
}

/// A network of eight nodes, a client with a ready path, and an account
/// whose first swarm member the pair follows.
struct Setup {
    net: TestNet,
    client: Arc<Client>,
    key: Arc<AccountKey>,
    member: NodeId,
    /// The member's index in `net`.
    at: usize,
}

impl Setup {
    async fn start(seed: u8) -> Self {
        let net = TestNet::start(8).await;
        let client = Arc::new(Client::start(net.client_config()).await.unwrap());
        wait_status(&client, "Ready", |s| matches!(s, PathStatus::Ready { .. })).await;
        let key = Arc::new(AccountKey::from_entropy([seed; 16]));
        let member = net.swarm(&key.account_id())[0];
        let at = net.index_of(&member);
        Self {
            net,
            client,
            key,
            member,
            at,
        }
    }

    /// A pair following the account in `namespace` from its start.
    fn pair(&self, namespace: Namespace) -> PollPair {
        PollPair::new(
            self.client.clone(),
            &self.net.params.name,
            self.key.clone(),
            namespace,
            self.member,
            &ReadCursors::new(),
            20_000,
        )
    }

    /// Drops `pair` and shuts the client down (the pair held it).
    async fn finish(self, pair: PollPair) {
        drop(pair);
        let Ok(client) = Arc::try_unwrap(self.client) else {
            panic!("the pair still holds the client")
        };
        client.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_poll_answers_each_message_and_the_other_is_already_out_for_the_next() {
    tokio::time::timeout(LIMIT, async {
        let setup = Setup::start(7).await;
        let (net, client, at) = (&setup.net, &setup.client, setup.at);
        let account = setup.key.account_id();
        let mut pair = setup.pair(Namespace::INBOX);
        // Nothing is there: the pair posts its two polls and they park.
        assert!(
            tokio::time::timeout(Duration::from_millis(300), pair.next())
                .await
                .is_err()
        );
        wait_parked(net, at, 2).await;

        store(client, account, b"one").await;
        let got = tokio::time::timeout(STEP, pair.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(data(&got), vec![b"one".as_slice()]);
        // The poll that waited for two messages read one and parked again:
        // it is out for the next message while no new poll has been posted
        // (the pair posts again only when asked for more).
        wait_parked(net, at, 1).await;

        store(client, account, b"two").await;
        // The parked poll answers it: nothing is left at the member, and
        // still no new poll was posted.
        wait_parked(net, at, 0).await;
        let got = tokio::time::timeout(STEP, pair.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            data(&got),
            vec![b"two".as_slice()],
            "the old poll's answer holds \"one\" too; the pair hands it over once"
        );
        // Asked for more, the pair is out with two polls again.
        assert!(
            tokio::time::timeout(Duration::from_millis(300), pair.next())
                .await
                .is_err()
        );
        wait_parked(net, at, 2).await;

        setup.finish(pair).await;
    })
    .await
    .unwrap();
}

/// A member that answers at once with nothing new (reads of the public
/// namespace never wait) does not make the pair send requests as fast as
/// paths carry them: each slot goes out again a second after the last.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn polls_answered_at_once_with_nothing_new_go_out_once_a_second() {
    tokio::time::timeout(LIMIT, async {
        let setup = Setup::start(8).await;
        let retrieves = || {
            setup
                .net
                .node(setup.at)
                .unwrap()
                .context()
                .metrics
                .requests
                .get("retrieve", "ok")
        };
        let before = retrieves();
        let mut pair = setup.pair(Namespace::PUBLIC);
        let ran = std::time::Instant::now();
        assert!(
            tokio::time::timeout(Duration::from_millis(3_500), pair.next())
                .await
                .is_err()
        );
        let seconds = ran.elapsed().as_secs() + 1;
        let sent = retrieves() - before;
        // Two slots, each at most once a second from the start.
        assert!(sent >= 2, "the pair posted {sent} polls");
        assert!(
            sent <= 2 * seconds,
            "{sent} polls in about {seconds} s: not held back"
        );
        setup.finish(pair).await;
    })
    .await
    .unwrap();
}
