//! The way back into a group for a member that fell behind: away longer than
//! the group's changes are kept (30 days), or left on the losing side of a
//! fork. It cannot follow the epochs any more, so it asks the admins
//! ([`ContentBody::GroupRejoin`], a sealed 1:1 message to each), and the
//! first admin whose client takes the request adds it again: its old leaf
//! removed and a new one added from its published key package, in one commit
//! (`Groups::readd`); the Welcome replaces the member's old state.
//!
//! - Asking: [`Messenger::rejoin_group`] (`sotto group rejoin`), and the
//!   group task by itself when a group's last read to its end is older than
//!   [`BEHIND_AFTER_MS`] (it may have missed commits that are gone), at most
//!   once per [`ASK_AGAIN_MS`]. The groups asked about, with their admins,
//!   are remembered, so the Welcome is taken from those admins even when
//!   they are not contacts.
//! - Answering: a request counts only from a current member of a group this
//!   account administers, at most once per member per [`ANSWER_AGAIN_MS`];
//!   at most [`MAX_REJOINS`] wait (more are refused, counted). The group
//!   task fetches the member's key package and commits.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sotto_protocol::AccountId;
use sotto_protocol::envelope::ContentBody;
use sotto_protocol::time::DAY_MS;

use super::{ChatError, Inner, Messenger};
use crate::group::net::HANDSHAKE_TTL_MS;
use crate::group::{GroupError, GroupId};

/// A group not read to its end for this long may have lost commits.
pub const BEHIND_AFTER_MS: u64 = HANDSHAKE_TTL_MS - DAY_MS;
/// How soon a member asks the admins again.
pub const ASK_AGAIN_MS: u64 = DAY_MS;
/// How soon an admin answers the same member again.
pub const ANSWER_AGAIN_MS: u64 = 10 * 60 * 1000;
/// Requests waiting for the group task at most.
pub const MAX_REJOINS: usize = 64;

const ASKED_KEY: &[u8] = b"group_rejoin_asked";
const WANTED_KEY: &[u8] = b"group_rejoin_wanted";
const ANSWERED_KEY: &[u8] = b"group_rejoin_answered";
const LAST_READ_KEY: &[u8] = b"group_last_read";

/// A group this account asked to rejoin.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Asked {
    at: u64,
    admins: Vec<AccountId>,
}

impl Inner {
    fn meta_map<K: Ord + Serialize + for<'de> Deserialize<'de>, V>(
        &self,
        key: &[u8],
    ) -> Result<BTreeMap<K, V>, ChatError>
    where
        V: Serialize + for<'de> Deserialize<'de>,
    {
        let s = &self.store;
        Ok(s.get(&s.meta, key)?.unwrap_or_default())
    }

    fn put_meta<T: Serialize>(&self, key: &[u8], value: &T) -> Result<(), ChatError> {
        let s = &self.store;
        s.put(&s.meta, key, value)?;
        s.flush()
    }

    /// Sends the rejoin request for `group` to its admins (as this account
    /// last knew them); how many were asked.
    pub(super) fn ask_rejoin(&self, group: &GroupId) -> Result<usize, ChatError> {
        let info = self.read_groups(|g| g.info(group))?;
        let admins: Vec<AccountId> = info
            .meta
            .admins
            .into_iter()
            .filter(|a| *a != self.id)
            .collect();
        if admins.is_empty() {
            return Err(ChatError::Invalid(
                "you are this group's only admin: nobody else can add you again".into(),
            ));
        }
        for admin in &admins {
            self.enqueue(admin, ContentBody::GroupRejoin { group: group.0 }, None)?;
        }
        let mut asked: BTreeMap<[u8; 32], Asked> = self.meta_map(ASKED_KEY)?;
        asked.insert(
            group.0,
            Asked {
                at: self.now(),
                admins: admins.clone(),
            },
        );
        self.put_meta(ASKED_KEY, &asked)?;
        self.outbox_wake.notify_one();
        Ok(admins.len())
    }

    /// Whether a Welcome from `sender` may be joined as the answer to a
    /// rejoin request (it is an admin of a group this account asked about).
    pub(super) fn expects_rejoin_from(&self, sender: &AccountId) -> Result<bool, ChatError> {
        let asked: BTreeMap<[u8; 32], Asked> = self.meta_map(ASKED_KEY)?;
        Ok(asked.values().any(|a| a.admins.contains(sender)))
    }

    /// Joins the group of `welcome`; when this account holds it already and
    /// asked to be added again, the Welcome replaces the old state
    /// (`Groups::rejoin`: only a later epoch's, and nothing changes on a
    /// failure).
    pub(super) fn join_welcome(&self, welcome: &[u8]) -> Result<GroupId, ChatError> {
        let asked: Vec<GroupId> = self
            .meta_map::<[u8; 32], Asked>(ASKED_KEY)?
            .keys()
            .map(|k| GroupId(*k))
            .collect();
        let id = self.with_groups(|g| match g.join(welcome) {
            Ok(id) => Ok(id),
            Err(e) => {
                for id in &asked {
                    if let Ok(id) = g.rejoin(welcome, id) {
                        return Ok(id);
                    }
                }
                Err(e)
            }
        })?;
        self.rejoined(&id)?;
        Ok(id)
    }

    /// A group was joined: it is no longer waited for.
    fn rejoined(&self, group: &GroupId) -> Result<(), ChatError> {
        let mut asked: BTreeMap<[u8; 32], Asked> = self.meta_map(ASKED_KEY)?;
        if asked.remove(&group.0).is_some() {
            self.put_meta(ASKED_KEY, &asked)?;
        }
        Ok(())
    }

    /// `sender` asks to be added to `group` again: kept for the group task if
    /// this account administers the group and `sender` is in it.
    pub(super) fn on_rejoin_request(
        &self,
        sender: AccountId,
        group: GroupId,
    ) -> Result<(), ChatError> {
        let me = self.id;
        let fits = self
            .read_groups(|g| {
                let info = g.info(&group)?;
                Ok(info.meta.admins.contains(&me) && info.members.contains(&sender))
            })
            .unwrap_or(false);
        let mut answered: BTreeMap<([u8; 32], AccountId), u64> = self.meta_map(ANSWERED_KEY)?;
        let now = self.now();
        answered.retain(|_, at| now.saturating_sub(*at) < ANSWER_AGAIN_MS);
        let mut wanted: Vec<([u8; 32], AccountId)> = self
            .store
            .get(&self.store.meta, WANTED_KEY)?
            .unwrap_or_default();
        let entry = (group.0, sender);
        if !fits || answered.contains_key(&entry) || wanted.len() >= MAX_REJOINS {
            self.count(|c| c.refused += 1);
            return Ok(());
        }
        if !wanted.contains(&entry) {
            wanted.push(entry);
        }
        answered.insert(entry, now);
        self.put_meta(ANSWERED_KEY, &answered)?;
        self.put_meta(WANTED_KEY, &wanted)?;
        self.group_wake.notify_one();
        Ok(())
    }

    /// Adds again each member that asked (its key package fetched now); a
    /// request that cannot be carried out is dropped (the member asks again).
    pub(super) async fn answer_rejoins(
        &self,
        client: &Arc<crate::Client>,
    ) -> Result<(), ChatError> {
        let wanted: Vec<([u8; 32], AccountId)> = self
            .store
            .get(&self.store.meta, WANTED_KEY)?
            .unwrap_or_default();
        for (group, member) in wanted {
            let group = GroupId(group);
            let done = match crate::group::publish::fetch_key_package(client, &member).await {
                Ok(package) => {
                    let now = client.now();
                    let made = self.with_groups(|g| {
                        let epoch = *g.epoch_account(&group)?.entropy();
                        match g.readd(&group, member, &package, now) {
                            Ok(out) => Ok(Some((out, epoch))),
                            // Another change settling: tried next round.
                            Err(GroupError::CommitPending) => Ok(None),
                            Err(e) => Err(e),
                        }
                    });
                    match made {
                        Ok(Some((out, epoch))) => self.queue_group_items(&group, out, epoch),
                        Ok(None) => continue,
                        Err(e) => Err(e),
                    }
                }
                Err(e) => {
                    tracing::debug!("a rejoin request: no key package: {e}");
                    Ok(())
                }
            };
            if let Err(e) = done {
                tracing::debug!("a rejoin request was dropped: {e}");
            }
            let mut left: Vec<([u8; 32], AccountId)> = self
                .store
                .get(&self.store.meta, WANTED_KEY)?
                .unwrap_or_default();
            left.retain(|e| *e != (group.0, member));
            self.put_meta(WANTED_KEY, &left)?;
        }
        Ok(())
    }

    /// Notes that `group` was read to its end now; asks to rejoin first if
    /// the last time was longer ago than [`BEHIND_AFTER_MS`].
    pub(super) fn read_to_end(&self, group: &GroupId, now: u64) -> Result<(), ChatError> {
        let mut last: BTreeMap<[u8; 32], u64> = self.meta_map(LAST_READ_KEY)?;
        let before = last.get(&group.0).copied();
        // Written at most hourly: this runs every round.
        if before.is_some_and(|b| now.saturating_sub(b) < 3_600_000) {
            return Ok(());
        }
        if let Some(b) = before
            && now.saturating_sub(b) > BEHIND_AFTER_MS
        {
            let asked: BTreeMap<[u8; 32], Asked> = self.meta_map(ASKED_KEY)?;
            let recent = asked
                .get(&group.0)
                .is_some_and(|a| now.saturating_sub(a.at) < ASK_AGAIN_MS);
            if !recent && let Err(e) = self.ask_rejoin(group) {
                tracing::debug!("asking to rejoin a group: {e}");
            }
        }
        last.insert(group.0, now);
        self.put_meta(LAST_READ_KEY, &last)
    }
}

impl Messenger {
    /// Asks the group's admins to add this account again (it fell behind:
    /// away longer than the group's changes are kept, or on a fork); how many
    /// admins were asked. The group task asks by itself after a long absence.
    pub fn rejoin_group(&self, group: &GroupId) -> Result<usize, ChatError> {
        self.inner.ask_rejoin(group)
    }
}
