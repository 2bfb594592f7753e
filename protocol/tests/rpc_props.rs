//! Property tests of the RPC encodings: every valid request, response and
//! replication message survives encode → decode unchanged, an account digest
//! does not depend on the order of its items, the anti-entropy merge converges
//! whatever the order, and time checks refuse exactly what is too far ahead.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use sotto_protocol::constants::{
    AUTH_CLOCK_WINDOW_MS, MAX_DIRECTORY_PAGE, MAX_ERROR_MESSAGE_LEN, MAX_HASHES_PER_REQUEST,
    MAX_LISTING_PAGE, MAX_LONG_POLL_MS, MAX_REPLICATION_BATCH, MAX_RETRIEVE_BYTES,
    MAX_RETRY_AFTER_MS, MAX_SWARM_SIZE, MAX_TTL_MS, MIN_TTL_MS,
};
use sotto_protocol::record::SignedNodeRecord;
use sotto_protocol::rpc::response::RetrievedMessage;
use sotto_protocol::rpc::{
    AccountDigest, DeleteRequest, DigestAccumulator, DigestItem, ErrorKind, ExpireRequest,
    ItemState, MAX_WAIT_FOR, MessageHash, NodeRequest, NodeResponse, OwnerAuth, ReadCursor,
    Reconcile, Request, Response, RetrieveRequest, RpcError, StoreProof, StoreRequest,
    StoredMessage, account_digest, merge, reconcile,
};
use sotto_protocol::{AccountId, AccountKey, Namespace, NodeId, UnixMillis};

/// The network every signature here is made for.
const NET: &str = "devnet";
/// A clock at the end of time, at which no timestamp is too far ahead: round trips
/// decode at it, and the time checks have properties of their own.
const END_OF_TIME: UnixMillis = u64::MAX;

const NAMESPACES: [Namespace; 3] = [Namespace::INBOX, Namespace::CONFIG, Namespace::PUBLIC];

fn account() -> impl Strategy<Value = AccountId> {
    (0u8..16).prop_map(|n| AccountKey::from_entropy([n; 16]).account_id())
}

fn namespace() -> impl Strategy<Value = Namespace> {
    prop::sample::select(NAMESPACES.to_vec())
}

fn hash() -> impl Strategy<Value = MessageHash> {
    any::<[u8; 32]>().prop_map(MessageHash)
}

fn cursor() -> impl Strategy<Value = ReadCursor> {
    (any::<u64>(), any::<u64>()).prop_map(|(store, seq)| ReadCursor { store, seq })
}

fn signature() -> impl Strategy<Value = [u8; 64]> {
    (any::<[u8; 32]>(), any::<[u8; 32]>()).prop_map(|(a, b)| {
        let mut s = [0u8; 64];
        s[..32].copy_from_slice(&a);
        s[32..].copy_from_slice(&b);
        s
    })
}

fn auth() -> impl Strategy<Value = OwnerAuth> {
    (any::<u64>(), signature()).prop_map(|(timestamp, signature)| OwnerAuth {
        timestamp,
        signature,
    })
}

/// An auth where the namespace needs one, maybe one otherwise.
fn auth_for(needed: bool) -> BoxedStrategy<Option<OwnerAuth>> {
    if needed {
        auth().prop_map(Some).boxed()
    } else {
        option::of(auth()).boxed()
    }
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 1..=300)
}

fn store() -> impl Strategy<Value = StoreRequest> {
    (account(), namespace(), data(), MIN_TTL_MS..=MAX_TTL_MS).prop_flat_map(
        |(account, namespace, data, ttl_ms)| {
            let needed = namespace.store_needs_owner().unwrap_or(true);
            auth_for(needed).prop_map(move |auth| StoreRequest {
                account,
                namespace,
                data: data.clone(),
                ttl_ms,
                auth,
            })
        },
    )
}

fn retrieve() -> impl Strategy<Value = RetrieveRequest> {
    (
        account(),
        namespace(),
        option::of(cursor()),
        any::<u64>(),
        1..=MAX_RETRIEVE_BYTES as u32,
        0..=MAX_LONG_POLL_MS as u32,
        1..=MAX_WAIT_FOR,
    )
        .prop_flat_map(
            |(account, namespace, after, not_before, max_bytes, wait_ms, wait_for)| {
                let needed = namespace.read_needs_owner().unwrap_or(true);
                auth_for(needed).prop_map(move |auth| RetrieveRequest {
                    account,
                    namespace,
                    after,
                    not_before,
                    max_bytes,
                    wait_ms,
                    wait_for,
                    auth,
                })
            },
        )
}

fn hashes() -> impl Strategy<Value = Vec<MessageHash>> {
    vec(hash(), 1..=MAX_HASHES_PER_REQUEST)
}

fn delete() -> impl Strategy<Value = DeleteRequest> {
    (account(), namespace(), hashes(), auth()).prop_map(|(account, namespace, hashes, auth)| {
        DeleteRequest {
            account,
            namespace,
            hashes,
            auth,
        }
    })
}

fn expire() -> impl Strategy<Value = ExpireRequest> {
    (account(), namespace(), hashes(), any::<u64>(), auth()).prop_map(
        |(account, namespace, hashes, expiry, auth)| ExpireRequest {
            account,
            namespace,
            hashes,
            expiry,
            auth,
        },
    )
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        store().prop_map(Request::Store),
        retrieve().prop_map(Request::Retrieve),
        delete().prop_map(Request::Delete),
        expire().prop_map(Request::Expire),
        account().prop_map(|account| Request::GetSwarm { account }),
        (
            option::of(any::<[u8; 32]>().prop_map(NodeId)),
            1..=MAX_DIRECTORY_PAGE as u16
        )
            .prop_map(|(after, limit)| Request::GetDirectory { after, limit }),
        Just(Request::Ping),
    ]
}

/// A timestamp and an expiry after it, within the shortest and longest TTL.
fn lifetime() -> impl Strategy<Value = (UnixMillis, UnixMillis)> {
    (0..=u64::MAX - MAX_TTL_MS, MIN_TTL_MS..=MAX_TTL_MS).prop_map(|(t, ttl)| (t, t + ttl))
}

fn record() -> impl Strategy<Value = SignedNodeRecord> {
    (vec(any::<u8>(), 0..300), signature())
        .prop_map(|(record, signature)| SignedNodeRecord { record, signature })
}

fn error_kind() -> impl Strategy<Value = ErrorKind> {
    prop_oneof![
        Just(ErrorKind::BadRequest),
        Just(ErrorKind::Unauthorized),
        Just(ErrorKind::ClockSkew),
        vec(record(), 0..=MAX_SWARM_SIZE).prop_map(|swarm| ErrorKind::WrongSwarm { swarm }),
        Just(ErrorKind::QuotaExceeded),
        (0..=MAX_RETRY_AFTER_MS)
            .prop_map(|retry_after_ms| ErrorKind::RateLimited { retry_after_ms }),
        Just(ErrorKind::TooLarge),
        Just(ErrorKind::Unavailable),
        Just(ErrorKind::Timeout),
        Just(ErrorKind::Internal),
    ]
}

fn rpc_error() -> impl Strategy<Value = RpcError> {
    (error_kind(), "\\PC{0,300}", any::<u64>())
        .prop_map(|(kind, message, node_time)| RpcError::new(kind, message, node_time))
}

fn retrieved_page() -> impl Strategy<Value = (Vec<RetrievedMessage>, ReadCursor)> {
    (vec((hash(), data(), lifetime()), 0..=64), cursor()).prop_map(|(raw, cursor)| {
        // A member's order is its own: the messages stay in any order.
        let messages: Vec<_> = raw
            .into_iter()
            .map(|(hash, data, (timestamp, expiry))| RetrievedMessage {
                hash,
                data,
                timestamp,
                expiry,
            })
            .collect();
        (messages, cursor)
    })
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        (hash(), lifetime(), 1..=MAX_SWARM_SIZE as u8).prop_map(
            |(hash, (timestamp, expiry), held_by)| Response::Stored {
                hash,
                timestamp,
                expiry,
                held_by,
                receipts: vec![]
            }
        ),
        (retrieved_page(), any::<bool>()).prop_map(|((messages, cursor), more)| {
            Response::Messages {
                more: more && !messages.is_empty(),
                messages,
                cursor,
            }
        }),
        vec(hash(), 0..=MAX_HASHES_PER_REQUEST).prop_map(|hashes| Response::Deleted { hashes }),
        (vec(hash(), 0..=MAX_HASHES_PER_REQUEST), any::<u64>())
            .prop_map(|(hashes, expiry)| Response::Expired { hashes, expiry }),
        vec(record(), 0..=MAX_SWARM_SIZE).prop_map(|records| Response::Swarm { records }),
        (
            vec(record(), 0..=16),
            option::of(any::<[u8; 32]>().prop_map(NodeId))
        )
            .prop_map(|(records, next)| Response::Directory {
                next: next.filter(|_| !records.is_empty()),
                records,
            }),
        any::<u64>().prop_map(|node_time| Response::Pong { node_time }),
        rpc_error().prop_map(Response::Error),
    ]
}

/// A message in any namespace, with a (random) owner proof where the namespace
/// needs one: the shape is what decode checks; signatures are checked elsewhere.
fn stored_message() -> impl Strategy<Value = StoredMessage> {
    (account(), namespace(), data(), lifetime(), auth()).prop_map(
        |(account, namespace, data, (timestamp, expiry), auth)| {
            let ttl_ms = expiry - timestamp;
            let mut m = StoredMessage::new(account, namespace, data, timestamp, ttl_ms);
            if namespace.store_needs_owner().unwrap_or(true) {
                m.owner = Some(StoreProof { ttl_ms, auth });
            }
            m
        },
    )
}

fn item_state() -> impl Strategy<Value = ItemState> {
    prop_oneof![
        4 => (any::<u64>(), any::<u64>(), option::of(any::<u64>())).prop_map(
            |(timestamp, expiry, shortened)| ItemState::Present {
                timestamp,
                expiry,
                shortened,
            }
        ),
        1 => Just(ItemState::Deleted),
    ]
}

fn digest_item() -> impl Strategy<Value = DigestItem> {
    (hash(), namespace(), item_state()).prop_map(|(hash, namespace, state)| DigestItem {
        hash,
        namespace,
        state,
    })
}

/// States of one hash on three replicas: same hash and namespace, states drawn
/// from a small range so that ties and equal fields happen often.
fn three_replicas() -> impl Strategy<Value = [DigestItem; 3]> {
    let small = || {
        prop_oneof![
            4 => (0u64..4, 0u64..4, option::of(0u64..4)).prop_map(
                |(timestamp, expiry, shortened)| ItemState::Present {
                    timestamp,
                    expiry,
                    shortened,
                }
            ),
            1 => Just(ItemState::Deleted),
        ]
    };
    (hash(), namespace(), small(), small(), small()).prop_map(|(hash, namespace, a, b, c)| {
        [a, b, c].map(|state| DigestItem {
            hash,
            namespace,
            state,
        })
    })
}

fn node_request() -> impl Strategy<Value = NodeRequest> {
    prop_oneof![
        (
            vec(stored_message(), 0..=8),
            vec(delete(), 0..=4),
            vec(expire(), 0..=4)
        )
            .prop_map(|(messages, deletes, expiries)| NodeRequest::Replicate {
                messages,
                deletes,
                expiries,
            }),
        vec((account(), any::<[u8; 32]>(), any::<u32>()), 0..=16).prop_map(|raw| {
            let mut digests: Vec<_> = raw
                .into_iter()
                .map(|(account, digest, count)| AccountDigest {
                    account,
                    digest,
                    count,
                })
                .collect();
            digests.sort_by_key(|d| d.account);
            digests.dedup_by_key(|d| d.account);
            NodeRequest::Digest { digests }
        }),
        (account(), option::of(hash()), 1..=MAX_LISTING_PAGE as u16).prop_map(
            |(account, after, limit)| NodeRequest::List {
                account,
                after,
                limit
            }
        ),
        vec((account(), hash()), 1..=64).prop_map(|hashes| NodeRequest::Fetch { hashes }),
    ]
}

fn node_response() -> impl Strategy<Value = NodeResponse> {
    prop_oneof![
        vec(any::<bool>(), 0..=MAX_REPLICATION_BATCH).prop_map(|held| NodeResponse::Ack {
            held,
            receipts: vec![]
        }),
        vec(account(), 0..=16).prop_map(|mut differing| {
            differing.sort();
            differing.dedup();
            NodeResponse::DigestDiff { differing }
        }),
        (vec(digest_item(), 0..=64), any::<bool>()).prop_map(|(mut items, more)| {
            items.sort_by_key(|i| i.hash);
            items.dedup_by_key(|i| i.hash);
            let more = more && !items.is_empty();
            NodeResponse::Listing { items, more }
        }),
        (
            vec(stored_message(), 0..=8),
            vec(delete(), 0..=4),
            vec(expire(), 0..=4)
        )
            .prop_map(|(messages, deletes, expiries)| NodeResponse::Messages {
                messages,
                deletes,
                expiries,
            }),
        rpc_error().prop_map(NodeResponse::Error),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn requests_round_trip(req in request()) {
        let bytes = req.encode().unwrap();
        let back = Request::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &req);
        prop_assert_eq!(back.encode().unwrap(), bytes);
    }

    #[test]
    fn responses_round_trip(resp in response()) {
        let bytes = resp.encode().unwrap();
        let back = Response::decode(&bytes, END_OF_TIME).unwrap();
        prop_assert_eq!(&back, &resp);
        prop_assert_eq!(back.encode().unwrap(), bytes);
    }

    #[test]
    fn node_requests_round_trip(req in node_request()) {
        let bytes = req.encode().unwrap();
        let back = NodeRequest::decode(&bytes, END_OF_TIME).unwrap();
        prop_assert_eq!(&back, &req);
        prop_assert_eq!(back.encode().unwrap(), bytes);
    }

    #[test]
    fn node_responses_round_trip(resp in node_response()) {
        let bytes = resp.encode().unwrap();
        let back = NodeResponse::decode(&bytes, END_OF_TIME).unwrap();
        prop_assert_eq!(&back, &resp);
        prop_assert_eq!(back.encode().unwrap(), bytes);
    }

    #[test]
    fn error_messages_are_bounded(message in "\\PC{0,400}") {
        let e = RpcError::new(ErrorKind::Internal, message.clone(), 0);
        prop_assert!(e.message.len() <= MAX_ERROR_MESSAGE_LEN);
        prop_assert!(message.starts_with(&e.message));
    }

    #[test]
    fn account_digest_ignores_order(
        (items, shuffled) in vec(digest_item(), 0..64)
            .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle()))
    ) {
        let a = account_digest(items.iter().copied());
        prop_assert_eq!(a, account_digest(shuffled.iter().copied()));
        // Removing the items one by one, in the shuffled order, returns to empty.
        let mut acc = DigestAccumulator::new();
        for i in &items {
            acc.add(i);
        }
        prop_assert_eq!(acc.finish(), a);
        for i in &shuffled {
            acc.remove(i);
        }
        prop_assert_eq!(acc.finish(), account_digest(std::iter::empty()));
    }

    #[test]
    fn merge_is_a_semilattice([a, b, c] in three_replicas()) {
        let m = |x: &DigestItem, y: &DigestItem| merge(Some(x), y);
        // Idempotent, commutative, associative.
        prop_assert_eq!(m(&a, &a), a);
        prop_assert_eq!(m(&a, &b), m(&b, &a));
        prop_assert_eq!(m(&m(&a, &b), &c), m(&a, &m(&b, &c)));
        // Nothing held yet: take the peer's state.
        prop_assert_eq!(merge(None, &a), a);
        // Reconcile fetches exactly when the merge would change something, and
        // never after a merge.
        prop_assert_eq!(reconcile(Some(&a), &b) == Reconcile::Nothing, m(&a, &b) == a);
        prop_assert_eq!(reconcile(None, &a), Reconcile::Fetch);
        prop_assert_eq!(reconcile(Some(&m(&a, &b)), &b), Reconcile::Nothing);
        prop_assert_eq!(reconcile(Some(&m(&a, &b)), &a), Reconcile::Nothing);
    }

    #[test]
    fn three_replicas_converge_in_any_order([a, b, c] in three_replicas()) {
        // Three members, pairwise rounds in two different orders: everyone ends
        // with the same state, the merge of all three.
        let all = merge(Some(&merge(Some(&a), &b)), &c);
        let round = |x: &mut DigestItem, y: &mut DigestItem| {
            let merged = merge(Some(x), y);
            *x = merged;
            *y = merged;
        };
        let (mut x, mut y, mut z) = (a, b, c);
        round(&mut x, &mut y);
        round(&mut y, &mut z);
        round(&mut z, &mut x);
        prop_assert_eq!([x, y, z], [all; 3]);
        let (mut x, mut y, mut z) = (a, b, c);
        round(&mut z, &mut y);
        round(&mut x, &mut z);
        round(&mut y, &mut x);
        prop_assert_eq!([x, y, z], [all; 3]);
        // Deleted wins; otherwise the timestamp never goes back and the owner's
        // earliest shortening is kept.
        match all.state {
            ItemState::Deleted => prop_assert!([a, b, c].iter().any(DigestItem::is_deleted)),
            ItemState::Present { timestamp, shortened, .. } => {
                let present: Vec<_> = [a, b, c]
                    .iter()
                    .filter_map(|i| match i.state {
                        ItemState::Present { timestamp, shortened, .. } => Some((timestamp, shortened)),
                        ItemState::Deleted => None,
                    })
                    .collect();
                prop_assert_eq!(present.len(), 3);
                prop_assert_eq!(Some(timestamp), present.iter().map(|p| p.0).max());
                prop_assert_eq!(shortened, present.iter().filter_map(|p| p.1).min());
            }
        }
        // Equal states have equal digests; digests follow the merge.
        prop_assert_eq!(
            account_digest([x, y].into_iter()),
            account_digest([all, all].into_iter())
        );
    }

    #[test]
    fn the_expiry_never_drops_without_the_owner([a, b] in three_replicas().prop_map(|[a, b, _]| [a, b])) {
        // Without a shortening on either side, a merge never makes a present
        // message expire earlier than it did on either replica.
        if let (
            ItemState::Present { expiry: ea, shortened: None, .. },
            ItemState::Present { expiry: eb, shortened: None, .. },
        ) = (a.state, b.state)
        {
            let merged = merge(Some(&a), &b).effective_expiry().unwrap();
            let owner_ns = a.namespace.store_needs_owner().unwrap_or(true);
            if owner_ns {
                // The whole later replica: its own, owner-signed expiry.
                prop_assert!(merged == ea || merged == eb);
            } else {
                prop_assert_eq!(merged, ea.max(eb));
            }
        }
    }

    #[test]
    fn time_checks_refuse_exactly_the_far_future(
        (messages, cursor) in retrieved_page(),
        now in prop_oneof![Just(0u64), Just(u64::MAX), any::<u64>()],
    ) {
        let more = !messages.is_empty();
        let resp = Response::Messages {
            cursor,
            messages: messages.clone(),
            more,
        };
        let ok = messages.iter().all(|m| {
            m.timestamp <= now.saturating_add(AUTH_CLOCK_WINDOW_MS)
                && m.expiry <= now.saturating_add(MAX_TTL_MS)
        });
        prop_assert_eq!(resp.validate_at(now).is_ok(), ok);
    }

    #[test]
    fn signed_requests_verify(
        n in 0u8..16,
        ns in namespace(),
        payload in data(),
        ttl in MIN_TTL_MS..=MAX_TTL_MS,
        now in 1_000_000u64..4_000_000_000_000,
    ) {
        let key = AccountKey::from_entropy([n; 16]);
        let store = StoreRequest::signed(&key, NET, ns, payload, ttl, now).unwrap();
        let req = Request::Store(store.clone());
        let back = Request::decode(&req.encode().unwrap()).unwrap();
        prop_assert!(back.authorize(NET, now).is_ok());
        prop_assert!(back.authorize("sotto", now).is_err());
        // The message a node keeps carries a proof every replica accepts.
        let kept = store.to_stored(now);
        prop_assert!(kept.validate_at(now).is_ok());
        prop_assert!(kept.verify_owner(NET).is_ok());
        let retrieve = Request::Retrieve(RetrieveRequest::signed(&key, NET, ns, None, 0, now).unwrap());
        prop_assert!(retrieve.authorize(NET, now).is_ok());
    }
}

/// Every single-bit change of a signed request's bytes is caught: it no longer
/// decodes, or its signature no longer verifies.
#[test]
fn every_bit_flip_of_a_signed_request_is_caught() {
    let now = 1_700_000_000_000;
    let key = AccountKey::from_entropy([3; 16]);
    let req = Request::Store(
        StoreRequest::signed(
            &key,
            NET,
            Namespace::CONFIG,
            b"settings".to_vec(),
            MIN_TTL_MS * 100,
            now,
        )
        .unwrap(),
    );
    let bytes = req.encode().unwrap();
    for i in 0..bytes.len() * 8 {
        let mut changed = bytes.clone();
        changed[i / 8] ^= 1 << (i % 8);
        let caught = match Request::decode(&changed) {
            Err(_) => true,
            Ok(r) => r.authorize(NET, now).is_err(),
        };
        assert!(caught, "bit {i} not caught");
    }
}

/// Every single-bit change of a replicated owner message is caught: it no longer
/// decodes, or its store proof no longer verifies. A member cannot alter a
/// profile or a setting on its way through replication.
#[test]
fn every_bit_flip_of_a_replicated_owner_message_is_caught() {
    let now = 1_700_000_000_000;
    let key = AccountKey::from_entropy([4; 16]);
    let m = StoreRequest::signed(
        &key,
        NET,
        Namespace::PUBLIC,
        b"profile".to_vec(),
        MIN_TTL_MS * 100,
        now,
    )
    .unwrap()
    .to_stored(now + 3);
    let push = NodeRequest::Replicate {
        messages: vec![m],
        deletes: vec![],
        expiries: vec![],
    };
    let bytes = push.encode().unwrap();
    NodeRequest::decode(&bytes, now)
        .unwrap()
        .authorize(NET, now)
        .unwrap();
    for i in 0..bytes.len() * 8 {
        let mut changed = bytes.clone();
        changed[i / 8] ^= 1 << (i % 8);
        let caught = match NodeRequest::decode(&changed, now) {
            Err(_) => true,
            Ok(r) => r.authorize(NET, now).is_err(),
        };
        assert!(caught, "bit {i} not caught");
    }
}
