//! A simulated user's messages v2 state, in memory: its prekey secrets, and
//! per peer a current session and the archived ones it still reads with. The
//! same protocol calls the chat client makes (`sotto_protocol::envelope::v2`,
//! the initiation rule `sotto_protocol::ratchet::on_init`), without a home:
//! a simulated user never restarts, so nothing needs to be on disk.

use std::collections::HashMap;
use std::sync::Mutex;

use sotto_client::Client;
use sotto_protocol::envelope::Content;
use sotto_protocol::envelope::v2::{self, Body};
use sotto_protocol::pqxdh::SessionId;
use sotto_protocol::prekey::PrekeySecrets;
use sotto_protocol::ratchet::{InitDecision, RatchetMessage, Session, on_init};
use sotto_protocol::{AccountId, AccountKey};

/// Most archived sessions kept per peer (as the chat client).
const MAX_ARCHIVED: usize = 4;

/// The sessions of one peer.
#[derive(Default)]
struct Book {
    current: Option<Session>,
    archived: Vec<Session>,
}

impl Book {
    /// Opens `message` on the sessions (only those with id `only`, if given).
    fn open(
        &mut self,
        only: Option<SessionId>,
        message: &RatchetMessage,
        now: u64,
    ) -> Option<Content> {
        let sessions = self.current.iter_mut().chain(self.archived.iter_mut());
        for s in sessions.filter(|s| only.is_none_or(|id| s.id() == id)) {
            if let Ok(c) = v2::open_content(s, message, now) {
                return Some(c);
            }
        }
        None
    }

    fn archive(&mut self, s: Session) {
        self.archived.insert(0, s);
        self.archived.truncate(MAX_ARCHIVED);
    }
}

/// A user's prekeys and sessions.
pub struct Keys {
    secrets: Mutex<PrekeySecrets>,
    books: Mutex<HashMap<AccountId, Book>>,
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
            .is_some_and(|b| b.current.is_some());
        let bundle = if has {
            None
        } else {
            sotto_client::prekeys::fetch_bundle(client, to).await.ok()
        };
        let mut rng = rand::rng();
        let mut books = lock(&self.books);
        let book = books.entry(*to).or_default();
        if book.current.is_none() {
            let started = v2::start_session(key, bundle.as_ref()?, client.now(), &mut rng).ok()?;
            book.current = Some(started);
        }
        v2::seal_content(book.current.as_mut()?, content, &mut rng).ok()
    }

    /// Opens an envelope to `key`'s account: the sender and the content, or
    /// `None` if it does not open.
    pub fn open(&self, key: &AccountKey, data: &[u8], now: u64) -> Option<(AccountId, Content)> {
        let unsealed = v2::unseal(key, data).ok()?;
        let sender = unsealed.sender;
        let mut books = lock(&self.books);
        let book = books.entry(sender).or_default();
        match unsealed.body {
            Body::Ratchet { message } => book.open(None, &message, now).map(|c| (sender, c)),
            Body::Init { init, message } => {
                let id = init.session_id().ok()?;
                if let Some(c) = book.open(Some(id), &message, now) {
                    return Some((sender, c));
                }
                let known_as_responder = book
                    .current
                    .iter()
                    .chain(book.archived.iter())
                    .any(|s| s.id() == id && !s.we_initiated());
                if known_as_responder {
                    // Its key was used: a duplicate.
                    return None;
                }
                let accepted = {
                    let mut secrets = lock(&self.secrets);
                    let a = v2::accept_init(key, &secrets, &sender, &init, &message, now).ok()?;
                    secrets.mark_used(&a.used, now);
                    a
                };
                // A message to oneself starts a session whose two halves are
                // both here: the initiator's stays current.
                let decision = if sender == key.account_id() {
                    InitDecision::Archive
                } else {
                    on_init(book.current.as_ref(), &init).ok()?
                };
                match decision {
                    InitDecision::Adopt => {
                        if let Some(old) = book.current.replace(accepted.session) {
                            book.archive(old);
                        }
                    }
                    InitDecision::Archive => book.archive(accepted.session),
                }
                Some((sender, accepted.content))
            }
        }
    }
}
