//! One header slot: the hop's ephemeral key and its sealed routing info (what to do
//! with the packet, where to send it next, and the digest of the rest of the packet).

use crate::constants::{KEY_LEN, ONION_DIGEST_LEN, ONION_ROUTING_LEN, ONION_SLOT_LEN, TAG_LEN};
use crate::crypto::{open_in_place, seal_in_place};
use crate::error::{Error, Result};
use crate::id::NodeId;
use crate::keys::OnionSecret;
use crate::time::UnixMillis;

use super::integrity::Digest;
use super::layer::LayerKeys;
use super::validity::minute_to_ms;

/// Routing command: peel and pass the packet on.
const CMD_FORWARD: u8 = 0;
/// Routing command: this hop is the destination.
const CMD_DELIVER: u8 = 1;

/// What one hop is told to do with a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Routing {
    /// Pass the peeled packet to this node.
    Forward(NodeId),
    /// Open the payload: the request is for this hop.
    Deliver,
}

impl Routing {
    /// `command ‖ next hop (zeros for Deliver) ‖ digest ‖ not_after minute (u32
    /// LE) ‖ reserved zeros`: the plaintext sealed in the slot.
    pub(super) fn encode(&self, digest: &Digest, not_after: u32) -> [u8; ONION_ROUTING_LEN] {
        let (command, next) = match self {
            Self::Forward(node) => (CMD_FORWARD, node.0),
            Self::Deliver => (CMD_DELIVER, [0; KEY_LEN]),
        };
        let mut out = [0u8; ONION_ROUTING_LEN];
        let fields = std::iter::once(command)
            .chain(next)
            .chain(digest.0)
            .chain(not_after.to_le_bytes());
        for (o, b) in out.iter_mut().zip(fields) {
            *o = b;
        }
        out
    }

    /// The inverse of [`Routing::encode`], with the `not_after` minute as Unix
    /// ms; anything it would not produce (an unknown command, a next hop on
    /// Deliver, non-zero reserved bytes) is refused.
    pub(super) fn decode(bytes: &[u8; ONION_ROUTING_LEN]) -> Result<(Self, Digest, UnixMillis)> {
        let bad = |reason: &str| Error::Decode {
            what: "onion routing info",
            reason: reason.into(),
        };
        let (command, rest) = bytes.split_first().ok_or_else(|| bad("empty"))?;
        let (next, rest) = rest
            .split_first_chunk::<KEY_LEN>()
            .ok_or_else(|| bad("too short"))?;
        let (digest, rest) = rest
            .split_first_chunk::<ONION_DIGEST_LEN>()
            .ok_or_else(|| bad("too short"))?;
        let (not_after, reserved) = rest
            .split_first_chunk::<4>()
            .ok_or_else(|| bad("too short"))?;
        if reserved.iter().any(|b| *b != 0) {
            return Err(bad("reserved bytes are not zero"));
        }
        let routing = match *command {
            CMD_FORWARD => Self::Forward(NodeId(*next)),
            CMD_DELIVER if next.iter().all(|b| *b == 0) => Self::Deliver,
            CMD_DELIVER => return Err(bad("a Deliver names a next hop")),
            other => return Err(bad(&format!("unknown command {other}"))),
        };
        let not_after = minute_to_ms(u32::from_le_bytes(*not_after));
        Ok((routing, Digest(*digest), not_after))
    }
}

/// `eph_pub ‖ seal(routing ‖ digest ‖ not_after) ‖ tag`, sealed under the layer's
/// slot key.
pub(super) fn seal_slot(
    eph_pub: &[u8; KEY_LEN],
    keys: &LayerKeys,
    routing: Routing,
    digest: &Digest,
    not_after: u32,
) -> Result<[u8; ONION_SLOT_LEN]> {
    let mut sealed = routing.encode(digest, not_after);
    let tag = seal_in_place(&keys.slot, &[], &mut sealed)?;
    let mut slot = [0u8; ONION_SLOT_LEN];
    let parts = eph_pub.iter().chain(sealed.iter()).chain(tag.iter());
    for (o, b) in slot.iter_mut().zip(parts) {
        *o = *b;
    }
    Ok(slot)
}

/// What an opened slot holds.
pub(super) struct Opened {
    /// The layer's keys.
    pub(super) keys: LayerKeys,
    /// What to do with the packet.
    pub(super) routing: Routing,
    /// The digest the rest of the packet must have (the caller checks it).
    pub(super) digest: Digest,
    /// When the packet stops being valid (Unix ms; the caller checks it).
    pub(super) not_after: UnixMillis,
}

/// Opens a slot with the first of `onion_keys` it was made for (the current key,
/// then the previous one during its grace period). Returns what it holds,
/// [`Error::BadKey`] if the ephemeral key is a low-order point, or
/// [`Error::Decrypt`] if no key opens it.
pub(super) fn open_slot(
    slot: &[u8; ONION_SLOT_LEN],
    onion_keys: &[&OnionSecret],
) -> Result<Opened> {
    let short = || Error::SizeClass { len: slot.len() };
    let (eph_pub, rest) = slot.split_first_chunk::<KEY_LEN>().ok_or_else(short)?;
    let (sealed, tag) = rest
        .split_first_chunk::<ONION_ROUTING_LEN>()
        .ok_or_else(short)?;
    let tag: &[u8; TAG_LEN] = tag.try_into().map_err(|_| short())?;
    // One X25519 per candidate (its public key and parsed agreement key are
    // cached in OnionSecret, so this is the only curve operation): at most three
    // keys are ever valid, and the replay check has already run.
    for key in onion_keys {
        let shared = key.agree(eph_pub)?;
        let keys = LayerKeys::derive(&shared, eph_pub, &key.public());
        let mut routing = *sealed;
        if open_in_place("onion layer", &keys.slot, &[], &mut routing, tag).is_ok() {
            let (routing, digest, not_after) = Routing::decode(&routing)?;
            return Ok(Opened {
                keys,
                routing,
                digest,
                not_after,
            });
        }
    }
    Err(Error::Decrypt {
        what: "onion layer (not made for this node's onion keys, or changed on the way)",
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::crypto::dh;

    const DIGEST: Digest = Digest([0xD1; ONION_DIGEST_LEN]);
    /// A `not_after` minute (2027).
    const MINUTE: u32 = 30_000_000;

    #[test]
    fn routing_round_trip() {
        for r in [Routing::Forward(NodeId([7; 32])), Routing::Deliver] {
            let (back, digest, not_after) = Routing::decode(&r.encode(&DIGEST, MINUTE)).unwrap();
            assert_eq!((back, digest), (r, DIGEST));
            assert_eq!(not_after, minute_to_ms(MINUTE));
        }
        let f = Routing::Forward(NodeId([7; 32])).encode(&DIGEST, MINUTE);
        assert_eq!(f[0], 0);
        assert_eq!(&f[1..33], &[7; 32]);
        assert_eq!(&f[33..49], &[0xD1; 16]);
        assert_eq!(&f[49..53], &MINUTE.to_le_bytes());
        assert_eq!(&f[53..], &[0; 11]);
        let d = Routing::Deliver.encode(&DIGEST, MINUTE);
        assert_eq!(d[0], 1);
        assert!(d[1..33].iter().all(|b| *b == 0));
        assert_eq!(&d[33..49], &[0xD1; 16]);
        assert_eq!(&d[49..53], &MINUTE.to_le_bytes());
        assert!(d[53..].iter().all(|b| *b == 0));
    }

    #[test]
    fn routing_refuses_what_encode_never_makes() {
        let mut unknown = Routing::Deliver.encode(&DIGEST, MINUTE);
        unknown[0] = 2;
        let mut reserved = Routing::Forward(NodeId([7; 32])).encode(&DIGEST, MINUTE);
        reserved[ONION_ROUTING_LEN - 1] = 1;
        let mut deliver_with_next = Routing::Deliver.encode(&DIGEST, MINUTE);
        deliver_with_next[5] = 1;
        for bad in [unknown, reserved, deliver_with_next] {
            assert!(matches!(Routing::decode(&bad), Err(Error::Decode { .. })));
        }
    }

    #[test]
    fn a_sealed_bad_routing_is_refused_after_opening() {
        // A client (or a bug) that seals a routing info with a reserved byte set is
        // refused by the hop even though the AEAD opens.
        let hop = OnionSecret::from_secret_bytes([4; 32]);
        let eph = x25519_dalek::StaticSecret::from([5; 32]);
        let eph_pub = x25519_dalek::PublicKey::from(&eph).to_bytes();
        let keys = LayerKeys::derive(&dh(&eph, &hop.public()).unwrap(), &eph_pub, &hop.public());
        let mut routing = Routing::Deliver.encode(&DIGEST, MINUTE);
        routing[ONION_ROUTING_LEN - 8] = 9;
        let tag = seal_in_place(&keys.slot, &[], &mut routing).unwrap();
        let mut slot = [0u8; ONION_SLOT_LEN];
        slot[..KEY_LEN].copy_from_slice(&eph_pub);
        slot[KEY_LEN..KEY_LEN + ONION_ROUTING_LEN].copy_from_slice(&routing);
        slot[KEY_LEN + ONION_ROUTING_LEN..].copy_from_slice(&tag);
        assert!(matches!(
            open_slot(&slot, &[&hop]),
            Err(Error::Decode { .. })
        ));
        // The same slot, sealed properly, opens and gives back the digest.
        let good = seal_slot(&eph_pub, &keys, Routing::Deliver, &DIGEST, MINUTE).unwrap();
        let opened = open_slot(&good, &[&hop]).unwrap();
        assert_eq!((opened.routing, opened.digest), (Routing::Deliver, DIGEST));
        assert_eq!(opened.not_after, minute_to_ms(MINUTE));
        assert!(matches!(open_slot(&good, &[]), Err(Error::Decrypt { .. })));
    }
}
