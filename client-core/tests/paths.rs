//! Paths and onion requests against real service nodes in process.
//!
//! They need sotto-node's onion relay (`/sotto/<net>/onion/1`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{TestNet, wait_status};
use sotto_client::{Account, Client, PathStatus};
use sotto_protocol::namespace::Namespace;
use sotto_protocol::rpc::{Request, Response, RetrieveRequest, StoreRequest};
use sotto_protocol::time::MINUTE_MS;

const LIMIT: Duration = Duration::from_secs(120);

fn store(account: &Account, data: &[u8]) -> impl Fn(u64) -> Request {
    let req = StoreRequest::unsigned(
        account.id(),
        Namespace::INBOX,
        data.to_vec(),
        10 * MINUTE_MS,
    );
    move |_| Request::Store(req.clone())
}

fn retrieve(account: &Account, network: String, wait_ms: u32) -> impl Fn(u64) -> Request + '_ {
    let key = account.key();
    move |now| {
        Request::Retrieve(
            RetrieveRequest::signed(key, &network, Namespace::INBOX, None, wait_ms, now).unwrap(),
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn too_few_nodes_means_offline_and_the_directory_is_verified() {
    tokio::time::timeout(LIMIT, async {
        let net = TestNet::start(3).await;
        let client = Client::start(net.client_config()).await.unwrap();
        while client.directory_len() < 3 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(client.directory_len(), 3);
        tokio::time::sleep(Duration::from_millis(300)).await;
        wait_status(&client, "Offline", |s| *s == PathStatus::Offline).await;
        let account = Account::create();
        let mut mine = client.swarm_of(&account.id());
        let mut theirs = net.swarm(&account.id());
        mine.sort();
        theirs.sort();
        assert_eq!(mine, theirs);
        // No path: a request fails with a typed error instead of waiting.
        let err = client
            .swarm_request(&account.id(), store(&account, b"hi"))
            .await;
        assert!(err.is_err());
        assert!(client.guards().len() <= 2);
        client.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn offline_then_ready_after_nodes_join() {
    tokio::time::timeout(LIMIT, async {
        let mut net = TestNet::start(3).await;
        let client = Client::start(net.client_config()).await.unwrap();
        wait_status(&client, "Offline", |s| *s == PathStatus::Offline).await;
        for _ in 0..5 {
            net.add_node().await;
        }
        net.wait_directories(8).await;
        let ready = wait_status(&client, "Ready", |s| matches!(s, PathStatus::Ready { .. })).await;
        let PathStatus::Ready { hops } = ready else {
            unreachable!()
        };
        for path in &hops {
            assert_eq!(path.len(), 3);
            let mut distinct = path.clone();
            distinct.sort();
            distinct.dedup();
            assert_eq!(distinct.len(), 3);
        }
        client.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_and_long_poll_through_paths() {
    tokio::time::timeout(LIMIT, async {
        let net = TestNet::start(8).await;
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = net.client_config();
        cfg.state_dir = Some(dir.path().to_path_buf());
        let client = Client::start(cfg).await.unwrap();
        wait_status(&client, "Ready", |s| matches!(s, PathStatus::Ready { .. })).await;
        assert!(dir.path().join(sotto_client::paths::GUARD_FILE).exists());

        let account = Account::create();
        let resp = client
            .swarm_request(&account.id(), store(&account, b"one"))
            .await
            .unwrap();
        let Response::Stored {
            hash, timestamp, ..
        } = resp
        else {
            panic!("{resp:?}")
        };
        let swarm = net.swarm(&account.id());
        let holders = net.holders(&account.id(), &hash);
        assert!(holders.len() >= 2, "{holders:?}");
        assert!(
            holders
                .iter()
                .all(|(n, copies)| swarm.contains(n) && *copies == 1)
        );

        // A long poll after the first message waits for the next one and
        // returns within a second of its store.
        let name = net.params.name.clone();
        let key = account.key();
        let _ = hash;
        let poll = move |now| {
            // A first read of whichever member: by time, after "one".
            let mut r = RetrieveRequest::unsigned(key.account_id(), Namespace::INBOX, None);
            r.not_before = timestamp + 1;
            r.wait_ms = 20_000;
            Request::Retrieve(r.sign(key, &name, now).unwrap())
        };
        let id = account.id();
        let polling = async {
            let page = client.swarm_request(&id, poll).await;
            (page, std::time::Instant::now())
        };
        let storing = async {
            tokio::time::sleep(Duration::from_millis(1_000)).await;
            client
                .swarm_request(&id, store(&account, b"two"))
                .await
                .unwrap();
            std::time::Instant::now()
        };
        let ((page, returned_at), stored_at) = tokio::join!(polling, storing);
        let Response::Messages { messages, .. } = page.unwrap() else {
            panic!()
        };
        assert_eq!(
            messages
                .iter()
                .map(|m| m.data.as_slice())
                .collect::<Vec<_>>(),
            vec![b"two".as_slice()],
            "the poll waited for the new message only"
        );
        let late = returned_at.saturating_duration_since(stored_at);
        assert!(
            late < Duration::from_secs(1),
            "long poll returned {late:?} after the store"
        );
        client.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clock_ten_minutes_off_is_corrected() {
    tokio::time::timeout(LIMIT, async {
        let net = TestNet::start(8).await;
        let mut cfg = net.client_config();
        cfg.clock_offset_ms = 600_000;
        let client = Client::start(cfg).await.unwrap();
        wait_status(&client, "Ready", |s| matches!(s, PathStatus::Ready { .. })).await;
        let account = Account::create();
        client
            .swarm_request(&account.id(), store(&account, b"skewed"))
            .await
            .unwrap();
        // The store is acknowledged once a quorum holds it; the member this
        // read reaches may be one that receives it by replication a moment
        // later, so the read waits for it (a long poll) rather than racing.
        let page = client
            .swarm_request(
                &account.id(),
                retrieve(&account, net.params.name.clone(), 10_000),
            )
            .await
            .unwrap();
        let Response::Messages { messages, .. } = page else {
            panic!("{page:?}")
        };
        assert_eq!(messages.len(), 1);
        let off = client.now().abs_diff(harness::sotto_client_now());
        assert!(off < 60_000, "clock still {off} ms off");
        client.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stopped_relay_is_routed_around_and_nothing_is_lost() {
    tokio::time::timeout(LIMIT, async {
        let mut net = TestNet::start(10).await;
        let client = Client::start(net.client_config()).await.unwrap();
        let ready = wait_status(&client, "Ready", |s| matches!(s, PathStatus::Ready { .. })).await;
        let PathStatus::Ready { hops } = ready else {
            unreachable!()
        };
        // Preferably an account whose swarm avoids the first path, so requests
        // use it; in a network of 10 few swarms exist, and none may avoid it.
        let path = hops[0].clone();
        let account = (0..200)
            .map(|_| Account::create())
            .find(|a| net.swarm(&a.id()).iter().all(|n| !path.contains(n)))
            .unwrap_or_else(Account::create);
        let swarm = net.swarm(&account.id());
        let make = store(&account, b"kept");
        let Response::Stored {
            hash, timestamp, ..
        } = client.swarm_request(&account.id(), &make).await.unwrap()
        else {
            panic!()
        };
        // A relay of a live path outside the swarm, so all 5 members stay up.
        let middle = hops
            .iter()
            .flatten()
            .copied()
            .find(|n| !swarm.contains(n))
            .expect("six relays cannot all be in a swarm of five");
        net.stop(net.index_of(&middle)).await;
        // Requests to a node outside both paths take turns between them: the
        // one through the stopped relay fails and is retried over the other,
        // so every request succeeds, and its path is rebuilt.
        let outside = net
            .slots
            .iter()
            .map(|s| s.node_id)
            .find(|n| !hops.iter().flatten().any(|h| h == n))
            .unwrap();
        for _ in 0..8 {
            let pong = client.request(outside, |_| Request::Ping).await.unwrap();
            assert!(matches!(pong, Response::Pong { .. }), "{pong:?}");
        }
        for _ in 0..3 {
            let again = client.swarm_request(&account.id(), &make).await.unwrap();
            let Response::Stored {
                hash: h,
                timestamp: t,
                ..
            } = again
            else {
                panic!()
            };
            assert_eq!((h, t), (hash, timestamp), "storing again is idempotent");
        }
        wait_status(&client, "rebuilt", |s| match s {
            PathStatus::Ready { hops } => hops.iter().all(|p| !p.contains(&middle)),
            _ => false,
        })
        .await;
        client.swarm_request(&account.id(), &make).await.unwrap();
        let holders = net.holders(&account.id(), &hash);
        assert!(
            holders.len() >= 2 && holders.iter().all(|(_, c)| *c == 1),
            "{holders:?}"
        );
        client.shutdown().await;
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_path_with_a_dead_relay_is_rebuilt_before_any_request() {
    tokio::time::timeout(LIMIT, async {
        let mut net = TestNet::start(10).await;
        let mut config = net.client_config();
        config.path_probe_interval = Duration::from_secs(1);
        let client = Client::start(config).await.unwrap();
        let both = wait_status(
            &client,
            "two ready paths",
            |s| matches!(s, PathStatus::Ready { hops } if hops.len() == 2),
        )
        .await;
        let PathStatus::Ready { hops } = both else {
            unreachable!()
        };
        // The middle relay of the first path: not a guard, so only the
        // probe can find it dead, as no request is made from here on.
        let middle = hops[0][1];
        net.stop(net.index_of(&middle)).await;
        wait_status(
            &client,
            "two paths without the stopped relay",
            |s| match s {
                PathStatus::Ready { hops } => {
                    hops.len() == 2 && hops.iter().all(|p| !p.contains(&middle))
                }
                _ => false,
            },
        )
        .await;
        client.shutdown().await;
    })
    .await
    .expect("test timed out");
}
