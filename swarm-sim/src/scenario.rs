//! What a run does: the scenario file (TOML), its checks, its pass criteria
//! (`[check]`), and the seeded schedule of messages and faults derived from it.

mod check;
mod criteria;
mod schedule;

use serde::Deserialize;

pub use crate::links::LatencySettings;

pub use criteria::{Criteria, GroupMeasured, Measured, Verdict};
pub use schedule::{Planned, online, schedule, scheduled};

/// Most nodes or clients one in-process run may start (memory and file
/// handles are bounded by this).
pub const MAX_NODES: usize = 1_000;
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
    /// Clients, one account each (0 only with a `[groups]`).
    pub clients: usize,
    /// How long messages are sent, in seconds.
    pub duration_s: u64,
    /// How long receivers may keep reading after the last send, in seconds.
    #[serde(default = "default_drain")]
    pub drain_s: u64,
    /// How many messages, or at what rate (may be left out when `clients`
    /// is 0: a run of a `[groups]` alone).
    #[serde(default)]
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
    /// Node settings that a scenario may change.
    #[serde(default)]
    pub node: NodeOverrides,
    /// Clients whose device clock is wrong from the start.
    #[serde(default)]
    pub clock_skew: Vec<ClientSkew>,
    /// A client that sends far more than the nodes allow.
    #[serde(default)]
    pub flood: Option<Flood>,
    /// A client attacking the nodes with real protocol requests.
    #[serde(default)]
    pub attack: Option<crate::attack::Attack>,
    /// A share of the nodes run by an attacker (`[sybil]`).
    #[serde(default)]
    pub sybil: Option<crate::sybil::Sybil>,
    /// What the run must show to pass (`[check]`).
    #[serde(default)]
    pub check: Criteria,
    /// The network model on every link (`[latency]`; on by default).
    #[serde(default)]
    pub latency: LatencySettings,
    /// One MLS group whose members message each other while members are
    /// removed and added (`[groups]`).
    #[serde(default)]
    pub groups: Option<crate::groups::GroupsSettings>,
}

/// Node configuration that a scenario may change (limits the flood meets).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeOverrides {
    /// Stores one account may make per minute on one node.
    pub store_rate_per_minute: Option<u32>,
    /// Stores one account may burst on one node.
    pub store_burst: Option<u32>,
    /// Bytes one account may hold on one node.
    pub max_account_bytes: Option<u64>,
    /// How often a node pulls the whole directory from a peer, ms (the
    /// simulator's default is 1 s, so that small nets fill at once; a large
    /// net pulls less often and relies on gossip, as the real network does).
    pub directory_pull_interval_ms: Option<u64>,
    /// Most connections a node holds (`limits.max_connections`; a quarter is
    /// kept for directory nodes).
    pub max_connections: Option<u32>,
}

/// A client whose device clock is off by `offset_ms` for the whole run.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSkew {
    /// The client's index.
    pub client: usize,
    /// How far its clock is off (negative: behind), ms.
    pub offset_ms: i64,
}

/// One client flooding an inbox (its own unless `target` says otherwise)
/// from `from_s` to `to_s` at `rate` stores a second, each of `size` bytes
/// of text. Flood messages are counted apart from the schedule's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Flood {
    /// The flooding client.
    pub client: usize,
    /// Whose inbox it fills (default: its own).
    pub target: Option<usize>,
    /// Stores a second it attempts.
    pub rate: f64,
    /// When it starts (seconds from the start of sending).
    pub from_s: u64,
    /// When it stops.
    pub to_s: u64,
    /// Text bytes in each message.
    #[serde(default = "default_flood_size")]
    pub size: usize,
}

fn default_flood_size() -> usize {
    4_000
}

fn default_drain() -> u64 {
    15
}

/// How many messages are sent over the run.
#[derive(Debug, Clone, Default, Deserialize)]
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
    /// Leading zero bits a node's admission proof needs (devnet: 0, so
    /// every proof passes; an attack on records sets it to have bad proofs).
    pub admission_difficulty: Option<u8>,
    /// How long a node's position lasts before it mines a new proof and
    /// moves (devnet: 0, positions fixed; the `epochs` scenario rotates them
    /// every few minutes). At least 4 record lifetimes.
    pub position_period_ms: Option<u64>,
    /// Lifetime of a node record (devnet: 2 h), at least a minute.
    pub record_lifetime_ms: Option<u64>,
}

/// What a fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Stop nodes cleanly (their data stays on disk).
    Stop,
    /// Kill nodes: no clean stop, no final flush; the disk keeps only what
    /// they had written.
    Crash,
    /// Start stopped or crashed nodes again on their data.
    Restart,
    /// Start new nodes.
    AddNodes,
    /// Split the nodes into `groups` that cannot reach each other.
    Partition,
    /// Lift a partition.
    Heal,
    /// Set nodes' clocks `offset_ms` off the system clock.
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
    /// For `partition`: groups of node indices; the nodes in no group form
    /// one more group together.
    pub groups: Option<Vec<Vec<usize>>>,
    /// For `clock_skew`: the offset, ms (negative: behind).
    pub offset_ms: Option<i64>,
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
    fn unknown_keys_and_bad_new_faults_are_refused() {
        let extra = format!("{BASE}\n[network]\nbogus = 1\n");
        assert!(matches!(
            Scenario::parse(&extra),
            Err(ScenarioError::Parse(_))
        ));
        let crash = format!("{BASE}\n[[faults]]\nat_s = 1\nkind = \"crash\"\nnodes = [1]\n");
        assert!(Scenario::parse(&crash).is_ok());
        let part =
            format!("{BASE}\n[[faults]]\nat_s = 1\nkind = \"partition\"\ngroups = [[1, 2], [2]]\n");
        assert!(matches!(
            Scenario::parse(&part),
            Err(ScenarioError::Invalid(_))
        ));
        let ok = part.replace("[[1, 2], [2]]", "[[1, 2], [3]]");
        assert!(Scenario::parse(&ok).is_ok());
        let no_groups = format!("{BASE}\n[[faults]]\nat_s = 1\nkind = \"partition\"\n");
        assert!(Scenario::parse(&no_groups).is_err());
        let skew = format!("{BASE}\n[[faults]]\nat_s = 1\nkind = \"clock_skew\"\nnodes = [2]\n");
        assert!(Scenario::parse(&skew).is_err(), "offset_ms is required");
        let skew = skew.replace("nodes = [2]", "nodes = [2]\noffset_ms = -60000");
        assert!(Scenario::parse(&skew).is_ok());
        let client = format!("{BASE}\n[[clock_skew]]\nclient = 5\noffset_ms = 1\n");
        assert!(Scenario::parse(&client).is_err(), "client 5 does not exist");
        let flood = format!("{BASE}\n[flood]\nclient = 1\nrate = 1e9\nfrom_s = 0\nto_s = 2\n");
        assert!(Scenario::parse(&flood).is_err(), "rate is bounded");
        let flood = flood.replace("1e9", "20.0");
        assert!(
            Scenario::parse(&flood).is_err(),
            "one scheduled client is too few"
        );
        let flood = flood.replace("clients = 2", "clients = 3");
        assert!(Scenario::parse(&flood).is_ok());
    }

    #[test]
    fn every_shipped_scenario_parses_and_states_its_pass_criteria() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/scenarios");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            let s = Scenario::parse(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert!(
                !s.check.is_empty(),
                "{} has no [check] table",
                path.display()
            );
            seen += 1;
        }
        assert!(seen >= 5, "only {seen} scenarios in {}", dir.display());
        let bad = format!("{BASE}\n[check]\nlost = 0\n");
        assert!(
            matches!(Scenario::parse(&bad), Err(ScenarioError::Parse(_))),
            "criteria keys are checked too"
        );
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
