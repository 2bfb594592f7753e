//! Client requests to a service node (directly or at the end of an onion path),
//! with the checks a node applies before acting on one.

use std::ops::Bound;

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::constants::{
    DEFAULT_RETRIEVE_OVERLAP_MS, MAX_DIRECTORY_PAGE, MAX_HASHES_PER_REQUEST, MAX_LONG_POLL_MS,
    MAX_RETRIEVE_BYTES, MAX_RPC_REQUEST_LEN, MAX_TTL_MS, MIN_TTL_MS,
};
use crate::error::{Error, Result};
use crate::id::{AccountId, NodeId};
use crate::keys::AccountKey;
use crate::namespace::Namespace;
use crate::rpc::auth::{AuthError, OwnerAuth, OwnerOp, OwnerSigned};
use crate::rpc::message::{Cursor, MessageHash, StoredMessage, check_data};
use crate::time::UnixMillis;

/// A request from a client. Variants are encoded by index: only append.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    /// Store a message in an account's namespace.
    Store(StoreRequest),
    /// Read an account's messages after a cursor, optionally waiting for new ones.
    Retrieve(RetrieveRequest),
    /// Delete messages (owner only); leaves tombstones.
    Delete(DeleteRequest),
    /// Shorten messages' expiry (owner only).
    Expire(ExpireRequest),
    /// Which nodes form this account's swarm (any node answers).
    GetSwarm {
        /// The account.
        account: AccountId,
    },
    /// A page of the node's directory, ordered by node id.
    GetDirectory {
        /// Start after this node id (`None`: from the start).
        after: Option<NodeId>,
        /// Most records to return, 1 to [`MAX_DIRECTORY_PAGE`].
        limit: u16,
    },
    /// Is the node there, and what time is it there.
    Ping,
}

/// Store `data` for `account` in `namespace` for `ttl_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoreRequest {
    /// The account stored for.
    pub account: AccountId,
    /// The namespace stored in.
    pub namespace: Namespace,
    /// The data, 1 to [`crate::constants::MAX_MESSAGE_DATA`] bytes.
    pub data: Vec<u8>,
    /// How long it lives, [`MIN_TTL_MS`] to [`MAX_TTL_MS`].
    pub ttl_ms: u64,
    /// The owner's signature; needed unless anyone may store in the namespace.
    pub auth: Option<OwnerAuth>,
}

/// Read the messages of `account` in `namespace` after a cursor.
///
/// The node returns, in cursor order, every message after
/// [`RetrieveRequest::lower_bound`]: after `after`, or, when `overlap_ms` is not
/// zero, from `overlap_ms` before `after`'s timestamp, to cover messages that
/// reached this node late by replication (DESIGN §5). Clients drop hashes they
/// already have. A page holds messages while their data adds up to at most
/// `max_bytes`, and always at least one (so a page makes progress even when the
/// next message is larger than `max_bytes`; no message is larger than
/// [`MAX_RETRIEVE_BYTES`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetrieveRequest {
    /// The account read.
    pub account: AccountId,
    /// The namespace read.
    pub namespace: Namespace,
    /// Messages after this cursor (`None`: from the oldest).
    pub after: Option<Cursor>,
    /// How far before `after` to re-read, at most [`MAX_TTL_MS`].
    pub overlap_ms: u64,
    /// Most bytes of message data in the answer, 1 to [`MAX_RETRIEVE_BYTES`].
    pub max_bytes: u32,
    /// If nothing is there, wait up to this long for a message (long poll), at
    /// most [`MAX_LONG_POLL_MS`]. 0 answers at once.
    pub wait_ms: u32,
    /// The owner's signature; needed unless anyone may read the namespace.
    pub auth: Option<OwnerAuth>,
}

/// Delete messages by hash (owner only). Nodes keep a tombstone until each
/// message's original expiry so replication cannot bring it back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRequest {
    /// The owner's account.
    pub account: AccountId,
    /// The namespace.
    pub namespace: Namespace,
    /// 1 to [`MAX_HASHES_PER_REQUEST`] hashes.
    pub hashes: Vec<MessageHash>,
    /// The owner's signature.
    pub auth: OwnerAuth,
}

/// Set messages' expiry to `expiry` where that is earlier than their current
/// expiry (owner only; an expiry is never extended, see [`ExpireRequest::apply`]).
/// Used by after-read disappearing messages (DESIGN §8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpireRequest {
    /// The owner's account.
    pub account: AccountId,
    /// The namespace.
    pub namespace: Namespace,
    /// 1 to [`MAX_HASHES_PER_REQUEST`] hashes.
    pub hashes: Vec<MessageHash>,
    /// The new expiry (Unix ms).
    pub expiry: UnixMillis,
    /// The owner's signature.
    pub auth: OwnerAuth,
}

fn namespace_known(namespace: Namespace) -> Result<()> {
    namespace.access().map(|_| ())
}

fn check_hashes(hashes: &[MessageHash]) -> Result<()> {
    if hashes.is_empty() || hashes.len() > MAX_HASHES_PER_REQUEST {
        return Err(Error::OutOfRange {
            what: "hashes",
            reason: format!(
                "{} hashes is not 1 to {MAX_HASHES_PER_REQUEST}",
                hashes.len()
            ),
        });
    }
    Ok(())
}

/// The owner's signature must be there when the namespace needs it.
fn check_auth_present<R: OwnerSigned>(req: &R) -> Result<()> {
    if req.auth().is_none() && req.needs_owner()? {
        return Err(Error::Auth(AuthError::Missing {
            op: R::OP,
            namespace: req.namespace().code(),
        }));
    }
    Ok(())
}

fn sign<R: OwnerSigned>(req: &R, key: &AccountKey, now: UnixMillis) -> Result<OwnerAuth> {
    let params = req.signed_params()?;
    Ok(OwnerAuth::sign(key, R::OP, req.namespace(), now, &params))
}

impl StoreRequest {
    /// A store without a signature (for namespaces anyone may store in: inboxes).
    pub fn unsigned(account: AccountId, namespace: Namespace, data: Vec<u8>, ttl_ms: u64) -> Self {
        Self {
            account,
            namespace,
            data,
            ttl_ms,
            auth: None,
        }
    }

    /// A store into the key's own account, signed at `now`.
    pub fn signed(
        key: &AccountKey,
        namespace: Namespace,
        data: Vec<u8>,
        ttl_ms: u64,
        now: UnixMillis,
    ) -> Result<Self> {
        Self::unsigned(key.account_id(), namespace, data, ttl_ms).sign(key, now)
    }

    /// Sets the account to the key's and signs the request at `now`.
    pub fn sign(mut self, key: &AccountKey, now: UnixMillis) -> Result<Self> {
        self.account = key.account_id();
        self.auth = Some(sign(&self, key, now)?);
        Ok(self)
    }

    /// The message a node keeps for this store when it first accepts it at
    /// `timestamp` (hash computed here; expiry = `timestamp + ttl_ms`).
    pub fn to_stored(&self, timestamp: UnixMillis) -> StoredMessage {
        StoredMessage::new(
            self.account,
            self.namespace,
            self.data.clone(),
            timestamp,
            self.ttl_ms,
        )
    }

    fn validate(&self) -> Result<()> {
        namespace_known(self.namespace)?;
        check_data(&self.data)?;
        if !(MIN_TTL_MS..=MAX_TTL_MS).contains(&self.ttl_ms) {
            return Err(Error::OutOfRange {
                what: "ttl_ms",
                reason: format!(
                    "{} ms is not between {MIN_TTL_MS} ms (10 s) and {MAX_TTL_MS} ms (30 days)",
                    self.ttl_ms
                ),
            });
        }
        check_auth_present(self)
    }
}

impl OwnerSigned for StoreRequest {
    const OP: OwnerOp = OwnerOp::Store;
    fn account(&self) -> &AccountId {
        &self.account
    }
    fn namespace(&self) -> Namespace {
        self.namespace
    }
    fn auth(&self) -> Option<&OwnerAuth> {
        self.auth.as_ref()
    }
    fn needs_owner(&self) -> Result<bool> {
        self.namespace.store_needs_owner()
    }
    /// `(data, ttl_ms)`.
    fn signed_params(&self) -> Result<Vec<u8>> {
        codec::encode("store parameters", &(&self.data, self.ttl_ms))
    }
}

impl RetrieveRequest {
    /// A retrieve without a signature (for namespaces anyone may read) with the
    /// default overlap, the largest page and no waiting.
    pub fn unsigned(account: AccountId, namespace: Namespace, after: Option<Cursor>) -> Self {
        Self {
            account,
            namespace,
            after,
            overlap_ms: DEFAULT_RETRIEVE_OVERLAP_MS,
            // MAX_RETRIEVE_BYTES is 80 KiB, far below u32::MAX.
            max_bytes: u32::try_from(MAX_RETRIEVE_BYTES).unwrap_or(u32::MAX),
            wait_ms: 0,
            auth: None,
        }
    }

    /// A retrieve of the key's own account, waiting up to `wait_ms`, signed at `now`.
    pub fn signed(
        key: &AccountKey,
        namespace: Namespace,
        after: Option<Cursor>,
        wait_ms: u32,
        now: UnixMillis,
    ) -> Result<Self> {
        let mut req = Self::unsigned(key.account_id(), namespace, after);
        req.wait_ms = wait_ms;
        req.sign(key, now)
    }

    /// Sets the account to the key's and signs the request at `now`. Sign after
    /// setting every other field: they are all covered.
    pub fn sign(mut self, key: &AccountKey, now: UnixMillis) -> Result<Self> {
        self.account = key.account_id();
        self.auth = Some(sign(&self, key, now)?);
        Ok(self)
    }

    /// Where the answer starts, as a bound on [`Cursor`]s: after `after` exactly
    /// when there is no overlap, otherwise from the start of the millisecond
    /// `overlap_ms` before `after`'s timestamp.
    pub fn lower_bound(&self) -> Bound<Cursor> {
        match self.after {
            None => Bound::Unbounded,
            Some(after) if self.overlap_ms == 0 => Bound::Excluded(after),
            Some(after) => Bound::Included(Cursor {
                timestamp: after.timestamp.saturating_sub(self.overlap_ms),
                hash: MessageHash::ZERO,
            }),
        }
    }

    /// Whether a message at `cursor` belongs in the answer.
    pub fn wants(&self, cursor: &Cursor) -> bool {
        match self.lower_bound() {
            Bound::Unbounded => true,
            Bound::Excluded(b) => *cursor > b,
            Bound::Included(b) => *cursor >= b,
        }
    }

    fn validate(&self) -> Result<()> {
        namespace_known(self.namespace)?;
        if u64::from(self.wait_ms) > MAX_LONG_POLL_MS {
            return Err(Error::OutOfRange {
                what: "wait_ms",
                reason: format!(
                    "{} ms is over the longest wait of {MAX_LONG_POLL_MS} ms",
                    self.wait_ms
                ),
            });
        }
        if self.max_bytes == 0 || self.max_bytes as usize > MAX_RETRIEVE_BYTES {
            return Err(Error::OutOfRange {
                what: "max_bytes",
                reason: format!("{} is not 1 to {MAX_RETRIEVE_BYTES}", self.max_bytes),
            });
        }
        if self.overlap_ms > MAX_TTL_MS {
            return Err(Error::OutOfRange {
                what: "overlap_ms",
                reason: format!(
                    "{} ms is longer than any message lives ({MAX_TTL_MS} ms)",
                    self.overlap_ms
                ),
            });
        }
        check_auth_present(self)
    }
}

impl OwnerSigned for RetrieveRequest {
    const OP: OwnerOp = OwnerOp::Retrieve;
    fn account(&self) -> &AccountId {
        &self.account
    }
    fn namespace(&self) -> Namespace {
        self.namespace
    }
    fn auth(&self) -> Option<&OwnerAuth> {
        self.auth.as_ref()
    }
    fn needs_owner(&self) -> Result<bool> {
        self.namespace.read_needs_owner()
    }
    /// `(after, overlap_ms, max_bytes, wait_ms)`.
    fn signed_params(&self) -> Result<Vec<u8>> {
        codec::encode(
            "retrieve parameters",
            &(&self.after, self.overlap_ms, self.max_bytes, self.wait_ms),
        )
    }
}

impl DeleteRequest {
    /// A delete of `hashes` in the key's own account, signed at `now`.
    pub fn signed(
        key: &AccountKey,
        namespace: Namespace,
        hashes: Vec<MessageHash>,
        now: UnixMillis,
    ) -> Result<Self> {
        let mut req = Self {
            account: key.account_id(),
            namespace,
            hashes,
            auth: OwnerAuth {
                timestamp: now,
                signature: [0; 64],
            },
        };
        req.auth = sign(&req, key, now)?;
        Ok(req)
    }

    fn validate(&self) -> Result<()> {
        namespace_known(self.namespace)?;
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
    /// An expiry change of `hashes` in the key's own account, signed at `now`.
    pub fn signed(
        key: &AccountKey,
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
            auth: OwnerAuth {
                timestamp: now,
                signature: [0; 64],
            },
        };
        req.auth = sign(&req, key, now)?;
        Ok(req)
    }

    /// The expiry a message with `current` expiry gets: the earlier of the two.
    /// An owner shortens a message's life; nobody extends it.
    pub fn apply(&self, current: UnixMillis) -> UnixMillis {
        self.expiry.min(current)
    }

    fn validate(&self) -> Result<()> {
        namespace_known(self.namespace)?;
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

impl Request {
    /// Decodes a request, refusing input over [`MAX_RPC_REQUEST_LEN`] before
    /// reading it, then [`Request::validate`]s it. Signatures are not checked here
    /// (see [`Request::authorize`]), so a node can do its cheap checks first.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let req: Self = codec::decode("RPC request", bytes, MAX_RPC_REQUEST_LEN)?;
        req.validate()?;
        Ok(req)
    }

    /// Encodes a request after checking it as a node would, so a client learns of
    /// a bad request before sending it.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let bytes = codec::encode("RPC request", self)?;
        if bytes.len() > MAX_RPC_REQUEST_LEN {
            return Err(Error::TooLarge {
                what: "RPC request",
                len: bytes.len(),
                max: MAX_RPC_REQUEST_LEN,
            });
        }
        Ok(bytes)
    }

    /// Checks every field against the protocol's limits: data size, TTL, hash
    /// counts, long-poll wait, page size, a known namespace, and an owner
    /// signature present wherever the namespace needs one. No cryptography.
    pub fn validate(&self) -> Result<()> {
        match self {
            Request::Store(r) => r.validate(),
            Request::Retrieve(r) => r.validate(),
            Request::Delete(r) => r.validate(),
            Request::Expire(r) => r.validate(),
            Request::GetSwarm { .. } | Request::Ping => Ok(()),
            Request::GetDirectory { limit, .. } => {
                if *limit == 0 || usize::from(*limit) > MAX_DIRECTORY_PAGE {
                    return Err(Error::OutOfRange {
                        what: "directory limit",
                        reason: format!("{limit} is not 1 to {MAX_DIRECTORY_PAGE}"),
                    });
                }
                Ok(())
            }
        }
    }

    /// Checks the owner signature where there is one (and that there is one where
    /// it is needed), against the node's clock `now`. One Ed25519 verification;
    /// run it after [`Request::decode`] and the swarm check.
    pub fn authorize(&self, now: UnixMillis) -> std::result::Result<(), AuthError> {
        match self {
            Request::Store(r) => r.authorize(now),
            Request::Retrieve(r) => r.authorize(now),
            Request::Delete(r) => r.authorize(now),
            Request::Expire(r) => r.authorize(now),
            Request::GetSwarm { .. } | Request::GetDirectory { .. } | Request::Ping => Ok(()),
        }
    }

    /// A short name for metrics labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Request::Store(_) => "store",
            Request::Retrieve(_) => "retrieve",
            Request::Delete(_) => "delete",
            Request::Expire(_) => "expire",
            Request::GetSwarm { .. } => "get_swarm",
            Request::GetDirectory { .. } => "get_directory",
            Request::Ping => "ping",
        }
    }

    /// The account the request is about, if any.
    pub fn account(&self) -> Option<AccountId> {
        match self {
            Request::Store(r) => Some(r.account),
            Request::Retrieve(r) => Some(r.account),
            Request::Delete(r) => Some(r.account),
            Request::Expire(r) => Some(r.account),
            Request::GetSwarm { account } => Some(*account),
            Request::GetDirectory { .. } | Request::Ping => None,
        }
    }

    /// The account whose swarm must serve this request: a node outside that swarm
    /// answers `WrongSwarm`. `None` for requests any node answers (including
    /// `GetSwarm`, which exists to find the swarm).
    pub fn swarm_account(&self) -> Option<AccountId> {
        match self {
            Request::GetSwarm { .. } => None,
            other => other.account(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::MAX_MESSAGE_DATA;
    use crate::time::{DAY_MS, MINUTE_MS, SECOND_MS};

    const NOW: UnixMillis = 1_700_000_000_000;

    fn key(n: u8) -> AccountKey {
        AccountKey::from_entropy([n; 16])
    }

    fn unknown_namespace() -> Namespace {
        codec::decode("namespace", &[42], 4).unwrap()
    }

    fn round_trip(req: &Request) -> Request {
        Request::decode(&req.encode().unwrap()).unwrap()
    }

    #[test]
    fn signed_requests_round_trip_and_authorize() {
        let k = key(1);
        let store = Request::Store(
            StoreRequest::signed(&k, Namespace::CONFIG, vec![1; 10], DAY_MS, NOW).unwrap(),
        );
        let retrieve = Request::Retrieve(
            RetrieveRequest::signed(&k, Namespace::INBOX, None, 20_000, NOW).unwrap(),
        );
        let delete = Request::Delete(
            DeleteRequest::signed(&k, Namespace::INBOX, vec![MessageHash([3; 32])], NOW).unwrap(),
        );
        let expire = Request::Expire(
            ExpireRequest::signed(&k, Namespace::INBOX, vec![MessageHash([3; 32])], NOW, NOW)
                .unwrap(),
        );
        for req in [store, retrieve, delete, expire] {
            assert_eq!(round_trip(&req), req);
            req.authorize(NOW).unwrap();
            req.authorize(NOW + 4 * MINUTE_MS).unwrap();
            assert_eq!(req.account(), Some(k.account_id()));
            assert_eq!(req.swarm_account(), Some(k.account_id()));
        }
        let inbox = Request::Store(StoreRequest::unsigned(
            k.account_id(),
            Namespace::INBOX,
            vec![1],
            MIN_TTL_MS,
        ));
        assert_eq!(round_trip(&inbox), inbox);
        inbox.authorize(NOW).unwrap();
        let public = Request::Retrieve(RetrieveRequest::unsigned(
            k.account_id(),
            Namespace::PUBLIC,
            None,
        ));
        public.authorize(NOW).unwrap();
        assert_eq!(Request::Ping.kind(), "ping");
        assert_eq!(
            Request::GetSwarm {
                account: k.account_id()
            }
            .swarm_account(),
            None
        );
    }

    #[test]
    fn store_limits_are_typed_errors() {
        let a = key(1).account_id();
        let over = Request::Store(StoreRequest::unsigned(
            a,
            Namespace::INBOX,
            vec![0; MAX_MESSAGE_DATA + 1],
            DAY_MS,
        ));
        assert_eq!(
            over.validate(),
            Err(Error::TooLarge {
                what: "message data",
                len: MAX_MESSAGE_DATA + 1,
                max: MAX_MESSAGE_DATA
            })
        );
        // The same through the decoder: the bytes are under the request limit, the
        // data is over the message limit.
        let bytes = codec::encode("t", &over).unwrap();
        assert!(matches!(
            Request::decode(&bytes),
            Err(Error::TooLarge {
                what: "message data",
                ..
            })
        ));
        assert!(over.encode().is_err());

        let exactly = Request::Store(StoreRequest::unsigned(
            a,
            Namespace::INBOX,
            vec![0; MAX_MESSAGE_DATA],
            MAX_TTL_MS,
        ));
        assert_eq!(round_trip(&exactly), exactly);

        for ttl in [0, MIN_TTL_MS - 1, MAX_TTL_MS + 1, u64::MAX] {
            let bad = Request::Store(StoreRequest::unsigned(a, Namespace::INBOX, vec![1], ttl));
            assert!(
                matches!(
                    bad.validate(),
                    Err(Error::OutOfRange { what: "ttl_ms", .. })
                ),
                "ttl {ttl}"
            );
        }
        let empty = Request::Store(StoreRequest::unsigned(a, Namespace::INBOX, vec![], DAY_MS));
        assert!(matches!(empty.validate(), Err(Error::TooShort { .. })));
        // Config and public need the owner to store.
        for ns in [Namespace::CONFIG, Namespace::PUBLIC] {
            let unsigned = Request::Store(StoreRequest::unsigned(a, ns, vec![1], DAY_MS));
            assert!(matches!(
                unsigned.validate(),
                Err(Error::Auth(AuthError::Missing {
                    op: OwnerOp::Store,
                    ..
                }))
            ));
        }
    }

    #[test]
    fn retrieve_limits_are_typed_errors() {
        let k = key(2);
        let a = k.account_id();
        let mut long = RetrieveRequest::unsigned(a, Namespace::PUBLIC, None);
        long.wait_ms = 25 * 1000 + 1;
        assert!(matches!(
            Request::Retrieve(long.clone()).validate(),
            Err(Error::OutOfRange {
                what: "wait_ms",
                ..
            })
        ));
        long.wait_ms = 25 * 1000;
        Request::Retrieve(long).validate().unwrap();

        for max_bytes in [0, MAX_RETRIEVE_BYTES as u32 + 1] {
            let mut r = RetrieveRequest::unsigned(a, Namespace::PUBLIC, None);
            r.max_bytes = max_bytes;
            assert!(matches!(
                Request::Retrieve(r).validate(),
                Err(Error::OutOfRange {
                    what: "max_bytes",
                    ..
                })
            ));
        }
        let mut r = RetrieveRequest::unsigned(a, Namespace::PUBLIC, None);
        r.overlap_ms = MAX_TTL_MS + 1;
        assert!(Request::Retrieve(r).validate().is_err());

        // The inbox and config are the owner's to read.
        for ns in [Namespace::INBOX, Namespace::CONFIG] {
            let req = Request::Retrieve(RetrieveRequest::unsigned(a, ns, None));
            assert_eq!(
                req.validate(),
                Err(Error::Auth(AuthError::Missing {
                    op: OwnerOp::Retrieve,
                    namespace: ns.code()
                }))
            );
            let bytes = codec::encode("t", &req).unwrap();
            assert!(matches!(Request::decode(&bytes), Err(Error::Auth(_))));
            assert!(matches!(req.authorize(NOW), Err(AuthError::Missing { .. })));
        }
    }

    #[test]
    fn unknown_namespace_and_hash_counts() {
        let k = key(3);
        let ns = unknown_namespace();
        let reqs = [
            Request::Store(StoreRequest::unsigned(k.account_id(), ns, vec![1], DAY_MS)),
            Request::Retrieve(RetrieveRequest::unsigned(k.account_id(), ns, None)),
            Request::Delete(DeleteRequest::signed(&k, ns, vec![MessageHash::ZERO], NOW).unwrap()),
            Request::Expire(
                ExpireRequest::signed(&k, ns, vec![MessageHash::ZERO], NOW, NOW).unwrap(),
            ),
        ];
        for req in reqs {
            assert!(
                matches!(
                    req.validate(),
                    Err(Error::OutOfRange {
                        what: "namespace",
                        ..
                    })
                ),
                "{}",
                req.kind()
            );
        }
        for n in [0, MAX_HASHES_PER_REQUEST + 1] {
            let hashes = vec![MessageHash::ZERO; n];
            let del = Request::Delete(
                DeleteRequest::signed(&k, Namespace::INBOX, hashes.clone(), NOW).unwrap(),
            );
            assert!(matches!(
                del.validate(),
                Err(Error::OutOfRange { what: "hashes", .. })
            ));
            let exp = Request::Expire(
                ExpireRequest::signed(&k, Namespace::INBOX, hashes, NOW, NOW).unwrap(),
            );
            assert!(matches!(
                exp.validate(),
                Err(Error::OutOfRange { what: "hashes", .. })
            ));
        }
        for limit in [0, MAX_DIRECTORY_PAGE as u16 + 1] {
            let req = Request::GetDirectory { after: None, limit };
            assert!(req.validate().is_err());
        }
        Request::GetDirectory {
            after: Some(NodeId([1; 32])),
            limit: MAX_DIRECTORY_PAGE as u16,
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn decode_refuses_oversized_and_truncated_input() {
        let big = vec![0u8; MAX_RPC_REQUEST_LEN + 1];
        assert_eq!(
            Request::decode(&big),
            Err(Error::TooLarge {
                what: "RPC request",
                len: MAX_RPC_REQUEST_LEN + 1,
                max: MAX_RPC_REQUEST_LEN
            })
        );
        let k = key(4);
        let req = Request::Retrieve(
            RetrieveRequest::signed(
                &k,
                Namespace::INBOX,
                Some(Cursor {
                    timestamp: NOW,
                    hash: MessageHash([9; 32]),
                }),
                1000,
                NOW,
            )
            .unwrap(),
        );
        let bytes = req.encode().unwrap();
        for cut in 0..bytes.len() {
            assert!(Request::decode(&bytes[..cut]).is_err(), "cut {cut}");
        }
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(Request::decode(&trailing).is_err());
        // An unknown variant.
        assert!(Request::decode(&[200]).is_err());
    }

    #[test]
    fn auth_does_not_transfer() {
        let k = key(5);
        let other = key(6);
        let signed = StoreRequest::signed(&k, Namespace::CONFIG, vec![1, 2], DAY_MS, NOW).unwrap();
        let auth = signed.auth.clone();

        let mut other_account = signed.clone();
        other_account.account = other.account_id();
        let mut other_ns = signed.clone();
        other_ns.namespace = Namespace::PUBLIC;
        let mut other_data = signed.clone();
        other_data.data = vec![1, 3];
        let mut other_ttl = signed.clone();
        other_ttl.ttl_ms += 1;
        for req in [other_account, other_ns, other_data, other_ttl] {
            assert_eq!(
                Request::Store(req).authorize(NOW),
                Err(AuthError::BadSignature)
            );
        }
        // The same signature put on a retrieve (another op).
        let mut retrieve = RetrieveRequest::unsigned(k.account_id(), Namespace::CONFIG, None);
        retrieve.auth = auth;
        assert_eq!(
            Request::Retrieve(retrieve).authorize(NOW),
            Err(AuthError::BadSignature)
        );
        // A retrieve's cursor and wait are covered.
        let r = RetrieveRequest::signed(&k, Namespace::INBOX, None, 0, NOW).unwrap();
        let mut moved = r.clone();
        moved.after = Some(Cursor {
            timestamp: 1,
            hash: MessageHash::ZERO,
        });
        assert_eq!(
            Request::Retrieve(moved).authorize(NOW),
            Err(AuthError::BadSignature)
        );
        let mut waits = r.clone();
        waits.wait_ms = 1;
        assert!(Request::Retrieve(waits).authorize(NOW).is_err());
        // Expire's new expiry is covered.
        let e =
            ExpireRequest::signed(&k, Namespace::INBOX, vec![MessageHash::ZERO], NOW, NOW).unwrap();
        let mut later = e.clone();
        later.expiry += DAY_MS;
        assert!(Request::Expire(later).authorize(NOW).is_err());
        // Ten minutes off: clock skew with the node's time.
        assert_eq!(
            Request::Expire(e).authorize(NOW + 10 * 60 * SECOND_MS),
            Err(AuthError::ClockSkew {
                node_time: NOW + 10 * 60 * SECOND_MS,
                their_time: NOW
            })
        );
    }

    #[test]
    fn retrieve_bounds_and_overlap() {
        let a = key(7).account_id();
        let c = |t, h| Cursor {
            timestamp: t,
            hash: MessageHash([h; 32]),
        };
        let mut r = RetrieveRequest::unsigned(a, Namespace::PUBLIC, None);
        assert!(r.wants(&c(0, 0)));
        r.after = Some(c(10_000, 5));
        r.overlap_ms = 0;
        assert_eq!(r.lower_bound(), Bound::Excluded(c(10_000, 5)));
        assert!(!r.wants(&c(10_000, 5)));
        assert!(!r.wants(&c(10_000, 4)));
        assert!(r.wants(&c(10_000, 6)));
        r.overlap_ms = 1_000;
        assert!(r.wants(&c(9_000, 0)));
        assert!(r.wants(&c(10_000, 5)));
        assert!(!r.wants(&c(8_999, 255)));
        r.overlap_ms = 20_000;
        assert!(r.wants(&c(0, 0)));
    }

    #[test]
    fn store_and_expire_helpers() {
        let k = key(8);
        let s = StoreRequest::unsigned(k.account_id(), Namespace::INBOX, vec![5; 3], DAY_MS);
        let m = s.to_stored(NOW);
        m.validate().unwrap();
        assert_eq!(m.expiry, NOW + DAY_MS);
        let e = ExpireRequest::signed(&k, Namespace::INBOX, vec![m.hash], NOW + 5, NOW).unwrap();
        assert_eq!(e.apply(m.expiry), NOW + 5);
        assert_eq!(e.apply(NOW + 1), NOW + 1);
    }
}
