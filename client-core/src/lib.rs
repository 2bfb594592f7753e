//! # sotto-client
//!
//! The client library that Sotto's front ends (the `sotto` CLI and TUI, the
//! simulator's clients) embed. It holds what a user's own device knows and does;
//! the rules both ends must agree on come from `sotto-protocol`.
//!
//! ## Core concepts
//!
//! - **Account** ([`account`]): an account is 16 bytes of local randomness. It is
//!   created offline and instantly, with no phone number, e-mail or server; its
//!   public face is the [`AccountId`] (`sotto1…`), the one thing a user shares.
//! - **Recovery phrase** ([`phrase`]): those 16 bytes as 12 BIP-39 English words,
//!   the only backup of an account. Parsing forgives case and spacing and says
//!   precisely what is wrong otherwise (word count, which word is unknown and what
//!   it may have been meant to be, words in the wrong order).
//! - **Verification codes** ([`verification`]): the 60-digit code two contacts
//!   compare to be sure nobody swapped their keys (Signal's "safety number"), and
//!   the 30-digit public code of one's own key, to post anywhere.
//!
//! ```
//! use sotto_client::{Account, verification_code};
//!
//! let alice = Account::create();
//! let bob = Account::create();
//! // Alice writes down her phrase; on a new device it brings back the same account.
//! let phrase = alice.recovery_phrase();
//! let restored = Account::restore(phrase.as_str())?;
//! assert_eq!(restored.id(), alice.id());
//! // Both see the same code, whichever side computes it.
//! assert_eq!(
//!     verification_code(&alice.id(), &bob.id()),
//!     verification_code(&bob.id(), &alice.id()),
//! );
//! # Ok::<(), sotto_client::Error>(())
//! ```
//!
//! ## Reaching the network
//!
//! [`Client`] ([`request`]) joins a network: it fetches and verifies the
//! directory ([`directory`]) from bootstrap nodes over its own libp2p task
//! ([`net`], a fresh identity per run), keeps two guards and two ready onion
//! paths ([`paths`]), and offers the one request API every feature uses:
//! [`Client::request`] to a node and [`Client::swarm_request`] to an account's
//! swarm, both through a path, with retries, `WrongSwarm` handling and clock
//! correction ([`clock`]). Path state is watched through [`Client::path_status`].
//!
//! ## Not in this crate yet
//!
//! Conversations and contacts (including storing a contact's verified code and
//! warning when it changes), the persistent outbox, the receive loop, the local
//! sled store and the event stream (DESIGN §9) come with the chat issue.

pub mod account;
pub mod chat;
pub mod clock;
pub mod directory;
pub mod error;
pub mod net;
pub mod paths;
pub mod phrase;
pub mod request;
pub mod verification;

pub use account::Account;
pub use error::{Error, Result};
pub use paths::PathStatus;
pub use phrase::RecoveryPhrase;
pub use request::{Client, ClientConfig, ClientError};
pub use sotto_protocol::{AccountId, AccountKey};
pub use verification::{PublicCode, VerificationCode, public_code, verification_code};
