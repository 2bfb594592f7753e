//! Responses: sealed by the hop that answers, wrapped by every relay on the way
//! back, opened by the client.

use zeroize::Zeroizing;

use crate::constants::TAG_LEN;
use crate::crypto::{open_in_place, seal_in_place, xor_keystream};
use crate::error::{Error, Result};

use super::frame::{frame_into, unframe};
use super::layer::{ReplyKey, ReplyState};

/// A response the client opened, by who sealed it.
///
/// Only [`OpenedResponse::Destination`] is the destination's answer to the request.
/// Any relay on the path can seal a response of its own instead of passing the
/// destination's on (that is how it reports an unreachable next hop), and nothing
/// stops a dishonest relay from putting anything in it. Such a response opens as
/// [`OpenedResponse::RelayError`]: that relay's word, never the destination's.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a relay's error is not the destination's answer: match on the variant"]
pub enum OpenedResponse {
    /// The destination's answer: sealed under the reply key of the last hop, which
    /// only the client and the destination know.
    Destination(Vec<u8>),
    /// A relay's own report (for example that it could not reach the next hop),
    /// sealed under that relay's reply key. Not the destination's answer: the
    /// request may or may not have reached it.
    RelayError {
        /// Which relay sealed it, as an index into the path (0 is the guard;
        /// always less than `hop_count - 1`).
        hop: usize,
        /// What the relay said.
        body: Vec<u8>,
    },
}

/// Seals `response` under a hop's reply key, in the smallest of
/// [`crate::constants::ONION_RESPONSE_CLASSES`] it fits. The destination seals its
/// answer this way, and so does a relay reporting its own error (for example that
/// the next hop is unreachable) instead of wrapping a response.
///
/// Takes the key by value: the AEAD nonce is fixed, so a second response under the
/// same key would leak the XOR of the two plaintexts and allow forged tags. A hop
/// answers a request once.
///
/// ```
/// # use sotto_protocol::onion::{ReplyKey, seal_response};
/// fn answer(reply: ReplyKey) -> sotto_protocol::Result<Vec<u8>> {
///     seal_response(reply, b"pong")
/// }
/// ```
///
/// ```compile_fail,E0382
/// # use sotto_protocol::onion::{ReplyKey, seal_response};
/// fn answer_twice(reply: ReplyKey) -> sotto_protocol::Result<Vec<u8>> {
///     let _first = seal_response(reply, b"pong")?;
///     seal_response(reply, b"pong again") // error: use of moved value
/// }
/// ```
///
/// Fails with [`Error::DoesNotFit`] over [`crate::constants::MAX_ONION_RESPONSE`].
pub fn seal_response(reply: ReplyKey, response: &[u8]) -> Result<Vec<u8>> {
    let class = super::response_class_for(response.len())?;
    // Framed and sealed in place; wiped if sealing fails while it is plaintext.
    let mut packet = Zeroizing::new(vec![0u8; class]);
    let (sealed, tag) = packet
        .split_last_chunk_mut::<TAG_LEN>()
        .ok_or(Error::SizeClass { len: class })?;
    frame_into("onion response", response, sealed)?;
    *tag = seal_in_place(&reply.aead, &[], sealed)?;
    Ok(std::mem::take(&mut *packet))
}

/// Adds a relay's layer to a response on its way back to the client: XORs the
/// relay's reply keystream over the whole packet, so no two hops see the same bytes
/// and the size class does not change.
///
/// Takes the key by value: the keystream is the same every time, so wrapping two
/// responses with it would show whoever sees both sides the XOR of the two.
///
/// Refuses ([`Error::SizeClass`]) a packet that is not one of the response classes;
/// the key is gone then too. A relay that would rather report the malformed response
/// with [`seal_response`] checks the length against
/// [`crate::constants::ONION_RESPONSE_CLASSES`] first.
pub fn wrap_response(reply: ReplyKey, packet: &mut [u8]) -> Result<()> {
    super::check_response_class(packet.len())?;
    xor_keystream(&reply.stream, packet);
    Ok(())
}

/// Opens a response with the keys kept from [`super::build_request`]. Tries each hop
/// in path order: if hop `i` sealed it, it opens under hop `i`'s key; if not, hop `i`
/// wrapped it, and its layer is removed before trying the next hop. The last hop's
/// seal gives [`OpenedResponse::Destination`], any other's
/// [`OpenedResponse::RelayError`].
///
/// Fails with [`Error::SizeClass`] for a packet of the wrong size,
/// [`Error::Decrypt`] if no hop's key opens it (it was changed on the way), and
/// [`Error::Decode`] if the authentic response is badly framed.
pub fn open_response(reply: &ReplyState, packet: &[u8]) -> Result<OpenedResponse> {
    super::check_response_class(packet.len())?;
    let destination = reply.hops.len().saturating_sub(1);
    let mut buf = packet.to_vec();
    for (hop, key) in reply.hops.iter().enumerate() {
        let (sealed, tag) = buf
            .split_last_chunk::<TAG_LEN>()
            .ok_or(Error::SizeClass { len: packet.len() })?;
        // Opened on a copy: if this hop did not seal it, `buf` is still needed. The
        // copy is wiped; only the body unframed from it is the caller's.
        let mut plain = Zeroizing::new(sealed.to_vec());
        if open_in_place("onion response", &key.aead, &[], &mut plain, tag).is_ok() {
            let body = unframe("onion response", &plain)?;
            return Ok(if hop == destination {
                OpenedResponse::Destination(body)
            } else {
                OpenedResponse::RelayError { hop, body }
            });
        }
        xor_keystream(&key.stream, &mut buf);
    }
    Err(Error::Decrypt {
        what: "onion response (changed on the way, or not for this request)",
    })
}
