//! Running the group: its members' clients, the group made by the admin
//! with the first members, the seeded schedule of messages (random members
//! at random times) and of changes (removals and additions the admin
//! commits), and the figures at the end.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::ChaCha8Rng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use sotto_client::group::net::MESSAGE_TTL_MS;
use sotto_client::group::{GroupError, Outgoing};
use sotto_client::{Client, PathStatus};
use sotto_protocol::AccountId;
use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

use super::ledger::{GroupFigures, GroupLedger};
use super::member::{Member, TEXT_PREFIX};
use super::{GroupsSettings, QUIET_BEFORE_REMOVAL_MS};
use crate::SimError;
use crate::net::SimNet;
use crate::scenario::Scenario;

/// The admin's index: it creates the group and commits every change.
pub const ADMIN: usize = 0;
/// How long a client may take to build its first path.
const PATH_WAIT: Duration = Duration::from_secs(60);
/// How long the members' tasks get to stop once told to.
const STOP_WAIT: Duration = Duration::from_secs(10);
/// Mixed into the scenario's seed for the members' accounts, so they are
/// not the scenario clients' accounts.
const ACCOUNT_SEED: u64 = 0x6720_7570_5f61_6363;
/// Mixed into the scenario's seed for the schedule.
const SCHEDULE_SEED: u64 = 0x6720_7570_5f73_6368;
/// Message stores in flight at once.
const MAX_SENDS: usize = 64;

/// What the members share: the ledger, the clock of the run, where the
/// Welcomes of members waiting to join go, and the stop signal.
pub struct World {
    ledger: Mutex<GroupLedger>,
    start: Instant,
    /// The network name requests are signed for.
    pub network: String,
    /// How long one read waits at a node, ms (0: reads every second).
    pub wait_ms: u32,
    /// How long an epoch settles, ms.
    pub settle_ms: u64,
    index_of: HashMap<AccountId, usize>,
    welcomes: Mutex<HashMap<AccountId, oneshot::Sender<Vec<u8>>>>,
    /// Set when the run stops.
    pub stop: watch::Receiver<bool>,
}

impl World {
    /// Runs `f` on the ledger.
    pub fn with_ledger<T>(&self, f: impl FnOnce(&mut GroupLedger) -> T) -> T {
        match self.ledger.lock() {
            Ok(mut l) => f(&mut l),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Ms since the start of sending.
    pub fn ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// The members' indices of `accounts` (accounts of no member are left out).
    pub fn indices(&self, accounts: &[AccountId]) -> BTreeSet<usize> {
        accounts
            .iter()
            .filter_map(|a| self.index_of.get(a).copied())
            .collect()
    }

    /// Hands a Welcome to the members it adds (in process: the chat sends
    /// it to their inboxes).
    pub fn hand_welcome(&self, to: &[AccountId], bytes: Vec<u8>) {
        let mut waiting = match self.welcomes.lock() {
            Ok(w) => w,
            Err(p) => p.into_inner(),
        };
        for account in to {
            if let Some(tx) = waiting.remove(account) {
                let _ = tx.send(bytes.clone());
            }
        }
    }
}

/// A change the admin commits.
#[derive(Debug, Clone)]
enum Planned {
    /// Remove these members.
    Remove(Vec<usize>),
    /// Add these (new) members, with their key packages.
    Add(Vec<usize>, Vec<Vec<u8>>),
}

/// The group of a run.
pub struct Groups {
    settings: GroupsSettings,
    seed: u64,
    members: Vec<Arc<Member>>,
    clients: Vec<Arc<Client>>,
    /// Welcome receivers of the members added mid-run, until they start.
    joining: HashMap<usize, oneshot::Receiver<Vec<u8>>>,
    changes: Vec<(u64, Planned)>,
    /// Members scheduled for removal and when, ms.
    leaving: Vec<(usize, u64)>,
    /// What the members will share, until the run starts.
    ready: Option<World>,
    world: Option<Arc<World>>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
    schedule: Option<tokio::task::JoinHandle<()>>,
    planned_changes: usize,
}

/// Waits (up to `limit`) until `client` has a ready path.
async fn wait_ready(client: &Client, limit: Duration) -> bool {
    let mut rx = client.path_status();
    tokio::time::timeout(limit, async {
        loop {
            if matches!(*rx.borrow_and_update(), PathStatus::Ready { .. }) {
                return true;
            }
            if rx.changed().await.is_err() {
                return false;
            }
        }
    })
    .await
    .unwrap_or(false)
}

fn setup_err(e: impl std::fmt::Display) -> SimError {
    SimError::Setup(format!("groups: {e}"))
}

impl Groups {
    /// Starts the members' clients (placed in the network model after the
    /// scenario's clients), makes every member's engine, and has the admin
    /// create the group with the first members, who join by its Welcome.
    /// The members added later make their key packages now.
    pub async fn setup(
        net: &mut SimNet,
        s: &Scenario,
        g: &GroupsSettings,
    ) -> Result<Groups, SimError> {
        let params = s.params().map_err(setup_err)?;
        let total = g.total_members();
        let mut clients = Vec::with_capacity(g.client_count());
        for c in 0..g.client_count() {
            let client = Client::start(net.client_config(s.clients + c))
                .await
                .map_err(|e| setup_err(format!("client {c}: {e}")))?;
            clients.push(Arc::new(client));
        }
        for (c, client) in clients.iter().enumerate() {
            if !wait_ready(client, PATH_WAIT).await {
                return Err(setup_err(format!(
                    "client {c} has no path after {PATH_WAIT:?}"
                )));
            }
        }
        let keys = crate::user::account_keys(s.seed ^ ACCOUNT_SEED, total);
        let members: Vec<Arc<Member>> = keys
            .iter()
            .enumerate()
            .filter_map(|(i, key)| {
                let client = clients.get(i % clients.len())?.clone();
                Some(Arc::new(Member::new(i, key, client, g.settle_ms)))
            })
            .collect();

        // The first members' key packages, the group, and their joins (on
        // the blocking pool: each checks every member's credential).
        let mut packages = Vec::with_capacity(g.members);
        for m in members.iter().take(g.members).skip(1) {
            packages.push(m.with(|st| st.groups.key_package()).map_err(setup_err)?);
        }
        let admin = members.get(ADMIN).ok_or_else(|| setup_err("no admin"))?;
        let now = admin.client.now();
        let (id, out) = admin
            .with(|st| {
                let made = st.groups.create("swarm-sim group", &packages, now)?;
                st.group = Some(made.0);
                Ok::<_, GroupError>(made)
            })
            .map_err(setup_err)?;
        let welcome = out
            .into_iter()
            .find_map(|o| match o {
                Outgoing::Welcome { bytes, .. } => Some(Arc::new(bytes)),
                Outgoing::Group(_) => None,
            })
            .ok_or_else(|| setup_err("the group was made without a Welcome"))?;
        let mut joins = JoinSet::new();
        for m in members.iter().take(g.members).skip(1) {
            let (m, w) = (m.clone(), welcome.clone());
            joins.spawn_blocking(move || m.join(&w).map(|joined| (m.index, joined)));
        }
        while let Some(j) = joins.join_next().await {
            match j {
                Ok(Ok((_, joined))) if joined == id => {}
                other => return Err(setup_err(format!("a member could not join: {other:?}"))),
            }
        }

        // The changes: removal targets drawn now, added members' packages.
        let mut rng = ChaCha8Rng::seed_from_u64(s.seed ^ SCHEDULE_SEED);
        let named: BTreeSet<usize> = g
            .removals
            .iter()
            .flat_map(|c| c.members.iter().flatten().copied())
            .collect();
        let mut pool: Vec<usize> = (1..g.members).filter(|i| !named.contains(i)).collect();
        pool.shuffle(&mut rng);
        let mut changes = Vec::new();
        let mut leaving = Vec::new();
        for c in &g.removals {
            let targets = match &c.members {
                Some(m) => m.clone(),
                None => pool.drain(..c.count.min(pool.len())).collect(),
            };
            leaving.extend(targets.iter().map(|&t| (t, c.at_s * 1000)));
            changes.push((c.at_s * 1000, Planned::Remove(targets)));
        }
        let mut joining = HashMap::new();
        let mut welcomes = HashMap::new();
        let mut next = g.members;
        for c in &g.additions {
            let mut added = Vec::new();
            let mut kps = Vec::new();
            for i in next..next + c.count {
                let m = members.get(i).ok_or_else(|| setup_err("member missing"))?;
                kps.push(m.with(|st| st.groups.key_package()).map_err(setup_err)?);
                let (tx, rx) = oneshot::channel();
                joining.insert(i, rx);
                welcomes.insert(m.account, tx);
                added.push(i);
            }
            next += c.count;
            changes.push((c.at_s * 1000, Planned::Add(added, kps)));
        }
        // Stable: entries due at the same time keep the file's order.
        changes.sort_by_key(|c| c.0);
        let stop = watch::channel(false).0;
        let world = World {
            ledger: Mutex::new(GroupLedger::default()),
            // Set again when sending starts.
            start: Instant::now(),
            network: params.name,
            wait_ms: g.wait_ms,
            settle_ms: g.settle_ms,
            index_of: members.iter().map(|m| (m.account, m.index)).collect(),
            welcomes: Mutex::new(welcomes),
            stop: stop.subscribe(),
        };
        Ok(Groups {
            settings: g.clone(),
            seed: s.seed,
            members,
            clients,
            joining,
            planned_changes: changes.len(),
            changes,
            leaving,
            ready: Some(world),
            world: None,
            stop,
            tasks: JoinSet::new(),
            schedule: None,
        })
    }

    /// Starts the members' loops, the messages and the changes; `start` is
    /// the start of sending, `duration_s` the sending window.
    pub fn start(&mut self, start: Instant, duration_s: u64) {
        let Some(mut world) = self.ready.take() else {
            return;
        };
        world.start = start;
        let world = Arc::new(world);
        let first: BTreeSet<usize> = (0..self.settings.members).collect();
        world.with_ledger(|l| l.epoch_members(1, first));
        for m in &self.members {
            let welcome = self.joining.remove(&m.index);
            self.tasks.spawn(m.clone().run(world.clone(), welcome));
        }
        let plan = Plan {
            times: message_times(&self.settings, duration_s, self.seed),
            text_bytes: self.settings.text_bytes,
            changes: std::mem::take(&mut self.changes),
            leaving: self.leaving.clone(),
            seed: self.seed,
        };
        self.schedule = Some(tokio::spawn(plan.run(self.members.clone(), world.clone())));
        self.world = Some(world);
    }

    /// Whether the schedule is done, every change applied, and every stored
    /// message reached every member that should get it.
    pub fn settled(&self) -> bool {
        self.schedule.as_ref().is_some_and(|s| s.is_finished())
            && self.world.as_ref().is_some_and(|w| {
                w.with_ledger(|l| l.changes_applied(self.planned_changes) && l.all_delivered())
            })
    }

    /// A few words on how far the group got, for the progress bar.
    pub fn progress(&self) -> String {
        self.world.as_ref().map_or(String::new(), |w| {
            let (sent, delivered) = w.with_ledger(|l| l.progress());
            format!("group: sent {sent} delivered {delivered}")
        })
    }

    /// Stops the members and their clients; the figures, with the long
    /// polls `net`'s nodes refused.
    pub async fn finish(mut self, net: &SimNet) -> GroupFigures {
        let _ = self.stop.send(true);
        if let Some(s) = self.schedule.take() {
            s.abort();
        }
        let _ = tokio::time::timeout(STOP_WAIT, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        self.tasks.abort_all();
        while self.tasks.join_next().await.is_some() {}
        let refused: u64 = net
            .running()
            .map(|(_, n)| {
                n.context()
                    .metrics
                    .rejected
                    .get("rpc", "account_waiters_full")
            })
            .sum();
        let figures = self.world.as_ref().map_or_else(GroupFigures::default, |w| {
            w.with_ledger(|l| l.figures(self.settings.members, self.clients.len(), refused))
        });
        self.world = None;
        self.members.clear();
        for c in self.clients.drain(..) {
            if let Ok(c) = Arc::try_unwrap(c) {
                c.shutdown().await;
            }
        }
        figures
    }
}

/// The seeded send times, ms from the start of sending, in order.
fn message_times(g: &GroupsSettings, duration_s: u64, seed: u64) -> Vec<u64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ SCHEDULE_SEED ^ 1);
    let span = duration_s * 1000;
    let mut times: Vec<u64> = (0..g.message_count(duration_s))
        .map(|_| rng.random_range(0..span))
        .collect();
    times.sort_unstable();
    times
}

/// The schedule of a run.
struct Plan {
    times: Vec<u64>,
    text_bytes: usize,
    changes: Vec<(u64, Planned)>,
    leaving: Vec<(usize, u64)>,
    seed: u64,
}

impl Plan {
    /// Sends the messages and commits the changes at their times; returns
    /// once every send and change is done.
    async fn run(self, members: Vec<Arc<Member>>, world: Arc<World>) {
        let changes = tokio::spawn(run_changes(self.changes, members.clone(), world.clone()));
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_SENDS));
        let mut sends = JoinSet::new();
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed ^ SCHEDULE_SEED ^ 2);
        for (n, at) in self.times.into_iter().enumerate() {
            tokio::time::sleep_until((world.start + Duration::from_millis(at)).into()).await;
            while sends.try_join_next().is_some() {}
            let now = world.ms();
            let mut senders: Vec<&Arc<Member>> = members
                .iter()
                .filter(|m| {
                    !self
                        .leaving
                        .iter()
                        .any(|&(i, t)| i == m.index && now + QUIET_BEFORE_REMOVAL_MS >= t)
                        && m.in_group()
                })
                .collect();
            senders.shuffle(&mut rng);
            let id = n as u64;
            let text = format!("{TEXT_PREFIX}{id} ");
            let pad = self.text_bytes.saturating_sub(text.len());
            let body = format!("{text}{}", "x".repeat(pad));
            // The admin cannot send while its own commit settles: the next
            // member in the draw does.
            let Some((m, made)) = senders
                .into_iter()
                .find_map(|m| m.make_message(body.as_bytes()).ok().map(|made| (m, made)))
            else {
                continue;
            };
            world.with_ledger(|l| l.sent(id, m.index, made.epoch, now));
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let (m, w) = (m.clone(), world.clone());
            sends.spawn(async move {
                if m.store(&w, &made.account, &made.bytes, MESSAGE_TTL_MS)
                    .await
                {
                    let at = w.ms();
                    w.with_ledger(|l| l.stored(id, at));
                }
                drop(permit);
            });
        }
        while sends.join_next().await.is_some() {}
        let _ = changes.await;
    }
}

/// Commits the changes in order, each at its time or once the previous one
/// settled, whichever is later.
async fn run_changes(changes: Vec<(u64, Planned)>, members: Vec<Arc<Member>>, world: Arc<World>) {
    let Some(admin) = members.get(ADMIN) else {
        return;
    };
    for (at, change) in changes {
        tokio::time::sleep_until((world.start + Duration::from_millis(at)).into()).await;
        let (kind, who) = match &change {
            Planned::Remove(m) => ("remove", m.clone()),
            Planned::Add(m, _) => ("add", m.clone()),
        };
        let record = world.with_ledger(|l| l.change_planned(kind, who.clone(), at));
        let stored = match change {
            Planned::Remove(targets) => {
                let accounts: Vec<AccountId> = targets
                    .iter()
                    .filter_map(|&i| members.get(i).map(|m| m.account))
                    .collect();
                admin
                    .commit(&world, record, targets, |g, id, now| {
                        g.remove(id, &accounts, now)
                    })
                    .await
            }
            Planned::Add(_, kps) => {
                admin
                    .commit(&world, record, Vec::new(), |g, id, now| {
                        g.add(id, &kps, now)
                    })
                    .await
            }
        };
        if !stored {
            sotto_node::errln!("swarm-sim: the group's {kind} of {who:?} was not committed");
        }
    }
}
