//! The first failure of the storage engine that the node cannot go on from
//! ([`StoreError::is_fatal`]), kept for the node to stop on.
//!
//! Store calls run on blocking threads in several places (client RPC,
//! replication, purge, handoff); each passes the errors it gets to
//! [`Store::report`], and the node waits on [`Store::failure`] to stop.

use std::sync::Arc;

use tokio::sync::watch;

use super::Store;
use super::error::StoreError;

/// The failure shared by every clone of a store.
#[derive(Debug)]
pub(super) struct Fatal(watch::Sender<Option<Arc<str>>>);

impl Default for Fatal {
    fn default() -> Self {
        Self(watch::Sender::new(None))
    }
}

impl Store {
    /// Notes `e` if it is fatal ([`StoreError::is_fatal`]): the first fatal
    /// error is kept, and whoever waits on [`Store::failure`] is woken. Other
    /// errors are left to the caller.
    pub fn report(&self, e: &StoreError) {
        if !e.is_fatal() {
            return;
        }
        let text: Arc<str> = Arc::from(e.to_string());
        self.fatal.0.send_if_modified(|slot| {
            if slot.is_some() {
                return false;
            }
            *slot = Some(text);
            true
        });
    }

    /// The first fatal error reported, if any: the node is stopping.
    pub fn failed(&self) -> Option<Arc<str>> {
        self.fatal.0.borrow().clone()
    }

    /// Resolves with the first fatal error reported (at once if there was one
    /// already).
    pub async fn failure(&self) -> Arc<str> {
        let mut rx = self.fatal.0.subscribe();
        loop {
            if let Some(e) = rx.borrow_and_update().clone() {
                return e;
            }
            // The sender lives in this store, so it is never dropped while we
            // hold `self`; an error here cannot happen, but waiting forever
            // is the right answer if it did.
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreLimits;

    #[tokio::test]
    async fn the_first_fatal_error_is_kept_and_wakes_the_waiter() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), StoreLimits::default()).unwrap();
        let waiter = tokio::spawn({
            let s = s.clone();
            async move { s.failure().await }
        });
        s.report(&StoreError::corrupt("items", b"k", "bad"));
        assert!(s.failed().is_none(), "a corrupt record is not fatal");
        let io = StoreError::engine("flush", sled::Error::Io(std::io::Error::other("EIO")));
        s.report(&io);
        let later = StoreError::engine("put", sled::Error::Io(std::io::Error::other("later")));
        s.clone().report(&later);
        let got = waiter.await.unwrap();
        assert!(got.contains("EIO"), "{got}");
        assert_eq!(s.failed().as_deref(), Some(&*got));
        assert_eq!(&*s.failure().await, &*got);
    }
}
