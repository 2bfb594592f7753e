//! The bounded queue of gossiped records waiting to be verified: a few
//! checks run at once, a bounded number wait, and only past that is a record
//! dropped. A record dropped here is lost to the node for good (gossip's
//! seen cache keeps later copies out, and the node does not forward it), so
//! a burst of honest records (a large network starting) must wait, not go.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Checks running at once and records waiting for one.
#[derive(Clone, Debug)]
pub struct RecordChecks {
    running: Arc<Semaphore>,
    waiting: Arc<Semaphore>,
}

/// A record's place in the queue, held until its check is done (the permit
/// is given back when the place is dropped).
#[derive(Debug)]
pub struct Place {
    _permit: OwnedSemaphorePermit,
}

impl RecordChecks {
    /// At most `running` checks at once and `waiting` records in all
    /// (running ones included).
    pub fn new(running: usize, waiting: usize) -> Self {
        Self {
            running: Arc::new(Semaphore::new(running)),
            waiting: Arc::new(Semaphore::new(waiting.max(running))),
        }
    }

    /// A place for one more record, or `None` when the queue is full (the
    /// caller drops the record and counts it).
    pub fn enter(&self) -> Option<Place> {
        self.waiting
            .clone()
            .try_acquire_owned()
            .ok()
            .map(|p| Place { _permit: p })
    }

    /// Runs `check` once a running slot is free, and gives the place back
    /// when it is done.
    pub async fn run<T>(&self, place: Place, check: impl Future<Output = T>) -> T {
        // The semaphores are never closed; were one, the check would run
        // unbounded rather than not at all.
        let slot = self.running.clone().acquire_owned().await.ok();
        let out = check.await;
        drop(slot);
        drop(place);
        out
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn a_burst_waits_within_its_bound_and_only_the_excess_is_dropped() {
        let checks = RecordChecks::new(2, 6);
        let places: Vec<Place> = (0..6).map(|_| checks.enter().unwrap()).collect();
        assert!(checks.enter().is_none(), "a seventh record does not fit");

        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for place in places {
            let (checks, now, most, done) =
                (checks.clone(), now.clone(), most.clone(), done.clone());
            tasks.push(tokio::spawn(async move {
                checks
                    .run(place, async {
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(n, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        now.fetch_sub(1, Ordering::SeqCst);
                        done.fetch_add(1, Ordering::SeqCst);
                    })
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        // Every record of the burst was checked, never more than 2 at once,
        // and the places are free again.
        assert_eq!(done.load(Ordering::SeqCst), 6);
        assert!(most.load(Ordering::SeqCst) <= 2);
        assert!(most.load(Ordering::SeqCst) >= 1);
        let again: Vec<Place> = (0..6).map(|_| checks.enter().unwrap()).collect();
        assert_eq!(again.len(), 6);
    }
}
