//! Fetching the directory from bootstrap nodes with `GetDirectory`, page by
//! page, trusting nothing a node says without checking it.
//!
//! No single bootstrap node decides what the client knows: the records of up
//! to [`DIRECTORY_SOURCES`] bootstrap nodes (in random order) are merged, so a
//! bootstrap node that leaves honest nodes out is outvoted by any honest one
//! asked with it (records are signed, so a node can only leave out, not forge).
//! Later, nodes reached through onion paths are asked too (`via_paths`).

use libp2p::{Multiaddr, PeerId};
use rand::seq::SliceRandom;
use sotto_protocol::constants::MAX_DIRECTORY_PAGE;
use sotto_protocol::record::SignedNodeRecord;
use sotto_protocol::rpc::{Request, Response};
use sotto_protocol::{NodeId, UnixMillis};

use crate::net::{NetError, NetHandle, Proto, Rejected, split_peer};

/// Most pages asked of one bootstrap node: the node decides whether there is a
/// next page, so without a cap a lying one could keep the client asking.
pub const MAX_PAGES: usize = 64;
/// Bootstrap nodes whose directories are merged at each fetch (when that many
/// are configured and answer).
pub const DIRECTORY_SOURCES: usize = 3;

/// Why no directory could be fetched.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FetchError {
    /// No bootstrap address is configured, or none names its node
    /// (`/p2p/<peer id>` at the end).
    #[error("no usable bootstrap address (each must end in /p2p/<peer id>)")]
    NoBootstrap,
    /// Every bootstrap node failed.
    #[error("no bootstrap node answered with a directory: {0}")]
    AllFailed(String),
    /// No bootstrap node answered, and at least one is on another network.
    #[error("the bootstrap nodes belong to {}", theirs.as_deref().map_or_else(|| "another network".to_string(), |t| format!("network {t:?}")))]
    WrongNetwork {
        /// Their network, when one said which.
        theirs: Option<String>,
    },
}

/// The raw records of up to [`DIRECTORY_SOURCES`] bootstrap nodes of
/// `bootstrap` that answer, merged (the caller verifies each record against its
/// clock when it inserts it, and keeps the newest of a node). The nodes are
/// asked in random order, [`DIRECTORY_SOURCES`] at a time, until that many
/// answered or every one was asked. Pages are chained by their `next` ids,
/// which must move forward past every record of the page; a page that breaks
/// that rule ends that node's fetch with what came before.
pub async fn fetch(
    net: &NetHandle,
    bootstrap: &[Multiaddr],
    now: impl Fn() -> UnixMillis,
    rejected: &Rejected,
) -> Result<Vec<SignedNodeRecord>, FetchError> {
    let mut usable: Vec<(PeerId, Multiaddr)> = bootstrap.iter().filter_map(split_peer).collect();
    if usable.is_empty() {
        return Err(FetchError::NoBootstrap);
    }
    usable.shuffle(&mut rand::rng());
    let mut last_error = None;
    let mut wrong: Option<Option<String>> = None;
    let mut answered = 0usize;
    let mut out = Vec::new();
    let mut asked = 0usize;
    while answered < DIRECTORY_SOURCES && asked < usable.len() {
        let take = DIRECTORY_SOURCES - answered;
        let group = usable.iter().skip(asked).take(take);
        asked += take;
        let now = &now;
        let asks = group.map(|(peer, base)| async move {
            let result = fetch_from(net, *peer, base.clone(), now, rejected).await;
            (*peer, base, result)
        });
        for (peer, base, result) in futures::future::join_all(asks).await {
            match result {
                Ok(records) => {
                    answered += 1;
                    out.extend(records);
                }
                Err(PageError::Net(NetError::Unsupported)) => {
                    // It does not speak our protocol: ask which network it is
                    // on, once one has said (the others are most likely the
                    // same).
                    rejected.inc("directory", "wrong_network");
                    if !matches!(wrong, Some(Some(_))) {
                        wrong = Some(net.network_of(peer, vec![base.clone()]).await);
                    }
                }
                Err(e) => {
                    tracing::debug!("directory fetch from a bootstrap node failed: {e}");
                    last_error = Some(e);
                }
            }
        }
    }
    if answered > 0 {
        return Ok(out);
    }
    if let Some(theirs) = wrong {
        return Err(FetchError::WrongNetwork { theirs });
    }
    Err(FetchError::AllFailed(
        last_error.map_or_else(|| "no answer".into(), |e| e.to_string()),
    ))
}

/// Why one bootstrap node's directory was not taken.
#[derive(Debug, thiserror::Error)]
enum PageError {
    #[error(transparent)]
    Net(#[from] NetError),
    #[error("the node answered with something other than a directory page")]
    Unexpected,
}

async fn fetch_from(
    net: &NetHandle,
    peer: libp2p::PeerId,
    addr: Multiaddr,
    now: &impl Fn() -> UnixMillis,
    rejected: &Rejected,
) -> Result<Vec<SignedNodeRecord>, PageError> {
    let limit = u16::try_from(MAX_DIRECTORY_PAGE).unwrap_or(u16::MAX);
    let mut after: Option<NodeId> = None;
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let request = Request::GetDirectory { after, limit };
        let bytes = request.encode().map_err(|_| PageError::Unexpected)?;
        let answer = net
            .send(Proto::Rpc, peer, vec![addr.clone()], bytes)
            .await?;
        let (records, next) = match Response::decode(&answer, now()) {
            Ok(Response::Directory { records, next }) => (records, next),
            Ok(_) => {
                rejected.inc("directory", "unexpected_answer");
                return Err(PageError::Unexpected);
            }
            Err(_) => {
                rejected.inc("directory", "bad_page");
                return Err(PageError::Unexpected);
            }
        };
        let page_ok = next.is_none_or(|n| after.is_none_or(|a| n > a));
        out.extend(records);
        match next {
            Some(n) if page_ok => after = Some(n),
            Some(_) => {
                // A next page that does not move forward would loop; what came
                // before it is still good.
                rejected.inc("directory", "page_backwards");
                break;
            }
            None => break,
        }
    }
    Ok(out)
}
