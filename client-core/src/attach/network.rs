//! The network's [`ChunkStore`]: each chunk stored in and fetched from the swarm
//! of its own hash, every request over an onion path of the client's.
//!
//! - **put**: a [`Request::StoreChunk`] with postage, mined off the async
//!   threads, sent to a member of the chunk's swarm; the member answers once a
//!   quorum holds the chunk. A member that asks to slow down is waited for
//!   (its `retry_after`, capped), and one whose chunk space is full is passed
//!   over: the chunk is offered again, to a member picked afresh, a bounded
//!   number of times.
//! - **get** / **has**: an unsigned retrieve in [`Namespace::CHUNKS`] of the
//!   chunk's account, asked of the members one after another in random order
//!   until one has it. A member's answer is used only if the data hashes to the
//!   chunk asked for; anything else counts as "this member does not have it".
//!   A chunk is missing only when every member reached says so.

use std::sync::Arc;
use std::time::Duration;

use rand::seq::SliceRandom;
use sotto_protocol::Namespace;
use sotto_protocol::attachment::{CHUNK_POSTAGE_BITS, ChunkHash, MAX_CHUNK_TTL_MS, mine_postage};
use sotto_protocol::rpc::{ChunkStoreRequest, Request, Response, RetrieveRequest};

use super::{ChunkStore, StoreError, StoreResult};
use crate::{Client, ClientError};

/// Times one chunk is offered again after a member said to slow down or that
/// its chunk space is full.
const MAX_BUSY_TRIES: u32 = 5;
/// Longest pause after such an answer, whatever the member asked.
const MAX_PAUSE: Duration = Duration::from_secs(10);

/// Chunks in the swarms of their hashes, through a running [`Client`].
#[derive(Clone)]
pub struct NetworkChunks {
    client: Arc<Client>,
    ttl_ms: u64,
}

impl std::fmt::Debug for NetworkChunks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkChunks")
            .field("ttl_ms", &self.ttl_ms)
            .finish_non_exhaustive()
    }
}

impl NetworkChunks {
    /// Chunks stored through `client` for the longest a node keeps them
    /// ([`MAX_CHUNK_TTL_MS`], 14 days).
    pub fn new(client: Arc<Client>) -> Self {
        Self {
            client,
            ttl_ms: MAX_CHUNK_TTL_MS,
        }
    }

    /// The same, with chunks kept `ttl_ms` (capped at [`MAX_CHUNK_TTL_MS`]).
    pub fn with_ttl(client: Arc<Client>, ttl_ms: u64) -> Self {
        Self {
            client,
            ttl_ms: ttl_ms.min(MAX_CHUNK_TTL_MS),
        }
    }

    /// The chunk from one member after another; `Ok(None)` when every member
    /// that answered lacks it, an error when none answered.
    async fn fetch(&self, hash: ChunkHash) -> StoreResult<Option<Vec<u8>>> {
        let account = hash.account();
        let mut members = self.client.swarm_of(&account);
        if members.is_empty() {
            return Err(StoreError(
                "no storage nodes known yet: wait for the directory".into(),
            ));
        }
        members.shuffle(&mut rand::rng());
        let mut answered = 0usize;
        let mut last_error = None;
        for member in members {
            let asked = self
                .client
                .request(member, |_| {
                    Request::Retrieve(RetrieveRequest::unsigned(account, Namespace::CHUNKS, None))
                })
                .await;
            match asked {
                Ok(Response::Messages { messages, .. }) => {
                    answered += 1;
                    if let Some(m) = messages
                        .into_iter()
                        .find(|m| ChunkHash::of(&m.data) == hash)
                    {
                        return Ok(Some(m.data));
                    }
                }
                Ok(_) => answered += 1,
                Err(e) => last_error = Some(e),
            }
        }
        match (answered, last_error) {
            (0, Some(e)) => Err(StoreError(format!("fetching a chunk: {e}"))),
            _ => Ok(None),
        }
    }
}

impl ChunkStore for NetworkChunks {
    async fn put(&self, hash: ChunkHash, bytes: Vec<u8>) -> StoreResult<()> {
        let start = rand::random::<u64>();
        let stamp =
            tokio::task::spawn_blocking(move || mine_postage(&hash, CHUNK_POSTAGE_BITS, start))
                .await
                .map_err(|e| StoreError(format!("postage: {e}")))?;
        let request = Request::StoreChunk(ChunkStoreRequest {
            data: bytes,
            ttl_ms: self.ttl_ms,
            stamp,
        });
        let account = hash.account();
        let mut tries = 0;
        loop {
            match self
                .client
                .swarm_request(&account, |_| request.clone())
                .await
            {
                Ok(Response::Stored { .. }) => return Ok(()),
                Ok(_) => return Err(StoreError("a node answered a chunk store oddly".into())),
                Err(ClientError::RateLimited { retry_after_ms }) if tries < MAX_BUSY_TRIES => {
                    tries += 1;
                    let pause = Duration::from_millis(retry_after_ms).min(MAX_PAUSE);
                    tokio::time::sleep(pause).await;
                }
                // The member's chunk space is full: another member (picked
                // afresh) may have room and still bring the chunk to a quorum.
                Err(ClientError::OverQuota) if tries < MAX_BUSY_TRIES => tries += 1,
                Err(e) => return Err(StoreError(format!("storing a chunk: {e}"))),
            }
        }
    }

    async fn get(&self, hash: ChunkHash) -> StoreResult<Option<Vec<u8>>> {
        self.fetch(hash).await
    }

    async fn has(&self, hash: ChunkHash) -> StoreResult<bool> {
        Ok(self.fetch(hash).await?.is_some())
    }
}
