//! Peeling one layer at a hop: a pure function from a packet and the hop's onion
//! keys to what the hop does next (forward, or deliver); the node does the I/O.

use zeroize::Zeroizing;

use crate::constants::{ONION_HEADER_LEN, ONION_SLOT_LEN, TAG_LEN};
use crate::crypto::{open_in_place, xor_keystream};
use crate::error::{Error, Result};
use crate::id::NodeId;
use crate::keys::OnionSecret;
use crate::time::UnixMillis;

use super::frame::unframe;
use super::integrity::Digest;
use super::layer::ReplyKey;
use super::slot::{Opened, Routing, open_slot};

/// The `what` of the [`Error::Decrypt`] that [`peel`] returns when the slot opens
/// but the rest of the packet does not match the slot's integrity digest: the
/// packet was changed after the client built it, by the hop that sent it or on the
/// link. A node drops such a packet.
pub const CHANGED_ON_THE_WAY: &str =
    "onion packet (changed on the way: the rest of the packet does not match its digest)";

/// What a hop does with a packet after peeling its layer.
#[derive(Debug)]
pub enum Peeled {
    /// Send `packet` to `next`. The packet has the same size class as the one that
    /// arrived. Keep `reply` for the way back and use it once: either to wrap the
    /// response that comes back ([`super::wrap_response`]) or, instead, to seal an
    /// error of this hop's own ([`super::seal_response`]), for example if `next`
    /// cannot be reached. Both take the key by value, so it cannot do both.
    Forward {
        /// The next hop.
        next: NodeId,
        /// The packet to send it.
        packet: Vec<u8>,
        /// This hop's keys for the response.
        reply: ReplyKey,
        /// When the packet stops being valid (Unix ms): check it with
        /// [`super::check_not_after`] before acting on the packet.
        not_after: UnixMillis,
    },
    /// This hop is the destination: handle `request` and answer once with
    /// [`super::seal_response`], which consumes `reply`.
    Deliver {
        /// The request the client sent.
        request: Vec<u8>,
        /// The keys to seal the answer with.
        reply: ReplyKey,
        /// When the packet stops being valid (Unix ms): check it with
        /// [`super::check_not_after`] before acting on the packet.
        not_after: UnixMillis,
    },
}

impl Peeled {
    /// When the packet stops being valid (Unix ms), as its client wrote it.
    pub fn not_after(&self) -> UnixMillis {
        match self {
            Self::Forward { not_after, .. } | Self::Deliver { not_after, .. } => *not_after,
        }
    }
}

/// Peels one layer of `packet` with the hop's onion keys, tried in order (the
/// current key, then the previous one while its grace period lasts). Pure: the
/// packet's validity is returned ([`Peeled::not_after`]) for the hop to check
/// against its clock with [`super::check_not_after`].
///
/// The size class is checked before any cryptography; call
/// [`super::replay_tag`] first to drop replays cheaply. Then the hop opens its slot
/// and, before anything else, checks the slot's integrity digest against the rest
/// of the packet, so a packet changed anywhere since the client built it (or since
/// the previous hop passed it on) goes no further than this hop.
///
/// Fails with [`Error::SizeClass`] for a packet of the wrong size, [`Error::BadKey`]
/// if the slot's ephemeral key is a low-order point, [`Error::Decrypt`] if the layer
/// was not made for these keys, or if the slot or any byte after it was changed on
/// the way (the `what` of the latter is [`CHANGED_ON_THE_WAY`]), and
/// [`Error::Decode`] if an authentic layer is malformed.
pub fn peel(packet: &[u8], onion_keys: &[&OnionSecret]) -> Result<Peeled> {
    super::check_request_class(packet.len())?;
    let wrong_size = || Error::SizeClass { len: packet.len() };
    let (slot, rest) = packet
        .split_first_chunk::<ONION_SLOT_LEN>()
        .ok_or_else(wrong_size)?;
    let (later_slots, payload) = rest
        .split_at_checked(ONION_HEADER_LEN - ONION_SLOT_LEN)
        .ok_or_else(wrong_size)?;
    let Opened {
        keys,
        routing,
        digest,
        not_after,
    } = open_slot(slot, onion_keys)?;
    // One keyed blake3 pass over everything after the slot. Without it, relays would
    // pass on a payload or later slot a hop before them had changed, and a colluding
    // later hop could recognise the change: a tag linking the packet it receives to
    // the client the first hop saw.
    if Digest::of(&keys.integrity, &[rest]) != digest {
        return Err(Error::Decrypt {
            what: CHANGED_ON_THE_WAY,
        });
    }
    match routing {
        Routing::Forward(next) => {
            // Shift the header one slot forward, pad with a zero slot, and XOR the
            // whole header with this hop's keystream: the next hop's slot comes out
            // in front and the new last slot is pseudorandom.
            let mut out = Vec::with_capacity(packet.len());
            out.extend_from_slice(later_slots);
            out.resize(ONION_HEADER_LEN, 0);
            out.extend_from_slice(payload);
            let (new_header, new_payload) = out
                .split_at_mut_checked(ONION_HEADER_LEN)
                .ok_or_else(wrong_size)?;
            xor_keystream(&keys.header, new_header);
            xor_keystream(&keys.payload, new_payload);
            Ok(Peeled::Forward {
                next,
                packet: out,
                reply: keys.reply,
                not_after,
            })
        }
        Routing::Deliver => {
            let (sealed, tag) = payload
                .split_last_chunk::<TAG_LEN>()
                .ok_or_else(wrong_size)?;
            // Wiped when dropped: only the request unframed from it is the caller's.
            let mut plain = Zeroizing::new(sealed.to_vec());
            open_in_place("onion payload", &keys.payload, &[], &mut plain, tag)?;
            let request = unframe("onion request", &plain)?;
            Ok(Peeled::Deliver {
                request,
                reply: keys.reply,
                not_after,
            })
        }
    }
}
