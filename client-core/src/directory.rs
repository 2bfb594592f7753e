//! The client's view of the network: every verified, unexpired node record,
//! fetched page by page from several bootstrap nodes (DESIGN §4) and, once
//! paths are ready, from random directory nodes through them; and the swarms
//! computed from it.

use std::collections::BTreeMap;

use libp2p::{Multiaddr, PeerId};
use sotto_protocol::constants::{
    KEY_LEN, MAX_NODE_CLOCK_ERROR_MS, MAX_RECORD_LEN, RECORD_CLOCK_SKEW_MS,
};
use sotto_protocol::onion::Hop;
use sotto_protocol::record::{NodeRecord, SignedNodeRecord};
use sotto_protocol::{AccountId, NetworkParams, NodeId, SwarmIndex, UnixMillis};

use crate::net::{Rejected, peer_id_of};

mod fetch;
mod sync;
mod via_paths;
mod wrong_network;

pub use fetch::{DIRECTORY_SOURCES, FetchError, MAX_PAGES, fetch};
pub use sync::{MAX_SYNC_NODES, sync_clock};
pub use via_paths::PATH_SOURCES;
pub use wrong_network::WrongNetwork;

/// How far ahead of the client's clock a node's own times may be and still
/// count as now: a record issued, or an onion key made valid, up to this long
/// "in the future" is used. Nodes may be this far off the network's time
/// ([`MAX_NODE_CLOCK_ERROR_MS`]), and the client's corrected clock is the
/// median of a few nodes', so a node 5 min fast that just started or rotated
/// its key would otherwise be unusable for 5 min to everyone with the right
/// time, and to a client a little slow for longer.
pub const CLOCK_MARGIN_MS: u64 = MAX_NODE_CLOCK_ERROR_MS;

/// The onion key to build packets for at `now`: of the keys not yet expired
/// (`now < valid_until`, as the node checks) whose window starts no later
/// than [`CLOCK_MARGIN_MS`] after `now`, the one that starts last. The node
/// accepts a packet for any key it holds until the key's end, so a key that
/// by the client's clock starts a little later is already good.
pub fn usable_onion_key(record: &NodeRecord, now: UnixMillis) -> Option<[u8; KEY_LEN]> {
    let soon = now.saturating_add(CLOCK_MARGIN_MS);
    record
        .onion_keys
        .iter()
        .filter(|e| e.valid_from <= soon && now < e.valid_until)
        .max_by_key(|e| e.valid_from)
        .map(|e| e.key)
}

/// The time `signed` is verified at: `now`, moved later by up to
/// [`CLOCK_MARGIN_MS`] when the record says it was issued more than the
/// protocol's window after `now` (its node's clock is ahead of the client's
/// by more than the protocol allows one clock to be off). The later time
/// only makes the expiry check stricter.
fn verify_time(signed: &SignedNodeRecord, now: UnixMillis) -> UnixMillis {
    let issued =
        sotto_protocol::codec::decode::<NodeRecord>("node record", &signed.record, MAX_RECORD_LEN)
            .map_or(0, |r| r.issued_at);
    issued
        .saturating_sub(RECORD_CLOCK_SKEW_MS)
        .clamp(now, now.saturating_add(CLOCK_MARGIN_MS))
}

/// Most nodes the client keeps. Far above any network Sotto expects for years,
/// and it bounds what a lying bootstrap node can make the client hold.
pub const MAX_NODES: usize = MAX_PAGES * sotto_protocol::constants::MAX_DIRECTORY_PAGE;

/// A network group (IPv4 /24, IPv6 /48, or "no routable address"): two relays
/// of one group never share a path on a public network.
pub type Subnet = sotto_protocol::record::netgroup::NetGroup;

/// One node as the client knows it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    /// The verified record.
    pub record: NodeRecord,
    /// The record as it travels (to compare and hand on).
    pub signed: SignedNodeRecord,
    /// Its libp2p identity.
    pub peer: PeerId,
    /// Its addresses that parse as multiaddrs.
    pub addrs: Vec<Multiaddr>,
    /// Its network groups (`record::netgroup::groups_of`).
    pub subnets: Vec<Subnet>,
}

impl NodeInfo {
    /// The node from a record verified for `params` at `now`. `None` if the
    /// record does not verify, or names no address the client can parse.
    pub fn verify(
        signed: &SignedNodeRecord,
        params: &NetworkParams,
        now: UnixMillis,
    ) -> Option<Self> {
        // `shared_checks` checks the signature itself unless the simulator
        // made this process share the signatures found good.
        let record = signed
            .verify_with(
                params,
                verify_time(signed, now),
                sotto_protocol::record::shared_checks::check_signature,
            )
            .ok()?;
        let peer = peer_id_of(&record.node)?;
        let addrs: Vec<Multiaddr> = record.addrs.iter().filter_map(|a| a.parse().ok()).collect();
        if addrs.is_empty() {
            return None;
        }
        let subnets = sotto_protocol::record::netgroup::groups_of(
            record.addrs.iter().map(String::as_str),
            params.allow_same_subnet,
        );
        Some(Self {
            record,
            signed: signed.clone(),
            peer,
            addrs,
            subnets,
        })
    }

    /// The hop a packet for this node is built with at `now`, if it has an
    /// onion key usable then ([`usable_onion_key`]).
    pub fn hop(&self, now: UnixMillis) -> Option<Hop> {
        Some(Hop {
            node: self.record.node,
            onion_key: usable_onion_key(&self.record, now)?,
        })
    }
}

/// Every verified, unexpired record, by node id.
#[derive(Debug, Clone)]
pub struct Directory {
    params: NetworkParams,
    nodes: BTreeMap<NodeId, NodeInfo>,
    /// The nodes by position, kept with `nodes`, for swarm lookups.
    index: SwarmIndex,
}

impl Directory {
    /// An empty directory for the network of `params`.
    pub fn new(params: NetworkParams) -> Self {
        Self {
            params,
            nodes: BTreeMap::new(),
            index: SwarmIndex::new(),
        }
    }

    /// The network's parameters.
    pub fn params(&self) -> &NetworkParams {
        &self.params
    }

    /// Verifies `signed` at `now` and keeps it unless the directory already
    /// holds a record of the node issued later, or is full. Returns whether the
    /// directory changed; a record that does not verify is counted in
    /// `rejected` and changes nothing.
    pub fn insert(
        &mut self,
        signed: &SignedNodeRecord,
        now: UnixMillis,
        rejected: &Rejected,
    ) -> bool {
        // A record byte-for-byte equal to one held (most of every refresh)
        // is not verified again: it was when it came in, and `prune` drops it
        // once it expires. Re-verifying whole pages was a tenth of a 300-node
        // simulation's CPU once its directories were complete.
        let held = signed
            .live_node_unverified(now)
            .and_then(|node| self.nodes.get(&node))
            .is_some_and(|old| old.signed == *signed);
        if held {
            return false;
        }
        let Some(info) = NodeInfo::verify(signed, &self.params, now) else {
            rejected.inc("directory", "bad_record");
            return false;
        };
        let node = info.record.node;
        match self.nodes.get(&node) {
            Some(old) if old.record.issued_at >= info.record.issued_at => false,
            Some(_) => {
                // A new admission proof (the next epoch's) is a new position;
                // new addresses may be new network groups.
                let groups = info.record.swarm_groups(self.params.allow_same_subnet);
                self.index
                    .insert_grouped(node, info.record.admission, groups);
                self.nodes.insert(node, info);
                true
            }
            None if self.nodes.len() >= MAX_NODES => {
                rejected.inc("directory", "full");
                false
            }
            None => {
                let groups = info.record.swarm_groups(self.params.allow_same_subnet);
                self.index
                    .insert_grouped(node, info.record.admission, groups);
                self.nodes.insert(node, info);
                true
            }
        }
    }

    /// Drops records that expired, or that have no usable onion key
    /// ([`usable_onion_key`]), at `now`. Returns how many were dropped.
    pub fn prune(&mut self, now: UnixMillis) -> usize {
        let gone: Vec<NodeId> = self
            .nodes
            .iter()
            .filter(|(_, n)| {
                n.record.expires_at <= now || usable_onion_key(&n.record, now).is_none()
            })
            .map(|(id, _)| *id)
            .collect();
        for id in &gone {
            self.nodes.remove(id);
            self.index.remove(id);
        }
        gone.len()
    }

    /// How many nodes it holds.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether it holds no node.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// One node.
    pub fn get(&self, node: &NodeId) -> Option<&NodeInfo> {
        self.nodes.get(node)
    }

    /// Every node.
    pub fn nodes(&self) -> impl Iterator<Item = &NodeInfo> {
        self.nodes.values()
    }

    /// Every node id, in order.
    pub fn ids(&self) -> Vec<NodeId> {
        self.nodes.keys().copied().collect()
    }

    /// The swarm of `account` by this directory: the protocol's swarm
    /// function (`swarm_for_diverse` over `netgroup::swarm_groups`, the rule
    /// nodes apply) answered by an index.
    pub fn swarm(&self, account: &AccountId) -> Vec<NodeId> {
        self.index
            .swarm_diverse(account, usize::from(self.params.swarm_size))
    }
}

/// Fetches the directory at start and every `directory_refresh` after, until
/// shutdown. A failed fetch keeps the old directory; while the directory is
/// empty the fetch is retried sooner. Before a fetch, when the clock asks for
/// it (at start, until a bootstrap node has answered; later when nodes agree
/// the clock is far off), the bootstrap nodes are asked for the time first,
/// so records and onion keys are checked with the network's time. Every
/// `path_directory_interval`, once paths are ready, random directory nodes are
/// asked through them as well (`via_paths`).
pub(crate) async fn refresh_loop(inner: std::sync::Arc<crate::request::Inner>) {
    use tokio::time::Instant;
    let mut shutdown = inner.shutdown.clone();
    let mut backoff = crate::paths::Backoff::default();
    let mut next_bootstrap = Instant::now();
    let mut next_via_paths = Instant::now();
    loop {
        if Instant::now() >= next_bootstrap {
            let wait = from_bootstrap(&inner, &mut backoff).await;
            next_bootstrap = Instant::now() + wait;
        }
        // Nodes reached through paths, too (nothing while no path is ready),
        // on their own schedule: whether or not the bootstrap nodes answer.
        if Instant::now() >= next_via_paths {
            let records = via_paths::fetch_via_paths(&inner).await;
            if !records.is_empty() {
                merge(&inner, &records);
            }
            next_via_paths = Instant::now() + inner.config.path_directory_interval;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(next_bootstrap.min(next_via_paths)) => {}
            // Nodes agree the clock is far off: sync and fetch again now.
            _ = inner.clock_wake.notified() => next_bootstrap = Instant::now(),
            _ = shutdown.changed() => return,
        }
    }
}

/// One fetch from the bootstrap nodes (after a clock sync when the clock asks
/// for one); returns how long to wait before the next.
async fn from_bootstrap(
    inner: &crate::request::Inner,
    backoff: &mut crate::paths::Backoff,
) -> std::time::Duration {
    if inner.clock.needs_sync() {
        sync_clock(
            &inner.net,
            &inner.config.bootstrap,
            &inner.clock,
            &inner.rejected,
        )
        .await;
    }
    let records = fetch(
        &inner.net,
        &inner.config.bootstrap,
        || inner.clock.now(),
        &inner.rejected,
    )
    .await;
    match records {
        Ok(records) => {
            backoff.reset();
            inner.wrong_network.send_if_modified(|w| w.take().is_some());
            inner.fetch_error.send_if_modified(|f| f.take().is_some());
            merge(inner, &records);
            inner.config.directory_refresh
        }
        Err(e) => {
            tracing::debug!("directory fetch failed: {e}");
            inner.fetch_error.send_replace(Some(e.to_string()));
            let empty = inner.dir(Directory::is_empty);
            if let (FetchError::WrongNetwork { theirs }, true) = (&e, empty) {
                let found = WrongNetwork {
                    ours: inner.config.params.name.clone(),
                    theirs: theirs.clone(),
                };
                tracing::warn!("{found}");
                inner.wrong_network.send_if_modified(|w| {
                    let changed = w.as_ref() != Some(&found);
                    *w = Some(found);
                    changed
                });
            }
            let soon = backoff.next_wait();
            if empty {
                soon
            } else {
                soon.min(inner.config.directory_refresh)
            }
        }
    }
}

/// Verifies and inserts `records` into the directory, prunes what expired, and
/// when that changed anything drops paths through nodes that left and wakes
/// the path builder.
fn merge(inner: &crate::request::Inner, records: &[SignedNodeRecord]) {
    let now = inner.clock.now();
    let (changed, len) = inner.dir_mut(|d| {
        let added = records
            .iter()
            .filter(|r| d.insert(r, now, &inner.rejected))
            .count();
        let pruned = d.prune(now);
        (added + pruned > 0, d.len())
    });
    tracing::debug!(nodes = len, "directory refreshed");
    if changed {
        // Paths through nodes that left are dropped; the builder may now have
        // enough nodes.
        let still: std::collections::HashSet<NodeId> = inner.dir(|d| d.ids().into_iter().collect());
        inner.paths.retain(|n| still.contains(n));
        inner.paths.wake.notify_one();
    }
}

#[cfg(test)]
mod tests;
