//! One simulated user: a real `sotto_client::Client` with an account, its
//! receive loop (long polls of its own inbox) and its sends, all messages v2
//! ([`v2`]: a prekey bundle in its swarm, a session per peer).

pub mod v2;

use std::collections::HashSet;
use std::time::Duration;

use rand::rngs::ChaCha8Rng;
use rand::{RngExt, SeedableRng};
use sotto_client::{Client, PathStatus, ReadCursors};
use sotto_protocol::constants::MAX_TTL_MS;
use sotto_protocol::envelope::{Content, ContentBody};
use sotto_protocol::rpc::{DeliverRequest, DeliveryToken, Request, Response, StoreRequest};
use sotto_protocol::{AccountId, AccountKey, Namespace};
use tokio::sync::watch;

use crate::SimError;
use crate::ledger::{self, Shared};

/// How long one long poll waits at the node for a new message.
const POLL_WAIT_MS: u32 = 5_000;
/// Most pages read in a row after a page that says `more`.
const MAX_PAGES: usize = 16;
/// Tries of one send before it counts as not acknowledged.
const SEND_TRIES: usize = 4;
/// The prefix of every message text; the message id follows.
const TEXT_PREFIX: &str = "swarm-sim message ";
/// The prefix of every flood message text.
pub const FLOOD_PREFIX: &str = "swarm-sim flood ";

/// A user: account and client.
#[derive(Debug)]
pub struct User {
    /// Its index in the scenario.
    pub index: usize,
    /// Its account key (from the seed).
    pub key: AccountKey,
    /// Its client.
    pub client: Client,
    /// The network name requests are signed for.
    pub network: String,
    /// Its prekeys and sessions.
    pub keys: v2::Keys,
}

/// The account keys of `n` clients under `seed`: the same every run, and
/// drawn from one seeded stream so that no two (seed, index) pairs are
/// related by simple arithmetic.
pub fn account_keys(seed: u64, n: usize) -> Vec<AccountKey> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut entropy = [0u8; sotto_protocol::constants::ACCOUNT_ENTROPY_LEN];
            rng.fill(&mut entropy[..]);
            AccountKey::from_entropy(entropy)
        })
        .collect()
}

/// The delivery token of `account` in the simulator: derived from the
/// account, so that every scheduled sender holds its recipients' tokens as
/// contacts who exchanged them earlier would (the chat sends them inside
/// envelopes; the nodes' side, registration and checks, is the real one). An
/// `[attack]` client of kind `inbox` plays a stranger and does not use it.
pub fn sim_token(account: &AccountId) -> DeliveryToken {
    DeliveryToken(blake3::derive_key(
        "swarm-sim delivery token v1",
        account.as_bytes(),
    ))
}

impl User {
    /// A user with fresh prekeys (not published yet: [`User::publish`]).
    pub fn new(index: usize, key: AccountKey, client: Client, network: String) -> Self {
        let keys = v2::Keys::new(client.now());
        Self {
            index,
            key,
            client,
            network,
            keys,
        }
    }

    /// Publishes the user's prekey bundle in its swarm and registers its
    /// delivery token there (a few tries).
    pub async fn publish(&self) -> Result<(), SimError> {
        let mut last = String::new();
        for _ in 0..SEND_TRIES {
            match self
                .keys
                .publish(&self.client, &self.key, &self.network)
                .await
            {
                Ok(()) => match self.register_token().await {
                    Ok(()) => return Ok(()),
                    Err(e) => last = e,
                },
                Err(e) => last = e,
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(SimError::Setup(format!(
            "client {} could not publish its prekeys: {last}",
            self.index
        )))
    }

    /// Stores the hash of this user's delivery token in its swarm: from then
    /// on its inbox takes only deliveries with the token.
    async fn register_token(&self) -> Result<(), String> {
        let data = sim_token(&self.account()).delivery_item(self.client.now());
        let answer = self
            .client
            .swarm_request(&self.account(), |now| {
                match StoreRequest::signed(
                    &self.key,
                    &self.network,
                    Namespace::DELIVERY,
                    data.clone(),
                    MAX_TTL_MS,
                    now,
                ) {
                    Ok(r) => Request::Store(r),
                    Err(_) => Request::Ping,
                }
            })
            .await;
        match answer {
            Ok(Response::Stored { .. }) => Ok(()),
            Ok(other) => Err(format!("the token's store was answered {}", other.kind())),
            Err(e) => Err(format!("the token's store failed: {e}")),
        }
    }

    /// Seals `content` to `to` (messages v2).
    pub async fn seal(&self, to: &AccountId, content: &Content) -> Option<Vec<u8>> {
        self.keys.seal(&self.client, &self.key, to, content).await
    }

    /// Its account.
    pub fn account(&self) -> AccountId {
        self.key.account_id()
    }

    /// Waits (up to `limit`) until the client has a ready path.
    pub async fn wait_ready(&self, limit: Duration) -> Result<(), SimError> {
        let mut rx = self.client.path_status();
        let ready = tokio::time::timeout(limit, async {
            loop {
                if matches!(*rx.borrow_and_update(), PathStatus::Ready { .. }) {
                    return true;
                }
                if rx.changed().await.is_err() {
                    return false;
                }
            }
        })
        .await;
        match ready {
            Ok(true) => Ok(()),
            _ => Err(SimError::Setup(format!(
                "client {} has no path after {limit:?}",
                self.index
            ))),
        }
    }

    /// Seals message `id` to `to` and stores it in `to`'s inbox; records the
    /// send and, when a member answers `Stored`, the acknowledgement.
    pub async fn send(
        &self,
        id: u64,
        to: usize,
        recipient: AccountId,
        ledger: &Shared,
        ttl_ms: u64,
    ) {
        ledger::with(ledger, |l| l.sent(id, self.index, to));
        let content = Content::new(
            &mut rand::rng(),
            self.client.now(),
            ContentBody::Text {
                text: format!("{TEXT_PREFIX}{id}"),
            },
        );
        let Some(data) = self.seal(&recipient, &content).await else {
            return;
        };
        // The same bytes on every try: a store that did land the first time
        // is the same message (same hash), never a second one. Scheduled
        // senders are the recipient's contacts: its token lets them into its
        // inbox.
        let d = DeliverRequest::with_token(recipient, data, ttl_ms, sim_token(&recipient));
        for _ in 0..SEND_TRIES {
            let answer = self
                .client
                .swarm_request(&recipient, |_| Request::Deliver(d.clone()))
                .await;
            if let Ok(Response::Stored { hash, .. }) = answer {
                ledger::with(ledger, |l| l.acked(id, recipient, hash));
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Reads this user's inbox until `stop` says so, while `online` says it
    /// is online; hands every new envelope to the app layer ([`Self::deliver`]).
    pub async fn receive_loop(
        &self,
        ledger: Shared,
        online: impl Fn() -> bool,
        mut stop: watch::Receiver<bool>,
    ) {
        let account = self.account();
        let network = self.network.clone();
        let mut cursors = ReadCursors::new();
        // Transport-level dedupe: a first read of a member re-reads a window
        // of what other members handed out already.
        let mut seen = HashSet::new();
        while !*stop.borrow() {
            if !online() {
                let _ = tokio::time::timeout(Duration::from_millis(200), stop.changed()).await;
                continue;
            }
            for page in 0..MAX_PAGES {
                let make = |member, now| {
                    let mut req = cursors.request(&member, account, Namespace::INBOX);
                    if page == 0 {
                        req.wait_ms = POLL_WAIT_MS;
                    }
                    match req.sign(&self.key, &network, now) {
                        Ok(r) => Request::Retrieve(r),
                        // Signing only fails on an encoding error; a ping then
                        // gets an answer the loop does not accept, and it waits.
                        Err(_) => Request::Ping,
                    }
                };
                let answer = tokio::select! {
                    a = self.client.swarm_request_at(&account, make) => a,
                    _ = stop.changed() => return,
                };
                let Ok((
                    member,
                    Response::Messages {
                        messages,
                        cursor,
                        more,
                    },
                )) = answer
                else {
                    let _ = tokio::time::timeout(Duration::from_millis(500), stop.changed()).await;
                    break;
                };
                for m in &messages {
                    if !m.hash_matches(&account, Namespace::INBOX) || !seen.insert(m.hash) {
                        continue;
                    }
                    self.deliver(&m.data, &ledger);
                }
                cursors.advance(member, cursor, &messages, self.client.now());
                if !more {
                    break;
                }
            }
        }
    }

    /// The app layer: opens an envelope and records the message it carries.
    /// Deduplicates by message id only through the ledger, so that a message
    /// stored twice under two hashes shows as a duplicate.
    fn deliver(&self, data: &[u8], ledger: &Shared) {
        let Some((_, content)) = self.keys.open(&self.key, data, self.client.now()) else {
            ledger::with(ledger, |l| l.delivered(u64::MAX, self.index));
            return;
        };
        if let ContentBody::Text { text } = &content.body
            && text.starts_with(FLOOD_PREFIX)
        {
            ledger::with(ledger, |l| l.flood_delivered());
            return;
        }
        let id = match &content.body {
            ContentBody::Text { text } => text
                .strip_prefix(TEXT_PREFIX)
                .and_then(|s| s.parse::<u64>().ok()),
            _ => None,
        };
        ledger::with(ledger, |l| l.delivered(id.unwrap_or(u64::MAX), self.index));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_follow_the_seed() {
        let ids = |seed, n| -> Vec<AccountId> {
            account_keys(seed, n)
                .iter()
                .map(|k| k.account_id())
                .collect()
        };
        let a = ids(1, 4);
        assert_eq!(a, ids(1, 4));
        assert_eq!(a[..2], ids(1, 2)[..]);
        assert_ne!(a, ids(2, 4));
        assert!(a.iter().all(|x| a.iter().filter(|y| *y == x).count() == 1));
    }
}
