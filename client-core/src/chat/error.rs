//! What a chat operation can end in, worded for the person using the app.

use std::path::PathBuf;

use sotto_protocol::AccountId;

/// Why a chat operation failed. Every message is a sentence to show a person.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChatError {
    /// The home holds no account yet.
    #[error("no account in {}: create one (sotto init) or restore one (sotto restore)", home.display())]
    NoAccount {
        /// The home directory.
        home: PathBuf,
    },
    /// The home already holds an account.
    #[error("{} already holds an account: use another home directory, or open that one", home.display())]
    AccountExists {
        /// The home directory.
        home: PathBuf,
    },
    /// The passphrase does not unlock the store (or one is missing).
    #[error("the passphrase is wrong, or this home needs one: the store stays closed")]
    WrongPassphrase,
    /// Another process has the home open.
    #[error("{} is in use by another sotto process: close it first", home.display())]
    Locked {
        /// The home directory.
        home: PathBuf,
    },
    /// The recovery phrase is not valid.
    #[error("the recovery phrase is not valid: {0}")]
    InvalidPhrase(crate::Error),
    /// No contact matches.
    #[error("no contact or account id matches {0:?}")]
    UnknownContact(String),
    /// No group matches.
    #[error("no group matches {0:?} (its name, or at least 8 hex digits of its id)")]
    UnknownGroup(String),
    /// More than one contact matches.
    #[error("{0:?} matches more than one contact: use the account id")]
    Ambiguous(String),
    /// No such message, or not one this operation applies to.
    #[error("no such message (it may have been deleted or may not be yours)")]
    UnknownMessage,
    /// The account is blocked.
    #[error("{} is blocked: unblock them first", .0.to_text())]
    Blocked(AccountId),
    /// The operation needs the network.
    #[error("not connected to the network: connect first")]
    NotConnected,
    /// `connect` was called twice.
    #[error("already connected to the network")]
    AlreadyConnected,
    /// A message did not reach the state asked for in time.
    #[error("the message is not sent yet ({reason}); it stays queued and will be retried")]
    NotSent {
        /// The last send error, for a person.
        reason: String,
    },
    /// A text too long for one envelope.
    #[error("the message is too long: {len} bytes, at most about {max} fit in one message")]
    TooLong {
        /// Its encoded length.
        len: usize,
        /// The most that fits.
        max: usize,
    },
    /// The text or value is not allowed.
    #[error("{0}")]
    Invalid(String),
    /// A display name or nickname breaks the rules.
    #[error("invalid name: {0}")]
    InvalidName(String),
    /// A message could not be sealed for its recipient yet (messages v2: no
    /// session and no published prekeys to start one, or a session failed).
    #[error("{0}")]
    Session(String),
    /// The local store failed.
    #[error("the local store failed: {0}")]
    Store(String),
    /// The network failed.
    #[error("network: {0}")]
    Network(String),
    /// The bootstrap nodes are on another network than this client.
    #[error("{0}")]
    WrongNetwork(crate::directory::WrongNetwork),
    /// Sending or fetching an attachment failed.
    #[error("attachment: {0}")]
    Attach(#[from] crate::attach::AttachError),
}

impl From<sled::Error> for ChatError {
    fn from(e: sled::Error) -> Self {
        ChatError::Store(e.to_string())
    }
}

impl From<sled::transaction::TransactionError<ChatError>> for ChatError {
    fn from(e: sled::transaction::TransactionError<ChatError>) -> Self {
        match e {
            sled::transaction::TransactionError::Abort(e) => e,
            sled::transaction::TransactionError::Storage(e) => e.into(),
        }
    }
}

impl From<crate::ClientError> for ChatError {
    fn from(e: crate::ClientError) -> Self {
        match e {
            crate::ClientError::WrongNetwork(w) => ChatError::WrongNetwork(w),
            other => ChatError::Network(other.to_string()),
        }
    }
}
