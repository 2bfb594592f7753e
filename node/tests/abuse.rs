//! Abuse limits of client RPC (issue 12), through `Service` on a real
//! context: waiting retrieves parked without a task or slot and bounded,
//! no waiting on reads anyone may make, and deletes and expiry changes
//! charged to the account's write rate.

// Helpers outside `#[test]` functions fail loudly too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

// Shared with tests/service.rs, which uses all of it.
#[allow(dead_code)]
#[path = "service/support.rs"]
mod support;

use std::time::Duration;

use libp2p::PeerId;
use sotto_node::config::NodeConfig;
use sotto_protocol::rpc::{
    DeleteRequest, ErrorKind, ExpireRequest, MessageHash, Request, Response, RetrieveRequest,
};
use sotto_protocol::time::HOUR_MS;
use sotto_protocol::{AccountKey, Namespace};
use support::{NET, Setup, data_of, error_of, inbox_store, node, now, owner, retrieve};
use tokio::sync::oneshot;

/// Generous: the tests wait on outcomes, never on time.
const DEADLINE: Duration = Duration::from_secs(60);

/// Sends `req` through the RPC entry point the swarm task uses; returns
/// whether it was parked and where its answer arrives.
async fn send(n: &support::Node, req: &Request) -> (bool, oneshot::Receiver<Response>) {
    let (tx, rx) = oneshot::channel();
    let bytes = req.encode().unwrap();
    let parked = n
        .service
        .handle_bytes_then(PeerId::random(), &bytes, move |out| {
            let _ = tx.send(Response::decode(&out, now()).unwrap());
        })
        .await;
    (parked, rx)
}

async fn answer(rx: oneshot::Receiver<Response>) -> Response {
    tokio::time::timeout(DEADLINE, rx).await.unwrap().unwrap()
}

#[tokio::test]
async fn a_waiting_retrieve_is_parked_and_woken_by_a_store() {
    let n = node(Setup::default());
    let key = owner();
    let (parked, mut rx) = send(&n, &retrieve(&key, 20_000, now())).await;
    assert!(parked, "an empty signed retrieve with wait_ms is parked");
    assert_eq!(n.ctx.waiters.len(), 1);
    assert!(rx.try_recv().is_err(), "not answered yet");
    let stored = n
        .service
        .handle(inbox_store(key.account_id(), b"wake up"))
        .await;
    assert!(matches!(stored, Response::Stored { .. }), "{stored:?}");
    assert_eq!(data_of(answer(rx).await), vec![b"wake up".to_vec()]);
    assert_eq!(n.ctx.waiters.len(), 0);
    assert_eq!(n.ctx.metrics.requests.get("retrieve", "ok"), 1);
}

#[tokio::test]
async fn a_parked_retrieve_ends_empty_at_its_deadline() {
    let n = node(Setup::default());
    let (parked, rx) = send(&n, &retrieve(&owner(), 200, now())).await;
    assert!(parked);
    assert!(data_of(answer(rx).await).is_empty());
    assert_eq!(n.ctx.waiters.len(), 0);
}

#[tokio::test]
async fn full_waiters_answer_rate_limited_not_an_empty_page() {
    let mut config = NodeConfig::default();
    config.limits.max_long_polls = 2;
    let n = node(Setup {
        config,
        ..Setup::default()
    });
    let key = owner();
    let mut held = Vec::new();
    for _ in 0..2 {
        let (parked, rx) = send(&n, &retrieve(&key, 20_000, now())).await;
        assert!(parked);
        held.push(rx);
    }
    // Through the in-process entry the relay uses too: answered at once, with
    // a typed refusal the client backs off on (before: an empty page, and
    // the client asked again at once).
    let r = tokio::time::timeout(DEADLINE, n.service.handle(retrieve(&key, 20_000, now())))
        .await
        .unwrap();
    let e = error_of(r);
    assert!(
        matches!(e.kind, ErrorKind::RateLimited { retry_after_ms } if retry_after_ms > 0),
        "{e:?}"
    );
    assert_eq!(n.ctx.metrics.rejected.get("rpc", "waiters_full"), 1);
    assert_eq!(n.ctx.waiters.len(), 2);
}

#[tokio::test]
async fn one_account_cannot_take_every_waiter() {
    let n = node(Setup::default());
    let key = owner();
    let mut held = Vec::new();
    let mut refused = 0;
    let tries = 2 * sotto_node::service::DEFAULT_MAX_WAITERS_PER_ACCOUNT;
    for _ in 0..tries {
        let (parked, rx) = send(&n, &retrieve(&key, 20_000, now())).await;
        if parked {
            held.push(rx);
        } else {
            refused += 1;
            let e = error_of(answer(rx).await);
            assert!(matches!(e.kind, ErrorKind::RateLimited { .. }), "{e:?}");
        }
    }
    assert_eq!(
        held.len(),
        sotto_node::service::DEFAULT_MAX_WAITERS_PER_ACCOUNT
    );
    assert_eq!(refused, tries - held.len());
}

#[tokio::test]
async fn a_read_anyone_may_make_does_not_wait() {
    let n = node(Setup::default());
    let req = Request::Retrieve(RetrieveRequest {
        account: owner().account_id(),
        namespace: Namespace::PUBLIC,
        after: None,
        not_before: 0,
        max_bytes: 1024,
        wait_ms: 20_000,
        wait_for: 1,
        auth: None,
    });
    let (parked, mut rx) = send(&n, &req).await;
    assert!(!parked, "an unsigned read is answered at once");
    let r = rx.try_recv().expect("answered before the call returned");
    assert!(data_of(r).is_empty());
    assert_eq!(n.ctx.waiters.len(), 0);
}

fn hashes(key: &AccountKey, n: u8) -> Vec<MessageHash> {
    (0..n)
        .map(|i| MessageHash::compute(&key.account_id(), Namespace::INBOX, &[i]))
        .collect()
}

#[tokio::test]
async fn deletes_and_expiry_changes_take_from_the_write_rate() {
    let mut config = NodeConfig::default();
    config.limits.store_rate_per_minute = 1;
    config.limits.store_burst = 8;
    let n = node(Setup {
        config,
        ..Setup::default()
    });
    let key = owner();
    // 64 hashes cost four stores' worth: two such deletes use the burst up.
    for _ in 0..2 {
        let d =
            DeleteRequest::signed(&key, NET, Namespace::INBOX, hashes(&key, 64), now()).unwrap();
        let r = n.service.handle(Request::Delete(d)).await;
        assert!(matches!(r, Response::Deleted { .. }), "{r:?}");
    }
    let d = DeleteRequest::signed(&key, NET, Namespace::INBOX, hashes(&key, 1), now()).unwrap();
    let e = error_of(n.service.handle(Request::Delete(d)).await);
    assert!(matches!(e.kind, ErrorKind::RateLimited { .. }), "{e:?}");
    let x = ExpireRequest::signed(
        &key,
        NET,
        Namespace::INBOX,
        hashes(&key, 1),
        now() + HOUR_MS,
        now(),
    )
    .unwrap();
    let e = error_of(n.service.handle(Request::Expire(x)).await);
    assert!(matches!(e.kind, ErrorKind::RateLimited { .. }), "{e:?}");
    // Stores share the bucket.
    let e = error_of(n.service.handle(inbox_store(key.account_id(), b"x")).await);
    assert!(matches!(e.kind, ErrorKind::RateLimited { .. }), "{e:?}");
    assert_eq!(n.ctx.metrics.rejected.get("rpc", "rate_limited"), 3);
}
