//! This account's prekeys (messages v2): the secrets, kept in the home like
//! every other secret (sealed at rest under the passphrase), and the task that
//! keeps a current bundle published in the account's swarm (and this
//! account's delivery token registered there: `delivery.rs`).
//!
//! Schedule (the protocol's constants, `sotto_protocol::constants`): the
//! signed X25519 + ML-KEM pair is replaced every `SIGNED_PREKEY_ROTATE_MS`
//! (7 days) and a replaced pair is kept `OLD_SIGNED_PREKEY_KEEP_MS` more;
//! one-time keys are refilled to a batch of `ONE_TIME_PREKEY_BATCH` once fewer
//! than `ONE_TIME_PREKEY_LOW_WATER` are unused. Which were used is known
//! exactly: every accepted initiation marks its one-time keys used
//! ([`Inner::mark_prekeys_used`]). The bundle is published again whenever the
//! secrets changed in a way a reader must see, and at least every
//! [`REFRESH_MS`], so a swarm that lost it (churn) gets it back.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sotto_protocol::prekey::{PrekeySecrets, UsedPrekeys};
use sotto_protocol::rpc::MessageHash;
use sotto_protocol::time::DAY_MS;
use tokio::sync::watch;

use super::{ChatError, Inner};

/// Meta key of the prekey secrets.
const SECRETS_KEY: &[u8] = b"prekey_secrets";
/// Meta key of what was published last.
const PUBLISHED_KEY: &[u8] = b"prekey_published";
/// Meta key of the secrets' version: counts changes a reader must see.
const VERSION_KEY: &[u8] = b"prekey_version";
/// The bundle is stored again at least this often (1 day), although it lives
/// 30 days in the swarm: members that joined the swarm since then get it by
/// replication anyway, this covers a swarm that lost it.
pub(crate) const REFRESH_MS: u64 = DAY_MS;
/// How often the task looks at the schedule when nothing wakes it.
const TICK: Duration = Duration::from_secs(60);
/// The wait after a failed publish.
const RETRY: Duration = Duration::from_secs(5);

/// What was published last.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct Published {
    /// When (network clock), 0 for never.
    pub(crate) at: u64,
    /// The stored bundle's hash.
    pub(crate) hash: Option<MessageHash>,
    /// The version of the secrets it was made from: when the secrets' version
    /// is higher, a new bundle must go out.
    pub(crate) version: u64,
}

impl Inner {
    /// The prekey secrets, made (and stored) on first use.
    pub(crate) fn prekey_secrets(&self) -> Result<PrekeySecrets, ChatError> {
        let _one_writer = super::lock(&self.prekeys_lock);
        self.secrets_locked()
    }

    /// [`Inner::prekey_secrets`] with `prekeys_lock` held by the caller.
    fn secrets_locked(&self) -> Result<PrekeySecrets, ChatError> {
        let s = &self.store;
        if let Some(secrets) = s.get::<PrekeySecrets>(&s.meta, SECRETS_KEY)? {
            return Ok(secrets);
        }
        let secrets = PrekeySecrets::generate(self.now(), &mut rand::rng());
        s.put(&s.meta, SECRETS_KEY, &secrets)?;
        self.mark_stale()?;
        s.flush()?;
        Ok(secrets)
    }

    /// Stores changed prekey secrets (`prekeys_lock` held by the caller).
    fn put_prekey_secrets(&self, secrets: &PrekeySecrets) -> Result<(), ChatError> {
        let s = &self.store;
        s.put(&s.meta, SECRETS_KEY, secrets)
    }

    /// Records that an accepted (and stored) initiation used these one-time
    /// keys; the bundle goes out again without them.
    pub(crate) fn mark_prekeys_used(&self, used: &UsedPrekeys, now: u64) -> Result<(), ChatError> {
        let _one_writer = super::lock(&self.prekeys_lock);
        let mut secrets = self.secrets_locked()?;
        if secrets.mark_used(used, now) {
            secrets.maintain(now, &mut rand::rng());
            self.put_prekey_secrets(&secrets)?;
            self.mark_stale()?;
            self.prekeys_wake.notify_one();
        }
        Ok(())
    }

    /// What was published last.
    pub(crate) fn published(&self) -> Result<Published, ChatError> {
        let s = &self.store;
        Ok(s.get(&s.meta, PUBLISHED_KEY)?.unwrap_or_default())
    }

    /// The secrets' version.
    fn prekey_version(&self) -> Result<u64, ChatError> {
        let s = &self.store;
        Ok(s.get(&s.meta, VERSION_KEY)?.unwrap_or(0))
    }

    /// Notes a change of the secrets a reader must see.
    fn mark_stale(&self) -> Result<(), ChatError> {
        let s = &self.store;
        let v = self.prekey_version()?.saturating_add(1);
        s.put(&s.meta, VERSION_KEY, &v)
    }

    /// Applies the schedule at `now`; returns the bundle to publish and the
    /// secrets' version it shows, if one must go out (first run, rotation,
    /// refill, used keys, or refresh).
    pub(crate) fn due_bundle(
        &self,
        now: u64,
    ) -> Result<Option<(sotto_protocol::prekey::SignedPrekeyBundle, u64)>, ChatError> {
        let _one_writer = super::lock(&self.prekeys_lock);
        let mut secrets = self.secrets_locked()?;
        let changed = secrets.maintain(now, &mut rand::rng());
        if changed {
            self.put_prekey_secrets(&secrets)?;
            self.mark_stale()?;
            self.store.flush()?;
        }
        let p = self.published()?;
        let version = self.prekey_version()?;
        let due = version > p.version || p.hash.is_none() || now.saturating_sub(p.at) >= REFRESH_MS;
        if !due {
            return Ok(None);
        }
        let bundle = secrets
            .bundle(&self.key, now)
            .map_err(|e| ChatError::Invalid(format!("the prekey bundle: {e}")))?;
        Ok(Some((bundle, version)))
    }

    /// Publishes the bundle if the schedule says so; `true` if one went out.
    pub(crate) async fn publish_if_due(&self, client: &crate::Client) -> Result<bool, ChatError> {
        let _one_at_a_time = self.publishing.lock().await;
        let now = client.now();
        let Some((bundle, version)) = self.due_bundle(now)? else {
            return Ok(false);
        };
        let hash = crate::prekeys::publish_bundle(client, &self.key, &self.network(), &bundle)
            .await
            .map_err(|e| ChatError::Network(e.to_string()))?;
        self.note_published(now, hash, version)?;
        Ok(true)
    }

    /// Records that the bundle of the secrets' `version` was stored at `now`
    /// under `hash`. Keys used while it was out raised the version past
    /// `version`: the next round publishes again.
    pub(crate) fn note_published(
        &self,
        now: u64,
        hash: MessageHash,
        version: u64,
    ) -> Result<(), ChatError> {
        let s = &self.store;
        s.put(
            &s.meta,
            PUBLISHED_KEY,
            &Published {
                at: now,
                hash: Some(hash),
                version,
            },
        )?;
        s.flush()
    }
}

/// The publishing task: publishes when the schedule says so, on start and
/// whenever the secrets change; retries after a failure.
pub(crate) async fn run(
    inner: Arc<Inner>,
    client: Arc<crate::Client>,
    mut stop: watch::Receiver<bool>,
) {
    let mut paths = client.path_status();
    while !*stop.borrow() {
        if !matches!(*paths.borrow_and_update(), crate::PathStatus::Ready { .. }) {
            tokio::select! {
                r = paths.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(TICK) => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        let wait = match inner.publish_if_due(&client).await {
            Ok(_) => TICK,
            Err(e) => {
                tracing::debug!("publishing the prekey bundle: {e}");
                RETRY
            }
        };
        // The group key package rides the same loop: published on first
        // connect and replaced weekly (`groups.rs`).
        let wait = match inner.publish_key_package_if_due(&client).await {
            Ok(_) => wait,
            Err(e) => {
                tracing::debug!("publishing the group key package: {e}");
                RETRY
            }
        };
        // The delivery token's item rides the same schedule: stored on
        // start, when the token changes and daily (`delivery.rs`).
        let wait = match inner.register_token_if_due(&client).await {
            Ok(_) => wait,
            Err(e) => {
                tracing::debug!("registering the delivery token: {e}");
                RETRY
            }
        };
        tokio::select! {
            _ = inner.prekeys_wake.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => return,
        }
    }
}

impl super::Messenger {
    /// Publishes this account's prekey bundle now if it is due (first
    /// connect, rotation, used one-time keys, daily refresh); `true` if one
    /// was stored. The background task does this by itself; this is for
    /// front ends and tests that want to know it is out.
    pub async fn publish_prekeys(&self) -> Result<bool, ChatError> {
        let client = self.inner.client().ok_or(ChatError::NotConnected)?;
        self.inner.publish_if_due(&client).await
    }

    /// How many one-time prekeys of each kind (X25519, ML-KEM-768) are still
    /// unused, and when the bundle was last published (network clock, 0 for
    /// never).
    pub fn prekey_status(&self) -> Result<((usize, usize), u64), ChatError> {
        let secrets = self.inner.prekey_secrets()?;
        Ok((secrets.unused_one_time(), self.inner.published()?.at))
    }
}
