//! The client's network API (DESIGN §9): [`Client::start`] fetches the
//! directory and builds paths in the background; [`Client::request`] sends one
//! RPC to a node over a path, and [`Client::swarm_request`] to a member of an
//! account's swarm. Every later client feature talks to the network through
//! these two calls.

mod config;
mod error;
mod swarm;

use std::collections::HashSet;
use std::sync::{Arc, RwLock};

use libp2p::PeerId;
use sotto_protocol::rpc::{Request, Response, RpcError};
use sotto_protocol::{NodeId, UnixMillis};
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinHandle;

pub use config::ClientConfig;
pub use error::ClientError;

use crate::clock::{ClientClock, Learned};
use crate::directory::{Directory, WrongNetwork};
use crate::net::{self, NetConfig, NetError, NetHandle, Rejected};
use crate::paths::{
    Blame, Guards, Outcome, PathRef, PathStatus, Paths, Plan, RELAYS, candidates, choose,
};

/// Tries of one request over distinct paths before it fails.
const PATH_TRIES: usize = 2;

/// Everything the client's tasks share.
#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: ClientConfig,
    pub(crate) net: NetHandle,
    /// The corrected clock signs requests and checks records, keys and
    /// answers; its device clock is for local timers only.
    pub(crate) clock: ClientClock,
    /// Wakes the directory task when the clock asks for a bootstrap sync.
    pub(crate) clock_wake: Notify,
    pub(crate) dir: RwLock<Directory>,
    pub(crate) paths: Paths,
    pub(crate) rejected: Rejected,
    /// Set while the bootstrap nodes are on another network (and no
    /// directory could be had).
    pub(crate) wrong_network: watch::Sender<Option<WrongNetwork>>,
    /// Why the last directory fetch failed (`None` after one succeeded, or
    /// before the first was tried).
    pub(crate) fetch_error: watch::Sender<Option<String>>,
    requests: Semaphore,
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl Inner {
    /// Reads the directory (a poisoned lock still holds a consistent value:
    /// every update replaces whole entries).
    pub(crate) fn dir<T>(&self, f: impl FnOnce(&Directory) -> T) -> T {
        match self.dir.read() {
            Ok(d) => f(&d),
            Err(p) => f(&p.into_inner()),
        }
    }

    /// Changes the directory.
    pub(crate) fn dir_mut<T>(&self, f: impl FnOnce(&mut Directory) -> T) -> T {
        match self.dir.write() {
            Ok(mut d) => f(&mut d),
            Err(p) => f(&mut p.into_inner()),
        }
    }

    /// Why no request can go out while the directory is empty: the
    /// bootstrap nodes are on another network, or none answered yet.
    pub(crate) fn no_directory(&self) -> ClientError {
        match self.wrong_network.borrow().clone() {
            Some(w) => ClientError::WrongNetwork(w),
            None => ClientError::NoDirectory(self.fetch_error.borrow().clone()),
        }
    }

    /// Writes changed guards to their file, off the async threads.
    pub(crate) async fn save_guards(&self, guards: Option<Guards>) {
        let Some(guards) = guards else { return };
        match tokio::task::spawn_blocking(move || guards.save()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("cannot save the guard file: {e}"),
            Err(e) => tracing::warn!("guard file task failed: {e}"),
        }
    }

    /// A path for a request that must avoid `exclude`: a ready one if one
    /// fits, else one made for an earlier such request, else one made for
    /// this request (through a guard that fits, if any).
    fn path_for(&self, exclude: &HashSet<NodeId>, tried: &[PathRef]) -> Option<PathRef> {
        if let Some(p) = self.paths.pick(exclude, tried) {
            return Some(p);
        }
        if let Some(p) = self.paths.pick_extra(exclude, tried) {
            return Some(p);
        }
        // What a path must avoid, and on top of it what it had better avoid
        // (nodes that failed recently). The second is only a preference:
        // when it leaves no path (after a partition, most nodes failed at
        // some point), a path through them beats no request at all.
        let mut required: HashSet<NodeId> = exclude.clone();
        for t in tried {
            required.extend(t.relays.iter().skip(1).copied());
        }
        let mut preferred = self.paths.avoided();
        preferred.extend(required.iter().copied());
        self.new_path(&preferred)
            .or_else(|| self.new_path(&required))
    }

    /// A path made for one request, none of its relays in `avoid`: through
    /// a guard that fits if any, else through any entry.
    fn new_path(&self, avoid: &HashSet<NodeId>) -> Option<PathRef> {
        let guards = self.paths.guards();
        let allow = self.config.params.allow_same_subnet;
        let pool = self.dir(candidates);
        let mut rng = rand::rng();
        let fitting_guards = guards
            .iter()
            .filter(|g| !avoid.contains(g))
            .filter_map(|g| pool.iter().find(|c| c.node == *g));
        for guard in fitting_guards {
            if let Some(relays) = choose(&mut rng, &pool, Some(guard), RELAYS, avoid, allow) {
                return Some(PathRef { slot: None, relays });
            }
        }
        // Both guards are excluded for this destination (in its swarm): an
        // entry just for this request, rather than no request at all.
        choose(&mut rng, &pool, None, RELAYS, avoid, allow)
            .map(|relays| PathRef { slot: None, relays })
    }

    /// Sends `request` to `destination` over up to two paths. `exclude` holds
    /// the nodes no relay may be. Returns the destination's decoded answer.
    pub(crate) async fn send(
        &self,
        destination: NodeId,
        exclude: &HashSet<NodeId>,
        request: &Request,
    ) -> Result<Response, ClientError> {
        let bytes = request
            .encode()
            .map_err(|e| ClientError::BadRequest(e.to_string()))?;
        if self.dir(Directory::is_empty) {
            return Err(self.no_directory());
        }
        let _slot = self
            .requests
            .acquire()
            .await
            .map_err(|_| ClientError::Stopped)?;
        let mut tried: Vec<PathRef> = Vec::new();
        let mut last = ClientError::NoPath;
        for _ in 0..PATH_TRIES {
            let Some(path) = self.path_for(exclude, &tried) else {
                break;
            };
            let now = self.clock.now();
            let plan = match self.dir(|d| Plan::new(d, &path.relays, destination, now)) {
                Ok(p) => p,
                Err(crate::paths::PlanError::Unknown(n)) if n == destination => {
                    return Err(ClientError::UnknownNode);
                }
                Err(_) => {
                    // A relay's record went away: that path is no good.
                    let save = self.paths.failed(&path, None);
                    self.save_guards(save).await;
                    tried.push(path);
                    continue;
                }
            };
            let outcome = crate::paths::send_through(&self.net, &plan, &bytes, now, &self.rejected)
                .await
                .map_err(|e| ClientError::BadRequest(e.to_string()))?;
            match outcome {
                Outcome::Answer(body) => {
                    let save = self.paths.succeeded(&path);
                    self.save_guards(save).await;
                    self.paths.keep_extra(&path);
                    return Response::decode(&body, self.clock.now()).map_err(|_| {
                        self.rejected.inc("rpc", "bad_response");
                        ClientError::BadResponse
                    });
                }
                Outcome::Transport(NetError::Stopped) => return Err(ClientError::Stopped),
                Outcome::Transport(e) => {
                    tracing::debug!("guard failed: {e}");
                    let save = self.paths.failed(&path, path.relays.first().copied());
                    self.save_guards(save).await;
                    last = ClientError::Unreachable;
                }
                Outcome::RelayError { blame, .. } => {
                    let blamed = match blame {
                        Blame::Relay(n) => Some(n),
                        Blame::Destination => None,
                    };
                    let save = self.paths.failed(&path, blamed);
                    self.save_guards(save).await;
                    last = ClientError::Unreachable;
                }
                Outcome::Refused | Outcome::Garbled => {
                    let save = self.paths.failed(&path, None);
                    self.save_guards(save).await;
                    last = ClientError::Unreachable;
                }
            }
            tried.push(path);
        }
        Err(last)
    }

    /// The nodes a request to `destination` must keep off its path: the
    /// destination, and its account's swarm when it is a member of it.
    fn exclusions(&self, destination: NodeId, request: &Request) -> HashSet<NodeId> {
        let mut out: HashSet<NodeId> = [destination].into_iter().collect();
        if let Some(account) = request.swarm_account() {
            let swarm = self.dir(|d| d.swarm(&account));
            if swarm.contains(&destination) {
                out.extend(swarm);
            }
        }
        out
    }

    /// [`Client::request`], keeping error answers as responses (for
    /// [`Client::swarm_request`], which follows `WrongSwarm`).
    pub(crate) async fn request_raw(
        &self,
        destination: NodeId,
        make: &impl Fn(UnixMillis) -> Request,
    ) -> Result<Response, ClientError> {
        let request = make(self.clock.now());
        let exclude = self.exclusions(destination, &request);
        let response = self.send(destination, &exclude, &request).await?;
        let Response::Error(e) = &response else {
            return Ok(response);
        };
        if !self.learn_time(destination, e) {
            return Ok(response);
        }
        // The clock was off: sign again with the corrected one, once.
        let request = make(self.clock.now());
        self.send(destination, &exclude, &request).await
    }

    /// Takes a `ClockSkew` answer of `node` as a clock sample (no other
    /// error moves the clock: their node time says nothing about whether
    /// the client's clock is wrong); says whether the clock moved, so the
    /// request is worth signing again. See [`ClientClock`] for the rule.
    fn learn_time(&self, node: NodeId, e: &RpcError) -> bool {
        if !matches!(e.kind, sotto_protocol::rpc::ErrorKind::ClockSkew) {
            return false;
        }
        let learned = self.clock.observe(node, e.node_time);
        if self.clock.needs_sync() {
            self.clock_wake.notify_one();
        }
        match learned {
            Learned::Moved(step_ms) => {
                tracing::info!(
                    step_ms,
                    correction_ms = self.clock.correction_ms(),
                    "corrected the clock from the nodes' times"
                );
                true
            }
            Learned::Unchanged => false,
        }
    }
}

/// A running client: its network task, directory and paths.
#[derive(Debug)]
pub struct Client {
    inner: Arc<Inner>,
    peer_id: PeerId,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    net_task: JoinHandle<()>,
}

impl Client {
    /// Starts the network task (with a fresh libp2p identity), the directory
    /// refresh and the path builder. Returns at once; watch
    /// [`Client::path_status`] for when paths are ready.
    pub async fn start(config: ClientConfig) -> Result<Client, ClientError> {
        config
            .params
            .validate()
            .map_err(|e| ClientError::BadRequest(e.to_string()))?;
        let net = net::spawn(
            &config.params.name,
            &NetConfig {
                memory: config.memory,
                memory_origin: config.memory_origin,
                rpc_timeout: config.rpc_timeout,
                onion_timeout: config.onion_timeout,
            },
        )
        .map_err(|e| ClientError::BadRequest(e.to_string()))?;
        let guards = match config.state_dir.clone() {
            Some(dir) => tokio::task::spawn_blocking(move || {
                std::fs::create_dir_all(&dir)?;
                Ok::<_, std::io::Error>(Guards::load(&dir))
            })
            .await
            .map_err(|e| ClientError::BadRequest(e.to_string()))?
            .map_err(|e| ClientError::BadRequest(format!("cannot use the state directory: {e}")))?,
            None => Guards::in_memory(),
        };
        let (stop, shutdown) = watch::channel(false);
        let inner = Arc::new(Inner {
            clock: ClientClock::new(config.clock_offset_ms),
            clock_wake: Notify::new(),
            dir: RwLock::new(Directory::new(config.params.clone())),
            paths: Paths::new(guards),
            rejected: Rejected::default(),
            wrong_network: watch::channel(None).0,
            fetch_error: watch::channel(None).0,
            requests: Semaphore::new(config.max_requests.max(1)),
            net: net.handle,
            config,
            shutdown,
        });
        let tasks = vec![
            tokio::spawn(crate::directory::refresh_loop(inner.clone())),
            tokio::spawn(crate::paths::builder::run(inner.clone())),
        ];
        Ok(Client {
            inner,
            peer_id: net.peer_id,
            stop,
            tasks,
            net_task: net.task,
        })
    }

    /// Path status changes (`Building`, `Ready` with the relays, `Offline`).
    pub fn path_status(&self) -> watch::Receiver<PathStatus> {
        self.inner.paths.subscribe()
    }

    /// Whether the bootstrap nodes turned out to be on another network
    /// (`Some` until a directory is fetched): the client can never reach its
    /// own network through them, so a front end should say so and stop.
    pub fn wrong_network(&self) -> watch::Receiver<Option<WrongNetwork>> {
        self.inner.wrong_network.subscribe()
    }

    /// Why nothing can go out yet when no node of the network is known (the
    /// bootstrap nodes did not answer, or are on another network); `None`
    /// once the directory holds nodes.
    pub fn bootstrap_problem(&self) -> Option<ClientError> {
        self.inner
            .dir(Directory::is_empty)
            .then(|| self.inner.no_directory())
    }

    /// The corrected clock (Unix ms): for everything other machines see
    /// or check (signatures, message dates, expiries asked of nodes).
    pub fn now(&self) -> UnixMillis {
        self.inner.clock.now()
    }

    /// The device's own clock (Unix ms), without the correction learned
    /// from nodes: for local timers only.
    pub fn device_now(&self) -> UnixMillis {
        self.inner.clock.device_now()
    }

    /// The client's clock: its correction and how sure it is of it.
    pub fn clock(&self) -> &ClientClock {
        &self.inner.clock
    }

    /// This run's libp2p identity (fresh each run; only guards see it).
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The current guards.
    pub fn guards(&self) -> Vec<NodeId> {
        self.inner.paths.guards()
    }

    /// The addresses the directory lists for `node` (none if it does not
    /// know it): for showing a path's hops to a person.
    pub fn node_addrs(&self, node: &NodeId) -> Vec<libp2p::Multiaddr> {
        self.inner
            .dir(|d| d.get(node).map(|n| n.addrs.clone()))
            .unwrap_or_default()
    }

    /// How many nodes the directory holds.
    pub fn directory_len(&self) -> usize {
        self.inner.dir(Directory::len)
    }

    /// The relays of each path ready now, guard first: what a simulator's
    /// report counts (which of them an attacker runs). Not what a request
    /// will take: paths change as they fail and are rebuilt.
    pub fn path_relays(&self) -> Vec<Vec<NodeId>> {
        self.inner.paths.ready_relays()
    }

    /// Every node of the client's directory as a path candidate (what its
    /// path selection, [`crate::paths::choose`], draws from).
    pub fn path_candidates(&self) -> Vec<crate::paths::Candidate> {
        self.inner.dir(crate::paths::candidates)
    }

    /// The swarm of `account` by the client's directory.
    pub fn swarm_of(&self, account: &sotto_protocol::AccountId) -> Vec<NodeId> {
        self.inner.dir(|d| d.swarm(account))
    }

    /// What nodes sent that the client refused, by source and reason.
    pub fn rejected(&self) -> &Rejected {
        &self.inner.rejected
    }

    /// Sends the request `make(now)` to `destination` over a path and returns
    /// its answer. `make` is called with the corrected clock, and again after
    /// a clock correction (a node said the clock is off), so owner signatures
    /// are made with the time the node will check. Over a failing path it
    /// retries once over another. An error answer becomes a [`ClientError`].
    pub async fn request(
        &self,
        destination: NodeId,
        make: impl Fn(UnixMillis) -> Request,
    ) -> Result<Response, ClientError> {
        match self.inner.request_raw(destination, &make).await? {
            Response::Error(e) => Err(ClientError::from_rpc(e)),
            other => Ok(other),
        }
    }

    /// Sends the request `make(now)` to a random member of `account`'s swarm,
    /// following `WrongSwarm` answers (at most twice) and trying another member
    /// when one cannot be reached.
    pub async fn swarm_request(
        &self,
        account: &sotto_protocol::AccountId,
        make: impl Fn(UnixMillis) -> Request,
    ) -> Result<Response, ClientError> {
        swarm::swarm_request(&self.inner, account, &|_, now| make(now))
            .await
            .map(|(_, r)| r)
    }

    /// [`Client::swarm_request`] where the request depends on the member it
    /// goes to (`make(member, now)`, e.g. a retrieve from the reader's cursor
    /// on that member: [`crate::ReadCursors`]). Returns the member that
    /// answered with its answer.
    pub async fn swarm_request_at(
        &self,
        account: &sotto_protocol::AccountId,
        make: impl Fn(NodeId, UnixMillis) -> Request,
    ) -> Result<(NodeId, Response), ClientError> {
        swarm::swarm_request(&self.inner, account, &make).await
    }

    /// Stops the client's tasks and its network.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            task.abort();
            let _ = task.await;
        }
        self.net_task.abort();
        let _ = self.net_task.await;
    }
}
