//! A ratchet message on the wire: the header (sender's current ratchet key,
//! previous chain length, number in chain; Double Ratchet spec §3.2 `HEADER`)
//! and the AEAD ciphertext.
//!
//! The header is not encrypted (the spec's §4 header encryption is not used):
//! the whole message travels inside the sealed-sender layer of an envelope v2,
//! so storage nodes and relays never see a ratchet key or a counter; only the
//! recipient does, and it knows them anyway.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::constants::{KEY_LEN, MAX_MESSAGE_DATA, MAX_RATCHET_HEADER_LEN};
use crate::error::Result;

/// Length of a header as the AEAD's associated data sees it: key, `pn`, `n`.
pub const HEADER_AD_LEN: usize = KEY_LEN + 4 + 4;

/// A ratchet message's header (§3.2 `HEADER(dh_pair, pn, n)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// The sender's current ratchet public key.
    pub dh: [u8; KEY_LEN],
    /// Number of messages in the sender's previous sending chain.
    pub pn: u32,
    /// This message's number in its sending chain.
    pub n: u32,
}

impl Header {
    /// The fixed-length form used in the associated data (§3.4 `CONCAT`): key,
    /// then `pn` and `n` little-endian. Fixed length, so it parses uniquely.
    pub fn ad_bytes(&self) -> [u8; HEADER_AD_LEN] {
        let mut out = [0u8; HEADER_AD_LEN];
        let (dh, rest) = out.split_at_mut(KEY_LEN);
        dh.copy_from_slice(&self.dh);
        let (pn, n) = rest.split_at_mut(4);
        pn.copy_from_slice(&self.pn.to_le_bytes());
        n.copy_from_slice(&self.n.to_le_bytes());
        out
    }

    /// The canonical encoding.
    pub fn encode(&self) -> Result<Vec<u8>> {
        codec::encode_bounded("ratchet header", self, MAX_RATCHET_HEADER_LEN)
    }

    /// Decodes at most `MAX_RATCHET_HEADER_LEN` bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        codec::decode("ratchet header", bytes, MAX_RATCHET_HEADER_LEN)
    }
}

/// A header and the ciphertext (content encrypted under the message key, with
/// its 16-byte tag).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatchetMessage {
    /// The header.
    pub header: Header,
    /// The AEAD output.
    pub ciphertext: Vec<u8>,
}

impl RatchetMessage {
    /// The canonical encoding.
    pub fn encode(&self) -> Result<Vec<u8>> {
        codec::encode_bounded("ratchet message", self, MAX_MESSAGE_DATA)
    }

    /// Decodes at most `MAX_MESSAGE_DATA` bytes.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        codec::decode("ratchet message", bytes, MAX_MESSAGE_DATA)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_ad_form() {
        let h = Header {
            dh: [7; 32],
            pn: 300,
            n: u32::MAX,
        };
        let bytes = h.encode().unwrap();
        assert!(bytes.len() <= MAX_RATCHET_HEADER_LEN);
        assert_eq!(Header::decode(&bytes).unwrap(), h);
        let ad = h.ad_bytes();
        assert_eq!(&ad[32..36], &300u32.to_le_bytes());
        assert_eq!(&ad[36..], &u32::MAX.to_le_bytes());
        for cut in 0..bytes.len() {
            assert!(Header::decode(&bytes[..cut]).is_err());
        }
    }
}
