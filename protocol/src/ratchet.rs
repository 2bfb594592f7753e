//! The Double Ratchet (Signal's "The Double Ratchet Algorithm", revision 4) for
//! messages v2: X25519 DH ratchet, BLAKE3 symmetric chains, XChaCha20-Poly1305
//! message encryption, bounded skipped keys, and the rule that picks one session
//! when two start at once.
//!
//! - [`session`]: the state and `RatchetEncrypt`/`RatchetDecrypt` (§3);
//! - [`message`]: the header (§3.2) and message on the wire;
//! - [`kdf`]: `KDF_RK` and `KDF_CK` (§5.2);
//! - `skipped`: skipped message keys, bounded by count and age (§3.2, §6.5);
//! - [`choice`]: simultaneous initiation and restored contacts.
//!
//! Not here: header encryption (§4; not needed, the sealed-sender layer hides
//! the header), storage (the client seals [`Session`] in its home), and which
//! sessions a client keeps.

pub mod choice;
pub mod kdf;
pub mod message;
pub mod session;
mod skipped;

pub use choice::{InitDecision, on_init};
pub use message::{Header, RatchetMessage};
pub use session::Session;

#[cfg(test)]
mod tests;
