//! Client requests to a service node (directly or at the end of an onion path),
//! with the checks a node applies before acting on one.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::constants::{
    MAX_DIRECTORY_PAGE, MAX_HASHES_PER_REQUEST, MAX_LONG_POLL_MS, MAX_RETRIEVE_BYTES,
    MAX_RPC_REQUEST_LEN, MAX_TTL_MS, MIN_TTL_MS,
};
use crate::error::{Error, Result};
use crate::id::{AccountId, NodeId};
use crate::keys::AccountKey;
use crate::namespace::Namespace;
use crate::rpc::auth::{AuthError, OwnerAuth, OwnerOp, OwnerSigned};
use crate::rpc::check_count;
use crate::rpc::chunk::{ChunkStoreRequest, refuse_chunks};
use crate::rpc::deliver::{DELIVERY_ITEM_LEN, DeliverRequest};
use crate::rpc::held::HeldFilter;
use crate::rpc::message::{MessageHash, StoreProof, StoredMessage, check_data};
use crate::rpc::read_cursor::ReadCursor;
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
    /// Store an attachment chunk in the swarm of its hash (anyone may; it
    /// carries postage). Read chunks back with an unsigned [`Request::Retrieve`]
    /// in [`Namespace::CHUNKS`].
    StoreChunk(ChunkStoreRequest),
    /// Store a sealed message into an inbox with the recipient's delivery
    /// token, or into its requests with postage ([`crate::rpc::deliver`]).
    Deliver(DeliverRequest),
    /// [`Request::GetDirectory`] leaving out the records the asker holds:
    /// a page of at most `limit` records after `after` whose signatures are
    /// not in `held`. The answer's `next` is where the scan stopped (it looks
    /// at most [`crate::constants::MAX_DIRECTORY_SCAN`] entries per page), so a page may be
    /// short or empty and still have a next one.
    GetDirectoryDelta {
        /// Start after this node id (`None`: from the start).
        after: Option<NodeId>,
        /// Most records to return, 1 to [`MAX_DIRECTORY_PAGE`].
        limit: u16,
        /// The records the asker holds.
        held: HeldFilter,
    },
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

/// Read the messages of `account` in `namespace` that one swarm member took in
/// after the reader's [`ReadCursor`] on that member.
///
/// The member returns, in the order it took them in, the messages it numbered
/// after `after.seq` (`after` of its own store instance); with no cursor, or one
/// of another instance, it reads from its start but leaves out messages dated
/// before `not_before` ([`crate::rpc::read_cursor::first_read_not_before`]).
/// The answer's cursor is where the next retrieve of the same member goes on.
/// Clients drop hashes they already have. A page holds messages while their data
/// adds up to at most `max_bytes`, and always at least one (so a page makes
/// progress even when the next message is larger than `max_bytes`; no message is
/// larger than [`MAX_RETRIEVE_BYTES`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetrieveRequest {
    /// The account read.
    pub account: AccountId,
    /// The namespace read.
    pub namespace: Namespace,
    /// The reader's cursor on this member (`None`: first contact).
    pub after: Option<ReadCursor>,
    /// On a first contact, messages dated before this (Unix ms) are left out.
    /// Ignored when `after` is this member's.
    pub not_before: UnixMillis,
    /// Most bytes of message data in the answer, 1 to [`MAX_RETRIEVE_BYTES`].
    pub max_bytes: u32,
    /// If nothing is there, wait up to this long for a message (long poll), at
    /// most [`MAX_LONG_POLL_MS`]. 0 answers at once.
    pub wait_ms: u32,
    /// How many messages after the cursor a long poll waits for, 1 to
    /// [`MAX_WAIT_FOR`]: it is answered once that many follow (or a page is
    /// full, or its wait is over, with what there is). A reader keeps a
    /// second poll parked that waits for one message more than its first,
    /// so a message that arrives while the first one's answer travels back
    /// and its next poll travels out is answered at once by the second
    /// (docs/ARCHITECTURE.md, "The pair of long polls").
    pub wait_for: u8,
    /// The owner's signature; needed unless anyone may read the namespace.
    pub auth: Option<OwnerAuth>,
}

/// The most messages a long poll may wait for ([`RetrieveRequest::wait_for`]).
/// A pair of polls needs 2; a little room for readers that keep more.
pub const MAX_WAIT_FOR: u8 = 4;

fn namespace_known(namespace: Namespace) -> Result<()> {
    namespace.access().map(|_| ())
}

fn check_hashes(hashes: &[MessageHash]) -> Result<()> {
    check_count("hashes", hashes.len(), 1, MAX_HASHES_PER_REQUEST)
}

/// The parameters a store's signature covers: `(data, ttl_ms)`. Shared by the
/// request and by the proof a replicated message carries.
pub(crate) fn store_params(data: &[u8], ttl_ms: u64) -> Result<Vec<u8>> {
    codec::encode("store parameters", &(data, ttl_ms))
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

fn sign<R: OwnerSigned>(
    req: &R,
    key: &AccountKey,
    network: &str,
    now: UnixMillis,
) -> Result<OwnerAuth> {
    let params = req.signed_params()?;
    Ok(OwnerAuth::sign(
        key,
        network,
        R::OP,
        req.namespace(),
        now,
        &params,
    ))
}

/// A placeholder signature, replaced by the real one before a constructor returns.
fn unsigned_auth(now: UnixMillis) -> OwnerAuth {
    OwnerAuth {
        timestamp: now,
        signature: [0; 64],
    }
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

    /// A store into the key's own account on `network`, signed at `now`.
    pub fn signed(
        key: &AccountKey,
        network: &str,
        namespace: Namespace,
        data: Vec<u8>,
        ttl_ms: u64,
        now: UnixMillis,
    ) -> Result<Self> {
        Self::unsigned(key.account_id(), namespace, data, ttl_ms).sign(key, network, now)
    }

    /// Sets the account to the key's and signs the request for `network` at `now`.
    pub fn sign(mut self, key: &AccountKey, network: &str, now: UnixMillis) -> Result<Self> {
        self.account = key.account_id();
        self.auth = Some(sign(&self, key, network, now)?);
        Ok(self)
    }

    /// The message a node keeps for this store when it first accepts it at
    /// `timestamp` (its clock): hash computed here, expiry = `timestamp +
    /// ttl_ms`, and, where the namespace needs the owner to store, the request's
    /// signature as the message's [`StoreProof`] (so replicas can check it).
    /// Call it after [`Request::authorize`] accepted the request at `timestamp`.
    pub fn to_stored(&self, timestamp: UnixMillis) -> StoredMessage {
        let mut m = StoredMessage::new(
            self.account,
            self.namespace,
            self.data.clone(),
            timestamp,
            self.ttl_ms,
        );
        if self.namespace.store_needs_owner().unwrap_or(true) {
            m.owner = self.auth.clone().map(|auth| StoreProof {
                ttl_ms: self.ttl_ms,
                auth,
            });
        }
        m
    }

    /// Checks the fields against the protocol's limits, and that a signature is
    /// there where one is needed. No cryptography. A plain store into
    /// [`Namespace::REQUESTS`] is refused: it needs postage
    /// ([`Request::Deliver`]).
    pub fn validate(&self) -> Result<()> {
        if self.namespace == Namespace::REQUESTS {
            return Err(Error::OutOfRange {
                what: "store",
                reason: "a store into the requests namespace carries postage: send a delivery"
                    .to_string(),
            });
        }
        self.validate_fields()
    }

    /// [`StoreRequest::validate`] without the namespace's way in: what a
    /// [`DeliverRequest`] checks of its store.
    pub(crate) fn validate_fields(&self) -> Result<()> {
        namespace_known(self.namespace)?;
        refuse_chunks(self.namespace, "store")?;
        if self.namespace == Namespace::DELIVERY && self.data.len() != DELIVERY_ITEM_LEN {
            return Err(Error::OutOfRange {
                what: "delivery token item",
                reason: format!("{} bytes, an item is {DELIVERY_ITEM_LEN}", self.data.len()),
            });
        }
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
        store_params(&self.data, self.ttl_ms)
    }
}

impl RetrieveRequest {
    /// A retrieve without a signature (for namespaces anyone may read) from
    /// `after`, the largest page, no waiting and no `not_before`.
    pub fn unsigned(account: AccountId, namespace: Namespace, after: Option<ReadCursor>) -> Self {
        Self {
            account,
            namespace,
            after,
            not_before: 0,
            // MAX_RETRIEVE_BYTES is 80 KiB, far below u32::MAX.
            max_bytes: u32::try_from(MAX_RETRIEVE_BYTES).unwrap_or(u32::MAX),
            wait_ms: 0,
            wait_for: 1,
            auth: None,
        }
    }

    /// A retrieve of the key's own account on `network`, waiting up to
    /// `wait_ms`, signed at `now`.
    pub fn signed(
        key: &AccountKey,
        network: &str,
        namespace: Namespace,
        after: Option<ReadCursor>,
        wait_ms: u32,
        now: UnixMillis,
    ) -> Result<Self> {
        let mut req = Self::unsigned(key.account_id(), namespace, after);
        req.wait_ms = wait_ms;
        req.sign(key, network, now)
    }

    /// Sets the account to the key's and signs the request for `network` at
    /// `now`. Sign after setting every other field: they are all covered.
    pub fn sign(mut self, key: &AccountKey, network: &str, now: UnixMillis) -> Result<Self> {
        self.account = key.account_id();
        self.auth = Some(sign(&self, key, network, now)?);
        Ok(self)
    }

    /// The sequence number a member whose store instance is `store` reads
    /// after: the cursor's if it is of that instance, else 0 (from the start,
    /// with `not_before`).
    pub fn after_seq(&self, store: u64) -> u64 {
        self.after.filter(|c| c.store == store).map_or(0, |c| c.seq)
    }

    /// The oldest timestamp a member whose store instance is `store` returns:
    /// `not_before` on a first contact, none (0) when reading on from its own
    /// cursor.
    pub fn not_before_for(&self, store: u64) -> UnixMillis {
        match self.after {
            Some(c) if c.store == store => 0,
            _ => self.not_before,
        }
    }

    /// Checks the fields against the protocol's limits, and that a signature is
    /// there where one is needed. No cryptography.
    pub fn validate(&self) -> Result<()> {
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
        if !(1..=MAX_WAIT_FOR).contains(&self.wait_for) {
            return Err(Error::OutOfRange {
                what: "wait_for",
                reason: format!("{} is not 1 to {MAX_WAIT_FOR}", self.wait_for),
            });
        }
        if self.max_bytes == 0 || self.max_bytes as usize > MAX_RETRIEVE_BYTES {
            return Err(Error::OutOfRange {
                what: "max_bytes",
                reason: format!("{} is not 1 to {MAX_RETRIEVE_BYTES}", self.max_bytes),
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
    /// `(after, not_before, max_bytes, wait_ms, wait_for)`.
    fn signed_params(&self) -> Result<Vec<u8>> {
        codec::encode(
            "retrieve parameters",
            &(
                &self.after,
                self.not_before,
                self.max_bytes,
                self.wait_ms,
                self.wait_for,
            ),
        )
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
        codec::encode_bounded("RPC request", self, MAX_RPC_REQUEST_LEN)
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
            Request::StoreChunk(r) => r.validate(),
            Request::Deliver(r) => r.validate(),
            Request::GetSwarm { .. } | Request::Ping => Ok(()),
            Request::GetDirectory { limit, .. } => check_count(
                "directory limit",
                usize::from(*limit),
                1,
                MAX_DIRECTORY_PAGE,
            ),
            Request::GetDirectoryDelta { limit, held, .. } => {
                check_count(
                    "directory limit",
                    usize::from(*limit),
                    1,
                    MAX_DIRECTORY_PAGE,
                )?;
                held.validate()
            }
        }
    }

    /// Checks the owner signature where there is one (and that there is one where
    /// it is needed), for the node's `network` and against its clock `now`. One
    /// Ed25519 verification; run it after [`Request::decode`] and the swarm check.
    pub fn authorize(&self, network: &str, now: UnixMillis) -> std::result::Result<(), AuthError> {
        match self {
            Request::Store(r) => r.authorize(network, now),
            Request::Retrieve(r) => r.authorize(network, now),
            Request::Delete(r) => r.authorize(network, now),
            Request::Expire(r) => r.authorize(network, now),
            Request::StoreChunk(_)
            | Request::Deliver(_)
            | Request::GetSwarm { .. }
            | Request::GetDirectory { .. }
            | Request::GetDirectoryDelta { .. }
            | Request::Ping => Ok(()),
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
            Request::GetDirectoryDelta { .. } => "get_directory_delta",
            Request::Ping => "ping",
            Request::StoreChunk(_) => "store_chunk",
            Request::Deliver(_) => "deliver",
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
            Request::StoreChunk(r) => Some(r.hash().account()),
            Request::Deliver(r) => Some(r.store.account),
            Request::GetDirectory { .. } | Request::GetDirectoryDelta { .. } | Request::Ping => {
                None
            }
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
mod tests;
mod writes;

pub use writes::{DeleteRequest, ExpireRequest};
