//! Everything a peer can send, fed to the decoder that reads it: random bytes,
//! and valid encodings with bytes changed, cut or appended. Every decoder must
//! answer with a typed error or a value, never panic; and a changed signed or
//! sealed input must never be accepted as authentic.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sotto_protocol::constants::{ONION_REQUEST_CLASSES, ONION_RESPONSE_CLASSES};
use sotto_protocol::envelope::{self, Content, ContentBody, ContentId};
use sotto_protocol::onion::{self, Hop};
use sotto_protocol::record::{NodeRecord, OnionKeyEntry, SignedNodeRecord};
use sotto_protocol::rpc::{
    NodeRequest, NodeResponse, Request, Response, RetrieveRequest, StoreRequest,
};
use sotto_protocol::{
    AccountId, AccountKey, Namespace, NetworkParams, NodeId, NodeKey, OnionSecret,
};

const NOW: u64 = 1_800_000_000_000;
/// When the test packets are built; peeling does not check it.
const BUILT_AT: u64 = NOW;

fn alice() -> AccountKey {
    AccountKey::from_entropy([1; 16])
}

fn bob() -> AccountKey {
    AccountKey::from_entropy([2; 16])
}

fn valid_requests() -> Vec<Vec<u8>> {
    let a = alice();
    vec![
        Request::Store(StoreRequest::unsigned(
            bob().account_id(),
            Namespace::INBOX,
            b"sealed".to_vec(),
            60_000,
        ))
        .encode()
        .unwrap(),
        Request::Retrieve(
            RetrieveRequest::signed(&a, "devnet", Namespace::INBOX, None, 1_000, NOW).unwrap(),
        )
        .encode()
        .unwrap(),
        Request::Ping.encode().unwrap(),
    ]
}

fn valid_record() -> Vec<u8> {
    let key = NodeKey::from_secret_bytes(&[3; 32]);
    NodeRecord {
        version: sotto_protocol::constants::PROTOCOL_VERSION,
        network: "devnet".into(),
        node: key.node_id(),
        addrs: vec!["/ip4/127.0.0.1/tcp/4000".into()],
        onion_keys: vec![OnionKeyEntry {
            key: OnionSecret::from_secret_bytes([4; 32]).public(),
            valid_from: NOW - 1_000,
            valid_until: NOW + 3_600_000,
        }],
        issued_at: NOW - 1_000,
        expires_at: NOW + 3_600_000,
        admission: sotto_protocol::record::admission::Admission::default(),
    }
    .sign(&key)
    .unwrap()
    .encode()
    .unwrap()
}

fn valid_envelope() -> Vec<u8> {
    let content = Content {
        id: ContentId([5; 16]),
        sent_at: NOW,
        body: ContentBody::Text {
            text: "hello".into(),
        },
    };
    let mut rng = ChaCha20Rng::from_seed([6; 32]);
    envelope::seal(&alice(), &bob().account_id(), &content, &mut rng).unwrap()
}

fn onion_path() -> (Vec<OnionSecret>, Vec<Hop>) {
    let secrets: Vec<OnionSecret> = (0..4u8)
        .map(|i| OnionSecret::from_secret_bytes([10 + i; 32]))
        .collect();
    let hops = secrets
        .iter()
        .enumerate()
        .map(|(i, s)| Hop {
            node: NodeId([i as u8 + 1; 32]),
            onion_key: s.public(),
        })
        .collect();
    (secrets, hops)
}

/// Applies `edits` (position, xor mask) to `bytes`, then cuts or extends it.
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)], resize: Option<usize>) -> Vec<u8> {
    if bytes.is_empty() {
        return bytes;
    }
    for &(pos, mask) in edits {
        let i = pos % bytes.len();
        bytes[i] ^= mask;
    }
    if let Some(n) = resize {
        bytes.resize(n, 0xA5);
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Request::decode(&bytes);
        let _ = Response::decode(&bytes, NOW);
        let _ = NodeRequest::decode(&bytes, NOW);
        let _ = NodeResponse::decode(&bytes, NOW);
        if let Ok(r) = SignedNodeRecord::decode(&bytes) {
            let _ = r.verify(&NetworkParams::devnet(), NOW);
        }
        let _ = Content::from_bytes(&bytes);
        let _ = envelope::open(&bob(), &bytes);
        let _ = onion::replay_tag(&bytes);
        let _ = AccountId::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn random_packets_of_every_class_are_refused(
        class in 0usize..2,
        seed in any::<[u8; 32]>(),
    ) {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut packet = vec![0u8; ONION_REQUEST_CLASSES[class]];
        rand::Rng::fill_bytes(&mut rng, &mut packet);
        let key = OnionSecret::from_secret_bytes([10; 32]);
        prop_assert!(onion::replay_tag(&packet).is_ok());
        prop_assert!(onion::peel(&packet, &[&key]).is_err());
    }

    #[test]
    fn changed_requests_decode_or_fail_cleanly(
        which in 0usize..3,
        edits in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..4),
        resize in proptest::option::of(0usize..400),
    ) {
        let bytes = mutate(valid_requests()[which].clone(), &edits, resize);
        if let Ok(req) = Request::decode(&bytes) {
            // Whatever decodes re-encodes to exactly the bytes that came in.
            prop_assert_eq!(req.encode().unwrap(), bytes);
            // A changed signed request never passes the owner check.
            if which == 1 {
                prop_assert!(req.authorize("devnet", NOW).is_err());
            }
        }
    }

    #[test]
    fn changed_records_never_verify(
        edits in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..4),
        resize in proptest::option::of(0usize..600),
    ) {
        let original = valid_record();
        let bytes = mutate(original.clone(), &edits, resize);
        prop_assume!(bytes != original);
        if let Ok(r) = SignedNodeRecord::decode(&bytes) {
            prop_assert!(r.verify(&NetworkParams::devnet(), NOW).is_err());
        }
    }

    #[test]
    fn changed_envelopes_never_open(
        edits in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..4),
        resize in proptest::option::of(0usize..1024),
    ) {
        let original = valid_envelope();
        let bytes = mutate(original.clone(), &edits, resize);
        prop_assume!(bytes != original);
        prop_assert!(envelope::open(&bob(), &bytes).is_err());
    }

    #[test]
    fn changed_onion_packets_are_refused_by_the_hop_that_receives_them(
        edits in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..3),
        at in 0usize..4,
        seed in any::<[u8; 32]>(),
    ) {
        let (secrets, hops) = onion_path();
        let mut rng = ChaCha20Rng::from_seed(seed);
        let request = b"a request that must arrive unchanged or not at all".to_vec();
        let (mut packet, _reply) = onion::build_request(&mut rng, &hops, &request, BUILT_AT).unwrap();
        // The packet as hop `at` receives it, changed on the way there (by the hop
        // before it, or on the link).
        for secret in &secrets[..at] {
            match onion::peel(&packet, &[secret]).unwrap() {
                onion::Peeled::Forward { packet: p, .. } => packet = p,
                onion::Peeled::Deliver { .. } => panic!("delivered early"),
            }
        }
        let mut current = mutate(packet.clone(), &edits, None);
        let changed = current != packet;
        // Walk the rest of the path: a changed packet goes no further than hop
        // `at`; an unchanged one (the edits cancelled out) delivers exactly the
        // original request.
        for (i, secret) in secrets.iter().enumerate().skip(at) {
            match onion::peel(&current, &[secret]) {
                Err(e) => {
                    prop_assert!(changed, "the unchanged packet failed at hop {}: {}", i, e);
                    prop_assert_eq!(i, at, "the change travelled past hop {}", at);
                    return Ok(());
                }
                Ok(onion::Peeled::Forward { next, packet, .. }) => {
                    prop_assert!(!changed, "hop {} passed on a changed packet", i);
                    prop_assert!(i + 1 < secrets.len());
                    prop_assert_eq!(next, hops[i + 1].node);
                    current = packet;
                }
                Ok(onion::Peeled::Deliver { request: got, .. }) => {
                    prop_assert!(!changed, "the destination took a changed packet");
                    prop_assert_eq!(i + 1, secrets.len());
                    prop_assert_eq!(got, request.clone());
                    return Ok(());
                }
            }
        }
    }

    #[test]
    fn changed_responses_never_open_as_authentic(
        pos in any::<usize>(),
        mask in 1u8..=255,
        seed in any::<[u8; 32]>(),
    ) {
        let (secrets, hops) = onion_path();
        let mut rng = ChaCha20Rng::from_seed(seed);
        let (mut packet, reply) = onion::build_request(&mut rng, &hops, b"ping", BUILT_AT).unwrap();
        let mut keys = Vec::new();
        for secret in &secrets {
            match onion::peel(&packet, &[secret]).unwrap() {
                onion::Peeled::Forward { packet: p, reply, .. } => {
                    keys.push(reply);
                    packet = p;
                }
                onion::Peeled::Deliver { reply, .. } => keys.push(reply),
            }
        }
        let dest = keys.pop().unwrap();
        let mut response = onion::seal_response(dest, b"pong").unwrap();
        prop_assert_eq!(response.len(), ONION_RESPONSE_CLASSES[0]);
        for k in keys.into_iter().rev() {
            onion::wrap_response(k, &mut response).unwrap();
        }
        let i = pos % response.len();
        response[i] ^= mask;
        prop_assert!(onion::open_response(&reply, &response).is_err());
    }
}

/// The unchanged inputs the properties start from are accepted, so a property
/// that sees only rejections is seeing the effect of the change.
#[test]
fn unchanged_inputs_are_accepted() {
    for bytes in valid_requests() {
        let req = Request::decode(&bytes).unwrap();
        req.authorize("devnet", NOW).unwrap();
    }
    SignedNodeRecord::decode(&valid_record())
        .unwrap()
        .verify(&NetworkParams::devnet(), NOW)
        .unwrap();
    let opened = envelope::open(&bob(), &valid_envelope()).unwrap();
    assert_eq!(opened.sender, alice().account_id());
}
