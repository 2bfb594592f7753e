//! Known-answer vectors for the RPC encodings (`tests/vectors/rpc.json`).
//!
//! Each vector is built here from fixed inputs (a fixed account entropy and time:
//! Ed25519 signatures are deterministic), encoded, and compared with the committed
//! bytes; the committed bytes are also decoded and re-encoded, which must give
//! them back unchanged. A format change therefore fails this test instead of
//! drifting silently. To accept an intended change, run with
//! `SOTTO_REGENERATE_VECTORS=1` and commit the new file.

// Helpers of this test unwrap too: a failure anywhere here is a failing test.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use sotto_protocol::constants::{DEFAULT_TTL_MS, MAX_DIRECTORY_PAGE};
use sotto_protocol::rpc::StorageReceipt;
use sotto_protocol::rpc::held::HeldFilter;
use sotto_protocol::rpc::response::RetrievedMessage;
use sotto_protocol::rpc::{
    AccountDigest, DeleteRequest, DigestItem, ErrorKind, ExpireRequest, ItemState, MessageHash,
    NodeRequest, NodeResponse, ReadCursor, Request, Response, RetrieveRequest, StoreRequest,
    account_digest,
};
use sotto_protocol::{AccountKey, Namespace, NodeId, NodeKey, UnixMillis};

/// The time every vector is made at: 2023-11-14T22:13:20Z.
const NOW: UnixMillis = 1_700_000_000_000;
/// The network every signature is made for.
const NET: &str = "devnet";

#[derive(Debug, Serialize, Deserialize)]
struct File {
    description: String,
    vectors: Vec<Vector>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Vector {
    name: String,
    /// `Request`, `Response`, `NodeRequest` or `NodeResponse`.
    kind: String,
    hex: String,
}

enum Value {
    Request(Request),
    Response(Response),
    NodeRequest(NodeRequest),
    NodeResponse(NodeResponse),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Request(_) => "Request",
            Value::Response(_) => "Response",
            Value::NodeRequest(_) => "NodeRequest",
            Value::NodeResponse(_) => "NodeResponse",
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Value::Request(v) => v.encode(),
            Value::Response(v) => v.encode(),
            Value::NodeRequest(v) => v.encode(),
            Value::NodeResponse(v) => v.encode(),
        }
        .unwrap()
    }

    /// Decodes `bytes` as this value's type, checks it equals this value, and
    /// re-encodes it.
    fn decode_same(&self, bytes: &[u8]) -> Vec<u8> {
        match self {
            Value::Request(v) => {
                let d = Request::decode(bytes).unwrap();
                assert_eq!(&d, v);
                d.encode().unwrap()
            }
            Value::Response(v) => {
                let d = Response::decode(bytes, NOW).unwrap();
                assert_eq!(&d, v);
                d.encode().unwrap()
            }
            Value::NodeRequest(v) => {
                let d = NodeRequest::decode(bytes, NOW).unwrap();
                assert_eq!(&d, v);
                d.encode().unwrap()
            }
            Value::NodeResponse(v) => {
                let d = NodeResponse::decode(bytes, NOW).unwrap();
                assert_eq!(&d, v);
                d.encode().unwrap()
            }
        }
    }
}

fn key() -> AccountKey {
    AccountKey::from_entropy([
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f,
        0x10,
    ])
}

fn vectors() -> Vec<(&'static str, Value)> {
    let key = key();
    let me = key.account_id();
    let other = AccountKey::from_entropy([0xee; 16]).account_id();
    let data = b"sotto rpc test vector".to_vec();
    let hash = MessageHash::compute(&me, Namespace::INBOX, &data);
    let cursor = ReadCursor {
        store: 0x0102_0304_0506_0708,
        seq: 4_321,
    };

    let store_signed = StoreRequest::signed(
        &key,
        NET,
        Namespace::CONFIG,
        data.clone(),
        DEFAULT_TTL_MS,
        NOW,
    )
    .unwrap();
    let store_inbox = StoreRequest::unsigned(other, Namespace::INBOX, data.clone(), DEFAULT_TTL_MS);
    let retrieve_signed =
        RetrieveRequest::signed(&key, NET, Namespace::INBOX, Some(cursor), 20_000, NOW).unwrap();
    let delete_signed =
        DeleteRequest::signed(&key, NET, Namespace::INBOX, vec![hash], NOW).unwrap();
    let expire_signed =
        ExpireRequest::signed(&key, NET, Namespace::INBOX, vec![hash], NOW + 60_000, NOW).unwrap();
    let profile = StoreRequest::signed(
        &key,
        NET,
        Namespace::PUBLIC,
        b"sotto profile test vector".to_vec(),
        DEFAULT_TTL_MS,
        NOW,
    )
    .unwrap()
    .to_stored(NOW + 1);

    let items = [
        DigestItem {
            hash,
            namespace: Namespace::INBOX,
            state: ItemState::Present {
                timestamp: NOW,
                expiry: NOW + DEFAULT_TTL_MS,
                shortened: Some(NOW + 60_000),
            },
        },
        DigestItem::deleted(MessageHash([0x42; 32]), Namespace::CONFIG),
    ];
    let mut listing = items.to_vec();
    listing.sort_by_key(|i| i.hash);
    let mut digests = vec![
        AccountDigest {
            account: me,
            digest: account_digest(items.iter().copied()),
            count: 2,
        },
        AccountDigest {
            account: other,
            digest: account_digest(std::iter::empty()),
            count: 0,
        },
    ];
    digests.sort_by_key(|d| d.account);

    vec![
        (
            "store_config_signed",
            Value::Request(Request::Store(store_signed)),
        ),
        (
            "store_inbox_unsigned",
            Value::Request(Request::Store(store_inbox)),
        ),
        (
            "retrieve_inbox_signed",
            Value::Request(Request::Retrieve(retrieve_signed)),
        ),
        (
            "get_directory_first_page",
            Value::Request(Request::GetDirectory {
                after: None,
                limit: MAX_DIRECTORY_PAGE as u16,
            }),
        ),
        ("ping", Value::Request(Request::Ping)),
        (
            "get_directory_delta",
            Value::Request(Request::GetDirectoryDelta {
                after: Some(NodeId([0x44; 32])),
                limit: 64,
                held: HeldFilter::new([0x45; 16], 2, [&[0x46; 64], &[0x47; 64]]),
            }),
        ),
        (
            "delete_inbox_signed",
            Value::Request(Request::Delete(delete_signed.clone())),
        ),
        (
            "expire_inbox_signed",
            Value::Request(Request::Expire(expire_signed.clone())),
        ),
        (
            "stored",
            Value::Response(Response::Stored {
                hash,
                timestamp: NOW,
                expiry: NOW + DEFAULT_TTL_MS,
                held_by: 2,
                receipts: vec![
                    StorageReceipt::sign(&NodeKey::from_secret_bytes(&[0x21; 32]), NET, &me, &hash),
                    StorageReceipt::sign(&NodeKey::from_secret_bytes(&[0x22; 32]), NET, &me, &hash),
                ],
            }),
        ),
        (
            "messages_one",
            Value::Response(Response::Messages {
                messages: vec![RetrievedMessage {
                    hash,
                    data,
                    timestamp: NOW,
                    expiry: NOW + DEFAULT_TTL_MS,
                }],
                cursor: ReadCursor {
                    store: 0x0102_0304_0506_0708,
                    seq: 4_322,
                },
                more: false,
            }),
        ),
        (
            "error_wrong_swarm_empty",
            Value::Response(Response::error(
                ErrorKind::WrongSwarm { swarm: vec![] },
                "account is not in this node's swarm",
                NOW,
            )),
        ),
        (
            "error_rate_limited",
            Value::Response(Response::error(
                ErrorKind::RateLimited {
                    retry_after_ms: 1500,
                },
                "",
                NOW,
            )),
        ),
        (
            "node_digest",
            Value::NodeRequest(NodeRequest::Digest { digests }),
        ),
        (
            "node_digest_diff",
            Value::NodeResponse(NodeResponse::DigestDiff {
                differing: vec![me],
            }),
        ),
        (
            "node_ack_per_message",
            Value::NodeResponse(NodeResponse::Ack {
                held: vec![true, false, true],
                receipts: vec![
                    StorageReceipt::sign(&NodeKey::from_secret_bytes(&[0x23; 32]), NET, &me, &hash),
                    StorageReceipt::sign(
                        &NodeKey::from_secret_bytes(&[0x23; 32]),
                        NET,
                        &other,
                        &hash,
                    ),
                ],
            }),
        ),
        (
            "node_replicate_public_with_proofs",
            Value::NodeRequest(NodeRequest::Replicate {
                messages: vec![profile],
                deletes: vec![delete_signed],
                expiries: vec![expire_signed],
            }),
        ),
        (
            "node_listing",
            Value::NodeResponse(NodeResponse::Listing {
                items: listing,
                more: false,
            }),
        ),
    ]
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors/rpc.json")
}

#[test]
fn rpc_vectors() {
    let built = vectors();
    if std::env::var_os("SOTTO_REGENERATE_VECTORS").is_some_and(|v| v == "1") {
        let file = File {
            description: "Sotto RPC known-answer vectors: postcard encodings of fixed requests \
                          and responses. Account entropy 01..10, time 1700000000000 ms, \
                          network \"devnet\". Generated by tests/vectors_rpc.rs with \
                          SOTTO_REGENERATE_VECTORS=1."
                .into(),
            vectors: built
                .iter()
                .map(|(name, v)| Vector {
                    name: (*name).into(),
                    kind: v.kind().into(),
                    hex: hex::encode(v.encode()),
                })
                .collect(),
        };
        let text = serde_json::to_string_pretty(&file).unwrap() + "\n";
        std::fs::create_dir_all(path().parent().unwrap()).unwrap();
        std::fs::write(path(), text).unwrap();
        return;
    }

    let text = std::fs::read_to_string(path())
        .expect("tests/vectors/rpc.json is missing: run with SOTTO_REGENERATE_VECTORS=1");
    let file: File = serde_json::from_str(&text).unwrap();
    assert_eq!(
        file.vectors
            .iter()
            .map(|v| v.name.as_str())
            .collect::<Vec<_>>(),
        built.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        "the set of vectors changed"
    );
    for (vector, (name, value)) in file.vectors.iter().zip(&built) {
        assert_eq!(vector.kind, value.kind(), "{name}");
        let committed = hex::decode(&vector.hex).unwrap();
        assert_eq!(
            hex::encode(value.encode()),
            vector.hex,
            "{name}: encoding differs from the committed vector"
        );
        assert_eq!(
            value.decode_same(&committed),
            committed,
            "{name}: decode → re-encode changed the bytes"
        );
    }
}

/// The committed signed requests verify as committed (at the vectors' time, on
/// their network, and on no other).
#[test]
fn committed_signatures_verify() {
    let text = std::fs::read_to_string(path()).unwrap();
    let file: File = serde_json::from_str(&text).unwrap();
    let mut checked = 0;
    for v in file.vectors.iter().filter(|v| v.name.ends_with("_signed")) {
        let req = Request::decode(&hex::decode(&v.hex).unwrap()).unwrap();
        req.authorize(NET, NOW).unwrap();
        assert!(req.authorize("sotto", NOW).is_err(), "{}", v.name);
        assert_eq!(req.account(), Some(key().account_id()));
        checked += 1;
    }
    assert_eq!(checked, 4);
    let replicated = file
        .vectors
        .iter()
        .find(|v| v.name == "node_replicate_public_with_proofs")
        .unwrap();
    let req = NodeRequest::decode(&hex::decode(&replicated.hex).unwrap(), NOW).unwrap();
    req.authorize(NET, NOW).unwrap();
    assert!(req.authorize("sotto", NOW).is_err());
}
