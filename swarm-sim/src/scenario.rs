//! What a run does: the scenario file (TOML), its checks, and the seeded
//! schedule of messages and faults derived from it.

mod schedule;

use serde::Deserialize;
use sotto_protocol::NetworkParams;

pub use schedule::{Planned, online, schedule};

/// Most nodes or clients one in-process run may start (memory and file
/// handles are bounded by this).
pub const MAX_NODES: usize = 200;
/// Most clients one run may start.
pub const MAX_CLIENTS: usize = 64;
/// Most messages one run may schedule.
pub const MAX_MESSAGES: usize = 20_000;

/// A scenario as written in its TOML file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Its name (the default output directory is named after it).
    pub name: String,
    /// Seeds accounts, the message schedule and random fault targets.
    pub seed: u64,
    /// Nodes started before the clients.
    pub nodes: usize,
    /// Clients, one account each.
    pub clients: usize,
    /// How long messages are sent, in seconds.
    pub duration_s: u64,
    /// How long receivers may keep reading after the last send, in seconds.
    #[serde(default = "default_drain")]
    pub drain_s: u64,
    /// How many messages, or at what rate.
    pub messages: Messages,
    /// Windows in which a client neither sends nor reads.
    #[serde(default)]
    pub offline: Vec<Offline>,
    /// Overrides of the devnet parameters.
    #[serde(default)]
    pub network: NetworkOverrides,
    /// Faults applied at their times.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Network partitions (refused: not supported yet).
    #[serde(default)]
    pub partitions: Option<toml::Value>,
    /// Clock skews (refused: not supported yet).
    #[serde(default)]
    pub clock_skew: Option<toml::Value>,
}

fn default_drain() -> u64 {
    15
}

/// How many messages are sent over the run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Messages {
    /// Exactly this many, spread evenly at random over the duration.
    pub count: Option<usize>,
    /// This many per second on average.
    pub rate: Option<f64>,
}

/// A client that is away from `from_s` to `to_s`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Offline {
    /// The client's index.
    pub client: usize,
    /// When it goes away (seconds from the start of sending).
    pub from_s: u64,
    /// When it is back.
    pub to_s: u64,
}

/// Network parameters that a scenario may change from devnet's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkOverrides {
    /// Members of each swarm.
    pub swarm_size: Option<u8>,
    /// Members that must hold a message before a store is acknowledged.
    pub store_quorum: Option<u8>,
    /// How long a former member keeps data after leaving a swarm.
    pub handoff_grace_ms: Option<u64>,
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Stop nodes cleanly (their data stays on disk).
    Stop,
    /// Kill nodes without a clean stop (refused: not supported yet).
    Crash,
    /// Start stopped nodes again on their data.
    Restart,
    /// Start new nodes.
    AddNodes,
    /// Split the network (refused: not supported yet).
    Partition,
    /// Skew nodes' clocks (refused: not supported yet).
    ClockSkew,
}

/// One fault.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// When, in seconds from the start of sending.
    pub at_s: u64,
    /// What.
    pub kind: FaultKind,
    /// Which nodes, by index.
    pub nodes: Option<Vec<usize>>,
    /// How many nodes (chosen by the seed, or from `swarm_of`'s swarm).
    pub count: Option<usize>,
    /// Take the nodes from the swarm of this client's account.
    pub swarm_of: Option<usize>,
}

/// Why a scenario cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// The TOML does not parse or has unknown keys.
    #[error("scenario does not parse: {0}")]
    Parse(#[from] toml::de::Error),
    /// A value is out of range or inconsistent.
    #[error("scenario is invalid: {0}")]
    Invalid(String),
    /// A feature the simulator does not have yet.
    #[error("{0} is not supported yet")]
    Unsupported(&'static str),
}

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
        p.validate().map_err(|e| invalid(format!("network: {e}")))?;
        Ok(p)
    }

    /// Checks every rule a run relies on, so that a run never fails half way
    /// for a reason visible in the file.
    pub fn check(&self) -> Result<(), ScenarioError> {
        if self.partitions.is_some() {
            return Err(ScenarioError::Unsupported("partitions"));
        }
        if self.clock_skew.is_some() {
            return Err(ScenarioError::Unsupported("clock skew"));
        }
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
        if !(2..=MAX_CLIENTS).contains(&self.clients) {
            return Err(invalid(format!("clients must be 2 to {MAX_CLIENTS}")));
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
        let mut total = self.nodes;
        for f in &self.faults {
            total = self.check_fault(f, total)?;
        }
        Ok(())
    }

    /// Checks one fault; returns the node count after it.
    fn check_fault(&self, f: &Fault, total: usize) -> Result<usize, ScenarioError> {
        match f.kind {
            FaultKind::Crash => return Err(ScenarioError::Unsupported("fault kind \"crash\"")),
            FaultKind::Partition => {
                return Err(ScenarioError::Unsupported("fault kind \"partition\""));
            }
            FaultKind::ClockSkew => {
                return Err(ScenarioError::Unsupported("fault kind \"clock_skew\""));
            }
            _ => {}
        }
        if f.at_s >= self.duration_s + self.drain_s {
            return Err(invalid("fault at_s is after the end of the run"));
        }
        if let Some(c) = f.swarm_of
            && (c >= self.clients || f.kind != FaultKind::Stop)
        {
            return Err(invalid(
                "swarm_of: client out of range, or used with a kind other than stop",
            ));
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
            (_, None, Some(n)) if n >= 1 && n < total => Ok(total),
            _ => Err(invalid(
                "stop needs nodes or count (count with optional swarm_of); restart takes nodes or nothing (all stopped)",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str =
        "name = \"t\"\nseed = 1\nnodes = 10\nclients = 2\nduration_s = 5\n[messages]\ncount = 4\n";

    #[test]
    fn a_minimal_scenario_parses() {
        let s = Scenario::parse(BASE).unwrap();
        assert_eq!(s.drain_s, 15);
        assert_eq!(s.params().unwrap().name, "devnet");
    }

    #[test]
    fn unknown_keys_and_unsupported_kinds_are_refused() {
        let extra = format!("{BASE}\n[network]\nbogus = 1\n");
        assert!(matches!(
            Scenario::parse(&extra),
            Err(ScenarioError::Parse(_))
        ));
        let crash = format!("{BASE}\n[[faults]]\nat_s = 1\nkind = \"crash\"\nnodes = [1]\n");
        let err = Scenario::parse(&crash).unwrap_err();
        assert!(err.to_string().contains("not supported yet"), "{err}");
        let part = format!("partitions = []\n{BASE}");
        assert!(matches!(
            Scenario::parse(&part),
            Err(ScenarioError::Unsupported(_))
        ));
    }

    #[test]
    fn bad_fault_targets_are_refused() {
        let zero = format!("{BASE}\n[[faults]]\nat_s = 1\nkind = \"stop\"\nnodes = [0]\n");
        assert!(matches!(
            Scenario::parse(&zero),
            Err(ScenarioError::Invalid(_))
        ));
        let late = format!("{BASE}\n[[faults]]\nat_s = 99\nkind = \"stop\"\nnodes = [1]\n");
        assert!(matches!(
            Scenario::parse(&late),
            Err(ScenarioError::Invalid(_))
        ));
        let both = BASE.replace("count = 4", "count = 4\nrate = 1.0");
        assert!(matches!(
            Scenario::parse(&both),
            Err(ScenarioError::Invalid(_))
        ));
    }
}
