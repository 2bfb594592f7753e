//! Guards: the two entry relays the client keeps using (DESIGN §7), so that
//! only they ever see its address, kept in `guards.toml` across runs. As in
//! Tor, a guard is replaced when it has served long enough or keeps failing,
//! not whenever one request fails: switching entry nodes often is what lets a
//! hostile node eventually become someone's entry.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rand::Rng;
use rand::seq::IndexedRandom;
use serde::{Deserialize, Serialize};
use sotto_protocol::time::DAY_MS;
use sotto_protocol::{NodeId, UnixMillis};

use super::select::{Candidate, compatible};

/// Guards kept (DESIGN §11).
pub const GUARD_COUNT: usize = 2;
/// How long a guard serves before it is rotated: about four weeks.
pub const GUARD_LIFETIME_MS: u64 = 28 * DAY_MS;
/// Failures in a row (unreachable, or a path through it could not be built)
/// after which a guard is replaced.
pub const GUARD_MAX_FAILURES: u32 = 3;
/// The name of the guard file in the client's state directory.
pub const GUARD_FILE: &str = "guards.toml";
/// The largest guard file read: a few guards take a few hundred bytes.
const MAX_FILE_LEN: u64 = 64 * 1024;

/// One guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guard {
    /// The node.
    pub node: NodeId,
    /// When it was chosen (Unix ms).
    pub chosen_at: UnixMillis,
    /// Failures in a row.
    pub failures: u32,
}

/// The guard file's shape.
#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardFile {
    #[serde(default)]
    guard: Vec<GuardEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardEntry {
    /// Node id as 64 hex digits.
    node: String,
    chosen_at: UnixMillis,
    failures: u32,
}

fn parse_hex_id(text: &str) -> Option<NodeId> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (o, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let s = std::str::from_utf8(pair).ok()?;
        *o = u8::from_str_radix(s, 16).ok()?;
    }
    Some(NodeId(out))
}

/// The client's guards, and where they are kept.
#[derive(Debug, Clone, Default)]
pub struct Guards {
    list: Vec<Guard>,
    file: Option<PathBuf>,
}

impl Guards {
    /// No guards, kept nowhere (a client without a state directory).
    pub fn in_memory() -> Self {
        Self::default()
    }

    /// The guards of `dir/guards.toml`. A missing file means no guards yet; a
    /// file that cannot be read or parsed is set aside (logged) and new guards
    /// are chosen, since a client must not stop working over it.
    pub fn load(dir: &Path) -> Self {
        let file = dir.join(GUARD_FILE);
        let list = match read_file(&file) {
            Ok(list) => list,
            Err(e) => {
                tracing::warn!("ignoring the guard file {}: {e}", file.display());
                Vec::new()
            }
        };
        Self {
            list,
            file: Some(file),
        }
    }

    /// Writes the guards to their file, if they have one: to a temporary file
    /// first, then renamed over the old one, so a crash leaves one or the
    /// other. Blocks on disk: call it from `spawn_blocking`.
    pub fn save(&self) -> std::io::Result<()> {
        let Some(file) = &self.file else {
            return Ok(());
        };
        let doc = GuardFile {
            guard: self
                .list
                .iter()
                .map(|g| GuardEntry {
                    node: g.node.to_string(),
                    chosen_at: g.chosen_at,
                    failures: g.failures,
                })
                .collect(),
        };
        let text = toml::to_string(&doc).map_err(std::io::Error::other)?;
        let tmp = file.with_extension("toml.tmp");
        write_private(&tmp, text.as_bytes())?;
        std::fs::rename(&tmp, file)
    }

    /// The guards, in slot order.
    pub fn list(&self) -> &[Guard] {
        &self.list
    }

    /// Whether `node` is one of the guards.
    pub fn contains(&self, node: &NodeId) -> bool {
        self.list.iter().any(|g| g.node == *node)
    }

    /// Drops guards that served [`GUARD_LIFETIME_MS`], failed
    /// [`GUARD_MAX_FAILURES`] times in a row, or left the directory (only
    /// judged when `pool` is not empty), then fills up to [`GUARD_COUNT`] with
    /// random nodes of `pool` not in `avoid`, each compatible with the others.
    /// Returns whether anything changed.
    pub fn refresh<R: Rng + ?Sized>(
        &mut self,
        rng: &mut R,
        now: UnixMillis,
        pool: &[Candidate],
        avoid: &HashSet<NodeId>,
        allow_same_subnet: bool,
    ) -> bool {
        let before = self.list.clone();
        self.list.retain(|g| {
            now.saturating_sub(g.chosen_at) < GUARD_LIFETIME_MS
                && g.chosen_at <= now.saturating_add(DAY_MS)
                && g.failures < GUARD_MAX_FAILURES
                && (pool.is_empty() || pool.iter().any(|c| c.node == g.node))
        });
        self.list.truncate(GUARD_COUNT);
        while self.list.len() < GUARD_COUNT {
            let held: Vec<&Candidate> = pool.iter().filter(|c| self.contains(&c.node)).collect();
            let fits: Vec<&Candidate> = pool
                .iter()
                .filter(|c| !avoid.contains(&c.node) && !self.contains(&c.node))
                .filter(|c| held.iter().all(|h| compatible(h, c, allow_same_subnet)))
                .collect();
            let Some(pick) = fits.choose(rng) else {
                break;
            };
            self.list.push(Guard {
                node: pick.node,
                chosen_at: now,
                failures: 0,
            });
        }
        self.list != before
    }

    /// Counts a failure of `node` if it is a guard; returns whether it is.
    pub fn failed(&mut self, node: &NodeId) -> bool {
        match self.list.iter_mut().find(|g| g.node == *node) {
            Some(g) => {
                g.failures = g.failures.saturating_add(1);
                true
            }
            None => false,
        }
    }

    /// Marks `node`, if it is a guard, to be replaced at the next refresh (its
    /// paths fail far more than the other guard's). Returns whether it is one.
    pub fn condemn(&mut self, node: &NodeId) -> bool {
        match self.list.iter_mut().find(|g| g.node == *node) {
            Some(g) => {
                g.failures = g.failures.max(GUARD_MAX_FAILURES);
                true
            }
            None => false,
        }
    }

    /// Clears the failures of `node` if it is a guard with any; returns
    /// whether that changed anything.
    pub fn succeeded(&mut self, node: &NodeId) -> bool {
        match self
            .list
            .iter_mut()
            .find(|g| g.node == *node && g.failures > 0)
        {
            Some(g) => {
                g.failures = 0;
                true
            }
            None => false,
        }
    }
}

fn read_file(file: &Path) -> Result<Vec<Guard>, String> {
    let meta = match std::fs::metadata(file) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.to_string()),
    };
    if meta.len() > MAX_FILE_LEN {
        return Err(format!(
            "{} bytes is too large for a guard file",
            meta.len()
        ));
    }
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let doc: GuardFile = toml::from_str(&text).map_err(|e| e.to_string())?;
    doc.guard
        .into_iter()
        .take(GUARD_COUNT)
        .map(|e| {
            Ok(Guard {
                node: parse_hex_id(&e.node)
                    .ok_or_else(|| format!("{:?} is not a node id", e.node))?,
                chosen_at: e.chosen_at,
                failures: e.failures,
            })
        })
        .collect()
}

/// Writes `bytes` to `path`, readable by the user only where the OS has
/// permissions (DESIGN §9: the client's files are 0600).
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    fn pool(n: u8) -> Vec<Candidate> {
        (0..n)
            .map(|i| Candidate {
                node: NodeId([i; 32]),
                subnets: vec![crate::directory::Subnet::V4([10, 0, i])],
            })
            .collect()
    }

    const NOW: UnixMillis = 1_700_000_000_000;

    #[test]
    fn guards_persist_across_loads() {
        let dir = tempfile::tempdir().unwrap();
        let mut g = Guards::load(dir.path());
        assert!(g.list().is_empty());
        let none = HashSet::new();
        assert!(g.refresh(&mut rand::rng(), NOW, &pool(6), &none, false));
        assert_eq!(g.list().len(), GUARD_COUNT);
        assert_ne!(g.list()[0].node, g.list()[1].node);
        g.failed(&g.list()[1].node.clone());
        g.save().unwrap();

        let again = Guards::load(dir.path());
        assert_eq!(again.list(), g.list());
        assert_eq!(again.list()[1].failures, 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(GUARD_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // Nothing to change: the same guards stay.
        let mut kept = again.clone();
        assert!(!kept.refresh(&mut rand::rng(), NOW + DAY_MS, &pool(6), &none, false));
        assert_eq!(kept.list(), g.list());
    }

    #[test]
    fn a_broken_guard_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(GUARD_FILE), "guard = 7\n").unwrap();
        assert!(Guards::load(dir.path()).list().is_empty());
        std::fs::write(
            dir.path().join(GUARD_FILE),
            "[[guard]]\nnode = \"zz\"\nchosen_at = 1\nfailures = 0\n",
        )
        .unwrap();
        assert!(Guards::load(dir.path()).list().is_empty());
    }

    #[test]
    fn guards_rotate_with_age_and_repeated_failure() {
        let none = HashSet::new();
        let mut rng = rand::rng();
        let mut g = Guards::in_memory();
        g.refresh(&mut rng, NOW, &pool(8), &none, false);
        let first = g.list().to_vec();

        // Failures below the limit keep a guard; reaching it replaces it.
        let bad = first[0].node;
        for _ in 0..GUARD_MAX_FAILURES - 1 {
            assert!(g.failed(&bad));
        }
        assert!(!g.refresh(&mut rng, NOW, &pool(8), &none, false));
        assert!(g.succeeded(&bad));
        for _ in 0..GUARD_MAX_FAILURES {
            g.failed(&bad);
        }
        let avoid: HashSet<NodeId> = [bad].into_iter().collect();
        assert!(g.refresh(&mut rng, NOW, &pool(8), &avoid, false));
        assert!(!g.contains(&bad));
        assert!(g.contains(&first[1].node));

        // Four weeks later both are replaced.
        let old = g.list().to_vec();
        assert!(g.refresh(&mut rng, NOW + GUARD_LIFETIME_MS, &pool(8), &none, false));
        assert!(
            old.iter()
                .all(|o| g.list().iter().all(|n| n.chosen_at != o.chosen_at))
        );
        assert_eq!(g.list().len(), GUARD_COUNT);

        // A guard that left the directory is replaced; an empty directory
        // (a failed fetch) replaces nothing.
        let gone = g.list()[0].node;
        let without: Vec<Candidate> = pool(8).into_iter().filter(|c| c.node != gone).collect();
        let mut g2 = g.clone();
        assert!(!g2.refresh(&mut rng, NOW + GUARD_LIFETIME_MS, &[], &none, false));
        assert!(g2.refresh(&mut rng, NOW + GUARD_LIFETIME_MS, &without, &none, false));
        assert!(!g2.contains(&gone));
    }
}
