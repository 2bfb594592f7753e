//! The overlay: every node keeps [`OUTBOUND`] connections to nodes of its
//! directory drawn at random, so that the nodes form one random graph in
//! which gossip meshes form and records spread, whatever the network's size.
//!
//! Each node dials its few and is dialled by about as many, so its
//! connections (and what they cost: buffers, pings, gossip heartbeats) stay
//! about the same at 25 nodes and at 2,000. Random picks make the graph an
//! expander with high probability (a random regular graph of degree at least
//! 3 is connected and has logarithmic diameter), so a record gossiped by any
//! node reaches every other in a few hops; a node whose picks all went to one
//! attacker would still hear of the rest by its directory pulls, which pick a
//! connected node at random every interval. Connections nobody uses are
//! closed by the network task (`net::trim`), never those of the gossip mesh.
//!
//! The picks draw on the whole directory, not on who answers first, so an
//! attacker cannot crowd a node's overlay by being fast; it can only do so
//! by holding many places in the directory, which the admission proofs and
//! the per-subnet rules make costly.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use rand::RngExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::context::Context;

/// Connections to directory nodes a node keeps dialled (Bitcoin Core keeps 8
/// outbound full-relay connections; the gossip mesh aims at 3 peers,
/// `net::GOSSIP_MESH`).
pub const OUTBOUND: usize = 8;
/// How often the count is checked.
const EVERY: Duration = Duration::from_secs(2);
/// Dials started per check, so that a node that lost its connections
/// refills them over a few checks instead of dialling a crowd at once.
const DIALS_PER_CHECK: usize = 3;

/// Every this many checks, one more random node is dialled even when the
/// node has its [`OUTBOUND`] (a "feeler", as Bitcoin Core calls its
/// short-lived extra connections): picks made when the directory was small
/// (every node of a network that starts at once) would otherwise stay
/// within the few nodes known then, and the graph would keep their
/// clusters. Connections the feelers add are closed when idle
/// (`net::trim`).
const FEELER_EVERY_CHECKS: u32 = 5;

/// Starts the overlay task; it ends when `shutdown` turns true or its
/// sender is dropped.
pub fn spawn(ctx: Arc<Context>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut checks: u32 = 0;
        loop {
            if *shutdown.borrow() {
                break;
            }
            checks = checks.wrapping_add(1);
            top_up(&ctx, checks.is_multiple_of(FEELER_EVERY_CHECKS)).await;
            tokio::select! {
                _ = tokio::time::sleep(EVERY) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
    })
}

/// Dials up to [`DIALS_PER_CHECK`] random directory nodes when fewer than
/// [`OUTBOUND`] are connected, and one anyway when `feeler`; connections a
/// node did not dial count too (what matters is that it has neighbours, not
/// who called whom). With no directory node connected, it dials the
/// bootstrap peers again.
async fn top_up(ctx: &Context, feeler: bool) {
    let Ok(connected) = ctx.net.connected_peers().await else {
        return;
    };
    let connected: HashSet<PeerId> = connected.into_iter().collect();
    let (linked, picks) = ctx.dir(|d| {
        let linked = connected
            .iter()
            .filter(|p| d.node_of_peer(p).is_some())
            .count();
        (linked, picks(d, &connected, linked, ctx.peer_id, feeler))
    });
    if linked == 0 {
        redial_bootstrap(ctx, &connected).await;
    }
    for (peer, addrs) in picks {
        if let Err(e) = ctx.net.dial_peer(peer, addrs).await {
            tracing::debug!(error = %e, "overlay dial not started");
        }
    }
}

/// Dials the configured bootstrap peers not connected now: a node that knows
/// no other node (it started before its bootstrap peer listened, or lost
/// every connection) would otherwise wait for nobody. A bootstrap address
/// without a peer id is dialled only while nothing at all is connected.
async fn redial_bootstrap(ctx: &Context, connected: &HashSet<PeerId>) {
    for addr in &ctx.config.bootstrap {
        let Ok(addr) = addr.parse::<Multiaddr>() else {
            continue;
        };
        let dialled = match crate::net::split_peer(&addr) {
            Some((peer, _)) if connected.contains(&peer) => continue,
            Some((peer, base)) => ctx.net.dial_peer(peer, vec![base]).await,
            None if connected.is_empty() => ctx.net.dial(addr).await,
            None => continue,
        };
        if let Err(e) = dialled {
            tracing::debug!(error = %e, "bootstrap redial not started");
        }
    }
}

/// The nodes to dial: none when [`OUTBOUND`] directory nodes are connected
/// already (`linked` of them are; one if `feeler`), else up to [`DIALS_PER_CHECK`] drawn at random
/// among those not connected, with the addresses of their records. Costs O(connections),
/// not O(directory): draws are by index.
fn picks(
    d: &crate::directory::Directory,
    connected: &HashSet<PeerId>,
    linked: usize,
    own: PeerId,
    feeler: bool,
) -> Vec<(PeerId, Vec<Multiaddr>)> {
    let want = OUTBOUND
        .saturating_sub(linked)
        .max(usize::from(feeler))
        .min(DIALS_PER_CHECK);
    let nodes = d.nodes();
    let mut rng = rand::rng();
    let mut chosen: Vec<(PeerId, Vec<Multiaddr>)> = Vec::with_capacity(want);
    // A few draws more than wanted: some land on connected nodes or twice
    // on one; what is still missing is drawn at the next check.
    for _ in 0..want * 4 {
        if chosen.len() == want || nodes.is_empty() {
            break;
        }
        let Some(entry) = nodes
            .get(rng.random_range(0..nodes.len()))
            .and_then(|n| d.get(n))
        else {
            continue;
        };
        if entry.peer == own
            || connected.contains(&entry.peer)
            || chosen.iter().any(|(p, _)| *p == entry.peer)
        {
            continue;
        }
        let addrs = entry
            .record
            .addrs
            .iter()
            .filter_map(|a| a.parse::<Multiaddr>().ok())
            .collect();
        chosen.push((entry.peer, addrs));
    }
    chosen
}

#[cfg(test)]
mod tests {
    use sotto_protocol::constants::PROTOCOL_VERSION;
    use sotto_protocol::record::{NodeRecord, OnionKeyEntry};
    use sotto_protocol::{NetworkParams, NodeKey, OnionSecret};

    use super::*;
    use crate::directory::{Directory, VerifiedRecord, peer_id_of};

    const NOW: u64 = 1_800_000_000_000;
    const HOUR: u64 = 3_600_000;

    /// A directory of `n` nodes; returns it with their peer ids.
    fn directory(n: u8) -> (Directory, Vec<PeerId>) {
        let params = NetworkParams::devnet();
        let mut d = Directory::new(params.clone(), 1_000);
        let mut peers = Vec::new();
        for i in 0..n {
            let key = NodeKey::from_secret_bytes(&[i.wrapping_add(1); 32]);
            let record = NodeRecord {
                version: PROTOCOL_VERSION,
                network: "devnet".into(),
                node: key.node_id(),
                addrs: vec![format!("/ip4/127.0.0.1/tcp/{}", 4100 + u16::from(i))],
                onion_keys: vec![OnionKeyEntry {
                    key: OnionSecret::from_secret_bytes([7; 32]).public(),
                    valid_from: NOW,
                    valid_until: NOW + HOUR,
                }],
                issued_at: NOW,
                expires_at: NOW + HOUR,
                admission: sotto_protocol::record::admission::Admission::default(),
            };
            let signed = record.sign(&key).unwrap();
            let verified = VerifiedRecord::verify(signed, &params, NOW).unwrap();
            d.insert(verified, NOW).unwrap();
            peers.push(peer_id_of(&key.node_id()).unwrap());
        }
        (d, peers)
    }

    #[test]
    fn a_node_short_of_neighbours_dials_a_few_distinct_strangers_with_their_addresses() {
        let (d, peers) = directory(40);
        let own = peers[0];
        let connected: HashSet<PeerId> = peers[1..3].iter().copied().collect();
        let picks = picks(&d, &connected, 2, own, false);
        assert_eq!(picks.len(), DIALS_PER_CHECK);
        let distinct: HashSet<PeerId> = picks.iter().map(|(p, _)| *p).collect();
        assert_eq!(distinct.len(), picks.len());
        for (peer, addrs) in &picks {
            assert!(*peer != own && !connected.contains(peer));
            assert_eq!(addrs.len(), 1);
        }
    }

    #[test]
    fn a_node_with_its_neighbours_dials_only_a_feeler() {
        let (d, peers) = directory(40);
        let connected: HashSet<PeerId> = peers[1..=OUTBOUND].iter().copied().collect();
        assert!(picks(&d, &connected, OUTBOUND, peers[0], false).is_empty());
        let feeler = picks(&d, &connected, OUTBOUND, peers[0], true);
        assert_eq!(feeler.len(), 1);
        assert!(!connected.contains(&feeler[0].0) && feeler[0].0 != peers[0]);
    }

    #[test]
    fn a_node_alone_in_its_directory_dials_nobody() {
        let (d, peers) = directory(1);
        assert!(picks(&d, &HashSet::new(), 0, peers[0], true).is_empty());
    }
}
