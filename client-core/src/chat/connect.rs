//! Starting and stopping the network side: the onion client, the receive
//! loop, the outbox sender, the timer purge, the attachment fetcher and the
//! path-status forwarder.

use std::sync::Arc;
use std::time::Duration;

use sotto_protocol::Namespace;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{ChatError, ChatEvent, Inner, Messenger};
use crate::{Client, ClientConfig, PathStatus};

/// The tasks of a connected messenger.
pub(crate) struct Running {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Messenger {
    /// Starts the network client (paths), the receive loop and the outbox
    /// sender. Returns once started, not once a path is ready.
    pub async fn connect(&self, config: ClientConfig) -> Result<(), ChatError> {
        if self.inner.client().is_some() {
            return Err(ChatError::AlreadyConnected);
        }
        let network = config.params.name.clone();
        match self.inner.receipt_delay.lock() {
            Ok(mut d) => *d = config.receipt_delay,
            Err(p) => *p.into_inner() = config.receipt_delay,
        }
        let client = Arc::new(Client::start(config).await?);
        let (stop, stop_rx) = watch::channel(false);
        let taken = {
            let mut slot = match self.inner.client.write() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            let taken = slot.is_some();
            if !taken {
                *slot = Some(client.clone());
            }
            taken
        };
        if taken {
            // Another connect won the race: stop this one's client again.
            if let Ok(c) = Arc::try_unwrap(client) {
                c.shutdown().await;
            }
            return Err(ChatError::AlreadyConnected);
        }
        match self.inner.network.write() {
            Ok(mut n) => *n = network,
            Err(p) => *p.into_inner() = network,
        }
        let inner = &self.inner;
        let tasks = vec![
            // The inbox (contacts, with this account's token) and the
            // message requests (everyone else, with postage) are read apart.
            tokio::spawn(super::receive::run(
                inner.clone(),
                client.clone(),
                stop_rx.clone(),
                Namespace::INBOX,
            )),
            tokio::spawn(super::receive::run(
                inner.clone(),
                client.clone(),
                stop_rx.clone(),
                Namespace::REQUESTS,
            )),
            tokio::spawn(super::outbox::run(
                inner.clone(),
                client.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(super::purge::run(inner.clone(), stop_rx.clone())),
            tokio::spawn(fetch_when_ready(
                inner.clone(),
                client.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(super::prekeys::run(
                inner.clone(),
                client.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(super::group_chat::run(
                inner.clone(),
                client.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(forward_paths(
                inner.clone(),
                client.path_status(),
                stop_rx.clone(),
            )),
            tokio::spawn(forward_wrong_network(
                inner.clone(),
                client.wrong_network(),
                stop_rx,
            )),
        ];
        let running = Running { stop, tasks };
        match self.inner.running.lock() {
            Ok(mut r) => *r = Some(running),
            Err(p) => *p.into_inner() = Some(running),
        }
        Ok(())
    }

    /// Current path state (`Offline` when not connected).
    pub fn path_status(&self) -> PathStatus {
        match self.inner.client() {
            Some(c) => c.path_status().borrow().clone(),
            None => PathStatus::Offline,
        }
    }

    /// The addresses the directory lists for `node` (none when not
    /// connected or not known), to show a path's hops.
    pub fn node_addrs(&self, node: &sotto_protocol::NodeId) -> Vec<libp2p::Multiaddr> {
        self.inner
            .client()
            .map(|c| c.node_addrs(node))
            .unwrap_or_default()
    }

    /// Whether the bootstrap nodes turned out to be on another network
    /// (`None` when not connected, or when they answered).
    pub fn wrong_network(&self) -> Option<crate::directory::WrongNetwork> {
        self.inner
            .client()
            .and_then(|c| c.wrong_network().borrow().clone())
    }

    /// Why nothing can go out yet, while no node of the network is known
    /// (`None` when not connected or once nodes are known).
    pub fn bootstrap_problem(&self) -> Option<crate::ClientError> {
        self.inner.client().and_then(|c| c.bootstrap_problem())
    }

    /// Stops the tasks and the network client and flushes the store. Queued
    /// messages stay queued for the next run.
    pub async fn shutdown(&self) {
        let running = match self.inner.running.lock() {
            Ok(mut r) => r.take(),
            Err(p) => p.into_inner().take(),
        };
        if let Some(r) = running {
            let _ = r.stop.send(true);
            for t in r.tasks {
                // Each task returns at the stop signal; abort is the bound.
                let abort = t.abort_handle();
                if tokio::time::timeout(Duration::from_secs(2), t)
                    .await
                    .is_err()
                {
                    abort.abort();
                }
            }
        }
        let client = match self.inner.client.write() {
            Ok(mut c) => c.take(),
            Err(p) => p.into_inner().take(),
        };
        if let Some(c) = client {
            match Arc::try_unwrap(c) {
                Ok(c) => c.shutdown().await,
                Err(_) => {
                    tracing::warn!("the network client is still in use; it stops when released")
                }
            }
        }
        let inner = self.inner.clone();
        match tokio::task::spawn_blocking(move || inner.store.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("flushing the store: {e}"),
            Err(e) => tracing::warn!("flushing the store: {e}"),
        }
    }

    /// One receive round (a long poll of up to `wait`); returns how many new
    /// items reached the app.
    pub async fn receive_once(&self, wait: Duration) -> Result<usize, ChatError> {
        let client = self.inner.client().ok_or(ChatError::NotConnected)?;
        // First what is there (returns at once), then, if that brought
        // nothing new, a long poll for what comes next.
        let found = super::receive::round(&self.inner, &client, Duration::ZERO).await?;
        if found > 0 || wait.is_zero() {
            return Ok(found);
        }
        super::receive::round(&self.inner, &client, wait).await
    }
}

/// Forwards path-status changes as events.
async fn forward_paths(
    inner: Arc<Inner>,
    mut rx: watch::Receiver<PathStatus>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let now = rx.borrow_and_update().clone();
        inner.emit(ChatEvent::Path(now));
        tokio::select! {
            r = rx.changed() => if r.is_err() { return },
            _ = stop.changed() => return,
        }
    }
}

/// Tells front ends when the bootstrap nodes turn out to be on another network.
async fn forward_wrong_network(
    inner: Arc<Inner>,
    mut rx: watch::Receiver<Option<crate::directory::WrongNetwork>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        if let Some(w) = rx.borrow_and_update().clone() {
            inner.emit(ChatEvent::WrongNetwork(w));
        }
        tokio::select! {
            r = rx.changed() => if r.is_err() { return },
            _ = stop.changed() => return,
        }
    }
}

/// Runs the attachment fetcher once a first path is ready (before that the
/// chunk store knows no nodes, and every fetch would fail for nothing).
async fn fetch_when_ready(inner: Arc<Inner>, client: Arc<Client>, mut stop: watch::Receiver<bool>) {
    let mut paths = client.path_status();
    while !matches!(*paths.borrow_and_update(), PathStatus::Ready { .. }) {
        tokio::select! {
            r = paths.changed() => if r.is_err() { return },
            _ = stop.changed() => return,
        }
    }
    super::autofetch::run(inner, crate::attach::NetworkChunks::new(client), stop).await;
}
