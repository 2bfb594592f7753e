//! Figures of a run whose node positions rotate (`position_period_ms` above
//! 0): how many nodes moved to a new position epoch and how many clients'
//! swarms changed members while messages were flowing. With `lost` 0 they
//! show that positions which expire cost no acknowledged message.

use std::collections::HashMap;

use serde::Serialize;
use sotto_protocol::{AccountId, NodeId};

use crate::net::SimNet;

/// Position epochs and swarms as the first running node's directory saw them
/// when clients started.
#[derive(Debug, Clone, Default)]
pub struct Start {
    epochs: HashMap<NodeId, u64>,
    swarms: Vec<Vec<NodeId>>,
}

/// What moved between [`start`] and [`figures`].
#[derive(Debug, Clone, Serialize)]
pub struct PositionFigures {
    /// The network's position period, ms.
    pub period_ms: u64,
    /// Nodes listed at the end.
    pub nodes: u64,
    /// Of those, nodes whose record at the end carries a later epoch than
    /// at the start (each moved to a new, random place).
    pub nodes_moved: u64,
    /// Clients' swarms.
    pub swarms: u64,
    /// Of those, swarms whose members changed over the run.
    pub swarms_changed: u64,
    /// Members that left clients' swarms over the run (each handed its data
    /// to the new members).
    pub members_replaced: u64,
}

/// Each listed node's epoch, as the first running node's directory has it.
fn epochs(net: &SimNet) -> HashMap<NodeId, u64> {
    net.running()
        .next()
        .map(|(_, n)| {
            n.context().dir(|d| {
                d.entries()
                    .map(|e| (e.record.node, e.record.admission.epoch))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// Notes where everything is when clients start.
pub fn start(net: &SimNet, accounts: &[AccountId]) -> Start {
    Start {
        epochs: epochs(net),
        swarms: accounts.iter().map(|a| net.swarm(a)).collect(),
    }
}

/// What moved since `start`.
pub fn figures(net: &SimNet, start: &Start, accounts: &[AccountId]) -> PositionFigures {
    let now = epochs(net);
    let nodes_moved = now
        .iter()
        .filter(|(n, e)| start.epochs.get(n).is_some_and(|before| *e > before))
        .count() as u64;
    let mut swarms_changed = 0;
    let mut members_replaced = 0;
    for (a, before) in accounts.iter().zip(&start.swarms) {
        let after = net.swarm(a);
        let left = before.iter().filter(|m| !after.contains(m)).count() as u64;
        if left > 0 {
            swarms_changed += 1;
        }
        members_replaced += left;
    }
    PositionFigures {
        period_ms: net.params.position_period_ms,
        nodes: now.len() as u64,
        nodes_moved,
        swarms: accounts.len() as u64,
        swarms_changed,
        members_replaced,
    }
}
