//! The directory: every verified, unexpired node record of the network
//! (DESIGN §4). Records come from gossip, from a bootstrap peer's
//! `GetDirectory`, and from the node itself; each is verified in full
//! ([`SignedNodeRecord::verify`]: signature, expiry, network, admission proof)
//! before it is kept. Verification makes a [`VerifiedRecord`], the only thing
//! [`Directory::insert`] takes, so the signature and admission work is done
//! before the caller takes the directory's write lock, never under it. Swarms are computed from it with the protocol's one
//! swarm function, answered by a [`SwarmIndex`] over the nodes' positions
//! that the directory keeps up to date as nodes join and leave (O(log N + R)
//! per swarm, one position hash per joining node).
//!
//! The directory is plain data behind the node's lock: no I/O, no clock of its
//! own (callers pass `now`). When it is full, a newcomer takes the place of a
//! node this node cannot reach ([`UNREACHABLE_AFTER`] failed requests in a
//! row, told by [`Directory::note_unreachable`]); established, reachable
//! nodes are never pushed out by newcomers.

/// Shared signature checks for the simulator (they moved to the protocol
/// crate so that in-process clients share them too).
pub use sotto_protocol::record::shared_checks;

use std::collections::{BTreeMap, HashMap};

use libp2p::PeerId;
use sotto_protocol::record::{NodeRecord, SignedNodeRecord};
use sotto_protocol::rpc::held::HeldFilter;
use sotto_protocol::{AccountId, NetworkParams, NodeId, SwarmIndex, UnixMillis};

/// Why a record was not taken.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DirectoryError {
    /// The record failed verification (a reason a person can read).
    #[error("invalid node record: {0}")]
    Invalid(String),
    /// The node id is not a usable libp2p identity.
    #[error("node id is not a valid Ed25519 public key")]
    BadIdentity,
    /// The directory is full and the record is for a new node.
    #[error("directory full ({0} nodes)")]
    Full(usize),
}

impl DirectoryError {
    /// A short constant name for metrics labels.
    pub fn reason(&self) -> &'static str {
        match self {
            DirectoryError::Invalid(_) => "invalid",
            DirectoryError::BadIdentity => "bad_identity",
            DirectoryError::Full(_) => "full",
        }
    }
}

/// A node record that passed [`SignedNodeRecord::verify`] for some network
/// parameters at some time. Only [`VerifiedRecord::verify`] makes one, so a
/// caller verifies (the costly part: an Ed25519 signature and the admission
/// proof) without holding the directory's lock and then inserts it under a
/// short write lock.
#[derive(Debug, Clone)]
pub struct VerifiedRecord {
    record: NodeRecord,
    signed: SignedNodeRecord,
    peer: PeerId,
    /// The parameters it was verified for: [`Directory::insert`] refuses a
    /// record verified for other ones.
    params: NetworkParams,
}

impl VerifiedRecord {
    /// Verifies `signed` in full for `params` at `now` (signature, expiry,
    /// network, bounds, admission proof) and derives the node's peer id.
    pub fn verify(
        signed: SignedNodeRecord,
        params: &NetworkParams,
        now: UnixMillis,
    ) -> Result<Self, DirectoryError> {
        let record = signed
            .verify_with(params, now, shared_checks::check_signature)
            .map_err(|e| DirectoryError::Invalid(e.to_string()))?;
        // The signature check above decoded the node key as a curve point,
        // so the peer id is made from its bytes without decoding it again
        // (one point decompression fewer per record).
        let peer = peer_id_of_valid_key(&record.node).ok_or(DirectoryError::BadIdentity)?;
        Ok(Self {
            record,
            signed,
            peer,
            params: params.clone(),
        })
    }

    /// The verified record.
    pub fn record(&self) -> &NodeRecord {
        &self.record
    }

    /// The node's libp2p identity.
    pub fn peer(&self) -> PeerId {
        self.peer
    }
}

/// What [`Directory::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    /// A node the directory did not know.
    New,
    /// A newer record of a known node.
    Updated,
    /// The same or an older record: nothing changed.
    Unchanged,
}

/// One node of the directory.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The verified record.
    pub record: NodeRecord,
    /// The record as it travels (what `GetDirectory` and `WrongSwarm` hand on).
    pub signed: SignedNodeRecord,
    /// The node's libp2p identity (derived from its node key).
    pub peer: PeerId,
}

/// The libp2p peer id of a node key.
pub fn peer_id_of(node: &NodeId) -> Option<PeerId> {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(node.as_bytes()).ok()?;
    Some(PeerId::from_public_key(&libp2p::identity::PublicKey::from(
        key,
    )))
}

/// The libp2p peer id of a node key already known to be a valid Ed25519
/// point (its signature verified): the identity multihash of the key's
/// protobuf encoding (libp2p's peer-id specification: field 1, key type 1 =
/// Ed25519; field 2, the 32 key bytes), as [`peer_id_of`] makes after
/// decoding the point.
fn peer_id_of_valid_key(node: &NodeId) -> Option<PeerId> {
    const PROTOBUF_ED25519: [u8; 4] = [0x08, 0x01, 0x12, 0x20];
    /// Multihash code of the identity "hash".
    const IDENTITY: u64 = 0x00;
    let mut encoded = [0u8; 36];
    encoded[..4].copy_from_slice(&PROTOBUF_ED25519);
    encoded[4..].copy_from_slice(node.as_bytes());
    let hash = libp2p::multihash::Multihash::wrap(IDENTITY, &encoded).ok()?;
    PeerId::from_multihash(hash).ok()
}

/// Every verified, unexpired record, by node id.
#[derive(Debug, Clone)]
pub struct Directory {
    params: NetworkParams,
    max_nodes: usize,
    entries: BTreeMap<NodeId, Entry>,
    by_peer: HashMap<PeerId, NodeId>,
    /// Node ids in order, kept with `entries`.
    nodes: Vec<NodeId>,
    /// The nodes by position, kept with `entries`: swarms are computed on
    /// every request, many times per replication round.
    index: SwarmIndex,
    /// Bumped on every membership change (not on a mere record refresh).
    version: u64,
    /// Requests to a node that failed in a row (transport errors, timeouts);
    /// reset by one that gets an answer. Only nodes held are counted.
    failures: HashMap<NodeId, u32>,
}

/// Failed requests in a row after which a node counts as unreachable: a full
/// directory gives its place to a newcomer.
pub const UNREACHABLE_AFTER: u32 = 3;

impl Directory {
    /// An empty directory for the network `params`, holding at most `max_nodes`.
    pub fn new(params: NetworkParams, max_nodes: usize) -> Self {
        Self {
            params,
            max_nodes,
            entries: BTreeMap::new(),
            by_peer: HashMap::new(),
            nodes: Vec::new(),
            index: SwarmIndex::new(),
            version: 0,
            failures: HashMap::new(),
        }
    }

    /// The network's parameters.
    pub fn params(&self) -> &NetworkParams {
        &self.params
    }

    /// Keeps `verified` if it is newer than what the directory holds for that
    /// node (by `issued_at`). The record was verified before (see
    /// [`VerifiedRecord`]); here only cheap checks run: that it was verified
    /// for this directory's network parameters and that it has not expired
    /// since (`now` is read again after verifying).
    pub fn insert(
        &mut self,
        verified: VerifiedRecord,
        now: UnixMillis,
    ) -> Result<Inserted, DirectoryError> {
        let VerifiedRecord {
            record,
            signed,
            peer,
            params,
        } = verified;
        if params != self.params {
            return Err(DirectoryError::Invalid(format!(
                "record verified for other network parameters ({:?}, directory of {:?})",
                params.name, self.params.name
            )));
        }
        if record.expires_at <= now {
            return Err(DirectoryError::Invalid(
                "node record expired after it was verified".into(),
            ));
        }
        match self.entries.get_mut(&record.node) {
            Some(old) => {
                if record.issued_at <= old.record.issued_at {
                    return Ok(Inserted::Unchanged);
                }
                let (node, proof) = (record.node, record.admission);
                let groups = record.swarm_groups(self.params.allow_same_subnet);
                *old = Entry {
                    record,
                    signed,
                    peer,
                };
                // A new admission proof (the next epoch's) is a new position;
                // new addresses may be new network groups.
                if self.index.insert_grouped(node, proof, groups) {
                    self.membership_changed();
                }
                Ok(Inserted::Updated)
            }
            None => {
                if self.entries.len() >= self.max_nodes {
                    // Established nodes are kept over newcomers; only one
                    // this node cannot reach gives its place up.
                    match self.most_unreachable() {
                        Some(gone) => self.remove(&gone),
                        None => return Err(DirectoryError::Full(self.max_nodes)),
                    }
                }
                let (node, proof) = (record.node, record.admission);
                let groups = record.swarm_groups(self.params.allow_same_subnet);
                self.by_peer.insert(peer, node);
                self.entries.insert(
                    node,
                    Entry {
                        record,
                        signed,
                        peer,
                    },
                );
                if let Err(at) = self.nodes.binary_search(&node) {
                    self.nodes.insert(at, node);
                }
                self.index.insert_grouped(node, proof, groups);
                self.membership_changed();
                Ok(Inserted::New)
            }
        }
    }

    /// Whether the directory holds exactly these signed bytes (verified when
    /// they were taken). A directory pull and every repeat of a gossiped
    /// record bring mostly records already held: callers ask this under the
    /// read lock to spare them the signature check, at the cost of decoding
    /// the record to find its node. An expired record is never "held": it
    /// goes through the full check and is refused as before.
    pub fn holds_exactly(&self, signed: &SignedNodeRecord, now: UnixMillis) -> bool {
        signed
            .live_node_unverified(now)
            .and_then(|node| self.entries.get(&node))
            .is_some_and(|held| held.signed == *signed)
    }

    /// Notes that a request to `node` got an answer.
    pub fn note_reachable(&mut self, node: &NodeId) {
        self.failures.remove(node);
    }

    /// Whether requests to `node` have failed since its last answer (so that
    /// an answer needs [`Directory::note_reachable`]; callers check this under
    /// the read lock and take the write lock only then).
    pub fn is_failing(&self, node: &NodeId) -> bool {
        self.failures.contains_key(node)
    }

    /// Notes that a request to `node` failed (could not connect, timed out).
    pub fn note_unreachable(&mut self, node: &NodeId) {
        if self.entries.contains_key(node) {
            let n = self.failures.entry(*node).or_insert(0);
            *n = n.saturating_add(1);
        }
    }

    /// The held node with the most failures in a row, if it has at least
    /// [`UNREACHABLE_AFTER`] (ties: the smallest id, for determinism).
    fn most_unreachable(&self) -> Option<NodeId> {
        self.failures
            .iter()
            .filter(|(_, n)| **n >= UNREACHABLE_AFTER)
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(node, _)| *node)
    }

    /// Takes `node` out of the directory.
    fn remove(&mut self, node: &NodeId) {
        if let Some(e) = self.entries.remove(node) {
            self.by_peer.remove(&e.peer);
            if let Ok(at) = self.nodes.binary_search(node) {
                self.nodes.remove(at);
            }
            self.index.remove(node);
            self.failures.remove(node);
            self.membership_changed();
        }
    }

    /// Drops every record expired at `now`; returns the nodes dropped.
    pub fn expire(&mut self, now: UnixMillis) -> Vec<NodeId> {
        let gone: Vec<NodeId> = self
            .entries
            .iter()
            .filter(|(_, e)| e.record.expires_at <= now)
            .map(|(n, _)| *n)
            .collect();
        for n in &gone {
            if let Some(e) = self.entries.remove(n) {
                self.by_peer.remove(&e.peer);
            }
            self.index.remove(n);
            self.failures.remove(n);
        }
        if !gone.is_empty() {
            self.nodes = self.entries.keys().copied().collect();
            self.membership_changed();
        }
        gone
    }

    /// Marks a join or leave (the lists are updated by the caller: a join
    /// costs one position hash, not one per node of the network).
    fn membership_changed(&mut self) {
        self.version = self.version.wrapping_add(1);
    }

    /// How many nodes it holds.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it holds no node.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A number that changes whenever a node joins or leaves the directory.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Every node id, in order.
    pub fn nodes(&self) -> &[NodeId] {
        &self.nodes
    }

    /// The entry of `node`.
    pub fn get(&self, node: &NodeId) -> Option<&Entry> {
        self.entries.get(node)
    }

    /// The node whose libp2p identity is `peer`.
    pub fn node_of_peer(&self, peer: &PeerId) -> Option<NodeId> {
        self.by_peer.get(peer).copied()
    }

    /// Every entry, in node id order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The swarm of `account`: the R nodes closest to it (DESIGN §4), at
    /// most one per public /24 or /48 (and, on networks that keep subnets
    /// apart, one for all nodes without a routable address); see
    /// [`SwarmIndex::swarm_diverse`] and `netgroup::swarm_groups`.
    pub fn swarm(&self, account: &AccountId) -> Vec<NodeId> {
        self.index
            .swarm_diverse(account, usize::from(self.params.swarm_size))
    }

    /// Whether `node` is in the swarm of `account`.
    pub fn in_swarm(&self, account: &AccountId, node: &NodeId) -> bool {
        self.swarm(account).contains(node)
    }

    /// The signed records of `nodes` that the directory holds.
    pub fn signed_records(&self, nodes: &[NodeId]) -> Vec<SignedNodeRecord> {
        nodes
            .iter()
            .filter_map(|n| self.entries.get(n).map(|e| e.signed.clone()))
            .collect()
    }

    /// A page of at most `limit` records after `after`, in node id order, and
    /// where the next page starts.
    pub fn page(
        &self,
        after: Option<NodeId>,
        limit: usize,
    ) -> (Vec<SignedNodeRecord>, Option<NodeId>) {
        use std::ops::Bound;
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut it = self.entries.range((start, Bound::Unbounded));
        let page: Vec<&Entry> = it.by_ref().take(limit).map(|(_, e)| e).collect();
        let next = match (page.last(), it.next()) {
            (Some(last), Some(_)) => Some(last.record.node),
            _ => None,
        };
        (page.into_iter().map(|e| e.signed.clone()).collect(), next)
    }

    /// A delta page: at most `limit` records after `after`, in node id order,
    /// leaving out those `held` may hold, having looked at no more than
    /// `max_scan` entries; and where the next page starts (the last entry
    /// looked at, while any are left). A filter that holds everything costs
    /// `max_scan` filter checks per page, never a whole large directory.
    pub fn page_missing(
        &self,
        after: Option<NodeId>,
        limit: usize,
        held: &HeldFilter,
        max_scan: usize,
    ) -> (Vec<SignedNodeRecord>, Option<NodeId>) {
        use std::ops::Bound;
        let key = held.key();
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut it = self.entries.range((start, Bound::Unbounded)).peekable();
        let mut page = Vec::new();
        let mut last = None;
        for _ in 0..max_scan {
            if page.len() >= limit {
                break;
            }
            let Some((node, entry)) = it.next() else {
                break;
            };
            last = Some(*node);
            if !held.holds(&key, &entry.signed.signature) {
                page.push(entry.signed.clone());
            }
        }
        let next = match it.peek() {
            Some(_) => last,
            None => None,
        };
        (page, next)
    }

    /// A filter of the records held now, for a delta pull.
    pub fn held_filter(&self, salt: [u8; 16]) -> HeldFilter {
        HeldFilter::new(
            salt,
            self.entries.len(),
            self.entries.values().map(|e| &e.signed.signature),
        )
    }
}

#[cfg(test)]
mod tests;
