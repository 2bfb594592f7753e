//! End-to-end tests of onion packets: build, peel at every hop, respond.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

use super::*;
use crate::constants::{MAX_ONION_REQUEST, MAX_ONION_RESPONSE, ONION_MAX_LAYERS, ONION_SLOT_LEN};
use crate::id::NodeId;
use crate::keys::OnionSecret;

/// `n` hops with distinct node ids and onion keys.
fn network(n: usize) -> (Vec<OnionSecret>, Vec<Hop>) {
    let secrets: Vec<OnionSecret> = (0..n)
        .map(|i| OnionSecret::from_secret_bytes([0x40 + i as u8; 32]))
        .collect();
    let hops = secrets
        .iter()
        .enumerate()
        .map(|(i, s)| Hop {
            node: NodeId([0xA0 + i as u8; 32]),
            onion_key: s.public(),
        })
        .collect();
    (secrets, hops)
}

fn rng(seed: u8) -> ChaCha20Rng {
    ChaCha20Rng::from_seed([seed; 32])
}

/// Everything a run through the path produced.
struct Run {
    /// The packet as each hop received it.
    packets: Vec<Vec<u8>>,
    /// Each hop's reply key.
    replies: Vec<ReplyKey>,
    /// What the destination got.
    request: Vec<u8>,
}

/// Peels `packet` at hops `from..`, checking that each relay forwards to the next
/// hop of the path. Any error is returned; a Forward to the wrong node or a Deliver
/// before the destination fails the test.
fn run_from(secrets: &[OnionSecret], hops: &[Hop], from: usize, packet: Vec<u8>) -> Result<Run> {
    let mut run = Run {
        packets: vec![],
        replies: vec![],
        request: vec![],
    };
    let mut packet = packet;
    for (i, secret) in secrets.iter().enumerate().take(hops.len()).skip(from) {
        run.packets.push(packet.clone());
        match peel(&packet, &[secret])? {
            Peeled::Forward {
                next,
                packet: inner,
                reply,
            } => {
                assert_eq!(Some(next), hops.get(i + 1).map(|h| h.node), "hop {i}");
                assert_eq!(inner.len(), packet.len(), "size changed at hop {i}");
                run.replies.push(reply);
                packet = inner;
            }
            Peeled::Deliver { request, reply } => {
                assert_eq!(i, hops.len() - 1, "delivered early at hop {i}");
                run.replies.push(reply);
                run.request = request;
                return Ok(run);
            }
        }
    }
    panic!("the destination forwarded the packet");
}

#[test]
fn request_arrives_through_every_path_length() {
    for n in 1..=ONION_MAX_LAYERS {
        for len in [0usize, 1, 100, 3000, 5000] {
            let (secrets, hops) = network(n);
            let request: Vec<u8> = (0..len).map(|i| (i * 7 + n) as u8).collect();
            let (packet, state) = build_request(&mut rng(n as u8), &hops, &request).unwrap();
            let class = if len <= 3000 { 4096 } else { 96 * 1024 };
            assert_eq!(packet.len(), class);
            assert_eq!(state.hop_count(), n);
            let run = run_from(&secrets, &hops, 0, packet).unwrap();
            assert_eq!(run.request, request, "n = {n}, len = {len}");
            // Every hop saw the same size and different bytes.
            assert!(run.packets.iter().all(|p| p.len() == class));
            for (a, pa) in run.packets.iter().enumerate() {
                for pb in run.packets.iter().skip(a + 1) {
                    assert_ne!(pa, pb);
                }
            }
        }
    }
}

#[test]
fn class_is_the_smallest_that_fits() {
    let (_, hops) = network(3);
    let small_max = 4096 - ONION_HEADER_LEN - TAG_LEN - ONION_LEN_PREFIX;
    let (p, _) = build_request(&mut rng(1), &hops, &vec![1; small_max]).unwrap();
    assert_eq!(p.len(), 4096);
    let (p, _) = build_request(&mut rng(1), &hops, &vec![1; small_max + 1]).unwrap();
    assert_eq!(p.len(), 96 * 1024);
    let (secrets, _) = network(3);
    let big = vec![9u8; MAX_ONION_REQUEST];
    let (p, _) = build_request(&mut rng(1), &hops, &big).unwrap();
    assert_eq!(p.len(), 96 * 1024);
    assert_eq!(run_from(&secrets, &hops, 0, p).unwrap().request, big);
}

#[test]
fn oversized_request_does_not_fit() {
    let (_, hops) = network(3);
    let err = build_request(&mut rng(1), &hops, &vec![0; MAX_ONION_REQUEST + 1]).unwrap_err();
    assert_eq!(
        err,
        Error::DoesNotFit {
            what: "onion request",
            len: MAX_ONION_REQUEST + 1,
            max: MAX_ONION_REQUEST
        }
    );
}

#[test]
fn path_length_is_checked() {
    let (_, hops) = network(ONION_MAX_LAYERS + 1);
    for bad in [&hops[..0], &hops[..]] {
        assert!(matches!(
            build_request(&mut rng(1), bad, b"x"),
            Err(Error::OutOfRange { .. })
        ));
    }
}

#[test]
fn low_order_keys_are_refused_not_panicked_on() {
    let (secrets, mut hops) = network(2);
    hops[1].onion_key = [0; 32];
    assert!(matches!(
        build_request(&mut rng(1), &hops, b"x"),
        Err(Error::BadKey { .. })
    ));
    let (_, hops) = network(2);
    let (mut packet, _) = build_request(&mut rng(1), &hops, b"x").unwrap();
    packet[..32].fill(0);
    assert!(peel(&packet, &[&secrets[0]]).is_err());
}

#[test]
fn wrong_size_packets_are_refused_before_crypto() {
    let (secrets, _) = network(1);
    for len in [
        0usize,
        1,
        ONION_HEADER_LEN,
        4095,
        4097,
        96 * 1024 - 1,
        1024 * 1024,
    ] {
        let packet = vec![0u8; len];
        assert_eq!(replay_tag(&packet), Err(Error::SizeClass { len }));
        assert!(matches!(
            peel(&packet, &[&secrets[0]]),
            Err(Error::SizeClass { len: l }) if l == len
        ));
    }
}

#[test]
fn wrong_onion_key_fails_and_previous_key_is_accepted() {
    let (secrets, hops) = network(2);
    let (packet, _) = build_request(&mut rng(3), &hops, b"ping").unwrap();
    let stranger = OnionSecret::from_secret_bytes([0x99; 32]);
    assert!(matches!(
        peel(&packet, &[&stranger]),
        Err(Error::Decrypt { .. })
    ));
    assert!(matches!(peel(&packet, &[]), Err(Error::Decrypt { .. })));
    // The client used the key the hop has since rotated away from: the hop passes
    // its current key first and the previous one second.
    let previous = &secrets[0];
    let current = OnionSecret::from_secret_bytes([0x77; 32]);
    let peeled = peel(&packet, &[&current, previous]).unwrap();
    assert!(matches!(peeled, Peeled::Forward { next, .. } if next == hops[1].node));
    // The destination's key does not open the first layer.
    assert!(peel(&packet, &[&secrets[1]]).is_err());
}

#[test]
fn replay_tags() {
    let (secrets, hops) = network(3);
    let (a, _) = build_request(&mut rng(5), &hops, b"same").unwrap();
    let (b, _) = build_request(&mut rng(6), &hops, b"same").unwrap();
    assert_eq!(replay_tag(&a).unwrap(), replay_tag(&a.clone()).unwrap());
    assert_ne!(replay_tag(&a).unwrap(), replay_tag(&b).unwrap());
    assert_eq!(replay_tag(&a).unwrap().as_bytes(), &a[..32]);
    // The packet a relay forwards has a tag of its own.
    let Peeled::Forward { packet: inner, .. } = peel(&a, &[&secrets[0]]).unwrap() else {
        panic!("expected Forward");
    };
    assert_ne!(replay_tag(&inner).unwrap(), replay_tag(&a).unwrap());
    assert_eq!(
        format!("{:?}", replay_tag(&a).unwrap()).len(),
        "ReplayTag()".len() + 16
    );
}

/// Byte positions to flip in a packet seen at a hop: every few bytes of the header
/// (including each slot's edges and part boundaries) and a sample of the payload.
fn positions(len: usize) -> Vec<usize> {
    let mut out: Vec<usize> = (0..ONION_HEADER_LEN).step_by(5).collect();
    for slot in 0..ONION_MAX_LAYERS {
        let s = slot * ONION_SLOT_LEN;
        out.extend([s, s + 31, s + 32, s + 79, s + 80, s + ONION_SLOT_LEN - 1]);
    }
    out.extend((ONION_HEADER_LEN..len).step_by(211));
    out.extend([ONION_HEADER_LEN, len - TAG_LEN - 1, len - TAG_LEN, len - 1]);
    out.sort_unstable();
    out.dedup();
    out
}

#[test]
fn any_flipped_byte_fails_later_never_a_wrong_delivery() {
    for n in [1usize, 3, 5] {
        let (secrets, hops) = network(n);
        let request = b"store this message".to_vec();
        let (packet, _) = build_request(&mut rng(9), &hops, &request).unwrap();
        let clean = run_from(&secrets, &hops, 0, packet).unwrap();
        for (at, seen) in clean.packets.iter().enumerate() {
            // Slots from `live` on are filler: no hop ahead reads them.
            let live = n - at;
            for pos in positions(seen.len()) {
                for bit in [0x01u8, 0x80] {
                    let mut bad = seen.clone();
                    bad[pos] ^= bit;
                    let outcome = run_from(&secrets, &hops, at, bad);
                    let in_filler = pos < ONION_HEADER_LEN && pos / ONION_SLOT_LEN >= live;
                    // Filler is read by nobody, so a flip there changes nothing;
                    // anywhere else it must stop the packet.
                    match outcome {
                        Ok(run) if in_filler => assert_eq!(run.request, request),
                        Err(e) if !in_filler => drop(e),
                        Ok(_) => panic!("n {n}: flip {bit:#x} at {pos} at hop {at} went unnoticed"),
                        Err(e) => panic!("n {n}: flip in filler at {pos} at hop {at}: {e}"),
                    }
                }
            }
        }
    }
}

#[test]
fn ignored_bit_of_the_ephemeral_key_is_still_caught() {
    // X25519 ignores the top bit of a public key; the layer key binds all 32 bytes.
    let (secrets, hops) = network(2);
    let (mut packet, _) = build_request(&mut rng(2), &hops, b"x").unwrap();
    packet[31] ^= 0x80;
    assert!(matches!(
        peel(&packet, &[&secrets[0]]),
        Err(Error::Decrypt { .. })
    ));
}

#[test]
fn response_from_the_destination_opens_at_the_client() {
    for n in 1..=ONION_MAX_LAYERS {
        let (secrets, hops) = network(n);
        let (packet, state) = build_request(&mut rng(11), &hops, b"retrieve").unwrap();
        let run = run_from(&secrets, &hops, 0, packet).unwrap();
        let answer = b"three messages".to_vec();
        let mut back = seal_response(&run.replies[n - 1], &answer).unwrap();
        assert_eq!(back.len(), 4096);
        let mut seen = vec![back.clone()];
        for relay in run.replies[..n - 1].iter().rev() {
            wrap_response(relay, &mut back).unwrap();
            assert_eq!(back.len(), 4096);
            seen.push(back.clone());
        }
        // No two hops (nor the client) see the same bytes.
        for (a, sa) in seen.iter().enumerate() {
            for sb in seen.iter().skip(a + 1) {
                assert_ne!(sa, sb);
            }
        }
        let opened = open_response(&state, &back).unwrap();
        assert_eq!(
            opened,
            OpenedResponse {
                from_hop: n - 1,
                body: answer
            }
        );
    }
}

#[test]
fn a_relay_error_opens_with_its_index() {
    let n = 4;
    let (secrets, hops) = network(n);
    let (packet, state) = build_request(&mut rng(12), &hops, b"send").unwrap();
    let run = run_from(&secrets, &hops, 0, packet).unwrap();
    for failing in 0..n {
        let mut back = seal_response(&run.replies[failing], b"next hop unreachable").unwrap();
        for relay in run.replies[..failing].iter().rev() {
            wrap_response(relay, &mut back).unwrap();
        }
        let opened = open_response(&state, &back).unwrap();
        assert_eq!(opened.from_hop, failing);
        assert_eq!(opened.body, b"next hop unreachable");
    }
}

#[test]
fn tampered_or_foreign_responses_fail() {
    let n = 3;
    let (secrets, hops) = network(n);
    let (packet, state) = build_request(&mut rng(13), &hops, b"get").unwrap();
    let run = run_from(&secrets, &hops, 0, packet).unwrap();
    let mut back = seal_response(&run.replies[n - 1], b"answer").unwrap();
    for relay in run.replies[..n - 1].iter().rev() {
        wrap_response(relay, &mut back).unwrap();
    }
    for pos in (0..back.len()).step_by(97).chain([back.len() - 1, 0, 4]) {
        let mut bad = back.clone();
        bad[pos] ^= 1;
        assert!(
            matches!(open_response(&state, &bad), Err(Error::Decrypt { .. })),
            "flip at {pos}"
        );
    }
    // A missing relay layer, or a response for another request, does not open.
    let mut unwrapped = seal_response(&run.replies[n - 1], b"answer").unwrap();
    wrap_response(&run.replies[1], &mut unwrapped).unwrap();
    assert!(open_response(&state, &unwrapped).is_err());
    let (_, other) = build_request(&mut rng(14), &hops, b"get").unwrap();
    assert!(open_response(&other, &back).is_err());
}

#[test]
fn response_classes_and_sizes() {
    let (secrets, hops) = network(1);
    let (packet, _) = build_request(&mut rng(15), &hops, b"x").unwrap();
    let run = run_from(&secrets, &hops, 0, packet).unwrap();
    let key = &run.replies[0];
    let small = 4096 - TAG_LEN - ONION_LEN_PREFIX;
    assert_eq!(seal_response(key, &vec![0; small]).unwrap().len(), 4096);
    assert_eq!(
        seal_response(key, &vec![0; small + 1]).unwrap().len(),
        96 * 1024
    );
    assert_eq!(
        seal_response(key, &vec![0; MAX_ONION_RESPONSE])
            .unwrap()
            .len(),
        1024 * 1024
    );
    assert!(matches!(
        seal_response(key, &vec![0; MAX_ONION_RESPONSE + 1]),
        Err(Error::DoesNotFit {
            max: MAX_ONION_RESPONSE,
            ..
        })
    ));
    for len in [0usize, 100, 4095, 4097, 8192] {
        let mut bad = vec![0u8; len];
        assert_eq!(wrap_response(key, &mut bad), Err(Error::SizeClass { len }));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn build_peel_round_trip(
        n in 1..=ONION_MAX_LAYERS,
        len in prop_oneof![0..4096usize, 0..=MAX_ONION_REQUEST],
        seed in any::<[u8; 32]>(),
    ) {
        let (secrets, hops) = network(n);
        let mut r = ChaCha20Rng::from_seed(seed);
        let mut request = vec![0u8; len];
        rand::Rng::fill_bytes(&mut r, &mut request);
        let (packet, state) = build_request(&mut r, &hops, &request).unwrap();
        prop_assert!(ONION_REQUEST_CLASSES.contains(&packet.len()));
        let run = run_from(&secrets, &hops, 0, packet).unwrap();
        prop_assert_eq!(&run.request, &request);
        let mut back = seal_response(&run.replies[n - 1], &request).unwrap();
        for relay in run.replies[..n - 1].iter().rev() {
            wrap_response(relay, &mut back).unwrap();
        }
        let opened = open_response(&state, &back).unwrap();
        prop_assert_eq!(opened.from_hop, n - 1);
        prop_assert_eq!(opened.body, request);
    }
}
