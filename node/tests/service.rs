//! Client RPC handling through `Service`, on a real context: a sled store in a
//! temporary directory, a directory of real signed node records, the system
//! clock, and a fake pusher that records what it was asked to push.

// Helpers outside `#[test]` functions fail loudly too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// The test crate root sits in `tests/`, so its submodule path is given.
#[path = "service/support.rs"]
mod support;

#[path = "service/chunks.rs"]
mod chunks;

#[path = "service/deliver.rs"]
mod deliver;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use sotto_node::config::NodeConfig;
use sotto_node::context::Push;
use sotto_node::store::{FreeSpace, charge};
use sotto_protocol::constants::MAX_RPC_REQUEST_LEN;
use sotto_protocol::rpc::{
    DeleteRequest, ErrorKind, ExpireRequest, Request, Response, RetrieveRequest, count_receipts,
};
use sotto_protocol::time::{DAY_MS, HOUR_MS, MINUTE_MS};
use sotto_protocol::{AccountKey, Namespace, NetworkParams};
use support::{NET, NODES, Setup, data_of, error_of, inbox_store, node, now, owner, retrieve};

#[tokio::test]
async fn store_then_retrieve_and_restore_is_idempotent() {
    let n = node(Setup::default());
    let key = owner();
    let first = n
        .service
        .handle(inbox_store(key.account_id(), b"hello"))
        .await;
    let Response::Stored {
        hash,
        timestamp,
        expiry,
        held_by,
        receipts,
    } = first
    else {
        panic!("{first:?}")
    };
    assert_eq!(held_by, 5);
    // This node signs for what it holds (its replicas' receipts come from the
    // pusher, a fake here): one valid receipt of a swarm member.
    assert_eq!(receipts.len(), 1);
    assert_eq!(receipts[0].node, n.ctx.node_id);
    let swarm = n.ctx.dir(|d| d.swarm(&key.account_id()));
    assert_eq!(
        count_receipts(&receipts, NET, &key.account_id(), &hash, &swarm),
        1
    );
    assert_eq!(expiry, timestamp + DAY_MS);
    let got = n.service.handle(retrieve(&key, 0, now())).await;
    assert_eq!(data_of(got), vec![b"hello".to_vec()]);

    // The same store later keeps the first timestamp.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let again = n
        .service
        .handle(inbox_store(key.account_id(), b"hello"))
        .await;
    match again {
        Response::Stored {
            hash: h,
            timestamp: t,
            expiry: e,
            ..
        } => assert_eq!((h, t, e), (hash, timestamp, expiry)),
        other => panic!("{other:?}"),
    }
    // Both were pushed (the second so a re-sent store reaches a quorum), with
    // the quorum less this node as the count to wait for.
    let pushes = n.pusher.pushes();
    assert_eq!(pushes.len(), 2);
    for (push, need) in pushes {
        assert_eq!(need, 1);
        match push {
            Push::Store(m) => assert_eq!((m.hash, m.timestamp), (hash, timestamp)),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(n.ctx.metrics.requests.get("store", "ok"), 2);
    assert_eq!(n.ctx.metrics.requests.get("retrieve", "ok"), 1);
}

#[tokio::test]
async fn a_node_outside_the_swarm_points_to_it() {
    let n = node(Setup {
        in_swarm: false,
        ..Setup::default()
    });
    let account = owner().account_id();
    let e = error_of(n.service.handle(inbox_store(account, b"x")).await);
    let ErrorKind::WrongSwarm { swarm } = e.kind else {
        panic!("{e:?}")
    };
    let expected = n.ctx.dir(|d| d.swarm(&account));
    assert_eq!(swarm.len(), expected.len());
    let t = now();
    for signed in &swarm {
        let record = signed.verify(&n.ctx.params, t).unwrap();
        assert!(expected.contains(&record.node));
        assert_ne!(record.node, n.ctx.node_id);
    }
    assert!(n.ctx.store.usage(&account).unwrap().messages == 0);
    assert_eq!(n.ctx.metrics.requests.get("store", "wrong_swarm"), 1);
    // GetSwarm is answered by any node.
    match n.service.handle(Request::GetSwarm { account }).await {
        Response::Swarm { records } => assert_eq!(records, swarm),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn owner_operations_need_the_owner() {
    let n = node(Setup::default());
    let key = owner();
    let thief = AccountKey::from_entropy([2; 16]);
    n.service
        .handle(inbox_store(key.account_id(), b"secret"))
        .await;

    // A retrieve of the owner's inbox signed by another key.
    let mut forged =
        RetrieveRequest::signed(&thief, NET, Namespace::INBOX, None, 0, now()).unwrap();
    forged.account = key.account_id();
    let e = error_of(n.service.handle(Request::Retrieve(forged)).await);
    assert_eq!(e.kind, ErrorKind::Unauthorized, "{e}");
    // No signature at all.
    let bare = RetrieveRequest::unsigned(key.account_id(), Namespace::INBOX, None);
    let e = error_of(n.service.handle(Request::Retrieve(bare)).await);
    assert_eq!(e.kind, ErrorKind::Unauthorized, "{e}");

    // A delete signed by another key.
    let hash =
        sotto_protocol::rpc::MessageHash::compute(&key.account_id(), Namespace::INBOX, b"secret");
    let mut delete =
        DeleteRequest::signed(&thief, NET, Namespace::INBOX, vec![hash], now()).unwrap();
    delete.account = key.account_id();
    let e = error_of(n.service.handle(Request::Delete(delete)).await);
    assert_eq!(e.kind, ErrorKind::Unauthorized, "{e}");
    // A signature for another network.
    let other_net =
        DeleteRequest::signed(&key, "othernet", Namespace::INBOX, vec![hash], now()).unwrap();
    let e = error_of(n.service.handle(Request::Delete(other_net)).await);
    assert_eq!(e.kind, ErrorKind::Unauthorized, "{e}");

    // Nothing was deleted.
    let got = n.service.handle(retrieve(&key, 0, now())).await;
    assert_eq!(data_of(got), vec![b"secret".to_vec()]);
    assert!(n.ctx.metrics.rejected.get("rpc", "unauthorized") >= 4);
    assert_eq!(n.ctx.metrics.requests.get("delete", "unauthorized"), 2);
}

#[tokio::test]
async fn a_skewed_signature_gets_the_node_time() {
    let n = node(Setup::default());
    let key = owner();
    let before = now();
    let e = error_of(
        n.service
            .handle(retrieve(&key, 0, before - 10 * MINUTE_MS))
            .await,
    );
    let after = now();
    assert_eq!(e.kind, ErrorKind::ClockSkew, "{e}");
    assert!((before..=after).contains(&e.node_time), "{e:?}");
    let offset = e.clock_offset_ms(before - 10 * MINUTE_MS);
    assert!(offset >= 10 * MINUTE_MS as i64);
    assert_eq!(n.ctx.metrics.requests.get("retrieve", "clock_skew"), 1);
}

#[tokio::test]
async fn a_long_poll_is_woken_by_a_store() {
    let n = Arc::new(node(Setup::default()));
    let key = owner();
    let poller = {
        let n = n.clone();
        let req = retrieve(&key, 5_000, now());
        tokio::spawn(async move {
            let start = Instant::now();
            let r = n.service.handle(req).await;
            (r, start.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !poller.is_finished(),
        "an empty retrieve with wait_ms waits"
    );
    let stored = n
        .service
        .handle(inbox_store(key.account_id(), b"wake up"))
        .await;
    assert!(matches!(stored, Response::Stored { .. }), "{stored:?}");
    let (r, waited) = tokio::time::timeout(Duration::from_secs(10), poller)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(data_of(r), vec![b"wake up".to_vec()]);
    // Woken by the store, not by the end of its 5 s wait.
    assert!(waited < Duration::from_secs(4), "{waited:?}");
}

/// A signed inbox retrieve that waits `wait_ms` for `wait_for` messages.
fn retrieve_for(key: &AccountKey, wait_ms: u32, wait_for: u8) -> Request {
    let mut req = RetrieveRequest::unsigned(key.account_id(), Namespace::INBOX, None);
    req.wait_ms = wait_ms;
    req.wait_for = wait_for;
    Request::Retrieve(req.sign(key, NET, now()).unwrap())
}

#[tokio::test]
async fn a_poll_that_waits_for_two_messages_is_answered_by_the_second() {
    let n = Arc::new(node(Setup::default()));
    let key = owner();
    let spawn = |req: Request| {
        let n = n.clone();
        tokio::spawn(async move { n.service.handle(req).await })
    };
    let store = |data: &'static [u8]| n.service.handle(inbox_store(key.account_id(), data));
    // The pair a reader keeps: one waits for the next message, the other
    // for the one after it.
    let first = spawn(retrieve_for(&key, 20_000, 1));
    let second = spawn(retrieve_for(&key, 20_000, 2));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(matches!(store(b"one").await, Response::Stored { .. }));
    let r = tokio::time::timeout(Duration::from_secs(10), first).await;
    assert_eq!(data_of(r.unwrap().unwrap()), vec![b"one".to_vec()]);
    // The store woke the second too; it read one message and parked again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        !second.is_finished(),
        "one message does not answer a wait for two"
    );
    assert!(matches!(store(b"two").await, Response::Stored { .. }));
    let r = tokio::time::timeout(Duration::from_secs(10), second).await;
    let mut got = data_of(r.unwrap().unwrap());
    got.sort();
    assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec()]);
}

#[tokio::test]
async fn a_poll_that_waits_for_more_is_answered_with_what_there_is_at_its_end() {
    let n = node(Setup::default());
    let key = owner();
    let stored = n
        .service
        .handle(inbox_store(key.account_id(), b"only"))
        .await;
    assert!(matches!(stored, Response::Stored { .. }));
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        n.service.handle(retrieve_for(&key, 300, 2)),
    )
    .await
    .unwrap();
    assert_eq!(data_of(r), vec![b"only".to_vec()], "not an empty page");
}

// Full waiters: tests/abuse.rs (`full_waiters_answer_rate_limited_not_an_empty_page`).

#[tokio::test]
async fn the_account_quota_refuses_and_keeps_what_it_has() {
    let mut config = NodeConfig::default();
    config.store.max_account_bytes = 3 * charge(100);
    let n = node(Setup {
        config,
        ..Setup::default()
    });
    let key = owner();
    let mut kept = Vec::new();
    for i in 0..3u8 {
        let data = vec![i; 100];
        let r = n.service.handle(inbox_store(key.account_id(), &data)).await;
        assert!(matches!(r, Response::Stored { .. }), "{r:?}");
        kept.push(data);
    }
    let e = error_of(
        n.service
            .handle(inbox_store(key.account_id(), &[9; 100]))
            .await,
    );
    assert_eq!(e.kind, ErrorKind::QuotaExceeded);
    assert!(e.message.contains("account"), "{e}");
    let mut got = data_of(n.service.handle(retrieve(&key, 0, now())).await);
    got.sort();
    assert_eq!(got, kept);
    assert_eq!(n.ctx.metrics.requests.get("store", "quota_exceeded"), 1);
}

/// A disk whose free space the test sets.
#[derive(Debug)]
struct FakeDisk(AtomicU64);

impl FreeSpace for FakeDisk {
    fn available(&self) -> std::io::Result<u64> {
        Ok(self.0.load(Ordering::Relaxed))
    }
}

#[tokio::test]
async fn a_disk_at_its_watermark_refuses_new_stores_and_keeps_what_it_acknowledged() {
    const MIB: u64 = 1 << 20;
    let config = NodeConfig::default();
    let min_free = config.store.min_free_disk_bytes;
    assert_eq!(min_free, 256 * MIB, "the documented default");
    let disk = Arc::new(FakeDisk(AtomicU64::new(min_free + 9 * MIB + MIB / 2)));
    let n = node(Setup {
        config,
        free_space: Some(disk.clone()),
        ..Setup::default()
    });
    let key = owner();
    let account = key.account_id();
    let gauges = || {
        let m = &n.ctx.metrics;
        (m.stored_messages.get(), m.stored_bytes.get())
    };
    // Each store takes a MiB of the fake disk, as sled's log might: ten fit
    // above the watermark, the eleventh does not.
    let mut kept = Vec::new();
    let refused = loop {
        let data = vec![u8::try_from(kept.len()).unwrap(); 1000];
        match n.service.handle(inbox_store(account, &data)).await {
            Response::Stored { .. } => {
                kept.push(data);
                disk.0.fetch_sub(MIB, Ordering::Relaxed);
                // The gauges follow every store at once.
                let count = i64::try_from(kept.len()).unwrap();
                assert_eq!(
                    gauges(),
                    (count, count * i64::try_from(charge(1000)).unwrap())
                );
            }
            Response::Error(e) => break e,
            other => panic!("{other:?}"),
        }
        assert!(kept.len() <= 10, "stored past the watermark");
    };
    assert_eq!(kept.len(), 10);
    assert_eq!(refused.kind, ErrorKind::Unavailable);
    assert!(refused.message.contains("disk nearly full"), "{refused}");
    assert_eq!(n.ctx.metrics.requests.get("store", "unavailable"), 1);
    // Everything acknowledged is still there, and the node still answers a
    // store of a message it holds (it adds nothing to the disk).
    let mut got = data_of(n.service.handle(retrieve(&key, 0, now())).await);
    got.sort();
    assert_eq!(got, kept);
    let again = n.service.handle(inbox_store(account, &kept[3])).await;
    assert!(matches!(again, Response::Stored { .. }), "{again:?}");
    // Deletes still work below the watermark, and free space.
    let hash = sotto_protocol::rpc::MessageHash::compute(&account, Namespace::INBOX, &kept[0]);
    let delete = DeleteRequest::signed(&key, NET, Namespace::INBOX, vec![hash], now()).unwrap();
    let deleted = n.service.handle(Request::Delete(delete)).await;
    assert!(matches!(deleted, Response::Deleted { .. }), "{deleted:?}");
    assert_eq!(gauges().0, 9);
    // Once the disk has room again, stores are taken again.
    disk.0.fetch_add(100 * MIB, Ordering::Relaxed);
    let r = n.service.handle(inbox_store(account, b"room again")).await;
    assert!(matches!(r, Response::Stored { .. }), "{r:?}");
    assert_eq!(gauges().0, 10);
}

#[tokio::test]
async fn the_store_rate_is_limited_per_account() {
    let mut config = NodeConfig::default();
    config.limits.store_rate_per_minute = 1;
    config.limits.store_burst = 3;
    let n = node(Setup {
        config,
        ..Setup::default()
    });
    let account = owner().account_id();
    for i in 0..3u8 {
        let r = n.service.handle(inbox_store(account, &[i])).await;
        assert!(matches!(r, Response::Stored { .. }), "{r:?}");
    }
    let e = error_of(n.service.handle(inbox_store(account, &[3])).await);
    let ErrorKind::RateLimited { retry_after_ms } = e.kind else {
        panic!("{e:?}")
    };
    assert!((1..=60_000).contains(&retry_after_ms), "{retry_after_ms}");
    assert_eq!(n.ctx.store.usage(&account).unwrap().messages, 3);
    assert_eq!(n.ctx.metrics.rejected.get("rpc", "rate_limited"), 1);
    // Reads are not limited.
    let r = n.service.handle(retrieve(&owner(), 0, now())).await;
    assert_eq!(data_of(r).len(), 3);
}

#[tokio::test]
async fn bad_bytes_get_typed_errors() {
    let n = node(Setup::default());
    let peer = n.ctx.peer_id;
    let t = now();
    let good = inbox_store(owner().account_id(), b"fine").encode().unwrap();

    let answer = |bytes: Vec<u8>| {
        let svc = &n.service;
        async move { Response::decode(&svc.handle_bytes(peer, &bytes).await, now()).unwrap() }
    };
    let e = error_of(answer(Vec::new()).await);
    assert_eq!(e.kind, ErrorKind::BadRequest);
    let e = error_of(answer(good[..good.len() - 2].to_vec()).await);
    assert_eq!(e.kind, ErrorKind::BadRequest);
    let e = error_of(answer(vec![0; MAX_RPC_REQUEST_LEN + 1]).await);
    assert_eq!(e.kind, ErrorKind::TooLarge);
    assert!(e.node_time >= t);
    // An unknown variant.
    let e = error_of(answer(vec![200]).await);
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert_eq!(n.ctx.metrics.rejected.get("rpc", "bad_request"), 3);
    assert_eq!(n.ctx.metrics.rejected.get("rpc", "too_large"), 1);
    assert_eq!(n.ctx.metrics.requests.sum_first("undecoded"), 4);
    // The good one still works.
    assert!(matches!(answer(good).await, Response::Stored { .. }));
    assert!(matches!(
        answer(Request::Ping.encode().unwrap()).await,
        Response::Pong { .. }
    ));
}

#[test]
fn random_bytes_never_crash_the_service() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .worker_threads(2)
        .build()
        .unwrap();
    let n = rt.block_on(async { node(Setup::default()) });
    let peer = n.ctx.peer_id;
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512);
    runner
        .run(&strategy, |bytes| {
            let out = rt.block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(30),
                    n.service.handle_bytes(peer, &bytes),
                )
                .await
                .expect("a request without a wait answers at once")
            });
            let response = Response::decode(&out, now()).expect("the answer always decodes");
            // Only bytes that decode as a request get anything but an error.
            if Request::decode(&bytes).is_err() {
                assert!(matches!(response, Response::Error(_)), "{response:?}");
            }
            Ok(())
        })
        .unwrap();
    let handled = n.ctx.metrics.requests.sum_first("undecoded");
    assert!(handled > 0);
}

#[tokio::test]
async fn a_store_short_of_its_quorum_is_kept_and_says_so() {
    let mut params = NetworkParams::devnet();
    params.store_quorum = 2;
    let n = node(Setup {
        acks: 0,
        params,
        ..Setup::default()
    });
    let key = owner();
    let e = error_of(
        n.service
            .handle(inbox_store(key.account_id(), b"kept"))
            .await,
    );
    assert_eq!(e.kind, ErrorKind::Timeout);
    assert!(
        e.message.contains("1 of quorum 2") && e.message.contains("retried"),
        "{e}"
    );
    let got = n.service.handle(retrieve(&key, 0, now())).await;
    assert_eq!(data_of(got), vec![b"kept".to_vec()]);
    assert_eq!(n.ctx.metrics.requests.get("store", "timeout"), 1);
}

#[tokio::test]
async fn deletes_and_expiry_changes_apply_and_are_pushed() {
    let n = node(Setup::default());
    let key = owner();
    let account = key.account_id();
    let hash_of = |r: Response| match r {
        Response::Stored { hash, .. } => hash,
        other => panic!("{other:?}"),
    };
    let a = hash_of(n.service.handle(inbox_store(account, b"a")).await);
    let b = hash_of(n.service.handle(inbox_store(account, b"b")).await);

    let delete = DeleteRequest::signed(&key, NET, Namespace::INBOX, vec![a], now()).unwrap();
    match n.service.handle(Request::Delete(delete.clone())).await {
        Response::Deleted { hashes } => assert_eq!(hashes, vec![a]),
        other => panic!("{other:?}"),
    }
    let expiry = now() + HOUR_MS;
    let expire =
        ExpireRequest::signed(&key, NET, Namespace::INBOX, vec![b], expiry, now()).unwrap();
    match n.service.handle(Request::Expire(expire.clone())).await {
        Response::Expired { hashes, expiry: e } => assert_eq!((hashes, e), (vec![b], expiry)),
        other => panic!("{other:?}"),
    }
    match n.service.handle(retrieve(&key, 0, now())).await {
        Response::Messages { messages, .. } => {
            assert_eq!(messages.len(), 1);
            assert_eq!((messages[0].hash, messages[0].expiry), (b, expiry));
        }
        other => panic!("{other:?}"),
    }
    // A deleted message cannot be stored again.
    let e = error_of(n.service.handle(inbox_store(account, b"a")).await);
    assert_eq!(e.kind, ErrorKind::BadRequest);
    assert!(e.message.contains("deleted by its owner"), "{e}");

    // The pushes run in the background.
    let wanted = [Push::Delete(delete), Push::Expire(expire)];
    tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            let pushes: Vec<Push> = n.pusher.pushes().into_iter().map(|(p, _)| p).collect();
            if wanted.iter().all(|w| pushes.contains(w)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the delete and the expiry change were pushed");
}

#[tokio::test]
async fn directory_pages_and_ping() {
    let n = node(Setup::default());
    let mut seen = Vec::new();
    let mut after = None;
    for _ in 0..10 {
        match n
            .service
            .handle(Request::GetDirectory { after, limit: 3 })
            .await
        {
            Response::Directory { records, next } => {
                assert!(records.len() <= 3);
                seen.extend(records);
                match next {
                    Some(next) => after = Some(next),
                    None => break,
                }
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen.len(), usize::from(NODES));
    let before = now();
    match n.service.handle(Request::Ping).await {
        Response::Pong { node_time } => assert!(node_time >= before),
        other => panic!("{other:?}"),
    }
    // A directory page out of bounds is refused even when built in-process.
    let e = error_of(
        n.service
            .handle(Request::GetDirectory {
                after: None,
                limit: 0,
            })
            .await,
    );
    assert_eq!(e.kind, ErrorKind::BadRequest);
}

#[tokio::test]
async fn huge_configured_limits_are_taken_as_the_most_there_can_be() {
    let mut config = NodeConfig::default();
    config.limits.max_long_polls = usize::MAX;
    config.limits.max_concurrent_requests = usize::MAX;
    config.limits.rate_tracked_accounts = usize::MAX;
    let n = node(Setup {
        config,
        ..Setup::default()
    });
    let r = n
        .service
        .handle(inbox_store(owner().account_id(), b"x"))
        .await;
    assert!(matches!(r, Response::Stored { .. }), "{r:?}");
}
