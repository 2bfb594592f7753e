//! The owner's writes besides stores: deletes and expiry changes, both kept
//! and replicated by the nodes signature and all.

use serde::{Deserialize, Serialize};

use super::{check_hashes, namespace_known, sign, unsigned_auth};
use crate::codec;
use crate::constants::{AUTH_CLOCK_WINDOW_MS, MAX_TTL_MS};
use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::keys::AccountKey;
use crate::namespace::Namespace;
use crate::rpc::auth::{OwnerAuth, OwnerOp, OwnerSigned};
use crate::rpc::chunk::refuse_chunks;
use crate::rpc::message::MessageHash;
use crate::time::UnixMillis;

/// Delete messages by hash (owner only). Nodes keep a tombstone for each hash
/// ([`DeleteRequest::tombstone_expiry`]) so replication cannot bring it back, and
/// keep this signed request with it: it is what they replicate, so every member
/// can check that the owner asked (DESIGN §6).
///
/// A delete reaches members long after it was signed (after a partition, or by
/// anti-entropy), so replicas check its signature but not its age
/// ([`OwnerSigned::authorize_replicated`]). A replay of it is harmless: deleting
/// what is deleted changes nothing, and the state of a hash never goes back from
/// deleted to present.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRequest {
    /// The owner's account.
    pub account: AccountId,
    /// The namespace.
    pub namespace: Namespace,
    /// 1 to [`MAX_HASHES_PER_REQUEST`](crate::constants::MAX_HASHES_PER_REQUEST) hashes.
    pub hashes: Vec<MessageHash>,
    /// The owner's signature.
    pub auth: OwnerAuth,
}

/// Set messages' expiry to `expiry` where that is earlier than their current
/// expiry (owner only; an expiry is never extended, see
/// [`ExpireRequest::apply_to`]). Used by after-read disappearing messages
/// (DESIGN §8).
///
/// Nodes keep the earliest such request for each message and replicate it as
/// it is, signature and all, so that no node can shorten a message's life
/// without the owner. Like a delete, it is checked on replicas for its signature
/// but not its age, and a replay is harmless: an expiry only moves earlier, and
/// one at or before a message's timestamp is refused, so an old request cannot
/// cut short a message stored after it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpireRequest {
    /// The owner's account.
    pub account: AccountId,
    /// The namespace.
    pub namespace: Namespace,
    /// 1 to [`MAX_HASHES_PER_REQUEST`](crate::constants::MAX_HASHES_PER_REQUEST) hashes.
    pub hashes: Vec<MessageHash>,
    /// The new expiry (Unix ms).
    pub expiry: UnixMillis,
    /// The owner's signature.
    pub auth: OwnerAuth,
}

impl DeleteRequest {
    /// A delete of `hashes` in the key's own account on `network`, signed at `now`.
    pub fn signed(
        key: &AccountKey,
        network: &str,
        namespace: Namespace,
        hashes: Vec<MessageHash>,
        now: UnixMillis,
    ) -> Result<Self> {
        let mut req = Self {
            account: key.account_id(),
            namespace,
            hashes,
            auth: unsigned_auth(now),
        };
        req.auth = sign(&req, key, network, now)?;
        Ok(req)
    }

    /// Until when a node keeps the tombstone this delete leaves for a message
    /// whose expiry it knows (`message_expiry`), or does not (`None`): the
    /// message's expiry, after which nothing can bring it back anyway; without
    /// one, the latest any message this delete can be about may live. The owner
    /// signed at `auth.timestamp` about a message that existed then, so dated at
    /// most [`AUTH_CLOCK_WINDOW_MS`] later, which lives at most [`MAX_TTL_MS`]
    /// after that. Never unbounded, whatever the request says.
    ///
    /// When that time has passed, the delete has nothing left to do: a node keeps
    /// no tombstone for it, and leaves alone a message of the same hash it holds
    /// (stored again later).
    pub fn tombstone_expiry(&self, message_expiry: Option<UnixMillis>) -> UnixMillis {
        let bound = self
            .auth
            .timestamp
            .saturating_add(AUTH_CLOCK_WINDOW_MS)
            .saturating_add(MAX_TTL_MS);
        message_expiry.map_or(bound, |e| e.min(bound))
    }

    /// Checks the fields against the protocol's limits, and that a signature is
    /// there where one is needed. No cryptography.
    pub fn validate(&self) -> Result<()> {
        namespace_known(self.namespace)?;
        refuse_chunks(self.namespace, "delete")?;
        check_hashes(&self.hashes)
    }
}

impl OwnerSigned for DeleteRequest {
    const OP: OwnerOp = OwnerOp::Delete;
    fn account(&self) -> &AccountId {
        &self.account
    }
    fn namespace(&self) -> Namespace {
        self.namespace
    }
    fn auth(&self) -> Option<&OwnerAuth> {
        Some(&self.auth)
    }
    fn needs_owner(&self) -> Result<bool> {
        Ok(true)
    }
    /// `(hashes)`.
    fn signed_params(&self) -> Result<Vec<u8>> {
        codec::encode("delete parameters", &self.hashes)
    }
}

impl ExpireRequest {
    /// An expiry change of `hashes` in the key's own account on `network`,
    /// signed at `now`.
    pub fn signed(
        key: &AccountKey,
        network: &str,
        namespace: Namespace,
        hashes: Vec<MessageHash>,
        expiry: UnixMillis,
        now: UnixMillis,
    ) -> Result<Self> {
        let mut req = Self {
            account: key.account_id(),
            namespace,
            hashes,
            expiry,
            auth: unsigned_auth(now),
        };
        req.auth = sign(&req, key, network, now)?;
        Ok(req)
    }

    /// The expiry a message first accepted at `timestamp`, now expiring at
    /// `current`, gets: the earlier of `current` and this request's. An owner
    /// shortens a message's life; nobody extends it. Refused if this request's
    /// expiry is at or before the message's timestamp: the owner cannot have
    /// meant a message that did not exist yet, so that is a replay of an old
    /// request against a message stored again since.
    pub fn apply_to(&self, timestamp: UnixMillis, current: UnixMillis) -> Result<UnixMillis> {
        if self.expiry <= timestamp {
            return Err(Error::OutOfRange {
                what: "expiry change",
                reason: format!(
                    "new expiry {} is not after the message's timestamp {timestamp}",
                    self.expiry
                ),
            });
        }
        Ok(self.expiry.min(current))
    }

    /// Checks the fields against the protocol's limits, and that a signature is
    /// there where one is needed. No cryptography.
    pub fn validate(&self) -> Result<()> {
        namespace_known(self.namespace)?;
        refuse_chunks(self.namespace, "expiry change")?;
        check_hashes(&self.hashes)
    }
}

impl OwnerSigned for ExpireRequest {
    const OP: OwnerOp = OwnerOp::Expire;
    fn account(&self) -> &AccountId {
        &self.account
    }
    fn namespace(&self) -> Namespace {
        self.namespace
    }
    fn auth(&self) -> Option<&OwnerAuth> {
        Some(&self.auth)
    }
    fn needs_owner(&self) -> Result<bool> {
        Ok(true)
    }
    /// `(hashes, expiry)`.
    fn signed_params(&self) -> Result<Vec<u8>> {
        codec::encode("expire parameters", &(&self.hashes, self.expiry))
    }
}
