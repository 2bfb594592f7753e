//! Attachment chunks replicate like messages: pushed to the swarm of their
//! hash, repaired by anti-entropy after members were down, and refused from a
//! co-member when the bytes do not hash to the chunk's account.

use sotto_node::config::NodeConfig;
use sotto_protocol::Namespace;
use sotto_protocol::attachment::{CHUNK_LEN, ChunkHash};
use sotto_protocol::rpc::{ErrorKind, NodeRequest, NodeResponse, StoredMessage};
use sotto_protocol::time::DAY_MS;

use super::harness::{bounded, network, now, set_down, store_and_push};

fn chunk(n: u32) -> StoredMessage {
    let mut data = vec![0xc5; CHUNK_LEN];
    data[..4].copy_from_slice(&n.to_le_bytes());
    StoredMessage::new(
        ChunkHash::of(&data).account(),
        Namespace::CHUNKS,
        data,
        now(),
        DAY_MS,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_stored_while_members_were_down_reach_them_by_anti_entropy() {
    let (router, nodes) = network(5, &NodeConfig::default());
    set_down(&router, &[&nodes[3], &nodes[4]]);
    let chunks: Vec<StoredMessage> = (0..6).map(chunk).collect();
    for c in &chunks {
        assert!(
            nodes.iter().all(|n| n.serves(&c.account)),
            "5 nodes, swarm of 5"
        );
        assert_eq!(bounded(store_and_push(&nodes[0], c, 2)).await, 2);
    }
    assert!(
        !chunks
            .iter()
            .any(|c| nodes[3].holds(c) || nodes[4].holds(c))
    );
    set_down(&router, &[]);
    bounded(nodes[1].repl.anti_entropy_once()).await;
    for n in &nodes {
        for c in &chunks {
            assert!(n.holds(c), "a member lacks a chunk after anti-entropy");
        }
        let pool = n.ctx.store.chunk_usage().unwrap();
        assert_eq!(pool.messages, 6);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_cannot_plant_other_bytes_under_a_chunk() {
    let (_router, nodes) = network(5, &NodeConfig::default());
    let real = chunk(1);
    // Other bytes under the real chunk's account, with a hash made to match
    // the account, namespace and data (what a dishonest member could send).
    let mut forged = chunk(2);
    forged.account = real.account;
    forged.hash =
        sotto_protocol::rpc::MessageHash::compute(&forged.account, forged.namespace, &forged.data);
    let request = NodeRequest::Replicate {
        messages: vec![forged.clone()],
        deletes: vec![],
        expiries: vec![],
    };
    // The sender's own encoder refuses it; a dishonest member skips that.
    assert!(request.encode().is_err());
    let bytes = sotto_protocol::codec::encode("test", &request).unwrap();
    let answer = nodes[0].repl.handle_bytes(nodes[1].peer(), &bytes).await;
    match NodeResponse::decode(&answer, now()).unwrap() {
        NodeResponse::Error(e) => assert!(!matches!(e.kind, ErrorKind::Unauthorized), "{e:?}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert!(!nodes[0].holds(&forged));
    assert_eq!(nodes[0].ctx.store.chunk_usage().unwrap().messages, 0);
}
