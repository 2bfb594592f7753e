//! Following the active groups with a pair of long polls.
//!
//! The group task reads every group in rounds, once a second at most; a
//! message then waits up to a round before it is read. For the groups with
//! something going on lately (at most [`MAX_FOLLOWED`]), a task keeps a
//! [`PollPair`] at one member of the current epoch account's swarm: each
//! message answers one of its two polls at once (docs/ARCHITECTURE.md, "The
//! pair of long polls"). What a pair reads is queued as an [`Arrival`] and
//! the group task is woken; its round hands the items to the engine like
//! the ones it reads itself (one place changes the groups, under the round
//! lock), and reads a followed group only every few seconds unless it is
//! busy (settling, or with items to store). The round's own cursors do not
//! move with the pair's reads: a pair that fails, or items dropped from a
//! full queue, cost a round's delay and no message.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sotto_protocol::AccountKey;
use sotto_protocol::constants::MAX_LONG_POLL_MS;
use tokio::task::JoinHandle;

use super::Inner;
use crate::ReadCursors;
use crate::group::GroupId;
use crate::group::net::{self, GROUP_NAMESPACE, Item};
use crate::reader::PollPair;

/// Most groups followed at once: two parked polls each, so 16 of the
/// client's 64 requests in flight at most; the others are read in rounds.
pub(crate) const MAX_FOLLOWED: usize = 8;
/// Most items queued for the next round; past it a pair's items are left
/// for the round's own read.
const MAX_ARRIVALS: usize = 1_000;
/// The pause after a failed poll before a pair at another member.
const FOLLOW_PAUSE: Duration = Duration::from_secs(2);
/// The pause after an answer with nothing that opens under the epoch's key
/// before the pair is asked for more (its polls stay out meanwhile).
const JUNK_PAUSE: Duration = Duration::from_secs(1);

/// Items a group's pair read, for the group task's next round.
pub(crate) struct Arrival {
    pub(super) group: GroupId,
    pub(super) items: Vec<Item>,
}

/// The pairs running, one per followed group, with the epoch account each
/// follows.
#[derive(Default)]
pub(crate) struct Followers {
    running: HashMap<GroupId, ([u8; 32], JoinHandle<()>)>,
}

impl Drop for Followers {
    fn drop(&mut self) {
        for (_, task) in self.running.values() {
            task.abort();
        }
    }
}

impl Followers {
    /// Follows exactly `wanted` (a group and its current epoch account, with
    /// the round's cursors there): stops the pairs of groups not in it or of
    /// an earlier epoch, and starts the missing ones.
    pub(crate) fn follow(
        &mut self,
        inner: &Arc<Inner>,
        client: &Arc<crate::Client>,
        wanted: Vec<(GroupId, AccountKey, ReadCursors)>,
    ) {
        let keep: HashMap<GroupId, [u8; 32]> = wanted
            .iter()
            .map(|(g, k, _)| (*g, *k.account_id().as_bytes()))
            .collect();
        self.running.retain(|group, (epoch, task)| {
            let same = keep.get(group) == Some(&*epoch) && !task.is_finished();
            if !same {
                task.abort();
            }
            same
        });
        for (group, key, cursors) in wanted {
            if self.running.contains_key(&group) {
                continue;
            }
            let epoch = *key.account_id().as_bytes();
            let task = tokio::spawn(follow(
                Arc::downgrade(inner),
                client.clone(),
                group,
                Arc::new(key),
                cursors,
            ));
            self.running.insert(group, (epoch, task));
        }
    }

    /// The groups followed now.
    pub(crate) fn groups(&self) -> HashSet<GroupId> {
        self.running.keys().copied().collect()
    }
}

/// Follows `key`'s account for `group` until aborted (or the home is gone),
/// at a member chosen at random, again after each failure.
async fn follow(
    inner: Weak<Inner>,
    client: Arc<crate::Client>,
    group: GroupId,
    key: Arc<AccountKey>,
    cursors: ReadCursors,
) {
    let wait_ms = u32::try_from(MAX_LONG_POLL_MS).unwrap_or(u32::MAX);
    loop {
        let Some(network) = inner.upgrade().map(|i| i.network()) else {
            return;
        };
        let Some(mut pair) = PollPair::at_random_member(
            client.clone(),
            &network,
            key.clone(),
            GROUP_NAMESPACE,
            &cursors,
            wait_ms,
        ) else {
            tokio::time::sleep(FOLLOW_PAUSE).await;
            continue;
        };
        loop {
            match pair.next().await {
                Ok(messages) => {
                    let (items, _) = net::open_all(&key, messages);
                    let Some(inner) = inner.upgrade() else { return };
                    if items.is_empty() {
                        // New to the pair but nothing opens: a member may
                        // make up messages whose hash fits and answer at
                        // once every time; the round's reads count them.
                        drop(inner);
                        tokio::time::sleep(JUNK_PAUSE).await;
                    } else {
                        inner.arrived(Arrival { group, items });
                    }
                }
                Err(e) => {
                    tracing::debug!("following a group: {e}");
                    tokio::time::sleep(FOLLOW_PAUSE).await;
                    break;
                }
            }
        }
    }
}

impl Inner {
    /// Queues what a pair read and wakes the group task.
    fn arrived(&self, arrival: Arrival) {
        let mut queue = match self.group_arrivals.lock() {
            Ok(q) => q,
            Err(p) => p.into_inner(),
        };
        let held: usize = queue.iter().map(|a| a.items.len()).sum();
        if held + arrival.items.len() <= MAX_ARRIVALS {
            queue.push(arrival);
        }
        drop(queue);
        self.group_wake.notify_one();
    }

    /// Takes what the pairs read since the last round.
    pub(super) fn take_arrivals(&self) -> Vec<Arrival> {
        let mut queue = match self.group_arrivals.lock() {
            Ok(q) => q,
            Err(p) => p.into_inner(),
        };
        std::mem::take(&mut *queue)
    }
}
