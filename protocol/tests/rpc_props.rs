//! Property tests of the RPC encodings: every valid request, response and
//! replication message survives encode → decode unchanged, and an account digest
//! does not depend on the order of its items.

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use sotto_protocol::constants::{
    MAX_DIRECTORY_PAGE, MAX_ERROR_MESSAGE_LEN, MAX_HASHES_PER_REQUEST, MAX_LISTING_PAGE,
    MAX_LONG_POLL_MS, MAX_RETRIEVE_BYTES, MAX_SWARM_SIZE, MAX_TTL_MS, MIN_TTL_MS,
};
use sotto_protocol::record::SignedNodeRecord;
use sotto_protocol::rpc::replication::Reconcile;
use sotto_protocol::rpc::response::RetrievedMessage;
use sotto_protocol::rpc::{
    AccountDigest, Cursor, DeleteRequest, DigestAccumulator, DigestItem, ErrorKind, ExpireRequest,
    ExpiryUpdate, MessageHash, NodeRequest, NodeResponse, OwnerAuth, Request, Response,
    RetrieveRequest, RpcError, StoreRequest, StoredMessage, Tombstone, account_digest,
};
use sotto_protocol::{AccountId, AccountKey, Namespace, NodeId, UnixMillis};

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

fn cursor() -> impl Strategy<Value = Cursor> {
    (any::<u64>(), hash()).prop_map(|(timestamp, hash)| Cursor { timestamp, hash })
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
        0..=MAX_TTL_MS,
        1..=MAX_RETRIEVE_BYTES as u32,
        0..=MAX_LONG_POLL_MS as u32,
    )
        .prop_flat_map(
            |(account, namespace, after, overlap_ms, max_bytes, wait_ms)| {
                let needed = namespace.read_needs_owner().unwrap_or(true);
                auth_for(needed).prop_map(move |auth| RetrieveRequest {
                    account,
                    namespace,
                    after,
                    overlap_ms,
                    max_bytes,
                    wait_ms,
                    auth,
                })
            },
        )
}

fn hashes() -> impl Strategy<Value = Vec<MessageHash>> {
    vec(hash(), 1..=MAX_HASHES_PER_REQUEST)
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        store().prop_map(Request::Store),
        retrieve().prop_map(Request::Retrieve),
        (account(), namespace(), hashes(), auth()).prop_map(
            |(account, namespace, hashes, auth)| {
                Request::Delete(DeleteRequest {
                    account,
                    namespace,
                    hashes,
                    auth,
                })
            }
        ),
        (account(), namespace(), hashes(), any::<u64>(), auth()).prop_map(
            |(account, namespace, hashes, expiry, auth)| Request::Expire(ExpireRequest {
                account,
                namespace,
                hashes,
                expiry,
                auth,
            })
        ),
        account().prop_map(|account| Request::GetSwarm { account }),
        (
            option::of(any::<[u8; 32]>().prop_map(NodeId)),
            1..=MAX_DIRECTORY_PAGE as u16
        )
            .prop_map(|(after, limit)| Request::GetDirectory { after, limit }),
        Just(Request::Ping),
    ]
}

/// A timestamp and an expiry after it, within the longest TTL.
fn lifetime() -> impl Strategy<Value = (UnixMillis, UnixMillis)> {
    (0..=u64::MAX - MAX_TTL_MS, 1..=MAX_TTL_MS).prop_map(|(t, ttl)| (t, t + ttl))
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
        any::<u64>().prop_map(|retry_after_ms| ErrorKind::RateLimited { retry_after_ms }),
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

fn retrieved_page() -> impl Strategy<Value = (Vec<RetrievedMessage>, Option<Cursor>)> {
    vec((hash(), data(), lifetime()), 0..=64).prop_map(|raw| {
        let mut messages: Vec<_> = raw
            .into_iter()
            .map(|(hash, data, (timestamp, expiry))| RetrievedMessage {
                hash,
                data,
                timestamp,
                expiry,
            })
            .collect();
        messages.sort_by_key(RetrievedMessage::cursor);
        messages.dedup_by_key(|m| m.cursor());
        let cursor = messages.last().map(RetrievedMessage::cursor);
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
                held_by
            }
        ),
        (retrieved_page(), any::<bool>()).prop_map(|((messages, cursor), more)| {
            Response::Messages {
                messages,
                cursor,
                more,
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
            .prop_map(|(records, next)| Response::Directory { records, next }),
        any::<u64>().prop_map(|node_time| Response::Pong { node_time }),
        rpc_error().prop_map(Response::Error),
    ]
}

fn stored_message() -> impl Strategy<Value = StoredMessage> {
    (account(), namespace(), data(), lifetime()).prop_map(
        |(account, namespace, data, (timestamp, expiry))| {
            StoredMessage::new(account, namespace, data, timestamp, expiry - timestamp)
        },
    )
}

fn tombstone() -> impl Strategy<Value = Tombstone> {
    (account(), namespace(), hash(), any::<u64>()).prop_map(|(account, namespace, hash, expiry)| {
        Tombstone {
            account,
            namespace,
            hash,
            expiry,
        }
    })
}

fn digest_item() -> impl Strategy<Value = DigestItem> {
    (hash(), namespace(), any::<u64>(), any::<bool>()).prop_map(
        |(hash, namespace, expiry, deleted)| DigestItem {
            hash,
            namespace,
            expiry,
            deleted,
        },
    )
}

fn node_request() -> impl Strategy<Value = NodeRequest> {
    prop_oneof![
        (
            vec(stored_message(), 0..=8),
            vec(tombstone(), 0..=8),
            vec(tombstone(), 0..=8)
        )
            .prop_map(|(messages, tombstones, updates)| NodeRequest::Replicate {
                messages,
                tombstones,
                expiry_updates: updates
                    .into_iter()
                    .map(|t| ExpiryUpdate {
                        account: t.account,
                        namespace: t.namespace,
                        hash: t.hash,
                        expiry: t.expiry,
                    })
                    .collect(),
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
        any::<u32>().prop_map(|stored| NodeResponse::Ack { stored }),
        vec(account(), 0..=16).prop_map(|mut differing| {
            differing.sort();
            differing.dedup();
            NodeResponse::DigestDiff { differing }
        }),
        (vec(digest_item(), 0..=64), any::<bool>()).prop_map(|(mut items, more)| {
            items.sort_by_key(|i| i.hash);
            items.dedup_by_key(|i| i.hash);
            NodeResponse::Listing { items, more }
        }),
        (vec(stored_message(), 0..=8), vec(tombstone(), 0..=8)).prop_map(
            |(messages, tombstones)| NodeResponse::Messages {
                messages,
                tombstones
            }
        ),
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
        let back = Response::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &resp);
        prop_assert_eq!(back.encode().unwrap(), bytes);
    }

    #[test]
    fn node_requests_round_trip(req in node_request()) {
        let bytes = req.encode().unwrap();
        let back = NodeRequest::decode(&bytes).unwrap();
        prop_assert_eq!(&back, &req);
        prop_assert_eq!(back.encode().unwrap(), bytes);
    }

    #[test]
    fn node_responses_round_trip(resp in node_response()) {
        let bytes = resp.encode().unwrap();
        let back = NodeResponse::decode(&bytes).unwrap();
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
    fn reconcile_both_ways_converges(a in digest_item(), b_state in (any::<u64>(), any::<bool>())) {
        let b = DigestItem { expiry: b_state.0, deleted: b_state.1, ..a };
        let apply = |local: DigestItem, remote: &DigestItem| match sotto_protocol::rpc::replication::reconcile(Some(&local), remote) {
            Reconcile::Nothing | Reconcile::Fetch => local,
            Reconcile::Delete { expiry } => DigestItem { deleted: true, expiry, ..local },
            Reconcile::Shorten { expiry } => DigestItem { expiry, ..local },
        };
        let a2 = apply(a, &b);
        let b2 = apply(b, &a);
        prop_assert_eq!(a2, b2);
        prop_assert_eq!(a2.expiry, a.expiry.min(b.expiry));
        prop_assert_eq!(a2.deleted, a.deleted || b.deleted);
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
        let store = Request::Store(StoreRequest::signed(&key, ns, payload, ttl, now).unwrap());
        let back = Request::decode(&store.encode().unwrap()).unwrap();
        prop_assert!(back.authorize(now).is_ok());
        let retrieve = Request::Retrieve(RetrieveRequest::signed(&key, ns, None, 0, now).unwrap());
        prop_assert!(retrieve.authorize(now).is_ok());
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
            Ok(r) => r.authorize(now).is_err(),
        };
        assert!(caught, "bit {i} not caught");
    }
}
