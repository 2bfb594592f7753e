//! The protocol targets behind the cryptography: the fuzzer's bytes are sealed
//! under the fixture keys ([`crate::seal`]) before they reach the decoder, so
//! every input gets past the AEAD (and, where the harness is told to, the
//! integrity digest and the signature) and the decoder behind it sees it as
//! written.
//!
//! Each target's first input byte is a flags byte that picks a size class or a
//! mode; the rest is the plaintext the decoder reads, zero-padded to the size
//! the class needs, so a short input reaches the 96 KiB and 1 MiB classes too.
//! Every decoder's answer is checked against a reference reading of the same
//! bytes (a panic is a finding, and so is a disagreement).

use std::sync::OnceLock;

use sotto_protocol::constants::{
    ENVELOPE_BUCKETS, KEY_LEN, MAX_CONTENT_LEN, ONION_DIGEST_LEN, ONION_HEADER_LEN,
    ONION_REQUEST_CLASSES, ONION_RESPONSE_CLASSES, ONION_ROUTING_LEN, ONION_SLOT_LEN,
    SIGNATURE_LEN, TAG_LEN,
};
use sotto_protocol::envelope::{self, Content};
use sotto_protocol::onion::{self, OpenedResponse, Peeled};
use sotto_protocol::rpc::{Request, Response};
use sotto_protocol::{AccountKey, OnionSecret};

use crate::protocol::{FUZZ_NOW, onion_fixture, onion_secrets, recipient_key};
use crate::seal::{
    Layer, declared_content, pad_inner, reference_unframe, seal_append, seal_envelope, sign_inner,
    wrap, zero_pad,
};

/// Routing command Forward, as the onion module encodes it.
const CMD_FORWARD: u8 = 0;
/// Routing command Deliver.
const CMD_DELIVER: u8 = 1;
/// Where the next hop sits in the routing plaintext.
const NEXT_AT: usize = 1;
/// Where the integrity digest sits in the routing plaintext.
const DIGEST_AT: usize = NEXT_AT + KEY_LEN;
/// Where the packet's `not_after` minute (u32 LE) sits.
const NOT_AFTER_AT: usize = DIGEST_AT + ONION_DIGEST_LEN;
/// Where the reserved zeros start.
const RESERVED_AT: usize = NOT_AFTER_AT + 4;

/// The ephemeral key of every slot the harness seals.
fn slot_ephemeral() -> &'static OnionSecret {
    static EPH: OnceLock<OnionSecret> = OnceLock::new();
    EPH.get_or_init(|| OnionSecret::from_secret_bytes([0xe1; 32]))
}

/// The onion key of the hop the harness's packets are for (fixture hop 0).
fn hop_secret() -> &'static OnionSecret {
    static HOP: OnceLock<OnionSecret> = OnceLock::new();
    HOP.get_or_init(|| {
        let [hop, _] = onion_secrets();
        hop
    })
}

/// The layer of the harness's slot at the hop.
fn slot_layer() -> Option<&'static Layer> {
    static LAYER: OnceLock<Option<Layer>> = OnceLock::new();
    LAYER
        .get_or_init(|| Layer::at_hop(hop_secret(), &slot_ephemeral().public()))
        .as_ref()
}

/// A request packet of `class` bytes whose first slot holds `routing` (with the
/// true digest of everything after the slot written over its digest field if
/// `fix_digest`), followed by `rest` (later slots and payload).
fn packet_with_slot(
    layer: &Layer,
    mut routing: [u8; ONION_ROUTING_LEN],
    fix_digest: bool,
    rest: &[u8],
) -> Option<Vec<u8>> {
    if fix_digest {
        routing
            .get_mut(DIGEST_AT..NOT_AFTER_AT)?
            .copy_from_slice(&layer.digest(rest));
    }
    let sealed = seal_append(&layer.slot, routing.to_vec())?;
    let mut packet = Vec::with_capacity(ONION_SLOT_LEN + rest.len());
    packet.extend_from_slice(&slot_ephemeral().public());
    packet.extend_from_slice(&sealed);
    packet.extend_from_slice(rest);
    Some(packet)
}

/// Target `onion_routing`: the fuzzer writes the 64-byte routing plaintext of a
/// slot sealed to fixture hop 0, and the bytes after the slot.
///
/// `flags ‖ routing (64) ‖ rest`: flags bit 0 picks the 96 KiB request class
/// (else 4 KiB); unless bit 1 is set, the harness writes the true integrity digest
/// into the routing, so the hop gets past the digest and acts on the routing.
/// `Routing::decode` must refuse an unknown command, non-zero reserved bytes and a
/// Deliver naming a next hop, and accept everything else. Accepted: peeled.
pub fn onion_routing(data: &[u8]) -> bool {
    let Some((&flags, data)) = data.split_first() else {
        return false;
    };
    let Some((routing, rest)) = data.split_first_chunk::<ONION_ROUTING_LEN>() else {
        return false;
    };
    let Some(layer) = slot_layer() else {
        return false;
    };
    let class = ONION_REQUEST_CLASSES[usize::from(flags & 1)];
    let fix_digest = flags & 2 == 0;
    let Some(rest) = zero_pad(rest, class - ONION_SLOT_LEN) else {
        return false;
    };
    let Some(packet) = packet_with_slot(layer, *routing, fix_digest, &rest) else {
        return false;
    };
    let result = onion::peel(&packet, &[hop_secret()]);

    // The reference reading of the routing as the hop opened it.
    let mut opened = *routing;
    if fix_digest {
        opened[DIGEST_AT..NOT_AFTER_AT].copy_from_slice(&layer.digest(&rest));
    }
    let next = &opened[NEXT_AT..DIGEST_AT];
    let reserved_ok = opened[RESERVED_AT..].iter().all(|b| *b == 0);
    // Any minute is well-formed; whether it is still valid is the hop's check.
    let not_after = opened
        .get(NOT_AFTER_AT..RESERVED_AT)
        .and_then(|b| <[u8; 4]>::try_from(b).ok())
        .map(|b| onion::minute_to_ms(u32::from_le_bytes(b)));
    if let Ok(peeled) = &result {
        assert_eq!(
            Some(peeled.not_after()),
            not_after,
            "onion routing: the validity read is not the one written"
        );
    }
    let well_formed = reserved_ok
        && match opened[0] {
            CMD_FORWARD => true,
            CMD_DELIVER => next.iter().all(|b| *b == 0),
            _ => false,
        };
    match &result {
        Ok(Peeled::Forward {
            next: hop,
            packet: out,
            ..
        }) => {
            assert!(
                well_formed,
                "onion routing: an ill-formed routing was accepted"
            );
            assert_eq!(
                opened[0], CMD_FORWARD,
                "onion routing: forwarded on a non-Forward"
            );
            assert_eq!(&hop.0[..], next, "onion routing: forwarded to another hop");
            assert_eq!(
                out.len(),
                packet.len(),
                "onion routing: the packet changed size"
            );
        }
        Ok(Peeled::Deliver { .. }) => {
            assert!(
                well_formed,
                "onion routing: an ill-formed routing was accepted"
            );
            assert_eq!(
                opened[0], CMD_DELIVER,
                "onion routing: delivered a non-Deliver"
            );
        }
        Err(sotto_protocol::Error::Decode { what, .. }) if *what == "onion routing info" => {
            assert!(
                !well_formed,
                "onion routing: a well-formed routing was refused"
            );
        }
        Err(_) => {
            // Past the routing: a digest the fuzzer wrote itself, or a Deliver
            // whose payload (random here) does not open. A Forward with the true
            // digest always peels.
            assert!(
                !(well_formed && fix_digest && opened[0] == CMD_FORWARD),
                "onion routing: a valid Forward was refused: {result:?}"
            );
        }
    }
    result.is_ok()
}

/// Target `onion_request`: the fuzzer writes the framed request plaintext inside
/// the payload of a packet that fixture hop 0 is the destination of.
///
/// `flags ‖ frame`: flags bit 0 picks the 96 KiB request class (else 4 KiB). The
/// frame (`u32 LE length ‖ request ‖ zero padding`, or anything else) is
/// zero-padded to the class's payload, sealed under the destination's payload
/// key, and the slot says Deliver with the true digest. `unframe` must give back
/// exactly the reference reading of the frame; a request that comes out goes to
/// `Request::decode`, as a node would. Accepted: delivered.
pub fn onion_request(data: &[u8]) -> bool {
    let Some((&flags, frame)) = data.split_first() else {
        return false;
    };
    let Some(layer) = slot_layer() else {
        return false;
    };
    let class = ONION_REQUEST_CLASSES[usize::from(flags & 1)];
    let payload_len = class - ONION_HEADER_LEN - TAG_LEN;
    let Some(plain) = zero_pad(frame, payload_len) else {
        return false;
    };
    let Some(sealed) = seal_append(&layer.payload, plain.clone()) else {
        return false;
    };
    // The slots after the destination's: what a client puts there is its own
    // business (filler); zeros here.
    let mut rest = vec![0u8; ONION_HEADER_LEN - ONION_SLOT_LEN];
    rest.extend_from_slice(&sealed);
    let mut routing = [0u8; ONION_ROUTING_LEN];
    routing[0] = CMD_DELIVER;
    let Some(packet) = packet_with_slot(layer, routing, true, &rest) else {
        return false;
    };
    let result = onion::peel(&packet, &[hop_secret()]);
    let expected = reference_unframe(&plain);
    match result {
        Ok(Peeled::Deliver { request, .. }) => {
            assert_eq!(
                Some(&request[..]),
                expected,
                "onion request: unframe disagrees with the frame"
            );
            let _ = Request::decode(&request).map(|r| r.authorize("devnet", FUZZ_NOW));
            true
        }
        Ok(Peeled::Forward { .. }) => panic!("onion request: a Deliver slot was forwarded"),
        Err(e) => {
            assert!(
                expected.is_none(),
                "onion request: a well-framed request was refused: {e:?}"
            );
            false
        }
    }
}

/// The fixture path's layers as its hops derived them: hop 0 (relay), hop 1
/// (destination). They hold the reply keys the fixture's `ReplyState` expects.
#[allow(
    clippy::panic,
    reason = "a fixture that cannot be built is a bug in the harness, not a finding"
)]
fn fixture_layers() -> &'static [Layer; 2] {
    static LAYERS: OnceLock<[Layer; 2]> = OnceLock::new();
    LAYERS.get_or_init(|| {
        let fixture = onion_fixture();
        let [relay, destination] = &fixture.secrets;
        let eph = |packet: &[u8]| {
            packet
                .first_chunk::<KEY_LEN>()
                .copied()
                .unwrap_or_else(|| panic!("fuzz fixture: a packet without a slot"))
        };
        let Ok(Peeled::Forward { packet: inner, .. }) = onion::peel(&fixture.packet, &[relay])
        else {
            panic!("fuzz fixture: hop 0 does not forward");
        };
        let layer = |hop, packet: &[u8]| {
            Layer::at_hop(hop, &eph(packet))
                .unwrap_or_else(|| panic!("fuzz fixture: a low-order ephemeral key"))
        };
        [layer(relay, &fixture.packet), layer(destination, &inner)]
    })
}

/// Target `onion_response`: the fuzzer writes the framed response plaintext, the
/// harness seals it as the destination (wrapped by the relay on the way back)
/// or as the relay itself, and the client opens it with the fixture's
/// `ReplyState`.
///
/// `flags ‖ frame`: flags bits 0–1 pick the response class (4 KiB, 96 KiB,
/// 1 MiB; 3 is 4 KiB), bit 2 has the relay seal it (a relay's own error). The
/// body `open_response` gives back must be the reference reading of the frame,
/// from the hop that sealed it; a destination's body goes to `Response::decode`,
/// as the client would. Accepted: opened.
pub fn onion_response(data: &[u8]) -> bool {
    let Some((&flags, frame)) = data.split_first() else {
        return false;
    };
    let class = ONION_RESPONSE_CLASSES
        .get(usize::from(flags & 3))
        .copied()
        .unwrap_or(ONION_RESPONSE_CLASSES[0]);
    let by_relay = flags & 4 != 0;
    let Some(plain) = zero_pad(frame, class - TAG_LEN) else {
        return false;
    };
    let [relay, destination] = fixture_layers();
    let sealer = if by_relay { relay } else { destination };
    let Some(mut packet) = seal_append(&sealer.reply_seal, plain.clone()) else {
        return false;
    };
    if !by_relay {
        wrap(relay, &mut packet);
    }
    let result = onion::open_response(&onion_fixture().reply, &packet);
    let expected = reference_unframe(&plain);
    match result {
        Ok(OpenedResponse::Destination(body)) => {
            assert!(
                !by_relay,
                "onion response: a relay's answer opened as the destination's"
            );
            assert_eq!(
                Some(&body[..]),
                expected,
                "onion response: unframe disagrees"
            );
            let _ = Response::decode(&body, FUZZ_NOW);
            true
        }
        Ok(OpenedResponse::RelayError { hop, body }) => {
            assert!(
                by_relay && hop == 0,
                "onion response: opened as relay {hop}"
            );
            assert_eq!(
                Some(&body[..]),
                expected,
                "onion response: unframe disagrees"
            );
            true
        }
        Err(e) => {
            assert!(
                expected.is_none(),
                "onion response: a well-framed response was refused: {e:?}"
            );
            false
        }
    }
}

/// The sender whose key and signature the harness puts in when told to.
pub fn envelope_sender() -> AccountKey {
    AccountKey::from_entropy([0x5e; 16])
}

/// Target `envelope_inner`: the fuzzer writes the inner plaintext of an envelope
/// sealed to the fixture recipient, and `envelope::open` (`parse_inner`) reads it.
///
/// `flags ‖ inner`: inner is `sender key (32) ‖ signature (64) ‖ length (u32 LE) ‖
/// content ‖ padding`, zero-padded to a bucket (flags bits 0–2: how many of the
/// smallest buckets to skip). With flags bit 3, the harness writes a fixed
/// sender's key and its valid signature over the declared content, so the content
/// decoder sees the fuzzer's content. Whatever opens must be exactly the declared
/// sender and content, with a zero padding. Accepted: opened.
pub fn envelope_inner(data: &[u8]) -> bool {
    let Some((&flags, inner)) = data.split_first() else {
        return false;
    };
    let recipient = recipient_key();
    let recipient_id = recipient.account_id();
    let skip = usize::from(flags & 7).min(ENVELOPE_BUCKETS.len() - 1);
    let Some(mut inner) = pad_inner(inner, skip) else {
        return false;
    };
    if flags & 8 != 0 {
        sign_inner(&envelope_sender(), &recipient_id, &mut inner);
    }
    let Some(sealed) = seal_envelope(&recipient_id, &inner, 0) else {
        return false;
    };
    let opened = envelope::open(&recipient, &sealed);
    // The padded inner the recipient decrypts, read the reference way.
    let padded = &inner[..];
    let fixed = KEY_LEN + SIGNATURE_LEN + 4;
    let content = declared_content(padded)
        .filter(|c| c.len() <= MAX_CONTENT_LEN)
        .filter(|c| padded[fixed + c.len()..].iter().all(|b| *b == 0));
    let Ok(opened) = opened else {
        // Signed by the harness, well framed and a valid content: nothing may
        // refuse it.
        let decodes = content.is_some_and(|c| Content::from_bytes(c).is_ok());
        assert!(
            !(flags & 8 != 0 && decodes),
            "envelope inner: a signed, well-framed envelope was refused: {opened:?}"
        );
        return false;
    };
    let Some(content) = content else {
        panic!("envelope inner: opened with a length that does not fit or a dirty padding");
    };
    assert_eq!(
        opened.sender.as_bytes()[..],
        padded[..KEY_LEN],
        "envelope inner: opened as another sender"
    );
    assert_eq!(
        Content::from_bytes(content).ok().as_ref(),
        Some(&opened.content),
        "envelope inner: opened another content"
    );
    true
}
