//! Responses: sealed by the hop that answers, wrapped by every relay on the way
//! back, opened by the client.

use crate::constants::TAG_LEN;
use crate::crypto::{open_in_place, seal_in_place, xor_keystream};
use crate::error::{Error, Result};

use super::frame::{frame, unframe};
use super::layer::{ReplyKey, ReplyState};

/// A response the client opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenedResponse {
    /// Which hop sealed it, as an index into the path: the destination is the last
    /// hop (`hop_count - 1`); a smaller index is a relay reporting its own error.
    pub from_hop: usize,
    /// The response the hop sealed.
    pub body: Vec<u8>,
}

/// Seals `response` under a hop's reply key, in the smallest of
/// [`crate::constants::ONION_RESPONSE_CLASSES`] it fits. The destination seals its
/// answer this way, and so does a relay reporting its own error (for example that
/// the next hop is unreachable). Fails with [`Error::DoesNotFit`] over
/// [`crate::constants::MAX_ONION_RESPONSE`].
pub fn seal_response(reply: &ReplyKey, response: &[u8]) -> Result<Vec<u8>> {
    let class = super::response_class_for(response.len())?;
    let mut packet = frame("onion response", response, class.saturating_sub(TAG_LEN))?;
    let tag = seal_in_place(&reply.aead, &[], &mut packet)?;
    packet.extend_from_slice(&tag);
    Ok(packet)
}

/// Adds a relay's layer to a response on its way back to the client: XORs the
/// relay's reply keystream over the whole packet, so no two hops see the same bytes
/// and the size class does not change. Refuses ([`Error::SizeClass`]) a packet that
/// is not one of the response classes.
pub fn wrap_response(reply: &ReplyKey, packet: &mut [u8]) -> Result<()> {
    super::check_response_class(packet.len())?;
    xor_keystream(&reply.stream, packet);
    Ok(())
}

/// Opens a response with the keys kept from [`super::build_request`]. Tries each hop
/// in path order: if hop `i` sealed it, it opens under hop `i`'s key; if not, hop `i`
/// wrapped it, and its layer is removed before trying the next hop.
///
/// Fails with [`Error::SizeClass`] for a packet of the wrong size,
/// [`Error::Decrypt`] if no hop's key opens it (it was changed on the way), and
/// [`Error::Decode`] if the authentic response is badly framed.
pub fn open_response(reply: &ReplyState, packet: &[u8]) -> Result<OpenedResponse> {
    super::check_response_class(packet.len())?;
    let mut buf = packet.to_vec();
    for (from_hop, key) in reply.hops.iter().enumerate() {
        let (sealed, tag) = buf
            .split_last_chunk::<TAG_LEN>()
            .ok_or(Error::SizeClass { len: packet.len() })?;
        // Opened on a copy: if this hop did not seal it, `buf` is still needed.
        let mut plain = sealed.to_vec();
        if open_in_place("onion response", &key.aead, &[], &mut plain, tag).is_ok() {
            let body = unframe("onion response", &plain)?;
            return Ok(OpenedResponse { from_hop, body });
        }
        xor_keystream(&key.stream, &mut buf);
    }
    Err(Error::Decrypt {
        what: "onion response (changed on the way, or not for this request)",
    })
}
