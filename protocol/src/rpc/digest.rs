//! What two swarm members compare in anti-entropy: one item per message hash, the
//! order-independent digest of an account's items, and the merge rule that makes
//! members converge (DESIGN §6).
//!
//! ## The merge rule
//!
//! The state of one hash on one node is a [`DigestItem`]. Two states merge as
//! [`merge`] says:
//!
//! - **Deleted wins** over present. A tombstone only exists with the owner's signed
//!   delete behind it, so no node can delete what the owner did not.
//! - **The later timestamp wins.** Replicas of one message disagree on its
//!   timestamp only when it was stored twice independently (a client retried at
//!   another node) or when a member lies. Readers follow each member's arrival
//!   numbers, not timestamps ([`crate::rpc::ReadCursor`]), so the choice cannot
//!   hide a message from anyone; the later one is kept because it is the one a
//!   reader's first, time-based read (from "newest seen − 1 h") still finds. (How
//!   far a liar can move a message later is bounded by
//!   [`crate::rpc::StoredMessage::validate_at`].)
//! - **The expiry is never shortened without the owner.** Where the namespace has
//!   an owner proof, the replica with the later `(timestamp, expiry)` wins whole,
//!   since its proof covers both; elsewhere (inboxes, where anyone stores and no
//!   proof exists) the later expiry is kept on its own. An owner's signed
//!   shortening is a separate field, `shortened`, merged by taking the earlier.
//!
//! Every part is a maximum or a minimum, so [`merge`] is commutative, associative
//! and idempotent: members converge whatever order rounds run in, and after
//! convergence every digest agrees. Nothing here is trusted: [`reconcile`] only
//! says whether to fetch the peer's state, and what is fetched comes with the
//! owner's signatures, which the receiver checks before applying it.

use serde::{Deserialize, Serialize};

use crate::constants::HASH_LEN;
use crate::id::AccountId;
use crate::namespace::Namespace;
use crate::rpc::message::{MessageHash, StoredMessage};
use crate::time::UnixMillis;

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
    /// Present (with its times) or deleted.
    pub state: ItemState,
}

/// The state of one hash on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ItemState {
    /// The node holds the message.
    Present {
        /// The replica's timestamp.
        timestamp: UnixMillis,
        /// The replica's own expiry (`timestamp + ttl`).
        expiry: UnixMillis,
        /// The expiry of the earliest owner-signed shortening the node holds for
        /// it, whether or not it is before `expiry`. The message lives until the
        /// earlier of the two.
        shortened: Option<UnixMillis>,
    },
    /// The node holds a tombstone. How long a node keeps one is its own affair
    /// (see [`crate::rpc::DeleteRequest::tombstone_expiry`]), so it is not part of
    /// the state two nodes compare.
    Deleted,
}

/// blake3 `derive_key` context hashing one [`DigestItem`]. v2 added the
/// timestamp and the owner's shortening.
pub const DIGEST_ITEM_CONTEXT: &str = "sotto digest item v2";
/// blake3 `derive_key` context of the final account digest.
pub const ACCOUNT_DIGEST_CONTEXT: &str = "sotto account digest v1";

impl DigestItem {
    /// The item of a stored message with the owner's earliest `shortened` expiry,
    /// if the node holds one.
    pub fn of_message(m: &StoredMessage, shortened: Option<UnixMillis>) -> Self {
        Self {
            hash: m.hash,
            namespace: m.namespace,
            state: ItemState::Present {
                timestamp: m.timestamp,
                expiry: m.expiry,
                shortened,
            },
        }
    }

    /// The item of a tombstone.
    pub fn deleted(hash: MessageHash, namespace: Namespace) -> Self {
        Self {
            hash,
            namespace,
            state: ItemState::Deleted,
        }
    }

    /// Whether this is a tombstone.
    pub fn is_deleted(&self) -> bool {
        matches!(self.state, ItemState::Deleted)
    }

    /// When the message stops being served (`None` for a tombstone): the earlier
    /// of its expiry and the owner's shortening.
    pub fn effective_expiry(&self) -> Option<UnixMillis> {
        match self.state {
            ItemState::Present {
                expiry, shortened, ..
            } => Some(shortened.map_or(expiry, |s| s.min(expiry))),
            ItemState::Deleted => None,
        }
    }

    /// The item's own hash: `derive_key(DIGEST_ITEM_CONTEXT, hash ‖ namespace
    /// (u16 LE) ‖ state)`, where the state is `0 ‖ timestamp (u64 LE) ‖ expiry
    /// (u64 LE) ‖ 0 or 1 ‖ shortened (u64 LE, 0 when absent)` for a present
    /// message and `1` for a tombstone.
    pub fn item_hash(&self) -> [u8; HASH_LEN] {
        let mut h = blake3::Hasher::new_derive_key(DIGEST_ITEM_CONTEXT);
        h.update(&self.hash.0);
        h.update(&self.namespace.code().to_le_bytes());
        match self.state {
            ItemState::Present {
                timestamp,
                expiry,
                shortened,
            } => {
                h.update(&[0]);
                h.update(&timestamp.to_le_bytes());
                h.update(&expiry.to_le_bytes());
                h.update(&[u8::from(shortened.is_some())]);
                h.update(&shortened.unwrap_or(0).to_le_bytes());
            }
            ItemState::Deleted => {
                h.update(&[1]);
            }
        }
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

/// The `(timestamp, expiry)` two replicas of one message in `namespace` merge to
/// (see the module documentation): the lexicographic maximum where the namespace
/// has owner proofs (the winning replica is kept whole, proof and all), the
/// maximum of each where it does not.
pub fn merged_times(
    namespace: Namespace,
    local: (UnixMillis, UnixMillis),
    remote: (UnixMillis, UnixMillis),
) -> (UnixMillis, UnixMillis) {
    // An unknown namespace is treated as owner-only: never mix fields there.
    if namespace.store_needs_owner().unwrap_or(true) {
        local.max(remote)
    } else {
        (local.0.max(remote.0), local.1.max(remote.1))
    }
}

/// The state a node holding `local` should end up in once it has everything a
/// peer holding `remote` has (with the proofs behind it). Items of another hash
/// or namespace leave `local` as it is.
pub fn merge(local: Option<&DigestItem>, remote: &DigestItem) -> DigestItem {
    let Some(l) = local else {
        return *remote;
    };
    if l.hash != remote.hash || l.namespace != remote.namespace {
        return *l;
    }
    let state = match (l.state, remote.state) {
        (ItemState::Deleted, _) | (_, ItemState::Deleted) => ItemState::Deleted,
        (
            ItemState::Present {
                timestamp: lt,
                expiry: le,
                shortened: ls,
            },
            ItemState::Present {
                timestamp: rt,
                expiry: re,
                shortened: rs,
            },
        ) => {
            let (timestamp, expiry) = merged_times(l.namespace, (lt, le), (rt, re));
            let shortened = match (ls, rs) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            ItemState::Present {
                timestamp,
                expiry,
                shortened,
            }
        }
    };
    DigestItem { state, ..*l }
}

/// What a node must do about one hash, given what it holds and what a peer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reconcile {
    /// Nothing: the local state already includes the remote one.
    Nothing,
    /// Fetch the hash from the peer ([`crate::rpc::NodeRequest::Fetch`]): its
    /// answer carries the message with its owner proof, the owner's signed
    /// delete, or the owner's signed expiry change, which the node checks and
    /// then merges ([`crate::rpc::StoredMessage::merged`],
    /// [`crate::rpc::DeleteRequest`], [`crate::rpc::ExpireRequest::apply_to`]).
    Fetch,
}

/// The anti-entropy decision from the local node's side: fetch when [`merge`]
/// would change the local state. Run it both ways on each hash to know what to
/// pull and what to push.
pub fn reconcile(local: Option<&DigestItem>, remote: &DigestItem) -> Reconcile {
    match local {
        Some(l) if merge(Some(l), remote) == *l => Reconcile::Nothing,
        Some(_) | None => Reconcile::Fetch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::AccountKey;

    fn account(n: u8) -> AccountId {
        AccountKey::from_entropy([n; 16]).account_id()
    }

    fn present(h: u8, timestamp: UnixMillis, expiry: UnixMillis) -> DigestItem {
        DigestItem {
            hash: MessageHash([h; 32]),
            namespace: Namespace::INBOX,
            state: ItemState::Present {
                timestamp,
                expiry,
                shortened: None,
            },
        }
    }

    fn with(item: DigestItem, ns: Namespace, shortened: Option<UnixMillis>) -> DigestItem {
        let state = match item.state {
            ItemState::Present {
                timestamp, expiry, ..
            } => ItemState::Present {
                timestamp,
                expiry,
                shortened,
            },
            ItemState::Deleted => ItemState::Deleted,
        };
        DigestItem {
            namespace: ns,
            state,
            ..item
        }
    }

    #[test]
    fn digest_is_order_independent_and_sensitive() {
        let items = vec![
            present(1, 5, 10),
            DigestItem::deleted(MessageHash([2; 32]), Namespace::INBOX),
            present(3, 5, 30),
        ];
        let d = account_digest(items.iter().copied());
        assert_eq!(d, account_digest(items.iter().rev().copied()));
        // Every field of the state counts: timestamp, expiry, shortening, deletion.
        for changed in [
            present(1, 6, 10),
            present(1, 5, 9),
            with(present(1, 5, 10), Namespace::INBOX, Some(8)),
            with(present(1, 5, 10), Namespace::INBOX, Some(0)),
            DigestItem::deleted(MessageHash([1; 32]), Namespace::INBOX),
            with(present(1, 5, 10), Namespace::CONFIG, None),
        ] {
            let mut other = items.clone();
            other[0] = changed;
            assert_ne!(d, account_digest(other.iter().copied()), "{changed:?}");
        }
        // Duplicates do not cancel out (as they would under XOR).
        let twice = [present(1, 5, 10), present(1, 5, 10)];
        assert_ne!(
            account_digest(twice.iter().copied()),
            account_digest(std::iter::empty())
        );
        assert_ne!(
            account_digest(twice.iter().copied()),
            account_digest(std::iter::once(present(1, 5, 10)))
        );
        // Incremental updates agree with a rescan.
        let mut acc = DigestAccumulator::new();
        for i in &items {
            acc.add(i);
        }
        let shorter = present(1, 5, 9);
        acc.remove(&items[0]);
        acc.add(&shorter);
        let mut rescanned = items.clone();
        rescanned[0] = shorter;
        assert_eq!(acc.finish(), account_digest(rescanned.iter().copied()));
        assert_eq!(acc.to_account_digest(account(1)).count, 3);
    }

    #[test]
    fn merge_rules() {
        let gone = DigestItem::deleted(MessageHash([1; 32]), Namespace::INBOX);
        let a = present(1, 100, 200);
        // Deleted wins, from either side, and absorbs everything.
        assert_eq!(merge(Some(&a), &gone), gone);
        assert_eq!(merge(Some(&gone), &a), gone);
        assert_eq!(merge(None, &gone), gone);
        // Inbox: the later timestamp and the later expiry, each on its own. A
        // replica that is earlier and shorter (a liar's) changes nothing.
        let earlier_longer = present(1, 50, 300);
        assert_eq!(merge(Some(&a), &earlier_longer), present(1, 100, 300));
        assert_eq!(merge(Some(&a), &present(1, 50, 60)), a);
        assert_eq!(reconcile(Some(&a), &present(1, 50, 60)), Reconcile::Nothing);
        // Owner namespaces: the later (timestamp, expiry) whole.
        let own = |i| with(i, Namespace::PUBLIC, None);
        assert_eq!(merge(Some(&own(a)), &own(earlier_longer)), own(a));
        assert_eq!(
            merge(Some(&own(a)), &own(present(1, 101, 150))),
            own(present(1, 101, 150))
        );
        // Shortenings: the earlier one, whichever side has it.
        let s = |i, v| with(i, Namespace::INBOX, v);
        assert_eq!(merge(Some(&a), &s(a, Some(150))), s(a, Some(150)));
        assert_eq!(
            merge(Some(&s(a, Some(120))), &s(a, Some(150))),
            s(a, Some(120))
        );
        assert_eq!(merge(Some(&s(a, Some(120))), &a), s(a, Some(120)));
        assert_eq!(s(a, Some(120)).effective_expiry(), Some(120));
        assert_eq!(s(a, Some(900)).effective_expiry(), Some(200));
        // Another hash or namespace is not the same message: left alone.
        assert_eq!(merge(Some(&a), &present(2, 500, 600)), a);
        assert_eq!(merge(Some(&a), &own(present(1, 500, 600))), a);
        // Reconcile fetches exactly when the merge changes something.
        assert_eq!(reconcile(None, &a), Reconcile::Fetch);
        assert_eq!(reconcile(Some(&a), &a), Reconcile::Nothing);
        assert_eq!(reconcile(Some(&a), &gone), Reconcile::Fetch);
        assert_eq!(reconcile(Some(&gone), &a), Reconcile::Nothing);
        assert_eq!(reconcile(Some(&a), &s(a, Some(150))), Reconcile::Fetch);
    }

    #[test]
    fn stored_messages_merge_like_their_items() {
        let k = AccountKey::from_entropy([9; 16]);
        let m = StoredMessage::new(k.account_id(), Namespace::INBOX, vec![1], 100, 20_000);
        let mut later = m.clone();
        later.timestamp = 200;
        let mut longer = m.clone();
        longer.expiry = 40_000;
        let merged = later.merged(&longer);
        assert_eq!((merged.timestamp, merged.expiry), (200, 40_000));
        assert_eq!(
            DigestItem::of_message(&merged, None),
            merge(
                Some(&DigestItem::of_message(&later, None)),
                &DigestItem::of_message(&longer, None)
            )
        );
        assert_eq!(longer.merged(&later), merged);
        let other = StoredMessage::new(k.account_id(), Namespace::INBOX, vec![2], 900, 20_000);
        assert_eq!(m.merged(&other), m);
    }
}
