//! Prekeys (messages v2): what an account publishes in its `Public` namespace so
//! that anyone can start a PQXDH session with it while it is offline, and the
//! secret halves it keeps.
//!
//! - [`SignedPrekeyBundle`] ([`bundle`]): the account's current signed X25519
//!   prekey and signed ML-KEM-768 prekey, a batch of one-time keys of both kinds,
//!   their ids and the bundle's creation time, all under one Ed25519 signature
//!   by the account key (PQXDH spec rev. 3 §3.2 signs each prekey; one signature
//!   over the whole bundle covers every key in it the same way, since the bundle
//!   is published and fetched whole).
//! - [`PrekeySecrets`] ([`secrets`]): the private side, serde-serializable for the
//!   client's sealed home, wiped on drop, with the rotation and replenishing
//!   policy of [`crate::constants`] (`SIGNED_PREKEY_ROTATE_MS`,
//!   `OLD_SIGNED_PREKEY_KEEP_MS`, `ONE_TIME_PREKEY_BATCH`,
//!   `ONE_TIME_PREKEY_LOW_WATER`, `ONE_TIME_PREKEY_GRACE_MS`).
//!
//! ## One-time keys without a server
//!
//! Signal's server hands each one-time prekey to one initiator and deletes it.
//! Here the whole bundle sits in a swarm, so two initiators may pick the same
//! one-time key before the owner republishes (each picks at random among the
//! offered ones, so with a full batch two concurrent initiators collide with
//! probability 1/50). This is safe: the session secret also depends on the
//! initiator's fresh ephemeral key (DH2, DH3, DH4 all involve it) and on a fresh
//! ML-KEM encapsulation, so two initiations that share a one-time key still get
//! unrelated secrets. What reuse costs is only that key's *extra* forward
//! secrecy: until it is deleted, someone who later steals the owner's secrets
//! and recorded both initiations can compute DH4 for both, as for any not yet
//! deleted prekey. The owner therefore keeps a used one-time key for
//! `ONE_TIME_PREKEY_GRACE_MS` (3 days) after its first use, so a second
//! initiation made from the same bundle still opens, then deletes it; an
//! initiation naming a deleted key fails with
//! [`crate::Error::UnknownPrekey`], and the client answers by starting a
//! session of its own with the sender.

pub mod bundle;
pub mod secrets;

pub use bundle::{KemPrekey, PrekeyBundle, SignedPrekeyBundle, VerifiedBundle, X25519Prekey};
pub use secrets::{PrekeySecrets, UsedPrekeys};

/// The id of one prekey, unique among all prekeys (of both kinds) one secret
/// store made. Ids count up from a random start (see
/// [`PrekeySecrets::generate`]).
pub type PrekeyId = u32;

#[cfg(test)]
mod tests;
