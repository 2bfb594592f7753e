//! Requests to an account's swarm: pick a member, follow `WrongSwarm`, and try
//! another member when one cannot be reached.

use std::collections::HashSet;

use rand::seq::IndexedRandom;
use sotto_protocol::rpc::{ErrorKind, Request, Response};
use sotto_protocol::{AccountId, NodeId, UnixMillis};

use super::{ClientError, Inner};

/// `WrongSwarm` answers followed before giving up (DESIGN §4).
const MAX_REDIRECTS: usize = 2;

/// Most members tried in all for one request.
const MAX_MEMBERS_TRIED: usize = 4;

pub(super) async fn swarm_request(
    inner: &Inner,
    account: &AccountId,
    make: &impl Fn(UnixMillis) -> Request,
) -> Result<Response, ClientError> {
    let mut tried: HashSet<NodeId> = HashSet::new();
    let mut redirects = 0usize;
    let mut unreachable = 0usize;
    loop {
        let swarm = inner.dir(|d| d.swarm(account));
        if swarm.is_empty() {
            return Err(inner.no_directory());
        }
        let left: Vec<NodeId> = swarm
            .iter()
            .filter(|n| !tried.contains(n))
            .copied()
            .collect();
        let Some(member) = left.choose(&mut rand::rng()).copied() else {
            return Err(ClientError::SwarmUnreachable);
        };
        tried.insert(member);
        match inner.request_raw(member, make).await {
            Ok(Response::Error(e)) => match e.kind {
                ErrorKind::WrongSwarm { swarm } => {
                    redirects += 1;
                    if redirects > MAX_REDIRECTS {
                        return Err(ClientError::SwarmMoved);
                    }
                    // Verify what the node says before believing it; the
                    // swarm is then computed again from the directory.
                    let now = inner.clock.now();
                    let changed = inner.dir_mut(|d| {
                        swarm
                            .iter()
                            .filter(|r| d.insert(r, now, &inner.rejected))
                            .count()
                    });
                    if changed == 0 {
                        // Nothing new: the node's view is not ours. Its
                        // pointers may name members we know; try one of them.
                        tracing::debug!("WrongSwarm without news; trying another member");
                    } else {
                        inner.paths.wake.notify_one();
                    }
                }
                ErrorKind::Unavailable | ErrorKind::Timeout => {
                    unreachable += 1;
                    if unreachable >= MAX_MEMBERS_TRIED {
                        return Err(ClientError::SwarmUnreachable);
                    }
                }
                _ => return Err(ClientError::from_rpc(e)),
            },
            Ok(other) => return Ok(other),
            Err(ClientError::Unreachable) | Err(ClientError::UnknownNode) => {
                unreachable += 1;
                if unreachable >= MAX_MEMBERS_TRIED {
                    return Err(ClientError::SwarmUnreachable);
                }
            }
            Err(other) => return Err(other),
        }
        if tried.len() >= MAX_MEMBERS_TRIED + MAX_REDIRECTS {
            return Err(ClientError::SwarmUnreachable);
        }
    }
}
