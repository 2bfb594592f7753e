//! Group conversations in the home.
//!
//! Sending: a text becomes a [`Content`] (as in a 1:1 conversation), the MLS
//! engine encrypts it for the group's current epoch, and the bytes wait in a
//! *pending* list (sealed in `meta`) with the epoch account they belong in,
//! until the group task has stored them in that account's swarm. The group
//! task also stores commits and proposals the engine makes, and sends the
//! Welcomes of a commit that won as `GroupInvite` contents through the
//! outbox.
//!
//! Reading: each round the task reads every group's current epoch account,
//! and the previous one while the engine keeps it, hands each item to the
//! engine with the time a node stamped on it, and settles the group once the
//! current account was read to its end at two members and nothing of the
//! group is pending (its own commit must be in the swarm before it can win).
//! Messages go to the `group_msgs` tree; the read cursors of each epoch
//! account are kept in `meta`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sotto_protocol::AccountId;
use sotto_protocol::envelope::{Content, ContentBody};
use tokio::sync::watch;

use super::group_follow;
use super::group_large::StoreFailure;
use super::{ChatError, ChatEvent, Inner, MessageId, MessageState};
use crate::ReadCursors;
use crate::group::net::{self, HANDSHAKE_TTL_MS};
use crate::group::{GroupEvent, GroupId, Outgoing};

/// Meta key of the items waiting to be stored ("2": items name the
/// message they carry).
const PENDING_KEY: &[u8] = b"group_pending2";
/// Meta key of the read cursors, per epoch account.
const CURSORS_KEY: &[u8] = b"group_cursors";
/// Items waiting at most; a send past that is refused (said, not dropped).
pub(super) const MAX_PENDING: usize = 1_000;
/// How often the task runs when nothing wakes it; a group with something
/// going on is read every round.
const TICK: Duration = Duration::from_secs(1);
/// How often a quiet group is read (nothing read, sent or settling for
/// [`QUIET_AFTER`]): reads are onion requests to two swarm members each, and
/// an account may be in up to 500 groups.
const QUIET_READ: Duration = Duration::from_secs(5);
/// How long after its last activity a group counts as quiet.
const QUIET_AFTER: Duration = Duration::from_secs(60);
/// How long after an epoch change the previous epoch's account is still
/// read (messages sent there while the commit settled).
const PREVIOUS_GRACE: Duration = Duration::from_secs(120);
/// How long after an epoch change a followed group is still read every
/// round: its pair follows the new epoch's account, and members that have
/// not applied the change yet still store in the previous one.
const FOLLOWED_AFTER_CHANGE: Duration = Duration::from_secs(10);

/// When the task last read each group, last saw it active, and last saw its
/// epoch change (held by the task, not stored: a restart reads every group
/// and its previous epoch at once).
#[derive(Default)]
pub(crate) struct Schedule {
    groups: std::collections::HashMap<GroupId, GroupClock>,
    /// References to large items fetched lately (`group_large.rs`).
    pub(super) fetched: std::collections::VecDeque<[u8; 32]>,
    /// The groups a pair of long polls follows (`group_follow.rs`): read in
    /// rounds only every [`QUIET_READ`] unless busy.
    followed: std::collections::HashSet<GroupId>,
}

struct GroupClock {
    read: Instant,
    active: Instant,
    epoch: [u8; 32],
    epoch_since: Instant,
}

/// An item for an epoch account's swarm, or a Welcome too large to go
/// inside an invitation (`welcome_to`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct Pending {
    pub(super) group: GroupId,
    /// The entropy of the epoch account it belongs in.
    pub(super) epoch: [u8; 16],
    pub(super) bytes: Vec<u8>,
    pub(super) ttl_ms: u64,
    /// A commit or proposal (not a message).
    pub(super) handshake: bool,
    /// The `group_msgs` key of the outgoing message these bytes carry: it
    /// becomes [`MessageState::Sent`] once they are stored.
    pub(super) message: Option<Vec<u8>>,
    /// A Welcome for these accounts: stored as an attachment, and each sent
    /// an invitation naming it (`group_large.rs`).
    pub(super) welcome_to: Option<Vec<AccountId>>,
}

/// A message of a group conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMessage {
    /// The content id its sender gave it.
    pub id: MessageId,
    /// The group.
    pub group: GroupId,
    /// Who wrote it (this account for outgoing ones).
    pub sender: AccountId,
    /// The text.
    pub text: String,
    /// When the sender says it wrote it (unix ms).
    pub sent_at: u64,
    /// When this device stored it (unix ms, its network clock).
    pub received_at: u64,
    /// Whether this account wrote it.
    pub outgoing: bool,
    /// Outgoing: [`MessageState::Queued`] until the group's swarm holds it,
    /// then [`MessageState::Sent`]. Incoming: [`MessageState::Delivered`]
    /// while no front end has shown it, then [`MessageState::Read`].
    pub state: MessageState,
}

impl Inner {
    pub(super) fn pending(&self) -> Result<Vec<Pending>, ChatError> {
        let s = &self.store;
        Ok(s.get::<Vec<Pending>>(&s.meta, PENDING_KEY)?
            .unwrap_or_default())
    }

    /// Changes the pending list under its lock, and flushes.
    pub(super) fn change_pending(
        &self,
        f: impl FnOnce(&mut Vec<Pending>),
    ) -> Result<(), ChatError> {
        let _one_writer = super::lock(&self.group_pending_lock);
        let mut pending = self.pending()?;
        f(&mut pending);
        let s = &self.store;
        s.put(&s.meta, PENDING_KEY, &pending)?;
        s.flush()
    }

    /// Stores `message` and returns its key; an incoming one is also new
    /// ([`Messenger::unseen_group_messages`]) and announced.
    pub(super) fn record_group_message(
        &self,
        message: &GroupMessage,
    ) -> Result<Vec<u8>, ChatError> {
        let s = &self.store;
        let seq = s.next_seq()?.to_be_bytes();
        let mut key = message.group.0.to_vec();
        key.extend_from_slice(&seq);
        s.put(&s.group_msgs, &key, message)?;
        if !message.outgoing {
            s.group_unseen.insert(seq, key.as_slice())?;
            self.emit(ChatEvent::GroupMessage(message.clone()));
        }
        Ok(key)
    }

    /// A group's messages newest first, up to `limit` or up to and with the
    /// first one `stop` picks: only what is asked for is opened, not the
    /// group's whole history (the TUI and the app ask for the last one of
    /// every group on each refresh; `send` looks for its own every 100 ms).
    pub(super) fn newest_group_messages(
        &self,
        group: &GroupId,
        stop: impl Fn(&GroupMessage) -> bool,
        limit: usize,
    ) -> Result<Vec<GroupMessage>, ChatError> {
        let s = &self.store;
        let mut out = Vec::new();
        for item in s.group_msgs.scan_prefix(group.0).rev() {
            if out.len() >= limit {
                break;
            }
            let (k, v) = item?;
            match s.decode::<GroupMessage>(&s.group_msgs, &k, &v) {
                Ok(m) => {
                    let done = stop(&m);
                    out.push(m);
                    if done {
                        break;
                    }
                }
                Err(e) => tracing::warn!("skipping a group message: {e}"),
            }
        }
        Ok(out)
    }

    /// Moves the group message at `key` to `state` and announces it.
    pub(super) fn set_group_state(&self, key: &[u8], state: MessageState) -> Result<(), ChatError> {
        let s = &self.store;
        if let Some(mut message) = s.get::<GroupMessage>(&s.group_msgs, key)?
            && message.state < state
        {
            message.state = state;
            s.put(&s.group_msgs, key, &message)?;
            self.emit(ChatEvent::GroupStateChanged {
                group: message.group,
                id: message.id,
                state,
            });
        }
        Ok(())
    }

    /// Acts on what the engine produced for `group`: messages stored,
    /// commits and proposals queued for `epoch` (the group's current epoch
    /// account when the events were made, which is where the engine made
    /// them), Welcomes sent.
    fn handle_group_events(
        &self,
        group: GroupId,
        epoch: Option<[u8; 16]>,
        events: Vec<GroupEvent>,
    ) -> Result<(), ChatError> {
        for event in events {
            match event {
                GroupEvent::Message {
                    group,
                    sender,
                    sent_at,
                    body,
                } => match Content::from_bytes(&body) {
                    Ok(Content {
                        id,
                        body: ContentBody::Text { text },
                        ..
                    }) => {
                        self.record_group_message(&GroupMessage {
                            id: MessageId(id),
                            group,
                            sender,
                            text,
                            sent_at,
                            received_at: self.now(),
                            outgoing: false,
                            state: MessageState::Delivered,
                        })?;
                    }
                    // Receipts and typing (if on); nothing else goes to
                    // groups yet.
                    Ok(content) => {
                        if !self.group_control(group, sender, content.body)? {
                            self.count(|c| c.refused += 1);
                        }
                    }
                    Err(_) => self.count(|c| c.malformed += 1),
                },
                GroupEvent::Send(Outgoing::Group(bytes)) => {
                    if let Some(epoch) = epoch {
                        self.queue_group_items(&group, vec![Outgoing::Group(bytes)], epoch)?;
                    }
                }
                GroupEvent::Send(Outgoing::Welcome { to, bytes }) => {
                    self.send_welcome(group, to, bytes)?;
                }
                GroupEvent::Changed { group, .. } | GroupEvent::Removed { group } => {
                    self.emit(ChatEvent::GroupChanged { group });
                }
                GroupEvent::LeaveRequested { .. } => {}
            }
        }
        Ok(())
    }

    /// Runs `f` on the groups and returns what it made with `group`'s current
    /// epoch account entropy after it (none once the group is gone).
    fn group_step(
        &self,
        group: &GroupId,
        f: impl FnOnce(&mut crate::group::Groups) -> Vec<GroupEvent>,
    ) -> Result<(Vec<GroupEvent>, Option<[u8; 16]>), ChatError> {
        self.with_groups(|g| {
            let events = f(g);
            let epoch = g.epoch_account(group).ok().map(|k| *k.entropy());
            Ok((events, epoch))
        })
    }

    /// Stores what is pending, in order, until a store fails for a reason
    /// that may pass (the network). An item larger than one stored message
    /// goes by reference (`group_large.rs`). One that can never be stored
    /// (over 1 MiB even so, refused by the nodes) is dropped, logged and
    /// counted, so it cannot block everything after it; a commit among them
    /// is discarded from the engine too, so this account never applies a
    /// commit nobody else can see.
    async fn store_pending(&self, client: &Arc<crate::Client>) -> Result<(), ChatError> {
        for item in self.pending()? {
            let done = *blake3::hash(&item.bytes).as_bytes();
            let stored = match self.store_item(client, &item).await {
                Ok(()) => true,
                Err(StoreFailure::Drop(e)) => {
                    tracing::warn!("a group item cannot be stored and is dropped: {e}");
                    self.count(|c| c.refused += 1);
                    if item.handshake {
                        self.with_groups(|g| g.discard_pending(&item.group))?;
                    }
                    false
                }
                Err(StoreFailure::Retry(e)) => return Err(ChatError::Network(e)),
            };
            self.change_pending(|p| {
                if let Some(i) = p
                    .iter()
                    .position(|q| *blake3::hash(&q.bytes).as_bytes() == done)
                {
                    p.remove(i);
                }
            })?;
            // A dropped message stays Queued: never said to be sent.
            if stored && let Some(key) = &item.message {
                self.set_group_state(key, MessageState::Sent)?;
            }
        }
        Ok(())
    }

    /// One round over every group: read, handle, settle.
    async fn group_round(
        &self,
        client: &Arc<crate::Client>,
        schedule: &mut Schedule,
    ) -> Result<(), ChatError> {
        // A store that failed is tried again next round; reading goes on.
        if let Err(e) = self.store_pending(client).await {
            tracing::debug!("storing group items: {e}");
        }
        if let Err(e) = self.resolve_invites(client).await {
            tracing::debug!("fetching large invitations: {e}");
        }
        if let Err(e) = self.answer_rejoins(client).await {
            tracing::debug!("answering rejoin requests: {e}");
        }
        let network = self.network();
        let groups = self.read_groups(|g| {
            Ok(g.ids()
                .into_iter()
                .filter_map(|id| {
                    let current = g.epoch_account(&id).ok()?;
                    let previous = g.previous_epoch_account(&id).ok().flatten();
                    Some((id, current, previous))
                })
                .collect::<Vec<_>>())
        })?;
        for arrival in self.take_arrivals() {
            if !groups.iter().any(|(g, ..)| *g == arrival.group) {
                continue;
            }
            let mut items = arrival.items;
            self.resolve_large(client, &mut items, &mut schedule.fetched)
                .await;
            if let Some(clock) = schedule.groups.get_mut(&arrival.group) {
                clock.active = Instant::now();
            }
            self.receive_items(client, &arrival.group, &items)?;
        }
        let s = &self.store;
        let stored_cursors = s
            .get::<BTreeMap<[u8; 32], ReadCursors>>(&s.meta, CURSORS_KEY)?
            .unwrap_or_default();
        let mut cursors = stored_cursors.clone();
        let mut keep = std::collections::BTreeSet::new();
        let pending = self.pending()?;
        let started = Instant::now();
        schedule
            .groups
            .retain(|id, _| groups.iter().any(|(g, ..)| g == id));
        for (id, current, previous) in groups {
            let busy = pending.iter().any(|p| p.group == id)
                || self.read_groups(|g| Ok(g.settling(&id)))?;
            let epoch_id = *current.account_id().as_bytes();
            let clock = schedule.groups.entry(id).or_insert(GroupClock {
                read: started.checked_sub(QUIET_READ).unwrap_or(started),
                active: started,
                epoch: epoch_id,
                epoch_since: started,
            });
            if clock.epoch != epoch_id {
                clock.epoch = epoch_id;
                clock.epoch_since = started;
            }
            if busy {
                clock.active = started;
            }
            let quiet = started.duration_since(clock.active) >= QUIET_AFTER
                || (schedule.followed.contains(&id)
                    && !busy
                    && started.duration_since(clock.epoch_since) >= FOLLOWED_AFTER_CHANGE);
            if quiet && started.duration_since(clock.read) < QUIET_READ {
                // Its accounts' cursors stay as they are.
                keep.insert(epoch_id);
                keep.extend(previous.iter().map(|p| *p.account_id().as_bytes()));
                continue;
            }
            clock.read = started;
            let previous =
                previous.filter(|_| started.duration_since(clock.epoch_since) < PREVIOUS_GRACE);
            let mut ended_after = None;
            for (i, epoch) in std::iter::once(current).chain(previous).enumerate() {
                let account = *epoch.account_id().as_bytes();
                keep.insert(account);
                let mut c = cursors.get(&account).cloned().unwrap_or_default();
                // One group's swarm failing does not stop the others.
                let read = match net::read(client, &network, &epoch, &mut c, 0).await {
                    Ok(read) => read,
                    Err(e) => {
                        tracing::debug!("reading a group: {e}");
                        ended_after = None;
                        break;
                    }
                };
                if read.unreadable > 0 {
                    // Stored there by someone without the epoch's key.
                    self.count(|c| c.malformed += read.unreadable as u64);
                }
                let mut read = read;
                self.resolve_large(client, &mut read.items, &mut schedule.fetched)
                    .await;
                tracing::debug!(
                    group = %id.to_hex(),
                    items = read.items.len(),
                    at_end = read.at_end(),
                    "read a group's epoch account"
                );
                if !read.items.is_empty() {
                    if let Some(clock) = schedule.groups.get_mut(&id) {
                        clock.active = started;
                    }
                    self.receive_items(client, &id, &read.items)?;
                }
                cursors.insert(account, c);
                if i == 0 {
                    ended_after = read.ended_after;
                    if read.at_end()
                        && let Err(e) = self.read_to_end(&id, client.now())
                    {
                        tracing::debug!("noting a group's read: {e}");
                    }
                }
            }
            let waiting = self.pending()?.iter().any(|p| p.group == id);
            let settling = self.read_groups(|g| Ok(g.settling(&id)))?;
            if let Some(ended_after) = ended_after
                && settling
                && !waiting
            {
                let (events, now_epoch) =
                    self.group_step(&id, |g| g.settle_one(&id, ended_after))?;
                self.handle_group_events(id, now_epoch, events)?;
            }
        }
        cursors.retain(|account, _| keep.contains(account));
        if cursors != stored_cursors {
            s.put(&s.meta, CURSORS_KEY, &cursors)?;
            s.flush()?;
        }
        Ok(())
    }
}

impl Inner {
    /// Hands `items` read from one of `group`'s epoch accounts to the engine
    /// and acts on what it made. Items it already took (a pair's and a
    /// round's read overlap) are refused by it and only logged.
    fn receive_items(
        &self,
        client: &crate::Client,
        group: &GroupId,
        items: &[net::Item],
    ) -> Result<(), ChatError> {
        let now = client.now();
        let (events, now_epoch) = self.group_step(group, |g| {
            items
                .iter()
                .filter_map(|item| {
                    g.receive_stored(&item.message, item.stored_at, now)
                        .inspect_err(|e| tracing::debug!("a group item was not taken: {e}"))
                        .ok()
                })
                .flatten()
                .collect()
        })?;
        self.handle_group_events(*group, now_epoch, events)
    }

    /// The groups to follow with a pair of long polls: those active within
    /// [`QUIET_AFTER`], the latest first, at most
    /// [`group_follow::MAX_FOLLOWED`], each with its current epoch account
    /// and the round's cursors there.
    fn groups_to_follow(
        &self,
        schedule: &Schedule,
    ) -> Result<Vec<(GroupId, sotto_protocol::AccountKey, ReadCursors)>, ChatError> {
        let now = Instant::now();
        let mut active: Vec<(Instant, GroupId)> = schedule
            .groups
            .iter()
            .filter(|(_, c)| now.duration_since(c.active) < QUIET_AFTER)
            .map(|(id, c)| (c.active, *id))
            .collect();
        active.sort_unstable_by_key(|a| std::cmp::Reverse(a.0));
        active.truncate(group_follow::MAX_FOLLOWED);
        let s = &self.store;
        let cursors = s
            .get::<BTreeMap<[u8; 32], ReadCursors>>(&s.meta, CURSORS_KEY)?
            .unwrap_or_default();
        let keys = self.read_groups(|g| {
            Ok(active
                .iter()
                .filter_map(|(_, id)| Some((*id, g.epoch_account(id).ok()?)))
                .collect::<Vec<_>>())
        })?;
        Ok(keys
            .into_iter()
            .map(|(id, key)| {
                let c = cursors
                    .get(key.account_id().as_bytes())
                    .cloned()
                    .unwrap_or_default();
                (id, key, c)
            })
            .collect())
    }
}

/// One round now, beside the task (a front end that wants the groups read
/// before it shows anything); rounds never overlap.
pub(super) async fn round_now(inner: &Inner, client: &Arc<crate::Client>) -> Result<(), ChatError> {
    let _one_round = inner.group_round_lock.lock().await;
    inner.group_round(client, &mut Schedule::default()).await
}

impl Inner {
    /// Queues what a group operation made for the group's current epoch
    /// account, and wakes the group task.
    pub(super) fn queue_group_items(
        &self,
        group: &GroupId,
        out: Vec<Outgoing>,
        epoch: [u8; 16],
    ) -> Result<(), ChatError> {
        for o in out {
            match o {
                Outgoing::Group(bytes) => self.change_pending(|p| {
                    p.push(Pending {
                        group: *group,
                        epoch,
                        bytes,
                        ttl_ms: HANDSHAKE_TTL_MS,
                        handshake: true,
                        message: None,
                        welcome_to: None,
                    })
                })?,
                // Welcomes leave only once the commit has won (the engine
                // hands them over then).
                Outgoing::Welcome { .. } => {}
            }
        }
        self.group_wake.notify_one();
        Ok(())
    }

    /// Whether something of `group` waits: an item to store, or a commit
    /// settling.
    pub(super) fn group_busy(&self, group: &GroupId) -> Result<bool, ChatError> {
        Ok(self.pending()?.iter().any(|p| p.group == *group)
            || self.read_groups(|g| Ok(g.settling(group)))?)
    }
}

/// The group task: a round every [`TICK`] (or when a send wakes it) while a
/// path is ready.
pub(crate) async fn run(
    inner: Arc<Inner>,
    client: Arc<crate::Client>,
    mut stop: watch::Receiver<bool>,
) {
    let mut paths = client.path_status();
    let mut schedule = Schedule::default();
    let mut followers = group_follow::Followers::default();
    while !*stop.borrow() {
        let ready = matches!(*paths.borrow_and_update(), crate::PathStatus::Ready { .. });
        if ready {
            let _one_round = inner.group_round_lock.lock().await;
            if let Err(e) = inner.group_round(&client, &mut schedule).await {
                tracing::debug!("a group round: {e}");
            }
            match inner.groups_to_follow(&schedule) {
                Ok(wanted) => followers.follow(&inner, &client, wanted),
                Err(e) => tracing::debug!("choosing the groups to follow: {e}"),
            }
            schedule.followed = followers.groups();
        }
        tokio::select! {
            _ = inner.group_wake.notified() => {}
            _ = tokio::time::sleep(TICK) => {}
            r = paths.changed() => if r.is_err() { return },
            _ = stop.changed() => return,
        }
    }
}
