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

use super::layer::LayerKeys;
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
#[derive(Debug)]
struct Run {
    /// The packet as each hop received it.
    packets: Vec<Vec<u8>>,
    /// Each hop's reply key.
    replies: Vec<ReplyKey>,
    /// What the destination got.
    request: Vec<u8>,
}

/// Where and why a run through the path stopped.
#[derive(Debug)]
struct Refused {
    /// The hop that refused the packet it received.
    hop: usize,
    error: Error,
}

/// Peels `packet` at hops `from..`, checking that each relay forwards to the next
/// hop of the path. An error is returned with the hop that refused; a Forward to
/// the wrong node or a Deliver before the destination fails the test.
fn run_from(
    secrets: &[OnionSecret],
    hops: &[Hop],
    from: usize,
    packet: Vec<u8>,
) -> std::result::Result<Run, Refused> {
    let mut run = Run {
        packets: vec![],
        replies: vec![],
        request: vec![],
    };
    let mut packet = packet;
    for (i, secret) in secrets.iter().enumerate().take(hops.len()).skip(from) {
        run.packets.push(packet.clone());
        let peeled = peel(&packet, &[secret]).map_err(|error| Refused { hop: i, error })?;
        // Every hop reads the same validity: the client's minute.
        assert_eq!(
            peeled.not_after(),
            minute_to_ms(not_after_minute(BUILT_AT)),
            "hop {i}"
        );
        match peeled {
            Peeled::Forward {
                next,
                packet: inner,
                reply,
                ..
            } => {
                assert_eq!(Some(next), hops.get(i + 1).map(|h| h.node), "hop {i}");
                assert_eq!(inner.len(), packet.len(), "size changed at hop {i}");
                run.replies.push(reply);
                packet = inner;
            }
            Peeled::Deliver { request, reply, .. } => {
                assert_eq!(i, hops.len() - 1, "delivered early at hop {i}");
                run.replies.push(reply);
                run.request = request;
                return Ok(run);
            }
        }
    }
    panic!("the destination forwarded the packet");
}

/// The response hop `from` seals with `body`, wrapped by every hop before it on the
/// way back: what the client receives. Consumes the reply keys, as a real path does.
fn respond(mut replies: Vec<ReplyKey>, from: usize, body: &[u8]) -> Vec<u8> {
    replies.truncate(from + 1);
    let sealer = replies.pop().expect("no hop at `from`");
    let mut back = seal_response(sealer, body).unwrap();
    for relay in replies.into_iter().rev() {
        wrap_response(relay, &mut back).unwrap();
    }
    back
}

/// A reply key of its own for tests that only need one to exist.
fn reply_key(seed: u8) -> ReplyKey {
    LayerKeys::derive(&[seed; 32], &[1; 32], &[2; 32]).reply
}

#[test]
fn request_arrives_through_every_path_length() {
    for n in 1..=ONION_MAX_LAYERS {
        for len in [0usize, 1, 100, 3000, 5000] {
            let (secrets, hops) = network(n);
            let request: Vec<u8> = (0..len).map(|i| (i * 7 + n) as u8).collect();
            let (packet, state) =
                build_request(&mut rng(n as u8), &hops, &request, BUILT_AT).unwrap();
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
    let (p, _) = build_request(&mut rng(1), &hops, &vec![1; small_max], BUILT_AT).unwrap();
    assert_eq!(p.len(), 4096);
    let (p, _) = build_request(&mut rng(1), &hops, &vec![1; small_max + 1], BUILT_AT).unwrap();
    assert_eq!(p.len(), 96 * 1024);
    let (secrets, _) = network(3);
    let big = vec![9u8; MAX_ONION_REQUEST];
    let (p, _) = build_request(&mut rng(1), &hops, &big, BUILT_AT).unwrap();
    assert_eq!(p.len(), 96 * 1024);
    assert_eq!(run_from(&secrets, &hops, 0, p).unwrap().request, big);
}

#[test]
fn oversized_request_does_not_fit() {
    let (_, hops) = network(3);
    let err = build_request(
        &mut rng(1),
        &hops,
        &vec![0; MAX_ONION_REQUEST + 1],
        BUILT_AT,
    )
    .unwrap_err();
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
            build_request(&mut rng(1), bad, b"x", BUILT_AT),
            Err(Error::OutOfRange { .. })
        ));
    }
}

/// Curve25519 points of small order (the identity's u = 0, u = 1, a point of
/// order 8, and u = p - 1): X25519 with any of them gives an all-zero secret.
/// When the test packets are built (2027); peeling does not check it.
const BUILT_AT: u64 = 1_800_000_000_000;

const LOW_ORDER_POINTS: [[u8; 32]; 4] = [
    [0; 32],
    {
        let mut one = [0; 32];
        one[0] = 1;
        one
    },
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    {
        let mut p_minus_1 = [0xff; 32];
        p_minus_1[0] = 0xec;
        p_minus_1[31] = 0x7f;
        p_minus_1
    },
];

#[test]
fn low_order_keys_are_refused_not_panicked_on() {
    let (secrets, clean_hops) = network(2);
    let (clean, _) = build_request(&mut rng(1), &clean_hops, b"x", BUILT_AT).unwrap();
    // The unchanged packet peels, so the refusals below are the points' doing.
    assert!(peel(&clean, &[&secrets[0]]).is_ok());
    for point in LOW_ORDER_POINTS {
        let mut hops = clean_hops.clone();
        hops[1].onion_key = point;
        assert!(
            matches!(
                build_request(&mut rng(1), &hops, b"x", BUILT_AT),
                Err(Error::BadKey { .. })
            ),
            "hop key {point:02x?}"
        );
        let mut packet = clean.clone();
        packet[..32].copy_from_slice(&point);
        assert!(
            matches!(peel(&packet, &[&secrets[0]]), Err(Error::BadKey { .. })),
            "ephemeral key {point:02x?}"
        );
    }
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
    let (packet, _) = build_request(&mut rng(3), &hops, b"ping", BUILT_AT).unwrap();
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
    let (a, _) = build_request(&mut rng(5), &hops, b"same", BUILT_AT).unwrap();
    let (b, _) = build_request(&mut rng(6), &hops, b"same", BUILT_AT).unwrap();
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

    // What a replay filter relies on: the tag is slot 0's ephemeral key and nothing
    // else, so a replay with its payload, the rest of slot 0, or the later slots
    // changed still carries the tag the relay has seen, and is dropped.
    let tag = replay_tag(&a).unwrap();
    for (what, range) in [
        ("payload", ONION_HEADER_LEN..a.len()),
        ("rest of slot 0", KEY_LEN..ONION_SLOT_LEN),
        ("later slots", ONION_SLOT_LEN..ONION_HEADER_LEN),
    ] {
        let mut changed = a.clone();
        for b in &mut changed[range] {
            *b ^= 0x5a;
        }
        assert_ne!(changed, a);
        assert_eq!(replay_tag(&changed).unwrap(), tag, "{what} changed");
    }
    // Changing the tag itself to dodge the filter leaves a packet no hop can peel:
    // the ephemeral key is bound into the layer key (every bit of it, including
    // the one X25519 ignores), or the new key is a low-order point.
    for pos in 0..KEY_LEN {
        for bit in 0..8 {
            let mut dodged = a.clone();
            dodged[pos] ^= 1 << bit;
            assert_ne!(replay_tag(&dodged).unwrap(), tag);
            assert!(
                matches!(
                    peel(&dodged, &[&secrets[0]]),
                    Err(Error::Decrypt { .. } | Error::BadKey { .. })
                ),
                "tag bit {bit} of byte {pos} changed and the packet still peeled"
            );
        }
    }
}

/// Flips one bit in every byte of the packet each hop receives, for paths of 1, 2,
/// 3 and 5 hops (4 KiB class), and runs the rest of the path. The bit moves with the
/// position (`1 << pos % 8`), so every bit of every slot field is hit somewhere, and
/// bit 7 of each ephemeral key's last byte (the bit X25519 ignores) is among them.
///
/// Every flip stops the packet at the hop that receives it: in the hop's own slot
/// the slot does not open (or its key is a low-order point); anywhere else (later
/// slots, the filler beyond the path, the payload) the slot's integrity digest does
/// not match. So a flip made by hop `at - 1` on the packet it passes on, or on the
/// link, never travels past hop `at`.
#[test]
fn any_flipped_byte_fails_at_the_next_hop_never_a_wrong_delivery() {
    for n in [1usize, 2, 3, 5] {
        let (secrets, hops) = network(n);
        let request = b"store this message".to_vec();
        let (packet, _) = build_request(&mut rng(9), &hops, &request, BUILT_AT).unwrap();
        let clean = run_from(&secrets, &hops, 0, packet).unwrap();
        assert_eq!(clean.request, request);
        for (at, seen) in clean.packets.iter().enumerate() {
            assert_eq!(seen.len(), 4096);
            // Split over threads, positions interleaved so that each gets its share
            // of the slot flips (which cost an AEAD) and the rest.
            let workers = std::thread::available_parallelism().map_or(4, |w| w.get());
            std::thread::scope(|scope| {
                for first in 0..workers {
                    let (secrets, hops) = (&secrets, &hops);
                    scope.spawn(move || {
                        for pos in (first..seen.len()).step_by(workers) {
                            let bit = 1u8 << (pos % 8);
                            let mut bad = seen.clone();
                            bad[pos] ^= bit;
                            let refused = match run_from(secrets, hops, at, bad) {
                                Ok(_) => panic!(
                                    "n {n}: flip {bit:#x} at {pos} at hop {at} went unnoticed"
                                ),
                                Err(refused) => refused,
                            };
                            assert_eq!(refused.hop, at, "n {n}: flip at {pos} travelled on");
                            let own_slot = pos < ONION_SLOT_LEN;
                            match refused.error {
                                Error::Decrypt { what } if own_slot => {
                                    assert_ne!(what, CHANGED_ON_THE_WAY, "n {n}: pos {pos}")
                                }
                                Error::BadKey { .. } if pos < KEY_LEN => {}
                                Error::Decrypt { what } if !own_slot => {
                                    assert_eq!(what, CHANGED_ON_THE_WAY, "n {n}: pos {pos}")
                                }
                                e => panic!("n {n}: flip at {pos} at hop {at}: {e}"),
                            }
                        }
                    });
                }
            });
        }
    }
}

/// The tagging attack the integrity digests stop: a guard changes the packet it
/// passes on (a payload bit, or a bit of a later hop's slot) hoping that a
/// colluding destination or later relay recognises the change. The honest middle
/// relay refuses the packet, so the tag reaches no one; undoing the change makes it
/// pass again, so the refusal is the change's doing.
#[test]
fn tags_are_refused_by_the_next_hop() {
    let n = 4;
    let (secrets, hops) = network(n);
    let request = b"retrieve inbox".to_vec();
    let (packet, _) = build_request(&mut rng(21), &hops, &request, BUILT_AT).unwrap();
    let Peeled::Forward { packet: out, .. } = peel(&packet, &[&secrets[0]]).unwrap() else {
        panic!("the guard should forward");
    };
    for (what, pos) in [
        ("a payload bit", ONION_HEADER_LEN + 1000),
        ("the last payload bit", out.len() - 1),
        ("a bit of the exit's slot", ONION_SLOT_LEN + 40),
        ("a bit of the destination's slot", 2 * ONION_SLOT_LEN + 5),
        ("a bit of the slot the guard appended", ONION_HEADER_LEN - 1),
    ] {
        let mut tagged = out.clone();
        tagged[pos] ^= 0x10;
        let refused = run_from(&secrets, &hops, 1, tagged.clone()).unwrap_err();
        assert_eq!(refused.hop, 1, "{what}: the middle let it through");
        assert_eq!(
            refused.error,
            Error::Decrypt {
                what: CHANGED_ON_THE_WAY
            },
            "{what}"
        );
        tagged[pos] ^= 0x10;
        assert_eq!(
            run_from(&secrets, &hops, 1, tagged).unwrap().request,
            request
        );
    }
    // A guard that rewrites the whole payload (say, with one the colluder would
    // recognise) fares no better.
    let mut replaced = out;
    replaced[ONION_HEADER_LEN..].fill(0x7a);
    assert_eq!(run_from(&secrets, &hops, 1, replaced).unwrap_err().hop, 1);
}

#[test]
fn ignored_bit_of_the_ephemeral_key_is_still_caught() {
    // X25519 ignores the top bit of a public key; the layer key binds all 32 bytes.
    let (secrets, hops) = network(2);
    let (mut packet, _) = build_request(&mut rng(2), &hops, b"x", BUILT_AT).unwrap();
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
        let (packet, state) = build_request(&mut rng(11), &hops, b"retrieve", BUILT_AT).unwrap();
        let mut replies = run_from(&secrets, &hops, 0, packet).unwrap().replies;
        let answer = b"three messages".to_vec();
        let destination = replies.pop().unwrap();
        let mut back = seal_response(destination, &answer).unwrap();
        assert_eq!(back.len(), 4096);
        let mut seen = vec![back.clone()];
        for relay in replies.into_iter().rev() {
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
        assert_eq!(
            open_response(&state, &back).unwrap(),
            OpenedResponse::Destination(answer)
        );
    }
}

#[test]
fn a_relay_answer_opens_as_a_relay_error_never_as_the_destination() {
    let n = 4;
    let (secrets, hops) = network(n);
    let (packet, state) = build_request(&mut rng(12), &hops, b"send", BUILT_AT).unwrap();
    let body = b"next hop unreachable".to_vec();
    for failing in 0..n {
        // Peeled again for every case: each reply key answers once.
        let replies = run_from(&secrets, &hops, 0, packet.clone())
            .unwrap()
            .replies;
        let back = respond(replies, failing, &body);
        let want = if failing == n - 1 {
            OpenedResponse::Destination(body.clone())
        } else {
            OpenedResponse::RelayError {
                hop: failing,
                body: body.clone(),
            }
        };
        assert_eq!(open_response(&state, &back).unwrap(), want, "hop {failing}");
    }
}

#[test]
fn tampered_or_foreign_responses_fail() {
    let n = 3;
    let (secrets, hops) = network(n);
    let (packet, state) = build_request(&mut rng(13), &hops, b"get", BUILT_AT).unwrap();
    let replies = || {
        run_from(&secrets, &hops, 0, packet.clone())
            .unwrap()
            .replies
    };
    let back = respond(replies(), n - 1, b"answer");
    assert!(open_response(&state, &back).is_ok());
    for pos in (0..back.len()).step_by(97).chain([back.len() - 1, 0, 4]) {
        let mut bad = back.clone();
        bad[pos] ^= 1;
        assert!(
            matches!(open_response(&state, &bad), Err(Error::Decrypt { .. })),
            "flip at {pos}"
        );
    }
    // A missing relay layer, or a response for another request, does not open.
    let mut keys = replies();
    let destination = keys.pop().unwrap();
    let middle = keys.pop().unwrap();
    let mut unwrapped = seal_response(destination, b"answer").unwrap();
    wrap_response(middle, &mut unwrapped).unwrap();
    assert!(open_response(&state, &unwrapped).is_err());
    let (_, other) = build_request(&mut rng(14), &hops, b"get", BUILT_AT).unwrap();
    assert!(open_response(&other, &back).is_err());
}

#[test]
fn response_classes_and_sizes() {
    let small = 4096 - TAG_LEN - ONION_LEN_PREFIX;
    assert_eq!(
        seal_response(reply_key(1), &vec![0; small]).unwrap().len(),
        4096
    );
    assert_eq!(
        seal_response(reply_key(2), &vec![0; small + 1])
            .unwrap()
            .len(),
        96 * 1024
    );
    assert_eq!(
        seal_response(reply_key(3), &vec![0; MAX_ONION_RESPONSE])
            .unwrap()
            .len(),
        1024 * 1024
    );
    assert!(matches!(
        seal_response(reply_key(4), &vec![0; MAX_ONION_RESPONSE + 1]),
        Err(Error::DoesNotFit {
            max: MAX_ONION_RESPONSE,
            ..
        })
    ));
    for len in [0usize, 100, 4095, 4097, 8192] {
        let mut bad = vec![0u8; len];
        assert_eq!(
            wrap_response(reply_key(5), &mut bad),
            Err(Error::SizeClass { len })
        );
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
        let (packet, state) = build_request(&mut r, &hops, &request, BUILT_AT).unwrap();
        prop_assert!(ONION_REQUEST_CLASSES.contains(&packet.len()));
        let run = run_from(&secrets, &hops, 0, packet).unwrap();
        prop_assert_eq!(&run.request, &request);
        let back = respond(run.replies, n - 1, &request);
        prop_assert_eq!(
            open_response(&state, &back).unwrap(),
            OpenedResponse::Destination(request)
        );
    }
}
