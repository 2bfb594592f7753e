//! Directory maintenance (DESIGN §4): taking in the records that arrive by
//! gossip, pulling the whole directory from a peer, and publishing the node's
//! own record, at start and again before it expires or when its onion keys
//! rotate ([`spawn`]).
//!
//! Every record is size-checked while decoding and verified in full by the
//! directory before it is kept; whatever is refused is counted in
//! `sotto_records_total` and `sotto_rejected_total` and otherwise ignored.

mod checks;
mod task;
#[cfg(test)]
mod tests;

use libp2p::{Multiaddr, PeerId};
use sotto_protocol::constants::{MAX_DIRECTORY_PAGE, MAX_RECORD_LEN};
use sotto_protocol::record::SignedNodeRecord;
use sotto_protocol::rpc::held::HeldFilter;
use sotto_protocol::rpc::{ErrorKind, Request, Response};

use crate::context::Context;
use crate::directory::{DirectoryError, Inserted, VerifiedRecord};
use crate::identity::IdentityError;
use crate::net::NetError;

pub use checks::{Place, RecordChecks};
pub use task::{announce_once, spawn};

/// The most pages one [`pull_directory`] asks for: 200 × 256 records is far
/// more nodes than a directory holds, so an honest peer never reaches it and a
/// peer that keeps inventing pages is cut off.
pub const MAX_PULL_PAGES: usize = 200;

/// Why announcing or pulling failed.
#[derive(Debug, thiserror::Error)]
pub enum AnnounceError {
    /// The network did not carry the request.
    #[error(transparent)]
    Net(#[from] NetError),
    /// The peer answered something other than a directory page.
    #[error("peer {peer} answered a directory request with {what}")]
    BadResponse {
        /// The peer.
        peer: PeerId,
        /// What it answered.
        what: String,
    },
    /// The own record could not be made.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The own record does not verify (a clock or parameter mistake).
    #[error("the own node record is not valid: {0}")]
    OwnRecord(DirectoryError),
    /// The own record could not be encoded.
    #[error("cannot encode the node record: {0}")]
    Encode(sotto_protocol::Error),
    /// The swarm does not listen on any address yet.
    #[error("not listening on any address yet")]
    NoListenAddrs,
}

/// Addresses learned from a new or updated record, for the swarm to dial by.
pub type Learned = Option<(PeerId, Vec<Multiaddr>)>;

/// Takes in a record received by gossip from `peer`: decodes it (refusing
/// anything over the protocol's record size first), verifies and inserts it,
/// and counts the outcome. For a new or updated record of another node it
/// returns that node's peer id and parsed addresses.
pub fn on_record(
    ctx: &Context,
    peer: PeerId,
    bytes: &[u8],
) -> Result<(Inserted, Learned), DirectoryError> {
    let signed = match SignedNodeRecord::decode(bytes) {
        Ok(s) => s,
        Err(e) => {
            let reason = if bytes.len() > MAX_RECORD_LEN {
                "too_large"
            } else {
                "decode"
            };
            ctx.metrics.records.inc(reason, "");
            ctx.metrics.rejected.inc("gossip", reason);
            tracing::debug!(%peer, error = %e, "undecodable node record");
            return Err(DirectoryError::Invalid(e.to_string()));
        }
    };
    insert(ctx, "gossip", signed)
}

/// [`on_record`], then tells the swarm where a new or updated node is.
pub async fn handle_record(
    ctx: &Context,
    peer: PeerId,
    bytes: &[u8],
) -> Result<Inserted, DirectoryError> {
    let (inserted, learned) = on_record(ctx, peer, bytes)?;
    learn(ctx, learned).await;
    Ok(inserted)
}

async fn learn(ctx: &Context, learned: Learned) {
    if let Some((peer, addrs)) = learned
        && !addrs.is_empty()
        && let Err(e) = ctx.net.add_addresses(peer, addrs).await
    {
        tracing::debug!(error = %e, "could not pass addresses to the swarm");
    }
}

/// Verifies and inserts one record that came from `source` (a constant
/// metrics label), counting the outcome and updating the directory gauge.
fn insert(
    ctx: &Context,
    source: &'static str,
    signed: SignedNodeRecord,
) -> Result<(Inserted, Learned), DirectoryError> {
    let now = ctx.clock.now();
    // A repeat of a record already held (most of a pull, every echo of a
    // gossiped record) is recognised under the read lock; anything else is
    // verified with no lock held, and only the insert takes the write lock.
    let result = if ctx.dir(|d| d.holds_exactly(&signed, now)) {
        Ok((Inserted::Unchanged, None))
    } else {
        VerifiedRecord::verify(signed, &ctx.params, now).and_then(|verified| {
            let node = verified.record().node;
            let addrs: Vec<Multiaddr> = verified
                .record()
                .addrs
                .iter()
                .filter_map(|a| a.parse::<Multiaddr>().ok())
                .collect();
            let peer = verified.peer();
            let now = ctx.clock.now();
            ctx.dir_mut(|d| {
                let result = d.insert(verified, now);
                ctx.metrics.directory_nodes.set_count(d.len());
                result
            })
            .map(|inserted| {
                let learned = match inserted {
                    Inserted::New | Inserted::Updated if node != ctx.node_id => Some((peer, addrs)),
                    _ => None,
                };
                (inserted, learned)
            })
        })
    };
    match &result {
        Ok((Inserted::New, learned)) => {
            ctx.metrics.records.inc("new", "");
            if let Some((peer, _)) = learned {
                tracing::info!(
                    %peer,
                    nodes = ctx.metrics.directory_nodes.get(),
                    "new node in the directory"
                );
            }
        }
        Ok((Inserted::Updated, _)) => ctx.metrics.records.inc("updated", ""),
        Ok((Inserted::Unchanged, _)) => ctx.metrics.records.inc("unchanged", ""),
        Err(e) => {
            ctx.metrics.records.inc(e.reason(), "");
            ctx.metrics.rejected.inc(source, e.reason());
            tracing::debug!(source, error = %e, "node record refused");
        }
    }
    result
}

/// A node holding fewer records than this pulls the whole directory: its
/// filter would leave out next to nothing.
pub const DELTA_FROM: usize = 16;

/// Pulls the directory of `from`, page by page (at most [`MAX_PULL_PAGES`]),
/// inserting every record as if it came by gossip. Once the node holds
/// [`DELTA_FROM`] records it asks only for the records it lacks
/// ([`Request::GetDirectoryDelta`] with a filter of what it holds, freshly
/// salted, so a record a filter happened to hide comes with the next pull);
/// a peer that refuses that as malformed (one from before delta pulls) is
/// asked for the whole directory instead. Stops when the peer names no next
/// page or a next page that does not move forward. Returns how many nodes
/// were new.
pub async fn pull_directory(ctx: &Context, from: PeerId) -> Result<usize, AnnounceError> {
    let held = ctx.dir(|d| (d.len() >= DELTA_FROM).then(|| d.held_filter(rand::random())));
    if let Some(held) = held {
        match pull_pages(ctx, from, Some(held)).await {
            Err(Pull::Refused(_)) => {
                ctx.metrics.rejected.inc("pull", "no_delta");
                tracing::debug!(peer = %from, "peer refused a delta pull; pulling everything");
            }
            other => return other.map_err(Pull::into_error),
        }
    }
    pull_pages(ctx, from, None).await.map_err(Pull::into_error)
}

/// How a run of pages ended, when it did not end well.
enum Pull {
    /// The first page of a delta pull was refused as malformed.
    Refused(AnnounceError),
    /// Anything else.
    Failed(AnnounceError),
}

impl Pull {
    fn into_error(self) -> AnnounceError {
        match self {
            Pull::Refused(e) | Pull::Failed(e) => e,
        }
    }
}

async fn pull_pages(ctx: &Context, from: PeerId, held: Option<HeldFilter>) -> Result<usize, Pull> {
    let limit = u16::try_from(MAX_DIRECTORY_PAGE).unwrap_or(u16::MAX);
    let mut after = None;
    let mut new = 0;
    for page in 0..MAX_PULL_PAGES {
        let request = match &held {
            Some(held) => Request::GetDirectoryDelta {
                after,
                limit,
                held: held.clone(),
            },
            None => Request::GetDirectory { after, limit },
        };
        let response = ctx
            .net
            .rpc(from, request)
            .await
            .map_err(|e| Pull::Failed(e.into()))?;
        let (records, next) = match response {
            Response::Directory { records, next } => (records, next),
            // What a node from before delta pulls answers to one; any other
            // error (busy, say) is a failed pull like any other.
            Response::Error(e)
                if page == 0 && held.is_some() && e.kind == ErrorKind::BadRequest =>
            {
                return Err(Pull::Refused(AnnounceError::BadResponse {
                    peer: from,
                    what: format!("an error: {e}"),
                }));
            }
            other => {
                ctx.metrics.rejected.inc("pull", "bad_response");
                return Err(Pull::Failed(AnnounceError::BadResponse {
                    peer: from,
                    what: match other {
                        Response::Error(e) => format!("an error: {e}"),
                        o => format!("a {} response", o.kind()),
                    },
                }));
            }
        };
        for signed in records {
            match insert(ctx, "pull", signed) {
                Ok((Inserted::New, learned)) => {
                    new += 1;
                    learn(ctx, learned).await;
                }
                Ok((_, learned)) => learn(ctx, learned).await,
                // Counted in `insert`; one bad record does not spoil the page.
                Err(_) => {}
            }
        }
        match next {
            Some(n) if after.is_none_or(|a| n > a) => after = Some(n),
            _ => break,
        }
    }
    Ok(new)
}
