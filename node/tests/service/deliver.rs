//! Deliveries through `Service`: once the owner stores a delivery token's hash,
//! its inbox takes only deliveries with that token, strangers deliver into
//! its requests with postage, and a stranger's flood of requests leaves the
//! contacts' quota and rate untouched (issue 12: "strangers must not be able
//! to lock contacts out of an inbox").

use sotto_node::config::NodeConfig;
use sotto_node::store::charge;
use sotto_protocol::Namespace;
use sotto_protocol::rpc::{
    DeliverRequest, DeliveryToken, ErrorKind, Pass, Request, Response, RetrieveRequest,
    StoreRequest,
};
use sotto_protocol::time::DAY_MS;

use super::support::{NET, Node, Setup, data_of, error_of, inbox_store, node, now, owner};

const TOKEN: DeliveryToken = DeliveryToken([7; 32]);

/// The owner stores `token`'s hash in its delivery namespace.
async fn register(n: &Node, token: DeliveryToken) {
    let req = StoreRequest::signed(
        &owner(),
        NET,
        Namespace::DELIVERY,
        token.delivery_item(now()),
        DAY_MS,
        now(),
    )
    .unwrap();
    let r = n.service.handle(Request::Store(req)).await;
    assert!(matches!(r, Response::Stored { .. }), "{r:?}");
}

fn with_token(data: &[u8], token: DeliveryToken) -> Request {
    Request::Deliver(DeliverRequest::with_token(
        owner().account_id(),
        data.to_vec(),
        DAY_MS,
        token,
    ))
}

fn with_postage(data: &[u8]) -> Request {
    Request::Deliver(DeliverRequest::with_postage(
        owner().account_id(),
        data.to_vec(),
        DAY_MS,
        u64::from(data[0]) << 40,
    ))
}

fn read(ns: Namespace) -> Request {
    Request::Retrieve(RetrieveRequest::signed(&owner(), NET, ns, None, 0, now()).unwrap())
}

#[tokio::test]
async fn an_inbox_with_a_token_takes_only_that_token_and_strangers_go_to_requests() {
    let n = node(Setup::default());
    let a = owner().account_id();
    // Open until the owner stores a token: a plain store and any token go in.
    let r = n.service.handle(inbox_store(a, b"before")).await;
    assert!(matches!(r, Response::Stored { .. }), "{r:?}");
    register(&n, TOKEN).await;

    let plain = error_of(n.service.handle(inbox_store(a, b"plain")).await);
    assert_eq!(plain.kind, ErrorKind::TokenRequired);
    let wrong = error_of(
        n.service
            .handle(with_token(b"wrong", DeliveryToken([8; 32])))
            .await,
    );
    assert_eq!(wrong.kind, ErrorKind::TokenRequired);
    let r = n.service.handle(with_token(b"contact", TOKEN)).await;
    assert!(matches!(r, Response::Stored { .. }), "{r:?}");
    let r = n.service.handle(with_postage(b"stranger")).await;
    assert!(matches!(r, Response::Stored { .. }), "{r:?}");

    // The owner reads each namespace; nothing refused was kept.
    let inbox = data_of(n.service.handle(read(Namespace::INBOX)).await);
    assert_eq!(inbox, vec![b"before".to_vec(), b"contact".to_vec()]);
    let requests = data_of(n.service.handle(read(Namespace::REQUESTS)).await);
    assert_eq!(requests, vec![b"stranger".to_vec()]);
    // The requests are charged apart from the account.
    let usage = n.ctx.store.request_usage(&a).unwrap();
    assert_eq!(
        (usage.messages, usage.bytes),
        (1, charge(b"stranger".len()))
    );
}

#[tokio::test]
async fn requests_need_postage_and_a_token_cannot_open_them() {
    let n = node(Setup::default());
    let a = owner().account_id();
    // A plain store into the requests: refused as a bad request.
    let plain = StoreRequest::unsigned(a, Namespace::REQUESTS, b"x".to_vec(), DAY_MS);
    let e = error_of(n.service.handle(Request::Store(plain)).await);
    assert_eq!(e.kind, ErrorKind::BadRequest);
    // Unpaid postage: refused before the store is touched.
    let mut unpaid = DeliverRequest::with_postage(a, b"y".to_vec(), DAY_MS, 0);
    unpaid.pass = match unpaid.pass {
        Pass::Postage(s) => Pass::Postage(s.wrapping_add(1)),
        p => p,
    };
    let bytes = sotto_protocol::codec::encode("test", &Request::Deliver(unpaid)).unwrap();
    let answer = n.service.handle_bytes(n.ctx.peer_id, &bytes).await;
    let answer = Response::decode(&answer, now()).unwrap();
    // (Passes only if the next stamp happens to pay too: 2^-18.)
    assert_eq!(error_of(answer).kind, ErrorKind::BadRequest);
    assert_eq!(n.ctx.store.request_usage(&a).unwrap().messages, 0);
}

#[tokio::test]
async fn a_strangers_flood_leaves_the_contacts_quota_and_rate() {
    let mut config = NodeConfig::default();
    // A small requests share, and an account rate the contacts' stores below
    // need whole: were requests charged to it, they would be refused.
    config.limits.request_rate_per_minute = 1;
    config.limits.request_burst = 4;
    config.limits.store_rate_per_minute = 1;
    config.limits.store_burst = 8;
    config.store.max_request_bytes = 3 * charge(1000);
    config.store.max_account_bytes = 10 * charge(1000);
    let n = node(Setup {
        config,
        ..Setup::default()
    });
    let a = owner().account_id();
    register(&n, TOKEN).await;

    // The stranger: plain stores into the inbox, then paid requests.
    let mut refused = std::collections::BTreeMap::<&str, u32>::new();
    for i in 0..6u8 {
        let e = error_of(n.service.handle(inbox_store(a, &[i; 1000])).await);
        *refused.entry(e.kind.name()).or_default() += 1;
    }
    for i in 0..6u8 {
        match n.service.handle(with_postage(&[i; 1000])).await {
            Response::Stored { .. } => *refused.entry("stored").or_default() += 1,
            other => *refused.entry(error_of(other).kind.name()).or_default() += 1,
        }
    }
    assert_eq!(refused.get("token_required"), Some(&6), "{refused:?}");
    assert_eq!(refused.get("stored"), Some(&3), "{refused:?}");
    assert_eq!(
        refused.get("quota_exceeded").copied().unwrap_or(0)
            + refused.get("rate_limited").copied().unwrap_or(0),
        3,
        "{refused:?}"
    );
    // The contacts: seven deliveries (the owner's token store took one token
    // of the eight), all taken.
    for i in 0..7u8 {
        let r = n.service.handle(with_token(&[100 + i; 1000], TOKEN)).await;
        assert!(
            matches!(r, Response::Stored { .. }),
            "contact store {i}: {r:?}"
        );
    }
    assert_eq!(n.ctx.store.request_usage(&a).unwrap().messages, 3);
}
