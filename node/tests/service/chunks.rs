//! The chunk namespace through `Service`: stamped chunks stored and read back
//! unsigned, the node's chunk rate and chunk space, and what nobody may do.

use sotto_node::config::NodeConfig;
use sotto_node::store::charge;
use sotto_protocol::Namespace;
use sotto_protocol::attachment::{
    CHUNK_LEN, CHUNK_POSTAGE_BITS, ChunkHash, MAX_CHUNK_TTL_MS, mine_postage,
};
use sotto_protocol::rpc::{
    ChunkStoreRequest, DeleteRequest, ErrorKind, Request, Response, RetrieveRequest,
};
use sotto_protocol::time::DAY_MS;

use super::support::{Node, Setup, data_of, error_of, inbox_store, node, now, owner};

/// The `i`-th chunk (counting from `from`) whose swarm, by `n`'s directory,
/// holds `n`, with its stamp.
fn chunks_for(n: &Node, from: u32, count: usize) -> Vec<ChunkStoreRequest> {
    (from..)
        .map(|i| {
            let mut data = vec![0u8; CHUNK_LEN];
            data[..4].copy_from_slice(&i.to_le_bytes());
            data
        })
        .filter(|data| {
            let account = ChunkHash::of(data).account();
            n.ctx.dir(|d| d.swarm(&account)).contains(&n.ctx.node_id)
        })
        .take(count)
        .map(|data| {
            let stamp = mine_postage(&ChunkHash::of(&data), CHUNK_POSTAGE_BITS, 0);
            ChunkStoreRequest {
                data,
                ttl_ms: MAX_CHUNK_TTL_MS,
                stamp,
            }
        })
        .collect()
}

fn read(hash: ChunkHash) -> Request {
    Request::Retrieve(RetrieveRequest::unsigned(
        hash.account(),
        Namespace::CHUNKS,
        None,
    ))
}

#[tokio::test]
async fn a_stamped_chunk_is_stored_charged_to_the_pool_and_read_by_anyone() {
    let n = node(Setup::default());
    let chunk = chunks_for(&n, 0, 1).remove(0);
    let hash = chunk.hash();
    let r = n.service.handle(Request::StoreChunk(chunk.clone())).await;
    let Response::Stored {
        expiry, timestamp, ..
    } = r
    else {
        panic!("{r:?}")
    };
    assert_eq!(expiry - timestamp, MAX_CHUNK_TTL_MS);
    assert_eq!(
        data_of(n.service.handle(read(hash)).await),
        vec![chunk.data.clone()]
    );
    let pool = n.ctx.store.chunk_usage().unwrap();
    assert_eq!((pool.messages, pool.bytes), (1, charge(CHUNK_LEN)));
    // Nothing is charged to the chunk's own account.
    assert_eq!(n.ctx.store.usage(&hash.account()).unwrap().bytes, 0);
    // Storing it again adds nothing.
    let again = n.service.handle(Request::StoreChunk(chunk)).await;
    assert!(matches!(again, Response::Stored { .. }), "{again:?}");
    assert_eq!(n.ctx.store.chunk_usage().unwrap().messages, 1);
    assert_eq!(n.ctx.metrics.requests.get("store_chunk", "ok"), 2);
}

#[tokio::test]
async fn a_chunk_outside_this_nodes_swarms_is_pointed_elsewhere() {
    let n = node(Setup::default());
    let foreign = (0u32..)
        .map(|i| {
            let mut data = vec![1u8; CHUNK_LEN];
            data[..4].copy_from_slice(&i.to_le_bytes());
            data
        })
        .find(|data| {
            let account = ChunkHash::of(data).account();
            !n.ctx.dir(|d| d.swarm(&account)).contains(&n.ctx.node_id)
        })
        .unwrap();
    let stamp = mine_postage(&ChunkHash::of(&foreign), CHUNK_POSTAGE_BITS, 0);
    let e = error_of(
        n.service
            .handle(Request::StoreChunk(ChunkStoreRequest {
                data: foreign,
                ttl_ms: DAY_MS,
                stamp,
            }))
            .await,
    );
    assert!(matches!(e.kind, ErrorKind::WrongSwarm { .. }), "{e:?}");
}

#[tokio::test]
async fn the_chunk_rate_and_chunk_space_are_the_nodes_own() {
    let mut config = NodeConfig::default();
    config.limits.chunk_rate_per_minute = 1;
    config.limits.chunk_burst = 3;
    config.store.max_chunk_bytes = 2 * charge(CHUNK_LEN);
    let n = node(Setup {
        config,
        ..Setup::default()
    });
    let chunks = chunks_for(&n, 100, 4);
    for c in &chunks[..2] {
        let r = n.service.handle(Request::StoreChunk(c.clone())).await;
        assert!(matches!(r, Response::Stored { .. }), "{r:?}");
    }
    // The chunk space is full: refused, and what is held stays.
    let e = error_of(
        n.service
            .handle(Request::StoreChunk(chunks[2].clone()))
            .await,
    );
    assert_eq!(e.kind, ErrorKind::QuotaExceeded, "{e:?}");
    assert!(e.message.contains("chunk"), "{e}");
    assert_eq!(n.ctx.store.chunk_usage().unwrap().messages, 2);
    // The burst of three is used up: the next chunk is told when to come back.
    let e = error_of(
        n.service
            .handle(Request::StoreChunk(chunks[3].clone()))
            .await,
    );
    let ErrorKind::RateLimited { retry_after_ms } = e.kind else {
        panic!("{e:?}")
    };
    assert!(retry_after_ms > 0);
    assert_eq!(n.ctx.metrics.rejected.get("rpc", "chunk_rate_limited"), 1);
    // Inboxes have their own budgets: chunks took none of them.
    let r = n
        .service
        .handle(inbox_store(owner().account_id(), b"still room"))
        .await;
    assert!(matches!(r, Response::Stored { .. }), "{r:?}");
}

#[tokio::test]
async fn nobody_deletes_a_chunk_or_stores_one_without_postage() {
    let n = node(Setup::default());
    let chunk = chunks_for(&n, 200, 1).remove(0);
    let plain = Request::Store(chunk.to_store());
    assert!(plain.encode().is_err());
    // What a client that skips its own checks gets.
    let bytes = sotto_protocol::codec::encode("test", &plain).unwrap();
    let answer = n.service.handle_bytes(n.ctx.peer_id, &bytes).await;
    let answer = Response::decode(&answer, now()).unwrap();
    assert!(matches!(answer, Response::Error(_)), "{answer:?}");
    // Unpaid: a stamp with too few zero bits.
    let unpaid = ChunkStoreRequest {
        stamp: (0..)
            .find(|s| {
                sotto_protocol::attachment::postage_bits(&chunk.hash(), *s) < CHUNK_POSTAGE_BITS
            })
            .unwrap(),
        ..chunk.clone()
    };
    let bytes = sotto_protocol::codec::encode("test", &Request::StoreChunk(unpaid)).unwrap();
    let answer =
        Response::decode(&n.service.handle_bytes(n.ctx.peer_id, &bytes).await, now()).unwrap();
    assert!(matches!(answer, Response::Error(_)), "{answer:?}");
    assert_eq!(n.ctx.store.chunk_usage().unwrap().messages, 0);
    // A delete in the chunk namespace is refused before any signature check,
    // whoever signs it.
    let r = n.service.handle(Request::StoreChunk(chunk.clone())).await;
    let Response::Stored { hash, .. } = r else {
        panic!("{r:?}")
    };
    if let Ok(del) = DeleteRequest::signed(&owner(), "devnet", Namespace::CHUNKS, vec![hash], now())
    {
        let r = n.service.handle(Request::Delete(del)).await;
        assert!(matches!(r, Response::Error(_)), "{r:?}");
    }
    // A delete of the chunk's own account, built by hand (no client would
    // sign one: nobody holds that key), is refused on the wire too.
    let forged = Request::Delete(DeleteRequest {
        account: chunk.hash().account(),
        namespace: Namespace::CHUNKS,
        hashes: vec![hash],
        auth: sotto_protocol::rpc::OwnerAuth {
            timestamp: now(),
            signature: [0; 64],
        },
    });
    let bytes = sotto_protocol::codec::encode("test", &forged).unwrap();
    let answer =
        Response::decode(&n.service.handle_bytes(n.ctx.peer_id, &bytes).await, now()).unwrap();
    assert!(matches!(answer, Response::Error(_)), "{answer:?}");
    assert_eq!(n.ctx.metrics.requests.get("delete", "ok"), 0);
    assert_eq!(data_of(n.service.handle(read(chunk.hash())).await).len(), 1);
}
