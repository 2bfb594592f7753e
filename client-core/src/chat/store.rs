//! The local store: one sled database under the home directory, a tree per
//! kind of record, values encoded with postcard and (with a passphrase)
//! sealed. Keys are fixed-width byte strings so that prefixes and ranges work.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::Tree;

use super::ChatError;
use super::crypt::{SALT_LEN, Sealer};

/// The marker of a home whose values are sealed.
const SEALED: &[u8] = b"argon2id+xchacha20poly1305 v1";
/// The marker of a home whose values are not sealed.
const PLAIN: &[u8] = b"plain v1";
/// What the verifier record holds: a sealed value the passphrase must open.
const VERIFIER: &[u8] = b"sotto chat store verifier";
/// Most bytes one stored value may have; anything longer on disk is damage.
const MAX_VALUE_LEN: usize = 1 << 20;

/// The store and its trees.
pub(crate) struct Store {
    pub(crate) db: sled::Db,
    pub(crate) home: PathBuf,
    sealer: Sealer,
    /// Account key, name, settings, cursor, markers.
    pub(crate) meta: Tree,
    /// peer → contact record.
    pub(crate) contacts: Tree,
    /// peer ++ seq → message record.
    pub(crate) messages: Tree,
    /// content id → message key.
    pub(crate) msgidx: Tree,
    /// expires_at ++ message key → ().
    pub(crate) expiry: Tree,
    /// seq ++ content id → outbox item.
    pub(crate) outbox: Tree,
    /// peer → request record.
    pub(crate) requests: Tree,
    /// peer → ().
    pub(crate) blocked: Tree,
    /// peer → conversation record.
    pub(crate) convs: Tree,
    /// peer → verified code digits.
    pub(crate) verified: Tree,
    /// "h" ++ hash, "c" ++ sender ++ content id → first seen (ms).
    pub(crate) seen: Tree,
    /// seq → message key, of incoming messages `take_unseen` has not returned.
    pub(crate) unseen: Tree,
    /// peer → its sessions (messages v2).
    pub(crate) sessions: Tree,
    /// content id → what a message carries besides its text: an attachment
    /// (descriptor, caption, download state) or a location.
    pub(crate) extras: Tree,
    /// content id → (), attachments waiting to be fetched ahead.
    pub(crate) fetchq: Tree,
    /// "t" ++ peer → the peer's delivery token; "s" ++ peer → when this
    /// account's own token was last offered to the peer (ms).
    pub(crate) tokens: Tree,
    /// group id ++ seq → a group conversation's message.
    pub(crate) group_msgs: Tree,
    /// seq → the `group_msgs` key of an incoming group message no front
    /// end has shown yet.
    pub(crate) group_unseen: Tree,
    /// own group message id ++ reader → (), who read it (receipts on).
    pub(crate) group_reads: Tree,
    /// sender ++ hash of the Welcome → a group invitation from someone who
    /// is not a contact, waiting for the user to accept or decline it.
    pub(crate) group_invites: Tree,
}

/// How long an open waits for the store's lock. sled gives the lock back
/// only once its I/O threads have run the work a closed handle left them,
/// which on a loaded machine can be a moment after the handle is gone (a
/// home reopened in the same process, as a restart test does); a second
/// process holding the home keeps it, and is reported after this wait.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Opens the sled database of `home`, waiting up to [`LOCK_WAIT`] for its
/// lock.
fn open_db(home: &Path) -> Result<sled::Db, ChatError> {
    let deadline = std::time::Instant::now() + LOCK_WAIT;
    loop {
        match sled::Config::new().path(home.join("store")).open() {
            Ok(db) => return Ok(db),
            Err(sled::Error::Io(ref io)) if io.to_string().contains("could not acquire lock") => {
                if std::time::Instant::now() >= deadline {
                    return Err(ChatError::Locked {
                        home: home.to_path_buf(),
                    });
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(other) => return Err(ChatError::Store(other.to_string())),
        }
    }
}

/// Whether the home is being made or opened.
pub(crate) enum Mode {
    Create,
    Open,
}

impl Store {
    /// Opens (or creates) the store in `home`, unlocking it with `passphrase`.
    pub(crate) fn open(
        home: &Path,
        passphrase: Option<&str>,
        mode: Mode,
    ) -> Result<Self, ChatError> {
        let home = home.to_path_buf();
        if matches!(mode, Mode::Open) && !home.join("store").exists() {
            // Opening must not leave an empty store behind in a wrong path.
            return Err(ChatError::NoAccount { home });
        }
        std::fs::create_dir_all(&home)
            .map_err(|e| ChatError::Store(format!("cannot create {}: {e}", home.display())))?;
        restrict(&home);
        let db = open_db(&home)?;
        restrict(&home);
        let meta = db.open_tree("meta")?;
        let marker = meta.get("crypt")?;
        let sealer = match (marker, mode) {
            (None, Mode::Open) => return Err(ChatError::NoAccount { home }),
            (None, Mode::Create) => match passphrase {
                Some(p) => {
                    let salt = Sealer::new_salt();
                    let sealer = Sealer::derive(p, &salt)?;
                    meta.insert("salt", &salt[..])?;
                    meta.insert("verifier", sealer.seal(b"meta/verifier", VERIFIER)?)?;
                    meta.insert("crypt", SEALED)?;
                    sealer
                }
                None => {
                    meta.insert("crypt", PLAIN)?;
                    Sealer::Plain
                }
            },
            (Some(m), _) if m.as_ref() == SEALED => {
                let p = passphrase.ok_or(ChatError::WrongPassphrase)?;
                let salt = meta
                    .get("salt")?
                    .filter(|s| s.len() == SALT_LEN)
                    .ok_or_else(|| ChatError::Store("the store's salt is missing".into()))?;
                let sealer = Sealer::derive(p, &salt)?;
                let verifier = meta
                    .get("verifier")?
                    .ok_or_else(|| ChatError::Store("the store's verifier is missing".into()))?;
                match sealer.open(b"meta/verifier", &verifier) {
                    Some(v) if v.as_slice() == VERIFIER => sealer,
                    _ => return Err(ChatError::WrongPassphrase),
                }
            }
            (Some(m), _) if m.as_ref() == PLAIN => {
                if passphrase.is_some() {
                    tracing::warn!("this home has no passphrase; the one given is not used");
                }
                Sealer::Plain
            }
            (Some(_), _) => {
                return Err(ChatError::Store(
                    "the store was written by an unknown version of sotto".into(),
                ));
            }
        };
        let store = Store {
            contacts: db.open_tree("contacts")?,
            messages: db.open_tree("messages")?,
            msgidx: db.open_tree("msgidx")?,
            expiry: db.open_tree("expiry")?,
            outbox: db.open_tree("outbox")?,
            requests: db.open_tree("requests")?,
            blocked: db.open_tree("blocked")?,
            convs: db.open_tree("convs")?,
            verified: db.open_tree("verified")?,
            seen: db.open_tree("seen")?,
            unseen: db.open_tree("unseen")?,
            sessions: db.open_tree("sessions")?,
            extras: db.open_tree("extras")?,
            fetchq: db.open_tree("fetchq")?,
            tokens: db.open_tree("tokens")?,
            // "2": the record gained its id, arrival time and state.
            group_msgs: db.open_tree("group_msgs2")?,
            group_unseen: db.open_tree("group_unseen")?,
            group_invites: db.open_tree("group_invites")?,
            group_reads: db.open_tree("group_reads")?,
            meta,
            db,
            home,
            sealer,
        };
        store.flush()?;
        Ok(store)
    }

    /// Writes everything to disk and keeps the files private.
    pub(crate) fn flush(&self) -> Result<(), ChatError> {
        self.db.flush()?;
        restrict(&self.home);
        Ok(())
    }

    fn place(tree: &Tree, key: &[u8]) -> Vec<u8> {
        let name = tree.name();
        let mut p = Vec::with_capacity(name.len() + 1 + key.len());
        p.extend_from_slice(&name);
        p.push(b'/');
        p.extend_from_slice(key);
        p
    }

    /// Encodes (and seals) `value` for `key` of `tree`.
    pub(crate) fn encode<T: Serialize>(
        &self,
        tree: &Tree,
        key: &[u8],
        value: &T,
    ) -> Result<Vec<u8>, ChatError> {
        let plain = zeroize::Zeroizing::new(
            postcard::to_allocvec(value).map_err(|e| ChatError::Store(e.to_string()))?,
        );
        self.sealer.seal(&Self::place(tree, key), &plain)
    }

    /// Opens and decodes a stored value; damage is an error, never a panic.
    pub(crate) fn decode<T: DeserializeOwned>(
        &self,
        tree: &Tree,
        key: &[u8],
        stored: &[u8],
    ) -> Result<T, ChatError> {
        if stored.len() > MAX_VALUE_LEN {
            return Err(ChatError::Store("a stored value is too long".into()));
        }
        let plain = self
            .sealer
            .open(&Self::place(tree, key), stored)
            .ok_or_else(|| ChatError::Store("a stored value does not open".into()))?;
        postcard::from_bytes(&plain).map_err(|e| ChatError::Store(format!("a stored value: {e}")))
    }

    /// Stores `value` at `key`.
    pub(crate) fn put<T: Serialize>(
        &self,
        tree: &Tree,
        key: &[u8],
        value: &T,
    ) -> Result<(), ChatError> {
        tree.insert(key, self.encode(tree, key, value)?)?;
        Ok(())
    }

    /// The value at `key`.
    pub(crate) fn get<T: DeserializeOwned>(
        &self,
        tree: &Tree,
        key: &[u8],
    ) -> Result<Option<T>, ChatError> {
        match tree.get(key)? {
            Some(v) => self.decode(tree, key, &v).map(Some),
            None => Ok(None),
        }
    }

    /// Every value under `prefix`, in key order. Values that do not decode are
    /// skipped and logged, so one damaged record does not hide the rest.
    pub(crate) fn scan<T: DeserializeOwned>(
        &self,
        tree: &Tree,
        prefix: &[u8],
    ) -> Result<Vec<(sled::IVec, T)>, ChatError> {
        let mut out = Vec::new();
        for item in tree.scan_prefix(prefix) {
            let (k, v) = item?;
            match self.decode(tree, &k, &v) {
                Ok(t) => out.push((k, t)),
                Err(e) => {
                    tracing::warn!(tree = ?String::from_utf8_lossy(&tree.name()), "skipping a record: {e}")
                }
            }
        }
        Ok(out)
    }

    /// A fresh, increasing sequence number (survives restarts).
    pub(crate) fn next_seq(&self) -> Result<u64, ChatError> {
        Ok(self.db.generate_id()?)
    }
}

/// Makes the home and everything in it private to the user: directories 0700,
/// files 0600. sled creates files with the process's umask, so this runs after
/// every open and flush.
#[cfg(unix)]
pub(crate) fn restrict(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let set = |p: &Path, mode: u32| {
        if let Err(e) = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)) {
            tracing::warn!("cannot restrict {}: {e}", p.display());
        }
    };
    set(dir, 0o700);
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => restrict(&path),
            Ok(t) if t.is_file() => set(&path, 0o600),
            _ => {}
        }
    }
}

/// Other systems: nothing to do here.
#[cfg(not(unix))]
pub(crate) fn restrict(_dir: &Path) {}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_sealed_and_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path(), Some("pw"), Mode::Create).unwrap();
        s.put(&s.meta, b"x", &(7u32, "seven".to_string())).unwrap();
        let back: Option<(u32, String)> = s.get(&s.meta, b"x").unwrap();
        assert_eq!(back, Some((7, "seven".into())));
        // Raw bytes on disk are not the plain encoding.
        let raw = s.meta.get(b"x").unwrap().unwrap();
        assert!(!raw.windows(5).any(|w| w == b"seven"));
        s.meta.insert(b"y", &b"garbage"[..]).unwrap();
        assert!(s.get::<u32>(&s.meta, b"y").is_err());
        drop(s);
        assert!(matches!(
            Store::open(dir.path(), Some("nope"), Mode::Open),
            Err(ChatError::WrongPassphrase)
        ));
        assert!(matches!(
            Store::open(dir.path(), None, Mode::Open),
            Err(ChatError::WrongPassphrase)
        ));
        let s = Store::open(dir.path(), Some("pw"), Mode::Open).unwrap();
        assert_eq!(s.get::<(u32, String)>(&s.meta, b"x").unwrap().unwrap().0, 7);
    }

    #[test]
    fn second_open_is_locked_and_empty_home_has_no_account() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            Store::open(dir.path(), None, Mode::Open),
            Err(ChatError::NoAccount { .. })
        ));
        let _s = Store::open(dir.path(), None, Mode::Create).unwrap();
        assert!(matches!(
            Store::open(dir.path(), None, Mode::Open),
            Err(ChatError::Locked { .. })
        ));
    }
}
