//! The node's message store on sled (DESIGN §5): messages in the order every
//! replica shares, tombstones and expiry changes with the owner's signed proofs,
//! per-account and per-node quotas, batched purging, and what anti-entropy
//! needs to compare and exchange an account's items (DESIGN §6).
//!
//! ## Trees
//!
//! | tree | key | value |
//! |---|---|---|
//! | `messages` | `account ‖ namespace (u16 BE) ‖ timestamp (u64 BE) ‖ hash` | [`records::MessageRecord`]: owner's shortening, sequence number, postcard `StoredMessage` |
//! | `seqs` | `account ‖ namespace (u16 BE) ‖ seq (u64 BE)` | the message's key tail in `messages` (`timestamp ‖ hash`) |
//! | `items` | `account ‖ hash` | [`records::ItemRecord`]: present (namespace, times, shortening + proof id) or tombstone (namespace, until, proof id) |
//! | `proofs` | proof id (blake3 of the signed request) | reference count, then the owner's signed `DeleteRequest` or `ExpireRequest` |
//! | `expiry` | `due (u64 BE) ‖ account ‖ hash` | empty: when the purge removes the item |
//! | `usage` | `account`, or `chunks` for all chunks together | bytes charged (u64 BE) ‖ messages (u64 BE) |
//! | `meta` | `format`, `bytes`, `messages`, `store_id`, `charges` | u64 BE each: on-disk format, node totals, this store's instance, which items the totals charge |
//!
//! `items` is the one source of truth for the state of a hash; `messages` holds
//! the data, `seqs` numbers the messages in the order this node took them in
//! (what retrieves page by: [`sotto_protocol::rpc::ReadCursor`]), and `expiry`
//! indexes `items` by due time. Every operation that changes anything runs as
//! one sled transaction across all seven trees, so indexes, proofs' reference counts and counters never disagree with
//! the records, whatever fails or crashes in between.
//!
//! ## Crash safety
//!
//! sled recovers its log up to a prefix of what was written and never recovers
//! part of a transaction, so after a crash the store is the state after some
//! committed operation. Writes reach the disk in the background (sled flushes
//! about every 500 ms, [`FLUSH_EVERY_MS`]); [`Store::flush`] forces them
//! there. A node calls it before it acknowledges a store, so that an
//! acknowledged message survives a crash.
//!
//! ## Full disk and engine failures
//!
//! Quotas bound what the store charges; the free-disk watermark
//! ([`SpaceGuard`]) bounds what the disk can still take, and refuses new
//! messages with [`StoreError::DiskFull`] before sled runs out of space.
//! A failure of sled itself (an I/O error) is fatal: callers pass every error
//! to [`Store::report`], and the node stops on [`Store::failure`].
//!
//! ## Clock
//!
//! The store never reads a clock: every call whose result depends on time takes
//! the caller's `now` (Unix ms), so tests move time instead of sleeping.
//!
//! ## Not here
//!
//! Authorization: every request is checked (validated, signatures verified,
//! swarm membership) by the caller before it reaches the store. Rate limits are
//! the RPC layer's.

mod error;
mod fatal;
mod keys;
mod limits;
mod migrate;
mod purge;
mod read;
mod records;
mod space;
mod sync;
mod tx;
mod upgrade;
mod write;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use sled::{Db, Tree};
use sotto_protocol::{AccountId, Namespace, UnixMillis};

pub use error::{QuotaScope, Result, StoreError};
pub use limits::{PER_MESSAGE_OVERHEAD, StoreLimits, TOMBSTONE_CHARGE, charge};
pub use purge::Purged;
pub use read::{MAX_SCAN, Page};
pub use space::{DEFAULT_MIN_FREE_DISK_BYTES, DiskFree, FreeSpace, MEASURE_EVERY, SpaceGuard};
pub use sync::{Accounts, Fetched};
pub use write::{FirstPut, PutOutcome, UNHELD_TOMBSTONE_MS};

/// The on-disk format this build writes and reads. Bump it with any change of
/// key layout or record encoding, and migrate at open (`migrate.rs`). Format 2
/// added the `seqs` tree and sequence numbers in message records; a format-1
/// store is migrated when opened.
pub const STORE_FORMAT: u64 = 2;

/// How often sled writes to disk in the background, in ms, unless the node
/// is configured otherwise (`[store] background_flush_ms`): what a crash can
/// lose of what was never [`Store::flush`]ed. Said here rather than left to
/// sled's default, because the module docs promise it.
pub const FLUSH_EVERY_MS: u64 = 500;

/// `meta` keys.
const META_FORMAT: &[u8] = b"format";
const META_BYTES: &[u8] = b"bytes";
const META_MESSAGES: &[u8] = b"messages";
const META_STORE_ID: &[u8] = b"store_id";
const META_CHARGES: &[u8] = b"charges";
/// The `usage` key of the node's chunk pool: every item of
/// [`sotto_protocol::Namespace::CHUNKS`] is charged here, against
/// [`StoreLimits::max_chunk_bytes`]. Not 32 bytes long, so no account's key.
const CHUNK_POOL: &[u8] = b"chunks";
/// The `usage` key of an account's message requests ([`Namespace::REQUESTS`])
/// is this prefix and the account id: its own quota
/// ([`StoreLimits::max_request_bytes`]).
/// Most delivery tokens of one account a node checks a store against: an
/// owner rotating its token keeps the old one a while, never many.
pub const MAX_DELIVERY_TOKENS: usize = 8;
const REQUESTS_USAGE_PREFIX: &[u8] = b"requests/";

/// How much one account uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes charged: [`charge`] of each held message, and
    /// [`TOMBSTONE_CHARGE`] for each tombstone not purged yet.
    pub bytes: u64,
    /// Messages held (not counting tombstones).
    pub messages: u64,
}

/// A node's message store. Cheap to clone (the clones share one database);
/// every method takes `&self` and is safe to call from several threads. The
/// calls block on disk I/O: an async node runs them on a blocking thread.
#[derive(Clone)]
pub struct Store {
    db: Db,
    messages: Tree,
    items: Tree,
    proofs: Tree,
    expiry: Tree,
    usage: Tree,
    meta: Tree,
    seqs: Tree,
    limits: StoreLimits,
    /// This store's instance ([`Store::id`]).
    id: u64,
    /// The free-disk watermark.
    space: Arc<SpaceGuard>,
    /// The first fatal engine error.
    fatal: Arc<fatal::Fatal>,
    /// Whether the store may hold items ([`Store::may_hold_items`]).
    touched: Arc<AtomicBool>,
    /// Last field, so dropped last: see [`Closer`].
    _closer: Arc<Closer>,
}

/// Holds a clone of every sled handle of a store, so that when the last
/// clone of the store goes inside a tokio runtime, the last sled handles are
/// dropped on a thread of their own (outside one, right there). sled flushes
/// and waits for its I/O threads when its last handle drops; run on a
/// runtime's worker while the runtime shuts down,
/// that wait was seen to never end (a test binary hung at exit with a worker
/// in `make_stable` inside `Db::drop`). Nothing acknowledged depends on that
/// flush: every acknowledged write was flushed (fsync) before it was
/// acknowledged ([`Store::flush`]).
struct Closer {
    handles: Option<(Db, [Tree; 7])>,
}

impl Drop for Closer {
    fn drop(&mut self) {
        let Some(handles) = self.handles.take() else {
            return;
        };
        // Outside a runtime nothing waits on this thread but its caller,
        // which may reopen the database right away: close here, so that the
        // lock is free when `drop` returns.
        if tokio::runtime::Handle::try_current().is_err() {
            drop(handles);
            return;
        }
        let closing = std::thread::Builder::new()
            .name("store-close".into())
            .spawn(move || drop(handles));
        // No thread to be had: they were dropped here, with the closure.
        if let Err(e) = closing {
            tracing::warn!(error = %e, "closed the store on this thread");
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

/// How long an open waits for the database's lock. sled gives the lock back
/// only once its I/O threads have run the work a closed handle left them,
/// which on a loaded machine can be a moment after the handle is gone (a node
/// restarted in the same process, as the simulator and tests do); another
/// process holding the store keeps it, and is reported after this wait.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Opens the sled database in `path`, waiting up to [`LOCK_WAIT`] for its
/// lock, with a background flusher every `flush_every_ms` (none for `None`).
fn open_db(path: &Path, flush_every_ms: Option<u64>) -> Result<sled::Db> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        let opened = sled::Config::new()
            .path(path)
            .flush_every_ms(flush_every_ms)
            .open();
        match opened {
            Err(sled::Error::Io(ref io))
                if io.kind() == std::io::ErrorKind::WouldBlock
                    || io.to_string().contains("could not acquire lock") =>
            {
                if std::time::Instant::now() >= deadline {
                    return opened.map_err(|e| StoreError::engine("open", e));
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other.map_err(|e| StoreError::engine("open", e)),
        }
    }
}

impl Store {
    /// Opens the store in the directory `path`, creating it if needed, with
    /// `limits` and no free-disk watermark: the node sets its configured one
    /// with [`Store::with_space_guard`] (tests and benchmarks, whose data is
    /// small, run on whatever disk they get). Fails if another process has it
    /// open, or if it was written in a [`STORE_FORMAT`] this build does not
    /// know; a format-1 store is migrated first. A store whose counters do not
    /// charge tombstones yet (written by an older build) is brought up to date
    /// too.
    pub fn open(path: impl AsRef<Path>, limits: StoreLimits) -> Result<Store> {
        Store::open_flushing(path, limits, Some(FLUSH_EVERY_MS))
    }

    /// [`Store::open`] with sled's background flusher every `flush_every_ms`,
    /// or without that thread for `None`: then unacknowledged work (purges,
    /// cursors) reaches the disk with the next [`Store::flush`], which every
    /// acknowledged write makes, and sled never compacts its log. Only for
    /// many stores in one short-lived process (the simulator), where a
    /// thousand flusher threads cost more than the nodes' own work.
    pub fn open_flushing(
        path: impl AsRef<Path>,
        limits: StoreLimits,
        flush_every_ms: Option<u64>,
    ) -> Result<Store> {
        let path = path.as_ref();
        let db = open_db(path, flush_every_ms)?;
        let tree = |name: &str| {
            db.open_tree(name)
                .map_err(|e| StoreError::engine("open", e))
        };
        let (messages, items, proofs, expiry) = (
            tree("messages")?,
            tree("items")?,
            tree("proofs")?,
            tree("expiry")?,
        );
        let (usage, meta, seqs) = (tree("usage")?, tree("meta")?, tree("seqs")?);
        let closer = Arc::new(Closer {
            handles: Some((
                db.clone(),
                [
                    messages.clone(),
                    items.clone(),
                    proofs.clone(),
                    expiry.clone(),
                    usage.clone(),
                    meta.clone(),
                    seqs.clone(),
                ],
            )),
        });
        let mut store = Store {
            messages,
            items,
            proofs,
            expiry,
            usage,
            meta,
            seqs,
            db,
            limits,
            space: Arc::new(SpaceGuard::new(Arc::new(DiskFree::new(path)), 0)),
            fatal: Arc::default(),
            touched: Arc::default(),
            id: 0,
            _closer: closer,
        };
        store.check_format()?;
        store.upgrade_charges()?;
        store.id = store.instance_id()?;
        let held = !store.items.is_empty() || !store.expiry.is_empty();
        store.touched.store(held, Ordering::SeqCst);
        Ok(store)
    }

    /// The store with `guard` as its free-disk watermark instead of the
    /// default (the node's configured watermark; a fake disk in tests). Call
    /// it before cloning the store: clones made earlier keep the old guard.
    #[must_use]
    pub fn with_space_guard(mut self, guard: SpaceGuard) -> Store {
        self.space = Arc::new(guard);
        self
    }

    fn check_format(&self) -> Result<()> {
        let found = self
            .meta
            .get(META_FORMAT)
            .map_err(|e| StoreError::engine("open", e))?;
        match found {
            Some(v) => {
                let found = decode_u64("meta", META_FORMAT, &v)?;
                if found == 1 {
                    self.migrate_from_1()?;
                } else if found != STORE_FORMAT {
                    return Err(StoreError::Format {
                        found,
                        expected: STORE_FORMAT,
                    });
                }
            }
            None => {
                self.meta
                    .insert(META_FORMAT, &STORE_FORMAT.to_be_bytes())
                    .map_err(|e| StoreError::engine("open", e))?;
            }
        }
        Ok(())
    }

    /// This store's instance, made at random the first time the store is
    /// opened and kept: a reader's cursor of another instance (a store wiped
    /// and made again under the same node key) is not taken as this one's.
    fn instance_id(&self) -> Result<u64> {
        let engine = |e| StoreError::engine("open", e);
        if let Some(v) = self.meta.get(META_STORE_ID).map_err(engine)? {
            return decode_u64("meta", META_STORE_ID, &v);
        }
        let id: u64 = rand::random();
        self.meta
            .insert(META_STORE_ID, &id.to_be_bytes())
            .map_err(engine)?;
        self.flush()?;
        Ok(id)
    }

    /// This store's instance: what a [`sotto_protocol::rpc::ReadCursor`] of it
    /// carries.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The limits the store enforces.
    pub fn limits(&self) -> StoreLimits {
        self.limits
    }

    /// How much `account` uses (zero if it holds nothing).
    pub fn usage(&self, account: &AccountId) -> Result<Usage> {
        let v = self
            .usage
            .get(account.as_bytes())
            .map_err(|e| StoreError::engine("usage", e))?;
        v.map_or(Ok(Usage::default()), |v| {
            decode_usage(account.as_bytes(), &v)
        })
    }

    /// How much `account`'s message requests use
    /// ([`Namespace::REQUESTS`], its own quota).
    pub fn request_usage(&self, account: &AccountId) -> Result<Usage> {
        let mut key = REQUESTS_USAGE_PREFIX.to_vec();
        key.extend_from_slice(account.as_bytes());
        let v = self
            .usage
            .get(&key)
            .map_err(|e| StoreError::engine("usage", e))?;
        v.map_or(Ok(Usage::default()), |v| decode_usage(&key, &v))
    }

    /// The hashes of the delivery tokens `account`'s owner stored
    /// ([`Namespace::DELIVERY`]) and that are live at `now`: at most
    /// [`MAX_DELIVERY_TOKENS`] (the first stored). Empty: the account's inbox
    /// is open to plain stores.
    pub fn delivery_token_hashes(
        &self,
        account: &AccountId,
        now: UnixMillis,
    ) -> Result<Vec<[u8; 32]>> {
        let item = sotto_protocol::rpc::deliver::DELIVERY_ITEM_LEN;
        let max_bytes = u32::try_from(MAX_DELIVERY_TOKENS * item).unwrap_or(u32::MAX);
        let page = self.retrieve(account, Namespace::DELIVERY, 0, 0, max_bytes, now)?;
        Ok(page
            .messages
            .iter()
            .filter_map(|m| sotto_protocol::rpc::deliver::stored_token_hash(&m.data))
            .take(MAX_DELIVERY_TOKENS)
            .collect())
    }

    /// How much the node's attachment chunks use, all together.
    pub fn chunk_usage(&self) -> Result<Usage> {
        let v = self
            .usage
            .get(CHUNK_POOL)
            .map_err(|e| StoreError::engine("usage", e))?;
        v.map_or(Ok(Usage::default()), |v| decode_usage(CHUNK_POOL, &v))
    }

    /// Whether the store may hold items (messages, tombstones, or their
    /// expiry entries): false only while it held none when it was opened and
    /// no transaction has run since. Any transaction makes it true before it
    /// runs, whatever it writes, so a `false` is never wrong; the loops that
    /// only act on what is held (anti-entropy, handoff, purge) skip their
    /// blocking reads while it is false. Costs nothing to ask: a node that
    /// holds nothing (most of a simulated thousand, while their directories
    /// fill) no longer wakes a blocking thread several times a second.
    pub fn may_hold_items(&self) -> bool {
        self.touched.load(Ordering::SeqCst)
    }

    /// Bytes charged on the whole node.
    pub fn total_bytes(&self) -> Result<u64> {
        self.meta_counter(META_BYTES)
    }

    /// Messages held on the whole node (not counting tombstones).
    pub fn message_count(&self) -> Result<u64> {
        self.meta_counter(META_MESSAGES)
    }

    fn meta_counter(&self, key: &'static [u8]) -> Result<u64> {
        let v = self
            .meta
            .get(key)
            .map_err(|e| StoreError::engine("read counters", e))?;
        v.map_or(Ok(0), |v| decode_u64("meta", key, &v))
    }

    /// Writes everything stored so far to disk and waits for it (fsync). A node
    /// calls it before acknowledging a store, so that an acknowledged message
    /// survives a crash; without it, sled writes in the background about every
    /// 500 ms, and a crash loses at most the writes since then (never part of one
    /// operation). Costs one fsync, so callers batch acknowledgements where they
    /// can.
    pub fn flush(&self) -> Result<()> {
        self.db
            .flush()
            .map(|_| ())
            .map_err(|e| StoreError::engine("flush", e))
    }
}

/// A counter value: u64 BE.
fn decode_u64(tree: &'static str, key: &[u8], v: &[u8]) -> Result<u64> {
    <[u8; 8]>::try_from(v)
        .map(u64::from_be_bytes)
        .map_err(|_| StoreError::corrupt(tree, key, format!("counter of {} bytes", v.len())))
}

/// A `usage` value: bytes (u64 BE) ‖ messages (u64 BE).
fn decode_usage(key: &[u8], v: &[u8]) -> Result<Usage> {
    let bad = || StoreError::corrupt("usage", key, format!("value of {} bytes", v.len()));
    let (b, m) = v.split_first_chunk::<8>().ok_or_else(bad)?;
    let m = <[u8; 8]>::try_from(m).map_err(|_| bad())?;
    Ok(Usage {
        bytes: u64::from_be_bytes(*b),
        messages: u64::from_be_bytes(m),
    })
}

fn encode_usage(u: Usage) -> [u8; 16] {
    let mut v = [0u8; 16];
    let (b, m) = v.split_at_mut(8);
    b.copy_from_slice(&u.bytes.to_be_bytes());
    m.copy_from_slice(&u.messages.to_be_bytes());
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_refuses_another_format() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path(), StoreLimits::default()).unwrap();
            assert_eq!(s.total_bytes().unwrap(), 0);
            assert_eq!(s.message_count().unwrap(), 0);
            s.meta.insert(META_FORMAT, &99u64.to_be_bytes()).unwrap();
            s.flush().unwrap();
        }
        let err = Store::open(dir.path(), StoreLimits::default()).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::Format {
                    found: 99,
                    expected: 2
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn corrupt_counters_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), StoreLimits::default()).unwrap();
        s.meta.insert(META_BYTES, &[1, 2, 3]).unwrap();
        let err = s.total_bytes().unwrap_err();
        assert!(err.to_string().contains(&error::hex(META_BYTES)), "{err}");
        let u = Usage {
            bytes: 7,
            messages: 2,
        };
        assert_eq!(decode_usage(b"k", &encode_usage(u)).unwrap(), u);
        assert!(decode_usage(b"k", &[0; 15]).is_err());
    }
}
