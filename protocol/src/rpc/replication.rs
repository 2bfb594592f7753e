//! Node-to-node replication: pushes after a store, and anti-entropy rounds that
//! make every member of a swarm converge on the same messages, deletes and expiry
//! changes (DESIGN §6). Accepted only from authenticated nodes of the directory,
//! never from clients.
//!
//! ## An anti-entropy round between nodes A and B
//!
//! 1. A sends [`NodeRequest::Digest`]: for each account both should hold, a digest
//!    of what A holds ([`account_digest`] over its [`DigestItem`]s).
//! 2. B answers [`NodeResponse::DigestDiff`]: the accounts whose digest or count
//!    differs from its own (an account B holds nothing for has the digest of the
//!    empty set).
//! 3. For each such account A pages through B's items with [`NodeRequest::List`]
//!    and runs [`reconcile`] both ways on each hash: what A must do (fetch with
//!    [`NodeRequest::Fetch`], delete, shorten) and what B must do (A pushes it with
//!    [`NodeRequest::Replicate`]).
//!
//! The state of one hash only moves one way: present → deleted, and expiry only
//! down. Merging two states takes "deleted if either is" and the earlier expiry,
//! which is commutative, associative and idempotent, so members converge whatever
//! order rounds run in, and after convergence every digest agrees.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::constants::{
    HASH_LEN, MAX_DIGEST_ENTRIES, MAX_LISTING_PAGE, MAX_NODE_REQUEST_LEN, MAX_NODE_RESPONSE_LEN,
    MAX_REPLICATION_BATCH,
};
use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::namespace::Namespace;
use crate::rpc::message::{MessageHash, StoredMessage};
use crate::rpc::response::RpcError;
use crate::time::UnixMillis;

/// A deleted message: kept until the message's expiry so that replication from a
/// member that missed the delete cannot bring it back (DESIGN §5).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tombstone {
    /// The account.
    pub account: AccountId,
    /// The namespace.
    pub namespace: Namespace,
    /// The deleted message's hash.
    pub hash: MessageHash,
    /// When the tombstone may be dropped (the message's expiry).
    pub expiry: UnixMillis,
}

/// A message's expiry was shortened by its owner.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ExpiryUpdate {
    /// The account.
    pub account: AccountId,
    /// The namespace.
    pub namespace: Namespace,
    /// The message's hash.
    pub hash: MessageHash,
    /// The new, earlier expiry. A receiver keeps the earlier of this and its own.
    pub expiry: UnixMillis,
}

/// The digest of one account's items on the sending node.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AccountDigest {
    /// The account.
    pub account: AccountId,
    /// [`account_digest`] of its items.
    pub digest: [u8; HASH_LEN],
    /// How many items (messages and tombstones), saturating at `u32::MAX`.
    pub count: u32,
}

/// What a node holds for one hash of an account: enough to compare two nodes
/// without sending any data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DigestItem {
    /// The message's hash.
    pub hash: MessageHash,
    /// Its namespace.
    pub namespace: Namespace,
    /// Its expiry (for a tombstone: when the tombstone goes).
    pub expiry: UnixMillis,
    /// Whether this is a tombstone.
    pub deleted: bool,
}

/// blake3 `derive_key` context hashing one [`DigestItem`].
pub const DIGEST_ITEM_CONTEXT: &str = "sotto digest item v1";
/// blake3 `derive_key` context of the final account digest.
pub const ACCOUNT_DIGEST_CONTEXT: &str = "sotto account digest v1";

impl DigestItem {
    /// The item of a stored message.
    pub fn of_message(m: &StoredMessage) -> Self {
        Self {
            hash: m.hash,
            namespace: m.namespace,
            expiry: m.expiry,
            deleted: false,
        }
    }

    /// The item of a tombstone.
    pub fn of_tombstone(t: &Tombstone) -> Self {
        Self {
            hash: t.hash,
            namespace: t.namespace,
            expiry: t.expiry,
            deleted: true,
        }
    }

    /// The item's own hash: `derive_key(DIGEST_ITEM_CONTEXT, hash ‖ namespace
    /// (u16 LE) ‖ expiry (u64 LE) ‖ deleted (u8))`.
    pub fn item_hash(&self) -> [u8; HASH_LEN] {
        let mut h = blake3::Hasher::new_derive_key(DIGEST_ITEM_CONTEXT);
        h.update(&self.hash.0);
        h.update(&self.namespace.code().to_le_bytes());
        h.update(&self.expiry.to_le_bytes());
        h.update(&[u8::from(self.deleted)]);
        *h.finalize().as_bytes()
    }
}

/// An account digest built one item at a time, which a node can also keep up to
/// date as it stores and deletes ([`DigestAccumulator::add`] /
/// [`DigestAccumulator::remove`]) instead of rescanning the account each round.
///
/// The digest is order-independent by construction: it is the sum, modulo
/// 2^256, of the items' hashes ([`DigestItem::item_hash`] read as little-endian
/// integers), finished by hashing the sum with the count. A sum was chosen over
/// sorting (which needs every item in memory at once, and cannot be updated in
/// place) and over XOR (under which an item added twice cancels out, and which is
/// linear over GF(2), so 256 chosen items can reach any digest). The digest only
/// tells two honest nodes that they differ; it is not a security boundary, since
/// an authenticated peer can always just lie about what it holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DigestAccumulator {
    sum: [u64; 4],
    count: u64,
}

impl DigestAccumulator {
    /// The accumulator of no items.
    pub fn new() -> Self {
        Self::default()
    }

    fn limbs(item: &DigestItem) -> [u64; 4] {
        let bytes = item.item_hash();
        let mut limbs = [0u64; 4];
        for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(8)) {
            let mut b = [0u8; 8];
            b.copy_from_slice(chunk);
            *limb = u64::from_le_bytes(b);
        }
        limbs
    }

    /// Adds an item.
    pub fn add(&mut self, item: &DigestItem) {
        let mut carry = false;
        for (s, x) in self.sum.iter_mut().zip(Self::limbs(item)) {
            let (a, c1) = s.overflowing_add(x);
            let (b, c2) = a.overflowing_add(u64::from(carry));
            *s = b;
            carry = c1 || c2;
        }
        self.count = self.count.wrapping_add(1);
    }

    /// Removes an item that was added before.
    pub fn remove(&mut self, item: &DigestItem) {
        let mut borrow = false;
        for (s, x) in self.sum.iter_mut().zip(Self::limbs(item)) {
            let (a, b1) = s.overflowing_sub(x);
            let (b, b2) = a.overflowing_sub(u64::from(borrow));
            *s = b;
            borrow = b1 || b2;
        }
        self.count = self.count.wrapping_sub(1);
    }

    /// How many items it holds.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The digest: `derive_key(ACCOUNT_DIGEST_CONTEXT, sum (32, LE) ‖ count (u64 LE))`.
    pub fn finish(&self) -> [u8; HASH_LEN] {
        let mut h = blake3::Hasher::new_derive_key(ACCOUNT_DIGEST_CONTEXT);
        for limb in &self.sum {
            h.update(&limb.to_le_bytes());
        }
        h.update(&self.count.to_le_bytes());
        *h.finalize().as_bytes()
    }

    /// The digest entry for `account`.
    pub fn to_account_digest(&self, account: AccountId) -> AccountDigest {
        AccountDigest {
            account,
            digest: self.finish(),
            count: u32::try_from(self.count).unwrap_or(u32::MAX),
        }
    }
}

/// The digest of one account's items, in any order (see [`DigestAccumulator`]).
pub fn account_digest(items: impl Iterator<Item = DigestItem>) -> [u8; HASH_LEN] {
    let mut acc = DigestAccumulator::new();
    for item in items {
        acc.add(&item);
    }
    acc.finish()
}

/// What a node must do about one hash, given what it holds (`local`) and what a
/// peer holds (`remote`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconcile {
    /// Nothing: the local state already includes the remote one.
    Nothing,
    /// Fetch the message from the peer (the local node has nothing for it).
    Fetch,
    /// Delete the message if held and keep a tombstone until `expiry`.
    Delete {
        /// The tombstone's expiry.
        expiry: UnixMillis,
    },
    /// Shorten the local expiry (of the message or the tombstone) to `expiry`.
    Shorten {
        /// The new expiry.
        expiry: UnixMillis,
    },
}

/// The merge rule of anti-entropy, from the local node's side: deleted wins over
/// present, the earlier expiry wins. Run it both ways to know what to pull and
/// what to push.
pub fn reconcile(local: Option<&DigestItem>, remote: &DigestItem) -> Reconcile {
    match local {
        None if remote.deleted => Reconcile::Delete {
            expiry: remote.expiry,
        },
        None => Reconcile::Fetch,
        Some(l) if remote.deleted && !l.deleted => Reconcile::Delete {
            expiry: l.expiry.min(remote.expiry),
        },
        // Both present, both deleted, or deleted here and present there: only
        // the expiry can move, and only down.
        Some(l) if remote.expiry < l.expiry => Reconcile::Shorten {
            expiry: remote.expiry,
        },
        Some(_) => Reconcile::Nothing,
    }
}

/// A request from one node to another. Variants are encoded by index: only append.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeRequest {
    /// Keep these (a push after a store, delete or expire, or the push side of
    /// an anti-entropy round). At most [`MAX_REPLICATION_BATCH`] of each kind.
    Replicate {
        /// Messages, each checked with [`StoredMessage::validate`].
        messages: Vec<StoredMessage>,
        /// Deletes.
        tombstones: Vec<Tombstone>,
        /// Expiry shortenings.
        expiry_updates: Vec<ExpiryUpdate>,
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
    /// Send me these messages (and tombstones, for hashes since deleted).
    Fetch {
        /// 1 to [`MAX_REPLICATION_BATCH`] hashes.
        hashes: Vec<(AccountId, MessageHash)>,
    },
}

/// A node's answer to a [`NodeRequest`]. Variants are encoded by index: only append.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeResponse {
    /// Answer to `Replicate`: how many messages were new.
    Ack {
        /// Messages stored that the node did not have.
        stored: u32,
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
        /// Whether more items follow (ask again after the last hash).
        more: bool,
    },
    /// Answer to `Fetch`; hashes the node no longer holds are left out.
    Messages {
        /// Messages, each checked with [`StoredMessage::validate`].
        messages: Vec<StoredMessage>,
        /// Tombstones of requested hashes that were deleted.
        tombstones: Vec<Tombstone>,
    },
    /// The request failed.
    Error(RpcError),
}

fn check_count(what: &'static str, len: usize, min: usize, max: usize) -> Result<()> {
    if len < min || len > max {
        return Err(Error::OutOfRange {
            what,
            reason: format!("{len} entries is not {min} to {max}"),
        });
    }
    Ok(())
}

fn check_increasing<T, K: Ord>(
    what: &'static str,
    items: &[T],
    key: impl Fn(&T) -> K,
) -> Result<()> {
    let ordered = items.windows(2).all(|w| match w {
        [a, b] => key(a).cmp(&key(b)) == Ordering::Less,
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

fn check_batch(messages: &[StoredMessage], tombstones: &[Tombstone]) -> Result<()> {
    check_count(
        "replicated messages",
        messages.len(),
        0,
        MAX_REPLICATION_BATCH,
    )?;
    check_count("tombstones", tombstones.len(), 0, MAX_REPLICATION_BATCH)?;
    for m in messages {
        m.validate()?;
    }
    for t in tombstones {
        t.namespace.access()?;
    }
    Ok(())
}

impl NodeRequest {
    /// Decodes a node request, refusing input over [`MAX_NODE_REQUEST_LEN`] before
    /// reading it, then validates it.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let req: Self = codec::decode("node request", bytes, MAX_NODE_REQUEST_LEN)?;
        req.validate()?;
        Ok(req)
    }

    /// Encodes a node request after validating it.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let bytes = codec::encode("node request", self)?;
        if bytes.len() > MAX_NODE_REQUEST_LEN {
            return Err(Error::TooLarge {
                what: "node request",
                len: bytes.len(),
                max: MAX_NODE_REQUEST_LEN,
            });
        }
        Ok(bytes)
    }

    /// Checks counts, order and every replicated message.
    pub fn validate(&self) -> Result<()> {
        match self {
            NodeRequest::Replicate {
                messages,
                tombstones,
                expiry_updates,
            } => {
                check_batch(messages, tombstones)?;
                check_count(
                    "expiry updates",
                    expiry_updates.len(),
                    0,
                    MAX_REPLICATION_BATCH,
                )?;
                for u in expiry_updates {
                    u.namespace.access()?;
                }
                Ok(())
            }
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
    /// Decodes a node response, refusing input over [`MAX_NODE_RESPONSE_LEN`]
    /// before reading it, then validates it.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let resp: Self = codec::decode("node response", bytes, MAX_NODE_RESPONSE_LEN)?;
        resp.validate()?;
        Ok(resp)
    }

    /// Encodes a node response after validating it.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let bytes = codec::encode("node response", self)?;
        if bytes.len() > MAX_NODE_RESPONSE_LEN {
            return Err(Error::TooLarge {
                what: "node response",
                len: bytes.len(),
                max: MAX_NODE_RESPONSE_LEN,
            });
        }
        Ok(bytes)
    }

    /// Checks counts, order and every message.
    pub fn validate(&self) -> Result<()> {
        match self {
            NodeResponse::Ack { .. } => Ok(()),
            NodeResponse::DigestDiff { differing } => {
                check_count("differing accounts", differing.len(), 0, MAX_DIGEST_ENTRIES)?;
                check_increasing("differing accounts", differing, |a| *a)
            }
            NodeResponse::Listing { items, .. } => {
                check_count("listing items", items.len(), 0, MAX_LISTING_PAGE)?;
                for i in items {
                    i.namespace.access()?;
                }
                check_increasing("listing items", items, |i| i.hash)
            }
            NodeResponse::Messages {
                messages,
                tombstones,
            } => check_batch(messages, tombstones),
            NodeResponse::Error(e) => e.validate(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::{MAX_MESSAGE_DATA, MAX_TTL_MS};
    use crate::keys::AccountKey;
    use crate::time::DAY_MS;

    const NOW: UnixMillis = 1_700_000_000_000;

    fn account(n: u8) -> AccountId {
        AccountKey::from_entropy([n; 16]).account_id()
    }

    fn item(h: u8, expiry: UnixMillis, deleted: bool) -> DigestItem {
        DigestItem {
            hash: MessageHash([h; 32]),
            namespace: Namespace::INBOX,
            expiry,
            deleted,
        }
    }

    #[test]
    fn digest_is_order_independent_and_sensitive() {
        let items = vec![item(1, 10, false), item(2, 20, true), item(3, 30, false)];
        let d = account_digest(items.iter().copied());
        assert_eq!(d, account_digest(items.iter().rev().copied()));
        let mut changed = items.clone();
        changed[1].deleted = false;
        assert_ne!(d, account_digest(changed.iter().copied()));
        let mut shorter = items.clone();
        shorter[0].expiry = 9;
        assert_ne!(d, account_digest(shorter.iter().copied()));
        // Duplicates do not cancel out (as they would under XOR).
        let twice = [item(1, 10, false), item(1, 10, false)];
        assert_ne!(
            account_digest(twice.iter().copied()),
            account_digest(std::iter::empty())
        );
        assert_ne!(
            account_digest(twice.iter().copied()),
            account_digest(std::iter::once(item(1, 10, false)))
        );
        // Incremental updates agree with a rescan.
        let mut acc = DigestAccumulator::new();
        for i in &items {
            acc.add(i);
        }
        acc.remove(&items[0]);
        acc.add(&shorter[0]);
        assert_eq!(acc.finish(), account_digest(shorter.iter().copied()));
        assert_eq!(acc.to_account_digest(account(1)).count, 3);
    }

    #[test]
    fn reconcile_converges() {
        let present = item(1, 100, false);
        let earlier = item(1, 50, false);
        let gone = item(1, 100, true);
        let gone_earlier = item(1, 40, true);
        assert_eq!(reconcile(None, &present), Reconcile::Fetch);
        assert_eq!(reconcile(None, &gone), Reconcile::Delete { expiry: 100 });
        assert_eq!(reconcile(Some(&present), &present), Reconcile::Nothing);
        assert_eq!(
            reconcile(Some(&present), &earlier),
            Reconcile::Shorten { expiry: 50 }
        );
        assert_eq!(reconcile(Some(&earlier), &present), Reconcile::Nothing);
        assert_eq!(
            reconcile(Some(&earlier), &gone),
            Reconcile::Delete { expiry: 50 }
        );
        assert_eq!(reconcile(Some(&gone), &present), Reconcile::Nothing);
        assert_eq!(
            reconcile(Some(&gone), &earlier),
            Reconcile::Shorten { expiry: 50 }
        );
        assert_eq!(
            reconcile(Some(&gone), &gone_earlier),
            Reconcile::Shorten { expiry: 40 }
        );

        // Applying the rule both ways leaves both sides with the same item.
        let apply = |local: Option<DigestItem>, remote: &DigestItem| match reconcile(
            local.as_ref(),
            remote,
        ) {
            Reconcile::Nothing => local,
            Reconcile::Fetch => Some(*remote),
            Reconcile::Delete { expiry } => Some(DigestItem {
                deleted: true,
                expiry,
                ..*remote
            }),
            Reconcile::Shorten { expiry } => local.map(|l| DigestItem { expiry, ..l }),
        };
        let states = [present, earlier, gone, gone_earlier];
        for a in states {
            for b in states {
                let a2 = apply(Some(a), &b).unwrap();
                let b2 = apply(Some(b), &a).unwrap();
                assert_eq!(a2, b2, "{a:?} / {b:?}");
            }
        }
    }

    #[test]
    fn replicate_checks_every_message() {
        let good = StoredMessage::new(account(1), Namespace::INBOX, vec![1], NOW, DAY_MS);
        let mut bad = good.clone();
        bad.hash = MessageHash([0; 32]);
        let req = |messages| NodeRequest::Replicate {
            messages,
            tombstones: vec![],
            expiry_updates: vec![],
        };
        let ok = req(vec![good.clone()]);
        assert_eq!(NodeRequest::decode(&ok.encode().unwrap()).unwrap(), ok);
        let bytes = codec::encode("t", &req(vec![good.clone(), bad])).unwrap();
        assert!(matches!(
            NodeRequest::decode(&bytes),
            Err(Error::OutOfRange {
                what: "stored message hash",
                ..
            })
        ));
        assert!(
            req(vec![good; MAX_REPLICATION_BATCH + 1])
                .validate()
                .is_err()
        );
    }

    #[test]
    fn a_full_batch_fits_the_node_limit() {
        let m = StoredMessage {
            account: account(1),
            namespace: Namespace::PUBLIC,
            data: vec![0xff; MAX_MESSAGE_DATA],
            hash: MessageHash([0; 32]),
            timestamp: u64::MAX - MAX_TTL_MS,
            expiry: u64::MAX,
        };
        let m = StoredMessage {
            hash: MessageHash::compute(&m.account, m.namespace, &m.data),
            ..m
        };
        let t = Tombstone {
            account: account(1),
            namespace: Namespace::PUBLIC,
            hash: MessageHash([0xff; 32]),
            expiry: u64::MAX,
        };
        let u = ExpiryUpdate {
            account: account(1),
            namespace: Namespace::PUBLIC,
            hash: MessageHash([0xff; 32]),
            expiry: u64::MAX,
        };
        let full = NodeRequest::Replicate {
            messages: vec![m.clone(); MAX_REPLICATION_BATCH],
            tombstones: vec![t.clone(); MAX_REPLICATION_BATCH],
            expiry_updates: vec![u; MAX_REPLICATION_BATCH],
        };
        let bytes = full.encode().unwrap();
        assert!(bytes.len() <= MAX_NODE_REQUEST_LEN);
        let fetched = NodeResponse::Messages {
            messages: vec![m; MAX_REPLICATION_BATCH],
            tombstones: vec![t; MAX_REPLICATION_BATCH],
        };
        assert!(fetched.encode().unwrap().len() <= MAX_NODE_RESPONSE_LEN);
        let listing = NodeResponse::Listing {
            items: (0..MAX_LISTING_PAGE)
                .map(|i| DigestItem {
                    hash: MessageHash(*blake3::hash(&i.to_le_bytes()).as_bytes()),
                    namespace: Namespace::PUBLIC,
                    expiry: u64::MAX,
                    deleted: true,
                })
                .collect(),
            more: true,
        };
        let listing = match listing {
            NodeResponse::Listing { mut items, more } => {
                items.sort_by_key(|i| i.hash);
                NodeResponse::Listing { items, more }
            }
            other => other,
        };
        assert!(listing.encode().unwrap().len() <= MAX_NODE_RESPONSE_LEN);
        assert!(NodeRequest::decode(&vec![0; MAX_NODE_REQUEST_LEN + 1]).is_err());
    }

    #[test]
    fn order_and_count_rules() {
        let d = |n| AccountDigest {
            account: account(n),
            digest: [n; 32],
            count: 1,
        };
        let mut digests = vec![d(1), d(2), d(3)];
        digests.sort_by_key(|x| x.account);
        NodeRequest::Digest {
            digests: digests.clone(),
        }
        .validate()
        .unwrap();
        digests.swap(0, 1);
        assert!(NodeRequest::Digest { digests }.validate().is_err());
        let dup = vec![account(1), account(1)];
        assert!(
            NodeResponse::DigestDiff { differing: dup }
                .validate()
                .is_err()
        );
        let unsorted = vec![item(2, 1, false), item(1, 1, false)];
        assert!(
            NodeResponse::Listing {
                items: unsorted,
                more: false
            }
            .validate()
            .is_err()
        );
        assert!(NodeRequest::Fetch { hashes: vec![] }.validate().is_err());
        assert!(
            NodeRequest::List {
                account: account(1),
                after: None,
                limit: 0
            }
            .validate()
            .is_err()
        );
        assert_eq!(NodeRequest::Fetch { hashes: vec![] }.kind(), "fetch");
    }
}
