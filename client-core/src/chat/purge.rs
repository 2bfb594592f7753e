//! The timer purge: removes messages whose disappearing timer ran out and
//! tells front ends; now and then forgets old seen entries.
//!
//! Disappearing timers run on the device's clock ([`Inner::device_now`]),
//! never on the clock corrected from nodes' answers: a node's time must not
//! be able to make local messages vanish early or stay late.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::records::MsgRecord;
use super::{ChatError, ChatEvent, Inner, MessageId};

/// How often expired messages are looked for.
const TICK: Duration = Duration::from_millis(500);
/// How often old seen entries are dropped.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The purge task.
pub(crate) async fn run(inner: Arc<Inner>, mut stop: watch::Receiver<bool>) {
    let mut last_prune = Instant::now();
    loop {
        let prune = last_prune.elapsed() >= PRUNE_EVERY;
        if prune {
            last_prune = Instant::now();
        }
        let worker = inner.clone();
        let done = tokio::task::spawn_blocking(move || {
            if let Err(e) = worker.purge_expired() {
                tracing::warn!("purging expired messages: {e}");
            }
            if prune && let Err(e) = worker.store.prune_seen() {
                tracing::warn!("pruning seen entries: {e}");
            }
        });
        if let Err(e) = done.await {
            tracing::warn!("the purge task failed: {e}");
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => return,
        }
    }
}

impl Inner {
    /// The device's own clock (Unix ms), for local timers: every local
    /// `expires_at` is on this clock, and the purge compares with it.
    pub(crate) fn device_now(&self) -> u64 {
        match self.client() {
            Some(c) => c.device_now(),
            None => super::system_now(),
        }
    }

    /// The local deadline (device clock) of a timer that ends at `at` on the
    /// network clock (`network_now` now): the time left, counted from the
    /// device's now.
    pub(crate) fn local_deadline(&self, at: u64, network_now: u64) -> u64 {
        self.device_now()
            .saturating_add(at.saturating_sub(network_now))
    }

    /// Removes every message whose timer ran out (by the device clock);
    /// returns how many.
    pub(crate) fn purge_expired(&self) -> Result<usize, ChatError> {
        let s = &self.store;
        let mut n = 0;
        for (key, index) in s.expired(self.device_now())? {
            match s.get::<MsgRecord>(&s.messages, &key)? {
                Some(rec) => {
                    s.remove_message(&key, &rec)?;
                    self.emit(ChatEvent::Deleted {
                        id: MessageId(rec.msg.id.0),
                        peer: rec.msg.peer,
                    });
                    n += 1;
                }
                None => {
                    s.expiry.remove(index)?;
                }
            }
        }
        Ok(n)
    }
}
