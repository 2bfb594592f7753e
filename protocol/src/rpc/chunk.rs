//! Storing an attachment chunk ([`ChunkStoreRequest`]) and the checks every
//! node makes on a chunk, whether a client or a co-member hands it over.
//!
//! A chunk lives in the nodes' [`Namespace::CHUNKS`] under the account its hash
//! names ([`ChunkHash::account`]), so the swarm of that account keeps it and
//! everything nodes do for messages (quorum acknowledgements, pushes,
//! anti-entropy, expiry, reads) applies to it. What differs is checked here:
//! the data is exactly one chunk ([`CHUNK_LEN`]) and hashes to its account, it
//! lives at most [`MAX_CHUNK_TTL_MS`], and a client's store carries postage
//! ([`crate::attachment::postage`]). Reads are plain unsigned retrieves, which
//! never wait on a node.

use serde::{Deserialize, Serialize};

use crate::attachment::{CHUNK_LEN, ChunkHash, MAX_CHUNK_TTL_MS, check_postage};
use crate::constants::MIN_TTL_MS;
use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::namespace::Namespace;
use crate::rpc::request::StoreRequest;

/// Store one sealed attachment chunk in the swarm of its hash. The node
/// derives the account from the data, so the request names neither.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkStoreRequest {
    /// The sealed chunk: exactly [`CHUNK_LEN`] bytes.
    pub data: Vec<u8>,
    /// How long it lives, [`MIN_TTL_MS`] to [`MAX_CHUNK_TTL_MS`].
    pub ttl_ms: u64,
    /// The postage stamp for the chunk's hash
    /// ([`crate::attachment::mine_postage`]).
    pub stamp: u64,
}

impl ChunkStoreRequest {
    /// The chunk's hash (one BLAKE3 pass over the data).
    pub fn hash(&self) -> ChunkHash {
        ChunkHash::of(&self.data)
    }

    /// Checks the size, TTL and postage. One BLAKE3 pass over the data and one
    /// small hash; no signature.
    pub fn validate(&self) -> Result<()> {
        check_chunk_len(self.data.len())?;
        if !(MIN_TTL_MS..=MAX_CHUNK_TTL_MS).contains(&self.ttl_ms) {
            return Err(Error::OutOfRange {
                what: "chunk ttl_ms",
                reason: format!(
                    "{} ms is not between {MIN_TTL_MS} ms (10 s) and {MAX_CHUNK_TTL_MS} ms \
                     (14 days)",
                    self.ttl_ms
                ),
            });
        }
        check_postage(&self.hash(), self.stamp)
    }

    /// The store a node runs for this chunk: unsigned, in
    /// [`Namespace::CHUNKS`], under the chunk's account.
    pub fn to_store(&self) -> StoreRequest {
        StoreRequest {
            account: self.hash().account(),
            namespace: Namespace::CHUNKS,
            data: self.data.clone(),
            ttl_ms: self.ttl_ms,
            auth: None,
        }
    }
}

fn check_chunk_len(len: usize) -> Result<()> {
    if len != CHUNK_LEN {
        return Err(Error::OutOfRange {
            what: "chunk",
            reason: format!("{len} bytes, every chunk is {CHUNK_LEN}"),
        });
    }
    Ok(())
}

/// The checks a stored item of [`Namespace::CHUNKS`] meets on every node that
/// takes it in: one chunk's length, the data hashes to `account`, and a life of
/// at most [`MAX_CHUNK_TTL_MS`]. Co-members run it on every pushed or pulled
/// copy, so a dishonest member cannot plant other bytes under a chunk's name.
pub(crate) fn check_stored_chunk(account: &AccountId, data: &[u8], life_ms: u64) -> Result<()> {
    check_chunk_len(data.len())?;
    if ChunkHash::of(data).account() != *account {
        return Err(Error::OutOfRange {
            what: "chunk",
            reason: "its data does not hash to the account it is stored under".into(),
        });
    }
    if life_ms > MAX_CHUNK_TTL_MS {
        return Err(Error::OutOfRange {
            what: "chunk expiry",
            reason: format!("lives {life_ms} ms, over the chunk limit of {MAX_CHUNK_TTL_MS} ms"),
        });
    }
    Ok(())
}

/// Refuses `namespace` for a request that only fits owned namespaces (`what`:
/// a plain store, which carries no postage, a delete, an expiry change).
pub(crate) fn refuse_chunks(namespace: Namespace, what: &'static str) -> Result<()> {
    if namespace == Namespace::CHUNKS {
        return Err(Error::OutOfRange {
            what,
            reason: "not in the chunk namespace: chunks are stored with StoreChunk (which \
                     carries postage) and are never deleted or shortened, only left to expire"
                .into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attachment::{CHUNK_POSTAGE_BITS, mine_postage};
    use crate::constants::DEFAULT_TTL_MS;
    use crate::rpc::{Request, StoredMessage};

    fn chunk(fill: u8) -> ChunkStoreRequest {
        let data = vec![fill; CHUNK_LEN];
        let stamp = mine_postage(&ChunkHash::of(&data), CHUNK_POSTAGE_BITS, 0);
        ChunkStoreRequest {
            data,
            ttl_ms: MAX_CHUNK_TTL_MS,
            stamp,
        }
    }

    #[test]
    fn a_stamped_chunk_round_trips_and_becomes_a_chunk_store() {
        let req = chunk(7);
        let wire = Request::StoreChunk(req.clone());
        let back = Request::decode(&wire.encode().unwrap()).unwrap();
        assert_eq!(back, wire);
        assert_eq!(back.kind(), "store_chunk");
        assert_eq!(back.swarm_account(), Some(req.hash().account()));
        let store = req.to_store();
        assert_eq!(store.namespace, Namespace::CHUNKS);
        let stored = store.to_stored(1_700_000_000_000);
        stored.validate().unwrap();
        assert!(stored.owner.is_none());
    }

    #[test]
    fn wrong_size_ttl_or_stamp_is_refused() {
        let good = chunk(1);
        let mut short = good.clone();
        short.data.pop();
        assert!(short.validate().is_err());
        let mut long_life = good.clone();
        long_life.ttl_ms = MAX_CHUNK_TTL_MS + 1;
        assert!(long_life.validate().is_err());
        let mut unpaid = good.clone();
        unpaid.stamp = (0..)
            .find(|s| crate::attachment::postage_bits(&good.hash(), *s) < CHUNK_POSTAGE_BITS)
            .unwrap();
        assert!(unpaid.validate().is_err());
        assert!(Request::StoreChunk(unpaid).encode().is_err());
        good.validate().unwrap();
    }

    #[test]
    fn chunk_namespace_refuses_plain_stores_deletes_and_foreign_bytes() {
        let req = chunk(2);
        // A plain store in the chunk namespace (no postage) is refused.
        let plain = Request::Store(req.to_store());
        assert!(plain.validate().is_err());
        // Replicated copies: other bytes under the chunk's account, or a life
        // over 14 days, are refused.
        let now = 1_700_000_000_000;
        let other = ChunkStoreRequest {
            data: vec![3; CHUNK_LEN],
            ..req.clone()
        };
        let forged = StoredMessage::new(
            req.hash().account(),
            Namespace::CHUNKS,
            other.data.clone(),
            now,
            DEFAULT_TTL_MS,
        );
        assert!(forged.validate().is_err());
        let too_long = StoredMessage::new(
            req.hash().account(),
            Namespace::CHUNKS,
            req.data.clone(),
            now,
            MAX_CHUNK_TTL_MS + 1,
        );
        assert!(too_long.validate().is_err());
    }
}
