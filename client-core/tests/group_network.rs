//! A group over real service nodes in process: members publish key packages
//! that the admin fetches, and the group's messages and commits are
//! stored in the swarm of each epoch's account through onion paths and read
//! back by the members; a removal moves the group to an account the removed
//! member cannot derive, nodes refuse a store there under any other key, and
//! what the nodes hold names neither the group nor its members.
//!
//! Key packages are published and fetched through the nodes; Welcomes are
//! handed over in process here (sending them to inboxes comes with the
//! `Messenger` part: docs/ARCHITECTURE.md, *Groups*).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/harness.rs"]
mod harness;

use std::time::Duration;

use harness::{TestNet, sotto_client_now, wait_status};
use sotto_client::group::net::{self, GROUP_NAMESPACE, HANDSHAKE_TTL_MS, MESSAGE_TTL_MS};
use sotto_client::group::publish::{KeyPackageError, fetch_key_package, publish_key_package};
use sotto_client::group::{GroupEvent, GroupId, Groups, Outgoing};
use sotto_client::{Client, ClientError, PathStatus, ReadCursors};
use sotto_protocol::rpc::{Request, StoreRequest};
use sotto_protocol::{AccountId, AccountKey};

const LIMIT: Duration = Duration::from_secs(240);
const SETTLE_MS: u64 = 1_000;

struct Member {
    key: AccountKey,
    groups: Groups,
    client: Client,
    /// Read cursors per epoch account.
    cursors: std::collections::HashMap<AccountId, ReadCursors>,
}

impl Member {
    async fn start(net: &TestNet, seed: u8) -> Member {
        let key = AccountKey::from_entropy([seed; 16]);
        let mut groups = Groups::new(&key);
        groups.set_settle_ms(SETTLE_MS);
        let client = Client::start(net.client_config()).await.unwrap();
        wait_status(&client, "Ready", |s| matches!(s, PathStatus::Ready { .. })).await;
        Member {
            key,
            groups,
            client,
            cursors: Default::default(),
        }
    }

    fn id(&self) -> AccountId {
        self.key.account_id()
    }

    async fn send(&mut self, net_name: &str, id: &GroupId, text: &str) {
        let bytes = self
            .groups
            .send(id, text.as_bytes(), self.client.now())
            .unwrap();
        let epoch = self.groups.epoch_account(id).unwrap();
        net::store(&self.client, net_name, &epoch, &bytes, MESSAGE_TTL_MS)
            .await
            .unwrap();
    }

    async fn store_all(&self, net_name: &str, epoch: &AccountKey, out: Vec<Outgoing>) {
        for o in out {
            if let Outgoing::Group(bytes) = o {
                net::store(&self.client, net_name, epoch, &bytes, HANDSHAKE_TTL_MS)
                    .await
                    .unwrap();
            }
        }
    }

    /// Reads the current epoch account to its end, handles what it holds and
    /// settles; repeats (bounded) until `done` says so. Returns every event.
    async fn read_until(
        &mut self,
        net_name: &str,
        id: &GroupId,
        done: impl Fn(&[GroupEvent]) -> bool,
    ) -> Vec<GroupEvent> {
        let mut events = Vec::new();
        for _ in 0..60 {
            let Ok(epoch) = self.groups.epoch_account(id) else {
                return events; // removed: the group is gone
            };
            let cursors = self.cursors.entry(epoch.account_id()).or_default();
            let read = net::read(&self.client, net_name, &epoch, cursors, 0)
                .await
                .unwrap();
            for item in &read.items {
                // Own messages do not open for their sender: skipped.
                if let Ok(more) =
                    self.groups
                        .receive_stored(&item.message, item.stored_at, self.client.now())
                {
                    events.extend(more);
                }
            }
            if read.at_end() {
                events.extend(self.groups.settle(self.client.now()));
            }
            if done(&events) {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        panic!(
            "{} never saw what it waited for: {events:?}",
            self.id().to_text()
        );
    }
}

fn texts(events: &[GroupEvent]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match e {
            GroupEvent::Message { body, .. } => Some(String::from_utf8_lossy(body).into_owned()),
            _ => None,
        })
        .collect()
}

fn changed(events: &[GroupEvent]) -> bool {
    events
        .iter()
        .any(|e| matches!(e, GroupEvent::Changed { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_group_lives_in_its_epoch_accounts_and_a_removal_moves_it_out_of_reach() {
    tokio::time::timeout(LIMIT, async {
        let net = TestNet::start(8).await;
        let name = net.client_config().params.name.clone();
        let mut alice = Member::start(&net, 1).await;
        let mut bob = Member::start(&net, 2).await;
        let mut carol = Member::start(&net, 3).await;

        // Bob and Carol publish a last-resort key package; Alice finds them.
        for m in [&mut bob, &mut carol] {
            let package = m.groups.last_resort_key_package().unwrap();
            publish_key_package(&m.client, &m.key, &name, &package)
                .await
                .unwrap();
        }
        assert!(matches!(
            fetch_key_package(&bob.client, &alice.id()).await,
            Err(KeyPackageError::None)
        ));
        let packages = vec![
            fetch_key_package(&alice.client, &bob.id()).await.unwrap(),
            fetch_key_package(&alice.client, &carol.id()).await.unwrap(),
        ];
        let (id, out) = alice
            .groups
            .create("hikers", &packages, alice.client.now())
            .unwrap();
        for o in &out {
            if let Outgoing::Welcome { bytes, .. } = o {
                bob.groups.join(bytes).unwrap();
                carol.groups.join(bytes).unwrap();
            }
        }
        // A last-resort package stays usable: Bob joins a second group with it.
        let (other, out) = alice
            .groups
            .create("climbers", &packages[..1], alice.client.now())
            .unwrap();
        for o in &out {
            if let Outgoing::Welcome { bytes, .. } = o {
                assert_eq!(bob.groups.join(bytes).unwrap(), other);
            }
        }
        let first = alice.groups.epoch_account(&id).unwrap();
        assert_eq!(
            bob.groups.epoch_account(&id).unwrap().account_id(),
            first.account_id()
        );

        alice.send(&name, &id, "hello hikers").await;
        let seen = bob.read_until(&name, &id, |e| !texts(e).is_empty()).await;
        assert_eq!(texts(&seen), vec!["hello hikers"]);
        let seen = carol.read_until(&name, &id, |e| !texts(e).is_empty()).await;
        assert_eq!(texts(&seen), vec!["hello hikers"]);
        // The thief gets Carol's whole state before she is removed.
        let stolen = carol.groups.export().unwrap();

        // Alice removes Carol: the commit goes to the current epoch account.
        let out = alice
            .groups
            .remove(&id, &[carol.id()], alice.client.now())
            .unwrap();
        alice.store_all(&name, &first, out).await;
        alice.read_until(&name, &id, changed).await;
        bob.read_until(&name, &id, changed).await;
        let gone = carol
            .read_until(&name, &id, |e| {
                e.iter().any(|e| matches!(e, GroupEvent::Removed { .. }))
            })
            .await;
        assert!(gone.contains(&GroupEvent::Removed { group: id }));

        let second = alice.groups.epoch_account(&id).unwrap();
        assert_ne!(second.account_id(), first.account_id());
        assert_eq!(
            bob.groups.epoch_account(&id).unwrap().account_id(),
            second.account_id()
        );
        alice.send(&name, &id, "carol is gone").await;
        let seen = bob.read_until(&name, &id, |e| !texts(e).is_empty()).await;
        assert_eq!(texts(&seen), vec!["carol is gone"]);

        // The thief can only derive the old epoch's account, where the new
        // message is not, and nodes refuse its key for the new account.
        let thief = Groups::import(&AccountKey::from_entropy([3; 16]), &stolen).unwrap();
        let thief_epoch = thief.epoch_account(&id).unwrap();
        assert_eq!(thief_epoch.account_id(), first.account_id());
        let mut forged = StoreRequest::signed(
            &thief_epoch,
            &name,
            GROUP_NAMESPACE,
            b"spam".to_vec(),
            MESSAGE_TTL_MS,
            carol.client.now(),
        )
        .unwrap();
        forged.account = second.account_id();
        let refused = carol
            .client
            .swarm_request(&second.account_id(), |_| Request::Store(forged.clone()))
            .await;
        assert!(
            matches!(refused, Err(ClientError::Refused(_))),
            "{refused:?}"
        );

        // What the nodes hold of the group names neither it nor a member.
        let needles: Vec<Vec<u8>> = vec![
            b"hikers".to_vec(),
            alice.id().as_bytes().to_vec(),
            bob.id().as_bytes().to_vec(),
            carol.id().as_bytes().to_vec(),
            id.0.to_vec(),
        ];
        let mut held = 0;
        for account in [first.account_id(), second.account_id()] {
            for (_, node) in net.running() {
                let page = node
                    .context()
                    .store
                    .retrieve(
                        &account,
                        GROUP_NAMESPACE,
                        0,
                        0,
                        u32::MAX,
                        sotto_client_now(),
                    )
                    .unwrap();
                for m in page.messages {
                    held += 1;
                    for needle in &needles {
                        assert!(
                            !m.data.windows(needle.len()).any(|w| w == &needle[..]),
                            "a node holds readable group data"
                        );
                    }
                }
            }
        }
        assert!(held >= 3, "the nodes hold the group's messages ({held})");
        for m in [alice, bob, carol] {
            m.client.shutdown().await;
        }
    })
    .await
    .expect("the test took too long");
}
