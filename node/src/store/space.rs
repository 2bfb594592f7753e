//! The free-disk watermark: new messages are refused with
//! [`StoreError::DiskFull`] while the store's file system has less than a
//! configured number of bytes free, before sled can run out of space.
//!
//! sled 0.34 fails every later write after one out-of-space error, until the
//! process restarts; a node that reaches it can then neither store nor purge.
//! So the store stops taking *new* messages a margin before that, and keeps
//! doing everything that frees space (deletes, expiry changes, purge, handoff).
//!
//! Free space is measured with `statvfs` on the store's directory at most once
//! per [`MEASURE_EVERY`] (a system call per store would be cheap, but a burst
//! of stores would make thousands of them a second), and each admitted write
//! is subtracted from the last measurement until the next one, so that a burst
//! within one interval cannot run past the watermark unseen.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::error::{Result, StoreError};

/// One mebibyte.
const MIB: u64 = 1024 * 1024;

/// The default watermark: 256 MiB. A fixed amount rather than a share of the
/// disk, because what it must cover does not grow with the disk: sled's
/// headroom to append its log and rewrite segments while it reclaims space
/// (segments of 512 KiB, several at once), the writes already admitted in one
/// [`MEASURE_EVERY`] at full load (256 concurrent requests of at most 64 KiB
/// each, twice over: about 32 MiB), and room for the node's own logs and the
/// system. 1% would be 200 MiB of a 20 GiB VPS disk, about right, but 40 GiB
/// of a 4 TiB one, which wastes what a volunteer offers.
pub const DEFAULT_MIN_FREE_DISK_BYTES: u64 = 256 * MIB;

/// How long a measurement of free space is used before the next one.
pub const MEASURE_EVERY: Duration = Duration::from_secs(1);

/// What an admitted write is taken to add on disk, as a multiple of its
/// charge. sled appends every changed record to its log and rewrites pages
/// later when it consolidates them, so a write briefly costs more than the
/// record; twice the charge is a margin for that, not a measurement.
const WRITE_AMPLIFICATION: u64 = 2;

/// Where free space is read from: the file system in a running node, a fake
/// in tests.
pub trait FreeSpace: Send + Sync + std::fmt::Debug {
    /// The bytes an unprivileged writer may still use on the store's file
    /// system now.
    fn available(&self) -> std::io::Result<u64>;
}

/// [`FreeSpace`] from `statvfs` on a directory: the blocks available to
/// unprivileged users (`f_bavail`) times the fragment size. Root could use
/// the reserved blocks too; counting without them errs on the safe side.
#[derive(Debug, Clone)]
pub struct DiskFree {
    path: PathBuf,
}

impl DiskFree {
    /// Free space of the file system holding `path`.
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
        }
    }
}

impl FreeSpace for DiskFree {
    fn available(&self) -> std::io::Result<u64> {
        let st = nix::sys::statvfs::statvfs(self.path.as_path()).map_err(std::io::Error::from)?;
        // The field types differ between platforms (u32 on some, u64 on Linux).
        #[allow(clippy::useless_conversion, clippy::unnecessary_fallible_conversions)]
        let (blocks, size) = (
            u64::try_from(st.blocks_available()).unwrap_or(u64::MAX),
            u64::try_from(st.fragment_size()).unwrap_or(u64::MAX),
        );
        Ok(blocks.saturating_mul(size))
    }
}

/// The last measurement and what was admitted since.
#[derive(Debug, Default)]
struct Measured {
    /// Free bytes at the last measurement; `None` before the first, or when it
    /// failed.
    free: Option<u64>,
    /// When it was taken.
    at: Option<Instant>,
    /// Bytes admitted since.
    reserved: u64,
}

/// The watermark check of one store: see the module documentation.
#[derive(Debug)]
pub struct SpaceGuard {
    source: Arc<dyn FreeSpace>,
    min_free: u64,
    every: Duration,
    state: Mutex<Measured>,
}

impl SpaceGuard {
    /// A guard refusing new writes while `source` reports less than
    /// `min_free` bytes, measuring at most every [`MEASURE_EVERY`]. A
    /// `min_free` of 0 turns the check off.
    pub fn new(source: Arc<dyn FreeSpace>, min_free: u64) -> Self {
        Self::measuring_every(source, min_free, MEASURE_EVERY)
    }

    /// The same, measuring at most every `every` (tests use zero, so that a
    /// change of their fake is seen at once).
    pub fn measuring_every(source: Arc<dyn FreeSpace>, min_free: u64, every: Duration) -> Self {
        Self {
            source,
            min_free,
            every,
            state: Mutex::new(Measured::default()),
        }
    }

    /// The watermark, in bytes.
    pub fn min_free(&self) -> u64 {
        self.min_free
    }

    /// Admits a write charged `charge` bytes if the disk keeps at least the
    /// watermark free after it, and counts it against the last measurement;
    /// otherwise [`StoreError::DiskFull`]. A measurement that fails admits
    /// (and logs): the watermark is a margin, and a real out-of-space error
    /// still stops the node (`StoreError::is_fatal`).
    pub fn admit(&self, charge: u64) -> Result<()> {
        if self.min_free == 0 {
            return Ok(());
        }
        let mut s = match self.state.lock() {
            Ok(s) => s,
            Err(p) => p.into_inner(),
        };
        if s.at.is_none_or(|at| at.elapsed() >= self.every) {
            let was_ok = s.free.is_some() || s.at.is_none();
            s.free = match self.source.available() {
                Ok(free) => Some(free),
                Err(e) => {
                    if was_ok {
                        tracing::warn!(
                            "cannot measure the store's free disk space ({e}); \
                             the free-space watermark is not enforced until it can"
                        );
                    }
                    None
                }
            };
            s.at = Some(Instant::now());
            s.reserved = 0;
        }
        let Some(free) = s.free else {
            return Ok(());
        };
        let needed = charge.saturating_mul(WRITE_AMPLIFICATION);
        let left = free.saturating_sub(s.reserved);
        if left.saturating_sub(needed) < self.min_free {
            return Err(StoreError::DiskFull {
                available: left,
                min_free: self.min_free,
            });
        }
        s.reserved = s.reserved.saturating_add(needed);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[derive(Debug, Default)]
    struct Fake(AtomicU64);

    impl FreeSpace for Fake {
        fn available(&self) -> std::io::Result<u64> {
            match self.0.load(Ordering::Relaxed) {
                u64::MAX => Err(std::io::Error::other("no statvfs here")),
                v => Ok(v),
            }
        }
    }

    #[test]
    fn refuses_below_the_watermark_and_reserves_between_measurements() {
        let fake = Arc::new(Fake(AtomicU64::new(10_000)));
        // Never measured again within the test: reservations alone must stop it.
        let g = SpaceGuard::measuring_every(fake.clone(), 4_000, Duration::from_secs(3600));
        // Each admit reserves twice its charge: 10 000 − 2×1 000 × 3 = 4 000.
        for _ in 0..3 {
            g.admit(1_000).unwrap();
        }
        let err = g.admit(1).unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::DiskFull {
                    available: 4_000,
                    min_free: 4_000
                }
            ),
            "{err}"
        );
        assert!(err.is_refusal() && !err.is_fatal());
        assert!(err.to_string().contains("disk nearly full"), "{err}");
        // The disk freed up, but the guard does not look before its interval.
        fake.0.store(1_000_000, Ordering::Relaxed);
        assert!(g.admit(1).is_err());
    }

    #[test]
    fn measures_again_and_forgets_reservations() {
        let fake = Arc::new(Fake(AtomicU64::new(5_000)));
        let g = SpaceGuard::measuring_every(fake.clone(), 4_000, Duration::ZERO);
        assert!(g.admit(1_000).is_err());
        fake.0.store(100_000, Ordering::Relaxed);
        for _ in 0..10 {
            g.admit(1_000).unwrap();
        }
        // A failing measurement admits; a zero watermark never measures.
        fake.0.store(u64::MAX, Ordering::Relaxed);
        g.admit(1_000_000).unwrap();
        let off = SpaceGuard::new(Arc::new(Fake(AtomicU64::new(0))), 0);
        off.admit(u64::MAX).unwrap();
    }

    /// Unmounts a test's tmpfs when dropped (lazily: sled's threads may hold
    /// a file a moment longer).
    struct Mounted<'a>(&'a Path);

    impl Drop for Mounted<'_> {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.0)
                .status();
        }
    }

    /// A real small disk: the watermark refuses new messages before sled runs
    /// out of space, and what was stored stays readable and deletable.
    #[test]
    fn a_real_tmpfs_fills_to_the_watermark_and_keeps_what_it_stored() {
        use crate::store::{Store, StoreLimits};
        use sotto_protocol::rpc::{DeleteRequest, StoredMessage};
        use sotto_protocol::{AccountKey, Namespace};

        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|o| o.status.success());
        if !mounted {
            eprintln!("skipped: cannot mount a tmpfs here (needs root and mount(8))");
            return;
        }
        let _unmount = Mounted(dir.path());
        let unlimited = StoreLimits {
            max_account_bytes: u64::MAX,
            max_total_bytes: u64::MAX,
            max_chunk_bytes: u64::MAX,
            max_request_bytes: u64::MAX,
        };
        let disk = Arc::new(DiskFree::new(dir.path()));
        let store = Store::open(dir.path(), unlimited)
            .unwrap()
            .with_space_guard(SpaceGuard::measuring_every(disk, 4 * MIB, Duration::ZERO));
        let k = AccountKey::from_entropy([2; 16]);
        let a = k.account_id();
        let now = 1_700_000_000_000;
        let message = |n: u64| {
            let data = format!("{n:08}").repeat(4 * 1024).into_bytes();
            StoredMessage::new(a, Namespace::INBOX, data, now + n, 86_400_000)
        };
        let mut kept = Vec::new();
        let refused = loop {
            let m = message(u64::try_from(kept.len()).unwrap());
            match store.put(m.clone(), now).and_then(|_| store.flush()) {
                Ok(()) => kept.push((a, m.hash)),
                Err(e) => break e,
            }
            assert!(kept.len() < 1_000, "16 MiB never filled");
        };
        assert!(matches!(refused, StoreError::DiskFull { .. }), "{refused}");
        assert!(kept.len() > 10, "only {} stored", kept.len());
        let held = store.fetch(&kept, now).unwrap().messages;
        assert_eq!(
            held.len(),
            kept.len(),
            "everything acknowledged is readable"
        );
        let del =
            DeleteRequest::signed(&k, "test", Namespace::INBOX, vec![kept[0].1], now).unwrap();
        assert_eq!(store.delete(&del, now).unwrap().len(), 1);
        store.flush().unwrap();

        // What sled does past this point, with no watermark, is not tested:
        // on a full tmpfs it returned an I/O error (fatal, as wanted) in some
        // runs and blocked in `flush` in others. The watermark is what keeps
        // a node away from it.
    }

    #[test]
    fn statvfs_reads_the_temp_dir() {
        let dir = tempfile::tempdir().unwrap();
        let free = DiskFree::new(dir.path()).available().unwrap();
        assert!(free > 0);
        assert!(
            DiskFree::new(dir.path().join("missing"))
                .available()
                .is_err()
        );
    }
}
