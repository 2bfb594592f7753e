//! Fetching the directory from a bootstrap node with `GetDirectory`, page by
//! page, trusting nothing the node says without checking it.

use libp2p::Multiaddr;
use sotto_protocol::constants::MAX_DIRECTORY_PAGE;
use sotto_protocol::record::SignedNodeRecord;
use sotto_protocol::rpc::{Request, Response};
use sotto_protocol::{NodeId, UnixMillis};

use crate::net::{NetError, NetHandle, Proto, Rejected, split_peer};

/// Most pages asked of one bootstrap node: the node decides whether there is a
/// next page, so without a cap a lying one could keep the client asking.
pub const MAX_PAGES: usize = 64;

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

/// The raw records of the first bootstrap node in `bootstrap` that answers
/// (the caller verifies each against its clock when it inserts it). Pages are
/// chained by their `next` ids, which must move forward past every record of
/// the page; a page that breaks that rule ends the fetch with what came before.
pub async fn fetch(
    net: &NetHandle,
    bootstrap: &[Multiaddr],
    now: impl Fn() -> UnixMillis,
    rejected: &Rejected,
) -> Result<Vec<SignedNodeRecord>, FetchError> {
    let mut last_error = None;
    let mut any = false;
    let mut wrong: Option<Option<String>> = None;
    for addr in bootstrap {
        let Some((peer, base)) = split_peer(addr) else {
            continue;
        };
        any = true;
        match fetch_from(net, peer, base.clone(), &now, rejected).await {
            Ok(records) => return Ok(records),
            Err(PageError::Net(NetError::Unsupported)) => {
                // It does not speak our protocol: ask which network it is on,
                // once one has said (the others are most likely the same).
                rejected.inc("directory", "wrong_network");
                if !matches!(wrong, Some(Some(_))) {
                    wrong = Some(net.network_of(peer, vec![base]).await);
                }
            }
            Err(e) => {
                tracing::debug!("directory fetch from a bootstrap node failed: {e}");
                last_error = Some(e);
            }
        }
    }
    if !any {
        return Err(FetchError::NoBootstrap);
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
