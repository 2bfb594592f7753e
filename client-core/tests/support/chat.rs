//! Helpers of the chat tests: homes, connected messengers, bounded waits.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::time::Duration;

use sotto_client::chat::{ChatEvent, ChatMessage, HomeOptions, MessageState, Messenger};
use sotto_client::{AccountId, PathStatus};
use sotto_protocol::namespace::Namespace;
use sotto_protocol::rpc::RetrievedMessage;
use tempfile::TempDir;

use super::harness::{TestNet, sotto_client_now};

/// Longest wait for anything network-bound in these tests.
pub const WAIT: Duration = Duration::from_secs(40);

pub fn opts(dir: &TempDir) -> HomeOptions {
    HomeOptions {
        home: dir.path().join("home"),
        passphrase: None,
    }
}

/// A new account in a fresh home.
pub fn new_user(name: &str) -> (TempDir, Messenger) {
    let dir = tempfile::tempdir().unwrap();
    let (m, _) = Messenger::create(&opts(&dir), Some(name)).unwrap();
    (dir, m)
}

/// Connects and waits (bounded) for a ready path and for the account's
/// prekey bundle to be in its swarm (messages v2: nobody can start a session
/// with an account before that).
pub async fn connect(net: &TestNet, m: &Messenger) {
    m.connect(net.client_config()).await.unwrap();
    tokio::time::timeout(WAIT, async {
        while !matches!(m.path_status(), PathStatus::Ready { .. }) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("no ready path in time");
    wait_published(m).await;
}

/// Waits (bounded) until `m`'s prekey bundle is published.
pub async fn wait_published(m: &Messenger) {
    tokio::time::timeout(WAIT, async {
        loop {
            // The background task may be publishing right now; this waits
            // for it and publishes only if it is still due.
            if let Err(e) = m.publish_prekeys().await {
                eprintln!("publishing prekeys: {e}");
            }
            if m.prekey_status().unwrap().1 > 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await
    .expect("the prekey bundle was never published");
}

/// Waits (bounded) until `m` holds `n` messages from `peer`.
pub async fn wait_messages(m: &Messenger, peer: &AccountId, n: usize) -> Vec<ChatMessage> {
    tokio::time::timeout(WAIT, async {
        loop {
            let msgs: Vec<ChatMessage> = m
                .messages(peer, 1000)
                .unwrap()
                .into_iter()
                .filter(|x| !x.outgoing)
                .collect();
            if msgs.len() >= n {
                return msgs;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{n} messages from the peer never arrived"))
}

/// Waits (bounded) until `ok` is true.
pub async fn until(what: &str, mut ok: impl FnMut() -> bool) {
    tokio::time::timeout(WAIT, async {
        while !ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("never: {what}"));
}

/// Waits (bounded) for an event matching `pick`.
pub async fn next_event<T>(
    rx: &mut tokio::sync::broadcast::Receiver<ChatEvent>,
    mut pick: impl FnMut(&ChatEvent) -> Option<T>,
) -> T {
    tokio::time::timeout(WAIT, async {
        loop {
            match rx.recv().await {
                Ok(e) => {
                    if let Some(t) = pick(&e) {
                        return t;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    })
    .await
    .expect("event never came")
}

/// Sends and waits until the recipient's swarm holds it.
pub async fn send_sent(m: &Messenger, to: &AccountId, text: &str) -> sotto_client::chat::MessageId {
    let id = m.send_text(to, text).await.unwrap();
    m.wait_state(&id, MessageState::Sent, WAIT).await.unwrap();
    id
}

/// Every copy the running nodes keep for `account` in its inbox and its
/// requests: a contact's message goes to the requests while the sender does
/// not have the account's token yet, which depends on timing.
pub fn stored_copies(net: &TestNet, account: &AccountId) -> Vec<RetrievedMessage> {
    net.running()
        .flat_map(|(_, node)| {
            [Namespace::INBOX, Namespace::REQUESTS]
                .into_iter()
                .flat_map(|ns| {
                    node.context()
                        .store
                        .retrieve(account, ns, 0, 0, u32::MAX, sotto_client_now())
                        .unwrap()
                        .messages
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The expiry of every copy in [`stored_copies`].
pub fn stored_expiries(net: &TestNet, account: &AccountId) -> Vec<u64> {
    stored_copies(net, account)
        .into_iter()
        .map(|m| m.expiry)
        .collect()
}
