//! A message as a swarm stores it: its hash, its place in the order every replica
//! shares, and the checks a node applies before it keeps one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::constants::{HASH_LEN, MAX_MESSAGE_DATA, MAX_TTL_MS};
use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::namespace::Namespace;
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

/// A message as nodes hold and replicate it.
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
    /// Set by the first node that accepted it; kept by every replica.
    pub timestamp: UnixMillis,
    /// When every replica drops it. Only ever shortened after the store.
    pub expiry: UnixMillis,
}

impl StoredMessage {
    /// A message for `account`/`namespace` first accepted at `timestamp`, living
    /// `ttl_ms`. Computes the hash; does not check limits (see [`Self::validate`]).
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
        }
    }

    /// Where this message sits in the account's order.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            timestamp: self.timestamp,
            hash: self.hash,
        }
    }

    /// Whether it has expired at `now` (it is kept while `now < expiry`).
    pub fn is_expired(&self, now: UnixMillis) -> bool {
        now >= self.expiry
    }

    /// Checks what a node must check before keeping a message it did not hash
    /// itself (from replication): the namespace is known, the data is 1 to
    /// [`MAX_MESSAGE_DATA`] bytes, the hash matches, `expiry > timestamp` and the
    /// message lives at most [`MAX_TTL_MS`]. (Not checked: the minimum TTL, since
    /// an owner may have shortened the expiry after the store.)
    pub fn validate(&self) -> Result<()> {
        self.namespace.access()?;
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
        check_lifetime(self.timestamp, self.expiry)
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
mod tests {
    use super::*;
    use crate::keys::AccountKey;
    use crate::time::DAY_MS;

    fn account(n: u8) -> AccountId {
        AccountKey::from_entropy([n; 16]).account_id()
    }

    #[test]
    fn hash_binds_account_namespace_and_data() {
        let a = MessageHash::compute(&account(1), Namespace::INBOX, b"hi");
        assert_eq!(
            a,
            MessageHash::compute(&account(1), Namespace::INBOX, b"hi")
        );
        assert_ne!(
            a,
            MessageHash::compute(&account(2), Namespace::INBOX, b"hi")
        );
        assert_ne!(
            a,
            MessageHash::compute(&account(1), Namespace::CONFIG, b"hi")
        );
        assert_ne!(
            a,
            MessageHash::compute(&account(1), Namespace::INBOX, b"ho")
        );
        // The layout is exactly account ‖ code LE ‖ data.
        let mut raw = account(1).as_bytes().to_vec();
        raw.extend_from_slice(&[0, 0]);
        raw.extend_from_slice(b"hi");
        assert_eq!(a.0, *blake3::hash(&raw).as_bytes());
    }

    #[test]
    fn cursor_order_is_timestamp_then_hash_and_keys_agree() {
        let c = |t, h| Cursor {
            timestamp: t,
            hash: MessageHash([h; 32]),
        };
        let mut cursors = vec![c(5, 1), c(1, 9), c(5, 0), c(256, 0), c(1, 2)];
        cursors.sort();
        assert_eq!(cursors, vec![c(1, 2), c(1, 9), c(5, 0), c(5, 1), c(256, 0)]);
        let mut keys: Vec<_> = cursors.iter().map(Cursor::to_key).collect();
        keys.sort();
        let back: Vec<_> = keys.iter().map(Cursor::from_key).collect();
        assert_eq!(back, cursors);
    }

    #[test]
    fn stored_message_checks() {
        let good = StoredMessage::new(account(3), Namespace::INBOX, vec![1, 2, 3], 1_000, DAY_MS);
        good.validate().unwrap();
        assert!(!good.is_expired(1_000));
        assert!(good.is_expired(1_000 + DAY_MS));

        let mut wrong_hash = good.clone();
        wrong_hash.data.push(4);
        assert!(matches!(
            wrong_hash.validate(),
            Err(Error::OutOfRange {
                what: "stored message hash",
                ..
            })
        ));
        let mut other_account = good.clone();
        other_account.account = account(4);
        assert!(other_account.validate().is_err());

        let big = StoredMessage::new(
            account(3),
            Namespace::INBOX,
            vec![0; MAX_MESSAGE_DATA + 1],
            1_000,
            DAY_MS,
        );
        assert!(matches!(big.validate(), Err(Error::TooLarge { .. })));
        let empty = StoredMessage::new(account(3), Namespace::INBOX, vec![], 1_000, DAY_MS);
        assert!(matches!(empty.validate(), Err(Error::TooShort { .. })));

        let mut dead = good.clone();
        dead.expiry = dead.timestamp;
        assert!(dead.validate().is_err());
        let mut forever = good.clone();
        forever.expiry = forever.timestamp + MAX_TTL_MS + 1;
        assert!(forever.validate().is_err());

        let unknown_ns: Namespace = crate::codec::decode("ns", &[9], 4).unwrap();
        let odd = StoredMessage::new(account(3), unknown_ns, vec![1], 1_000, DAY_MS);
        assert!(odd.validate().is_err());
    }
}
