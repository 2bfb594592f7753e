//! # sotto-node
//!
//! The Sotto service node: volunteers run it to hold the offline messages of the
//! accounts whose swarm it belongs to and to relay onion requests (DESIGN §1,
//! §4–§7).
//!
//! ## Parts
//!
//! - [`store`]: the message store on sled (DESIGN §5).
//! - [`replication`]: pushes, anti-entropy and handoff between swarm members (DESIGN §6).
//! - [`directory`]: every verified node record; swarms (DESIGN §4).
//! - [`net`]: the libp2p swarm task behind a command/inbound channel pair.
//! - [`service`]: client RPC handling (DESIGN §5).
//! - [`relay`]: the onion relay: peeling, forwarding, delivering (DESIGN §7).
//! - [`metrics`]: counters and gauges in the Prometheus text format.
//! - [`context`]: what the parts of a running node share.
//! - [`config`]: the `node.toml` file.
//! - [`identity`]: the node's keys on disk and its signed record.
//! - [`announce`]: keeping the directory filled and the own record published.
//! - [`http`]: the `/metrics` endpoint.
//! - [`node`]: starting and stopping a whole node.
//! - [`stdio`]: stdout and stderr that a closed pipe cannot crash; colour only on a terminal.
//!
//! The rules of the wire (what is valid, what is signed, how replicas merge)
//! are not here: they live in `sotto-protocol`, and the node calls them.

pub mod announce;
pub mod clock;
pub mod config;
pub mod context;
pub mod directory;
pub mod http;
pub mod identity;
pub mod localnet;
pub mod metrics;
pub mod net;
pub mod node;
pub mod overlay;
pub mod relay;
pub mod replication;
pub mod runinfo;
pub mod service;
pub mod stdio;
pub mod store;

pub use store::{Store, StoreError, StoreLimits};
