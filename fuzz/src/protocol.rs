//! The protocol fuzz targets: one function per decoder a peer can reach, shared by
//! the `cargo fuzz` binaries and by `protocol/tests/fuzz_corpus.rs`, which replays
//! the committed corpora through the very same code.
//!
//! Each function takes arbitrary bytes, must never panic on them, and returns
//! whether the input was *accepted* (decoded, and where there is one, verified or
//! opened). A panic is a finding; so is an accepted value that does not survive
//! encode → decode unchanged (checked with `assert_eq!`). The keys, the network
//! parameters and the clock are fixed ([`FUZZ_NOW`], [`recipient_key`],
//! [`onion_fixture`]) so that the seed corpus can hold inputs that get past the
//! signatures and AEAD tags and reach the code behind them.

use std::fmt::Debug;
use std::sync::OnceLock;

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sotto_protocol::envelope::{self, Content};
use sotto_protocol::onion::{self, Hop, Peeled, ReplyState};
use sotto_protocol::record::SignedNodeRecord;
use sotto_protocol::rpc::{NodeRequest, NodeResponse, Request, Response};
use sotto_protocol::{AccountId, AccountKey, NetworkParams, NodeId, OnionSecret, UnixMillis};

/// The network every owner signature and record is checked against.
pub const FUZZ_NETWORK: &str = "devnet";

/// The clock every target runs at: 2026-01-01T00:10:00Z. Seeds are signed and
/// issued a few minutes before it, so owner signatures and node records verify.
pub const FUZZ_NOW: UnixMillis = 1_767_225_600_000 + 10 * 60 * 1_000;

/// The entropy of the account the `envelope_open` target opens envelopes as.
pub const RECIPIENT_ENTROPY: [u8; 16] = [0x52; 16];

/// Secrets of the two onion keys `onion_peel` peels with, in the order a relay
/// tries them (current, then previous). The fixture path is hop 0 (a relay) then
/// hop 1 (the destination), so both layers of its packet peel under these keys.
pub const ONION_SECRETS: [[u8; 32]; 2] = [[0x0a; 32], [0x0b; 32]];

/// Seed of the generator the fixture request is built with.
pub const ONION_FIXTURE_SEED: [u8; 32] = [0x0f; 32];

/// The request the fixture packet carries.
pub const ONION_FIXTURE_REQUEST: &[u8] = b"sotto fuzz fixture: ping";
/// When the fixture packet is built (2027, Unix ms): fixed, so the seeds are.
pub const ONION_FIXTURE_BUILT_AT: UnixMillis = 1_800_000_000_000;

/// The account key whose envelopes `envelope_open` opens.
pub fn recipient_key() -> AccountKey {
    AccountKey::from_entropy(RECIPIENT_ENTROPY)
}

/// The network node records are verified against: devnet (no admission work).
pub fn record_params() -> NetworkParams {
    NetworkParams::devnet()
}

/// The onion keys `onion_peel` peels with (see [`ONION_SECRETS`]).
pub fn onion_secrets() -> [OnionSecret; 2] {
    ONION_SECRETS.map(OnionSecret::from_secret_bytes)
}

/// The path of the fixture request: hop `i` has onion key `ONION_SECRETS[i]`.
pub fn onion_fixture_hops() -> Vec<Hop> {
    onion_secrets()
        .iter()
        .zip(0u8..)
        .map(|(secret, i)| Hop {
            node: NodeId([0xc0 + i; 32]),
            onion_key: secret.public(),
        })
        .collect()
}

/// A request built once, deterministically, through [`onion_fixture_hops`]: the
/// packet as the client sent it, and the [`ReplyState`] that opens its response.
pub struct OnionFixture {
    /// The onion keys of the path, in order.
    pub secrets: [OnionSecret; 2],
    /// The packet sent to hop 0.
    pub packet: Vec<u8>,
    /// What the client kept to open the response.
    pub reply: ReplyState,
}

/// The fixture request (built on first use).
#[allow(
    clippy::panic,
    reason = "a fixture that cannot be built is a bug in the harness, not a finding"
)]
pub fn onion_fixture() -> &'static OnionFixture {
    static FIXTURE: OnceLock<OnionFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut rng = ChaCha20Rng::from_seed(ONION_FIXTURE_SEED);
        match onion::build_request(
            &mut rng,
            &onion_fixture_hops(),
            ONION_FIXTURE_REQUEST,
            ONION_FIXTURE_BUILT_AT,
        ) {
            Ok((packet, reply)) => OnionFixture {
                secrets: onion_secrets(),
                packet,
                reply,
            },
            Err(e) => panic!("fuzz fixture: building the onion request failed: {e}"),
        }
    })
}

/// Checks that `value` (just decoded) encodes, and decodes back to itself.
fn assert_round_trip<T: PartialEq + Debug>(
    what: &str,
    value: &T,
    encode: impl Fn(&T) -> sotto_protocol::Result<Vec<u8>>,
    decode: impl Fn(&[u8]) -> sotto_protocol::Result<T>,
) {
    let again = encode(value).and_then(|bytes| decode(&bytes));
    assert_eq!(
        again.as_ref().ok(),
        Some(value),
        "{what}: a decoded value does not survive encode → decode ({again:?})"
    );
}

/// `Request::decode`, then (if it decodes) the owner signature check at
/// [`FUZZ_NOW`] and encode → decode. Accepted: decoded.
pub fn rpc_request(data: &[u8]) -> bool {
    let Ok(request) = Request::decode(data) else {
        return false;
    };
    // A node runs this on every decoded request; the result is the peer's business.
    let _ = request.authorize(FUZZ_NETWORK, FUZZ_NOW);
    let _ = (request.kind(), request.account(), request.swarm_account());
    assert_round_trip("RPC request", &request, Request::encode, Request::decode);
    true
}

/// `Response::decode`, then encode → decode, and the verification a client runs
/// on every node record a response carries. Accepted: decoded.
pub fn rpc_response(data: &[u8]) -> bool {
    let Ok(response) = Response::decode(data, FUZZ_NOW) else {
        return false;
    };
    if let Response::Swarm { records } | Response::Directory { records, .. } = &response {
        let params = record_params();
        for record in records {
            let _ = record.verify(&params, FUZZ_NOW);
        }
    }
    let _ = response.kind();
    assert_round_trip("RPC response", &response, Response::encode, |b| {
        Response::decode(b, FUZZ_NOW)
    });
    true
}

/// `NodeRequest::decode`, then encode → decode. Accepted: decoded.
pub fn node_request(data: &[u8]) -> bool {
    let Ok(request) = NodeRequest::decode(data, FUZZ_NOW) else {
        return false;
    };
    // A node checks the owner proofs of everything a peer replicates.
    let _ = request.authorize(FUZZ_NETWORK, FUZZ_NOW);
    let _ = request.kind();
    assert_round_trip("node request", &request, NodeRequest::encode, |b| {
        NodeRequest::decode(b, FUZZ_NOW)
    });
    true
}

/// `NodeResponse::decode`, then encode → decode. Accepted: decoded.
pub fn node_response(data: &[u8]) -> bool {
    let Ok(response) = NodeResponse::decode(data, FUZZ_NOW) else {
        return false;
    };
    let _ = response.authorize(FUZZ_NETWORK, FUZZ_NOW);
    assert_round_trip("node response", &response, NodeResponse::encode, |b| {
        NodeResponse::decode(b, FUZZ_NOW)
    });
    true
}

/// `SignedNodeRecord::decode` (which insists on the canonical encoding, so the
/// bytes must re-encode exactly), then `verify` on devnet at [`FUZZ_NOW`].
/// Accepted: verified.
pub fn node_record(data: &[u8]) -> bool {
    let Ok(signed) = SignedNodeRecord::decode(data) else {
        return false;
    };
    assert_eq!(
        signed.encode().ok().as_deref(),
        Some(data),
        "signed node record: decode accepted a non-canonical encoding"
    );
    let Ok(record) = signed.verify(&record_params(), FUZZ_NOW) else {
        return false;
    };
    let _ = (
        record.current_onion_key(FUZZ_NOW),
        record.needs_reannounce(FUZZ_NOW, 0),
    );
    true
}

/// `envelope::open` as [`recipient_key`], and `Content::from_bytes` on the same
/// bytes (the content decoder is reached only after a signature check in `open`,
/// so it is fuzzed directly too). Accepted: either one succeeded.
pub fn envelope_open(data: &[u8]) -> bool {
    let opened = envelope::open(&recipient_key(), data).ok();
    if let Some(opened) = &opened {
        assert_round_trip(
            "opened envelope content",
            &opened.content,
            Content::to_bytes,
            Content::from_bytes,
        );
    }
    let content = Content::from_bytes(data).ok();
    if let Some(content) = &content {
        // from_bytes refuses all but the canonical encoding.
        assert_eq!(
            content.to_bytes().ok().as_deref(),
            Some(data),
            "envelope content: from_bytes accepted a non-canonical encoding"
        );
    }
    opened.is_some() || content.is_some()
}

/// `onion::replay_tag` and `onion::peel` with [`onion_secrets`] (peeling again
/// while the packet is forwarded to a hop whose key we hold), and
/// `onion::open_response` with the fixture's [`ReplyState`]. Accepted: a layer
/// peeled or the response opened.
pub fn onion_peel(data: &[u8]) -> bool {
    let fixture = onion_fixture();
    let keys = [&fixture.secrets[0], &fixture.secrets[1]];
    let mut accepted = false;

    let mut packet = data.to_vec();
    // Each peel removes one layer; a path has at most ONION_MAX_LAYERS, so this
    // ends, but bound it anyway.
    for _ in 0..sotto_protocol::constants::ONION_MAX_LAYERS {
        let tag = onion::replay_tag(&packet);
        match onion::peel(&packet, &keys) {
            Ok(Peeled::Forward { packet: next, .. }) => {
                assert!(tag.is_ok(), "onion: peeled a packet without a replay tag");
                assert_eq!(
                    next.len(),
                    packet.len(),
                    "onion: a forwarded packet changed size"
                );
                accepted = true;
                packet = next;
            }
            Ok(Peeled::Deliver { .. }) => {
                assert!(tag.is_ok(), "onion: peeled a packet without a replay tag");
                accepted = true;
                break;
            }
            Err(_) => break,
        }
    }

    if onion::open_response(&fixture.reply, data).is_ok() {
        accepted = true;
    }
    accepted
}

/// `AccountId::parse` on the input as UTF-8 (lossily, so every input is tried);
/// an accepted ID must print and parse back to itself. Accepted: parsed.
pub fn account_id(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let Ok(id) = AccountId::parse(&text) else {
        return false;
    };
    let printed = id.to_text();
    assert_eq!(
        AccountId::parse(&printed).ok(),
        Some(id),
        "account ID: {printed:?} does not parse back"
    );
    true
}
