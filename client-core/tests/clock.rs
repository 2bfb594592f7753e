//! Clients whose device clock is a day off, on real nodes in process: they
//! learn the network's time from the bootstrap node before checking any
//! record, build paths, and store and retrieve through them; their local
//! clock (for timers) stays the device's.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{TestNet, sotto_client_now, wait_status};
use sotto_client::clock::SyncState;
use sotto_client::{Account, Client, PathStatus};
use sotto_protocol::namespace::Namespace;
use sotto_protocol::rpc::{Request, Response, RetrieveRequest, StoreRequest};
use sotto_protocol::time::{DAY_MS, MINUTE_MS};

const LIMIT: Duration = Duration::from_secs(150);
const DAY: i64 = DAY_MS as i64;

/// Starts a client `offset_ms` off, stores a message through a path and
/// reads it back through one, and checks its clocks.
async fn store_and_retrieve(net: &TestNet, offset_ms: i64) {
    let mut cfg = net.client_config();
    cfg.clock_offset_ms = offset_ms;
    let client = Client::start(cfg).await.unwrap();
    wait_status(&client, "Ready", |s| matches!(s, PathStatus::Ready { .. })).await;
    // The corrected clock is the network's, within what the bootstrap
    // node's answer delay explains; the device clock stays where it was.
    let off = client.now().abs_diff(sotto_client_now());
    assert!(off < 30_000, "clock {off} ms off the network's");
    let device = client.device_now().abs_diff(sotto_client_now());
    assert!(
        device.abs_diff(offset_ms.unsigned_abs()) < 30_000,
        "the device clock is left alone: {device}"
    );
    // One bootstrap node: provisional, then refined by the path tests'
    // answers of other nodes.
    assert_ne!(client.clock().sync_state(), SyncState::Unsynced);

    let account = Account::create();
    let store = StoreRequest::unsigned(
        account.id(),
        Namespace::INBOX,
        format!("skewed {offset_ms}").into_bytes(),
        10 * MINUTE_MS,
    );
    let stored = client
        .swarm_request(&account.id(), |_| Request::Store(store.clone()))
        .await
        .unwrap();
    let Response::Stored { timestamp, .. } = stored else {
        panic!("{stored:?}")
    };
    assert!(timestamp.abs_diff(sotto_client_now()) < 60_000);

    // Retrieve is signed: the nodes check its time against theirs. The store
    // was acknowledged once a quorum held it; the member this read reaches
    // may get its copy by replication a moment later, so the read waits for
    // it (a long poll of up to 10 s) rather than racing the push.
    let key = account.key();
    let name = net.params.name.clone();
    let page = client
        .swarm_request(&account.id(), |now| {
            Request::Retrieve(
                RetrieveRequest::signed(key, &name, Namespace::INBOX, None, 10_000, now).unwrap(),
            )
        })
        .await
        .unwrap();
    let Response::Messages { messages, .. } = page else {
        panic!("{page:?}")
    };
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].data, format!("skewed {offset_ms}").into_bytes());
    assert_eq!(client.rejected().get("directory", "bad_record"), 0);
    client.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_a_day_slow_and_a_day_fast_store_and_retrieve_through_paths() {
    tokio::time::timeout(LIMIT, async {
        let net = TestNet::start(8).await;
        store_and_retrieve(&net, -DAY).await;
        store_and_retrieve(&net, DAY).await;
    })
    .await
    .expect("the test took too long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_minutes_slow_uses_keys_its_device_clock_calls_future() {
    // The case that never built a path (60 s slow in the simulator): every
    // node's onion key starts when the node started, in the future by this
    // device's clock, so every record was dropped as keyless until the
    // device clock caught up. 3 min slow: the records themselves pass the
    // protocol's 5 min window, only the keys looked future.
    tokio::time::timeout(LIMIT, async {
        let net = TestNet::start(8).await;
        store_and_retrieve(&net, -3 * MINUTE_MS as i64).await;
    })
    .await
    .expect("the test took too long");
}
