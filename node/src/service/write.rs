//! Writes: stores (durable here, then pushed to a quorum of the swarm), and
//! the owner's deletes and expiry changes (pushed in the background).

use std::time::Duration;

use sotto_protocol::UnixMillis;
use sotto_protocol::constants::MAX_SWARM_SIZE;
use sotto_protocol::rpc::{
    DeleteRequest, ErrorKind, ExpireRequest, Response, StorageReceipt, StoreRequest, StoredMessage,
};

use super::Service;
use super::blocking::blocking;
use crate::context::Push;
use crate::store::{FirstPut, PutOutcome};

/// How much longer than one peer request a push may take before the service
/// stops waiting for it. The pusher bounds its own waits; this only keeps a
/// pusher that never resolves from holding a client's request forever.
const PUSH_SLACK: Duration = Duration::from_secs(1);

/// What the store holds after a client's store.
struct Kept {
    /// The message as this node keeps it (what is pushed).
    message: StoredMessage,
    /// Its expiry as served (the owner may have shortened it).
    expiry: UnixMillis,
}

impl Service {
    /// Stores `req` accepted at `now`; `swarm_len` is the size of the account's
    /// swarm by this node's view.
    pub(super) async fn store(
        &self,
        req: StoreRequest,
        now: UnixMillis,
        swarm_len: usize,
    ) -> Response {
        let msg = req.to_stored(now);
        let store = self.ctx.store.clone();
        let kept = blocking(move || {
            // A message already held is answered as it is (Store::put_first
            // says why); two identical stores racing can still merge to the
            // later timestamp, which is the rule every replica applies anyway.
            let (message, changed) = match store.put_first(msg.clone(), now)? {
                FirstPut::Held { message, expiry } => {
                    return Ok((Kept { message, expiry }, false));
                }
                FirstPut::Put(PutOutcome::Stored) => (msg, true),
                FirstPut::Put(PutOutcome::Merged { timestamp, expiry }) => (
                    StoredMessage {
                        timestamp,
                        expiry,
                        ..msg
                    },
                    true,
                ),
                FirstPut::Put(PutOutcome::Duplicate { timestamp, expiry }) => (
                    StoredMessage {
                        timestamp,
                        expiry,
                        ..msg
                    },
                    false,
                ),
            };
            if changed {
                // Durable before it is acknowledged (and before other members
                // are told, so that they never hold what this node could lose).
                store.flush()?;
            }
            let expiry = message.expiry;
            Ok((Kept { message, expiry }, changed))
        })
        .await;
        let (kept, changed) = match kept {
            Ok(k) => k,
            Err(f) => return self.failure("store", f),
        };
        if changed {
            self.ctx.metrics.observe_store(&self.ctx.store);
            self.ctx
                .waiters
                .wake(&kept.message.account, kept.message.namespace);
        }

        // The quorum counts this node and comes from the network parameters
        // alone: a node whose view of the swarm is smaller than the quorum (it
        // is alone, or its directory is incomplete) cannot make a store durable
        // by itself, so it does not say it did. Only members that answer that
        // they hold the message count (NodeResponse::holds).
        let quorum = usize::from(self.ctx.params.store_quorum).max(1);
        let need = quorum - 1;
        // Pushed even when already held: a client re-sends a store whose
        // quorum was not met, and pushing again is what gets it there
        // (replicas treat a copy they hold as a duplicate).
        let push = self.pusher.push(Push::Store(kept.message.clone()), need);
        let wait = self.ctx.net.request_timeout().saturating_add(PUSH_SLACK);
        let acks = tokio::time::timeout(wait, push).await.unwrap_or_default();
        let held_by = acks.count.saturating_add(1).min(MAX_SWARM_SIZE);
        if held_by < quorum {
            self.ctx.metrics.rejected.inc("rpc", "below_quorum");
            return self.error(
                ErrorKind::Timeout,
                format!(
                    "stored here but only {held_by} of quorum {quorum} members hold it \
                     ({swarm_len} members known here); it will be retried: this node \
                     keeps it and pushes it again"
                ),
            );
        }
        // This node's receipt first, then the replicas' (verified by the
        // pusher); the client checks them all against the swarm it sees.
        let own = StorageReceipt::sign(
            &self.ctx.node_key,
            &self.ctx.params.name,
            &kept.message.account,
            &kept.message.hash,
        );
        let mut receipts = vec![own];
        receipts.extend(acks.receipts);
        receipts.truncate(MAX_SWARM_SIZE);
        Response::Stored {
            hash: kept.message.hash,
            timestamp: kept.message.timestamp,
            expiry: kept.expiry,
            held_by: u8::try_from(held_by).unwrap_or(u8::MAX),
            receipts,
        }
    }

    /// Applies the owner's delete `req` at `now`.
    pub(super) async fn delete(&self, req: DeleteRequest, now: UnixMillis) -> Response {
        let store = self.ctx.store.clone();
        let applied = req.clone();
        let deleted = blocking(move || {
            let hashes = store.delete(&applied, now)?;
            store.flush()?;
            Ok(hashes)
        })
        .await;
        match deleted {
            Ok(hashes) => {
                self.ctx.metrics.observe_store(&self.ctx.store);
                self.push_in_background("delete", Push::Delete(req));
                Response::Deleted { hashes }
            }
            Err(f) => self.failure("delete", f),
        }
    }

    /// Applies the owner's expiry change `req` at `now`.
    pub(super) async fn expire(&self, req: ExpireRequest, now: UnixMillis) -> Response {
        let store = self.ctx.store.clone();
        let applied = req.clone();
        let changed = blocking(move || {
            let hashes = store.expire(&applied, now)?;
            store.flush()?;
            Ok(hashes)
        })
        .await;
        match changed {
            Ok(hashes) => {
                // An expiry change moves records but charges nothing; read
                // anyway, so that every change is followed by a reading.
                self.ctx.metrics.observe_store(&self.ctx.store);
                let expiry = req.expiry;
                self.push_in_background("expire", Push::Expire(req));
                Response::Expired { hashes, expiry }
            }
            Err(f) => self.failure("expire", f),
        }
    }

    /// Pushes `push` to the swarm without making the client wait for the
    /// network. At most a bounded number run at once; past that the push is
    /// skipped (and counted): the signed request is in the store, and
    /// anti-entropy hands it to the members that miss it.
    fn push_in_background(&self, kind: &'static str, push: Push) {
        let Ok(permit) = self.background.clone().try_acquire_owned() else {
            self.ctx.metrics.pushes.inc(kind, "skipped_busy");
            return;
        };
        let future = self.pusher.push(push, 0);
        let wait = self.ctx.net.request_timeout().saturating_add(PUSH_SLACK);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(wait, future).await;
            drop(permit);
        });
    }
}
