//! Signed node records: who a node is, where to reach it, its onion keys, for how
//! long, on which network, with its admission proof.

use serde::{Deserialize, Serialize};

use crate::codec::bytes64;
use crate::constants::SIGNATURE_LEN;

/// A node record as it travels: the exact encoded [`NodeRecord`] bytes that were
/// signed, and the node key's signature over them (with a domain string). Keeping
/// the signed bytes means verification never depends on re-encoding.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignedNodeRecord {
    /// The encoded [`NodeRecord`].
    pub record: Vec<u8>,
    /// Ed25519 signature by the record's node key.
    #[serde(with = "bytes64")]
    pub signature: [u8; SIGNATURE_LEN],
}
