//! The recent time samples of a few nodes, and the median vote over them.

use std::collections::VecDeque;
use std::time::Instant;

use sotto_protocol::NodeId;

use super::{MAX_SAMPLED_NODES, MIN_NODES, SAMPLE_MAX_AGE, SAMPLES_PER_NODE};

/// One node's recent samples (corrections its answers implied), newest last.
#[derive(Debug)]
pub(super) struct NodeSamples {
    pub(super) node: NodeId,
    pub(super) recent: VecDeque<i64>,
    last: Instant,
}

impl NodeSamples {
    /// The median of its samples (of an even count, the lower middle one).
    fn estimate(&self) -> Option<i64> {
        let mut v: Vec<i64> = self.recent.iter().copied().collect();
        v.sort_unstable();
        v.get(v.len().checked_sub(1)? / 2).copied()
    }
}

/// At most [`MAX_SAMPLED_NODES`] nodes with at most [`SAMPLES_PER_NODE`]
/// samples each.
#[derive(Debug, Default)]
pub(super) struct Samples {
    pub(super) nodes: Vec<NodeSamples>,
}

impl Samples {
    /// Forgets every sample.
    pub(super) fn clear(&mut self) {
        self.nodes.clear();
    }

    /// Adds `estimate` from `node`, taken at `at`. A new node beyond
    /// [`MAX_SAMPLED_NODES`] pushes out the one heard from longest ago.
    pub(super) fn add(&mut self, node: NodeId, estimate: i64, at: Instant) {
        if let Some(n) = self.nodes.iter_mut().find(|n| n.node == node) {
            if n.recent.len() >= SAMPLES_PER_NODE {
                n.recent.pop_front();
            }
            n.recent.push_back(estimate);
            n.last = at;
            return;
        }
        if self.nodes.len() >= MAX_SAMPLED_NODES
            && let Some(oldest) = self
                .nodes
                .iter()
                .enumerate()
                .min_by_key(|(_, n)| n.last)
                .map(|(i, _)| i)
        {
            self.nodes.swap_remove(oldest);
        }
        self.nodes.push(NodeSamples {
            node,
            recent: VecDeque::from([estimate]),
            last: at,
        });
    }

    /// The correction the sampled nodes vote for, with `current` as one more
    /// vote: the median of every node's estimate and `current`. Of two middle
    /// values (an odd number of nodes) the one nearer `current` wins, so the
    /// clock moves only as far as a majority agrees. `None` with samples of
    /// fewer than [`MIN_NODES`] nodes heard from within
    /// [`SAMPLE_MAX_AGE`] of `now` (older ones are dropped here).
    pub(super) fn vote(&mut self, current: i64, now: Instant) -> Option<i64> {
        self.nodes
            .retain(|n| now.saturating_duration_since(n.last) <= SAMPLE_MAX_AGE);
        if self.nodes.len() < MIN_NODES {
            return None;
        }
        let mut votes: Vec<i64> = self
            .nodes
            .iter()
            .filter_map(NodeSamples::estimate)
            .collect();
        votes.push(current);
        votes.sort_unstable();
        let n = votes.len();
        let upper = *votes.get(n / 2)?;
        if n % 2 == 1 {
            return Some(upper);
        }
        let lower = *votes.get(n / 2 - 1)?;
        let nearer = if lower.abs_diff(current) <= upper.abs_diff(current) {
            lower
        } else {
            upper
        };
        Some(nearer)
    }
}
