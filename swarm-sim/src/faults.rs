//! Applying a scenario's faults to the running net.

use rand::SeedableRng;
use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use serde::Serialize;
use sotto_protocol::AccountId;

use crate::SimError;
use crate::net::SimNet;
use crate::scenario::{Fault, FaultKind};

/// A fault as it was applied.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    /// When, in ms from the start of sending.
    pub at_ms: u64,
    /// What (`stop`, `crash`, `restart`, `add_nodes`, `partition`, `heal`,
    /// `clock_skew`).
    pub kind: &'static str,
    /// The nodes it touched, by index (for a partition: the nodes cut off
    /// from node 0's side).
    pub nodes: Vec<usize>,
}

/// The name of a kind in the report.
fn kind_name(k: FaultKind) -> &'static str {
    match k {
        FaultKind::Stop => "stop",
        FaultKind::Crash => "crash",
        FaultKind::Restart => "restart",
        FaultKind::AddNodes => "add_nodes",
        FaultKind::Partition => "partition",
        FaultKind::Heal => "heal",
        FaultKind::ClockSkew => "clock_skew",
    }
}

/// Which running nodes a stop takes: the listed ones, `count` members of a
/// client's swarm (node 0 excepted: it is everyone's bootstrap; members no
/// earlier fault stopped first, so that faults in turn hit different nodes),
/// or `count` nodes drawn with the seed.
fn stop_targets(
    net: &SimNet,
    f: &Fault,
    seed: u64,
    number: usize,
    accounts: &[AccountId],
    earlier: &[Applied],
) -> Vec<usize> {
    if let Some(nodes) = &f.nodes {
        return nodes.clone();
    }
    let count = f.count.unwrap_or(0);
    if let Some(account) = f.swarm_of.and_then(|c| accounts.get(c)) {
        let mut members: Vec<usize> = net
            .swarm(account)
            .iter()
            .filter_map(|n| net.index_of(n))
            .filter(|&i| i != 0 && net.slots.get(i).is_some_and(|s| s.node.is_some()))
            .collect();
        let was_stopped = |i: usize| {
            earlier
                .iter()
                .any(|a| (a.kind == "stop" || a.kind == "crash") && a.nodes.contains(&i))
        };
        members.sort_unstable_by_key(|&i| (was_stopped(i), i));
        members.truncate(count);
        members.sort_unstable();
        return members;
    }
    let mut pool: Vec<usize> = net.running().map(|(i, _)| i).filter(|&i| i != 0).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (number as u64).wrapping_mul(0x9e37_79b9));
    pool.shuffle(&mut rng);
    pool.truncate(count);
    pool.sort_unstable();
    pool
}

/// Applies fault number `number` (its index in the scenario) now, after the
/// `earlier` ones.
pub async fn apply(
    net: &mut SimNet,
    f: &Fault,
    seed: u64,
    number: usize,
    at_ms: u64,
    accounts: &[AccountId],
    earlier: &[Applied],
) -> Result<Applied, SimError> {
    let nodes = match f.kind {
        FaultKind::Stop => {
            let targets = stop_targets(net, f, seed, number, accounts, earlier);
            for &i in &targets {
                net.stop(i).await?;
            }
            targets
        }
        FaultKind::Crash => {
            let targets = stop_targets(net, f, seed, number, accounts, earlier);
            for &i in &targets {
                net.crash(i).await?;
            }
            targets
        }
        FaultKind::Partition => {
            let groups = f.groups.clone().unwrap_or_default();
            net.partition(groups).await?;
            // Reported: who is away from node 0 (everyone's bootstrap).
            let zero = net.group_of(0);
            (0..net.slots.len())
                .filter(|&i| net.group_of(i) != zero)
                .collect()
        }
        FaultKind::Heal => {
            net.heal().await?;
            Vec::new()
        }
        FaultKind::ClockSkew => {
            let targets = f.nodes.clone().unwrap_or_default();
            for &i in &targets {
                net.skew(i, f.offset_ms.unwrap_or(0))?;
            }
            targets
        }
        FaultKind::Restart => {
            let targets = f.nodes.clone().unwrap_or_else(|| net.stopped());
            for &i in &targets {
                net.restart(i).await?;
            }
            targets
        }
        FaultKind::AddNodes => {
            let mut added = Vec::new();
            for _ in 0..f.count.unwrap_or(0) {
                added.push(net.add_node().await?);
            }
            added
        }
    };
    Ok(Applied {
        at_ms,
        kind: kind_name(f.kind),
        nodes,
    })
}
