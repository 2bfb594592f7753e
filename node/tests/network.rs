//! Multi-node behaviour of real nodes over libp2p's memory transport
//! (DESIGN §12, level 3): replication to the whole swarm, repair after
//! downtime, handoff to new members, deletes that stay deleted, long polls.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::field_reassign_with_default
)]

#[path = "support/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::StreamExt;
use harness::{TestNet, now};
use rand::prelude::*;
use sotto_protocol::rpc::{
    DeleteRequest, MessageHash, Request, Response, RetrieveRequest, StoreRequest, count_receipts,
};
use sotto_protocol::{AccountId, AccountKey, Namespace};

const TTL: u64 = 3_600_000;

fn account(i: u32) -> AccountKey {
    let mut e = [0u8; 16];
    e[..4].copy_from_slice(&i.to_be_bytes());
    e[15] = 0xA5;
    AccountKey::from_entropy(e)
}

/// How many messages `node` holds for `account`.
fn held(net: &TestNet, i: usize, account: &AccountId) -> u64 {
    net.node(i).context().store.usage(account).unwrap().messages
}

/// Waits (bounded) until `check` holds, converging the network between tries.
async fn converge_until(net: &TestNet, what: &str, check: impl Fn(&TestNet) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if check(net) {
            return;
        }
        assert!(Instant::now() < deadline, "did not converge: {what}");
        net.converge().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thousand_messages_reach_every_swarm_member_and_no_one_else() {
    tokio::time::timeout(Duration::from_secs(240), async {
        let net = TestNet::start(12).await;
        let client = net.client().await;
        let accounts: Vec<AccountId> = (0..50).map(|i| account(i).account_id()).collect();
        let peers: Vec<_> = net.slots.iter().map(|s| s.peer).collect();
        let mut rng = StdRng::seed_from_u64(7);
        let jobs: Vec<_> = (0..1000u32)
            .map(|i| {
                let a = accounts[(i % 50) as usize];
                let entry = *peers.choose(&mut rng).unwrap();
                let data = format!("message {i}").into_bytes();
                (
                    a,
                    entry,
                    StoreRequest::unsigned(a, Namespace::INBOX, data, TTL),
                )
            })
            .collect();
        let results: Vec<(AccountId, Response)> = futures::stream::iter(jobs)
            .map(|(a, entry, req)| {
                let client = &client;
                async move { (a, client.store(entry, req).await) }
            })
            .buffer_unordered(16)
            .collect()
            .await;
        for (a, r) in &results {
            match r {
                // The entry member's word, and the members' own: a quorum of
                // distinct swarm members signed for each message.
                Response::Stored {
                    held_by,
                    hash,
                    receipts,
                    ..
                } => {
                    assert!(*held_by >= 2, "{r:?}");
                    let swarm = net.swarm(a);
                    let signed = count_receipts(receipts, &net.params.name, a, hash, &swarm);
                    assert!(signed >= 2, "{signed} receipts of members: {r:?}");
                }
                other => panic!("store failed: {other:?}"),
            }
        }
        let swarms: BTreeMap<AccountId, Vec<usize>> = accounts
            .iter()
            .map(|a| (*a, net.swarm(a).iter().map(|n| net.index_of(n)).collect()))
            .collect();
        converge_until(&net, "every member holds 20 messages per account", |net| {
            swarms
                .iter()
                .all(|(a, members)| members.iter().all(|i| held(net, *i, a) == 20))
        })
        .await;
        // Past the handoff grace, no node outside a swarm holds its data.
        tokio::time::sleep(Duration::from_millis(net.params.handoff_grace_ms + 500)).await;
        net.converge().await;
        for (a, members) in &swarms {
            for i in 0..net.slots.len() {
                let n = held(&net, i, a);
                if members.contains(&i) {
                    assert_eq!(n, 20, "member {i} of {a}");
                } else {
                    assert_eq!(n, 0, "non-member {i} of {a}");
                }
            }
        }
    })
    .await
    .expect("test took too long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn members_that_were_down_catch_up_after_restart() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mut net = TestNet::start(7).await;
        let key = account(1000);
        let a = key.account_id();
        let swarm: Vec<usize> = net.swarm(&a).iter().map(|n| net.index_of(n)).collect();
        assert_eq!(swarm.len(), 5);
        let (down, up) = swarm.split_at(2);
        for i in down {
            net.stop(*i).await;
        }
        let client = net.client().await;
        let req = StoreRequest::unsigned(a, Namespace::INBOX, b"while you were out".to_vec(), TTL);
        let resp = client.store(net.slots[up[0]].peer, req).await;
        assert!(
            matches!(resp, Response::Stored { held_by, .. } if held_by >= 2),
            "{resp:?}"
        );
        for i in down {
            net.restart(*i).await;
        }
        net.wait_directories(7).await;
        converge_until(&net, "restarted members hold the message", |net| {
            down.iter().all(|i| held(net, *i, &a) == 1)
        })
        .await;
    })
    .await
    .expect("test took too long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn joining_member_receives_data_and_deleted_message_stays_deleted() {
    tokio::time::timeout(Duration::from_secs(180), async {
        let mut net = TestNet::start(6).await;
        let client = net.client().await;
        let keys: Vec<AccountKey> = (0..20).map(|i| account(2000 + i)).collect();
        let mut deleted = Vec::new();
        for key in &keys {
            let a = key.account_id();
            let entry = net.slots[0].peer;
            let mut hashes = Vec::new();
            for j in 0..3u8 {
                let req = StoreRequest::unsigned(a, Namespace::INBOX, vec![j; 40], TTL);
                match client.store(entry, req).await {
                    Response::Stored { hash, .. } => hashes.push(hash),
                    other => panic!("{other:?}"),
                }
            }
            // The owner deletes the first message; deletes go to a swarm member.
            let member = net.swarm(&a)[0];
            let peer = net.slots[net.index_of(&member)].peer;
            let del = DeleteRequest::signed(
                key,
                &net.params.name,
                Namespace::INBOX,
                vec![hashes[0]],
                now(),
            )
            .unwrap();
            let resp = client.rpc(peer, Request::Delete(del)).await;
            assert!(matches!(resp, Response::Deleted { .. }), "{resp:?}");
            deleted.push((a, hashes[0]));
        }
        converge_until(&net, "deletes reach every member", |net| {
            deleted.iter().all(|(a, _)| {
                net.swarm(a)
                    .iter()
                    .all(|n| held(net, net.index_of(n), a) == 2)
            })
        })
        .await;
        // Six more nodes join: some take over accounts' swarms.
        let before: BTreeMap<AccountId, Vec<_>> = keys
            .iter()
            .map(|k| (k.account_id(), net.swarm(&k.account_id())))
            .collect();
        for _ in 0..6 {
            net.add_node().await;
        }
        net.wait_directories(12).await;
        let moved: Vec<AccountId> = before
            .iter()
            .filter(|(a, old)| net.swarm(a) != **old)
            .map(|(a, _)| *a)
            .collect();
        assert!(!moved.is_empty(), "no swarm changed; pick other accounts");
        converge_until(&net, "new members hold their accounts' messages", |net| {
            moved.iter().all(|a| {
                net.swarm(a)
                    .iter()
                    .all(|n| held(net, net.index_of(n), a) == 2)
            })
        })
        .await;
        tokio::time::sleep(Duration::from_millis(net.params.handoff_grace_ms + 500)).await;
        net.converge().await;
        for (a, h) in &deleted {
            let members = net.swarm(a);
            for (i, node) in net.running() {
                let fetched = node.context().store.fetch(&[(*a, *h)], now()).unwrap();
                assert!(
                    fetched.messages.is_empty(),
                    "deleted message came back on node {i}"
                );
                let n = held(&net, i, a);
                if members.contains(&net.slots[i].node_id) {
                    assert_eq!(n, 2, "member {i}");
                } else {
                    assert_eq!(n, 0, "old member {i} still holds {a} after the grace");
                }
            }
        }
    })
    .await
    .expect("test took too long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_poll_over_the_network_returns_within_a_second_of_the_store() {
    tokio::time::timeout(Duration::from_secs(60), async {
        let net = TestNet::start(5).await;
        let client = net.client().await;
        let key = account(3000);
        let a = key.account_id();
        let swarm = net.swarm(&a);
        let reader = net.slots[net.index_of(&swarm[0])].peer;
        let writer = net.slots[net.index_of(&swarm[1])].peer;
        let poll = RetrieveRequest::signed(
            &key,
            &net.params.name,
            Namespace::INBOX,
            None,
            20_000,
            now(),
        )
        .unwrap();
        let poll_client = net.client().await;
        let waiting = tokio::spawn(async move {
            let r = poll_client.rpc(reader, Request::Retrieve(poll)).await;
            (r, Instant::now())
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let stored_at = Instant::now();
        let req = StoreRequest::unsigned(a, Namespace::INBOX, b"ping".to_vec(), TTL);
        let hash = match client.store(writer, req).await {
            Response::Stored { hash, .. } => hash,
            other => panic!("{other:?}"),
        };
        let (resp, returned_at) = waiting.await.unwrap();
        match resp {
            Response::Messages { messages, .. } => {
                assert_eq!(
                    messages
                        .iter()
                        .map(|m| m.hash)
                        .collect::<Vec<MessageHash>>(),
                    vec![hash]
                );
            }
            other => panic!("{other:?}"),
        }
        let after = returned_at.saturating_duration_since(stored_at);
        assert!(
            after < Duration::from_secs(1),
            "long poll returned {after:?} after the store"
        );
    })
    .await
    .expect("test took too long");
}

/// A one-node net whose purge never runs during a test.
async fn lone_node_without_purges() -> TestNet {
    let mut net = sotto_node::localnet::LocalNet::new(harness::params());
    net.base.store.purge_interval_ms = 3_600_000;
    net.add_node().await.unwrap();
    let net = TestNet { net };
    net.wait_directories(1).await;
    net
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn store_gauges_are_true_at_start_and_after_every_store() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mut net = lone_node_without_purges().await;
        let key = account(7);
        let a = key.account_id();
        let store = net.node(0).context().store.clone();
        for i in 0..5u8 {
            let m = sotto_protocol::rpc::StoredMessage::new(
                a,
                Namespace::INBOX,
                vec![i; 50],
                now(),
                TTL,
            );
            store.put(m, now()).unwrap();
        }
        drop(store);
        net.stop(0).await;
        net.restart(0).await;
        // No purge pass has run (its interval is an hour): only the start
        // can have set them.
        let ctx = net.node(0).context().clone();
        let charge = i64::try_from(sotto_node::store::charge(50)).unwrap();
        assert_eq!(ctx.metrics.stored_messages.get(), 5);
        assert_eq!(ctx.metrics.stored_bytes.get(), 5 * charge);
        // A store moves them before its answer (once the node is back in
        // its own directory, so in the account's swarm), whatever the answer says
        // about the quorum (the node alone is the whole swarm here).
        net.wait_directories(1).await;
        let req = StoreRequest::unsigned(a, Namespace::INBOX, b"one more".to_vec(), TTL);
        let answer = net.node(0).service().handle(Request::Store(req)).await;
        let count = i64::try_from(ctx.store.message_count().unwrap()).unwrap();
        assert_eq!(count, 6, "{answer:?}");
        assert_eq!(ctx.metrics.stored_messages.get(), count);
        assert_eq!(
            ctx.metrics.stored_bytes.get(),
            i64::try_from(ctx.store.total_bytes().unwrap()).unwrap()
        );
        let text = ctx.metrics.render();
        assert!(text.contains("\nsotto_stored_messages 6\n"), "{text}");
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_fatal_store_failure_stops_the_node() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let mut net = lone_node_without_purges().await;
        let client = net.client().await;
        let peer = net.slots[0].peer;
        assert!(matches!(
            client.rpc(peer, Request::Ping).await,
            Response::Pong { .. }
        ));
        let ctx = net.node(0).context().clone();
        // Not fatal: a corrupt record concerns one item.
        ctx.store.report(&sotto_node::StoreError::Corrupt {
            tree: "items",
            key: "00".into(),
            reason: "test".into(),
        });
        assert!(ctx.store.failed().is_none());
        // What sled returns once the disk failed under it.
        let io = sotto_node::StoreError::Engine {
            op: "put",
            source: Box::new(sled::Error::Io(std::io::Error::other("disk gone"))),
        };
        ctx.store.report(&io);
        let why = tokio::time::timeout(Duration::from_secs(10), net.node(0).failed())
            .await
            .expect("the node saw the failure");
        assert!(why.contains("disk gone"), "{why}");
        // It answers no request now and has left the network.
        match net.node(0).service().handle(Request::Ping).await {
            Response::Error(e) => {
                assert_eq!(e.kind, sotto_protocol::rpc::ErrorKind::Unavailable);
            }
            other => panic!("{other:?}"),
        }
        tokio::time::timeout(Duration::from_secs(60), async {
            while client.handle.rpc(peer, Request::Ping).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await
        .expect("the node left the network");
        // And its owner can still shut it down cleanly.
        net.stop(0).await;
    })
    .await
    .unwrap();
}
