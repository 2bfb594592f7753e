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
//! ## Not in this crate yet
//!
//! This is the account part only. Onion paths and guards, conversations and
//! contacts (including storing a contact's verified code and warning when it
//! changes), the persistent outbox, the receive loop, the local sled store and
//! the async API with its event stream (DESIGN §9) come with later issues.
//! Nothing here does I/O, except [`Account::create`] reading the OS's randomness.

pub mod account;
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
