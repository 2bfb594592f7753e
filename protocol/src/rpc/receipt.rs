//! Storage receipts: a swarm member's signed word that it holds a message.
//!
//! A store is acknowledged to the client only when a quorum of the swarm
//! holds the message; without receipts the client had only the entry
//! member's word for that, so a hostile entry member (or one that the hostile
//! members around it fool) could say "stored" and drop the message. Now every
//! member that holds it (the entry member, and each replica in its `Ack`)
//! signs a receipt with its node key, the entry member hands them all to the
//! client in [`crate::rpc::Response::Stored`], and the client counts the
//! message as sent only with valid receipts from a quorum of *distinct*
//! members of the swarm *as the client sees it* ([`count_receipts`]).
//!
//! The signed bytes: `"sotto storage receipt v1" ‖ u8 len ‖ network ‖ account
//! (32) ‖ message hash (32)`. The hash binds the namespace and the data
//! ([`crate::rpc::MessageHash`]), so nothing else is needed. A receipt says
//! "I hold it", not "until when": the expiry is the owner's business.

use serde::{Deserialize, Serialize};

use crate::codec::bytes64;
use crate::constants::SIGNATURE_LEN;
use crate::error::Result;
use crate::id::{AccountId, NodeId};
use crate::keys::{NodeKey, verify};
use crate::rpc::message::MessageHash;

/// Domain separation for the bytes a member signs.
pub const RECEIPT_CONTEXT: &[u8] = b"sotto storage receipt v1";

/// The exact bytes a member signs to say it holds `hash` of `account` on
/// `network`.
pub fn receipt_message(network: &str, account: &AccountId, hash: &MessageHash) -> Vec<u8> {
    let name = network.as_bytes();
    let len = u8::try_from(name.len()).unwrap_or(u8::MAX);
    let mut m = Vec::with_capacity(RECEIPT_CONTEXT.len() + 1 + name.len() + 64);
    m.extend_from_slice(RECEIPT_CONTEXT);
    m.push(len);
    m.extend_from_slice(name.get(..usize::from(len)).unwrap_or(name));
    m.extend_from_slice(account.as_bytes());
    m.extend_from_slice(&hash.0);
    m
}

/// A member's signature over [`receipt_message`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct StorageReceipt {
    /// The member that holds the message (its node key verifies `signature`).
    pub node: NodeId,
    /// Ed25519 signature by `node` over [`receipt_message`].
    #[serde(with = "bytes64")]
    pub signature: [u8; SIGNATURE_LEN],
}

impl StorageReceipt {
    /// The receipt of the node with `key` for `hash` of `account` on `network`.
    pub fn sign(key: &NodeKey, network: &str, account: &AccountId, hash: &MessageHash) -> Self {
        Self {
            node: key.node_id(),
            signature: key.sign(&receipt_message(network, account, hash)),
        }
    }

    /// Checks the signature (strict Ed25519) for `hash` of `account` on
    /// `network`.
    pub fn verify(&self, network: &str, account: &AccountId, hash: &MessageHash) -> Result<()> {
        verify(
            "storage receipt",
            self.node.as_bytes(),
            &receipt_message(network, account, hash),
            &self.signature,
        )
    }
}

/// How many distinct members of `swarm` (the account's swarm as the caller
/// sees it) gave a valid receipt for `hash` among `receipts`. Receipts of
/// nodes outside `swarm`, repeated nodes and bad signatures count nothing.
/// Checks at most one signature per member of `swarm`.
pub fn count_receipts(
    receipts: &[StorageReceipt],
    network: &str,
    account: &AccountId,
    hash: &MessageHash,
    swarm: &[NodeId],
) -> usize {
    let mut counted: Vec<NodeId> = Vec::with_capacity(swarm.len());
    for r in receipts {
        if !swarm.contains(&r.node) || counted.contains(&r.node) {
            continue;
        }
        if r.verify(network, account, hash).is_ok() {
            counted.push(r.node);
        }
    }
    counted.len()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;
    use crate::keys::AccountKey;

    fn account() -> AccountId {
        AccountKey::from_entropy([3; 16]).account_id()
    }

    #[test]
    fn a_receipt_verifies_only_for_what_it_was_signed_for() {
        let key = NodeKey::from_secret_bytes(&[1; 32]);
        let hash = MessageHash([7; 32]);
        let r = StorageReceipt::sign(&key, "devnet", &account(), &hash);
        r.verify("devnet", &account(), &hash).unwrap();
        assert!(r.verify("mainnet", &account(), &hash).is_err());
        assert!(
            r.verify("devnet", &account(), &MessageHash([8; 32]))
                .is_err()
        );
        let other = AccountKey::from_entropy([4; 16]).account_id();
        assert!(r.verify("devnet", &other, &hash).is_err());
        // Another node cannot take it as its own.
        let mut stolen = r.clone();
        stolen.node = NodeKey::from_secret_bytes(&[2; 32]).node_id();
        assert!(stolen.verify("devnet", &account(), &hash).is_err());
        assert!(receipt_message("devnet", &account(), &hash).starts_with(RECEIPT_CONTEXT));
    }

    #[test]
    fn only_distinct_members_with_good_signatures_count() {
        let keys: Vec<NodeKey> = (1..=4u8)
            .map(|i| NodeKey::from_secret_bytes(&[i; 32]))
            .collect();
        let swarm: Vec<NodeId> = keys[..3].iter().map(NodeKey::node_id).collect();
        let hash = MessageHash([9; 32]);
        let sign = |k: &NodeKey| StorageReceipt::sign(k, "devnet", &account(), &hash);
        let mut forged = sign(&keys[1]);
        forged.signature[0] ^= 1;
        let receipts = vec![
            sign(&keys[0]),
            sign(&keys[0]), // the same member twice
            forged,         // a member whose signature is bad
            sign(&keys[3]), // not in the swarm
        ];
        assert_eq!(
            count_receipts(&receipts, "devnet", &account(), &hash, &swarm),
            1
        );
        let good = vec![sign(&keys[0]), sign(&keys[1]), sign(&keys[2])];
        assert_eq!(
            count_receipts(&good, "devnet", &account(), &hash, &swarm),
            3
        );
        assert_eq!(count_receipts(&good, "devnet", &account(), &hash, &[]), 0);
    }
}
