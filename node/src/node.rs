//! A running node: the store, identity, network, directory, RPC handling,
//! onion relay, replication, announcements and metrics wired together
//! (DESIGN §4–§7).
//!
//! [`Node::start`] opens everything and spawns the tasks; [`Node::shutdown`]
//! stops them, and flushes the store last, so everything acknowledged is on disk
//! when it returns. A node started again on the same data directory has the
//! same identity and the same messages, and catches up from its swarm by
//! anti-entropy; it gets fresh onion keys ([`Identity::renew_onion_keys`]).
//!
//! A fatal failure of the store ([`StoreError::is_fatal`]) stops the node's
//! tasks and network at once; [`Node::failed`] resolves then, and
//! `sotto-node run` shuts down and exits non-zero so that its service manager
//! restarts it on a fresh storage engine.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use sotto_protocol::{NetworkParams, NodeKey};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::announce::{self, RecordChecks};
use crate::clock::Clock;
use crate::config::NodeConfig;
use crate::context::{Context, Pusher, Waiters};
use crate::directory::{Directory, DirectoryError, Inserted};
use crate::http;
use crate::identity::{Identity, IdentityError};
use crate::metrics::Metrics;
use crate::net::{self, Inbound, NetConfig, NetError, Verdict};
use crate::relay::Relay;
use crate::replication::Replicator;
use crate::service::Service;
use crate::store::{DiskFree, FreeSpace, SpaceGuard, Store, StoreError};

/// How many directory pulls from newly connected peers run at once.
const CONCURRENT_PULLS: usize = 4;
/// How many gossiped records are verified at once.
const CONCURRENT_RECORD_CHECKS: usize = 8;
/// How many gossiped records may wait for one of those checks; more are
/// dropped unchecked (and not forwarded), the way a full channel drops them.
/// A record dropped here is lost to this node for good (gossip's seen cache
/// keeps later copies out), so the queue takes a start-up burst of a large
/// network rather than dropping it: at most this many records of at most
/// `MAX_RECORD_LEN` bytes wait.
const QUEUED_RECORD_CHECKS: usize = 1024;
/// How long shutdown waits for the node's tasks before it stops waiting.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(5);

/// What a node is started with.
#[derive(Clone, Debug)]
pub struct NodeOptions {
    /// The data directory (`sotto-node init` made it): identity and store.
    pub data_dir: PathBuf,
    /// The configuration.
    pub config: NodeConfig,
    /// The network's parameters.
    pub params: NetworkParams,
    /// Use the in-process memory transport instead of TCP and QUIC (tests and
    /// the simulator).
    pub memory: bool,
    /// The node's clock (tests and the simulator skew it).
    pub clock: Arc<Clock>,
    /// Where the store's free disk space is read from; `None`: `statvfs` on
    /// the store's directory. Tests put a fake disk here.
    pub free_space: Option<Arc<dyn FreeSpace>>,
}

impl NodeOptions {
    /// Options with the system clock over real transports.
    pub fn new(data_dir: PathBuf, config: NodeConfig, params: NetworkParams) -> Self {
        Self {
            data_dir,
            config,
            params,
            memory: false,
            clock: Arc::new(Clock::system()),
            free_space: None,
        }
    }
}

/// Why a node could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The identity in the data directory could not be loaded.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// The store could not be opened or flushed.
    #[error("message store: {0}")]
    Store(#[from] StoreError),
    /// The network could not start.
    #[error("network: {0}")]
    Net(#[from] NetError),
    /// A configured address is not valid.
    #[error("configuration: {0}")]
    Config(String),
    /// The metrics endpoint could not be served.
    #[error("metrics endpoint {addr}: {source}")]
    Metrics {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A blocking task failed.
    #[error("internal: {0}")]
    Internal(String),
}

/// A running service node.
#[derive(Debug)]
pub struct Node {
    ctx: Arc<Context>,
    service: Arc<Service>,
    relay: Arc<Relay>,
    replicator: Arc<Replicator>,
    identity: Arc<Identity>,
    /// Shared only weakly with the store watcher, so that dropping the node
    /// still drops the sender, which stops the tasks too.
    shutdown: Arc<watch::Sender<bool>>,
    tasks: Vec<JoinHandle<()>>,
    net_task: JoinHandle<()>,
    metrics_addr: Option<SocketAddr>,
}

fn parse_addrs(what: &str, addrs: &[String]) -> Result<Vec<Multiaddr>, NodeError> {
    addrs
        .iter()
        .map(|a| {
            a.parse::<Multiaddr>()
                .map_err(|e| NodeError::Config(format!("{what} address {a:?}: {e}")))
        })
        .collect()
}

impl Node {
    /// Opens the store and identity in `opts.data_dir` and starts the node.
    pub async fn start(opts: NodeOptions) -> Result<Node, NodeError> {
        let NodeOptions {
            data_dir,
            config,
            params,
            memory,
            clock,
            free_space,
        } = opts;
        let identity = {
            let dir = data_dir.clone();
            let params = params.clone();
            let now = clock.now();
            tokio::task::spawn_blocking(move || {
                let identity = Identity::load(&dir, &params)?;
                // Fresh onion keys at every start, never the ones on disk: the
                // replay filter that covered those died with the last process
                // (Identity::renew_onion_keys, docs/ARCHITECTURE.md "Onion
                // relay"). The record announced below lists only the new key.
                identity.renew_onion_keys(now, &params)?;
                Ok::<_, IdentityError>(identity)
            })
            .await
            .map_err(|e| NodeError::Internal(e.to_string()))??
        };
        let identity = Arc::new(identity);
        let store = {
            let path = data_dir.join("store");
            let limits = config.store.limits();
            let min_free = config.store.min_free_disk_bytes;
            let flush = Some(config.store.background_flush_ms).filter(|ms| *ms > 0);
            tokio::task::spawn_blocking(move || {
                let source = free_space.unwrap_or_else(|| Arc::new(DiskFree::new(&path)));
                Store::open_flushing(&path, limits, flush)
                    .map(|s| s.with_space_guard(SpaceGuard::new(source, min_free)))
            })
            .await
            .map_err(|e| NodeError::Internal(e.to_string()))??
        };
        let metrics = Arc::new(Metrics::default());
        // True from the start, not from the first purge pass.
        metrics.observe_store(&store);
        let listen = parse_addrs("listen", &config.listen)?;
        let bootstrap = parse_addrs("bootstrap", &config.bootstrap)?;
        parse_addrs("external", &config.external)?;
        let net = net::spawn(
            identity.keypair(),
            &params.name,
            NetConfig::from_limits(&config.limits, listen, bootstrap, memory),
            clock.clone(),
            metrics.clone(),
        )?;
        let ctx = Arc::new(Context {
            node_id: identity.node_id(),
            node_key: Arc::new(NodeKey::from_secret_bytes(
                &identity.node_key().to_secret_bytes(),
            )),
            peer_id: net.peer_id,
            directory: std::sync::RwLock::new(Directory::new(
                params.clone(),
                config.limits.max_directory_nodes,
            )),
            params,
            config,
            clock,
            store,
            metrics,
            net: net.handle,
            waiters: Waiters::default(),
        });
        // Directory nodes may use the request budgets' reserved shares.
        let weak = Arc::downgrade(&ctx);
        net.roles.set(move |peer| {
            weak.upgrade()
                .is_some_and(|ctx| ctx.dir(|d| d.node_of_peer(peer).is_some()))
        });
        let replicator = Replicator::new(ctx.clone());
        let pusher: Arc<dyn Pusher> = replicator.clone();
        let service = Arc::new(Service::new(ctx.clone(), pusher));
        let relay = Relay::new(ctx.clone(), identity.clone(), service.clone());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let shutdown = Arc::new(shutdown);

        let mut tasks = Vec::new();
        tasks.push(tokio::spawn(dispatch(
            net.inbound,
            ctx.clone(),
            Handlers {
                service: service.clone(),
                relay: relay.clone(),
                replicator: replicator.clone(),
            },
            shutdown_rx.clone(),
        )));
        tasks.extend(replicator.spawn_tasks(shutdown_rx.clone()));
        tasks.push(tokio::spawn(stop_on_store_failure(
            ctx.clone(),
            Arc::downgrade(&shutdown),
            shutdown_rx.clone(),
        )));
        tasks.push(announce::spawn(
            ctx.clone(),
            identity.clone(),
            shutdown_rx.clone(),
        ));
        tasks.push(crate::overlay::spawn(ctx.clone(), shutdown_rx.clone()));
        let mut metrics_addr = None;
        if !ctx.config.metrics.is_empty() {
            let addr: SocketAddr = ctx.config.metrics.parse().map_err(|e| {
                NodeError::Config(format!("metrics address {:?}: {e}", ctx.config.metrics))
            })?;
            let (bound, task) = http::serve(addr, ctx.metrics.clone(), shutdown_rx.clone())
                .await
                .map_err(|source| NodeError::Metrics { addr, source })?;
            info!("metrics on http://{bound}/metrics");
            metrics_addr = Some(bound);
            tasks.push(task);
        }
        // The network as the configuration names it (`public`, `devnet` or a
        // file): the public preset's wire name `sotto` is not what operators wrote.
        info!(peer = %ctx.peer_id, network = %ctx.config.network, "node started");
        Ok(Node {
            ctx,
            service,
            relay,
            replicator,
            identity,
            shutdown,
            tasks,
            net_task: net.task,
            metrics_addr,
        })
    }

    /// What the node's parts share.
    pub fn context(&self) -> &Arc<Context> {
        &self.ctx
    }

    /// The node's libp2p identity.
    pub fn peer_id(&self) -> PeerId {
        self.ctx.peer_id
    }

    /// The node's identity (keys).
    pub fn identity(&self) -> &Arc<Identity> {
        &self.identity
    }

    /// The client RPC handler (the onion relay hands it requests).
    pub fn service(&self) -> &Arc<Service> {
        &self.service
    }

    /// The onion relay (packets arriving over the onion protocol go to it).
    pub fn relay(&self) -> &Arc<Relay> {
        &self.relay
    }

    /// Replication and anti-entropy.
    pub fn replicator(&self) -> &Arc<Replicator> {
        &self.replicator
    }

    /// Resolves when the store has failed in a way the node cannot go on
    /// from, with the error. The node stops its tasks and leaves the network
    /// on its own then; the owner calls [`Node::shutdown`] and, for a process,
    /// exits non-zero.
    pub async fn failed(&self) -> Arc<str> {
        self.ctx.store.failure().await
    }

    /// Where `/metrics` is served, if it is.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// The addresses the node listens on now.
    pub async fn listen_addrs(&self) -> Vec<Multiaddr> {
        self.ctx.net.listen_addrs().await.unwrap_or_default()
    }

    /// Stops the node as a killed process would stop: every task and the
    /// network are aborted at once, nothing is flushed, no peer is told.
    /// What survives is what the store had already written, which is what
    /// the node relies on by flushing before it acknowledges (tests and the
    /// simulator). Returns what the dead process still holds open, the
    /// store among it: sled flushes everything when its last handle is
    /// dropped, so a caller that wants the disk as a killed process leaves it
    /// takes its copy of the data directory before dropping this.
    pub async fn crash(self) -> Arc<Context> {
        for task in &self.tasks {
            task.abort();
        }
        // The one thing done on the way down is what the OS does for a
        // killed process: its listening address is released (the memory
        // transport only frees it when the listener is removed) and its
        // connections close.
        let _ = self.ctx.net.shutdown().await;
        self.net_task.abort();
        for task in self.tasks {
            let _ = tokio::time::timeout(SHUTDOWN_WAIT, task).await;
        }
        let _ = tokio::time::timeout(SHUTDOWN_WAIT, self.net_task).await;
        warn!(peer = %self.ctx.peer_id, "node crashed (simulated)");
        self.ctx
    }

    /// Stops the node: its tasks, then the network, then flushes the store.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            match tokio::time::timeout(SHUTDOWN_WAIT, task).await {
                Ok(_) => {}
                Err(_) => warn!("a node task did not stop within {SHUTDOWN_WAIT:?}"),
            }
        }
        if let Err(e) = self.ctx.net.shutdown().await {
            // After a store failure the network was stopped already.
            if self.ctx.store.failed().is_none() {
                warn!("the network task did not stop cleanly: {e}");
            }
        }
        self.net_task.abort();
        let _ = self.net_task.await;
        let store = self.ctx.store.clone();
        tokio::task::spawn_blocking(move || store.flush())
            .await
            .map_err(|e| NodeError::Internal(e.to_string()))??;
        info!(peer = %self.ctx.peer_id, "node stopped; store flushed");
        Ok(())
    }
}

/// Waits for a fatal store failure ([`Store::failure`]), then says so in the
/// log and stops the node's tasks and its network, so that the node leaves
/// the network instead of staying in it unable to store or purge. Returns
/// without doing anything when the node shuts down first.
async fn stop_on_store_failure(
    ctx: Arc<Context>,
    stop: std::sync::Weak<watch::Sender<bool>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let failure = tokio::select! {
        e = ctx.store.failure() => e,
        // Errs when the node was dropped: a stop too.
        _ = shutdown.wait_for(|s| *s) => return,
    };
    tracing::error!(
        "the message store failed ({failure}); stopping the node: it leaves the network, \
         and `sotto-node run` exits non-zero so that its service manager restarts it"
    );
    if let Some(stop) = stop.upgrade() {
        let _ = stop.send(true);
    }
    if let Err(e) = ctx.net.shutdown().await {
        debug!("the network task did not stop cleanly after the store failed: {e}");
    }
}

/// Where [`dispatch`] hands inbound requests.
struct Handlers {
    service: Arc<Service>,
    relay: Arc<Relay>,
    replicator: Arc<Replicator>,
}

/// Hands each inbound request to its handler on its own task (the network
/// task bounds how many are in flight), and each record to the directory.
async fn dispatch(
    mut inbound: mpsc::Receiver<Inbound>,
    ctx: Arc<Context>,
    handlers: Handlers,
    mut shutdown: watch::Receiver<bool>,
) {
    let Handlers {
        service,
        relay,
        replicator,
    } = handlers;
    let pulls = Arc::new(Semaphore::new(CONCURRENT_PULLS));
    let checks = RecordChecks::new(CONCURRENT_RECORD_CHECKS, QUEUED_RECORD_CHECKS);
    loop {
        let item = tokio::select! {
            item = inbound.recv() => item,
            _ = shutdown.changed() => None,
        };
        let Some(item) = item else { break };
        match item {
            Inbound::Rpc {
                peer,
                bytes,
                mut respond,
            } => {
                let service = service.clone();
                tokio::spawn(async move {
                    let slot = respond.slot();
                    let parked = service
                        .handle_bytes_then(peer, &bytes, move |out| {
                            let _ = respond.send(out);
                        })
                        .await;
                    // A parked retrieve waits without a slot (and without
                    // this task): the waiters' task answers it.
                    if parked && let Some(slot) = slot {
                        slot.release();
                    }
                });
            }
            Inbound::Node {
                peer,
                bytes,
                respond,
            } => {
                let replicator = replicator.clone();
                tokio::spawn(async move {
                    let out = replicator.handle_bytes(peer, &bytes).await;
                    let _ = respond.send(out);
                });
            }
            Inbound::Onion {
                peer,
                bytes,
                mut respond,
            } => {
                let relay = relay.clone();
                // The task ends once the packet is answered or parked (a
                // forward waiting on its next hop, a retrieve waiting here);
                // a parked packet is answered from where its answer appears.
                tokio::spawn(async move {
                    let slot = respond.slot();
                    let then = Box::new(move |out| {
                        let _ = respond.send(out);
                    });
                    relay.handle_packet_then(peer, bytes, slot, then).await;
                });
            }
            Inbound::Record {
                peer,
                bytes,
                gossip,
            } => {
                // Verified on its own task, a few at a time, so that a flood
                // of records does not hold up requests; gossip forwards a
                // record only once it is reported valid. A burst waits in a
                // bounded queue; only past that are records dropped.
                let Some(place) = checks.enter() else {
                    ctx.metrics.rejected.inc("gossip", "busy");
                    if let Some(g) = gossip {
                        let _ = ctx.net.report_record(g, Verdict::Ignore).await;
                    }
                    continue;
                };
                let ctx = ctx.clone();
                let checks = checks.clone();
                tokio::spawn(async move {
                    // Refusals are counted by the directory code.
                    let checked = checks.run(place, announce::handle_record(&ctx, peer, &bytes));
                    let verdict = match checked.await {
                        Ok(Inserted::New | Inserted::Updated) => Verdict::Accept,
                        Ok(Inserted::Unchanged) | Err(DirectoryError::Full(_)) => Verdict::Ignore,
                        Err(e) => {
                            debug!(%peer, "gossiped record refused: {e}");
                            Verdict::Reject
                        }
                    };
                    if let Some(g) = gossip {
                        let _ = ctx.net.report_record(g, verdict).await;
                    }
                });
            }
            Inbound::Connected(peer) => {
                info!(%peer, "connected");
                // A peer we have no record of may be a node that just started, or
                // our bootstrap: its directory tells us about it and its
                // neighbours. Bounded: skipped when enough pulls are running.
                let known = ctx.dir(|d| d.node_of_peer(&peer).is_some());
                if !known && let Ok(permit) = pulls.clone().try_acquire_owned() {
                    let ctx = ctx.clone();
                    tokio::spawn(async move {
                        match announce::pull_directory(&ctx, peer).await {
                            Ok(n) => debug!(%peer, new = n, "pulled directory"),
                            Err(e) => debug!(%peer, "directory pull failed: {e}"),
                        }
                        drop(permit);
                    });
                }
            }
            Inbound::Disconnected(peer) => {
                info!(%peer, "disconnected");
            }
        }
    }
}
