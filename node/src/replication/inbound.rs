//! Answering other nodes' replication requests.

use libp2p::PeerId;
use sotto_protocol::rpc::{
    AccountDigest, ErrorKind, MessageHash, NodeRequest, NodeResponse, RpcError, StorageReceipt,
};
use sotto_protocol::{AccountId, NodeId, UnixMillis};

use super::apply::{self, Batch};
use super::{Replicator, blocking};

/// The metrics source of everything refused here.
const SOURCE: &str = "replication";

impl Replicator {
    /// Handles one replication request from `peer` and returns the encoded
    /// [`NodeResponse`], whatever happened: a failure is an
    /// [`NodeResponse::Error`], counted in the metrics.
    ///
    /// Checks run cheapest first: the sender must be a node of the directory
    /// (a lookup; strangers get `Unauthorized` before their bytes are decoded),
    /// then [`NodeRequest::decode`] (size bound first, then shape and times),
    /// then [`NodeRequest::authorize`] (the owner signatures; one bad signature
    /// refuses the whole batch, since its sender is broken or lying).
    ///
    /// A `Replicate` keeps what belongs to accounts this node serves and, once
    /// it is on disk, answers `Ack` saying message by message whether this node
    /// holds it. A message it did not keep (another swarm by its view, over a
    /// quota, deleted, expired) is answered `false`, so the sender counts this
    /// node toward nothing it does not hold, and retries it.
    pub async fn handle_bytes(&self, peer: PeerId, bytes: &[u8]) -> Vec<u8> {
        let now = self.ctx.clock.now();
        let (kind, response) = self.answer(peer, bytes, now).await;
        let outcome = match &response {
            NodeResponse::Error(e) => e.kind.name(),
            _ => "ok",
        };
        self.ctx.metrics.node_requests.inc(kind, outcome);
        encode(&response, now)
    }

    async fn answer(
        &self,
        peer: PeerId,
        bytes: &[u8],
        now: UnixMillis,
    ) -> (&'static str, NodeResponse) {
        let metrics = &self.ctx.metrics;
        let Some(from) = self.ctx.dir(|d| d.node_of_peer(&peer)) else {
            metrics.rejected.inc(SOURCE, "not_a_node");
            let e = RpcError::new(
                ErrorKind::Unauthorized,
                "only nodes of the directory may replicate",
                now,
            );
            return ("unknown", NodeResponse::Error(e));
        };
        let request = match NodeRequest::decode(bytes, now) {
            Ok(r) => r,
            Err(e) => {
                let e = RpcError::from_error(&e, now);
                metrics.rejected.inc(SOURCE, e.kind.name());
                return ("malformed", NodeResponse::Error(e));
            }
        };
        let kind = request.kind();
        if let Err(e) = request.authorize(&self.ctx.params.name, now) {
            metrics.rejected.inc(SOURCE, "bad_signature");
            return (kind, NodeResponse::Error(RpcError::from_auth(&e, now)));
        }
        let response = match self.serve(from, request, now).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(kind, error = %e, "replication request failed on this node");
                NodeResponse::Error(RpcError::new(ErrorKind::Internal, e.to_string(), now))
            }
        };
        (kind, response)
    }

    /// Runs `request` of node `from`. What it reads (digests, listings,
    /// fetched messages and proofs) is only about accounts whose swarm holds
    /// both nodes: any other node of the directory could otherwise read
    /// owner-only messages and make this node scan accounts on demand.
    /// Pushes are not filtered by sender: a node leaving a swarm hands its
    /// accounts over by pushing them (`handoff`), and `apply` keeps only what
    /// belongs to accounts this node serves.
    async fn serve(
        &self,
        from: NodeId,
        request: NodeRequest,
        now: UnixMillis,
    ) -> Result<NodeResponse, super::ReplicationError> {
        let me = self.ctx.node_id;
        let shared = |d: &crate::directory::Directory, account: &AccountId| {
            d.in_swarm(account, &me) && d.in_swarm(account, &from)
        };
        let store = &self.ctx.store;
        match request {
            NodeRequest::Replicate {
                messages,
                deletes,
                expiries,
            } => {
                let ids: Vec<(AccountId, MessageHash)> =
                    messages.iter().map(|m| (m.account, m.hash)).collect();
                let batch = Batch {
                    messages,
                    deletes,
                    expiries,
                };
                let applied = apply::apply(&self.ctx, SOURCE, batch).await?;
                // A receipt for each message held (one signature each,
                // about 20 µs, against the batch's fsync).
                let receipts = ids
                    .iter()
                    .zip(&applied.held)
                    .filter(|(_, held)| **held)
                    .map(|((account, hash), _)| {
                        StorageReceipt::sign(
                            &self.ctx.node_key,
                            &self.ctx.params.name,
                            account,
                            hash,
                        )
                    })
                    .collect();
                Ok(NodeResponse::Ack {
                    held: applied.held,
                    receipts,
                })
            }
            NodeRequest::Digest { digests } => {
                // Only accounts both serve: for any other, a difference would
                // make the peer push data here that would be refused, or
                // tell a stranger what an account holds.
                let asked = digests.len();
                let digests: Vec<AccountDigest> = self.ctx.dir(|d| {
                    digests
                        .into_iter()
                        .filter(|x| shared(d, &x.account))
                        .collect()
                });
                for _ in digests.len()..asked {
                    self.ctx.metrics.rejected.inc(SOURCE, "not_a_member");
                }
                let differing = blocking(store, move |s| {
                    let mut out = Vec::new();
                    for theirs in digests {
                        let ours = s.digest(&theirs.account, now)?;
                        if ours.digest != theirs.digest || ours.count != theirs.count {
                            out.push(theirs.account);
                        }
                    }
                    Ok(out)
                })
                .await?;
                // The peer's order was checked strictly increasing, and
                // filtering keeps it.
                Ok(NodeResponse::DigestDiff { differing })
            }
            NodeRequest::List {
                account,
                after,
                limit,
            } => {
                if !self.ctx.dir(|d| shared(d, &account)) {
                    self.ctx.metrics.rejected.inc(SOURCE, "not_a_member");
                    let e = RpcError::new(
                        ErrorKind::Unauthorized,
                        "only members of the account's swarm may list it",
                        now,
                    );
                    return Ok(NodeResponse::Error(e));
                }
                let (items, more) = blocking(store, move |s| {
                    s.list(&account, after, usize::from(limit), now)
                })
                .await?;
                Ok(NodeResponse::Listing { items, more })
            }
            NodeRequest::Fetch { hashes } => {
                // At most one message and one proof per hash, and hashes are at
                // most MAX_REPLICATION_BATCH: the answer has the shape and so
                // the size bound of a replication batch.
                // Only hashes of accounts both serve, before the store is read.
                let asked = hashes.len();
                let hashes: Vec<_> = self.ctx.dir(|d| {
                    hashes
                        .into_iter()
                        .filter(|(account, _)| shared(d, account))
                        .collect()
                });
                for _ in hashes.len()..asked {
                    self.ctx.metrics.rejected.inc(SOURCE, "not_a_member");
                }
                let f = blocking(store, move |s| s.fetch(&hashes, now)).await?;
                Ok(NodeResponse::Messages {
                    messages: f.messages,
                    deletes: f.deletes,
                    expiries: f.expiries,
                })
            }
        }
    }
}

/// The bytes of `response`; if it cannot be encoded (a bug: every answer built
/// here fits its bounds), an `Internal` error instead.
fn encode(response: &NodeResponse, now: UnixMillis) -> Vec<u8> {
    match response.encode() {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(error = %e, "could not encode a replication answer");
            let fallback = RpcError::new(ErrorKind::Internal, "could not encode the answer", now);
            NodeResponse::Error(fallback).encode().unwrap_or_default()
        }
    }
}
