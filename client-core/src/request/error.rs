//! What a request can end in, worded for the person using the client.

use sotto_protocol::rpc::{ErrorKind, RpcError};

use crate::net::NetError;

/// Why a request through the network failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// No onion path can be built: too few nodes are known, or none answers.
    #[error("no onion path to the network: check the internet connection; the client keeps trying")]
    NoPath,
    /// No node of the network is known yet: no bootstrap node has answered,
    /// with why the last fetch failed, if one was tried. Before a fetch has
    /// failed nothing is said about the connection.
    #[error("no node of the network is known yet: {}", match .0 {
        Some(e) => format!("{e}; check the bootstrap addresses and the internet connection; the client keeps trying"),
        None => "waiting for a bootstrap node to answer".to_string(),
    })]
    NoDirectory(Option<String>),
    /// The bootstrap nodes are on another network: the client cannot reach
    /// its own through them.
    #[error("{0}")]
    WrongNetwork(crate::directory::WrongNetwork),
    /// The node asked is not in the client's directory.
    #[error("the node asked is not known to this client (its record is missing or expired)")]
    UnknownNode,
    /// The destination node could not be reached through two paths.
    #[error("the node could not be reached: it may be offline; try again")]
    Unreachable,
    /// No member of the account's swarm answered.
    #[error("none of the account's storage nodes could be reached: try again later")]
    SwarmUnreachable,
    /// The nodes disagree about the account's swarm even after following them.
    #[error("the nodes do not agree which of them hold this account: try again later")]
    SwarmMoved,
    /// The account or the node is over its storage quota.
    #[error("storage is full for this account: delete old messages or wait for them to expire")]
    OverQuota,
    /// The node asks to slow down.
    #[error("too many requests: try again in {:.1} s", *retry_after_ms as f64 / 1000.0)]
    RateLimited {
        /// How long to wait.
        retry_after_ms: u64,
    },
    /// The clock is too far off even after correcting it from the node's time.
    #[error("this device's clock is too far off the network's: set the clock right")]
    ClockSkew,
    /// The recipient's inbox takes only deliveries with its current token
    /// (its contacts'): deliver into its requests with postage instead.
    #[error("the recipient takes messages from its contacts only: deliver a request")]
    TokenRequired,
    /// The node refused the request for another reason.
    #[error("the node refused the request: {0}")]
    Refused(RpcError),
    /// The request could not be encoded (a bug of the caller, or data over a
    /// limit).
    #[error("the request is invalid: {0}")]
    BadRequest(String),
    /// The destination's answer was malformed.
    #[error("the node's answer was malformed")]
    BadResponse,
    /// The client is shutting down.
    #[error("the client has stopped")]
    Stopped,
}

impl ClientError {
    /// The error an RPC error answer becomes.
    pub fn from_rpc(e: RpcError) -> Self {
        match e.kind {
            ErrorKind::QuotaExceeded => ClientError::OverQuota,
            ErrorKind::RateLimited { retry_after_ms } => {
                ClientError::RateLimited { retry_after_ms }
            }
            ErrorKind::ClockSkew => ClientError::ClockSkew,
            ErrorKind::TokenRequired => ClientError::TokenRequired,
            _ => ClientError::Refused(e),
        }
    }
}

impl From<NetError> for ClientError {
    fn from(e: NetError) -> Self {
        match e {
            NetError::Stopped => ClientError::Stopped,
            _ => ClientError::Unreachable,
        }
    }
}
