//! A chat home's part in groups over real service nodes in process: the home
//! publishes a last-resort key package on connect, an admin elsewhere finds
//! it and invites the account, and the home joins with it after a restart,
//! because the package's private keys were written before it went out.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/harness.rs"]
mod harness;
#[path = "support/chat.rs"]
mod support;

use std::time::Duration;

use harness::{TestNet, wait_status};
use sotto_client::chat::{ChatError, ChatEvent, GroupPrefs, MessageState, Messenger};
use sotto_client::group::publish::fetch_key_package;
use sotto_client::group::{Groups, Outgoing};
use sotto_client::{Client, PathStatus};
use sotto_protocol::{AccountKey, Namespace};
use support::{WAIT, connect, new_user, opts, until};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_home_publishes_its_key_package_and_joins_with_it_after_a_restart() {
    tokio::time::timeout(Duration::from_secs(180), async {
        let net = TestNet::start(8).await;
        let (dir, bob) = new_user("Bob");
        connect(&net, &bob).await;
        // The background task publishes on connect; this waits for it (or
        // publishes if it has not yet) and then finds nothing more due.
        tokio::time::timeout(WAIT, async {
            while bob.publish_key_package().await.is_err() {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
        .await
        .expect("the key package was not published");
        assert!(!bob.publish_key_package().await.unwrap());

        // Alice, an admin with her own client, finds Bob's package.
        let client = Client::start(net.client_config()).await.unwrap();
        wait_status(&client, "Ready", |s| matches!(s, PathStatus::Ready { .. })).await;
        let mut alice = Groups::new(&AccountKey::from_entropy([1; 16]));
        let package = fetch_key_package(&client, &bob.account_id()).await.unwrap();
        let (id, out) = alice.create("book club", &[package], client.now()).unwrap();
        let welcome = out
            .into_iter()
            .find_map(|o| match o {
                Outgoing::Welcome { bytes, .. } => Some(bytes),
                _ => None,
            })
            .unwrap();

        // Bob's home restarts before the invitation arrives.
        bob.shutdown().await;
        drop(bob);
        let bob = Messenger::open(&opts(&dir)).unwrap();
        assert!(bob.groups().unwrap().is_empty());
        assert_eq!(bob.join_group(&welcome).unwrap(), id);
        drop(bob);
        let bob = Messenger::open(&opts(&dir)).unwrap();
        let groups = bob.groups().unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].meta.name, "book club");
        assert_eq!(groups[0], alice.info(&id).unwrap());
        client.shutdown().await;
    })
    .await
    .expect("the test took too long");
}

/// Waits (bounded) until `m`'s key package is out.
async fn key_package_out(m: &Messenger) {
    tokio::time::timeout(WAIT, async {
        while m.publish_key_package().await.is_err() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the key package was not published");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_contacts_invitation_is_joined_and_a_strangers_waits_to_be_accepted() {
    tokio::time::timeout(Duration::from_secs(180), async {
        let net = TestNet::start(8).await;
        let (_da, alice) = new_user("Alice");
        let (_db, bob) = new_user("Bob");
        let (_dc, carol) = new_user("Carol");
        alice.add_contact(bob.account_id(), None).unwrap();
        bob.add_contact(alice.account_id(), None).unwrap();
        for m in [&alice, &bob, &carol] {
            connect(&net, m).await;
        }
        key_package_out(&bob).await;

        // Carol, whom Bob does not know, invites him first: the invitation
        // waits as a request, nothing is joined.
        let strangers = carol
            .create_group("strangers", &[bob.account_id()])
            .await
            .unwrap();
        until("Carol's invitation kept", || {
            !bob.group_invites().unwrap().is_empty()
        })
        .await;
        let invites = bob.group_invites().unwrap();
        assert_eq!(invites.len(), 1);
        assert_eq!(invites[0].from, carol.account_id());
        assert!(bob.groups().unwrap().is_empty());

        // Alice, a contact, invites him: joined at once.
        let id = alice
            .create_group("hikers", &[bob.account_id()])
            .await
            .unwrap();
        until("Bob in Alice's group", || !bob.groups().unwrap().is_empty()).await;
        let groups = bob.groups().unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].id, id);
        assert_eq!(groups[0].meta.name, "hikers");
        assert_eq!(groups[0], alice.groups().unwrap()[0]);

        // Bob accepts Carol's invitation after all.
        assert_eq!(bob.accept_group_invite(&invites[0].id).unwrap(), strangers);
        assert!(bob.group_invites().unwrap().is_empty());
        assert_eq!(bob.groups().unwrap().len(), 2);
        for m in [alice, bob, carol] {
            m.shutdown().await;
        }
    })
    .await
    .expect("the test took too long");
}

/// Alice, Bob and Carol, each a contact of Alice, connected, in a group
/// "hikers" Alice made and both others joined.
struct Hikers {
    homes: Vec<tempfile::TempDir>,
    alice: Messenger,
    bob: Messenger,
    carol: Messenger,
    id: sotto_client::group::GroupId,
}

async fn hikers(net: &TestNet) -> Hikers {
    let (da, alice) = new_user("Alice");
    let (db, bob) = new_user("Bob");
    let (dc, carol) = new_user("Carol");
    for (a, b) in [(&alice, &bob), (&alice, &carol)] {
        a.add_contact(b.account_id(), None).unwrap();
        b.add_contact(a.account_id(), None).unwrap();
    }
    for m in [&alice, &bob, &carol] {
        connect(net, m).await;
    }
    key_package_out(&bob).await;
    key_package_out(&carol).await;
    let id = alice
        .create_group("hikers", &[bob.account_id(), carol.account_id()])
        .await
        .unwrap();
    until("both joined", || {
        !bob.groups().unwrap().is_empty() && !carol.groups().unwrap().is_empty()
    })
    .await;
    Hikers {
        homes: vec![da, db, dc],
        alice,
        bob,
        carol,
        id,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn members_talk_in_a_group_through_its_epoch_accounts() {
    tokio::time::timeout(Duration::from_secs(180), async {
        let net = TestNet::start(8).await;
        let Hikers {
            homes: _homes,
            alice,
            bob,
            carol,
            id,
        } = hikers(&net).await;

        // A text too large for one stored message is refused when it is
        // sent, and what follows goes out.
        assert!(matches!(
            bob.send_group_text(&id, &"x".repeat(65_300)),
            Err(ChatError::TooLong { .. })
        ));
        alice.send_group_text(&id, "hello hikers").unwrap();
        bob.send_group_text(&id, "hi from bob").unwrap();
        let texts = |m: &Messenger| -> Vec<(bool, String)> {
            m.group_messages(&id, 10)
                .unwrap()
                .into_iter()
                .map(|g| (g.outgoing, g.text))
                .collect()
        };
        until("everyone has both messages", || {
            [&alice, &bob, &carol].iter().all(|m| texts(m).len() == 2)
        })
        .await;
        let carol_has = carol.group_messages(&id, 10).unwrap();
        let from: Vec<_> = carol_has
            .iter()
            .map(|g| (g.sender, g.text.as_str()))
            .collect();
        assert!(
            from.contains(&(alice.account_id(), "hello hikers")),
            "{from:?}"
        );
        assert!(
            from.contains(&(bob.account_id(), "hi from bob")),
            "{from:?}"
        );
        assert!(texts(&alice).contains(&(true, "hello hikers".to_string())));
        // The group is active, so each member follows its epoch account with
        // a pair of long polls (the group task's own reads never wait): six
        // polls parked in the groups' namespace.
        let parked = || -> usize {
            net.running()
                .map(|(_, n)| n.context().waiters.parked_in(Namespace::CONFIG))
                .sum()
        };
        until("three pairs of polls parked", || parked() >= 6).await;
        for m in [alice, bob, carol] {
            m.shutdown().await;
        }
    })
    .await
    .expect("the test took too long");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_removed_through_the_messenger_stops_reading_the_group() {
    tokio::time::timeout(Duration::from_secs(180), async {
        let net = TestNet::start(8).await;
        let Hikers {
            homes: _homes,
            alice,
            bob,
            carol,
            id,
        } = hikers(&net).await;

        // Carol reads the group before her removal (so the end of this test
        // can tell a home that stopped reading from one that never did).
        alice.send_group_text(&id, "before").unwrap();
        until("Carol reads it", || {
            carol.group_messages(&id, 10).unwrap().len() == 1
        })
        .await;

        alice.remove_from_group(&id, &[carol.account_id()]).unwrap();
        until("Carol removed everywhere", || {
            carol.groups().unwrap().is_empty()
                && bob.groups().unwrap()[0].members.len() == 2
                && alice.groups().unwrap()[0].members.len() == 2
        })
        .await;
        assert_eq!(bob.groups().unwrap()[0], alice.groups().unwrap()[0]);
        alice.send_group_text(&id, "just us now").unwrap();
        until("Bob reads it", || {
            bob.group_messages(&id, 10).unwrap().len() == 2
        })
        .await;
        // Carol's home no longer holds the group and reads nothing after its
        // removal: two of its rounds later it has only what came before.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let kept = carol.group_messages(&id, 10).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].text, "before");
        for m in [alice, bob, carol] {
            m.shutdown().await;
        }
    })
    .await
    .expect("the test took too long");
}

/// A group of 250: its Welcome (about 390 bytes per member, so near 100 kB)
/// is larger than any envelope holds, so it can only have gone as an
/// attachment with a reference in the invitation; a contact's home fetches
/// it and joins, then reads the group.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_welcome_too_large_for_an_invitation_goes_by_reference() {
    tokio::time::timeout(Duration::from_secs(240), async {
        let net = TestNet::start(8).await;
        let name = net.client_config().params.name.clone();
        let (_da, alice) = new_user("Alice");
        let (_db, bob) = new_user("Bob");
        alice.add_contact(bob.account_id(), None).unwrap();
        bob.add_contact(alice.account_id(), None).unwrap();
        for m in [&alice, &bob] {
            connect(&net, m).await;
        }
        key_package_out(&bob).await;
        // 248 more members, each with a key package in its own swarm.
        let client = Client::start(net.client_config()).await.unwrap();
        wait_status(&client, "Ready", |s| matches!(s, PathStatus::Ready { .. })).await;
        let mut members = vec![bob.account_id()];
        for i in 0..248u32 {
            let mut entropy = [7u8; 16];
            entropy[..4].copy_from_slice(&i.to_be_bytes());
            let key = AccountKey::from_entropy(entropy);
            let package = Groups::new(&key).last_resort_key_package().unwrap();
            sotto_client::group::publish::publish_key_package(&client, &key, &name, &package)
                .await
                .unwrap();
            members.push(key.account_id());
        }
        let id = alice.create_group("big", &members).await.unwrap();
        until("Bob joined the big group", || {
            !bob.groups().unwrap().is_empty()
        })
        .await;
        let joined = bob.groups().unwrap();
        assert_eq!(joined[0].id, id);
        assert_eq!(joined[0].members.len(), 250);
        // Nothing waits as a request: it was a contact's.
        assert!(bob.group_invites().unwrap().is_empty());
        alice.send_group_text(&id, "welcome, all 249").unwrap();
        until("Bob read the big group", || {
            bob.group_messages(&id, 10)
                .unwrap()
                .iter()
                .any(|m| m.text == "welcome, all 249")
        })
        .await;
        client.shutdown().await;
        for m in [alice, bob] {
            m.shutdown().await;
        }
    })
    .await
    .expect("the test took too long");
}

/// Receipts and typing are off in a group until switched on: then a member's
/// typing reaches the others that have it on, and Alice's message becomes
/// read once both others have shown it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn receipts_and_typing_in_a_group_once_switched_on() {
    tokio::time::timeout(Duration::from_secs(180), async {
        let net = TestNet::start(8).await;
        let Hikers {
            homes: _homes,
            alice,
            bob,
            carol,
            id,
        } = hikers(&net).await;
        for m in [&alice, &bob, &carol] {
            assert_eq!(m.group_prefs(&id).unwrap(), GroupPrefs::default());
            m.set_group_prefs(
                &id,
                GroupPrefs {
                    receipts: true,
                    typing: true,
                },
            )
            .unwrap();
        }
        let mut events = alice.subscribe();
        bob.set_group_typing(&id, true).unwrap();
        let typing = tokio::time::timeout(WAIT, async {
            loop {
                if let Ok(ChatEvent::GroupTyping {
                    group,
                    member,
                    typing,
                }) = events.recv().await
                {
                    return (group, member, typing);
                }
            }
        })
        .await
        .expect("Bob's typing never reached Alice");
        assert_eq!(typing, (id, bob.account_id(), true));

        alice.send_group_text(&id, "read me").unwrap();
        for m in [&bob, &carol] {
            until("the message arrives", || {
                !m.unseen_group_messages().unwrap().is_empty()
            })
            .await;
            m.mark_group_read(&id).await.unwrap();
        }
        until("both read it", || {
            alice
                .group_messages(&id, 1)
                .unwrap()
                .first()
                .is_some_and(|m| m.state == MessageState::Read)
        })
        .await;
        let sent = alice.group_messages(&id, 1).unwrap().remove(0);
        let mut readers = alice.group_read_by(&sent.id).unwrap();
        readers.sort();
        let mut expected = vec![bob.account_id(), carol.account_id()];
        expected.sort();
        assert_eq!(readers, expected);
        for m in [alice, bob, carol] {
            m.shutdown().await;
        }
    })
    .await
    .expect("the test took too long");
}

/// A member that fell behind asks to be added again: Alice's client, an
/// admin's, removes its old leaf and adds it from its key package in one
/// commit; Bob's new state replaces the old, everyone is in the same epoch
/// with the same members, and the group goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_that_fell_behind_is_added_again_on_request() {
    tokio::time::timeout(Duration::from_secs(180), async {
        let net = TestNet::start(8).await;
        let Hikers {
            homes: _homes,
            alice,
            bob,
            carol,
            id,
        } = hikers(&net).await;
        let before = alice.groups().unwrap()[0].clone();
        // Bob asks Alice, the one admin.
        assert_eq!(bob.rejoin_group(&id).unwrap(), 1);
        // Alice, the one admin, cannot ask anybody.
        assert!(matches!(
            alice.rejoin_group(&id),
            Err(ChatError::Invalid(_))
        ));
        until("Bob added again, everywhere", || {
            let a = alice.groups().unwrap();
            let b = bob.groups().unwrap();
            let c = carol.groups().unwrap();
            a[0].epoch > before.epoch && b == a && c == a
        })
        .await;
        assert_eq!(alice.groups().unwrap()[0].members, before.members);
        alice.send_group_text(&id, "welcome back").unwrap();
        until("Bob reads on", || {
            bob.group_messages(&id, 10)
                .unwrap()
                .iter()
                .any(|m| m.text == "welcome back")
        })
        .await;
        for m in [alice, bob, carol] {
            m.shutdown().await;
        }
    })
    .await
    .expect("the test took too long");
}
