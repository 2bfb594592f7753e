//! The timer purge: removes messages whose disappearing timer ran out and
//! tells front ends; now and then forgets old seen entries.

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
        if let Err(e) = inner.purge_expired() {
            tracing::warn!("purging expired messages: {e}");
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = Instant::now();
            if let Err(e) = inner.store.prune_seen() {
                tracing::warn!("pruning seen entries: {e}");
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(TICK) => {}
            _ = stop.changed() => return,
        }
    }
}

impl Inner {
    /// Removes every message whose timer ran out; returns how many.
    pub(crate) fn purge_expired(&self) -> Result<usize, ChatError> {
        let s = &self.store;
        let mut n = 0;
        for (key, index) in s.expired(self.now())? {
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
