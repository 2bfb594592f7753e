//! The keys of one onion layer, derived from the X25519 secret a client and a hop
//! share, and the reply keys a hop (and the client, for every hop) keeps for the
//! response.

use std::fmt;

use crate::constants::KEY_LEN;
use crate::crypto::{SymmetricKey, kdf};

/// Binds the shared secret to both public keys: a changed ephemeral key (even in the
/// bit X25519 ignores) or another hop's key gives another layer.
const LAYER_CONTEXT: &str = "sotto onion layer v1";
/// Seals the routing info in the hop's header slot.
const SLOT_CONTEXT: &str = "sotto onion slot v1";
/// Keys the integrity digest over everything after the hop's slot.
const INTEGRITY_CONTEXT: &str = "sotto onion integrity v1";
/// Keystream the hop XORs over the shifted header.
const HEADER_CONTEXT: &str = "sotto onion header v1";
/// Keystream a relay XORs over the payload; the destination's AEAD key for it.
const PAYLOAD_CONTEXT: &str = "sotto onion payload v1";
/// AEAD key a hop seals a response (or its own error) with.
const REPLY_SEAL_CONTEXT: &str = "sotto onion reply seal v1";
/// Keystream a relay XORs over a response on its way back.
const REPLY_STREAM_CONTEXT: &str = "sotto onion reply stream v1";

/// Every key of one layer. Each is used for exactly one message, which is why the
/// constructions in [`crate::crypto`] can use fixed nonces.
pub(super) struct LayerKeys {
    /// Seals the routing info in the hop's slot.
    pub(super) slot: SymmetricKey,
    /// Keys the digest of the later slots and the payload (see [`super::integrity`]).
    pub(super) integrity: SymmetricKey,
    /// Header keystream.
    pub(super) header: SymmetricKey,
    /// Payload keystream (relays) or payload AEAD key (destination).
    pub(super) payload: SymmetricKey,
    /// The keys for the way back.
    pub(super) reply: ReplyKey,
}

impl LayerKeys {
    /// The layer keys for a shared X25519 secret, the slot's ephemeral public key and
    /// the hop's onion public key.
    pub(super) fn derive(
        shared: &[u8; KEY_LEN],
        eph_pub: &[u8; KEY_LEN],
        hop_onion_pub: &[u8; KEY_LEN],
    ) -> Self {
        let base = kdf(LAYER_CONTEXT, &[shared, eph_pub, hop_onion_pub]);
        let sub = |context| kdf(context, &[&base[..]]);
        Self {
            slot: sub(SLOT_CONTEXT),
            integrity: sub(INTEGRITY_CONTEXT),
            header: sub(HEADER_CONTEXT),
            payload: sub(PAYLOAD_CONTEXT),
            reply: ReplyKey {
                aead: sub(REPLY_SEAL_CONTEXT),
                stream: sub(REPLY_STREAM_CONTEXT),
            },
        }
    }
}

/// One hop's keys for the response to one request: an AEAD key to seal an answer
/// (the destination's, or a relay's own error) and a keystream key to wrap an answer
/// coming back from further along.
///
/// Single-use by construction: not `Clone`, and [`super::seal_response`] and
/// [`super::wrap_response`] take it by value, so a hop answers (or passes an answer
/// on) at most once under it: both use a fixed nonce. Wiped on drop; never shown by
/// `Debug`.
pub struct ReplyKey {
    pub(super) aead: SymmetricKey,
    pub(super) stream: SymmetricKey,
}

impl fmt::Debug for ReplyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplyKey").finish_non_exhaustive()
    }
}

/// What the client keeps after building a request: every hop's [`ReplyKey`] in path
/// order (relays first, destination last), to open the response with
/// [`super::open_response`]. Wiped on drop; never shown by `Debug`.
pub struct ReplyState {
    pub(super) hops: Vec<ReplyKey>,
}

impl ReplyState {
    /// How many hops the request went through (relays and destination).
    pub fn hop_count(&self) -> usize {
        self.hops.len()
    }
}

impl fmt::Debug for ReplyState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplyState")
            .field("hops", &self.hops.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_bound_to_inputs() {
        let a = LayerKeys::derive(&[1; 32], &[2; 32], &[3; 32]);
        let all = [
            &a.slot,
            &a.integrity,
            &a.header,
            &a.payload,
            &a.reply.aead,
            &a.reply.stream,
        ];
        for (i, x) in all.iter().enumerate() {
            for y in all.iter().skip(i + 1) {
                assert_ne!(x[..], y[..]);
            }
        }
        for b in [
            LayerKeys::derive(&[9; 32], &[2; 32], &[3; 32]),
            LayerKeys::derive(&[1; 32], &[9; 32], &[3; 32]),
            LayerKeys::derive(&[1; 32], &[2; 32], &[9; 32]),
        ] {
            assert_ne!(a.slot[..], b.slot[..]);
        }
    }

    #[test]
    fn debug_hides_keys() {
        let a = LayerKeys::derive(&[1; 32], &[2; 32], &[3; 32]);
        assert_eq!(format!("{:?}", a.reply), "ReplyKey { .. }");
        let state = ReplyState {
            hops: vec![a.reply],
        };
        assert_eq!(format!("{state:?}"), "ReplyState { hops: 1, .. }");
        assert_eq!(state.hop_count(), 1);
    }
}
