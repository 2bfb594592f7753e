//! Known-answer vectors for onion packets (`tests/vectors/onion.json`): a request
//! through 3 relays and a destination, built from fixed keys and a seeded generator,
//! the packet each hop passes on, and a response as each hop sends it back.
//!
//! The test rebuilds everything from the same inputs and checks it byte for byte,
//! then peels the committed bytes themselves and checks that each hop re-creates
//! the committed packet it passes on (decode → re-encode), and that a committed
//! packet with a flipped byte does not peel at the hop that receives it: in the
//! hop's slot the slot does not open, anywhere else its integrity digest does not
//! match.
//!
//! A reply key answers once (`seal_response` and `wrap_response` take it by value),
//! so every response here is made with keys from a fresh peel of the packet; peeling
//! is deterministic, so they are the same keys. To regenerate the file
//! after a deliberate format change: `SOTTO_REGENERATE_VECTORS=1 cargo test -p
//! sotto-protocol --test vectors_onion`, and review the diff.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use serde::{Deserialize, Serialize};
use sotto_protocol::Error;
use sotto_protocol::NodeId;
use sotto_protocol::OnionSecret;
use sotto_protocol::constants::{ONION_HEADER_LEN, ONION_SLOT_LEN};
use sotto_protocol::onion::{
    CHANGED_ON_THE_WAY, Hop, OpenedResponse, Peeled, ReplyKey, build_request, open_response, peel,
    replay_tag, seal_response, wrap_response,
};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/onion.json");
const SEED: [u8; 32] = [0x5e; 32];
/// When the vector packet is built (Unix ms): its `not_after` minute follows from it.
const BUILT_AT: u64 = 1_800_000_000_000;
const REQUEST: &[u8] = b"sotto onion known-answer request: retrieve inbox, namespace 0";
const RESPONSE: &[u8] = b"sotto onion known-answer response: 0 messages";
const RELAY_ERROR: &[u8] = b"next hop unreachable";
/// The relay that reports its own error in the second response.
const ERROR_HOP: usize = 1;

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Vector {
    description: String,
    rng_seed: String,
    /// The client's clock when it built the packet (Unix ms).
    built_at: u64,
    request: String,
    response: String,
    hops: Vec<HopVector>,
    /// The packet the client sends to hop 0.
    packet: String,
    /// What each hop gets from peeling the packet it received.
    peeled: Vec<PeelVector>,
    /// The destination's response as each hop sends it back: index i is what hop i
    /// passes to hop i - 1 (index 0 is what the client receives).
    response_at_hop: Vec<String>,
    /// Relay `ERROR_HOP`'s own error as it and the hops before it send it back.
    relay_error_at_hop: Vec<String>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct HopVector {
    node: String,
    onion_secret: String,
    onion_public: String,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct PeelVector {
    replay_tag: String,
    /// The packet's validity as the hop reads it (Unix ms): the same at every hop.
    not_after: u64,
    /// Forward: the next node and the packet sent to it.
    next: Option<String>,
    packet: Option<String>,
    /// Deliver: the request.
    request: Option<String>,
}

fn secrets() -> Vec<OnionSecret> {
    (0..4u8)
        .map(|i| OnionSecret::from_secret_bytes([0x10 * (i + 1); 32]))
        .collect()
}

fn hops(secrets: &[OnionSecret]) -> Vec<Hop> {
    secrets
        .iter()
        .zip(0u8..)
        .map(|(s, i)| Hop {
            node: NodeId([0xA0 + i; 32]),
            onion_key: s.public(),
        })
        .collect()
}

fn unhex(what: &str, s: &str) -> Vec<u8> {
    hex::decode(s).unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// Peels `packet` at every hop, returning what each hop produced and its reply key.
fn peel_all(secrets: &[OnionSecret], packet: &[u8]) -> (Vec<PeelVector>, Vec<ReplyKey>) {
    let mut packet = packet.to_vec();
    let mut peeled = vec![];
    let mut replies = vec![];
    for secret in secrets {
        let tag = hex::encode(replay_tag(&packet).unwrap().as_bytes());
        match peel(&packet, &[secret]).unwrap() {
            Peeled::Forward {
                next,
                packet: inner,
                reply,
                not_after,
            } => {
                peeled.push(PeelVector {
                    replay_tag: tag,
                    not_after,
                    next: Some(hex::encode(next.as_bytes())),
                    packet: Some(hex::encode(&inner)),
                    request: None,
                });
                replies.push(reply);
                packet = inner;
            }
            Peeled::Deliver {
                request,
                reply,
                not_after,
            } => {
                peeled.push(PeelVector {
                    replay_tag: tag,
                    not_after,
                    next: None,
                    packet: None,
                    request: Some(hex::encode(&request)),
                });
                replies.push(reply);
            }
        }
    }
    (peeled, replies)
}

/// A response sealed at `from` and wrapped by every hop before it; index i is what
/// hop i sends back. Consumes the reply keys.
fn respond(mut replies: Vec<ReplyKey>, from: usize, body: &[u8]) -> Vec<String> {
    replies.truncate(from + 1);
    let sealer = replies.pop().unwrap();
    let mut back = seal_response(sealer, body).unwrap();
    let mut at_hop = vec![hex::encode(&back)];
    for relay in replies.into_iter().rev() {
        wrap_response(relay, &mut back).unwrap();
        at_hop.push(hex::encode(&back));
    }
    at_hop.reverse();
    at_hop
}

/// Every hop's reply key for `packet`, from a fresh peel.
fn reply_keys(secrets: &[OnionSecret], packet: &[u8]) -> Vec<ReplyKey> {
    peel_all(secrets, packet).1
}

fn generate() -> Vector {
    let secrets = secrets();
    let hops = hops(&secrets);
    let mut rng = ChaCha20Rng::from_seed(SEED);
    let (packet, _) = build_request(&mut rng, &hops, REQUEST, BUILT_AT).unwrap();
    let peeled = peel_all(&secrets, &packet).0;
    Vector {
        description: "Onion request through 3 relays and a destination (hops in path \
                      order), built with ChaCha20Rng::from_seed(rng_seed): one X25519 \
                      secret per hop, then the filler slot. Slots of 112 bytes, each \
                      hop's routing info holding the integrity digest of the rest of the \
                      packet as it receives it and the packet's not_after minute \
                      (built_at + 60 s, rounded up). Regenerate with \
                      SOTTO_REGENERATE_VECTORS=1."
            .into(),
        rng_seed: hex::encode(SEED),
        built_at: BUILT_AT,
        request: hex::encode(REQUEST),
        response: hex::encode(RESPONSE),
        hops: secrets
            .iter()
            .zip(&hops)
            .map(|(s, h)| HopVector {
                node: hex::encode(h.node.as_bytes()),
                onion_secret: hex::encode(&s.to_secret_bytes()[..]),
                onion_public: hex::encode(h.onion_key),
            })
            .collect(),
        packet: hex::encode(&packet),
        peeled,
        response_at_hop: respond(reply_keys(&secrets, &packet), hops.len() - 1, RESPONSE),
        relay_error_at_hop: respond(reply_keys(&secrets, &packet), ERROR_HOP, RELAY_ERROR),
    }
}

fn load() -> Vector {
    let text = std::fs::read_to_string(PATH).unwrap_or_else(|e| {
        panic!("{PATH}: {e} (run with SOTTO_REGENERATE_VECTORS=1 to create it)")
    });
    serde_json::from_str(&text).unwrap()
}

#[test]
fn onion_vectors() {
    let fresh = generate();
    if std::env::var("SOTTO_REGENERATE_VECTORS").as_deref() == Ok("1") {
        let mut text = serde_json::to_string_pretty(&fresh).unwrap();
        text.push('\n');
        std::fs::create_dir_all(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors")).unwrap();
        std::fs::write(PATH, text).unwrap();
        return;
    }
    let committed = load();
    // Field by field, so a failure names the part that drifted without printing
    // kilobytes of hex.
    assert!(fresh.hops == committed.hops, "hop keys differ");
    assert!(fresh.packet == committed.packet, "built packet differs");
    for (i, (a, b)) in fresh.peeled.iter().zip(&committed.peeled).enumerate() {
        assert!(a == b, "peeled packet at hop {i} differs");
    }
    assert_eq!(fresh.peeled.len(), committed.peeled.len());
    assert!(
        fresh.response_at_hop == committed.response_at_hop,
        "response differs"
    );
    assert!(
        fresh.relay_error_at_hop == committed.relay_error_at_hop,
        "relay error differs"
    );
    assert!(fresh == committed, "vector metadata differs");
}

#[test]
fn committed_bytes_peel_and_reencode() {
    let v = load();
    let secrets: Vec<OnionSecret> = v
        .hops
        .iter()
        .map(|h| {
            let s = OnionSecret::from_secret_bytes(
                unhex("secret", &h.onion_secret).try_into().unwrap(),
            );
            assert_eq!(hex::encode(s.public()), h.onion_public);
            s
        })
        .collect();
    // Each hop, given the committed bytes it received, re-creates exactly the
    // committed bytes it passes on.
    let packet = unhex("packet", &v.packet);
    let peeled = peel_all(&secrets, &packet).0;
    assert_eq!(peeled.len(), 4);
    for (i, (got, want)) in peeled.iter().zip(&v.peeled).enumerate() {
        assert!(got == want, "hop {i} re-encodes differently");
        assert_eq!(got.next.as_ref(), v.hops.get(i + 1).map(|h| &h.node));
    }
    assert_eq!(
        unhex("request", v.peeled[3].request.as_ref().unwrap()),
        REQUEST
    );
    // The same reply keys re-create the committed responses.
    assert_eq!(
        respond(reply_keys(&secrets, &packet), 3, RESPONSE),
        v.response_at_hop
    );
    assert_eq!(
        respond(reply_keys(&secrets, &packet), ERROR_HOP, RELAY_ERROR),
        v.relay_error_at_hop
    );
    // Each committed hop packet wraps into the one the hop before it sends.
    for i in (0..3).rev() {
        let mut back = unhex("response", &v.response_at_hop[i + 1]);
        let relay = reply_keys(&secrets, &packet).swap_remove(i);
        wrap_response(relay, &mut back).unwrap();
        assert_eq!(hex::encode(&back), v.response_at_hop[i]);
    }
    // The client's reply state, rebuilt from the seed, opens what reaches it.
    let (_, state) = build_request(
        &mut ChaCha20Rng::from_seed(SEED),
        &hops(&secrets),
        REQUEST,
        BUILT_AT,
    )
    .unwrap();
    assert_eq!(
        open_response(&state, &unhex("response", &v.response_at_hop[0])).unwrap(),
        OpenedResponse::Destination(RESPONSE.to_vec())
    );
    assert_eq!(
        open_response(&state, &unhex("error", &v.relay_error_at_hop[0])).unwrap(),
        OpenedResponse::RelayError {
            hop: ERROR_HOP,
            body: RELAY_ERROR.to_vec()
        }
    );
}

/// The negative half of the vectors: each committed packet, as its hop receives it,
/// with any one byte of the hop's own slot flipped (the ephemeral key, the sealed
/// routing or the tag), does not peel; with a byte flipped anywhere after the slot
/// (every slot boundary, the end of the header, a spread of payload bytes, the last
/// byte) the slot opens but its integrity digest does not match. The same bytes
/// unflipped peel.
#[test]
fn committed_packets_with_a_flipped_byte_do_not_peel() {
    let v = load();
    let received =
        std::iter::once(&v.packet).chain(v.peeled.iter().filter_map(|p| p.packet.as_ref()));
    let mut checked = 0;
    for ((i, packet), hop) in received.enumerate().zip(&v.hops) {
        let secret =
            OnionSecret::from_secret_bytes(unhex("secret", &hop.onion_secret).try_into().unwrap());
        let packet = unhex("packet", packet);
        assert!(peel(&packet, &[&secret]).is_ok(), "hop {i} unflipped");
        for pos in 0..ONION_SLOT_LEN {
            let mut bad = packet.clone();
            bad[pos] ^= 1 << (pos % 8);
            assert!(
                matches!(
                    peel(&bad, &[&secret]),
                    Err(Error::Decrypt { .. } | Error::BadKey { .. })
                ),
                "hop {i}: flipped slot byte {pos} peeled"
            );
        }
        let after_slot = (ONION_SLOT_LEN..=ONION_HEADER_LEN)
            .step_by(ONION_SLOT_LEN / 2)
            .chain((ONION_HEADER_LEN..packet.len()).step_by(251))
            .chain([ONION_HEADER_LEN - 1, packet.len() - 1]);
        for pos in after_slot {
            let mut bad = packet.clone();
            bad[pos] ^= 1 << (pos % 8);
            assert_eq!(
                peel(&bad, &[&secret]).unwrap_err(),
                Error::Decrypt {
                    what: CHANGED_ON_THE_WAY
                },
                "hop {i}: flipped byte {pos} after the slot"
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 4, "a packet for every hop, relays and destination");
}
