//! Requests to an account's swarm: pick a member, follow `WrongSwarm`, and try
//! another member when one cannot be reached or says the clock is off.

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
    make: &impl Fn(NodeId, UnixMillis) -> Request,
) -> Result<(NodeId, Response), ClientError> {
    let mut tried: HashSet<NodeId> = HashSet::new();
    let mut redirects = 0usize;
    let mut unreachable = 0usize;
    // A member that says the clock is off, when the clock did not move for
    // it (see `Inner::learn_time`), may be the one that is off: another
    // member is asked, and its answer is a second sample. Only if every
    // member tried says so is it the client's clock.
    let mut skewed = false;
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
            return Err(failed(skewed));
        };
        tried.insert(member);
        match inner.request_raw(member, &|now| make(member, now)).await {
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
                ErrorKind::Unavailable | ErrorKind::Timeout | ErrorKind::ClockSkew => {
                    skewed |= matches!(e.kind, ErrorKind::ClockSkew);
                    unreachable += 1;
                    if unreachable >= MAX_MEMBERS_TRIED {
                        return Err(failed(skewed));
                    }
                }
                _ => return Err(ClientError::from_rpc(e)),
            },
            Ok(other) => return Ok((member, other)),
            Err(ClientError::Unreachable) | Err(ClientError::UnknownNode) => {
                unreachable += 1;
                if unreachable >= MAX_MEMBERS_TRIED {
                    return Err(failed(skewed));
                }
            }
            Err(other) => return Err(other),
        }
        if tried.len() >= MAX_MEMBERS_TRIED + MAX_REDIRECTS {
            return Err(failed(skewed));
        }
    }
}

/// The error when no member took the request: the clock's fault if any
/// member said so, else the members'.
fn failed(skewed: bool) -> ClientError {
    if skewed {
        ClientError::ClockSkew
    } else {
        ClientError::SwarmUnreachable
    }
}
