//! Tests of client requests: round trips, limits, and what a signature covers.

use super::*;
use crate::constants::{AUTH_CLOCK_WINDOW_MS, MAX_MESSAGE_DATA};
use crate::time::{DAY_MS, MINUTE_MS, SECOND_MS};

const NOW: UnixMillis = 1_700_000_000_000;
const NET: &str = "devnet";

fn key(n: u8) -> AccountKey {
    AccountKey::from_entropy([n; 16])
}

fn unknown_namespace() -> Namespace {
    codec::decode("namespace", &[42], 4).unwrap()
}

fn round_trip(req: &Request) -> Request {
    Request::decode(&req.encode().unwrap()).unwrap()
}

#[test]
fn signed_requests_round_trip_and_authorize() {
    let k = key(1);
    let store = Request::Store(
        StoreRequest::signed(&k, NET, Namespace::CONFIG, vec![1; 10], DAY_MS, NOW).unwrap(),
    );
    let retrieve = Request::Retrieve(
        RetrieveRequest::signed(&k, NET, Namespace::INBOX, None, 20_000, NOW).unwrap(),
    );
    let delete = Request::Delete(
        DeleteRequest::signed(&k, NET, Namespace::INBOX, vec![MessageHash([3; 32])], NOW).unwrap(),
    );
    let expire = Request::Expire(
        ExpireRequest::signed(
            &k,
            NET,
            Namespace::INBOX,
            vec![MessageHash([3; 32])],
            NOW,
            NOW,
        )
        .unwrap(),
    );
    for req in [store, retrieve, delete, expire] {
        assert_eq!(round_trip(&req), req);
        req.authorize(NET, NOW).unwrap();
        req.authorize(NET, NOW + 4 * MINUTE_MS).unwrap();
        assert_eq!(req.account(), Some(k.account_id()));
        assert_eq!(req.swarm_account(), Some(k.account_id()));
    }
    let inbox = Request::Store(StoreRequest::unsigned(
        k.account_id(),
        Namespace::INBOX,
        vec![1],
        MIN_TTL_MS,
    ));
    assert_eq!(round_trip(&inbox), inbox);
    inbox.authorize(NET, NOW).unwrap();
    let public = Request::Retrieve(RetrieveRequest::unsigned(
        k.account_id(),
        Namespace::PUBLIC,
        None,
    ));
    public.authorize(NET, NOW).unwrap();
    assert_eq!(Request::Ping.kind(), "ping");
    assert_eq!(
        Request::GetSwarm {
            account: k.account_id()
        }
        .swarm_account(),
        None
    );
}

#[test]
fn store_limits_are_typed_errors() {
    let a = key(1).account_id();
    let over = Request::Store(StoreRequest::unsigned(
        a,
        Namespace::INBOX,
        vec![0; MAX_MESSAGE_DATA + 1],
        DAY_MS,
    ));
    assert_eq!(
        over.validate(),
        Err(Error::TooLarge {
            what: "message data",
            len: MAX_MESSAGE_DATA + 1,
            max: MAX_MESSAGE_DATA
        })
    );
    // The same through the decoder: the bytes are under the request limit, the
    // data is over the message limit.
    let bytes = codec::encode("t", &over).unwrap();
    assert!(matches!(
        Request::decode(&bytes),
        Err(Error::TooLarge {
            what: "message data",
            ..
        })
    ));
    assert!(matches!(
        over.encode(),
        Err(Error::TooLarge {
            what: "message data",
            ..
        })
    ));

    let exactly = Request::Store(StoreRequest::unsigned(
        a,
        Namespace::INBOX,
        vec![0; MAX_MESSAGE_DATA],
        MAX_TTL_MS,
    ));
    assert_eq!(round_trip(&exactly), exactly);

    for ttl in [0, MIN_TTL_MS - 1, MAX_TTL_MS + 1, u64::MAX] {
        let bad = Request::Store(StoreRequest::unsigned(a, Namespace::INBOX, vec![1], ttl));
        assert!(
            matches!(
                bad.validate(),
                Err(Error::OutOfRange { what: "ttl_ms", .. })
            ),
            "ttl {ttl}"
        );
    }
    let empty = Request::Store(StoreRequest::unsigned(a, Namespace::INBOX, vec![], DAY_MS));
    assert!(matches!(empty.validate(), Err(Error::TooShort { .. })));
    // Config and public need the owner to store.
    for ns in [Namespace::CONFIG, Namespace::PUBLIC] {
        let unsigned = Request::Store(StoreRequest::unsigned(a, ns, vec![1], DAY_MS));
        assert!(matches!(
            unsigned.validate(),
            Err(Error::Auth(AuthError::Missing {
                op: OwnerOp::Store,
                ..
            }))
        ));
    }
}

#[test]
fn retrieve_limits_are_typed_errors() {
    let k = key(2);
    let a = k.account_id();
    let mut long = RetrieveRequest::unsigned(a, Namespace::PUBLIC, None);
    long.wait_ms = 25 * 1000 + 1;
    assert!(matches!(
        Request::Retrieve(long.clone()).validate(),
        Err(Error::OutOfRange {
            what: "wait_ms",
            ..
        })
    ));
    long.wait_ms = 25 * 1000;
    Request::Retrieve(long).validate().unwrap();

    for max_bytes in [0, MAX_RETRIEVE_BYTES as u32 + 1] {
        let mut r = RetrieveRequest::unsigned(a, Namespace::PUBLIC, None);
        r.max_bytes = max_bytes;
        assert!(matches!(
            Request::Retrieve(r).validate(),
            Err(Error::OutOfRange {
                what: "max_bytes",
                ..
            })
        ));
    }

    for wait_for in [0, MAX_WAIT_FOR + 1] {
        let mut r = RetrieveRequest::unsigned(a, Namespace::PUBLIC, None);
        r.wait_for = wait_for;
        assert!(matches!(
            Request::Retrieve(r).validate(),
            Err(Error::OutOfRange {
                what: "wait_for",
                ..
            })
        ));
    }

    // The inbox and config are the owner's to read.
    for ns in [Namespace::INBOX, Namespace::CONFIG] {
        let req = Request::Retrieve(RetrieveRequest::unsigned(a, ns, None));
        assert_eq!(
            req.validate(),
            Err(Error::Auth(AuthError::Missing {
                op: OwnerOp::Retrieve,
                namespace: ns.code()
            }))
        );
        let bytes = codec::encode("t", &req).unwrap();
        assert!(matches!(Request::decode(&bytes), Err(Error::Auth(_))));
        assert!(matches!(
            req.authorize(NET, NOW),
            Err(AuthError::Missing { .. })
        ));
    }
}

#[test]
fn unknown_namespace_and_hash_counts() {
    let k = key(3);
    let ns = unknown_namespace();
    let reqs = [
        Request::Store(StoreRequest::unsigned(k.account_id(), ns, vec![1], DAY_MS)),
        Request::Retrieve(RetrieveRequest::unsigned(k.account_id(), ns, None)),
        Request::Delete(DeleteRequest::signed(&k, NET, ns, vec![MessageHash::ZERO], NOW).unwrap()),
        Request::Expire(
            ExpireRequest::signed(&k, NET, ns, vec![MessageHash::ZERO], NOW, NOW).unwrap(),
        ),
    ];
    for req in reqs {
        assert!(
            matches!(
                req.validate(),
                Err(Error::OutOfRange {
                    what: "namespace",
                    ..
                })
            ),
            "{}",
            req.kind()
        );
    }
    for n in [0, MAX_HASHES_PER_REQUEST + 1] {
        let hashes = vec![MessageHash::ZERO; n];
        let del = Request::Delete(
            DeleteRequest::signed(&k, NET, Namespace::INBOX, hashes.clone(), NOW).unwrap(),
        );
        assert!(matches!(
            del.validate(),
            Err(Error::OutOfRange { what: "hashes", .. })
        ));
        let exp = Request::Expire(
            ExpireRequest::signed(&k, NET, Namespace::INBOX, hashes, NOW, NOW).unwrap(),
        );
        assert!(matches!(
            exp.validate(),
            Err(Error::OutOfRange { what: "hashes", .. })
        ));
    }
    for limit in [0, MAX_DIRECTORY_PAGE as u16 + 1] {
        let req = Request::GetDirectory { after: None, limit };
        assert!(req.validate().is_err());
    }
    Request::GetDirectory {
        after: Some(NodeId([1; 32])),
        limit: MAX_DIRECTORY_PAGE as u16,
    }
    .validate()
    .unwrap();
}

#[test]
fn decode_refuses_oversized_and_truncated_input() {
    // Non-zero bytes: the size check must come first, whatever the bytes are.
    let big = vec![0x5a; MAX_RPC_REQUEST_LEN + 1];
    assert_eq!(
        Request::decode(&big),
        Err(Error::TooLarge {
            what: "RPC request",
            len: MAX_RPC_REQUEST_LEN + 1,
            max: MAX_RPC_REQUEST_LEN
        })
    );
    let k = key(4);
    let req = Request::Retrieve(
        RetrieveRequest::signed(
            &k,
            NET,
            Namespace::INBOX,
            Some(ReadCursor {
                store: 3,
                seq: 9_000,
            }),
            1000,
            NOW,
        )
        .unwrap(),
    );
    let bytes = req.encode().unwrap();
    for cut in 0..bytes.len() {
        assert!(Request::decode(&bytes[..cut]).is_err(), "cut {cut}");
    }
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(Request::decode(&trailing).is_err());
    // An unknown variant.
    assert!(Request::decode(&[200]).is_err());
}

#[test]
fn auth_does_not_transfer() {
    let k = key(5);
    let other = key(6);
    let signed = StoreRequest::signed(&k, NET, Namespace::CONFIG, vec![1, 2], DAY_MS, NOW).unwrap();
    let auth = signed.auth.clone();

    let mut other_account = signed.clone();
    other_account.account = other.account_id();
    let mut other_ns = signed.clone();
    other_ns.namespace = Namespace::PUBLIC;
    let mut other_data = signed.clone();
    other_data.data = vec![1, 3];
    let mut other_ttl = signed.clone();
    other_ttl.ttl_ms += 1;
    for req in [other_account, other_ns, other_data, other_ttl] {
        assert_eq!(
            Request::Store(req).authorize(NET, NOW),
            Err(AuthError::BadSignature)
        );
    }
    // The same signature put on a retrieve (another op).
    let mut retrieve = RetrieveRequest::unsigned(k.account_id(), Namespace::CONFIG, None);
    retrieve.auth = auth;
    assert_eq!(
        Request::Retrieve(retrieve).authorize(NET, NOW),
        Err(AuthError::BadSignature)
    );
    // A retrieve's cursor, time bound and wait are covered.
    let r = RetrieveRequest::signed(&k, NET, Namespace::INBOX, None, 0, NOW).unwrap();
    let mut moved = r.clone();
    moved.after = Some(ReadCursor { store: 1, seq: 1 });
    assert_eq!(
        Request::Retrieve(moved).authorize(NET, NOW),
        Err(AuthError::BadSignature)
    );
    let mut older = r.clone();
    older.not_before = 1;
    assert_eq!(
        Request::Retrieve(older).authorize(NET, NOW),
        Err(AuthError::BadSignature)
    );
    let mut waits = r.clone();
    waits.wait_ms = 1;
    assert!(Request::Retrieve(waits).authorize(NET, NOW).is_err());
    let mut waits_for = r.clone();
    waits_for.wait_for = 2;
    assert!(Request::Retrieve(waits_for).authorize(NET, NOW).is_err());
    // Expire's new expiry is covered.
    let e = ExpireRequest::signed(&k, NET, Namespace::INBOX, vec![MessageHash::ZERO], NOW, NOW)
        .unwrap();
    let mut later = e.clone();
    later.expiry += DAY_MS;
    assert!(Request::Expire(later).authorize(NET, NOW).is_err());
    // Ten minutes off: clock skew with the node's time.
    assert_eq!(
        Request::Expire(e).authorize(NET, NOW + 10 * 60 * SECOND_MS),
        Err(AuthError::ClockSkew {
            node_time: NOW + 10 * 60 * SECOND_MS,
            their_time: NOW
        })
    );
}

#[test]
fn retrieve_cursors_apply_to_their_own_store_only() {
    let a = key(7).account_id();
    let mut r = RetrieveRequest::unsigned(a, Namespace::PUBLIC, None);
    r.not_before = 500;
    // First contact: from the start, by time.
    assert_eq!((r.after_seq(7), r.not_before_for(7)), (0, 500));
    // On from this store's cursor: by sequence only.
    r.after = Some(ReadCursor { store: 7, seq: 42 });
    assert_eq!((r.after_seq(7), r.not_before_for(7)), (42, 0));
    // A cursor of another store instance (a wiped and re-made store) is a
    // first contact there.
    assert_eq!((r.after_seq(8), r.not_before_for(8)), (0, 500));
}

#[test]
fn store_and_expire_helpers() {
    let k = key(8);
    let s = StoreRequest::unsigned(k.account_id(), Namespace::INBOX, vec![5; 3], DAY_MS);
    let m = s.to_stored(NOW);
    m.validate_at(NOW).unwrap();
    assert_eq!(m.expiry, NOW + DAY_MS);
    assert_eq!(m.owner, None);
    let e = ExpireRequest::signed(&k, NET, Namespace::INBOX, vec![m.hash], NOW + 5, NOW).unwrap();
    assert_eq!(e.apply_to(m.timestamp, m.expiry), Ok(NOW + 5));
    assert_eq!(e.apply_to(m.timestamp, NOW + 1), Ok(NOW + 1));
    // Never at or before the message's timestamp: an old request replayed
    // against a message stored again later does not touch it.
    assert!(matches!(
        e.apply_to(NOW + 5, NOW + DAY_MS),
        Err(Error::OutOfRange {
            what: "expiry change",
            ..
        })
    ));
    assert!(e.apply_to(NOW + 6, NOW + DAY_MS).is_err());
}

#[test]
fn owner_stores_keep_their_proof() {
    let k = key(9);
    for ns in [Namespace::CONFIG, Namespace::PUBLIC] {
        let req = StoreRequest::signed(&k, NET, ns, vec![1, 2], DAY_MS, NOW).unwrap();
        let m = req.to_stored(NOW + 7);
        let proof = m.owner.clone().unwrap();
        assert_eq!(proof.ttl_ms, DAY_MS);
        assert_eq!(Some(proof.auth), req.auth);
        assert_eq!(m.expiry, NOW + 7 + DAY_MS);
        m.validate_at(NOW).unwrap();
        m.verify_owner(NET).unwrap();
    }
    // An inbox store with a signature still stores no proof: there is none to
    // check, and replicas must agree on the bytes.
    let signed_inbox =
        StoreRequest::signed(&k, NET, Namespace::INBOX, vec![1], DAY_MS, NOW).unwrap();
    assert_eq!(signed_inbox.to_stored(NOW).owner, None);
}

#[test]
fn requests_are_bound_to_their_network() {
    let k = key(10);
    let reqs = [
        Request::Store(
            StoreRequest::signed(&k, NET, Namespace::CONFIG, vec![1], DAY_MS, NOW).unwrap(),
        ),
        Request::Retrieve(
            RetrieveRequest::signed(&k, NET, Namespace::INBOX, None, 0, NOW).unwrap(),
        ),
        Request::Delete(
            DeleteRequest::signed(&k, NET, Namespace::INBOX, vec![MessageHash::ZERO], NOW).unwrap(),
        ),
        Request::Expire(
            ExpireRequest::signed(&k, NET, Namespace::INBOX, vec![MessageHash::ZERO], NOW, NOW)
                .unwrap(),
        ),
    ];
    for req in reqs {
        req.authorize(NET, NOW).unwrap();
        assert_eq!(
            req.authorize("sotto", NOW),
            Err(AuthError::BadSignature),
            "{}",
            req.kind()
        );
    }
}

#[test]
fn replicated_deletes_and_expiries_need_the_owner_not_a_recent_clock() {
    let k = key(11);
    let h = vec![MessageHash([4; 32])];
    let old = NOW - 20 * DAY_MS;
    let delete = DeleteRequest::signed(&k, NET, Namespace::PUBLIC, h.clone(), old).unwrap();
    let expire =
        ExpireRequest::signed(&k, NET, Namespace::PUBLIC, h.clone(), old + 1, old).unwrap();
    // Days old: too old for a client's request, fine by replication.
    assert!(matches!(
        delete.authorize(NET, NOW),
        Err(AuthError::ClockSkew { .. })
    ));
    delete.authorize_replicated(NET, NOW).unwrap();
    expire.authorize_replicated(NET, NOW).unwrap();
    // From the future: refused by both.
    let ahead = NOW + crate::constants::REPLICATED_AUTH_TOLERANCE_MS + 1;
    let future = DeleteRequest::signed(&k, NET, Namespace::PUBLIC, h.clone(), ahead).unwrap();
    assert_eq!(
        future.authorize_replicated(NET, NOW),
        Err(AuthError::ClockSkew {
            node_time: NOW,
            their_time: ahead
        })
    );
    DeleteRequest::signed(
        &k,
        NET,
        Namespace::PUBLIC,
        h.clone(),
        NOW + AUTH_CLOCK_WINDOW_MS,
    )
    .unwrap()
    .authorize_replicated(NET, NOW)
    .unwrap();
    // Unsigned (an all-zero signature), signed by someone else, or changed after
    // signing: refused.
    let mut unsigned = delete.clone();
    unsigned.auth.signature = [0; 64];
    let mallory = key(12);
    let mut forged =
        DeleteRequest::signed(&mallory, NET, Namespace::PUBLIC, h.clone(), old).unwrap();
    forged.account = k.account_id();
    let mut more = delete.clone();
    more.hashes.push(MessageHash([5; 32]));
    for bad in [unsigned, forged, more] {
        assert_eq!(
            bad.authorize_replicated(NET, NOW),
            Err(AuthError::BadSignature)
        );
    }
    let mut unsigned = expire.clone();
    unsigned.auth.signature = [0; 64];
    let mut earlier = expire.clone();
    earlier.expiry -= 1;
    for bad in [unsigned, earlier] {
        assert_eq!(
            bad.authorize_replicated(NET, NOW),
            Err(AuthError::BadSignature)
        );
    }
}

#[test]
fn tombstones_are_bounded() {
    let k = key(13);
    let d = DeleteRequest::signed(&k, NET, Namespace::INBOX, vec![MessageHash::ZERO], NOW).unwrap();
    let bound = NOW + AUTH_CLOCK_WINDOW_MS + MAX_TTL_MS;
    assert_eq!(d.tombstone_expiry(None), bound);
    assert_eq!(d.tombstone_expiry(Some(NOW + DAY_MS)), NOW + DAY_MS);
    // Whatever a message claims, a tombstone does not outlive the bound.
    assert_eq!(d.tombstone_expiry(Some(u64::MAX)), bound);
    let mut edge = d.clone();
    edge.auth.timestamp = u64::MAX - 1;
    assert_eq!(edge.tombstone_expiry(None), u64::MAX);
}
