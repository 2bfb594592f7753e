//! RPC: what clients ask service nodes, what nodes answer, owner signatures, and
//! the replication messages nodes exchange among themselves.
//!
//! Two families of messages, each on its own libp2p protocol:
//!
//! - **Client RPC** ([`request::Request`] → [`response::Response`]) on
//!   `/sotto/<network>/rpc/2`. A client's request reaches a node directly or at the
//!   end of an onion path, so every decoder here bounds its input first
//!   ([`crate::constants::MAX_RPC_REQUEST_LEN`]) and validates every field before
//!   anything looks at it.
//! - **Node-to-node replication** ([`replication::NodeRequest`] →
//!   [`replication::NodeResponse`]) on `/sotto/<network>/replicate/2`, accepted only
//!   from peers whose libp2p identity is a node of the directory: pushes after a
//!   store, and anti-entropy rounds that make a swarm converge (DESIGN §6).
//!
//! Owner operations carry an [`auth::OwnerAuth`]: an Ed25519 signature by the
//! account key over the network name, the operation, account, namespace, a
//! timestamp and a hash of the parameters (DESIGN §5). The owner's signature also
//! travels with everything replication spreads that needs the owner: a message in
//! an owner-only namespace carries its store's signature
//! ([`message::StoreProof`]), and deletes and expiry changes are replicated as the
//! owner's signed requests themselves, so one dishonest member can neither forge
//! an account's data nor delete or cut short anything swarm-wide.
//!
//! The order of a node's checks follows the cost: [`request::Request::decode`]
//! (bounded decode plus field checks, no cryptography), then the caller's swarm
//! check, then [`request::Request::authorize`] (one Ed25519 verification). For
//! replication: [`replication::NodeRequest::decode`] (bounds and clock checks),
//! then [`replication::NodeRequest::authorize`] (the signatures).
//!
//! Every timestamp a peer hands over is checked against the receiver's clock
//! ([`message::check_times`]). Readers page by each member's own sequence
//! numbers ([`read_cursor::ReadCursor`]), not by timestamps, so no clock decides
//! whether a message is read.
//!
//! ## Wire stability
//!
//! Everything here is postcard: enums are encoded by variant index, structs by
//! field order. New variants and fields are only ever appended; any other change
//! bumps the protocol suffix (`rpc/2`, `replicate/2`: wave 2 changed
//! `Retrieve` to sequence cursors and `Ack` to per-message answers). `tests/vectors/rpc.json` pins the bytes.
//!
//! ## Not here
//!
//! Storage, quotas, rate limits, swarm membership and timing live in the node;
//! this module only says what is well-formed and what is signed.

pub mod auth;
pub mod chunk;
pub mod deliver;
pub mod digest;
pub mod error;
pub mod held;
pub mod message;
pub mod read_cursor;
pub mod receipt;
pub mod replication;
pub mod request;
pub mod response;

pub use auth::{AuthError, OwnerAuth, OwnerOp, OwnerSigned};
pub use chunk::ChunkStoreRequest;
pub use deliver::{DeliverRequest, DeliveryToken, Pass};
pub use digest::{
    AccountDigest, DigestAccumulator, DigestItem, ItemState, Reconcile, account_digest, merge,
    reconcile,
};
pub use error::{ErrorKind, RpcError};
pub use message::{Cursor, MessageHash, StoreProof, StoredMessage};
pub use read_cursor::ReadCursor;
pub use receipt::{StorageReceipt, count_receipts};
pub use replication::{NodeRequest, NodeResponse};
pub use request::{
    DeleteRequest, ExpireRequest, MAX_WAIT_FOR, Request, RetrieveRequest, StoreRequest,
};
pub use response::{Response, RetrievedMessage};

/// Last part of the client RPC protocol name.
pub const RPC_PROTOCOL_SUFFIX: &str = "rpc/2";
/// Last part of the node-to-node replication protocol name.
pub const REPLICATION_PROTOCOL_SUFFIX: &str = "replicate/2";

/// The libp2p protocol name for client RPC on `network`: `/sotto/<network>/rpc/2`.
/// The network name in it keeps a devnet and a public network apart (DESIGN §4).
pub fn rpc_protocol(network: &str) -> String {
    format!("/sotto/{network}/{RPC_PROTOCOL_SUFFIX}")
}

/// The libp2p protocol name for replication on `network`:
/// `/sotto/<network>/replicate/2`.
pub fn replication_protocol(network: &str) -> String {
    format!("/sotto/{network}/{REPLICATION_PROTOCOL_SUFFIX}")
}

/// A list's length must be `min` to `max`: the one count check of every RPC
/// message.
fn check_count(what: &'static str, len: usize, min: usize, max: usize) -> crate::Result<()> {
    if len < min || len > max {
        return Err(crate::Error::OutOfRange {
            what,
            reason: format!("{len} entries is not {min} to {max}"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_carry_the_network() {
        assert_eq!(rpc_protocol("devnet"), "/sotto/devnet/rpc/2");
        assert_eq!(replication_protocol("sotto"), "/sotto/sotto/replicate/2");
        assert_ne!(rpc_protocol("devnet"), rpc_protocol("sotto"));
    }
}
