//! Groups: many accounts in one conversation, kept by the Messaging Layer
//! Security protocol (RFC 9420) through `openmls`.
//!
//! Every message in a group has forward secrecy (each sender's ratchet deletes
//! its keys as it goes, and past epochs' secrets are deleted at once), and the
//! group heals after a removal or a stolen device: a commit brings fresh key
//! material that the removed member, or a thief holding an older copy of a
//! member's state, cannot derive.
//!
//! - [`identity`]: the MLS credential and signing key of an account, and the
//!   check that binds a member's leaf to an account.
//! - [`meta`]: the group's name and admins, in the group context.
//! - [`provider`]: openmls' crypto and an exportable key-value store.
//! - [`engine`]: [`Groups`], one account's groups and the operations on them.
//! - [`receive`]: handling what the group's swarm holds, and the rule that
//!   picks one commit per epoch when several admins commit at once.
//! - [`publish`]: key packages in the account's `Public` namespace.
//! - [`net`]: storing and reading an epoch's messages in its account's swarm,
//!   sealed again by [`wrap`] so nodes cannot link the epochs of a group.
//!
//! The rules (who may commit, how concurrent commits resolve, limits) are in
//! docs/ARCHITECTURE.md, *Groups*.

pub mod engine;
pub mod identity;
pub mod large;
pub mod meta;
pub mod net;
mod persist;
pub mod provider;
pub mod publish;
pub mod receive;
#[cfg(test)]
mod tests;
pub mod wrap;

use openmls::prelude::Ciphersuite;
use sotto_protocol::AccountId;

pub use engine::{GroupInfo, Groups};
pub use identity::MemberIdentity;
pub use meta::GroupMeta;

/// The ciphersuite of every Sotto group: `MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519`
/// (0x0003, RFC 9420 §17.1). openmls' post-quantum suites are behind a draft
/// feature (draft-ietf-mls-pq-ciphersuites) whose code points may still
/// change, so groups are not post-quantum yet; docs/ARCHITECTURE.md says why.
pub const CIPHERSUITE: Ciphersuite =
    Ciphersuite::MLS_128_DHKEMX25519_CHACHA20POLY1305_SHA256_Ed25519;
/// Most members a group has (Signal's limit too).
pub const MAX_MEMBERS: usize = 1_000;
/// Most groups one account holds: each is state to keep and an account to
/// read every round, and a contact's invitations are joined without asking.
pub const MAX_GROUPS: usize = 500;
/// How long after the earliest commit of an epoch was made a member waits for
/// others before it picks the winner (the ordering rule in [`receive`]).
pub const SETTLE_MS: u64 = 3_000;
/// Largest group message accepted (a Welcome to a full group carries its whole
/// ratchet tree, about 300 bytes a member).
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// Messages for later epochs kept per group until the commit that starts them
/// is applied (they cannot be authenticated before, so they are bounded in
/// number and in bytes: [`MAX_FUTURE_BYTES`]).
pub const MAX_FUTURE: usize = 1_024;
/// Bytes of messages for later epochs kept per group.
pub const MAX_FUTURE_BYTES: usize = 8 << 20;
/// Candidate commits kept per epoch (more are refused, counted).
pub const MAX_CANDIDATES: usize = 64;
/// The MLS exporter label of an epoch's *epoch account* (RFC 9420 §8.5):
/// 16 bytes every member derives alike, used as the entropy of an ordinary
/// Sotto account ([`sotto_protocol::AccountKey::from_entropy`]). That account's
/// swarm holds the epoch's messages and the commit that ends it, and storing
/// or reading there takes its key: members have it, a removed member cannot
/// derive the next one, and nodes see one more account, not the group.
pub const EPOCH_ACCOUNT_LABEL: &str = "sotto group epoch account v1";

/// A group's id: 32 random bytes, also the MLS group id.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, serde::Serialize, serde::Deserialize,
)]
pub struct GroupId(pub [u8; 32]);

impl GroupId {
    /// The id as lowercase hex.
    pub fn to_hex(&self) -> String {
        hex_lower(&self.0)
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a group operation or a group message failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GroupError {
    /// No group with this id is held.
    #[error("no such group")]
    UnknownGroup,
    /// The operation needs an admin.
    #[error("only an admin can do that")]
    NotAdmin,
    /// This account's own commit is waiting for the epoch to settle.
    #[error("a change to this group is still settling; try again in a few seconds")]
    CommitPending,
    /// The group would have more than [`MAX_MEMBERS`].
    #[error("a group has at most 1,000 members")]
    TooManyMembers,
    /// A member's credential does not bind its leaf to an account.
    #[error("bad member credential: {0}")]
    BadCredential(&'static str),
    /// Something a member sent, or asked for, breaks a group rule.
    #[error("invalid: {0}")]
    Invalid(&'static str),
    /// The message is larger than [`MAX_MESSAGE_BYTES`].
    #[error("message too large")]
    TooLarge,
    /// The bytes are not an MLS message of this group.
    #[error("malformed group message")]
    Malformed,
    /// openmls refused the operation or the message.
    #[error("mls: {0}")]
    Mls(String),
    /// The key-value store failed.
    #[error("group store: {0}")]
    Storage(String),
}

impl GroupError {
    pub(crate) fn mls(e: impl std::fmt::Display) -> Self {
        Self::Mls(e.to_string())
    }
}

/// What the caller must send for a group operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    /// Store in the group's swarm (a commit, a proposal or a message).
    Group(Vec<u8>),
    /// Send to each account's inbox (a Welcome, inside an envelope v2).
    Welcome {
        /// The accounts the Welcome adds.
        to: Vec<AccountId>,
        /// The MLS Welcome message.
        bytes: Vec<u8>,
    },
}

/// What handling group messages produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GroupEvent {
    /// A member's message.
    Message {
        /// The group.
        group: GroupId,
        /// The member that sent it (its credential was checked when it joined).
        sender: AccountId,
        /// When the sender says it sent it (unix ms).
        sent_at: u64,
        /// The application content.
        body: Vec<u8>,
    },
    /// A commit was applied: the group is at a new epoch.
    Changed {
        /// The group.
        group: GroupId,
        /// The new epoch.
        epoch: u64,
        /// Accounts added by the commit.
        added: Vec<AccountId>,
        /// Accounts removed by the commit.
        removed: Vec<AccountId>,
        /// The admin that committed.
        by: AccountId,
    },
    /// This account was removed (or its leave was committed); the group's state is gone.
    Removed {
        /// The group.
        group: GroupId,
    },
    /// A member asked to leave; an admin removes it.
    LeaveRequested {
        /// The group.
        group: GroupId,
        /// The member leaving.
        member: AccountId,
    },
    /// Something must be sent (a Welcome once the commit that adds won, or
    /// this account's operation made again after another admin's commit won).
    Send(Outgoing),
}
