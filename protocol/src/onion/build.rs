//! Building a request packet on the client: one layer per hop, each to the hop's
//! onion key with a fresh ephemeral key.

use rand_core::CryptoRng;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::constants::{KEY_LEN, ONION_HEADER_LEN, ONION_MAX_LAYERS, ONION_SLOT_LEN, TAG_LEN};
use crate::crypto::{dh, seal_in_place, xor_keystream};
use crate::error::{Error, Result};
use crate::id::NodeId;

use super::frame::frame_into;
use super::layer::{LayerKeys, ReplyState};
use super::slot::{Routing, seal_slot};

/// One hop of a path as the client knows it from the hop's node record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    /// The node (where the previous hop sends the packet).
    pub node: NodeId,
    /// The node's current onion public key (X25519).
    pub onion_key: [u8; KEY_LEN],
}

/// Builds a request packet for `hops` (the relays in order, the destination last;
/// 1 to [`ONION_MAX_LAYERS`] hops) carrying `request`, in the smallest request size
/// class it fits.
///
/// Returns the packet to send to `hops[0].node` and the [`ReplyState`] that opens
/// the response. Draws from `rng` one X25519 secret per hop, in path order, then the
/// filler of the unused header slots (the known-answer vectors depend on this order).
///
/// Fails with [`Error::OutOfRange`] for an empty or too long path,
/// [`Error::DoesNotFit`] for a request over [`crate::constants::MAX_ONION_REQUEST`],
/// and [`Error::BadKey`] if a hop's onion key is a low-order point.
pub fn build_request<R: CryptoRng + ?Sized>(
    rng: &mut R,
    hops: &[Hop],
    request: &[u8],
) -> Result<(Vec<u8>, ReplyState)> {
    if hops.is_empty() || hops.len() > ONION_MAX_LAYERS {
        return Err(Error::OutOfRange {
            what: "onion path",
            reason: format!(
                "it has {} hops; a path has 1 to {ONION_MAX_LAYERS}",
                hops.len()
            ),
        });
    }
    let class = super::request_class_for(request.len())?;

    let mut layers = Vec::with_capacity(hops.len());
    let mut eph_pubs = Vec::with_capacity(hops.len());
    for hop in hops {
        let eph = StaticSecret::random_from_rng(rng);
        let eph_pub = PublicKey::from(&eph).to_bytes();
        let shared = dh(&eph, &hop.onion_key)?;
        layers.push(LayerKeys::derive(&shared, &eph_pub, &hop.onion_key));
        eph_pubs.push(eph_pub);
    }

    // Hop m XORs the header, shifted by one slot, with its keystream. So that hop j
    // finds its own slot in front, slot j of the packet is hop j's sealed slot XOR
    // what every earlier hop m will XOR into it: the part of m's keystream that lands
    // on the slot once it has moved j - m - 1 places forward. The destination's
    // keystream is never used. The keystreams are as secret as the keys they come
    // from (they unmask every relay's slot), so they are wiped when dropped.
    let relays = layers.len().saturating_sub(1);
    let keystreams: Vec<Zeroizing<Vec<u8>>> = layers
        .iter()
        .take(relays)
        .map(|layer| {
            let mut ks = Zeroizing::new(vec![0u8; ONION_HEADER_LEN]);
            xor_keystream(&layer.header, &mut ks);
            ks
        })
        .collect();

    // Wiped if anything below fails while the payload is still plaintext; on
    // success the sealed bytes are moved out and an empty vector is wiped.
    let mut packet = Zeroizing::new(vec![0u8; class]);
    let (header, payload) = packet
        .split_at_mut_checked(ONION_HEADER_LEN)
        .ok_or(Error::SizeClass { len: class })?;
    for (j, slot) in header.chunks_exact_mut(ONION_SLOT_LEN).enumerate() {
        let (Some(layer), Some(eph_pub)) = (layers.get(j), eph_pubs.get(j)) else {
            // Beyond the path: random bytes, like the slots relays append.
            rng.fill_bytes(slot);
            continue;
        };
        let routing = match hops.get(j + 1) {
            Some(next) => Routing::Forward(next.node),
            None => Routing::Deliver,
        };
        slot.copy_from_slice(&seal_slot(eph_pub, layer, routing)?);
        for (m, ks) in keystreams.iter().enumerate().take(j) {
            let start = (j - m - 1) * ONION_SLOT_LEN;
            let part = ks.get(start..start + ONION_SLOT_LEN).unwrap_or_default();
            for (s, k) in slot.iter_mut().zip(part) {
                *s ^= k;
            }
        }
    }

    // The payload is sealed to the destination, then XORed with the keystream of
    // every relay, each of which removes its own. The request is framed straight
    // into the packet and sealed there, so no plaintext copy is left in memory.
    let (sealed, tag) = payload
        .split_last_chunk_mut::<TAG_LEN>()
        .ok_or(Error::SizeClass { len: class })?;
    let destination = layers.last().ok_or(Error::OutOfRange {
        what: "onion path",
        reason: "it has no hops".into(),
    })?;
    frame_into("onion request", request, sealed)?;
    *tag = seal_in_place(&destination.payload, &[], sealed)?;
    for layer in layers.iter().take(relays) {
        xor_keystream(&layer.payload, payload);
    }

    let reply = ReplyState {
        hops: layers.into_iter().map(|layer| layer.reply).collect(),
    };
    Ok((std::mem::take(&mut *packet), reply))
}
