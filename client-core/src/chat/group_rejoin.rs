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
use sotto_protocol::attachment::MAX_CHUNK_TTL_MS;
use sotto_protocol::envelope::ContentBody;
use sotto_protocol::time::DAY_MS;

use super::{ChatError, Inner, Messenger};
use crate::group::net::HANDSHAKE_TTL_MS;
use crate::group::{GroupError, GroupId};

/// A group not read to its end for this long may have lost commits: a
/// commit kept 30 days ([`HANDSHAKE_TTL_MS`]) whose bytes went by reference
/// has chunks kept only 14 days ([`MAX_CHUNK_TTL_MS`]), so the shorter wins.
pub const BEHIND_AFTER_MS: u64 = min(HANDSHAKE_TTL_MS, MAX_CHUNK_TTL_MS) - DAY_MS;

const fn min(a: u64, b: u64) -> u64 {
    if a < b { a } else { b }
}
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

/// How long a request stays open for an answer.
const ASKED_FOR_MS: u64 = 7 * DAY_MS;
/// How long after the first answer later ones (another admin's) are taken.
const ANSWERS_FOR_MS: u64 = 10 * 60 * 1000;

/// A group this account asked to rejoin.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Asked {
    at: u64,
    admins: Vec<AccountId>,
    /// When the first answer was joined.
    joined_at: Option<u64>,
}

impl Asked {
    fn open(&self, now: u64) -> bool {
        now.saturating_sub(self.at) < ASKED_FOR_MS
            && self
                .joined_at
                .is_none_or(|j| now.saturating_sub(j) < ANSWERS_FOR_MS)
    }
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
                joined_at: None,
            },
        );
        self.put_meta(ASKED_KEY, &asked)?;
        self.outbox_wake.notify_one();
        Ok(admins.len())
    }

    /// The groups this account asked `sender` (one of their admins) to be
    /// added to again, whose requests are still open.
    fn asked_of(&self, sender: &AccountId) -> Result<Vec<GroupId>, ChatError> {
        let now = self.now();
        let asked: BTreeMap<[u8; 32], Asked> = self.meta_map(ASKED_KEY)?;
        Ok(asked
            .iter()
            .filter(|(_, a)| a.open(now) && a.admins.contains(sender))
            .map(|(g, _)| GroupId(*g))
            .collect())
    }

    /// Whether a Welcome from `sender` may be taken as the answer to a
    /// rejoin request (it is an admin of a group this account asked about).
    pub(super) fn expects_rejoin_from(&self, sender: &AccountId) -> Result<bool, ChatError> {
        Ok(!self.asked_of(sender)?.is_empty())
    }

    /// Takes the Welcome `welcome` from `sender`. A contact's may start a new
    /// group; from anyone, it may replace the state of a group this account
    /// asked `sender` to re-add it to (`Groups::rejoin`: only a later epoch's,
    /// sent by an admin of the old state, and nothing changes on a failure).
    /// A stranger's is never joined as a new group here.
    pub(super) fn join_welcome(
        &self,
        sender: &AccountId,
        welcome: &[u8],
        is_contact: bool,
    ) -> Result<GroupId, ChatError> {
        let asked = self.asked_of(sender)?;
        let id = self.with_groups(|g| {
            let first = if is_contact {
                g.join(welcome)
            } else {
                Err(GroupError::Invalid("not a contact's invitation"))
            };
            match first {
                Ok(id) => Ok(id),
                Err(e) => {
                    for id in &asked {
                        if let Ok(id) = g.rejoin(welcome, id) {
                            return Ok(id);
                        }
                    }
                    Err(e)
                }
            }
        })?;
        self.rejoined(&id)?;
        Ok(id)
    }

    /// A group was joined: answers to its request are taken a little longer
    /// (another admin's may follow), then it is forgotten.
    fn rejoined(&self, group: &GroupId) -> Result<(), ChatError> {
        let now = self.now();
        let mut asked: BTreeMap<[u8; 32], Asked> = self.meta_map(ASKED_KEY)?;
        let before = asked.len();
        asked.retain(|_, a| a.open(now));
        let mut changed = asked.len() != before;
        if let Some(a) = asked.get_mut(&group.0)
            && a.joined_at.is_none()
        {
            a.joined_at = Some(now);
            changed = true;
        }
        if changed {
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
