//! Building a request packet on the client: one layer per hop, each to the hop's
//! onion key with a fresh ephemeral key.

use rand_core::CryptoRng;
use zeroize::Zeroizing;

use crate::constants::{KEY_LEN, ONION_HEADER_LEN, ONION_MAX_LAYERS, ONION_SLOT_LEN, TAG_LEN};
use crate::crypto::{SymmetricKey, ephemeral_dh, seal_in_place, xor_keystream};
use crate::error::{Error, Result};
use crate::id::NodeId;
use crate::time::UnixMillis;

use super::frame::frame_into;
use super::integrity::Digest;
use super::layer::{LayerKeys, ReplyState};
use super::slot::{Routing, seal_slot};
use super::validity::not_after_minute;

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
/// class it fits. `now` is the client's (corrected) clock: every hop refuses the
/// packet once its `not_after` minute, derived from it, has passed
/// ([`super::not_after_minute`], [`super::check_not_after`]).
///
/// Returns the packet to send to `hops[0].node` and the [`ReplyState`] that opens
/// the response. Draws from `rng` one X25519 secret per hop, in path order, then the
/// filler of the unused header slots (the known-answer vectors depend on this order).
///
/// Each hop's slot holds the integrity digest of everything after it as that hop
/// will receive it (see the [module docs](super)), so the slots are sealed from
/// the destination back to the guard: what hop `i` receives after its slot depends
/// only on the hops after it, the filler and the relays' keystreams.
///
/// Fails with [`Error::OutOfRange`] for an empty or too long path,
/// [`Error::DoesNotFit`] for a request over [`crate::constants::MAX_ONION_REQUEST`],
/// and [`Error::BadKey`] if a hop's onion key is a low-order point.
pub fn build_request<R: CryptoRng + ?Sized>(
    rng: &mut R,
    hops: &[Hop],
    request: &[u8],
    now: UnixMillis,
) -> Result<(Vec<u8>, ReplyState)> {
    let not_after = not_after_minute(now);
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
        let (eph_pub, shared) = ephemeral_dh(rng, &hop.onion_key)?;
        layers.push(LayerKeys::derive(&shared, &eph_pub, &hop.onion_key));
        eph_pubs.push(eph_pub);
    }
    let relays = layers.len().saturating_sub(1);

    // Built in place, so no plaintext copy is left in memory: wiped if anything
    // below fails while the payload is still plaintext; on success the sealed bytes
    // are moved out and an empty vector is wiped.
    let mut packet = Zeroizing::new(vec![0u8; class]);
    let (header, payload) = packet
        .split_at_mut_checked(ONION_HEADER_LEN)
        .ok_or(Error::SizeClass { len: class })?;

    // Slots beyond the path: random bytes, like the slots relays append.
    let path_slots = hops.len() * ONION_SLOT_LEN;
    rng.fill_bytes(header.get_mut(path_slots..).unwrap_or_default());

    // What the destination finds after its own slot: the filler and the slots the
    // relays append, as every relay's forwarding leaves them. None of it depends on
    // the path's slots (XOR moves every byte on its own), so the relays' forwarding
    // is run over the header with the path's slots still zero; the destination's
    // own slot comes out as garbage and is overwritten below.
    for layer in layers.iter().take(relays) {
        forward_header(&layer.header, header);
    }

    // The payload as the destination receives it: the request framed straight into
    // the packet and sealed there.
    let (sealed, tag) = payload
        .split_last_chunk_mut::<TAG_LEN>()
        .ok_or(Error::SizeClass { len: class })?;
    let destination = layers.last().ok_or(Error::OutOfRange {
        what: "onion path",
        reason: "it has no hops".into(),
    })?;
    frame_into("onion request", request, sealed)?;
    *tag = seal_in_place(&destination.payload, &[], sealed)?;

    // From the destination back to the guard, `header ‖ payload` is the packet as
    // hop i receives it, but for hop i's own slot. Everything after that slot is
    // final by then (it depends only on hops after i, the filler and keystreams), so
    // hop i's digest of it goes into its slot. Undoing relay i - 1's forwarding then
    // gives the packet as hop i - 1 receives it, with hop i's slot in second place.
    for (i, (layer, eph_pub)) in layers.iter().zip(&eph_pubs).enumerate().rev() {
        let routing = match hops.get(i + 1) {
            Some(next) => Routing::Forward(next.node),
            None => Routing::Deliver,
        };
        let (slot, later_slots) = header
            .split_first_chunk_mut::<ONION_SLOT_LEN>()
            .ok_or(Error::SizeClass { len: class })?;
        let digest = Digest::of(&layer.integrity, &[later_slots, payload]);
        *slot = seal_slot(eph_pub, layer, routing, &digest, not_after)?;
        if let Some(previous) = i.checked_sub(1).and_then(|p| layers.get(p)) {
            unforward_header(&previous.header, header);
            xor_keystream(&previous.payload, payload);
        }
    }

    let reply = ReplyState {
        hops: layers.into_iter().map(|layer| layer.reply).collect(),
    };
    Ok((std::mem::take(&mut *packet), reply))
}

/// What a relay does to the header when it forwards (see [`super::peel()`]): drops
/// its slot, appends a zero slot and XORs the whole header with its keystream.
fn forward_header(key: &SymmetricKey, header: &mut [u8]) {
    header.copy_within(ONION_SLOT_LEN.., 0);
    if let Some(appended) = header.get_mut(ONION_HEADER_LEN - ONION_SLOT_LEN..) {
        appended.fill(0);
    }
    xor_keystream(key, header);
}

/// The inverse of [`forward_header`], but for the relay's own slot, which it
/// dropped: removes the keystream and moves every slot one place back. The slot the
/// relay appended falls off the end (it is zero once the keystream is removed); the
/// first slot keeps stale bytes until the caller puts the relay's slot there.
fn unforward_header(key: &SymmetricKey, header: &mut [u8]) {
    xor_keystream(key, header);
    debug_assert!(
        header
            .get(ONION_HEADER_LEN - ONION_SLOT_LEN..)
            .is_some_and(|appended| appended.iter().all(|b| *b == 0)),
        "the slot a relay appends is zero under its keystream"
    );
    header.copy_within(..ONION_HEADER_LEN - ONION_SLOT_LEN, ONION_SLOT_LEN);
}
