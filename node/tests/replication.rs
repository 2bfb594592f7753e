//! Replication between real nodes (real contexts, sled stores in temporary
//! directories, signed directories) wired by an in-memory router instead of
//! libp2p: pushes and their quorum, the retry backlog, anti-entropy after
//! members were down, deletes that stay deleted, handoff after a directory
//! change, and refusal of bad input.

// Helpers outside `#[test]` functions fail loudly too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "replication/harness.rs"]
mod harness;

#[path = "replication/chunks.rs"]
mod chunks;

use harness::*;
use libp2p::PeerId;
use sotto_node::config::NodeConfig;
use sotto_node::context::{Push, Pusher};
use sotto_node::directory::{Directory, VerifiedRecord};
use sotto_protocol::constants::MAX_NODE_REQUEST_LEN;
use sotto_protocol::rpc::{
    DeleteRequest, ErrorKind, MessageHash, NodeRequest, NodeResponse, OwnerAuth, StoreProof,
    StoreRequest, StoredMessage, count_receipts,
};
use sotto_protocol::time::{DAY_MS, HOUR_MS};
use sotto_protocol::{AccountId, AccountKey, Namespace, NodeKey};
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_reaches_quorum_and_then_every_member() {
    let (_router, nodes) = network(5, &NodeConfig::default());
    let a = account(1);
    assert!(nodes.iter().all(|n| n.serves(&a)), "5 nodes, swarm of 5");
    let m = message(a, 1);
    let acked = bounded(store_and_push(&nodes[0], &m, 1)).await;
    assert!(acked >= 1, "{acked}");
    eventually("every member holds the message", || {
        nodes.iter().all(|n| n.holds(&m))
    })
    .await;
    eventually("every push is counted", || {
        nodes[0].ctx.metrics.pushes.get("store", "ok") == 4
    })
    .await;
    for n in &nodes[1..] {
        assert_eq!(n.ctx.metrics.node_requests.get("replicate", "ok"), 1);
    }
    assert_eq!(nodes[0].repl.backlog_len(), 0);
    // Asking for every member waits for all of them, and each gives back its
    // signed receipt: four distinct members, each valid for this message.
    let m2 = message(a, 2);
    let acks = bounded(store_and_push_acks(&nodes[0], &m2, 4)).await;
    assert_eq!(acks.count, 4);
    let others: Vec<_> = nodes[1..].iter().map(|n| n.id()).collect();
    assert_eq!(
        count_receipts(&acks.receipts, NET, &a, &m2.hash, &others),
        4
    );
    assert_eq!(
        count_receipts(&acks.receipts, "other", &a, &m2.hash, &others),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_that_were_down_converge_by_anti_entropy() {
    let (router, nodes) = network(5, &NodeConfig::default());
    let accounts = [account(1), account(2), account(3)];
    // Before the partition, node 3 got one message of the first account.
    let early = message(accounts[0], 0);
    bounded(store_and_push(&nodes[0], &early, 4)).await;
    set_down(&router, &[&nodes[3], &nodes[4]]);
    let mut all = vec![early];
    for (i, a) in accounts.iter().enumerate() {
        for j in 0..5u32 {
            let m = message(*a, 100 * u32::try_from(i).unwrap() + j + 1);
            // Two members and the writer: the store quorum holds.
            assert_eq!(bounded(store_and_push(&nodes[0], &m, 2)).await, 2);
            all.push(m);
        }
    }
    assert!(all.iter().all(|m| nodes[1].holds(m) && nodes[2].holds(m)));
    assert!(!all.iter().all(|m| nodes[3].holds(m)));
    assert!(!all.iter().any(|m| m != &all[0] && nodes[4].holds(m)));

    set_down(&router, &[]);
    // Node 3 holds part of the first account: its own round pulls the rest of
    // that account from the others.
    bounded(nodes[3].repl.anti_entropy_once()).await;
    let first: Vec<_> = all.iter().filter(|m| m.account == accounts[0]).collect();
    assert!(first.iter().all(|m| nodes[3].holds(m)));
    assert!(nodes[3].ctx.metrics.pulled_messages.get() >= 5);
    assert!(nodes[3].ctx.metrics.anti_entropy.get("ok", "") >= 4);
    // Node 4 missed three whole accounts; a round of node 1, which holds them,
    // pushes them there.
    bounded(nodes[1].repl.anti_entropy_once()).await;
    for n in &nodes {
        for m in &all {
            assert!(n.holds(m), "a member lacks a message after anti-entropy");
        }
    }
    // Converged: digests agree, and another round moves nothing.
    for a in &accounts {
        let d0 = nodes[0].ctx.store.digest(a, now()).unwrap();
        for n in &nodes[1..] {
            assert_eq!(n.ctx.store.digest(a, now()).unwrap(), d0);
        }
    }
    let pulled = nodes[2].ctx.metrics.pulled_messages.get();
    bounded(nodes[2].repl.anti_entropy_once()).await;
    assert_eq!(nodes[2].ctx.metrics.pulled_messages.get(), pulled);
    assert_eq!(nodes[2].ctx.metrics.pushes.get("anti_entropy", "ok"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_message_never_comes_back() {
    let (router, nodes) = network(5, &NodeConfig::default());
    let owner = AccountKey::from_entropy([7; 16]);
    let a = owner.account_id();
    let m = message(a, 1);
    let kept = message(a, 2);
    bounded(store_and_push(&nodes[0], &m, 4)).await;
    bounded(store_and_push(&nodes[0], &kept, 4)).await;
    assert!(nodes.iter().all(|n| n.holds(&m)));

    // Node 4 is away while the owner deletes the message at node 0.
    set_down(&router, &[&nodes[4]]);
    let delete = DeleteRequest::signed(&owner, NET, Namespace::INBOX, vec![m.hash], now()).unwrap();
    nodes[0].ctx.store.delete(&delete, now()).unwrap();
    let acked = bounded(nodes[0].repl.push(Push::Delete(delete), 3)).await;
    assert_eq!(acked.count, 3);
    assert!(acked.receipts.is_empty(), "a delete has no receipts");
    set_down(&router, &[]);
    assert!(nodes[4].holds(&m), "node 4 missed the delete");

    // Node 4 runs its round first, with the message still there: it must not
    // bring it back anywhere, and must take the delete.
    bounded(nodes[4].repl.anti_entropy_once()).await;
    bounded(nodes[0].repl.anti_entropy_once()).await;
    // Even a direct push of the old message is refused by the tombstones.
    for n in &nodes {
        assert!(!n.holds(&m), "the deleted message is back");
        assert!(n.holds_tombstone(&m));
        assert!(n.holds(&kept));
        let ack = bounded(nodes[0].ctx.net.node_request(
            n.peer(),
            NodeRequest::Replicate {
                messages: vec![m.clone()],
                deletes: vec![],
                expiries: vec![],
            },
        ))
        .await;
        if n.id() != nodes[0].id() {
            // A tombstone refuses it: answered as not held.
            assert_eq!(
                ack,
                Ok(NodeResponse::Ack {
                    held: vec![false],
                    receipts: vec![]
                })
            );
        }
        assert!(!n.holds(&m));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_moves_an_account_to_a_new_member_then_drops_it() {
    let config = NodeConfig::default();
    let (router, old) = network(5, &config);
    let new = node(&router, 6, &config);
    for n in &old {
        new.learn(n.record());
    }
    new.learn(new.record());
    // An account whose swarm of five, among six nodes, takes in the new node.
    let a = (1..=200)
        .map(account)
        .find(|a| new.serves(a))
        .expect("some account's swarm takes in the new node");
    let messages: Vec<_> = (1..=70).map(|i| message(a, i)).collect();
    for m in &messages {
        bounded(store_and_push(&old[0], m, 4)).await;
    }
    assert!(old.iter().all(|n| messages.iter().all(|m| n.holds(m))));

    // The new node joins every directory: exactly one old member leaves.
    for n in &old {
        n.learn(new.record());
    }
    let leaving: Vec<&Node> = old.iter().filter(|n| !n.serves(&a)).collect();
    assert_eq!(leaving.len(), 1);
    let leaver = leaving[0];
    for n in &old {
        bounded(n.repl.handoff_once()).await;
    }
    assert!(messages.iter().all(|m| new.holds(m)), "handed over");
    assert!(
        messages.iter().all(|m| leaver.holds(m)),
        "kept during the grace"
    );
    assert_eq!(leaver.ctx.metrics.handed_off_messages.get(), 0);

    // After the grace period the leaver drops the account; the others keep it.
    leaver
        .ctx
        .clock
        .set_offset(i64::try_from(2 * GRACE_MS).unwrap());
    for n in &old {
        bounded(n.repl.handoff_once()).await;
    }
    assert_eq!(leaver.held_items(&a), 0);
    assert_eq!(leaver.ctx.store.accounts().count(), 0);
    assert_eq!(leaver.ctx.metrics.handed_off_messages.get(), 70);
    for n in old.iter().filter(|n| n.serves(&a)).chain([&new]) {
        assert_eq!(n.held_items(&a), 70);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_counted() {
    let (_router, nodes) = network(6, &NodeConfig::default());
    let target = &nodes[0];
    let member = nodes[1].peer();
    let metrics = &target.ctx.metrics;
    let owner = AccountKey::from_entropy([9; 16]);
    let answer = |bytes: Vec<u8>| NodeResponse::decode(&bytes, now()).unwrap();
    let error_kind = |r: NodeResponse| match r {
        NodeResponse::Error(e) => e.kind,
        other => panic!("expected an error, got {other:?}"),
    };
    let replicate = |m: StoredMessage| {
        NodeRequest::Replicate {
            messages: vec![m],
            deletes: vec![],
            expiries: vec![],
        }
        .encode()
        .unwrap()
    };
    let serves = |a: &AccountId| target.serves(a);
    let mine = (1..=200).map(account).find(|a| serves(a)).unwrap();
    let not_mine = (1..=200).map(account).find(|a| !serves(a)).unwrap();

    // A peer that is not a node of the directory.
    let stranger = PeerId::random();
    let r = answer(
        target
            .repl
            .handle_bytes(stranger, &replicate(message(mine, 1)))
            .await,
    );
    assert_eq!(error_kind(r), ErrorKind::Unauthorized);
    assert_eq!(metrics.rejected.get("replication", "not_a_node"), 1);
    assert_eq!(target.held_items(&mine), 0);

    // Malformed and oversized bytes from a member: typed errors, no panic.
    let r = answer(target.repl.handle_bytes(member, &[0xff; 10]).await);
    assert_eq!(error_kind(r), ErrorKind::BadRequest);
    let huge = vec![0u8; MAX_NODE_REQUEST_LEN + 1];
    let r = answer(target.repl.handle_bytes(member, &huge).await);
    assert_eq!(error_kind(r), ErrorKind::TooLarge);
    assert_eq!(metrics.rejected.sum_first("replication"), 3);
    assert_eq!(metrics.node_requests.get("malformed", "too_large"), 1);

    // An owner-namespace message whose store proof is forged: the whole batch
    // is refused.
    let signed = StoreRequest::signed(
        &owner,
        NET,
        Namespace::PUBLIC,
        b"profile".to_vec(),
        DAY_MS,
        now(),
    )
    .unwrap()
    .to_stored(now());
    let mut forged = signed.clone();
    forged.owner = Some(StoreProof {
        ttl_ms: DAY_MS,
        auth: OwnerAuth {
            timestamp: forged.timestamp,
            signature: [7; 64],
        },
    });
    let r = answer(target.repl.handle_bytes(member, &replicate(forged)).await);
    assert_eq!(error_kind(r), ErrorKind::Unauthorized);
    assert_eq!(metrics.rejected.get("replication", "bad_signature"), 1);
    assert_eq!(target.held_items(&signed.account), 0);
    // The same message with the owner's real proof is kept, if this node
    // serves the account.
    let r = answer(
        target
            .repl
            .handle_bytes(member, &replicate(signed.clone()))
            .await,
    );
    if target.serves(&signed.account) {
        assert!(r.holds(0));
        let receipt = r.receipt(0).unwrap();
        assert_eq!(receipt.node, target.id());
        receipt.verify(NET, &signed.account, &signed.hash).unwrap();
        assert!(target.holds(&signed));
    } else {
        assert_eq!(
            r,
            NodeResponse::Ack {
                held: vec![false],
                receipts: vec![]
            }
        );
    }

    // A message for an account this node does not serve is skipped and
    // counted; one it serves is kept.
    let r = answer(
        target
            .repl
            .handle_bytes(member, &replicate(message(not_mine, 1)))
            .await,
    );
    // Acknowledged as received, but not as held: it counts toward no quorum,
    // and comes with no receipt.
    assert_eq!(
        r,
        NodeResponse::Ack {
            held: vec![false],
            receipts: vec![]
        }
    );
    assert!(!r.holds(0));
    assert!(metrics.rejected.get("replication", "not_my_swarm") >= 1);
    assert_eq!(target.held_items(&not_mine), 0);
    let m = message(mine, 2);
    let r = answer(
        target
            .repl
            .handle_bytes(member, &replicate(m.clone()))
            .await,
    );
    assert!(r.holds(0));
    r.receipt(0).unwrap().verify(NET, &mine, &m.hash).unwrap();
    assert!(target.holds(&m));
    // The node goes on answering.
    let r = answer(
        target
            .repl
            .handle_bytes(
                member,
                &NodeRequest::List {
                    account: mine,
                    after: None,
                    limit: 10,
                }
                .encode()
                .unwrap(),
            )
            .await,
    );
    match r {
        NodeResponse::Listing { items, more } => {
            assert_eq!(
                items.iter().map(|i| i.hash).collect::<Vec<MessageHash>>(),
                vec![m.hash]
            );
            assert!(!more);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_push_is_retried_until_it_lands() {
    let mut config = NodeConfig::default();
    config.replication.retry_interval_ms = 20;
    // Keep the other loops out of the way: the retry alone must deliver.
    config.replication.anti_entropy_interval_ms = HOUR_MS;
    config.replication.handoff_check_interval_ms = HOUR_MS;
    config.store.purge_interval_ms = HOUR_MS;
    let (router, nodes) = network(5, &config);
    let (stop, shutdown) = watch::channel(false);
    let tasks = nodes[0].repl.spawn_tasks(shutdown);

    set_down(&router, &[&nodes[4]]);
    let m = message(account(3), 1);
    assert_eq!(bounded(store_and_push(&nodes[0], &m, 4)).await, 3);
    eventually("the failed push waits in the backlog", || {
        nodes[0].ctx.metrics.pushes.get("store", "failed") >= 1
    })
    .await;
    assert!(!nodes[4].holds(&m));

    set_down(&router, &[]);
    eventually("the retry delivers it", || nodes[4].holds(&m)).await;
    eventually("the backlog empties", || nodes[0].repl.backlog_len() == 0).await;
    assert_eq!(nodes[0].ctx.metrics.replication_backlog.get(), 0);
    assert_eq!(nodes[0].ctx.metrics.anti_entropy.sum_first("ok"), 0);

    stop.send(true).unwrap();
    for t in tasks {
        bounded(t).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_backs_off_while_a_member_stays_down() {
    let (router, nodes) = network(5, &NodeConfig::default());
    set_down(&router, &[&nodes[4]]);
    let m = message(account(4), 1);
    bounded(store_and_push(&nodes[0], &m, 3)).await;
    eventually("the failed push waits in the backlog", || {
        nodes[0].repl.backlog_len() == 1
    })
    .await;
    assert_eq!(nodes[0].ctx.metrics.replication_backlog.get(), 1);
    // Due at once after the first failure; still down, so it fails again and
    // stays, backed off.
    bounded(nodes[0].repl.retry_once()).await;
    assert_eq!(nodes[0].repl.backlog_len(), 1);
    assert_eq!(nodes[0].ctx.metrics.pushes.get("store", "failed"), 2);
    set_down(&router, &[]);
    // Not due yet (the default retry interval is seconds): nothing is sent.
    bounded(nodes[0].repl.retry_once()).await;
    assert!(!nodes[4].holds(&m));
    assert_eq!(nodes[0].repl.backlog_len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_drops_pushes_to_a_node_that_left_the_swarm() {
    let config = NodeConfig::default();
    let (router, nodes) = network(5, &config);
    let newcomer = node(&router, 6, &config);
    // An account whose swarm loses node 4 once the newcomer is known.
    let mut with_newcomer = Directory::new(params(), 100);
    for n in nodes.iter().chain([&newcomer]) {
        let v = VerifiedRecord::verify(n.record(), with_newcomer.params(), now()).unwrap();
        with_newcomer.insert(v, now()).unwrap();
    }
    let a = (1..=200)
        .map(account)
        .find(|a| !with_newcomer.in_swarm(a, &nodes[4].id()))
        .expect("some account's swarm drops node 4");
    set_down(&router, &[&nodes[4]]);
    let m = message(a, 1);
    bounded(store_and_push(&nodes[0], &m, 3)).await;
    eventually("the failed push waits in the backlog", || {
        nodes[0].repl.backlog_len() == 1
    })
    .await;
    nodes[0].learn(newcomer.record());
    set_down(&router, &[]);
    bounded(nodes[0].repl.retry_once()).await;
    assert_eq!(nodes[0].repl.backlog_len(), 0);
    assert_eq!(nodes[0].ctx.metrics.pushes.get("store", "not_member"), 1);
    assert!(
        !nodes[4].holds(&m),
        "not sent to a node that left the swarm"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_removes_what_expired_and_updates_the_gauges() {
    let (_router, nodes) = network(1, &NodeConfig::default());
    let n = &nodes[0];
    let a = account(5);
    let short = StoredMessage::new(a, Namespace::INBOX, b"soon".to_vec(), now(), 10_000);
    let long = message(a, 1);
    n.ctx.store.put(short.clone(), now()).unwrap();
    n.ctx.store.put(long.clone(), now()).unwrap();
    assert_eq!(bounded(n.repl.purge_once()).await, 0);
    assert_eq!(n.ctx.metrics.stored_messages.get(), 2);
    // Twenty seconds later the short-lived one is gone, the other stays.
    n.ctx.clock.set_offset(20_000);
    assert_eq!(bounded(n.repl.purge_once()).await, 1);
    assert_eq!(n.ctx.metrics.purged_messages.get(), 1);
    assert_eq!(n.ctx.metrics.stored_messages.get(), 1);
    assert_eq!(
        n.ctx.metrics.stored_bytes.get(),
        i64::try_from(n.ctx.store.total_bytes().unwrap()).unwrap()
    );
    assert!(n.ctx.metrics.stored_bytes.get() > 0);
    assert!(n.holds(&long));
}

/// Wave 2 (issue "Clocks and data safety", item 4): while directory views
/// disagree, a member that believes an account is not its own drops the
/// message it is pushed. Its answer says so, message by message, and it counts
/// toward no quorum: "held by N" means N copies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_drops_an_out_of_swarm_item_does_not_count_toward_quorum() {
    let (_router, nodes) = network(5, &NodeConfig::default());
    // Node 4 learns of ten more nodes (seeds 100..110) that the others do
    // not know yet: by its view, some accounts' swarms no longer include it.
    for seed in 100..110u8 {
        nodes[4].learn(record(&NodeKey::from_secret_bytes(&[seed; 32])));
    }
    let a = (1..=200u8)
        .map(account)
        .find(|a| !nodes[4].serves(a) && nodes[0].serves(a))
        .expect("an account node 4 no longer serves by its own view");
    assert!(
        nodes[0].ctx.dir(|d| d.in_swarm(&a, &nodes[4].id())),
        "node 0 still counts node 4 as a member"
    );
    let m = message(a, 1);
    // Node 0 asks for all four other members: only three hold it.
    let acked = bounded(store_and_push(&nodes[0], &m, 4)).await;
    assert_eq!(acked, 3, "node 4's answer must not count");
    assert!(!nodes[4].holds(&m));
    assert!(
        nodes[4]
            .ctx
            .metrics
            .rejected
            .get("replication", "not_my_swarm")
            >= 1
    );
    // The push to node 4 is not taken as done: it waits in the backlog.
    eventually("the refused push is in the backlog", || {
        nodes[0].repl.backlog_len() == 1
    })
    .await;
}

/// Listings, fetches and digests answer only about accounts the asking node
/// shares with this one (issue 12): any other node of the directory could
/// read owner-only messages and make the node scan accounts on demand.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_co_members_may_list_fetch_or_compare_an_account() {
    let (_router, nodes) = network(8, &NodeConfig::default());
    let target = &nodes[0];
    // An account the target serves that one other node does not.
    let (account, outsider, member) = (1..=200)
        .map(account)
        .filter(|a| target.serves(a))
        .find_map(|a| {
            let out = nodes[1..].iter().find(|n| !n.serves(&a))?;
            let member = nodes[1..].iter().find(|n| n.serves(&a))?;
            Some((a, out, member))
        })
        .unwrap();
    let m = message(account, 1);
    target.ctx.store.put(m.clone(), now()).unwrap();
    let ask = |from: PeerId, r: NodeRequest| {
        let repl = target.repl.clone();
        async move {
            let bytes = repl.handle_bytes(from, &r.encode().unwrap()).await;
            NodeResponse::decode(&bytes, now()).unwrap()
        }
    };
    let list = NodeRequest::List {
        account,
        after: None,
        limit: 16,
    };
    let fetch = NodeRequest::Fetch {
        hashes: vec![(account, m.hash)],
    };
    let digest = NodeRequest::Digest {
        digests: vec![sotto_protocol::rpc::AccountDigest {
            account,
            digest: [0; 32],
            count: 0,
        }],
    };
    match ask(outsider.peer(), list.clone()).await {
        NodeResponse::Error(e) => assert_eq!(e.kind, ErrorKind::Unauthorized),
        other => panic!("{other:?}"),
    }
    match ask(outsider.peer(), fetch.clone()).await {
        NodeResponse::Messages { messages, .. } => assert!(messages.is_empty()),
        other => panic!("{other:?}"),
    }
    match ask(outsider.peer(), digest.clone()).await {
        NodeResponse::DigestDiff { differing } => assert!(differing.is_empty()),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        target
            .ctx
            .metrics
            .rejected
            .get("replication", "not_a_member"),
        3
    );
    // A co-member gets all three.
    match ask(member.peer(), list).await {
        NodeResponse::Listing { items, .. } => assert_eq!(items.len(), 1),
        other => panic!("{other:?}"),
    }
    match ask(member.peer(), fetch).await {
        NodeResponse::Messages { messages, .. } => assert_eq!(messages, vec![m]),
        other => panic!("{other:?}"),
    }
    match ask(member.peer(), digest).await {
        NodeResponse::DigestDiff { differing } => assert_eq!(differing, vec![account]),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_drops_what_it_signed_for_is_caught_and_stops_counting() {
    let (_router, nodes) = network(5, &NodeConfig::default());
    let a = account(3);
    assert!(nodes.iter().all(|n| n.serves(&a)), "5 nodes, swarm of 5");
    // Three messages, each signed for by all four other members.
    let ms: Vec<_> = (1..=3).map(|i| message(a, i)).collect();
    for m in &ms {
        assert_eq!(bounded(store_and_push(&nodes[0], m, 4)).await, 4);
    }
    // Node 1's operator throws them away after signing.
    nodes[1].ctx.store.remove_account(&a).unwrap();
    // Node 0's anti-entropy finds node 1 without what it signed for.
    bounded(nodes[0].repl.anti_entropy_once()).await;
    let rejected = &nodes[0].ctx.metrics.rejected;
    assert_eq!(rejected.get("anti_entropy", "receipt_broken"), 3);
    // From now on its receipts count for nothing on node 0: a store that
    // waits for every member gets the other three.
    let m4 = message(a, 4);
    let acks = bounded(store_and_push_acks(&nodes[0], &m4, 4)).await;
    assert_eq!(acks.count, 3);
    assert!(acks.receipts.iter().all(|r| r.node != nodes[1].id()));
    assert_eq!(rejected.get("replicate", "caught_member"), 1);
    // An honest member that holds what it signed is never accused.
    assert_eq!(
        nodes[2]
            .ctx
            .metrics
            .rejected
            .get("anti_entropy", "receipt_broken"),
        0
    );
}
