//! The node's libp2p side: one task owns the `Swarm` and everything else talks to
//! it through a [`NetHandle`] (commands in) and an [`Inbound`] channel (requests,
//! gossip and peer events out). Keeping libp2p behind these two channels lets
//! the RPC and replication code be tested with a plain channel standing in for
//! the network.

mod handle;

pub use handle::{Command, Inbound, NetError, NetHandle, Responder};
