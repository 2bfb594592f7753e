//! The fuzz corpora (`fuzz/corpus/<target>/`) replayed as ordinary tests, through
//! the same target functions the `cargo fuzz` binaries call
//! (`fuzz/src/protocol.rs`, included below), and the seed inputs those corpora
//! started from.
//!
//! Every corpus file must run without a panic, every target must have files, and
//! at least one file per target must be accepted, so the corpus still reaches
//! past the first check after a format change. The seeds are valid inputs built
//! from real values (signed requests, a sealed envelope, an onion packet, a signed
//! node record) plus truncated and bit-flipped copies. To rewrite them after a
//! deliberate format change: `SOTTO_REGENERATE_CORPUS=1 cargo test -p
//! sotto-protocol --test fuzz_corpus` (files are named `seed-*`; files found by
//! the fuzzer are left alone).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../fuzz/src/protocol.rs"]
mod targets;

use std::fs;
use std::panic::catch_unwind;
use std::path::{Path, PathBuf};

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sotto_protocol::constants::{DEFAULT_TTL_MS, PROTOCOL_VERSION};
use sotto_protocol::envelope::{self, Content, ContentBody, ContentId, DisappearMode, ReceiptKind};
use sotto_protocol::onion::{self, Peeled};
use sotto_protocol::record::{NodeRecord, OnionKeyEntry, SignedNodeRecord};
use sotto_protocol::rpc::held::HeldFilter;
use sotto_protocol::rpc::{
    AccountDigest, DeleteRequest, DigestItem, ErrorKind, ExpireRequest, MessageHash, NodeRequest,
    NodeResponse, ReadCursor, Request, Response, RetrieveRequest, RetrievedMessage, RpcError,
    StorageReceipt, StoreRequest, StoredMessage,
};
use sotto_protocol::time::{DAY_MS, HOUR_MS, MINUTE_MS};
use sotto_protocol::{AccountKey, Namespace, NodeId, NodeKey, OnionSecret};

use targets::{FUZZ_NETWORK, FUZZ_NOW};

/// A target: bytes in, accepted or not out.
type Target = fn(&[u8]) -> bool;

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target)
}

/// Runs every file of `fuzz/corpus/<target>/` through `run`, reporting every file
/// that panics, and checks the corpus is not empty and reaches an accepted input.
fn replay(target: &str, run: Target) {
    let dir = corpus_dir(target);
    let entries = fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        // libFuzzer's temporary files (`.tmp*`) and editors' hidden files.
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    paths.sort();
    let mut accepted = 0usize;
    let mut panicked = vec![];
    for path in &paths {
        let data = fs::read(path).unwrap();
        match catch_unwind(|| run(&data)) {
            Ok(true) => accepted += 1,
            Ok(false) => {}
            Err(_) => panicked.push(path.display().to_string()),
        }
    }
    assert!(
        panicked.is_empty(),
        "{target}: these corpus files panic: {panicked:#?}"
    );
    assert!(
        !paths.is_empty(),
        "{target}: no corpus in {}",
        dir.display()
    );
    assert!(
        accepted > 0,
        "{target}: none of the {} corpus files is accepted any more; regenerate the \
         seeds (see this file's header)",
        paths.len()
    );
}

#[test]
fn replay_rpc_request() {
    replay("rpc_request", targets::rpc_request);
}

#[test]
fn replay_rpc_response() {
    replay("rpc_response", targets::rpc_response);
}

#[test]
fn replay_node_request() {
    replay("node_request", targets::node_request);
}

#[test]
fn replay_node_response() {
    replay("node_response", targets::node_response);
}

#[test]
fn replay_node_record() {
    replay("node_record", targets::node_record);
}

#[test]
fn replay_envelope_open() {
    replay("envelope_open", targets::envelope_open);
}

#[test]
fn replay_onion_peel() {
    replay("onion_peel", targets::onion_peel);
}

#[test]
fn replay_account_id() {
    replay("account_id", targets::account_id);
}

// ---- Seeds ----

/// The account that signs the seed requests.
fn owner() -> AccountKey {
    AccountKey::from_entropy([0x0e; 16])
}

/// When the seeds were "made": five minutes before the targets' clock.
const MADE_AT: u64 = FUZZ_NOW - 5 * MINUTE_MS;

fn message(data: &[u8], at: u64) -> StoredMessage {
    StoredMessage::new(
        targets::recipient_key().account_id(),
        Namespace::INBOX,
        data.to_vec(),
        at,
        DAY_MS,
    )
}

fn hashes() -> Vec<MessageHash> {
    vec![MessageHash([0x11; 32]), MessageHash([0x22; 32])]
}

fn signed_record() -> SignedNodeRecord {
    let key = NodeKey::from_secret_bytes(&[0x07; 32]);
    let onion = OnionSecret::from_secret_bytes([0x08; 32]).public();
    let record = NodeRecord {
        version: PROTOCOL_VERSION,
        network: targets::record_params().name,
        node: key.node_id(),
        addrs: vec![
            "/ip4/127.0.0.1/tcp/4100".into(),
            "/ip4/127.0.0.1/udp/4100/quic-v1".into(),
        ],
        onion_keys: vec![OnionKeyEntry {
            key: onion,
            valid_from: MADE_AT - HOUR_MS,
            valid_until: MADE_AT + DAY_MS,
        }],
        issued_at: MADE_AT,
        expires_at: MADE_AT + HOUR_MS,
        // Devnet needs no admission work and its positions do not rotate.
        admission: sotto_protocol::record::admission::Admission::default(),
    };
    record.sign(&key).unwrap()
}

/// A valid input of a target.
struct Seed {
    /// Part of the file name.
    name: String,
    data: Vec<u8>,
    /// Whether to also write truncated and bit-flipped copies.
    variants: bool,
}

/// Seeds named `name`, each with its variants.
fn seeds<'a>(named: impl IntoIterator<Item = (&'a str, Vec<u8>)>) -> Vec<Seed> {
    named
        .into_iter()
        .map(|(name, data)| Seed {
            name: name.into(),
            data,
            variants: true,
        })
        .collect()
}

fn rpc_request_seeds() -> Vec<Seed> {
    let owner = owner();
    let inbox = targets::recipient_key().account_id();
    let cursor = ReadCursor {
        store: 0x3333,
        seq: 1_234,
    };
    let requests = [
        (
            "store-inbox",
            Request::Store(StoreRequest::unsigned(
                inbox,
                Namespace::INBOX,
                b"sealed envelope".to_vec(),
                DEFAULT_TTL_MS,
            )),
        ),
        (
            "store-config-signed",
            Request::Store(
                StoreRequest::signed(
                    &owner,
                    FUZZ_NETWORK,
                    Namespace::CONFIG,
                    b"config".to_vec(),
                    DAY_MS,
                    MADE_AT,
                )
                .unwrap(),
            ),
        ),
        (
            "retrieve-inbox-signed",
            Request::Retrieve(
                RetrieveRequest::signed(
                    &owner,
                    FUZZ_NETWORK,
                    Namespace::INBOX,
                    Some(cursor),
                    20_000,
                    MADE_AT,
                )
                .unwrap(),
            ),
        ),
        (
            "retrieve-public",
            Request::Retrieve(RetrieveRequest::unsigned(inbox, Namespace::PUBLIC, None)),
        ),
        (
            "delete-signed",
            Request::Delete(
                DeleteRequest::signed(&owner, FUZZ_NETWORK, Namespace::INBOX, hashes(), MADE_AT)
                    .unwrap(),
            ),
        ),
        (
            "expire-signed",
            Request::Expire(
                ExpireRequest::signed(
                    &owner,
                    FUZZ_NETWORK,
                    Namespace::INBOX,
                    hashes(),
                    FUZZ_NOW,
                    MADE_AT,
                )
                .unwrap(),
            ),
        ),
        ("get-swarm", Request::GetSwarm { account: inbox }),
        (
            "get-directory",
            Request::GetDirectory {
                after: Some(NodeId([0x44; 32])),
                limit: 16,
            },
        ),
        ("ping", Request::Ping),
        ("store-chunk", Request::StoreChunk(chunk_store())),
        (
            "deliver-token",
            Request::Deliver(sotto_protocol::rpc::DeliverRequest::with_token(
                inbox,
                b"sealed envelope".to_vec(),
                DEFAULT_TTL_MS,
                sotto_protocol::rpc::DeliveryToken([0x42; 32]),
            )),
        ),
        (
            "deliver-postage",
            Request::Deliver(sotto_protocol::rpc::DeliverRequest::with_postage(
                inbox,
                b"sealed request".to_vec(),
                DEFAULT_TTL_MS,
                0,
            )),
        ),
        (
            "get-directory-delta",
            Request::GetDirectoryDelta {
                after: Some(NodeId([0x45; 32])),
                limit: 64,
                held: HeldFilter::new([0x46; 16], 2, [&[0x47; 64], &[0x48; 64]]),
            },
        ),
    ];
    for (name, request) in &requests {
        // The signed seeds pass the owner check at the targets' clock.
        assert_eq!(request.authorize(FUZZ_NETWORK, FUZZ_NOW), Ok(()), "{name}");
    }
    seeds(requests.map(|(name, r)| (name, r.encode().unwrap())))
}

/// A stamped store of one chunk (the whole 64 KiB, as on the wire).
fn chunk_store() -> sotto_protocol::rpc::ChunkStoreRequest {
    use sotto_protocol::attachment::{CHUNK_LEN, CHUNK_POSTAGE_BITS, ChunkHash, mine_postage};
    let data = vec![0x5c; CHUNK_LEN];
    let stamp = mine_postage(&ChunkHash::of(&data), CHUNK_POSTAGE_BITS, 0);
    sotto_protocol::rpc::ChunkStoreRequest {
        data,
        ttl_ms: DAY_MS,
        stamp,
    }
}

fn rpc_response_seeds() -> Vec<Seed> {
    let first = message(b"first", MADE_AT);
    let second = message(b"second", MADE_AT + 1);
    let record = signed_record();
    let responses = [
        (
            "stored",
            Response::Stored {
                hash: first.hash,
                timestamp: MADE_AT,
                expiry: MADE_AT + DAY_MS,
                held_by: 3,
                receipts: vec![StorageReceipt::sign(
                    &NodeKey::from_secret_bytes(&[0x07; 32]),
                    FUZZ_NETWORK,
                    &first.account,
                    &first.hash,
                )],
            },
        ),
        (
            "messages",
            Response::Messages {
                messages: vec![
                    RetrievedMessage::from_stored(&first, None),
                    RetrievedMessage::from_stored(&second, None),
                ],
                cursor: ReadCursor { store: 7, seq: 2 },
                more: false,
            },
        ),
        ("deleted", Response::Deleted { hashes: hashes() }),
        (
            "expired",
            Response::Expired {
                hashes: hashes(),
                expiry: FUZZ_NOW,
            },
        ),
        (
            "swarm",
            Response::Swarm {
                records: vec![record.clone()],
            },
        ),
        (
            "directory",
            Response::Directory {
                records: vec![record.clone()],
                next: Some(NodeId([0x55; 32])),
            },
        ),
        (
            "pong",
            Response::Pong {
                node_time: FUZZ_NOW,
            },
        ),
        (
            "error-wrong-swarm",
            Response::Error(RpcError::new(
                ErrorKind::WrongSwarm {
                    swarm: vec![record],
                },
                "not in this account's swarm",
                FUZZ_NOW,
            )),
        ),
        (
            "error-rate-limited",
            Response::error(
                ErrorKind::RateLimited {
                    retry_after_ms: 1_000,
                },
                "slow down",
                FUZZ_NOW,
            ),
        ),
    ];
    seeds(responses.map(|(name, r)| (name, r.encode().unwrap())))
}

fn node_request_seeds() -> Vec<Seed> {
    let m = message(b"replicated", MADE_AT);
    let account = m.account;
    let owner = owner();
    let config = StoreRequest::signed(
        &owner,
        FUZZ_NETWORK,
        Namespace::CONFIG,
        b"settings".to_vec(),
        DAY_MS,
        MADE_AT,
    )
    .unwrap()
    .to_stored(MADE_AT);
    let delete =
        DeleteRequest::signed(&owner, FUZZ_NETWORK, Namespace::CONFIG, hashes(), MADE_AT).unwrap();
    let expire = ExpireRequest::signed(
        &owner,
        FUZZ_NETWORK,
        Namespace::CONFIG,
        vec![config.hash],
        MADE_AT + HOUR_MS,
        MADE_AT,
    )
    .unwrap();
    let mut accounts = [owner.account_id(), account];
    accounts.sort();
    let requests = [
        (
            "replicate",
            NodeRequest::Replicate {
                messages: vec![m.clone(), config],
                deletes: vec![delete],
                expiries: vec![expire],
            },
        ),
        (
            "digest",
            NodeRequest::Digest {
                digests: accounts
                    .iter()
                    .map(|&account| AccountDigest {
                        account,
                        digest: [0x77; 32],
                        count: 2,
                    })
                    .collect(),
            },
        ),
        (
            "list",
            NodeRequest::List {
                account,
                after: Some(m.hash),
                limit: 64,
            },
        ),
        (
            "fetch",
            NodeRequest::Fetch {
                hashes: vec![(account, m.hash)],
            },
        ),
    ];
    for (name, request) in &requests {
        // The replicated owner data carries proofs that verify.
        assert_eq!(request.authorize(FUZZ_NETWORK, FUZZ_NOW), Ok(()), "{name}");
    }
    seeds(requests.map(|(name, r)| (name, r.encode().unwrap())))
}

fn node_response_seeds() -> Vec<Seed> {
    let m = message(b"fetched", MADE_AT);
    let delete =
        DeleteRequest::signed(&owner(), FUZZ_NETWORK, Namespace::INBOX, hashes(), MADE_AT).unwrap();
    let mut items = [
        DigestItem::of_message(&m, None),
        DigestItem::deleted(MessageHash([0x88; 32]), Namespace::INBOX),
    ];
    items.sort_by_key(|i| i.hash);
    let mut differing = [owner().account_id(), m.account];
    differing.sort();
    let responses = [
        (
            "ack",
            NodeResponse::Ack {
                held: vec![true, false],
                receipts: vec![StorageReceipt::sign(
                    &NodeKey::from_secret_bytes(&[0x07; 32]),
                    FUZZ_NETWORK,
                    &m.account,
                    &m.hash,
                )],
            },
        ),
        (
            "digest-diff",
            NodeResponse::DigestDiff {
                differing: differing.to_vec(),
            },
        ),
        (
            "listing",
            NodeResponse::Listing {
                items: items.to_vec(),
                more: true,
            },
        ),
        (
            "messages",
            NodeResponse::Messages {
                messages: vec![m],
                deletes: vec![delete],
                expiries: vec![],
            },
        ),
        (
            "error",
            NodeResponse::Error(RpcError::new(ErrorKind::Unavailable, "busy", FUZZ_NOW)),
        ),
    ];
    seeds(responses.map(|(name, r)| (name, r.encode().unwrap())))
}

fn node_record_seeds() -> Vec<Seed> {
    seeds([("devnet-record", signed_record().encode().unwrap())])
}

fn envelope_seeds() -> Vec<Seed> {
    let mut rng = ChaCha20Rng::from_seed([0xe0; 32]);
    let sender = owner();
    let recipient = targets::recipient_key().account_id();
    let ids = vec![ContentId([0x99; 16]), ContentId([0x9a; 16])];
    let bodies = [
        (
            "text",
            ContentBody::Text {
                text: "hello, fuzzer ✉".into(),
            },
        ),
        (
            "receipt",
            ContentBody::Receipt {
                kind: ReceiptKind::Read,
                ids: ids.clone(),
            },
        ),
        ("typing", ContentBody::Typing { started: true }),
        (
            "timer",
            ContentBody::DisappearingTimer {
                mode: DisappearMode::AfterRead { ms: HOUR_MS },
            },
        ),
        (
            "request-response",
            ContentBody::RequestResponse { accepted: true },
        ),
        (
            "profile",
            ContentBody::Profile {
                display_name: "Ada".into(),
            },
        ),
        ("delete", ContentBody::DeleteForEveryone { ids }),
    ];
    let mut all = vec![];
    for (name, body) in bodies {
        let content = Content::new(&mut rng, MADE_AT, body);
        let sealed = envelope::seal(&sender, &recipient, &content, &mut rng).unwrap();
        all.push(Seed {
            name: format!("{name}-envelope"),
            data: sealed,
            variants: true,
        });
        // The bare content, for `Content::from_bytes` (no variants: the envelope's
        // copies already cover the edges, and the corpus stays small).
        all.push(Seed {
            name: format!("{name}-content"),
            data: content.to_bytes().unwrap(),
            variants: false,
        });
    }
    all
}

/// The fixture packet, what hop 0 forwards, the destination's response as the
/// client receives it, and hop 0's own error.
fn onion_seeds() -> Vec<Seed> {
    let fixture = targets::onion_fixture();
    let secrets = targets::onion_secrets();
    let peel = |packet: &[u8], secret: &OnionSecret| onion::peel(packet, &[secret]).unwrap();
    // Each reply key answers once, so hop 0 peels the packet twice: once to wrap
    // the destination's answer, once to seal an error of its own.
    let relay_keys = || {
        let Peeled::Forward { packet, reply, .. } = peel(&fixture.packet, &secrets[0]) else {
            panic!("hop 0 of the fixture is a relay");
        };
        (packet, reply)
    };
    let (inner, relay) = relay_keys();
    let (_, relay_for_error) = relay_keys();
    let Peeled::Deliver {
        request,
        reply: destination,
        ..
    } = peel(&inner, &secrets[1])
    else {
        panic!("hop 1 of the fixture is the destination");
    };
    assert_eq!(request, targets::ONION_FIXTURE_REQUEST);
    let mut response = onion::seal_response(destination, b"pong").unwrap();
    onion::wrap_response(relay, &mut response).unwrap();
    let relay_error = onion::seal_response(relay_for_error, b"next hop unreachable").unwrap();
    for packet in [&response, &relay_error] {
        assert!(onion::open_response(&fixture.reply, packet).is_ok());
    }
    seeds([
        ("request", fixture.packet.clone()),
        ("request-at-destination", inner),
        ("response", response),
        ("relay-error", relay_error),
    ])
}

fn account_id_seeds() -> Vec<Seed> {
    let id = targets::recipient_key().account_id().to_text();
    seeds([
        ("id", id.clone().into_bytes()),
        ("id-upper", id.to_uppercase().into_bytes()),
        ("id-spaces", format!("  {id}\n").into_bytes()),
        ("id-other", owner().account_id().to_text().into_bytes()),
    ])
}

/// Truncated and bit-flipped copies of a valid input, to start the fuzzer next to
/// the edges: shorter by one byte, and one bit flipped near the start and in the
/// middle.
fn variants(data: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let flip = |at: usize| {
        let mut d = data.to_vec();
        if let Some(b) = d.get_mut(at) {
            *b ^= 0x01;
        }
        d
    };
    let len = data.len();
    vec![
        ("short", data[..len.saturating_sub(1)].to_vec()),
        ("flip-start", flip(2.min(len.saturating_sub(1)))),
        ("flip-middle", flip(len / 2)),
    ]
}

/// Every target's seeds with the function that must accept them.
fn all_seeds() -> Vec<(&'static str, Target, Vec<Seed>)> {
    vec![
        ("rpc_request", targets::rpc_request, rpc_request_seeds()),
        ("rpc_response", targets::rpc_response, rpc_response_seeds()),
        ("node_request", targets::node_request, node_request_seeds()),
        (
            "node_response",
            targets::node_response,
            node_response_seeds(),
        ),
        ("node_record", targets::node_record, node_record_seeds()),
        ("envelope_open", targets::envelope_open, envelope_seeds()),
        ("onion_peel", targets::onion_peel, onion_seeds()),
        ("account_id", targets::account_id, account_id_seeds()),
    ]
}

/// Every seed is accepted by its target (so the corpus starts past the first
/// check), and with `SOTTO_REGENERATE_CORPUS=1` the seeds and their variants are
/// written to `fuzz/corpus/<target>/seed-*`.
#[test]
fn seeds_are_accepted() {
    let regenerate = std::env::var("SOTTO_REGENERATE_CORPUS").as_deref() == Ok("1");
    for (target, run, seeds) in all_seeds() {
        assert!(!seeds.is_empty(), "{target}: no seeds");
        for (i, seed) in seeds.iter().enumerate() {
            let name = &seed.name;
            assert!(run(&seed.data), "{target}: seed {name} is refused");
            if !regenerate {
                continue;
            }
            let dir = corpus_dir(target);
            fs::create_dir_all(&dir).unwrap();
            fs::write(dir.join(format!("seed-{i:02}-{name}")), &seed.data).unwrap();
            if !seed.variants {
                continue;
            }
            for (variant, bytes) in variants(&seed.data) {
                // Variants may or may not be accepted; they must not panic.
                let _ = run(&bytes);
                fs::write(dir.join(format!("seed-{i:02}-{name}-{variant}")), bytes).unwrap();
            }
        }
    }
}
