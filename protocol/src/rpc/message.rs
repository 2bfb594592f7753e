//! A message as a swarm stores it: its hash, its place in the order every replica
//! shares, the owner's proof that travels with it, and the checks a node applies
//! before it keeps one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::constants::{
    HASH_LEN, MAX_MESSAGE_DATA, MAX_TTL_MS, MIN_TTL_MS, PEER_CLOCK_TOLERANCE_MS,
};
use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::namespace::Namespace;
use crate::rpc::auth::{AuthError, OwnerAuth, OwnerOp};
use crate::rpc::digest::merged_times;
use crate::rpc::request::store_params;
use crate::time::UnixMillis;

/// The identity of a stored message: `blake3(account ‖ namespace code (u16 LE) ‖
/// data)` (DESIGN §5).
///
/// Every node computes it itself from what it stores, so a client cannot make two
/// different messages collide, and storing the same bytes twice in the same place
/// is the same message (stores are idempotent). The account and namespace are in
/// the hash so that the same envelope stored in two inboxes has two identities.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MessageHash(pub [u8; HASH_LEN]);

impl MessageHash {
    /// The smallest hash; with [`Cursor`] it marks "the start of a millisecond".
    pub const ZERO: MessageHash = MessageHash([0; HASH_LEN]);

    /// The hash of `data` stored for `account` in `namespace`.
    pub fn compute(account: &AccountId, namespace: Namespace, data: &[u8]) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(account.as_bytes());
        h.update(&namespace.code().to_le_bytes());
        h.update(data);
        Self(*h.finalize().as_bytes())
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; HASH_LEN] {
        &self.0
    }

    /// Short hex form for logs (first 8 bytes).
    pub fn short(&self) -> String {
        self.0.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for MessageHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for MessageHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageHash({})", self.short())
    }
}

/// A position in an account's message order: `(timestamp, hash)`.
///
/// The timestamp is the one the first accepting node set, and every replica keeps
/// it, so this order is the same on every swarm member and a cursor handed out by
/// one node means the same on another (Session's per-node row ids do not). The
/// derived `Ord` compares `timestamp` first, then `hash`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Cursor {
    /// When the message was first accepted (Unix ms).
    pub timestamp: UnixMillis,
    /// The message's hash, breaking ties within one millisecond.
    pub hash: MessageHash,
}

/// Length of [`Cursor::to_key`].
pub const CURSOR_KEY_LEN: usize = 8 + HASH_LEN;

impl Cursor {
    /// The cursor as a sort key: timestamp big-endian, then the hash. Byte order
    /// of keys equals [`Cursor`]'s `Ord`, so an ordered store (sled) can range-scan
    /// by cursor.
    pub fn to_key(&self) -> [u8; CURSOR_KEY_LEN] {
        let mut key = [0u8; CURSOR_KEY_LEN];
        let (ts, hash) = key.split_at_mut(8);
        ts.copy_from_slice(&self.timestamp.to_be_bytes());
        hash.copy_from_slice(&self.hash.0);
        key
    }

    /// The cursor back from [`Cursor::to_key`].
    pub fn from_key(key: &[u8; CURSOR_KEY_LEN]) -> Self {
        let mut ts = [0u8; 8];
        let mut hash = [0u8; HASH_LEN];
        let (a, b) = key.split_at(8);
        ts.copy_from_slice(a);
        hash.copy_from_slice(b);
        Self {
            timestamp: u64::from_be_bytes(ts),
            hash: MessageHash(hash),
        }
    }
}

/// The owner's signature on the store that created a message in a namespace
/// only the owner writes, kept with the message so every replica can check it
/// ([`StoredMessage::verify_owner`]). With the message's data it is everything the
/// original [`crate::rpc::StoreRequest`]'s signature covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoreProof {
    /// The TTL the owner signed.
    pub ttl_ms: u64,
    /// The owner's signature on the store.
    pub auth: OwnerAuth,
}

/// A message as nodes hold and replicate it.
///
/// `expiry` is the expiry the first node set (`timestamp + ttl`) and never
/// changes: an owner's shortening travels as its own signed
/// [`crate::rpc::ExpireRequest`], so that no node can shorten a message's life
/// without the owner's signature.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StoredMessage {
    /// The account it is stored for.
    pub account: AccountId,
    /// The namespace it is stored in.
    pub namespace: Namespace,
    /// The opaque data (a sealed envelope, for inbox messages).
    pub data: Vec<u8>,
    /// [`MessageHash::compute`] of the three fields above.
    pub hash: MessageHash,
    /// Set by the first node that accepted it; kept by every replica (see
    /// [`StoredMessage::merged`] for two replicas that disagree).
    pub timestamp: UnixMillis,
    /// `timestamp + ttl`: when every replica drops it unless the owner shortened
    /// that with a signed expiry change.
    pub expiry: UnixMillis,
    /// The owner's signed store, where the namespace needs the owner to store
    /// ([`Namespace::store_needs_owner`]); `None` elsewhere (inboxes).
    pub owner: Option<StoreProof>,
}

impl StoredMessage {
    /// A message for `account`/`namespace` first accepted at `timestamp`, living
    /// `ttl_ms`, without an owner proof (inboxes). Computes the hash; does not
    /// check limits (see [`Self::validate_at`]).
    pub fn new(
        account: AccountId,
        namespace: Namespace,
        data: Vec<u8>,
        timestamp: UnixMillis,
        ttl_ms: u64,
    ) -> Self {
        let hash = MessageHash::compute(&account, namespace, &data);
        Self {
            account,
            namespace,
            data,
            hash,
            timestamp,
            expiry: timestamp.saturating_add(ttl_ms),
            owner: None,
        }
    }

    /// Where this message sits in the account's order.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            timestamp: self.timestamp,
            hash: self.hash,
        }
    }

    /// Whether it has expired at `now` by its own expiry (it is kept while
    /// `now < expiry`). An owner's shortening is the node's to apply on top.
    pub fn is_expired(&self, now: UnixMillis) -> bool {
        now >= self.expiry
    }

    /// The checks that need no clock and no cryptography: the namespace is known,
    /// the data is 1 to [`MAX_MESSAGE_DATA`] bytes, the hash matches, the message
    /// lives [`MIN_TTL_MS`] to [`MAX_TTL_MS`], and it carries an owner proof exactly
    /// where the namespace needs one, whose signed TTL gives this expiry.
    pub fn validate(&self) -> Result<()> {
        let needs_owner = self.namespace.store_needs_owner()?;
        check_data(&self.data)?;
        if MessageHash::compute(&self.account, self.namespace, &self.data) != self.hash {
            return Err(Error::OutOfRange {
                what: "stored message hash",
                reason: format!(
                    "{} is not the hash of the account, namespace and data",
                    self.hash.short()
                ),
            });
        }
        check_lifetime(self.timestamp, self.expiry)?;
        let life = self.expiry - self.timestamp;
        if self.namespace == Namespace::CHUNKS {
            crate::rpc::chunk::check_stored_chunk(&self.account, &self.data, life)?;
        }
        if life < MIN_TTL_MS {
            return Err(Error::OutOfRange {
                what: "message expiry",
                reason: format!("lives {life} ms, under the minimum TTL of {MIN_TTL_MS} ms"),
            });
        }
        match (&self.owner, needs_owner) {
            (None, true) => Err(Error::Auth(AuthError::Missing {
                op: OwnerOp::Store,
                namespace: self.namespace.code(),
            })),
            (Some(_), false) => Err(Error::OutOfRange {
                what: "store proof",
                reason: format!(
                    "namespace {} takes messages from anyone and carries no owner proof",
                    self.namespace.code()
                ),
            }),
            (Some(proof), true)
                if Some(self.expiry) != self.timestamp.checked_add(proof.ttl_ms) =>
            {
                Err(Error::OutOfRange {
                    what: "message expiry",
                    reason: "is not the timestamp plus the TTL the owner signed".into(),
                })
            }
            _ => Ok(()),
        }
    }

    /// [`Self::validate`], then the checks against the receiving node's clock
    /// `now` ([`check_times`]): no timestamp more than
    /// [`PEER_CLOCK_TOLERANCE_MS`] ahead, no expiry more than [`MAX_TTL_MS`]
    /// (plus that) ahead. Run on every message that arrives by replication.
    pub fn validate_at(&self, now: UnixMillis) -> Result<()> {
        self.validate()?;
        check_times(self.timestamp, self.expiry, now)
    }

    /// Checks the owner's store proof: one Ed25519 verification of the original
    /// store's signature on `network`, whose timestamp must be within
    /// [`crate::constants::AUTH_CLOCK_WINDOW_MS`] of this message's `timestamp` (the first node
    /// accepted the store within that window of the clock it wrote there). Run it
    /// after [`Self::validate_at`]. Without it, any node could replicate a forged
    /// profile or setting into an account's owner-only namespaces.
    pub fn verify_owner(&self, network: &str) -> std::result::Result<(), AuthError> {
        let proof = match &self.owner {
            Some(proof) => proof,
            None if self.namespace.store_needs_owner().unwrap_or(true) => {
                return Err(AuthError::Missing {
                    op: OwnerOp::Store,
                    namespace: self.namespace.code(),
                });
            }
            None => return Ok(()),
        };
        proof.auth.check_window(self.timestamp)?;
        let params =
            store_params(&self.data, proof.ttl_ms).map_err(|e| AuthError::Params(e.to_string()))?;
        proof.auth.verify_signature(
            network,
            OwnerOp::Store,
            &self.account,
            self.namespace,
            &params,
        )
    }

    /// The replica to keep when this node holds `self` and a peer holds `other`
    /// of the same message (the same hash; another hash leaves `self` as it is).
    /// The rule is [`crate::rpc::digest::merged_times`]: the later timestamp wins;
    /// with an owner proof the whole replica goes with it (its proof covers its
    /// expiry), without one the later expiry is kept too.
    pub fn merged(&self, other: &StoredMessage) -> StoredMessage {
        if other.hash != self.hash {
            return self.clone();
        }
        let mine = (self.timestamp, self.expiry);
        let theirs = (other.timestamp, other.expiry);
        let (timestamp, expiry) = merged_times(self.namespace, mine, theirs);
        if (timestamp, expiry) == mine {
            self.clone()
        } else if (timestamp, expiry) == theirs {
            other.clone()
        } else {
            StoredMessage {
                timestamp,
                expiry,
                ..self.clone()
            }
        }
    }
}

/// Message data must be 1 to [`MAX_MESSAGE_DATA`] bytes. Empty data is refused:
/// it carries nothing and would only cost an index entry.
pub(crate) fn check_data(data: &[u8]) -> Result<()> {
    if data.len() > MAX_MESSAGE_DATA {
        return Err(Error::TooLarge {
            what: "message data",
            len: data.len(),
            max: MAX_MESSAGE_DATA,
        });
    }
    if data.is_empty() {
        return Err(Error::TooShort {
            what: "message data",
            len: 0,
            min: 1,
        });
    }
    Ok(())
}

/// The checks of a message's times against the checker's clock `now`: the
/// timestamp at most [`PEER_CLOCK_TOLERANCE_MS`] ahead of `now` (another node's
/// clock made it; two node clocks may differ by that much), and the expiry at
/// most [`MAX_TTL_MS`] plus that ahead of `now`. Used by nodes on replicated
/// messages and by clients on retrieved ones.
pub fn check_times(timestamp: UnixMillis, expiry: UnixMillis, now: UnixMillis) -> Result<()> {
    if timestamp > now.saturating_add(PEER_CLOCK_TOLERANCE_MS) {
        return Err(Error::OutOfRange {
            what: "message timestamp",
            reason: format!(
                "{timestamp} ms is more than {} s ahead of the clock ({now} ms)",
                PEER_CLOCK_TOLERANCE_MS / 1000
            ),
        });
    }
    if expiry > now.saturating_add(MAX_TTL_MS + PEER_CLOCK_TOLERANCE_MS) {
        return Err(Error::OutOfRange {
            what: "message expiry",
            reason: format!(
                "{expiry} ms is more than the longest TTL ahead of the clock ({now} ms)"
            ),
        });
    }
    Ok(())
}

/// `expiry` must be after `timestamp` and at most [`MAX_TTL_MS`] after it.
pub(crate) fn check_lifetime(timestamp: UnixMillis, expiry: UnixMillis) -> Result<()> {
    if expiry <= timestamp {
        return Err(Error::OutOfRange {
            what: "message expiry",
            reason: format!("expiry {expiry} is not after the timestamp {timestamp}"),
        });
    }
    let life = expiry - timestamp;
    if life > MAX_TTL_MS {
        return Err(Error::OutOfRange {
            what: "message expiry",
            reason: format!("lives {life} ms, over the maximum TTL of {MAX_TTL_MS} ms"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
