//! This account's groups in the home: the MLS state (`crate::group`) kept as
//! one sealed value in the `meta` tree, and the last-resort key package that
//! lets admins add this account, published in its `Public` namespace beside
//! the prekey bundle and replaced every [`KEY_PACKAGE_ROTATE_MS`].
//!
//! The state is written (and flushed) before anything made from it leaves:
//! a key package is published only once the private keys behind it are on
//! disk, so a crash never leaves a package out that this home cannot use.

use serde::{Deserialize, Serialize};
use sotto_protocol::rpc::MessageHash;
use sotto_protocol::time::DAY_MS;

use super::{ChatError, Inner, Messenger};
use sotto_protocol::AccountId;

use crate::group::publish::{fetch_key_package, publish_key_package};
use crate::group::{GroupError, GroupId, Groups, Outgoing};

/// Meta key of the number of parts of the groups' state; part `i` is at
/// `groups/` ‖ `i` (big endian).
const GROUPS_KEY: &[u8] = b"groups";
/// Bytes of the groups' state per stored part.
const CHUNK_LEN: usize = 512 * 1024;
/// Meta key of the last key package published.
const KEY_PACKAGE_KEY: &[u8] = b"group_key_package";
/// How often the published key package is replaced (as the signed prekey).
pub(crate) const KEY_PACKAGE_ROTATE_MS: u64 = 7 * DAY_MS;

/// The key package published last.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub(crate) struct PublishedPackage {
    /// When (network clock), 0 for never.
    pub(crate) at: u64,
    /// Its hash in the swarm.
    pub(crate) hash: Option<MessageHash>,
}

impl From<GroupError> for ChatError {
    fn from(e: GroupError) -> Self {
        ChatError::Invalid(format!("group: {e}"))
    }
}

impl Inner {
    /// Runs `f` on this account's groups (read from the home on first use)
    /// and writes them back, flushed, before returning what it made.
    pub(crate) fn with_groups<T>(
        &self,
        f: impl FnOnce(&mut Groups) -> Result<T, GroupError>,
    ) -> Result<T, ChatError> {
        self.on_groups(true, f)
    }

    /// [`Inner::with_groups`] for `f` that only looks: nothing is written
    /// (the whole state is O(group size) bytes, and the group task looks
    /// every second).
    pub(crate) fn read_groups<T>(
        &self,
        f: impl FnOnce(&Groups) -> Result<T, GroupError>,
    ) -> Result<T, ChatError> {
        self.on_groups(false, |g| f(g))
    }

    fn on_groups<T>(
        &self,
        write: bool,
        f: impl FnOnce(&mut Groups) -> Result<T, GroupError>,
    ) -> Result<T, ChatError> {
        let mut held = self
            .groups
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let groups = match held.as_mut() {
            Some(groups) => groups,
            None => {
                let loaded = match self.load_groups()? {
                    Some(bytes) => Groups::import(&self.key, &bytes)?,
                    None => Groups::new(&self.key),
                };
                held.insert(loaded)
            }
        };
        let out = match f(groups) {
            Ok(out) => out,
            Err(e) => {
                // What failed may have changed the state half way: the next
                // use reads it again from the home, as last written.
                *held = None;
                return Err(e.into());
            }
        };
        if write {
            self.save_groups(&groups.export()?)?;
        }
        Ok(out)
    }

    /// The groups' state as [`Inner::save_groups`] wrote it.
    fn load_groups(&self) -> Result<Option<Vec<u8>>, ChatError> {
        let s = &self.store;
        let Some(count) = s.get::<u32>(&s.meta, GROUPS_KEY)? else {
            return Ok(None);
        };
        let mut bytes = Vec::new();
        for i in 0..count {
            let part = s
                .get::<Vec<u8>>(&s.meta, &chunk_key(i))?
                .ok_or_else(|| ChatError::Store("a part of the groups' state is missing".into()))?;
            bytes.extend_from_slice(&part);
        }
        Ok(Some(bytes))
    }

    /// Writes the groups' state in parts of [`CHUNK_LEN`] (a stored value is
    /// at most 1 MiB, a large group's state more), all in one atomic batch
    /// with the count, and flushes.
    fn save_groups(&self, bytes: &[u8]) -> Result<(), ChatError> {
        let s = &self.store;
        let old = s.get::<u32>(&s.meta, GROUPS_KEY)?.unwrap_or(0);
        let mut batch = sled::Batch::default();
        let mut count = 0u32;
        for part in bytes.chunks(CHUNK_LEN) {
            let key = chunk_key(count);
            batch.insert(key.clone(), s.encode(&s.meta, &key, &part.to_vec())?);
            count += 1;
        }
        for i in count..old {
            batch.remove(chunk_key(i));
        }
        batch.insert(GROUPS_KEY, s.encode(&s.meta, GROUPS_KEY, &count)?);
        s.meta.apply_batch(batch)?;
        s.flush()
    }

    /// Publishes a new last-resort key package when none is out or the one
    /// out is older than [`KEY_PACKAGE_ROTATE_MS`]; `true` if one was stored.
    pub(crate) async fn publish_key_package_if_due(
        &self,
        client: &crate::Client,
    ) -> Result<bool, ChatError> {
        // One at a time: each deletes the packages it did not store.
        let _one_at_a_time = self.publishing.lock().await;
        let now = client.now();
        let s = &self.store;
        let last = s
            .get::<PublishedPackage>(&s.meta, KEY_PACKAGE_KEY)?
            .unwrap_or_default();
        if last.at != 0 && now < last.at.saturating_add(KEY_PACKAGE_ROTATE_MS) {
            return Ok(false);
        }
        // Written before it leaves: the private keys are on disk first.
        let package = self.with_groups(|g| g.last_resort_key_package())?;
        let hash = publish_key_package(client, &self.key, &self.network(), &package)
            .await
            .map_err(|e| ChatError::Network(e.to_string()))?;
        s.put(
            &s.meta,
            KEY_PACKAGE_KEY,
            &PublishedPackage {
                at: now,
                hash: Some(hash),
            },
        )?;
        s.flush()?;
        Ok(true)
    }
}

impl Messenger {
    /// Publishes this account's key package now if it is due (first connect,
    /// weekly replacement); `true` if one was stored. The background task
    /// does this by itself; this is for front ends and tests that want to
    /// know it is out.
    pub async fn publish_key_package(&self) -> Result<bool, ChatError> {
        let client = self.inner.client().ok_or(ChatError::NotConnected)?;
        self.inner.publish_key_package_if_due(&client).await
    }

    /// Joins the group a Welcome invites this account to (checked as
    /// `crate::group::Groups::join` checks it); the group's state is in the
    /// home when this returns.
    pub fn join_group(&self, welcome: &[u8]) -> Result<GroupId, ChatError> {
        self.inner.with_groups(|g| g.join(welcome))
    }

    /// Creates a group named `name` with this account as its admin and
    /// `members` in it: each member's published key package is fetched, and
    /// each gets an invitation (the MLS Welcome) through the outbox, as a
    /// content of an envelope v2; a contact that receives it joins. Needs a
    /// connection; fails naming a member that has published no key package.
    pub async fn create_group(
        &self,
        name: &str,
        members: &[AccountId],
    ) -> Result<GroupId, ChatError> {
        let client = self.inner.client().ok_or(ChatError::NotConnected)?;
        let mut packages = Vec::with_capacity(members.len());
        for member in members {
            let package = fetch_key_package(&client, member)
                .await
                .map_err(|e| ChatError::Session(format!("{}: {e}", member.to_text())))?;
            packages.push(package);
        }
        let now = client.now();
        let (id, out) = self.inner.with_groups(|g| g.create(name, &packages, now))?;
        for o in out {
            if let Outgoing::Welcome { to, bytes } = o {
                self.inner.send_welcome(id, to, bytes)?;
            }
        }
        self.inner.outbox_wake.notify_one();
        Ok(id)
    }

    /// The groups this account is in.
    pub fn groups(&self) -> Result<Vec<crate::group::GroupInfo>, ChatError> {
        self.inner.read_groups(|g| Ok(g.list()))
    }
}

fn chunk_key(i: u32) -> Vec<u8> {
    let mut key = b"groups/".to_vec();
    key.extend_from_slice(&i.to_be_bytes());
    key
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::super::tests::user;

    #[test]
    fn a_state_larger_than_one_stored_value_comes_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let m = user(&dir);
        // 2.3 parts, each byte different from its neighbours.
        let big: Vec<u8> = (0..(super::CHUNK_LEN * 2 + 300_000))
            .map(|i| (i % 251) as u8)
            .collect();
        m.inner.save_groups(&big).unwrap();
        assert_eq!(m.inner.load_groups().unwrap().unwrap(), big);
        // A smaller state later leaves no stale part behind.
        m.inner.save_groups(b"small").unwrap();
        assert_eq!(m.inner.load_groups().unwrap().unwrap(), b"small");
        let s = &m.inner.store;
        assert!(s.meta.get(super::chunk_key(1)).unwrap().is_none());
        assert!(s.meta.get(super::chunk_key(2)).unwrap().is_none());
    }
}
