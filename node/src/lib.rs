//! # sotto-node
//!
//! The Sotto service node: volunteers run it to hold the offline messages of the
//! accounts whose swarm it belongs to and to relay onion requests (DESIGN §1,
//! §4–§7).
//!
//! ## What exists
//!
//! - **The message store** ([`store`]): messages per account and namespace on
//!   sled, in the (timestamp, hash) order every replica shares; idempotent
//!   stores merged by the protocol's rule; the owner's deletes (tombstones that
//!   keep the signed request as proof) and expiry changes; per-account and
//!   per-node quotas with typed refusals; a batched purge of what has expired;
//!   and the digests, listings and fetches anti-entropy needs. sled stays behind
//!   this one module, so a change of storage engine stays local (DESIGN §2).
//!
//! ## Not in this crate yet
//!
//! libp2p networking, the node directory, the replication and anti-entropy
//! tasks, the onion relay, RPC handling, metrics and the `sotto-node` binary.
//! They come with the rest of the service-node work and build on the store's
//! API. The rules of the wire (what is valid, what is signed, how replicas
//! merge) are not here either: they live in `sotto-protocol`, and the node
//! calls them.

pub mod store;

pub use store::{Store, StoreError, StoreLimits};
