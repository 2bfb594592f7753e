//! Conversations (DESIGN §8–§9): the [`Messenger`] keeps an account's contacts,
//! message requests, conversations and outbox in a local sled store, sends
//! through the persistent outbox, receives by long polls of the account's own
//! swarm, and tells front ends what happens on a bounded event stream.
//!
//! Everything here is reached through one cheap-clone handle:
//!
//! - **Home and account** — [`Messenger::create`], [`Messenger::restore`] and
//!   [`Messenger::open`] work offline on a [`HomeOptions`] (a directory and an
//!   optional passphrase; with one, every stored value is sealed under an
//!   argon2id-derived key).
//! - **Network** — [`Messenger::connect`] starts the onion client, the receive
//!   loop and the outbox sender; [`Messenger::shutdown`] stops them, leaving
//!   anything unsent queued for the next run.
//! - **Contacts and requests** — a message from someone who is not a contact
//!   waits in [`Messenger::requests`] until accepted, declined or blocked.
//! - **Conversations** — [`Messenger::send_text`] queues and returns at once;
//!   [`Messenger::wait_state`] waits for `Sent`, `Delivered` or `Read`.
//! - **Events** — [`Messenger::subscribe`] yields [`ChatEvent`]s.

mod attachments;
mod autofetch;
mod connect;
mod contacts;
mod conversations;
mod crypt;
mod delivery;
mod error;
mod group_chat;
mod group_extras;
mod group_follow;
mod group_inbox;
mod group_large;
mod group_rejoin;
mod group_send;
mod groups;
mod metadata;
mod open;
mod outbox;
mod prekeys;
mod purge;
mod read;
mod receive;
mod records;
mod seal;
mod sessions;
mod store;
mod types;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use sotto_protocol::{AccountId, AccountKey};
use tokio::sync::{Notify, broadcast};
use zeroize::Zeroizing;

pub use attachments::{
    AttachmentInfo, AttachmentState, clock_time, default_download_dir, human_size, kind_of,
};
pub use autofetch::FetchTask;
pub use error::ChatError;
pub use group_chat::GroupMessage;
pub use group_extras::GroupPrefs;
pub use group_inbox::{GroupInvite, MAX_INVITES, MAX_INVITES_PER_SENDER, NewMessages};
pub use metadata::DEFAULT_RECEIPT_DELAY;
pub use open::UNREADABLE_NOTICE;
pub use types::{
    BadMessageId, ChatCounters, ChatEvent, ChatMessage, Contact, ConversationSummary,
    DEFAULT_AUTO_FETCH_MAX_BYTES, Disappearing, MessageId, MessageRequest, MessageState, Settings,
    Verification, VerificationStatus, short_id,
};

use crate::{Account, RecoveryPhrase};
use store::{Mode, Store};

/// How many events a subscriber may fall behind before it gets `Lagged`.
const EVENT_CAPACITY: usize = 1024;

/// Where a user's local state lives and how it is unlocked.
#[derive(Clone, Debug)]
pub struct HomeOptions {
    /// The home directory (made if missing, kept at mode 0700).
    pub home: PathBuf,
    /// The passphrase that seals the store, if the user set one.
    pub passphrase: Option<String>,
}

/// A handle to one account's chat state. Cheap to clone; every method takes
/// `&self`.
#[derive(Clone)]
pub struct Messenger {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Messenger {
    /// The account ID only: never keys, names or messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Messenger")
            .field("account", &self.inner.id)
            .field("connected", &self.inner.client().is_some())
            .finish_non_exhaustive()
    }
}

/// What every clone shares.
pub(crate) struct Inner {
    pub(crate) store: Store,
    pub(crate) key: AccountKey,
    pub(crate) id: AccountId,
    pub(crate) events: broadcast::Sender<ChatEvent>,
    pub(crate) running: Mutex<Option<connect::Running>>,
    pub(crate) client: RwLock<Option<Arc<crate::Client>>>,
    pub(crate) network: RwLock<String>,
    pub(crate) outbox_wake: Notify,
    pub(crate) counters: Mutex<ChatCounters>,
    /// One receive round at a time: the loop and `receive_once` share it.
    pub(crate) receiving: tokio::sync::Mutex<()>,
    /// Held by the blocking task that handles a page: a round whose future is
    /// dropped (the other namespace's poll answered first, or a stop) lets
    /// `receiving` go while its page is still being handled, and this keeps
    /// the next page from being handled beside it.
    pub(crate) handling: Mutex<()>,
    /// Held while a peer's sessions are read, advanced and written back, so
    /// that sending and receiving never advance two copies of one session.
    pub(crate) sessions_lock: Mutex<()>,
    /// Held while the prekey secrets are read, changed and written back.
    pub(crate) prekeys_lock: Mutex<()>,
    /// Wakes the prekey publisher (secrets changed).
    pub(crate) prekeys_wake: Notify,
    /// One publish at a time: each deletes the bundles it did not store, so
    /// two at once could delete each other's.
    pub(crate) publishing: tokio::sync::Mutex<()>,
    /// Wakes the attachment fetcher (an attachment to fetch ahead arrived).
    pub(crate) fetch_wake: Notify,
    /// Hashes of messages to delete from this account's swarm (it cannot
    /// open them, or a blocked sender sent them): [`Inner::doom`].
    pub(crate) doomed: Mutex<Vec<sotto_protocol::rpc::MessageHash>>,
    /// The range of the random delay before a delivery receipt leaves (from
    /// the `ClientConfig` of the last connect).
    pub(crate) receipt_delay: Mutex<(std::time::Duration, std::time::Duration)>,
    /// This account's groups, read from the home on first use
    /// (`groups.rs`: [`Inner::with_groups`]).
    pub(crate) groups: Mutex<Option<crate::group::Groups>>,
    /// Held while the groups' pending list is read, changed and written.
    pub(crate) group_pending_lock: Mutex<()>,
    /// Wakes the group task (a group message to send).
    pub(crate) group_wake: Notify,
    /// One group round at a time: the task's and a front end's
    /// ([`Messenger::read_groups_now`]).
    pub(crate) group_round_lock: tokio::sync::Mutex<()>,
    /// What the pairs of long polls of followed groups read, for the group
    /// task's next round (`group_follow.rs`).
    pub(crate) group_arrivals: Mutex<Vec<group_follow::Arrival>>,
}

impl Messenger {
    /// Creates a new account in `opts.home` (which must not hold one) and
    /// returns its recovery phrase, to be shown once.
    pub fn create(
        opts: &HomeOptions,
        display_name: Option<&str>,
    ) -> Result<(Messenger, RecoveryPhrase), ChatError> {
        let account = Account::create();
        let phrase = account.recovery_phrase();
        let m = Self::init(opts, &account, display_name)?;
        Ok((m, phrase))
    }

    /// Restores the account of a 12-word phrase into an empty home.
    pub fn restore(
        opts: &HomeOptions,
        phrase: &str,
        display_name: Option<&str>,
    ) -> Result<Messenger, ChatError> {
        let account = Account::restore(phrase).map_err(ChatError::InvalidPhrase)?;
        Self::init(opts, &account, display_name)
    }

    fn init(
        opts: &HomeOptions,
        account: &Account,
        display_name: Option<&str>,
    ) -> Result<Messenger, ChatError> {
        if let Some(name) = display_name {
            check_name(name)?;
        }
        let store = Store::open(&opts.home, opts.passphrase.as_deref(), Mode::Create)?;
        if store.meta.contains_key("account")? {
            return Err(ChatError::AccountExists {
                home: opts.home.clone(),
            });
        }
        let entropy = Zeroizing::new(*account.key().entropy());
        store.put(&store.meta, b"account", &*entropy)?;
        let name = display_name.map(str::to_owned).filter(|n| !n.is_empty());
        store.put(&store.meta, b"display_name", &name)?;
        store.put(&store.meta, b"settings", &Settings::default())?;
        store.flush()?;
        let m = Self::from_store(store, AccountKey::from_entropy(*entropy));
        m.inner.migrate_outbox()?;
        Ok(m)
    }

    /// Opens the account in an existing home.
    pub fn open(opts: &HomeOptions) -> Result<Messenger, ChatError> {
        let store = Store::open(&opts.home, opts.passphrase.as_deref(), Mode::Open)?;
        let entropy: Zeroizing<[u8; 16]> =
            Zeroizing::new(store.get(&store.meta, b"account")?.ok_or_else(|| {
                ChatError::NoAccount {
                    home: opts.home.clone(),
                }
            })?);
        store.prune_seen()?;
        let m = Self::from_store(store, AccountKey::from_entropy(*entropy));
        m.inner.migrate_outbox()?;
        Ok(m)
    }

    fn from_store(store: Store, key: AccountKey) -> Messenger {
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        Messenger {
            inner: Arc::new(Inner {
                store,
                id: key.account_id(),
                key,
                events,
                running: Mutex::new(None),
                client: RwLock::new(None),
                network: RwLock::new(String::new()),
                outbox_wake: Notify::new(),
                counters: Mutex::new(ChatCounters::default()),
                receiving: tokio::sync::Mutex::new(()),
                handling: Mutex::new(()),
                sessions_lock: Mutex::new(()),
                prekeys_lock: Mutex::new(()),
                prekeys_wake: Notify::new(),
                publishing: tokio::sync::Mutex::new(()),
                fetch_wake: Notify::new(),
                doomed: Mutex::new(Vec::new()),
                receipt_delay: Mutex::new(metadata::DEFAULT_RECEIPT_DELAY),
                groups: Mutex::new(None),
                group_pending_lock: Mutex::new(()),
                group_wake: Notify::new(),
                group_round_lock: tokio::sync::Mutex::new(()),
                group_arrivals: Mutex::new(Vec::new()),
            }),
        }
    }

    /// This account's ID.
    pub fn account_id(&self) -> AccountId {
        self.inner.id
    }

    /// This account's display name, if set.
    pub fn display_name(&self) -> Option<String> {
        let s = &self.inner.store;
        s.get::<Option<String>>(&s.meta, b"display_name")
            .ok()
            .flatten()
            .flatten()
    }

    /// Sets the display name (empty clears it) and tells every contact.
    pub fn set_display_name(&self, name: &str) -> Result<(), ChatError> {
        check_name(name)?;
        let s = &self.inner.store;
        let value = (!name.is_empty()).then(|| name.to_owned());
        s.put(&s.meta, b"display_name", &value)?;
        for contact in self.contacts()? {
            self.inner.enqueue_profile(&contact.id)?;
        }
        s.flush()
    }

    /// The privacy and attachment settings.
    pub fn settings(&self) -> Settings {
        self.inner.settings()
    }

    /// Changes the privacy and attachment settings.
    pub fn set_settings(&self, settings: Settings) -> Result<(), ChatError> {
        let s = &self.inner.store;
        s.put(&s.meta, b"settings", &settings)?;
        s.flush()
    }

    /// Runs store work off the async threads.
    pub(crate) async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Inner) -> Result<T, ChatError> + Send + 'static,
    ) -> Result<T, ChatError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || f(&inner))
            .await
            .map_err(|e| ChatError::Store(format!("a store task failed: {e}")))?
    }

    /// Flushes the store off the async threads.
    pub(crate) async fn flush(&self) -> Result<(), ChatError> {
        self.blocking(|i| i.store.flush()).await
    }

    /// What the receive loop dropped or refused so far (this run).
    pub fn counters(&self) -> ChatCounters {
        match self.inner.counters.lock() {
            Ok(c) => *c,
            Err(p) => *p.into_inner(),
        }
    }

    /// The event stream (bounded: a slow subscriber gets `Lagged` and should
    /// read the state again).
    pub fn subscribe(&self) -> broadcast::Receiver<ChatEvent> {
        self.inner.events.subscribe()
    }
}

impl Inner {
    /// The settings (a home from before the attachment settings gets their
    /// defaults; an unreadable record, all defaults).
    pub(crate) fn settings(&self) -> Settings {
        let s = &self.store;
        s.get(&s.meta, b"settings")
            .ok()
            .flatten()
            .or_else(|| {
                s.get::<types::LegacySettings>(&s.meta, b"settings")
                    .ok()
                    .flatten()
                    .map(Settings::from)
            })
            .unwrap_or_default()
    }

    /// Sends an event to whoever listens (nobody listening is fine).
    pub(crate) fn emit(&self, event: ChatEvent) {
        let _ = self.events.send(event);
    }

    /// The range of the random delay before a delivery receipt leaves.
    pub(crate) fn receipt_delay(&self) -> (std::time::Duration, std::time::Duration) {
        match self.receipt_delay.lock() {
            Ok(d) => *d,
            Err(p) => *p.into_inner(),
        }
    }

    /// Counts one dropped or refused input.
    pub(crate) fn count(&self, f: impl FnOnce(&mut ChatCounters)) {
        match self.counters.lock() {
            Ok(mut c) => f(&mut c),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Gives up on the stored envelope `hash` for good: counted by `why` and
    /// marked seen, so no receive round fetches or opens it again. Returns
    /// `false` (no new text), for the receive paths to return.
    pub(crate) fn drop_envelope(
        &self,
        hash: &[u8],
        now: u64,
        why: impl FnOnce(&mut ChatCounters),
    ) -> Result<bool, ChatError> {
        self.count(why);
        self.store.mark_seen(b'h', hash, now)?;
        Ok(false)
    }

    /// The running network client.
    pub(crate) fn client(&self) -> Option<Arc<crate::Client>> {
        match self.client.read() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// The network name requests are signed for.
    pub(crate) fn network(&self) -> String {
        match self.network.read() {
            Ok(n) => n.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

/// Takes a lock; a poisoned one is taken as it is (the data it guards is in
/// the store, not in the lock).
pub(crate) fn lock(m: &Mutex<()>) -> std::sync::MutexGuard<'_, ()> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Checks a display name or nickname by the protocol's profile rules.
pub(crate) fn check_name(name: &str) -> Result<(), ChatError> {
    sotto_protocol::envelope::ContentBody::Profile {
        display_name: name.to_owned(),
    }
    .validate()
    .map_err(|e| ChatError::InvalidName(e.to_string()))
}

/// The device clock (Unix ms), for when no network clock is running.
pub(crate) fn system_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Inner {
    /// The network-corrected clock when connected, else the device's.
    pub(crate) fn now(&self) -> u64 {
        match self.client() {
            Some(c) => c.now(),
            None => system_now(),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_v2;

#[cfg(test)]
mod tests_attach;
#[cfg(test)]
mod tests_metadata;
