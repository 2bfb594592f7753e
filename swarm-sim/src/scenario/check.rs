//! Parsing a scenario and checking every rule a run relies on, so that a run
//! never fails half way for a reason visible in the file.

use std::collections::HashSet;

use sotto_protocol::NetworkParams;
use sotto_protocol::time::DAY_MS;

use super::{Fault, FaultKind, MAX_CLIENTS, MAX_MESSAGES, MAX_NODES, Scenario, ScenarioError};

/// Largest clock offset a scenario may give (a client or node a week off is
/// already far outside every window the protocol accepts).
pub const MAX_SKEW_MS: i64 = 7 * DAY_MS as i64;
/// Most flood stores a second.
pub const MAX_FLOOD_RATE: f64 = 200.0;
/// Largest flood message text, bytes (within one envelope).
pub const MAX_FLOOD_SIZE: usize = 30_000;

fn invalid(msg: impl Into<String>) -> ScenarioError {
    ScenarioError::Invalid(msg.into())
}

impl Scenario {
    /// Parses and checks a scenario.
    pub fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        let s: Scenario = toml::from_str(text)?;
        s.check()?;
        Ok(s)
    }

    /// The network parameters: devnet with the overrides.
    pub fn params(&self) -> Result<NetworkParams, ScenarioError> {
        let mut p = NetworkParams::devnet();
        if let Some(v) = self.network.swarm_size {
            p.swarm_size = v;
        }
        if let Some(v) = self.network.store_quorum {
            p.store_quorum = v;
        }
        if let Some(v) = self.network.handoff_grace_ms {
            p.handoff_grace_ms = v;
        }
        if let Some(v) = self.network.admission_difficulty {
            p.admission_difficulty = v;
        }
        if let Some(v) = self.network.position_period_ms {
            p.position_period_ms = v;
        }
        if let Some(v) = self.network.record_lifetime_ms {
            p.record_lifetime_ms = v;
        }
        p.validate().map_err(|e| invalid(format!("network: {e}")))?;
        Ok(p)
    }

    /// Checks every rule a run relies on.
    pub fn check(&self) -> Result<(), ScenarioError> {
        if self.name.is_empty()
            || !self
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                "name must be non-empty ASCII letters, digits, - or _",
            ));
        }
        if !(1..=MAX_NODES).contains(&self.nodes) {
            return Err(invalid(format!("nodes must be 1 to {MAX_NODES}")));
        }
        let groups_alone = self.clients == 0 && self.groups.is_some();
        if !(2..=MAX_CLIENTS).contains(&self.clients) && !groups_alone {
            return Err(invalid(format!(
                "clients must be 2 to {MAX_CLIENTS} (or 0 with a [groups] table)"
            )));
        }
        if self.duration_s == 0 || self.duration_s > 3_600 || self.drain_s > 600 {
            return Err(invalid(
                "duration_s must be 1 to 3600 and drain_s at most 600",
            ));
        }
        let params = self.params()?;
        if self.nodes < usize::from(params.swarm_size) + 3 {
            return Err(invalid(
                "nodes must be at least swarm_size + 3 (paths need 3 relays)",
            ));
        }
        match (self.messages.count, self.messages.rate) {
            (None | Some(0), None) if groups_alone => {}
            _ if groups_alone => {
                return Err(invalid(
                    "messages: a run without clients sends no messages of its own: leave [messages] out",
                ));
            }
            (Some(n), None) if n <= MAX_MESSAGES => {}
            (None, Some(r)) if r > 0.0 && r * (self.duration_s as f64) <= MAX_MESSAGES as f64 => {}
            _ => {
                return Err(invalid(format!(
                    "messages: give exactly one of count or rate (positive), at most {MAX_MESSAGES} in all"
                )));
            }
        }
        for o in &self.offline {
            if o.client >= self.clients || o.from_s >= o.to_s {
                return Err(invalid("offline: client out of range or from_s >= to_s"));
            }
        }
        let mut skewed = HashSet::new();
        for c in &self.clock_skew {
            if c.client >= self.clients || !skewed.insert(c.client) {
                return Err(invalid("clock_skew: client out of range or listed twice"));
            }
            if c.offset_ms.abs() > MAX_SKEW_MS {
                return Err(invalid(format!(
                    "clock_skew: offset_ms must be within ±{MAX_SKEW_MS}"
                )));
            }
        }
        if let Some(problem) = self.latency.problem() {
            return Err(invalid(problem));
        }
        if let Some(problem) = self
            .groups
            .as_ref()
            .and_then(|g| g.problem(self.duration_s))
        {
            return Err(invalid(problem));
        }
        self.check_flood()?;
        if let Some(a) = &self.attack {
            if a.client >= self.clients {
                return Err(invalid(
                    "attack: client is not one of the scenario's clients",
                ));
            }
            if !(a.rate > 0.0 && a.rate <= crate::attack::MAX_ATTACK_RATE) || a.from_s >= a.to_s {
                return Err(invalid(format!(
                    "attack: rate must be above 0 and at most {}, and from_s before to_s",
                    crate::attack::MAX_ATTACK_RATE
                )));
            }
            if a.victim.is_some_and(|v| v >= self.clients || v == a.client) {
                return Err(invalid(
                    "attack: victim must be one of the scenario's clients, not the attacker",
                ));
            }
        }
        if self.network.admission_difficulty.is_some_and(|d| d > 16) {
            // Every node mines its proof at start: 2^d hashes.
            return Err(invalid("network: admission_difficulty must be at most 16"));
        }
        if self.node.max_connections.is_some_and(|c| c < 64) {
            return Err(invalid("node: max_connections must be at least 64"));
        }
        self.check.check(super::criteria::Has {
            flood: self.flood.is_some(),
            sybil: self.sybil.is_some(),
            rotation: params.position_period_ms > 0,
            groups: self.groups.is_some(),
        })?;
        if self.node.store_burst == Some(0) || self.node.store_rate_per_minute == Some(0) {
            return Err(invalid(
                "node: store_burst and store_rate_per_minute must be positive",
            ));
        }
        if self
            .node
            .directory_pull_interval_ms
            .is_some_and(|v| !(100..=3_600_000).contains(&v))
        {
            return Err(invalid(
                "node: directory_pull_interval_ms must be 100 to 3600000",
            ));
        }
        if self.node.max_account_bytes.is_some_and(|b| b < 64 * 1024) {
            return Err(invalid("node: max_account_bytes must be at least 65536"));
        }
        let mut total = self.nodes;
        for f in &self.faults {
            total = self.check_fault(f, total)?;
        }
        Ok(())
    }

    fn check_flood(&self) -> Result<(), ScenarioError> {
        let Some(f) = &self.flood else {
            return Ok(());
        };
        let target = f.target.unwrap_or(f.client);
        if f.client >= self.clients || target >= self.clients {
            return Err(invalid("flood: client or target out of range"));
        }
        if (0..self.clients)
            .filter(|&c| super::scheduled(self, c))
            .count()
            < 2
        {
            return Err(invalid(
                "flood: at least two clients besides the flooder and its target are needed",
            ));
        }
        if !(f.rate > 0.0 && f.rate <= MAX_FLOOD_RATE) {
            return Err(invalid(format!(
                "flood: rate must be above 0 and at most {MAX_FLOOD_RATE}"
            )));
        }
        if f.from_s >= f.to_s || f.to_s > self.duration_s {
            return Err(invalid(
                "flood: from_s must be before to_s, within the sending window",
            ));
        }
        if !(1..=MAX_FLOOD_SIZE).contains(&f.size) {
            return Err(invalid(format!(
                "flood: size must be 1 to {MAX_FLOOD_SIZE}"
            )));
        }
        Ok(())
    }

    /// Checks one fault; returns the node count after it.
    fn check_fault(&self, f: &Fault, total: usize) -> Result<usize, ScenarioError> {
        if f.at_s >= self.duration_s + self.drain_s {
            return Err(invalid("fault at_s is after the end of the run"));
        }
        let takes_nodes = matches!(f.kind, FaultKind::Stop | FaultKind::Crash);
        if let Some(c) = f.swarm_of
            && (c >= self.clients || !takes_nodes)
        {
            return Err(invalid(
                "swarm_of: client out of range, or used with a kind other than stop or crash",
            ));
        }
        if f.groups.is_some() != (f.kind == FaultKind::Partition) {
            return Err(invalid("groups is for partition, and partition needs it"));
        }
        if f.offset_ms.is_some() != (f.kind == FaultKind::ClockSkew) {
            return Err(invalid(
                "offset_ms is for clock_skew, and clock_skew needs it",
            ));
        }
        match f.kind {
            FaultKind::Partition => return check_groups(f, total),
            FaultKind::Heal => {
                if f.nodes.is_some() || f.count.is_some() {
                    return Err(invalid("heal takes no nodes or count"));
                }
                return Ok(total);
            }
            FaultKind::ClockSkew => {
                if f.offset_ms.is_some_and(|o| o.abs() > MAX_SKEW_MS) {
                    return Err(invalid(format!(
                        "clock_skew: offset_ms must be within ±{MAX_SKEW_MS}"
                    )));
                }
                return match &f.nodes {
                    Some(n)
                        if f.count.is_none() && !n.is_empty() && n.iter().all(|&i| i < total) =>
                    {
                        Ok(total)
                    }
                    _ => Err(invalid(
                        "clock_skew needs nodes (indices of existing nodes)",
                    )),
                };
            }
            _ => {}
        }
        match (f.kind, &f.nodes, f.count) {
            (FaultKind::AddNodes, None, Some(n)) if (1..=MAX_NODES).contains(&n) => {
                let after = total + n;
                if after > MAX_NODES {
                    return Err(invalid(format!("more than {MAX_NODES} nodes in all")));
                }
                Ok(after)
            }
            (FaultKind::AddNodes, _, _) => Err(invalid("add_nodes needs count (and no nodes)")),
            (_, Some(nodes), None) if f.swarm_of.is_none() => {
                if nodes.is_empty() || nodes.iter().any(|&i| i == 0 || i >= total) {
                    return Err(invalid(
                        "fault nodes must be indices of existing nodes other than 0 (the bootstrap)",
                    ));
                }
                Ok(total)
            }
            (FaultKind::Restart, None, None) => Ok(total),
            (_, None, Some(n)) if takes_nodes && n >= 1 && n < total => Ok(total),
            _ => Err(invalid(
                "stop and crash need nodes or count (count with optional swarm_of); restart takes nodes or nothing (all stopped)",
            )),
        }
    }
}

/// Partition groups: non-empty, existing nodes, none in two groups.
fn check_groups(f: &Fault, total: usize) -> Result<usize, ScenarioError> {
    if f.nodes.is_some() || f.count.is_some() {
        return Err(invalid("partition takes groups, not nodes or count"));
    }
    let groups = f.groups.as_deref().unwrap_or_default();
    let mut seen = HashSet::new();
    if groups.is_empty() || groups.iter().any(|g| g.is_empty()) {
        return Err(invalid(
            "partition: groups must be non-empty lists of nodes",
        ));
    }
    for &i in groups.iter().flatten() {
        if i >= total || !seen.insert(i) {
            return Err(invalid(
                "partition: a node index is out of range or in two groups",
            ));
        }
    }
    Ok(total)
}
