//! Requests to an account's swarm: pick a member, follow `WrongSwarm`, and try
//! another member when one cannot be reached or says the clock is off.
//!
//! A `Stored` answer is believed only with valid storage receipts from a
//! quorum of distinct members of the swarm *as this client sees it*
//! ([`count_receipts`]): the entry member's word (`held_by`) is not enough,
//! since a hostile member could say "stored" and drop the message. An answer
//! short of receipts is counted (`rejected{rpc,receipts}`) and another member
//! is asked, as for one that cannot be reached.

use std::collections::HashSet;

use rand::seq::IndexedRandom;
use sotto_protocol::rpc::{
    ErrorKind, MessageHash, Request, Response, StorageReceipt, count_receipts,
};
use sotto_protocol::{AccountId, NetworkParams, NodeId, UnixMillis};

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
    // A member that says the delivery token is unknown may be behind (the
    // token's store has not reached it yet) or lying (a hostile member
    // that wants contacts to drop the token and pay postage): another member
    // is asked, and only if no member took it is the token refused.
    let mut token_refused = false;
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
            return Err(failed(skewed, token_refused));
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
                ErrorKind::Unavailable
                | ErrorKind::Timeout
                | ErrorKind::ClockSkew
                | ErrorKind::TokenRequired => {
                    skewed |= matches!(e.kind, ErrorKind::ClockSkew);
                    token_refused |= matches!(e.kind, ErrorKind::TokenRequired);
                    unreachable += 1;
                    if unreachable >= MAX_MEMBERS_TRIED {
                        return Err(failed(skewed, token_refused));
                    }
                }
                _ => return Err(ClientError::from_rpc(e)),
            },
            Ok(Response::Stored {
                hash, ref receipts, ..
            }) if !quorum_signed(inner, account, &hash, receipts) => {
                inner.rejected.inc("rpc", "receipts");
                tracing::debug!(
                    member = %member.short(),
                    receipts = receipts.len(),
                    "a store's answer lacks a quorum of receipts; asking another member"
                );
                unreachable += 1;
                if unreachable >= MAX_MEMBERS_TRIED {
                    return Err(failed(skewed, token_refused));
                }
            }
            Ok(other) => return Ok((member, other)),
            Err(ClientError::Unreachable) | Err(ClientError::UnknownNode) => {
                unreachable += 1;
                if unreachable >= MAX_MEMBERS_TRIED {
                    return Err(failed(skewed, token_refused));
                }
            }
            Err(other) => return Err(other),
        }
        if tried.len() >= MAX_MEMBERS_TRIED + MAX_REDIRECTS {
            return Err(failed(skewed, token_refused));
        }
    }
}

/// Whether `receipts` hold valid receipts for `hash` from at least the
/// network's store quorum of distinct members of `account`'s swarm by the
/// client's directory.
fn quorum_signed(
    inner: &Inner,
    account: &AccountId,
    hash: &MessageHash,
    receipts: &[StorageReceipt],
) -> bool {
    let swarm = inner.dir(|d| d.swarm(account));
    enough_receipts(&inner.config.params, &swarm, account, hash, receipts)
}

/// The rule of [`quorum_signed`] over the swarm `swarm`: at least
/// `params.store_quorum` distinct members of it signed for `hash`.
fn enough_receipts(
    params: &NetworkParams,
    swarm: &[NodeId],
    account: &AccountId,
    hash: &MessageHash,
    receipts: &[StorageReceipt],
) -> bool {
    let quorum = usize::from(params.store_quorum).max(1);
    count_receipts(receipts, &params.name, account, hash, swarm) >= quorum
}

/// The error when no member took the request: the token's if a member
/// refused it, else the clock's if any member said so, else the members'.
fn failed(skewed: bool, token_refused: bool) -> ClientError {
    if token_refused {
        ClientError::TokenRequired
    } else if skewed {
        ClientError::ClockSkew
    } else {
        ClientError::SwarmUnreachable
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use sotto_protocol::{AccountKey, NodeKey};

    use super::*;

    /// A swarm of five members (keys 1..=5) and a node outside it (key 9).
    fn keys() -> Vec<NodeKey> {
        [1u8, 2, 3, 4, 5, 9]
            .iter()
            .map(|i| NodeKey::from_secret_bytes(&[*i; 32]))
            .collect()
    }

    #[test]
    fn a_store_is_believed_only_with_a_quorum_of_member_receipts() {
        let params = NetworkParams::devnet();
        assert_eq!(params.store_quorum, 2);
        let keys = keys();
        let swarm: Vec<NodeId> = keys[..5].iter().map(NodeKey::node_id).collect();
        let account = AccountKey::from_entropy([6; 16]).account_id();
        let hash = MessageHash([7; 32]);
        let sign = |k: &NodeKey| StorageReceipt::sign(k, &params.name, &account, &hash);
        let ok = |receipts: &[StorageReceipt]| {
            enough_receipts(&params, &swarm, &account, &hash, receipts)
        };
        // An entry member that kept the message to itself (or dropped it)
        // and says "held by 5": its own receipt is all it can give. The
        // client before receipts believed `held_by`; now it asks another
        // member.
        assert!(!ok(&[sign(&keys[0])]));
        // The same member twice, or a friend outside the swarm, is no quorum.
        assert!(!ok(&[sign(&keys[0]), sign(&keys[0])]));
        assert!(!ok(&[sign(&keys[0]), sign(&keys[5])]));
        // A receipt made for another message is no receipt for this one.
        let other = StorageReceipt::sign(&keys[1], &params.name, &account, &MessageHash([8; 32]));
        assert!(!ok(&[sign(&keys[0]), other]));
        // Two distinct members that hold it: believed.
        assert!(ok(&[sign(&keys[0]), sign(&keys[1])]));
        assert!(ok(&[sign(&keys[4]), sign(&keys[5]), sign(&keys[2])]));
    }
}
