//! Asking directory nodes for their directory through onion paths, so that
//! after the first fetch the bootstrap nodes are not the client's only source
//! of nodes (a bootstrap node that leaves honest nodes out, or that went away,
//! stops mattering once the client has paths). The nodes asked are random
//! directory members; the request goes over a path like any other, so they
//! learn nothing of who asks.

use rand::seq::IndexedRandom;
use sotto_protocol::NodeId;
use sotto_protocol::constants::MAX_DIRECTORY_PAGE;
use sotto_protocol::record::SignedNodeRecord;
use sotto_protocol::rpc::{Request, Response};

use super::fetch::MAX_PAGES;
use crate::paths::PathStatus;
use crate::request::Inner;

/// Directory nodes asked through paths each time.
pub const PATH_SOURCES: usize = 2;

/// The raw records of [`PATH_SOURCES`] random directory nodes, asked through
/// paths; nothing while no path is ready. Failures are logged and skipped: this
/// only ever adds to what the bootstrap nodes gave.
pub(crate) async fn fetch_via_paths(inner: &Inner) -> Vec<SignedNodeRecord> {
    if !matches!(*inner.paths.subscribe().borrow(), PathStatus::Ready { .. }) {
        return Vec::new();
    }
    let nodes: Vec<NodeId> = inner.dir(|d| {
        let ids = d.ids();
        ids.sample(&mut rand::rng(), PATH_SOURCES)
            .copied()
            .collect()
    });
    let asks = nodes.into_iter().map(|node| fetch_from(inner, node));
    futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect()
}

/// Every page of `node`'s directory, at most [`MAX_PAGES`]; what came before a
/// failure or a page that does not move forward.
async fn fetch_from(inner: &Inner, node: NodeId) -> Vec<SignedNodeRecord> {
    let limit = u16::try_from(MAX_DIRECTORY_PAGE).unwrap_or(u16::MAX);
    let mut after: Option<NodeId> = None;
    let mut out = Vec::new();
    for _ in 0..MAX_PAGES {
        let page = inner
            .request_raw(node, &|_| Request::GetDirectory { after, limit })
            .await;
        let (records, next) = match page {
            Ok(Response::Directory { records, next }) => (records, next),
            Ok(_) => {
                inner.rejected.inc("directory", "unexpected_answer");
                break;
            }
            Err(e) => {
                tracing::debug!(%node, "directory fetch through a path failed: {e}");
                break;
            }
        };
        let forward = next.is_none_or(|n| after.is_none_or(|a| n > a));
        out.extend(records);
        match next {
            Some(n) if forward => after = Some(n),
            Some(_) => {
                inner.rejected.inc("directory", "page_backwards");
                break;
            }
            None => break,
        }
    }
    out
}
