//! Node-to-node replication: pushes after a store, delete or expiry change, and
//! anti-entropy rounds that make every member of a swarm converge on the same
//! messages, deletes and expiry changes (DESIGN §6). Accepted only from
//! authenticated nodes of the directory, never from clients.
//!
//! ## Nothing a member says is taken on its word
//!
//! Members are authenticated, but one may be dishonest, so everything that needs
//! the owner carries the owner's signature: a message in an owner-only namespace
//! its store's [`crate::rpc::StoreProof`], and deletes and expiry changes travel
//! as the owner's signed [`DeleteRequest`]s and [`ExpireRequest`]s. A node checks
//! a message with [`NodeRequest::decode`] (bounds, hash, and times against its
//! clock) and then [`NodeRequest::authorize`] (the signatures) before it keeps
//! anything.
//!
//! ## An anti-entropy round between nodes A and B
//!
//! 1. A sends [`NodeRequest::Digest`]: for each account both should hold, a digest
//!    of what A holds ([`crate::rpc::account_digest`] over its
//!    [`crate::rpc::DigestItem`]s).
//! 2. B answers [`NodeResponse::DigestDiff`]: the accounts whose digest or count
//!    differs from its own (an account B holds nothing for has the digest of the
//!    empty set).
//! 3. For each such account A pages through B's items with [`NodeRequest::List`]
//!    and runs [`crate::rpc::reconcile`] both ways on each hash: what A must fetch
//!    ([`NodeRequest::Fetch`], answered with messages and the owner's signed
//!    deletes and expiry changes) and what B lacks (A pushes it with
//!    [`NodeRequest::Replicate`]). A caps how many pages it asks for, since B
//!    decides whether `more` follow.
//!
//! The merge rule and why it converges are in [`crate::rpc::digest`].

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::constants::{
    MAX_DIGEST_ENTRIES, MAX_LISTING_PAGE, MAX_NODE_REQUEST_LEN, MAX_NODE_RESPONSE_LEN,
    MAX_REPLICATION_BATCH,
};
use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::rpc::auth::{AuthError, OwnerSigned};
use crate::rpc::check_count;
use crate::rpc::digest::{AccountDigest, DigestItem};
use crate::rpc::error::RpcError;
use crate::rpc::message::{MessageHash, StoredMessage};
use crate::rpc::receipt::StorageReceipt;
use crate::rpc::request::{DeleteRequest, ExpireRequest};
use crate::time::UnixMillis;

/// A request from one node to another. Variants are encoded by index: only append.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeRequest {
    /// Keep these (a push after a store, delete or expiry change, or the push
    /// side of an anti-entropy round). At most [`MAX_REPLICATION_BATCH`] of each
    /// kind.
    Replicate {
        /// Messages, with their owner proofs where the namespace needs them.
        messages: Vec<StoredMessage>,
        /// The owner's signed deletes.
        deletes: Vec<DeleteRequest>,
        /// The owner's signed expiry changes.
        expiries: Vec<ExpireRequest>,
    },
    /// Compare digests: the answer names the accounts that differ.
    Digest {
        /// At most [`MAX_DIGEST_ENTRIES`], in strictly increasing account order.
        digests: Vec<AccountDigest>,
    },
    /// What do you hold for this account (messages and tombstones, by hash)?
    List {
        /// The account.
        account: AccountId,
        /// Start after this hash (`None`: from the start).
        after: Option<MessageHash>,
        /// Most items, 1 to [`MAX_LISTING_PAGE`].
        limit: u16,
    },
    /// Send me what you hold for these hashes: the message, the owner's signed
    /// delete if it is deleted, and the owner's earliest signed expiry change.
    Fetch {
        /// 1 to [`MAX_REPLICATION_BATCH`] hashes.
        hashes: Vec<(AccountId, MessageHash)>,
    },
}

/// A node's answer to a [`NodeRequest`]. Variants are encoded by index: only append.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeResponse {
    /// Answer to `Replicate`, message by message: `held[i]` says whether this
    /// node now holds the request's `messages[i]` (it stored it, or already
    /// had it). A message it did not keep (not its swarm by its view, over a
    /// quota, deleted, expired) is `false`: only what a node holds counts
    /// toward a store's quorum or lets a hand-off drop its copy. The deletes
    /// and expiry changes of the batch were applied when the answer is `Ack`.
    Ack {
        /// One entry per message of the request, in its order.
        held: Vec<bool>,
        /// The node's [`StorageReceipt`] for each message it holds, in the
        /// order of the `true` entries of `held` (one per entry; a node that
        /// sends fewer gets no credit for the rest). The pushing member hands
        /// them to the client, which counts a store only with a quorum of
        /// them.
        receipts: Vec<StorageReceipt>,
    },
    /// Answer to `Digest`.
    DigestDiff {
        /// Accounts whose digests differ, in strictly increasing order.
        differing: Vec<AccountId>,
    },
    /// Answer to `List`.
    Listing {
        /// At most [`MAX_LISTING_PAGE`] items in strictly increasing hash order.
        items: Vec<DigestItem>,
        /// Whether more items follow (ask again after the last hash). Never set
        /// on an empty page.
        more: bool,
    },
    /// Answer to `Fetch`; hashes the node no longer holds are left out. The
    /// same shape as [`NodeRequest::Replicate`], checked the same way.
    Messages {
        /// Messages, with their owner proofs where the namespace needs them.
        messages: Vec<StoredMessage>,
        /// The signed deletes behind the tombstones of requested hashes.
        deletes: Vec<DeleteRequest>,
        /// The signed expiry changes of requested messages.
        expiries: Vec<ExpireRequest>,
    },
    /// The request failed.
    Error(RpcError),
}

fn check_increasing<T, K: Ord>(
    what: &'static str,
    items: &[T],
    key: impl Fn(&T) -> K,
) -> Result<()> {
    let ordered = items.windows(2).all(|w| match w {
        [a, b] => key(a) < key(b),
        _ => true,
    });
    if !ordered {
        return Err(Error::OutOfRange {
            what,
            reason: "not in strictly increasing order (sorted, no duplicates)".into(),
        });
    }
    Ok(())
}

/// The bounds of a batch, and every message's shape and times against `now`.
fn check_batch(
    messages: &[StoredMessage],
    deletes: &[DeleteRequest],
    expiries: &[ExpireRequest],
    now: Option<UnixMillis>,
) -> Result<()> {
    let max = MAX_REPLICATION_BATCH;
    check_count("replicated messages", messages.len(), 0, max)?;
    check_count("replicated deletes", deletes.len(), 0, max)?;
    check_count("replicated expiry changes", expiries.len(), 0, max)?;
    for m in messages {
        match now {
            Some(now) => m.validate_at(now)?,
            None => m.validate()?,
        }
    }
    deletes.iter().try_for_each(DeleteRequest::validate)?;
    expiries.iter().try_for_each(ExpireRequest::validate)
}

/// Every signature in a batch: each message's store proof, and each delete and
/// expiry change as a replicated owner request (not from the future; any age).
fn authorize_batch(
    messages: &[StoredMessage],
    deletes: &[DeleteRequest],
    expiries: &[ExpireRequest],
    network: &str,
    now: UnixMillis,
) -> std::result::Result<(), AuthError> {
    for m in messages {
        m.verify_owner(network)?;
    }
    for d in deletes {
        d.authorize_replicated(network, now)?;
    }
    for e in expiries {
        e.authorize_replicated(network, now)?;
    }
    Ok(())
}

impl NodeRequest {
    /// Decodes a node request, refusing input over [`MAX_NODE_REQUEST_LEN`] before
    /// reading it, then checks it against the receiver's clock `now`
    /// ([`NodeRequest::validate_at`]). Signatures are checked by
    /// [`NodeRequest::authorize`].
    pub fn decode(bytes: &[u8], now: UnixMillis) -> Result<Self> {
        let req: Self = codec::decode("node request", bytes, MAX_NODE_REQUEST_LEN)?;
        req.validate_at(now)?;
        Ok(req)
    }

    /// Encodes a node request after validating it.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.validate()?;
        codec::encode_bounded("node request", self, MAX_NODE_REQUEST_LEN)
    }

    /// Checks counts, order and every replicated message and signed request,
    /// with no clock.
    pub fn validate(&self) -> Result<()> {
        self.check(None)
    }

    /// [`NodeRequest::validate`], and every replicated message's times against
    /// the receiver's clock `now` ([`StoredMessage::validate_at`]).
    pub fn validate_at(&self, now: UnixMillis) -> Result<()> {
        self.check(Some(now))
    }

    fn check(&self, now: Option<UnixMillis>) -> Result<()> {
        match self {
            NodeRequest::Replicate {
                messages,
                deletes,
                expiries,
            } => check_batch(messages, deletes, expiries, now),
            NodeRequest::Digest { digests } => {
                check_count("digests", digests.len(), 0, MAX_DIGEST_ENTRIES)?;
                check_increasing("digests", digests, |d| d.account)
            }
            NodeRequest::List { limit, .. } => {
                check_count("listing limit", usize::from(*limit), 1, MAX_LISTING_PAGE)
            }
            NodeRequest::Fetch { hashes } => {
                check_count("fetched hashes", hashes.len(), 1, MAX_REPLICATION_BATCH)
            }
        }
    }

    /// Checks every owner signature the request carries, for the node's `network`
    /// at its clock `now`: each replicated message's store proof
    /// ([`StoredMessage::verify_owner`]) and each delete and expiry change
    /// ([`OwnerSigned::authorize_replicated`]). One Ed25519 verification per
    /// signature; run it after [`NodeRequest::decode`]. A batch with one bad
    /// signature comes from a member that is broken or lying: refuse all of it.
    pub fn authorize(&self, network: &str, now: UnixMillis) -> std::result::Result<(), AuthError> {
        match self {
            NodeRequest::Replicate {
                messages,
                deletes,
                expiries,
            } => authorize_batch(messages, deletes, expiries, network, now),
            NodeRequest::Digest { .. } | NodeRequest::List { .. } | NodeRequest::Fetch { .. } => {
                Ok(())
            }
        }
    }

    /// A short name for metrics labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            NodeRequest::Replicate { .. } => "replicate",
            NodeRequest::Digest { .. } => "digest",
            NodeRequest::List { .. } => "list",
            NodeRequest::Fetch { .. } => "fetch",
        }
    }
}

impl NodeResponse {
    /// Whether this answer to a `Replicate` says the node holds the request's
    /// message at `index`. Anything but an `Ack` holds nothing; an `Ack`
    /// shorter than the request (a broken peer) holds nothing past its end.
    pub fn holds(&self, index: usize) -> bool {
        matches!(self, NodeResponse::Ack { held, .. } if held.get(index) == Some(&true))
    }

    /// The receipt this answer to a `Replicate` gives for the request's
    /// message at `index`, if it holds it and sent one. Not verified here.
    pub fn receipt(&self, index: usize) -> Option<&StorageReceipt> {
        let NodeResponse::Ack { held, receipts } = self else {
            return None;
        };
        if held.get(index) != Some(&true) {
            return None;
        }
        let position = held.iter().take(index).filter(|h| **h).count();
        receipts.get(position)
    }

    /// Whether this is an `Ack`: the batch's deletes and expiry changes were
    /// applied.
    pub fn is_ack(&self) -> bool {
        matches!(self, NodeResponse::Ack { .. })
    }

    /// Decodes a node response, refusing input over [`MAX_NODE_RESPONSE_LEN`]
    /// before reading it, then checks it against the receiver's clock `now`
    /// ([`NodeResponse::validate_at`]). Signatures are checked by
    /// [`NodeResponse::authorize`].
    pub fn decode(bytes: &[u8], now: UnixMillis) -> Result<Self> {
        let resp: Self = codec::decode("node response", bytes, MAX_NODE_RESPONSE_LEN)?;
        resp.validate_at(now)?;
        Ok(resp)
    }

    /// Encodes a node response after validating it.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.validate()?;
        codec::encode_bounded("node response", self, MAX_NODE_RESPONSE_LEN)
    }

    /// Checks counts, order, every message and signed request, and that an empty
    /// listing does not say more follow; no clock.
    pub fn validate(&self) -> Result<()> {
        self.check(None)
    }

    /// [`NodeResponse::validate`], and every message's times against the
    /// receiver's clock `now`.
    pub fn validate_at(&self, now: UnixMillis) -> Result<()> {
        self.check(Some(now))
    }

    fn check(&self, now: Option<UnixMillis>) -> Result<()> {
        match self {
            NodeResponse::Ack { held, receipts } => {
                check_count(
                    "acknowledged messages",
                    held.len(),
                    0,
                    MAX_REPLICATION_BATCH,
                )?;
                let holds = held.iter().filter(|h| **h).count();
                check_count("storage receipts", receipts.len(), 0, holds)
            }
            NodeResponse::DigestDiff { differing } => {
                check_count("differing accounts", differing.len(), 0, MAX_DIGEST_ENTRIES)?;
                check_increasing("differing accounts", differing, |a| *a)
            }
            NodeResponse::Listing { items, more } => {
                check_count("listing items", items.len(), 0, MAX_LISTING_PAGE)?;
                if *more && items.is_empty() {
                    return Err(Error::OutOfRange {
                        what: "listing items",
                        reason: "an empty page says more follow, which would never end".into(),
                    });
                }
                for i in items {
                    i.namespace.access()?;
                }
                check_increasing("listing items", items, |i| i.hash)
            }
            NodeResponse::Messages {
                messages,
                deletes,
                expiries,
            } => check_batch(messages, deletes, expiries, now),
            NodeResponse::Error(e) => e.validate(),
        }
    }

    /// Checks every owner signature in a `Messages` answer, as
    /// [`NodeRequest::authorize`] does for a push.
    pub fn authorize(&self, network: &str, now: UnixMillis) -> std::result::Result<(), AuthError> {
        match self {
            NodeResponse::Messages {
                messages,
                deletes,
                expiries,
            } => authorize_batch(messages, deletes, expiries, network, now),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
