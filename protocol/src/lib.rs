//! # sotto-protocol
//!
//! Everything two Sotto programs must agree on, as pure functions and plain data:
//!
//! - **identities** ([`id`], [`keys`]): account IDs (`sotto1…`, bech32m over an
//!   Ed25519 key), node IDs, the account key derived from 16 bytes of entropy, node
//!   and onion keys;
//! - **swarms** ([`position`]): positions in the 256-bit keyspace, XOR distance and
//!   [`position::swarm_for`], the one function that decides which nodes hold an
//!   account's messages;
//! - **end-to-end envelopes** ([`envelope`]): sealed-sender, padded, signed and
//!   bound to the recipient, carrying the content kinds of a conversation;
//! - **messages v2** ([`prekey`], [`kem`], [`pqxdh`], [`ratchet`],
//!   [`envelope::v2`]): prekey bundles with ML-KEM-768, the PQXDH handshake, the
//!   Double Ratchet, and envelopes that carry ratchet messages with no signature
//!   (forward secrecy, post-compromise security, a post-quantum handshake and
//!   deniability);
//! - **onion packets** ([`onion`]): building a layered request, peeling one layer
//!   at a relay (a pure function returning what to do next), and the reply layers;
//! - **node records** ([`record`]): signed, expiring, network-bound descriptions of
//!   nodes with their admission proofs;
//! - **RPC** ([`rpc`]): the requests clients and nodes send, owner signatures, and
//!   replication messages between nodes;
//! - **attachments** ([`attachment`]): files sealed into 64 KiB chunks addressed
//!   by hash (STREAM over XChaCha20-Poly1305), manifests, the descriptor a
//!   message carries, locations and safe file names;
//! - **limits and parameters** ([`constants`], [`params`]) and the one encoding
//!   ([`codec`], postcard with a size check before decoding).
//!
//! ## Not in this crate
//!
//! No I/O, no clocks, no randomness of its own: callers pass the time and a random
//! generator, so every rule can be tested and fuzzed. No tokio, libp2p or sled;
//! networking and storage live in `sotto-node` and `sotto-client`.

pub mod attachment;
pub mod codec;
pub mod constants;
pub mod crypto;
pub mod envelope;
pub mod error;
pub mod id;
pub mod kem;
pub mod keys;
pub mod namespace;
pub mod onion;
pub mod params;
pub mod position;
pub mod pqxdh;
pub mod prekey;
pub mod ratchet;
pub mod record;
pub mod rpc;
pub mod time;

pub use error::{Error, Result};
pub use id::{AccountId, AccountIdError, NodeId};
pub use keys::{AccountKey, NodeKey, OnionSecret};
pub use namespace::Namespace;
pub use params::NetworkParams;
pub use position::{Position, SwarmIndex, swarm_for};
pub use time::UnixMillis;
