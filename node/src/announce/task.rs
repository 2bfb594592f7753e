//! The announcer task: publishes the node's record, keeps it fresh, expires
//! other nodes' records and pulls the directory now and then.

use std::sync::Arc;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use rand::seq::IndexedRandom;
use sotto_protocol::position::epoch;
use sotto_protocol::record::NodeRecord;
use sotto_protocol::record::admission::mine_admission;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::{AnnounceError, pull_directory};
use crate::context::Context;
use crate::directory::VerifiedRecord;
use crate::identity::Identity;

/// How often the task wakes up: the start-up retries and every interval
/// below are multiples of it.
const TICK: Duration = Duration::from_secs(1);
/// For this long after start, the record waits to be published until
/// [`WELL_MESHED`] peers take records (it is in the own directory, and so in
/// every pull from this node, at once): peers say so only once they have
/// exchanged subscriptions, so a publication made at once often reached
/// nobody and had to be made again. Every publication is a fresh record that
/// every node of the network receives from each of its mesh peers and
/// verifies once, so each one made again costs the whole network: at 998
/// nodes starting together, repeats were a quarter of the records nodes
/// verified (213,569 updates beside 675,664 new in one run; with the hold,
/// 0 beside 638,064). Past this hold the record goes out however few peers
/// take it.
const STARTUP_HOLD: Duration = Duration::from_secs(20);
/// For this long after start the record is published again every
/// [`STARTUP_REPUBLISH`] for as long as the last publication went to fewer
/// than [`WELL_MESHED`] peers (only a record published at the end of
/// [`STARTUP_HOLD`] can). Once one went out to a few peers, their meshes
/// carry it to every node, and the next publication is the one the record's
/// age calls for.
const STARTUP_WINDOW: Duration = Duration::from_secs(60);
/// See [`STARTUP_WINDOW`].
const STARTUP_REPUBLISH: Duration = Duration::from_secs(5);
/// See [`STARTUP_HOLD`]: as many peers as the smallest gossip mesh
/// gossipsub keeps without grafting more.
const WELL_MESHED: usize = crate::net::GOSSIP_MESH_LOW;
/// After a failed pull, the next try comes this soon (or at the pull
/// interval, if shorter), so a node that starts before its bootstrap peer
/// still fills its directory quickly.
const PULL_RETRY: Duration = Duration::from_secs(5);
/// After a pull that brought a new node, the next comes this soon (or at the
/// pull interval, if shorter): while a network is forming, or after many
/// nodes joined, a delta pull moves many records in one answer where gossip
/// moves each alone, and the peer's answer costs it one filter check per
/// record. Once a pull brings nothing new, pulls go back to the interval.
const PULL_AGAIN: Duration = Duration::from_secs(1);

/// Makes the node's record from the swarm's listen addresses, keeps it in the
/// own directory and publishes it. Fails with
/// [`AnnounceError::NoListenAddrs`] before the swarm listens anywhere.
pub async fn announce_once(ctx: &Context, identity: &Identity) -> Result<(), AnnounceError> {
    let (_, bytes) = make(ctx, identity).await?;
    let reached = ctx.net.publish(bytes).await?;
    tracing::debug!(reached, "node record published");
    Ok(())
}

/// Makes the record and keeps it in the own directory; returns it with its
/// encoding, for publication.
async fn make(ctx: &Context, identity: &Identity) -> Result<(NodeRecord, Vec<u8>), AnnounceError> {
    let listen = ctx.net.listen_addrs().await?;
    if listen.is_empty() {
        return Err(AnnounceError::NoListenAddrs);
    }
    // The operator's external addresses first (checked at start), so that a
    // full record keeps them over interface addresses.
    let addrs: Vec<Multiaddr> = ctx
        .config
        .external
        .iter()
        .filter_map(|a| a.parse().ok())
        .chain(listen)
        .collect();
    let now = ctx.clock.now();
    let signed = identity.record(&ctx.params, &addrs, now)?;
    // Verifying our own record catches a clock or parameter mistake here,
    // rather than in every other node's logs.
    let bytes = signed.encode().map_err(AnnounceError::Encode)?;
    let verified =
        VerifiedRecord::verify(signed, &ctx.params, now).map_err(AnnounceError::OwnRecord)?;
    let record = verified.record().clone();
    let kept = ctx.dir_mut(|d| {
        let r = d.insert(verified, now);
        ctx.metrics.directory_nodes.set_count(d.len());
        r
    });
    if let Err(e) = kept {
        tracing::warn!(error = %e, "the own node record does not fit in the directory");
    }
    tracing::debug!(addrs = record.addrs.len(), "node record made");
    Ok((record, bytes))
}

/// Starts the announcer: makes the record as soon as the swarm listens
/// (retrying every second) and publishes it once a few peers take records
/// or [`STARTUP_HOLD`] has passed (again every few seconds during the first
/// minute if that publication reached too few peers), then checks every `directory.check_interval_ms` (expiring records,
/// rotating onion keys, re-announcing before the record expires) and pulls
/// the directory from a random connected peer every
/// `directory.pull_interval_ms`. Ends when `shutdown` turns true or its
/// sender is dropped.
pub fn spawn(
    ctx: Arc<Context>,
    identity: Arc<Identity>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(run(ctx, identity, shutdown))
}

async fn run(ctx: Arc<Context>, identity: Arc<Identity>, mut shutdown: watch::Receiver<bool>) {
    let dir_cfg = &ctx.config.directory;
    let check_every = Duration::from_millis(dir_cfg.check_interval_ms.max(1));
    let pull_every = Duration::from_millis(dir_cfg.pull_interval_ms.max(1));
    let margin = dir_cfg.reannounce_margin_ms;
    let started = Instant::now();
    let mut own: Option<NodeRecord> = None;
    // The newest record made, until it is published.
    let mut pending: Option<Vec<u8>> = None;
    let mut last_publish: Option<Instant> = None;
    let mut last_reached = 0;
    let mut next_check = started + check_every;
    let mut next_pull = started;
    let mut warned = false;
    loop {
        if *shutdown.borrow() {
            break;
        }
        let now = Instant::now();
        let early_republish = now.duration_since(started) < STARTUP_WINDOW
            && last_reached < WELL_MESHED
            && last_publish.is_some_and(|t| now.duration_since(t) >= STARTUP_REPUBLISH);
        let mut want_announce = own.is_none() || early_republish;
        if want_announce || now >= next_check {
            let wall = ctx.clock.now();
            tokio::select! {
                () = mine_ahead(&ctx, &identity, wall) => {}
                _ = shutdown.changed() => break,
            }
        }

        if now >= next_check {
            next_check = now + check_every;
            let wall = ctx.clock.now();
            let gone = ctx.dir_mut(|d| {
                let gone = d.expire(wall);
                ctx.metrics.directory_nodes.set_count(d.len());
                gone.len()
            });
            if gone > 0 {
                tracing::debug!(gone, "expired node records dropped");
            }
            let rotated = rotate(&ctx, &identity, wall).await;
            let stale = own
                .as_ref()
                .is_some_and(|r| r.needs_reannounce(wall, margin));
            want_announce |= rotated || stale;
        }

        if want_announce {
            match make(&ctx, &identity).await {
                Ok((record, bytes)) => {
                    if own.is_none() {
                        tracing::info!("node record made");
                    }
                    own = Some(record);
                    pending = Some(bytes);
                    warned = false;
                }
                Err(AnnounceError::NoListenAddrs) => {}
                Err(e) => {
                    // Once per failure streak: it retries every second.
                    if !warned {
                        tracing::warn!(error = %e, "cannot make the node record");
                        warned = true;
                    }
                }
            }
        }

        if let Some(bytes) = &pending {
            let holding = now.duration_since(started) < STARTUP_HOLD;
            let min_peers = if holding { WELL_MESHED } else { 0 };
            match ctx.net.publish_to_at_least(bytes.clone(), min_peers).await {
                // Held back: tried again next tick.
                Ok(0) if holding => {}
                Ok(reached) => {
                    if last_publish.is_none() {
                        tracing::info!(reached, "node record published");
                    }
                    pending = None;
                    last_publish = Some(now);
                    last_reached = reached;
                }
                Err(e) => tracing::debug!(error = %e, "cannot publish the node record"),
            }
        }

        if now >= next_pull
            && let Some(peer) = pick_peer(&ctx).await
        {
            let pulled = tokio::select! {
                r = pull_directory(&ctx, peer) => r,
                _ = shutdown.changed() => break,
            };
            next_pull = match pulled {
                Ok(new) => {
                    tracing::debug!(new, "directory pulled");
                    if new > 0 {
                        Instant::now() + pull_every.min(PULL_AGAIN)
                    } else {
                        Instant::now() + pull_every
                    }
                }
                Err(e) => {
                    ctx.metrics.rejected.inc("pull", pull_failure(&e));
                    tracing::debug!(error = %e, "directory pull failed");
                    Instant::now() + pull_every.min(PULL_RETRY)
                }
            };
        }

        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
            }
        }
    }
}

/// Mines, off the async threads, the admission proofs the node will need:
/// the one a record made at `now` carries and, where positions rotate, the
/// next epoch's, so the record published at the boundary is not held up by
/// the work (8.5 s of one core at the public difficulty).
pub(super) async fn mine_ahead(
    ctx: &Context,
    identity: &Arc<Identity>,
    now: sotto_protocol::UnixMillis,
) {
    let period = ctx.params.position_period_ms;
    let (due, missing) = identity.epoch_due(now, &ctx.params);
    let mut wanted = Vec::new();
    if missing {
        wanted.push(due);
    }
    let next = epoch::epoch_at(&identity.node_id(), now, period).saturating_add(1);
    if period > 0 && identity.admission_for(next).is_none() && next != due {
        wanted.push(next);
    }
    for epoch in wanted {
        let id = identity.clone();
        let difficulty = ctx.params.admission_difficulty;
        let mined = tokio::task::spawn_blocking(move || {
            let proof = mine_admission(&id.node_id(), epoch, difficulty);
            id.add_admission(proof, epoch == due)
        })
        .await;
        match mined {
            Ok(Ok(())) => tracing::info!(epoch, "admission proof mined for a position epoch"),
            Ok(Err(e)) => tracing::warn!(error = %e, epoch, "cannot keep the admission proof"),
            Err(e) => tracing::warn!(error = %e, epoch, "admission mining task failed"),
        }
    }
}

/// Rotates the onion keys if due (the key file write runs off the async
/// threads); whether it rotated.
async fn rotate(ctx: &Context, identity: &Arc<Identity>, now: sotto_protocol::UnixMillis) -> bool {
    // Most checks find nothing due; a blocking thread woken every check of
    // every node cost the simulator a good share of its context switches.
    if !identity.rotation_due(now, &ctx.params) {
        return false;
    }
    let id = identity.clone();
    let params = ctx.params.clone();
    match tokio::task::spawn_blocking(move || id.rotate_if_due(now, &params)).await {
        Ok(Ok(rotated)) => {
            if rotated {
                tracing::info!("onion key rotated");
            }
            rotated
        }
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "cannot rotate the onion key");
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "onion key rotation task failed");
            false
        }
    }
}

/// A random connected peer to pull from, preferring known nodes (clients
/// connect too, and do not serve the directory); any connected peer before
/// the directory knows one (the bootstrap peer at start).
async fn pick_peer(ctx: &Context) -> Option<PeerId> {
    let peers = ctx.net.connected_peers().await.ok()?;
    let nodes: Vec<PeerId> = ctx.dir(|d| {
        peers
            .iter()
            .filter(|p| d.node_of_peer(p).is_some_and(|n| n != ctx.node_id))
            .copied()
            .collect()
    });
    let pool = if nodes.is_empty() { &peers } else { &nodes };
    pool.choose(&mut rand::rng()).copied()
}

/// A metrics label for why a pull failed.
fn pull_failure(e: &AnnounceError) -> &'static str {
    use crate::net::NetError;
    match e {
        AnnounceError::Net(NetError::Timeout(..)) => "failed_timeout",
        AnnounceError::Net(NetError::Unreachable { .. }) => "failed_unreachable",
        AnnounceError::Net(NetError::Busy) => "failed_busy",
        AnnounceError::Net(_) => "failed_net",
        _ => "failed_answer",
    }
}
