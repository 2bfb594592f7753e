//! swarm-sim: runs real Sotto service nodes and clients in one process over
//! libp2p's memory transport, drives them with a seeded scenario (messages,
//! offline recipients, node faults), and reports what was delivered, lost or
//! duplicated, latency, replication and memory; with a `[groups]`, one MLS
//! group's messages through epoch changes ([`groups`]).

pub mod attack;
pub mod devnet;
pub mod faults;
pub mod flood;
pub mod groups;
pub mod ledger;
pub mod links;
pub mod net;
pub mod positions;
pub mod replication;
pub mod report;
pub mod run;
pub mod scenario;
pub mod svg;
pub mod sybil;
pub mod user;

pub use report::Report;
pub use run::run;
pub use scenario::Scenario;

/// The scenario `swarm-sim` runs without arguments.
pub const DEFAULT_SCENARIO: &str = include_str!("../../config/scenarios/default.toml");

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario is refused.
    #[error(transparent)]
    Scenario(#[from] scenario::ScenarioError),
    /// The network or clients could not be set up or stopped.
    #[error("setup: {0}")]
    Setup(String),
    /// `swarm-sim devnet` failed.
    #[error("devnet: {0}")]
    Devnet(#[from] devnet::DevnetError),
    /// The report could not be written.
    #[error("output: {0}")]
    Output(String),
}
