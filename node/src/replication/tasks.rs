//! The background loops of replication and how they stop.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::Replicator;

/// The shortest interval a loop runs at, whatever the configuration says, so
/// that a zero in the config does not spin a core.
const MIN_INTERVAL: Duration = Duration::from_millis(10);
/// How often the handoff loop looks at the directory's version between its
/// full passes.
const DIRECTORY_POLL: Duration = Duration::from_secs(1);

fn interval(ms: u64) -> Duration {
    Duration::from_millis(ms).max(MIN_INTERVAL)
}

/// `d` moved by up to a quarter either way, so that the members of a swarm,
/// started together, do not all start their rounds at the same moment.
fn jittered(d: Duration) -> Duration {
    let factor: f64 = rand::random_range(0.75..1.25);
    d.mul_f64(factor).max(MIN_INTERVAL)
}

/// Resolves when `shutdown` says true or its sender is gone.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // `wait_for` errs only when the sender is dropped: that is a stop too.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Runs `tick` after every `pause()` until `shutdown`; a tick in progress is
/// abandoned at shutdown (every store change it makes is a transaction of its
/// own, so nothing is left half done).
async fn every<P, F, Fut>(mut shutdown: watch::Receiver<bool>, pause: P, mut tick: F)
where
    P: Fn() -> Duration,
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    loop {
        tokio::select! {
            () = stopped(&mut shutdown) => return,
            () = tokio::time::sleep(pause()) => {}
        }
        tokio::select! {
            () = stopped(&mut shutdown) => return,
            () = tick() => {}
        }
    }
}

impl Replicator {
    /// Starts the anti-entropy, retry, handoff and purge loops. They stop when
    /// `shutdown` becomes true (or its sender is dropped); await the handles to
    /// know they have.
    ///
    /// The handoff loop runs a pass every `handoff_check_interval_ms`, and
    /// sooner when the directory's membership changed.
    pub fn spawn_tasks(self: &Arc<Self>, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
        let cfg = &self.ctx.config;
        let anti_entropy = interval(cfg.replication.anti_entropy_interval_ms);
        let retry = interval(cfg.replication.retry_interval_ms);
        let handoff = interval(cfg.replication.handoff_check_interval_ms);
        let purge = interval(cfg.store.purge_interval_ms);

        let this = Arc::clone(self);
        let ae = tokio::spawn(every(
            shutdown.clone(),
            move || jittered(anti_entropy),
            move || {
                let this = Arc::clone(&this);
                async move { this.anti_entropy_once().await }
            },
        ));

        let this = Arc::clone(self);
        let rt = tokio::spawn(every(
            shutdown.clone(),
            move || retry,
            move || {
                let this = Arc::clone(&this);
                async move { this.retry_once().await }
            },
        ));

        let this = Arc::clone(self);
        let mut seen_version = None;
        let mut last_pass: Option<Instant> = None;
        let ho = tokio::spawn(every(
            shutdown.clone(),
            move || DIRECTORY_POLL.min(handoff),
            move || {
                let this = Arc::clone(&this);
                let version = this.ctx.dir(|d| d.version());
                let due = seen_version != Some(version)
                    || last_pass.is_none_or(|t| t.elapsed() >= handoff);
                if due {
                    seen_version = Some(version);
                    last_pass = Some(Instant::now());
                }
                async move {
                    if due {
                        this.handoff_once().await;
                    }
                }
            },
        ));

        let this = Arc::clone(self);
        let pg = tokio::spawn(every(
            shutdown,
            move || purge,
            move || {
                let this = Arc::clone(&this);
                async move {
                    this.purge_once().await;
                }
            },
        ));
        vec![ae, rt, ho, pg]
    }
}
