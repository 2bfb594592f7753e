//! The store's one error type: refusals a caller answers with (quota, deleted,
//! expired) and failures an operator must look at (engine, corrupt records).

use sotto_protocol::AccountId;
use sotto_protocol::rpc::MessageHash;
use sotto_protocol::time::UnixMillis;

/// Which limit a store would have crossed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaScope {
    /// The account's share ([`crate::store::StoreLimits::max_account_bytes`]).
    Account,
    /// The whole node ([`crate::store::StoreLimits::max_total_bytes`]).
    Node,
    /// The node's attachment chunks together
    /// ([`crate::store::StoreLimits::max_chunk_bytes`]).
    Chunks,
    /// The account's message requests
    /// ([`crate::store::StoreLimits::max_request_bytes`]).
    Requests,
}

impl std::fmt::Display for QuotaScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            QuotaScope::Account => "account",
            QuotaScope::Node => "node",
            QuotaScope::Chunks => "chunk",
            QuotaScope::Requests => "requests",
        })
    }
}

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Storing the message would cross a byte limit. Nothing was written, and
    /// everything stored before is intact.
    #[error(
        "{scope} storage quota exceeded: {used} bytes used, this message needs {needed} more, \
         the limit is {limit}; older messages must expire or be deleted first"
    )]
    QuotaExceeded {
        /// The limit that would be crossed.
        scope: QuotaScope,
        /// Bytes charged so far (to the account or the node).
        used: u64,
        /// Bytes this message would be charged.
        needed: u64,
        /// The limit.
        limit: u64,
    },

    /// The owner deleted this message: a tombstone refuses it until the
    /// tombstone expires, so that replication cannot bring it back.
    #[error("message {} of {account} was deleted by its owner and is not stored again", hash.short())]
    Deleted {
        /// The account.
        account: AccountId,
        /// The message.
        hash: MessageHash,
    },

    /// The message has already expired (by its own expiry or an owner's
    /// shortening) at the caller's clock: there is nothing to keep.
    #[error("message {} expired at {expiry} ms, which is not after now ({now} ms)", hash.short())]
    Expired {
        /// The message.
        hash: MessageHash,
        /// Its expiry.
        expiry: UnixMillis,
        /// The caller's clock.
        now: UnixMillis,
    },

    /// The disk holding the store is nearly full: a new message would leave
    /// less than the free-space watermark (`[store] min_free_disk_bytes`).
    /// Nothing was written, and everything stored before is intact; deletes,
    /// expiry changes and the purge still work, and free space.
    #[error(
        "disk nearly full: {available} bytes free on this node, which keeps at least {min_free} \
         free; new messages are refused until expired ones are purged or the operator frees space"
    )]
    DiskFull {
        /// Free bytes by the last measurement, less what was admitted since.
        available: u64,
        /// The watermark.
        min_free: u64,
    },

    /// The storage engine failed (I/O error, full disk, a file another process
    /// holds). The operation did not happen. See [`StoreError::is_fatal`].
    #[error("store {op} failed in the storage engine: {source}")]
    Engine {
        /// What the store was doing.
        op: &'static str,
        /// The engine's error, boxed so that the engine stays an implementation
        /// detail of this module.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },

    /// A record on disk does not decode or does not agree with its key. The store
    /// refuses to guess; an operator can restore from replicas by removing the
    /// store directory (the swarm hands the data back by anti-entropy).
    #[error("corrupt record in tree {tree} at key {key}: {reason}")]
    Corrupt {
        /// The sled tree.
        tree: &'static str,
        /// The key, in hex.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A record could not be encoded for writing (a bug: every value the store
    /// writes has an encoding). Nothing was written.
    #[error("could not encode {what} for the store: {reason}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The codec's reason.
        reason: String,
    },

    /// The directory holds a store written in a format this build does not read.
    #[error(
        "the store was written in format {found}, this build reads format {expected}: \
         use a matching build or move the directory away"
    )]
    Format {
        /// The format on disk.
        found: u64,
        /// The format this build writes.
        expected: u64,
    },
}

/// The store's result type.
pub type Result<T> = std::result::Result<T, StoreError>;

impl StoreError {
    /// An engine failure during `op`.
    pub(crate) fn engine(op: &'static str, source: sled::Error) -> Self {
        StoreError::Engine {
            op,
            source: Box::new(source),
        }
    }

    /// A corrupt record in `tree` at `key`.
    pub(crate) fn corrupt(tree: &'static str, key: &[u8], reason: impl Into<String>) -> Self {
        StoreError::Corrupt {
            tree,
            key: hex(key),
            reason: reason.into(),
        }
    }

    /// Whether this is a refusal of the request (quota, disk watermark,
    /// deleted, expired) rather than a failure of the node.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            StoreError::QuotaExceeded { .. }
                | StoreError::DiskFull { .. }
                | StoreError::Deleted { .. }
                | StoreError::Expired { .. }
        )
    }

    /// Whether the storage engine itself failed in a way the node cannot go on
    /// from: an I/O error (out of space, a failing disk), corruption of sled's
    /// own files, or a bug sled reports. sled 0.34 fails every later write
    /// after such an error, so a node that kept running would stay in the
    /// directory unable to store or purge; it stops instead, and its service
    /// manager restarts it. A corrupt record of ours ([`StoreError::Corrupt`])
    /// is not fatal: it concerns one item, which the caller skips or refuses.
    pub fn is_fatal(&self) -> bool {
        let StoreError::Engine { source, .. } = self else {
            return false;
        };
        matches!(
            source.downcast_ref::<sled::Error>(),
            Some(
                sled::Error::Io(_) | sled::Error::Corruption { .. } | sled::Error::ReportableBug(_)
            )
        )
    }
}

/// Lower-case hex of `bytes`, for keys in error messages.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_happened() {
        let e = StoreError::QuotaExceeded {
            scope: QuotaScope::Account,
            used: 10,
            needed: 5,
            limit: 12,
        };
        assert!(e.is_refusal());
        assert!(e.to_string().contains("account storage quota exceeded"));
        let c = StoreError::corrupt("items", &[0xab, 0x01], "too short");
        assert!(!c.is_refusal() && !c.is_fatal());
        assert_eq!(
            c.to_string(),
            "corrupt record in tree items at key ab01: too short"
        );
    }

    #[test]
    fn engine_io_errors_are_fatal_and_others_are_not() {
        let io = StoreError::engine("put", sled::Error::Io(std::io::Error::other("ENOSPC")));
        assert!(io.is_fatal() && !io.is_refusal());
        let bug = StoreError::engine("put", sled::Error::ReportableBug("x".into()));
        assert!(bug.is_fatal());
        let gone = StoreError::engine("put", sled::Error::CollectionNotFound(vec![1].into()));
        assert!(!gone.is_fatal());
        let full = StoreError::DiskFull {
            available: 1,
            min_free: 2,
        };
        assert!(full.is_refusal() && !full.is_fatal());
    }
}
