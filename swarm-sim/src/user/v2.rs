//! A simulated user's messages v2 state, in memory: its prekey secrets, and
//! per peer the protocol's `envelope::v2::Sessions` (current and archived
//! sessions, the initiation rule), as the chat client keeps them, without a
//! home: a simulated user never restarts, so nothing needs to be on disk.

use std::collections::HashMap;
use std::sync::Mutex;

use sotto_client::Client;
use sotto_protocol::envelope::Content;
use sotto_protocol::envelope::v2::{self, Sessions};
use sotto_protocol::prekey::PrekeySecrets;
use sotto_protocol::{AccountId, AccountKey};

/// A user's prekeys and sessions.
pub struct Keys {
    secrets: Mutex<PrekeySecrets>,
    /// Per peer: the sessions this user sends on and reads with.
    books: Mutex<HashMap<AccountId, Sessions>>,
    /// Messages to oneself (a flood's default target): the initiator's half
    /// of such a session is in `books`, the responder's here, since one
    /// `Sessions` holds one side of each session.
    own_inbound: Mutex<Sessions>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl Keys {
    /// Fresh prekeys made at `now`.
    pub fn new(now: u64) -> Self {
        Self {
            secrets: Mutex::new(PrekeySecrets::generate(now, &mut rand::rng())),
            books: Mutex::new(HashMap::new()),
            own_inbound: Mutex::new(Sessions::default()),
        }
    }

    /// Publishes the bundle in `key`'s swarm.
    pub async fn publish(
        &self,
        client: &Client,
        key: &AccountKey,
        network: &str,
    ) -> Result<(), String> {
        let bundle = lock(&self.secrets)
            .bundle(key, client.now())
            .map_err(|e| e.to_string())?;
        sotto_client::prekeys::publish_bundle(client, key, network, &bundle)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Seals `content` to `to`: on the current session, or on one started
    /// from `to`'s bundle (fetched from its swarm). `None` when no session
    /// could be had.
    pub async fn seal(
        &self,
        client: &Client,
        key: &AccountKey,
        to: &AccountId,
        content: &Content,
    ) -> Option<Vec<u8>> {
        let has = lock(&self.books)
            .get(to)
            .is_some_and(|b| b.current().is_some());
        let bundle = if has {
            None
        } else {
            sotto_client::prekeys::fetch_bundle(client, to).await.ok()
        };
        let mut rng = rand::rng();
        let mut books = lock(&self.books);
        let book = books.entry(*to).or_default();
        if book.current().is_none() {
            book.start(key, bundle.as_ref()?, client.now(), &mut rng)
                .ok()?;
        }
        book.seal(content, &mut rng).ok()
    }

    /// Opens an envelope to `key`'s account: the sender and the content, or
    /// `None` if it does not open.
    pub fn open(&self, key: &AccountKey, data: &[u8], now: u64) -> Option<(AccountId, Content)> {
        let unsealed = v2::unseal(key, data).ok()?;
        let sender = unsealed.sender;
        // Lock order: secrets, then sessions (the only place both are held).
        let mut secrets = lock(&self.secrets);
        let received = if sender == key.account_id() {
            lock(&self.own_inbound).receive(key, &secrets, &unsealed, now)
        } else {
            lock(&self.books)
                .entry(sender)
                .or_default()
                .receive(key, &secrets, &unsealed, now)
        }
        .ok()?;
        if let Some(used) = received.used {
            secrets.mark_used(&used, now);
        }
        Some((sender, received.content))
    }
}
