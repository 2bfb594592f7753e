//! Onion packets (DESIGN §7): building a layered request, peeling one layer at a
//! hop, and the layers a response gains on its way back.
//!
//! ## Request packets
//!
//! A request packet is a fixed header of [`ONION_MAX_LAYERS`] slots of
//! [`ONION_SLOT_LEN`] bytes, followed by the payload. Its total length is exactly one
//! of [`ONION_REQUEST_CLASSES`]; anything else is refused before any cryptography.
//!
//! ```text
//! packet = slot 0 ‖ slot 1 ‖ … ‖ slot 4 ‖ payload            (header 5 × 112 = 560)
//! slot   = ephemeral X25519 key (32) ‖ sealed routing (64) ‖ tag (16)
//! routing plaintext = command (1: 0 Forward, 1 Deliver) ‖ next NodeId (32)
//!                     ‖ integrity digest (16) ‖ not_after (4: Unix minute, u32 LE)
//!                     ‖ zeros (11)
//! ```
//!
//! Every hop refuses a packet whose `not_after` minute has passed on its clock
//! (allowing for the clocks' difference), so a relay keeps replay tags for
//! minutes only (see [`check_not_after`]).
//!
//! The hop a packet is sent to always finds its own slot first. It agrees a layer
//! key with the slot's ephemeral key (X25519 with its onion key, then blake3
//! `derive_key` over the shared secret and both public keys), opens the routing info,
//! checks the integrity digest (below), and then either:
//!
//! - **forwards**: drops its slot, appends a zero slot and XORs the whole header with
//!   a keystream, so the next hop finds its slot first and the appended slot is
//!   pseudorandom; the payload is XORed with another keystream. The packet keeps its
//!   size, so every hop sees the same size class and no hop learns its position;
//! - **delivers**: opens the payload (XChaCha20-Poly1305), which holds the request
//!   framed as `u32 LE length ‖ request ‖ zero padding`.
//!
//! The client builds the header so that each hop's slot lands in front after the
//! XORs of the hops before it (see [`build_request`]). Slots beyond the path are
//! random bytes; a hop cannot tell them from slots of further hops.
//!
//! ## Integrity at every hop
//!
//! The XORs at relays are malleable: a flipped bit stays at its position through
//! every relay. If only each slot's own tag and the destination's AEAD covered the
//! packet, a guard could flip a payload bit (or a bit of a later hop's slot), the
//! honest relays would pass the packet on, and a colluding destination (or later
//! relay) would recognise the flip: a tag linking the client the guard saw to the
//! packet the colluder received. Against a colluding destination, which knows the
//! payload plaintext, the flip could even be read and undone with no failure showing.
//!
//! So each hop's sealed routing info carries a digest of **everything after its
//! slot, as that hop receives it**: the later slots (filler included) and the
//! payload. It is blake3 keyed with a key of the hop's layer (context
//! `"sotto onion integrity v1"`), cut to [`crate::constants::ONION_DIGEST_LEN`]
//! bytes. A hop recomputes it right after opening its slot, compares in constant
//! time, and refuses a mismatch ([`CHANGED_ON_THE_WAY`]) before it forwards or
//! delivers anything. Any change to a packet outside the receiving hop's own slot
//! (which its AEAD covers) is therefore refused by that hop: a tag never travels past
//! the first honest hop after the one that made it. This is Sphinx's per-hop header
//! MAC, extended over the payload, in place of Sphinx's wide-block payload cipher
//! (LIONESS); it costs one blake3 pass over the packet per hop.
//!
//! The client can compute every digest because what hop `i` receives after its slot
//! depends only on the hops after it, the filler and keystreams the client knows:
//! [`build_request`] works from the destination back to the guard, sealing each
//! hop's slot once everything after it is fixed.
//!
//! What a relay can still do is drop or delay a packet, which any relay can do
//! anyway; a colluding guard and destination that use drops or delays to correlate
//! are doing timing correlation, which this format does not claim to stop.
//! Responses need no such digest: a change a relay makes to a response cannot be
//! recognised by a colluding hop nearer the client, because the honest hops in
//! between XOR keystreams the colluder cannot remove, and the client's AEAD catches
//! it. A colluding destination can still signal to the guard through when it
//! answers and which response class it answers in: timing and volume correlation
//! again.
//!
//! ## Responses
//!
//! Every layer also yields a [`ReplyKey`] for its hop. The destination seals its
//! answer with [`seal_response`]; a relay that cannot forward seals its own error the
//! same way. On the way back each relay applies [`wrap_response`], which XORs a
//! keystream of its own over the whole packet, so the bytes differ at every hop while
//! the size stays one of [`ONION_RESPONSE_CLASSES`]. Both take the [`ReplyKey`] by
//! value: its nonce is fixed, so it must serve exactly one response, and the compiler
//! enforces that.
//!
//! The client peels them all off with [`open_response`], which says who answered:
//! [`OpenedResponse::Destination`] is the destination's answer, and
//! [`OpenedResponse::RelayError`] is a relay speaking for itself (any relay can
//! answer in place of the destination, and say anything).
//!
//! ## Replays
//!
//! [`replay_tag`] returns the ephemeral key of the first slot without any
//! cryptography. A relay checks it against the tags it has seen under the same onion
//! key before it peels; changing the ephemeral key to dodge that check only makes the
//! layer fail to open, because the key is bound into the layer key derivation.
//!
//! Every function here is pure: no I/O and no randomness of its own (the client
//! passes its generator to [`build_request`]).

mod build;
mod frame;
mod integrity;
mod layer;
mod peel;
mod reply;
mod slot;
#[cfg(test)]
mod tests;
mod validity;

use std::fmt;

pub use build::{Hop, build_request};
pub use layer::{ReplyKey, ReplyState};
pub use peel::{CHANGED_ON_THE_WAY, Peeled, peel};
pub use reply::{OpenedResponse, open_response, seal_response, wrap_response};
pub use validity::{MAX_AHEAD_MS, check_not_after, minute_to_ms, not_after_minute};

use crate::constants::{
    KEY_LEN, ONION_HEADER_LEN, ONION_LEN_PREFIX, ONION_REQUEST_CLASSES, ONION_RESPONSE_CLASSES,
    TAG_LEN,
};
#[cfg(doc)]
use crate::constants::{ONION_MAX_LAYERS, ONION_SLOT_LEN};
use crate::error::{Error, Result};

/// What a relay remembers to drop a replayed packet: the ephemeral public key of the
/// packet's first slot. Fresh for every packet a client builds; a relay keeps the
/// tags it has seen until the packet's `not_after` has passed on its clock (see
/// [`check_not_after`]): after that the packet is refused anyway.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReplayTag(pub [u8; KEY_LEN]);

impl ReplayTag {
    /// The 32 bytes of the tag (for storing in a replay filter).
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for ReplayTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ReplayTag(")?;
        for b in self.0.iter().take(8) {
            write!(f, "{b:02x}")?;
        }
        f.write_str(")")
    }
}

/// The replay tag of a request packet. Checks only the size class, so a relay can
/// drop a replay before spending an X25519 operation on it.
pub fn replay_tag(packet: &[u8]) -> Result<ReplayTag> {
    check_request_class(packet.len())?;
    let eph = packet
        .first_chunk::<KEY_LEN>()
        .ok_or(Error::SizeClass { len: packet.len() })?;
    Ok(ReplayTag(*eph))
}

/// Refuses a request packet whose length is not one of [`ONION_REQUEST_CLASSES`].
fn check_request_class(len: usize) -> Result<()> {
    if ONION_REQUEST_CLASSES.contains(&len) {
        Ok(())
    } else {
        Err(Error::SizeClass { len })
    }
}

/// Refuses a response packet whose length is not one of [`ONION_RESPONSE_CLASSES`].
fn check_response_class(len: usize) -> Result<()> {
    if ONION_RESPONSE_CLASSES.contains(&len) {
        Ok(())
    } else {
        Err(Error::SizeClass { len })
    }
}

/// The smallest request class whose payload holds a request of `len` bytes.
fn request_class_for(len: usize) -> Result<usize> {
    let overhead = ONION_HEADER_LEN + TAG_LEN + ONION_LEN_PREFIX;
    ONION_REQUEST_CLASSES
        .iter()
        .copied()
        .find(|class| len.checked_add(overhead).is_some_and(|need| need <= *class))
        .ok_or(Error::DoesNotFit {
            what: "onion request",
            len,
            max: crate::constants::MAX_ONION_REQUEST,
        })
}

/// The smallest response class that holds a response of `len` bytes.
fn response_class_for(len: usize) -> Result<usize> {
    let overhead = TAG_LEN + ONION_LEN_PREFIX;
    ONION_RESPONSE_CLASSES
        .iter()
        .copied()
        .find(|class| len.checked_add(overhead).is_some_and(|need| need <= *class))
        .ok_or(Error::DoesNotFit {
            what: "onion response",
            len,
            max: crate::constants::MAX_ONION_RESPONSE,
        })
}
