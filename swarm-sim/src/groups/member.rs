//! One member of the group: its MLS engine (`sotto_client::group::Groups`)
//! on a real client, and its driver, after the chat's group task
//! (`client-core/src/chat/group_chat.rs`):
//!
//! - one loop reads the current epoch account at two members, hands each
//!   item to the engine with the time a node stamped on it, and settles once
//!   the account was read to its end at two members and nothing of its own
//!   is being stored (its own commit must be in the swarm before it can win);
//! - one follows the current epoch account with a pair of long polls at one
//!   member (`follow.rs`), handing items over the same way;
//! - another reads the previous epoch's account for [`PREVIOUS_GRACE`] after
//!   each epoch change, for the messages members sent there while the commit
//!   settled;
//! - what the engine asks to send goes out: commits and proposals to the
//!   current epoch account, Welcomes handed to the members they add.
//!
//! Unlike the chat, which reads every second (every 5 s when quiet) with
//! `net::read`, a member's messages come from its pair of polls: every
//! message answers one of them while the other is out for the next, so none
//! waits for a poll to be posted again. The read loop then reads once a
//! second with `net::read_each` (woken early when the pair took something),
//! and long-polls only while an epoch settles: both members wait until
//! [`settle_lead`] before it is due (their empty answers then count for the
//! settle), and the member applies the epoch at the due time
//! ([`Groups::settle_due`]) even if the read after is still on its way:
//! members apply an epoch together. A long poll every member refuses (an
//! account has at most 128 waiting reads per node) makes the member poll
//! every second until the node's retry time.

mod follow;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sotto_client::group::net::{self, HANDSHAKE_TTL_MS, Item};
use sotto_client::group::{GroupError, GroupEvent, GroupId, Groups, Outgoing};
use sotto_client::{Client, ClientError, ReadCursors};
use sotto_protocol::{AccountId, AccountKey};
use tokio::sync::{Notify, oneshot, watch};

use super::driver::World;

/// The prefix of every group message text; the message id follows.
pub const TEXT_PREFIX: &str = "swarm-sim group message ";
/// How long after an epoch change the previous epoch's account is read.
/// Every member settles within a few seconds of the others, so nothing is
/// stored there later; the chat reads it for 2 minutes, once a second.
pub const PREVIOUS_GRACE: Duration = Duration::from_secs(30);
/// Pause after a read that failed outright.
pub(super) const ERROR_PAUSE: Duration = Duration::from_secs(1);
/// How often a member reads when it does not long-poll (the chat's tick).
const POLL: Duration = Duration::from_secs(1);
/// Pause between reads of a member whose epoch is due to settle but has
/// not yet (its last read did not reach the end at two members).
const SETTLE_POLL: Duration = Duration::from_millis(200);
/// Tries of one store before it counts as failed.
const STORE_TRIES: usize = 4;
/// Pause between tries of a store.
const STORE_PAUSE: Duration = Duration::from_millis(500);

/// A member's engine and reading state.
pub struct State {
    /// The MLS engine.
    pub groups: Groups,
    /// The group, once joined; `None` again once removed.
    pub group: Option<GroupId>,
    /// Read cursors per epoch account.
    cursors: HashMap<AccountId, ReadCursors>,
    /// Handshakes of this member being stored: it does not settle meanwhile.
    storing: usize,
    /// When the previous epoch became the previous one.
    previous_since: Option<Instant>,
}

/// One member.
pub struct Member {
    /// Its index: 0 is the admin, the first members follow, then the added ones.
    pub index: usize,
    /// Its account.
    pub account: AccountId,
    /// The client it runs on (maybe shared with other members).
    pub client: Arc<Client>,
    state: Mutex<State>,
    /// Bumped at every epoch this member applies.
    epochs: watch::Sender<u64>,
    gone: AtomicBool,
    /// Wakes the read loop from its pause when the pair of polls took
    /// something (a commit makes the epoch settle).
    kick: Notify,
}

/// What a member's send made: the bytes to store, in which epoch, where.
pub struct Made {
    /// The MLS message.
    pub bytes: Vec<u8>,
    /// The epoch it was made in.
    pub epoch: u64,
    /// That epoch's account.
    pub account: AccountKey,
}

impl Member {
    /// A member with account `key` on `client`, in no group yet.
    pub fn new(index: usize, key: &AccountKey, client: Arc<Client>, settle_ms: u64) -> Member {
        let mut groups = Groups::new(key);
        groups.set_settle_ms(settle_ms);
        Member {
            index,
            account: key.account_id(),
            client,
            state: Mutex::new(State {
                groups,
                group: None,
                cursors: HashMap::new(),
                storing: 0,
                previous_since: None,
            }),
            epochs: watch::channel(0).0,
            gone: AtomicBool::new(false),
            kick: Notify::new(),
        }
    }

    /// Runs `f` on the member's state (a poisoned lock still holds it whole:
    /// every change is made under the lock in one step).
    pub fn with<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        match self.state.lock() {
            Ok(mut s) => f(&mut s),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Joins the group a Welcome invites it to.
    pub fn join(&self, welcome: &[u8]) -> Result<GroupId, GroupError> {
        self.with(|s| {
            let id = s.groups.join(welcome)?;
            s.group = Some(id);
            Ok(id)
        })
    }

    /// Whether it holds the group now (joined, not removed).
    pub fn in_group(&self) -> bool {
        !self.gone.load(Ordering::Relaxed) && self.with(|s| s.group.is_some())
    }

    /// Makes a message of the group (the admin cannot while its own commit
    /// settles: `CommitPending`).
    pub fn make_message(&self, body: &[u8]) -> Result<Made, GroupError> {
        let now = self.client.now();
        self.with(|s| {
            let id = s.group.ok_or(GroupError::UnknownGroup)?;
            let epoch = s.groups.info(&id)?.epoch;
            let account = s.groups.epoch_account(&id)?;
            let bytes = s.groups.send(&id, body, now)?;
            Ok(Made {
                bytes,
                epoch,
                account,
            })
        })
    }

    /// Stores `bytes` in `account`'s swarm, tried a few times (the same
    /// bytes every time); whether a store was acknowledged.
    pub async fn store(
        &self,
        world: &World,
        account: &AccountKey,
        bytes: &[u8],
        ttl_ms: u64,
    ) -> bool {
        for attempt in 0..STORE_TRIES {
            if attempt > 0 {
                world.with_ledger(|l| l.store_retry());
                tokio::time::sleep(STORE_PAUSE).await;
            }
            if net::store(&self.client, &world.network, account, bytes, ttl_ms)
                .await
                .is_ok()
            {
                return true;
            }
        }
        false
    }

    /// The admin's change: makes the commit once its previous one settled,
    /// stores it in the current epoch account and lets it settle from then
    /// on. `change` is the ledger's record of it; `removed` the members it
    /// removes. Whether the commit was stored.
    pub async fn commit(
        &self,
        world: &World,
        change: usize,
        removed: Vec<usize>,
        make: impl Fn(&mut Groups, &GroupId, u64) -> Result<Vec<Outgoing>, GroupError>,
    ) -> bool {
        let mut stop = world.stop.clone();
        let made = loop {
            if *stop.borrow() {
                return false;
            }
            let now = self.client.now();
            let made = self.with(|s| {
                let id = s.group?;
                if s.groups.settling(&id) || s.storing > 0 {
                    return None;
                }
                let account = s.groups.epoch_account(&id).ok()?;
                let epoch = s.groups.info(&id).ok()?.epoch;
                let out = make(&mut s.groups, &id, now);
                if out.is_ok() {
                    s.storing += 1;
                }
                Some((out, epoch, account))
            });
            match made {
                Some(m) => break m,
                None => {
                    tokio::select! {
                        _ = tokio::time::sleep(SETTLE_POLL) => {}
                        _ = stop.changed() => return false,
                    }
                }
            }
        };
        let (out, epoch, account) = made;
        let out = match out {
            Ok(out) => out,
            Err(e) => {
                sotto_node::errln!("swarm-sim: the admin's commit failed: {e}");
                return false;
            }
        };
        let mut stored = true;
        for o in &out {
            if let Outgoing::Group(bytes) = o {
                stored &= self.store(world, &account, bytes, HANDSHAKE_TTL_MS).await;
            }
        }
        let at = world.ms();
        self.with(|s| {
            s.storing = s.storing.saturating_sub(1);
            // Nobody saw it: it must not win (see `discard_pending`).
            if !stored && let Some(id) = s.group {
                let _ = s.groups.discard_pending(&id);
            }
        });
        if stored {
            world.with_ledger(|l| l.change_committed(change, epoch, removed, at));
        }
        stored
    }

    /// The member's life: waits for its Welcome (a member added mid-run),
    /// then reads until the run stops or it is removed.
    pub async fn run(
        self: Arc<Self>,
        world: Arc<World>,
        welcome: Option<oneshot::Receiver<Vec<u8>>>,
    ) {
        let mut stop = world.stop.clone();
        if let Some(welcome) = welcome {
            let bytes = tokio::select! {
                w = welcome => match w { Ok(w) => w, Err(_) => return },
                _ = stop.changed() => return,
            };
            let me = self.clone();
            let joined = tokio::task::spawn_blocking(move || me.join(&bytes)).await;
            if !matches!(joined, Ok(Ok(_))) {
                sotto_node::errln!(
                    "swarm-sim: member {} could not join: {joined:?}",
                    self.index
                );
                return;
            }
        }
        if world.wait_ms > 0 {
            tokio::join!(
                self.read_current(&world),
                self.read_previous(&world),
                self.follow_current(&world)
            );
        } else {
            tokio::join!(self.read_current(&world), self.read_previous(&world));
        }
    }

    /// How long a read of the current epoch waits at a node, and at how
    /// many members: not at all (the pair of polls waits), but while an
    /// epoch settles only
    /// until [`settle_lead`] before it is due, at as many members as a
    /// settle needs, so their empty answers are made just when they count
    /// and reach the member before the epoch is due.
    fn wait_ms(&self, s: &State, id: &GroupId, world: &World) -> (u32, usize) {
        let by = match s.groups.settle_due(id) {
            Some(by) if s.groups.settling(id) => by,
            // The pair of polls waits (`follow_current`); this loop reads
            // once a second.
            _ => return (0, 1),
        };
        let lead = settle_lead(world.settle_ms);
        let wait = u32::try_from(by.saturating_sub(self.client.now() + lead))
            .unwrap_or(u32::MAX)
            .min(world.wait_ms);
        (wait, net::SETTLE_MEMBERS)
    }

    /// Whether the member's epoch is due to settle and has not.
    fn overdue(&self) -> bool {
        let now = self.client.now();
        self.with(|s| {
            s.group.is_some_and(|id| {
                s.groups.settling(&id) && s.groups.settle_due(&id).is_none_or(|by| now >= by)
            })
        })
    }

    /// Hands items read from an epoch account to the engine: deliveries are
    /// recorded at once, the other events returned.
    fn take(&self, world: &World, items: Vec<Item>) -> Vec<GroupEvent> {
        let now = self.client.now();
        let events = self.with(|s| {
            if s.group.is_none() {
                return Vec::new();
            }
            let mut events = Vec::new();
            for item in &items {
                // Its own messages do not open for their sender.
                if let Ok(more) = s.groups.receive_stored(&item.message, item.stored_at, now) {
                    events.extend(more);
                }
            }
            events
        });
        let at = world.ms();
        let (messages, rest): (Vec<GroupEvent>, Vec<GroupEvent>) = events
            .into_iter()
            .partition(|e| matches!(e, GroupEvent::Message { .. }));
        world.with_ledger(|l| {
            for m in &messages {
                l.delivered(message_id(m), self.index, at);
            }
        });
        rest
    }

    /// Reads the current epoch account, handles what it holds and settles,
    /// until the run stops or the member is removed. A read refused because
    /// the nodes hold as many waiting reads of the account as they allow
    /// makes the member poll (every second, as the chat does) until the
    /// node's retry time has passed.
    async fn read_current(&self, world: &World) {
        let mut stop = world.stop.clone();
        let mut polling_until: Option<Instant> = None;
        // The epoch account and due time a read to the end counted for.
        let mut counted: Option<(AccountId, u64)> = None;
        loop {
            if *stop.borrow() || self.gone.load(Ordering::Relaxed) {
                return;
            }
            let polling = polling_until.is_some_and(|t| Instant::now() < t) || world.wait_ms == 0;
            let Some((id, account, (wait, waiters))) = self.with(|s| {
                let id = s.group?;
                let account = s.groups.epoch_account(&id).ok()?;
                let wait = if polling {
                    (0, 1)
                } else {
                    self.wait_ms(s, &id, world)
                };
                Some((id, account, wait))
            }) else {
                return;
            };
            let key = account.account_id();
            // Once a read counted, until the epoch is due (once it is, a
            // member that could not settle yet reads on as before).
            let due_in = counted
                .filter(|(k, _)| *k == key)
                .map(|(_, by)| by.saturating_sub(self.client.now()))
                .filter(|left| *left > 0);
            let wait = match due_in {
                Some(left) if !polling => {
                    u32::try_from(left).unwrap_or(u32::MAX).min(world.wait_ms)
                }
                _ => wait,
            };
            let mut cursors = self.with(|s| s.cursors.remove(&key).unwrap_or_default());
            let mut events = Vec::new();
            // At the due time the epoch settles even if this read has not
            // returned (dropping it loses nothing: cursors move on only
            // with the items they passed).
            let due = due_in.map_or(Duration::MAX, Duration::from_millis);
            let read = tokio::select! {
                r = net::read_each(&self.client, &world.network, &account, &mut cursors, wait,
                    waiters, |items| events.extend(self.take(world, items))) => Some(r),
                _ = tokio::time::sleep(due), if due_in.is_some() => None,
                _ = stop.changed() => return,
            };
            self.with(|s| s.cursors.insert(key, cursors));
            let ended_after = match read {
                None => None,
                Some(Ok(read)) => read.ended_after,
                Some(Err(e)) => {
                    world.with_ledger(|l| l.read_error());
                    if let ClientError::RateLimited { retry_after_ms } = e {
                        polling_until =
                            Some(Instant::now() + Duration::from_millis(retry_after_ms));
                    } else {
                        pause(&mut stop, ERROR_PAUSE).await;
                    }
                    None
                }
            };
            // A read to the end whose answers came no earlier than the
            // settle lead before the epoch is due counts (ARCHITECTURE,
            // Groups, *Ordering*, "In the simulator"), and the member settles
            // at the due time, reading on meanwhile: so members apply an
            // epoch together rather than each a round trip or two after it.
            let lead = settle_lead(world.settle_ms);
            // As in the chat, only once its own commit is in the swarm.
            if let Some(after) = ended_after
                && let Some(by) =
                    self.with(|s| (s.storing == 0).then(|| s.groups.settle_due(&id)).flatten())
                && after + lead >= by
            {
                counted = Some((key, by));
            }
            let now = self.client.now();
            if let Some((_, by)) = counted.filter(|(k, by)| *k == key && now >= *by) {
                events.extend(self.with(|s| {
                    if s.storing == 0 && s.groups.settling(&id) {
                        s.groups.settle_one(&id, by)
                    } else {
                        Vec::new()
                    }
                }));
            }
            self.handle(world, events).await;
            // Before an epoch is due, reads follow each other; once it is
            // due and not settled (not read to the end, or its own commit
            // still being stored), a little apart.
            let overdue = self.overdue();
            if polling {
                pause(&mut stop, if overdue { SETTLE_POLL } else { POLL }).await;
            } else if overdue && wait == 0 {
                pause(&mut stop, SETTLE_POLL).await;
            } else if wait == 0 && waiters == 1 {
                // Nothing settles: the pair of polls follows the account,
                // and wakes this loop when it took something.
                tokio::select! {
                    _ = pause(&mut stop, POLL) => {}
                    _ = self.kick.notified() => {}
                }
            }
        }
    }

    /// Reads the previous epoch's account for [`PREVIOUS_GRACE`] after each
    /// epoch change.
    async fn read_previous(&self, world: &World) {
        let mut stop = world.stop.clone();
        let mut epochs = self.epochs.subscribe();
        loop {
            epochs.borrow_and_update();
            if *stop.borrow() || self.gone.load(Ordering::Relaxed) {
                return;
            }
            let target = self.with(|s| {
                let id = s.group?;
                let left = PREVIOUS_GRACE.checked_sub(s.previous_since?.elapsed())?;
                let account = s.groups.previous_epoch_account(&id).ok()??;
                Some((account, left))
            });
            let Some((account, left)) = target else {
                tokio::select! {
                    r = epochs.changed() => if r.is_err() { return },
                    _ = stop.changed() => return,
                }
                continue;
            };
            let wait = u32::try_from(left.as_millis())
                .unwrap_or(u32::MAX)
                .min(world.wait_ms);
            let key = account.account_id();
            let mut cursors = self.with(|s| s.cursors.remove(&key).unwrap_or_default());
            let mut events = Vec::new();
            // A new epoch change makes another account the previous one:
            // this read is dropped (its account is no longer read) rather
            // than hold the new one up for a whole long poll.
            let read = tokio::select! {
                r = net::read_each(&self.client, &world.network, &account, &mut cursors, wait,
                    1, |items| events.extend(self.take(world, items))) => r,
                _ = epochs.changed() => continue,
                _ = stop.changed() => return,
            };
            self.with(|s| s.cursors.insert(key, cursors));
            self.handle(world, events).await;
            match read {
                Err(_) => {
                    world.with_ledger(|l| l.read_error());
                    pause(&mut stop, ERROR_PAUSE).await;
                }
                Ok(_) if wait == 0 => pause(&mut stop, POLL).await,
                Ok(_) => {}
            }
        }
    }

    /// Acts on what the engine produced.
    async fn handle(&self, world: &World, events: Vec<GroupEvent>) {
        let at = world.ms();
        for event in events {
            match event {
                GroupEvent::Message { .. } => {
                    let id = message_id(&event);
                    world.with_ledger(|l| l.delivered(id, self.index, at));
                }
                GroupEvent::Changed { epoch, .. } => {
                    let members = self.with(|s| {
                        s.previous_since = Some(Instant::now());
                        // Cursors of epochs before the previous one are done with.
                        let id = s.group?;
                        let keep: Vec<AccountId> = [
                            s.groups.epoch_account(&id).ok(),
                            s.groups.previous_epoch_account(&id).ok().flatten(),
                        ]
                        .into_iter()
                        .flatten()
                        .map(|k| k.account_id())
                        .collect();
                        s.cursors.retain(|k, _| keep.contains(k));
                        s.groups.info(&id).ok().map(|i| i.members)
                    });
                    self.epochs.send_modify(|e| *e += 1);
                    if self.index == super::driver::ADMIN
                        && let Some(members) = members
                    {
                        let members = world.indices(&members);
                        world.with_ledger(|l| {
                            l.epoch_members(epoch, members);
                            l.change_applied(epoch, at);
                        });
                    }
                }
                GroupEvent::Removed { .. } => {
                    self.gone.store(true, Ordering::Relaxed);
                    self.with(|s| s.group = None);
                    world.with_ledger(|l| l.removal_seen(self.index, at));
                }
                GroupEvent::Send(Outgoing::Group(bytes)) => {
                    // A commit made again or a leave proposal: neither
                    // happens with one admin and no leaves, but it goes
                    // where the chat would put it.
                    let account = self.with(|s| {
                        s.storing += 1;
                        s.group.and_then(|id| s.groups.epoch_account(&id).ok())
                    });
                    if let Some(account) = account {
                        self.store(world, &account, &bytes, HANDSHAKE_TTL_MS).await;
                    }
                    self.with(|s| s.storing = s.storing.saturating_sub(1));
                }
                GroupEvent::Send(Outgoing::Welcome { to, bytes }) => world.hand_welcome(&to, bytes),
                GroupEvent::LeaveRequested { .. } => {}
            }
        }
    }
}

/// How long before an epoch is due to settle a settling member stops
/// waiting at a node and reads to the end: a quarter of the settle time,
/// about the round trips of one read, and well after the half of the settle
/// time within which the candidates that compete were stored (so the read
/// still sees all of them: ARCHITECTURE, Groups, *Ordering*).
fn settle_lead(settle_ms: u64) -> u64 {
    settle_ms / 4
}

/// The run's id of a message event (`None`: not a message of the run).
fn message_id(event: &GroupEvent) -> Option<u64> {
    let GroupEvent::Message { body, .. } = event else {
        return None;
    };
    std::str::from_utf8(body)
        .ok()?
        .strip_prefix(TEXT_PREFIX)?
        .split(' ')
        .next()?
        .parse()
        .ok()
}

/// Sleeps `d`, or less if the run stops.
pub(super) async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) {
    let _ = tokio::time::timeout(d, stop.changed()).await;
}
