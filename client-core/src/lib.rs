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
//! ## Chat
//!
//! [`chat::Messenger`] ([`chat`]) is what a chat front end uses, and all it
//! uses (DESIGN §8–§9). It keeps one account's state in a sled store under a
//! home directory (files 0600; with a passphrase every value is sealed with
//! XChaCha20-Poly1305 under an argon2id-derived key): contacts, message
//! requests, conversations, the outbox, the read cursors ([`reader`]) and what
//! was seen.
//!
//! - [`chat::Messenger::send_text`] stores the message as `Queued` and returns;
//!   the outbox sends it when connected, retrying with backoff, also after a
//!   restart. States move `Queued → Sent` (a quorum of the recipient's swarm
//!   holds it) `→ Delivered → Read` (receipts; read receipts can be off).
//! - The receive loop long-polls the account's own swarm through onion paths,
//!   dedupes by hash and content id (nothing reaches the app twice, also across
//!   restarts), and handles every content kind: a stranger's text lands in
//!   [`chat::Messenger::requests`]; blocked senders are dropped and counted.
//! - Disappearing messages (after-send, after-read) are removed on both sides,
//!   and the swarm's copy expires with them.
//! - [`chat::Messenger::subscribe`] gives a bounded stream of [`chat::ChatEvent`]s.
//!
//! ```no_run
//! use std::time::Duration;
//! use sotto_client::chat::{HomeOptions, MessageState, Messenger};
//! use sotto_client::{AccountId, ClientConfig};
//!
//! # async fn demo(config: ClientConfig, friend: AccountId) -> Result<(), Box<dyn std::error::Error>> {
//! let opts = HomeOptions { home: "/home/ann/.sotto".into(), passphrase: None };
//! let (me, phrase) = Messenger::create(&opts, Some("Ann"))?;
//! println!("write this down: {}", phrase.as_str());
//! me.add_contact(friend, Some("Bo"))?;
//! let mut events = me.subscribe();
//! me.connect(config).await?;
//! let id = me.send_text(&me.resolve("bo")?, "hello").await?;
//! me.wait_state(&id, MessageState::Sent, Duration::from_secs(30)).await?;
//! while let Ok(event) = events.recv().await {
//!     println!("{event:?}");
//! }
//! me.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! `examples/embed.rs` is a whole program doing this against a live network.
//!
//! ## Attachments
//!
//! [`attach`] moves a file's chunks (format: `sotto_protocol::attachment`)
//! through a [`attach::ChunkStore`]: [`attach::upload()`] resumes from a journal
//! and stores no chunk twice, [`attach::download()`] verifies every chunk and only
//! then saves the file (0600, sanitised name) in a folder. The network store
//! and the messenger's use of it are not built yet (nodes have no chunk
//! namespace).

pub mod account;
pub mod attach;
pub mod chat;
pub mod clock;
pub mod directory;
pub mod error;
pub mod group;
pub mod net;
pub mod paths;
pub mod phrase;
pub mod prekeys;
pub mod reader;
pub mod request;
pub mod verification;

pub use account::Account;
pub use error::{Error, Result};
pub use paths::PathStatus;
pub use phrase::RecoveryPhrase;
pub use reader::ReadCursors;
pub use request::{Client, ClientConfig, ClientError};
pub use sotto_protocol::{AccountId, AccountKey};
pub use verification::{PublicCode, VerificationCode, public_code, verification_code};
