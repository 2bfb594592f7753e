//! What each relay learns (DESIGN §7): relays instrumented with the relay's
//! observer record (previous hop, next hop) for every packet they accept. No
//! relay may see both the client's peer id and the destination, and the
//! destination never sees the client's peer id.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/harness.rs"]
mod harness;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use harness::{TestNet, wait_status};
use libp2p::PeerId;
use sotto_client::{Account, Client, PathStatus};
use sotto_node::directory::peer_id_of;
use sotto_node::relay::{Next, PacketEvent};
use sotto_protocol::namespace::Namespace;
use sotto_protocol::rpc::{Request, Response, StoreRequest};
use sotto_protocol::time::MINUTE_MS;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_relay_sees_both_ends_and_the_destination_never_sees_the_client() {
    tokio::time::timeout(Duration::from_secs(120), async {
        let net = TestNet::start(10).await;
        // (the observing node, what it saw)
        let seen: Arc<Mutex<Vec<(PeerId, PacketEvent)>>> = Arc::default();
        for slot in &net.slots {
            let me = peer_id_of(&slot.node_id).unwrap();
            let seen = seen.clone();
            slot.node
                .as_ref()
                .unwrap()
                .relay()
                .set_observer(Arc::new(move |ev: PacketEvent| {
                    seen.lock().unwrap().push((me, ev));
                }));
        }
        let client = Client::start(net.client_config()).await.unwrap();
        wait_status(&client, "Ready", |s| matches!(s, PathStatus::Ready { .. })).await;
        let me = client.peer_id();

        for i in 0..6u8 {
            let account = Account::create();
            let req =
                StoreRequest::unsigned(account.id(), Namespace::INBOX, vec![i; 64], 10 * MINUTE_MS);
            seen.lock().unwrap().clear();
            let resp = client
                .swarm_request(&account.id(), move |_| Request::Store(req.clone()))
                .await
                .unwrap();
            assert!(matches!(resp, Response::Stored { .. }), "{resp:?}");
            // What the relays saw while this request ran (path tests of the
            // builder may run beside it): follow each packet from the client.
            let events = seen.lock().unwrap().clone();
            let chains = chains_from(me, &events);
            assert!(!chains.is_empty(), "no packet seen: {events:?}");
            let swarm: Vec<PeerId> = net
                .swarm(&account.id())
                .iter()
                .map(|n| peer_id_of(n).unwrap())
                .collect();
            assert!(
                chains
                    .iter()
                    .any(|c| c.last().is_some_and(|d| swarm.contains(d))),
                "no packet reached the account's swarm: {chains:?}"
            );
            for chain in &chains {
                // guard, middle, exit, destination: four distinct nodes.
                assert_eq!(chain.len(), 4, "{chain:?}");
                let mut distinct = chain.clone();
                distinct.sort();
                distinct.dedup();
                assert_eq!(distinct.len(), 4, "{chain:?}");
            }
            for (node, ev) in &events {
                assert!(
                    !(ev.from == me && ev.next == Next::Deliver),
                    "destination {node} saw the client's peer id"
                );
            }
        }
        client.shutdown().await;
    })
    .await
    .unwrap();
}

/// The hops of every packet that left the client, in order, as far as the
/// observers saw it: from the guard (the event whose `from` is the client) along
/// each `Forward` to the node that delivered it. A hop is linked to the next by
/// the packet's replay tag (the tag a relay forwards is the one the next relay
/// receives), so packets that cross the same link at once are never mixed up.
fn chains_from(client: PeerId, events: &[(PeerId, PacketEvent)]) -> Vec<Vec<PeerId>> {
    let mut chains = Vec::new();
    for (guard, ev) in events {
        if ev.from != client {
            continue;
        }
        let mut chain = vec![*guard];
        let (mut at, mut current) = (*guard, *ev);
        while let (Next::Forward(to), Some(onward)) = (current.next, current.onward) {
            let Some((_, next)) = events
                .iter()
                .find(|(node, e)| *node == to && e.from == at && e.tag == onward)
            else {
                break;
            };
            chain.push(to);
            at = to;
            current = *next;
        }
        if current.next == Next::Deliver {
            chains.push(chain);
        }
    }
    chains
}
