//! Fetching attachments ahead: small attachments from contacts (at most the
//! `auto_fetch_max_bytes` setting) are downloaded into the home's private
//! cache `HOME/attachments/` (0700, files 0600) in the background, at most
//! [`AT_ONCE`] at a time, so receiving never waits for a download. The queue
//! is a store tree: what a stopped run left is fetched by the next.

use std::sync::Arc;
use std::time::Duration;

use sotto_protocol::AccountId;
use sotto_protocol::attachment::Attachment;
use sotto_protocol::envelope::ContentId;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::attachments::{Extra, private_dir};
use super::{AttachmentState, ChatError, ChatEvent, Inner, MessageId, Messenger};
use crate::attach::{ChunkStore, download};

/// Most attachments fetched at the same time: each keeps its own chunks in
/// flight, and the user's own sends and saves share the network.
pub(crate) const AT_ONCE: usize = 2;
/// How often the fetcher looks at its queue when nothing wakes it.
const IDLE: Duration = Duration::from_secs(30);
/// The pause after the queue could not be read.
const ERROR_PAUSE: Duration = Duration::from_secs(5);

/// One attachment to fetch.
struct Due {
    id: ContentId,
    peer: AccountId,
    descriptor: Attachment,
}

/// A fetcher over a store of the caller's choosing, started by
/// [`Messenger::start_fetching_via`] (`connect` starts one over the network);
/// it stops when this is dropped or [`FetchTask::stop`] is called.
#[derive(Debug)]
pub struct FetchTask {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl FetchTask {
    /// Stops the fetcher and waits (at most 2 s) for it; a download cut off
    /// leaves nothing under the file's name and is fetched again next time.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let abort = t.abort_handle();
            if tokio::time::timeout(Duration::from_secs(2), t)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for FetchTask {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl Messenger {
    /// Starts fetching ahead through `store` (see the module docs).
    pub fn start_fetching_via<S>(&self, store: S) -> FetchTask
    where
        S: ChunkStore + Send + Sync + 'static,
    {
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(self.inner.clone(), store, stop_rx));
        FetchTask {
            stop,
            task: Some(task),
        }
    }
}

impl Inner {
    /// Up to `n` queued attachments, and drops queue entries whose message or
    /// record is gone or no longer waiting.
    fn due_fetches(&self, n: usize) -> Result<Vec<Due>, ChatError> {
        let s = &self.store;
        let mut out = Vec::new();
        for key in s.fetchq.iter().keys() {
            if out.len() >= n {
                break;
            }
            let key = key?;
            let Ok(bytes) = <[u8; 16]>::try_from(key.as_ref()) else {
                s.fetchq.remove(&key)?;
                continue;
            };
            let id = ContentId(bytes);
            let peer = s.message(&id)?.map(|(_, r)| r.msg.peer);
            match (peer, self.extra(&id)?) {
                (
                    Some(peer),
                    Some(Extra::Attachment {
                        descriptor,
                        state: AttachmentState::Pending | AttachmentState::Downloading,
                        ..
                    }),
                ) => out.push(Due {
                    id,
                    peer,
                    descriptor,
                }),
                _ => {
                    s.fetchq.remove(&key)?;
                }
            }
        }
        Ok(out)
    }

    /// Queues attachment `id` to be fetched ahead and wakes the fetcher.
    pub(crate) fn queue_fetch(&self, id: &ContentId) -> Result<(), ChatError> {
        self.store.fetchq.insert(id.as_bytes(), &[][..])?;
        self.fetch_wake.notify_one();
        Ok(())
    }

    /// Fetches one attachment into the cache and records where it is.
    async fn fetch_one<S: ChunkStore>(&self, store: &S, due: Due) -> Result<(), ChatError> {
        let dir = self.cache_dir();
        private_dir(&dir)?;
        self.set_attachment_state(&due.id, due.peer, AttachmentState::Downloading)?;
        let events = self.events.clone();
        let (id, peer) = (MessageId(due.id), due.peer);
        let got = download(store, &due.descriptor, &dir, |p| {
            let _ = events.send(ChatEvent::Transfer {
                id,
                peer,
                upload: false,
                progress: p,
            });
        })
        .await;
        self.store.fetchq.remove(due.id.as_bytes())?;
        let state = match got {
            Ok(d) => {
                if self.store.message(&due.id)?.is_none() {
                    // Deleted while it was fetched: keep nothing of it.
                    let _ = std::fs::remove_file(&d.path);
                    return Ok(());
                }
                AttachmentState::Ready(d.path)
            }
            Err(e) => {
                tracing::info!("an attachment could not be fetched ahead: {e}");
                AttachmentState::Failed(e.to_string())
            }
        };
        self.set_attachment_state(&due.id, due.peer, state)?;
        self.store.flush()
    }
}

/// The fetcher: up to [`AT_ONCE`] downloads at a time until stopped.
pub(crate) async fn run<S: ChunkStore>(
    inner: Arc<Inner>,
    store: S,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let due = match inner.due_fetches(AT_ONCE) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!("attachment queue: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(ERROR_PAUSE) => {}
                    _ = stop.changed() => return,
                }
                continue;
            }
        };
        if due.is_empty() {
            tokio::select! {
                _ = inner.fetch_wake.notified() => {}
                _ = tokio::time::sleep(IDLE) => {}
                _ = stop.changed() => return,
            }
            continue;
        }
        let batch = futures::future::join_all(due.into_iter().map(|d| inner.fetch_one(&store, d)));
        let results = tokio::select! {
            r = batch => r,
            _ = stop.changed() => return,
        };
        if let Some(e) = results.into_iter().find_map(Result::err) {
            tracing::warn!("fetching an attachment ahead: {e}");
            tokio::select! {
                _ = tokio::time::sleep(ERROR_PAUSE) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
