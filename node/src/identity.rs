//! The node's persistent keys in its data directory: the identity key with its
//! latest admission proof (`node.key`) and the rotating onion keys
//! (`onion.key`), and the signed node record made from them (DESIGN §4). The
//! identity key lasts; the admission proof is mined again for every position
//! epoch (`sotto_protocol::position::epoch`, the next one ahead of time); the
//! onion keys are replaced at every start of the node
//! ([`Identity::renew_onion_keys`] says why).
//!
//! Both files are mode 0600; a file that group or others can read is refused,
//! as ssh refuses a private key anyone else can read.

mod file;
mod keyfile;
mod onion;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use libp2p::Multiaddr;
use libp2p::multiaddr::Protocol;
use sotto_protocol::constants::{MAX_RECORD_ADDRS, PROTOCOL_VERSION};
use sotto_protocol::position::epoch;
use sotto_protocol::record::admission::{Admission, check_admission, mine_admission};
use sotto_protocol::record::{NodeRecord, SignedNodeRecord};
use sotto_protocol::{NetworkParams, NodeId, NodeKey, UnixMillis};

pub use keyfile::NODE_KEY_FILE;
use keyfile::NodeKeyFile;
pub use onion::{MAX_KEPT_ONION_KEYS, ONION_KEY_FILE, OnionKey};

/// Why the identity could not be made, read or used.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    /// The key file does not exist.
    #[error("{} not found: run `sotto-node init --data-dir {}` first", path.display(), dir_of(path).display())]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// `init` found an identity already there.
    #[error("{} already holds a node identity; pass --force to replace it (the node gets a new identity and position)", path.display())]
    Exists {
        /// The existing key file.
        path: PathBuf,
    },
    /// The key file may be read by group or others.
    #[error("{} has mode {mode:04o}, so others may read the node's secret key; run `chmod 600 {}`", path.display(), path.display())]
    Permissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file is not what this program writes.
    #[error("{} is corrupt: {reason}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// Reading or writing failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// None of the addresses can go into a record.
    #[error(
        "no address to announce: listening only on unspecified or unparsable addresses, \
         or (on a public network) only on loopback or private ones"
    )]
    NoAddresses,
    /// The record could not be made.
    #[error("cannot make the node record: {0}")]
    Record(#[from] sotto_protocol::Error),
    /// The node key is not usable as a libp2p identity (never for a key this
    /// program made).
    #[error("the node key is not a valid libp2p Ed25519 key")]
    Keypair,
}

impl IdentityError {
    fn io(path: &Path, source: std::io::Error) -> Self {
        IdentityError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Locks `m`, also after a panic elsewhere (the data stays consistent: every
/// change is one assignment).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn dir_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// A `Result` with an [`IdentityError`].
pub type Result<T> = std::result::Result<T, IdentityError>;

/// Admission proofs an identity keeps: the current epoch's and the next.
const KEPT_PROOFS: usize = 2;

/// The node's keys, loaded from its data directory. Shared as `Arc<Identity>`:
/// onion key rotation goes through an inner lock.
#[derive(Debug)]
pub struct Identity {
    dir: PathBuf,
    key: NodeKey,
    node_id: NodeId,
    network: String,
    /// Admission proofs held, by epoch: at most [`KEPT_PROOFS`], the latest
    /// last (the current epoch's and, near a boundary, the next one's).
    proofs: Mutex<Vec<Admission>>,
    keypair: libp2p::identity::Keypair,
    /// Current key first; at most [`MAX_KEPT_ONION_KEYS`].
    onion: Mutex<Vec<OnionKey>>,
}

impl Identity {
    /// Makes a new identity in `dir` (created with mode 0700 if needed): a
    /// fresh node key, its admission proof for `params` (this is the slow part
    /// on a network with a high difficulty) and a first onion key. Refuses if
    /// `dir` already holds a `node.key`.
    pub fn init(dir: &Path, params: &NetworkParams) -> Result<Identity> {
        let path = dir.join(NODE_KEY_FILE);
        if path.exists() {
            return Err(IdentityError::Exists { path });
        }
        Self::create(dir, params)
    }

    /// Like [`Identity::init`], but replaces an identity already in `dir`.
    pub fn init_replacing(dir: &Path, params: &NetworkParams) -> Result<Identity> {
        Self::create(dir, params)
    }

    fn create(dir: &Path, params: &NetworkParams) -> Result<Identity> {
        file::create_private_dir(dir)?;
        let key = NodeKey::generate(&mut rand::rand_core::UnwrapErr(rand::rngs::SysRng));
        let node_id = key.node_id();
        let epoch = epoch::epoch_for_record(&node_id, now_ms(), params.position_period_ms);
        let keyfile = NodeKeyFile {
            admission: mine_admission(&node_id, epoch, params.admission_difficulty),
            network: params.name.clone(),
            key,
        };
        keyfile.write(&dir.join(NODE_KEY_FILE))?;
        let onion_keys = vec![OnionKey::fresh(now_ms(), params)];
        onion::write(&dir.join(ONION_KEY_FILE), &onion_keys)?;
        Self::from_parts(dir, keyfile, onion_keys)
    }

    /// Loads the identity of `dir` for the network `params`. If the stored
    /// admission proof does not hold for this network now (the node moved to
    /// another network, its difficulty went up, or the node's position epoch
    /// is over), a new one is mined and saved. A missing `onion.key` is
    /// replaced by a fresh key.
    pub fn load(dir: &Path, params: &NetworkParams) -> Result<Identity> {
        let path = dir.join(NODE_KEY_FILE);
        let mut keyfile = NodeKeyFile::read(&path)?;
        let node_id = keyfile.key.node_id();
        let epoch = epoch::epoch_for_record(&node_id, now_ms(), params.position_period_ms);
        if keyfile.network != params.name
            || keyfile.admission.epoch != epoch
            || check_admission(&node_id, keyfile.admission, params.admission_difficulty).is_err()
        {
            tracing::info!(
                network = %params.name,
                difficulty = params.admission_difficulty,
                epoch,
                "mining the admission proof for this network and position epoch"
            );
            keyfile.admission = mine_admission(&node_id, epoch, params.admission_difficulty);
            keyfile.network = params.name.clone();
            keyfile.write(&path)?;
        }
        let onion_path = dir.join(ONION_KEY_FILE);
        let onion_keys = match onion::read(&onion_path) {
            Ok(keys) => keys,
            Err(IdentityError::Missing { .. }) => {
                tracing::info!("no onion key yet: making one");
                let keys = vec![OnionKey::fresh(now_ms(), params)];
                onion::write(&onion_path, &keys)?;
                keys
            }
            Err(e) => return Err(e),
        };
        Self::from_parts(dir, keyfile, onion_keys)
    }

    fn from_parts(dir: &Path, keyfile: NodeKeyFile, onion: Vec<OnionKey>) -> Result<Identity> {
        // libp2p wipes the copy it is given.
        let mut secret = *keyfile.key.to_secret_bytes();
        let keypair = libp2p::identity::Keypair::ed25519_from_bytes(&mut secret)
            .map_err(|_| IdentityError::Keypair)?;
        Ok(Identity {
            dir: dir.to_path_buf(),
            keypair,
            node_id: keyfile.key.node_id(),
            key: keyfile.key,
            network: keyfile.network,
            proofs: Mutex::new(vec![keyfile.admission]),
            onion: Mutex::new(onion),
        })
    }

    /// The node key.
    pub fn node_key(&self) -> &NodeKey {
        &self.key
    }

    /// The node id (its Ed25519 public key).
    pub fn node_id(&self) -> NodeId {
        self.node_id
    }

    /// The network the admission proof is for.
    pub fn network(&self) -> &str {
        &self.network
    }

    /// The latest admission proof held (the one `load` or `init` made, or
    /// one mined since, maybe ahead for the next epoch).
    pub fn admission(&self) -> Admission {
        let proofs = lock(&self.proofs);
        proofs.last().copied().unwrap_or_default()
    }

    /// The proof held for `epoch`, if it was mined.
    pub fn admission_for(&self, epoch: u64) -> Option<Admission> {
        lock(&self.proofs)
            .iter()
            .find(|p| p.epoch == epoch)
            .copied()
    }

    /// Keeps `proof` (mined by [`mine_admission`] for this node, maybe on
    /// another thread); the oldest beyond [`KEPT_PROOFS`] is forgotten. With
    /// `save`, it also becomes the proof in `node.key` (the one a restart in
    /// the same epoch uses; a proof mined ahead for the next epoch is not
    /// saved, or a restart before the boundary would mine the current one
    /// again).
    pub fn add_admission(&self, proof: Admission, save: bool) -> Result<()> {
        let mut proofs = lock(&self.proofs);
        if !proofs.contains(&proof) {
            proofs.push(proof);
            proofs.sort_by_key(|p| p.epoch);
            let excess = proofs.len().saturating_sub(KEPT_PROOFS);
            proofs.drain(..excess);
        }
        if save {
            keyfile::write(
                &self.dir.join(NODE_KEY_FILE),
                &self.key,
                &self.network,
                proof,
            )?;
        }
        Ok(())
    }

    /// The epoch a record made at `now` is for, and whether its proof is
    /// still to be mined.
    pub fn epoch_due(&self, now: UnixMillis, params: &NetworkParams) -> (u64, bool) {
        let epoch = epoch::epoch_for_record(&self.node_id, now, params.position_period_ms);
        (epoch, self.admission_for(epoch).is_none())
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The libp2p identity: the same Ed25519 key, so the node's `PeerId` is
    /// [`crate::directory::peer_id_of`] its node id.
    pub fn keypair(&self) -> libp2p::identity::Keypair {
        self.keypair.clone()
    }

    /// The libp2p peer id.
    pub fn peer_id(&self) -> libp2p::PeerId {
        self.keypair.public().to_peer_id()
    }

    /// The onion keys held now, current first.
    pub fn onion_secrets(&self) -> Vec<OnionKey> {
        self.onion_keys().clone()
    }

    fn onion_keys(&self) -> std::sync::MutexGuard<'_, Vec<OnionKey>> {
        lock(&self.onion)
    }

    /// Replaces every onion key by a fresh one made at `now`, and saves it. A
    /// starting node calls it (see `Node::start`): the replay filter that
    /// covered the keys on disk lived in the memory of the process before, so
    /// a packet sealed to one of them could be replayed now and make this node
    /// answer it a second time under the same reply key. A fresh key opens no
    /// packet made before the start; the record announced at start lists only
    /// it, and clients holding the old record get their packets refused (as
    /// for a node that is down) until they fetch the new one.
    pub fn renew_onion_keys(&self, now: UnixMillis, params: &NetworkParams) -> Result<()> {
        let mut keys = self.onion_keys();
        let fresh = vec![OnionKey::fresh(now, params)];
        onion::write(&self.dir.join(ONION_KEY_FILE), &fresh)?;
        *keys = fresh;
        Ok(())
    }

    /// Whether [`Identity::rotate_if_due`] would rotate at `now`: a check
    /// with no I/O, for callers that would otherwise hand the rotation to a
    /// blocking thread every time they look.
    pub fn rotation_due(&self, now: UnixMillis, params: &NetworkParams) -> bool {
        let keys = self.onion_keys();
        onion::rotation_due(&keys, now, params)
    }

    /// Makes a new current onion key if the current one is a rotation period
    /// old at `now` (or no key is valid at `now`), keeping the previous one
    /// for its grace period. Saves the keys before using them, so that the file
    /// always holds the keys in use (a restart replaces them all, see
    /// [`Identity::renew_onion_keys`]). Returns whether it rotated.
    pub fn rotate_if_due(&self, now: UnixMillis, params: &NetworkParams) -> Result<bool> {
        let mut keys = self.onion_keys();
        match onion::rotated(&keys, now, params) {
            None => Ok(false),
            Some(next) => {
                onion::write(&self.dir.join(ONION_KEY_FILE), &next)?;
                *keys = next;
                Ok(true)
            }
        }
    }

    /// The node's signed record at `now` for `params`, listing `addrs`
    /// (unspecified addresses left out, on public networks local ones too,
    /// `/p2p/…` stripped, at most [`MAX_RECORD_ADDRS`]) and the onion keys valid at `now`; the onion keys
    /// are rotated first if due. The record carries the admission proof of
    /// the position epoch due at `now` and expires with it; if that proof
    /// was not mined ahead ([`Identity::epoch_due`]), it is mined here, on
    /// the caller's thread.
    pub fn record(
        &self,
        params: &NetworkParams,
        addrs: &[Multiaddr],
        now: UnixMillis,
    ) -> Result<SignedNodeRecord> {
        self.rotate_if_due(now, params)?;
        let epoch = epoch::epoch_for_record(&self.node_id, now, params.position_period_ms);
        let admission = match self.admission_for(epoch) {
            Some(proof) => proof,
            None => {
                let proof = mine_admission(&self.node_id, epoch, params.admission_difficulty);
                self.add_admission(proof, true)?;
                proof
            }
        };
        let mut addrs = announceable(addrs);
        if !params.allow_same_subnet {
            // Others would refuse the whole record for one local address.
            addrs.retain(|a| sotto_protocol::record::netgroup::is_public(a));
        }
        if addrs.is_empty() {
            return Err(IdentityError::NoAddresses);
        }
        let onion_keys = self
            .onion_keys()
            .iter()
            // Every key not ended yet, also one that by a clock stepped back
            // starts "later" (onion::rotated says why it is kept).
            .filter(|k| now < k.entry.valid_until)
            .map(|k| k.entry)
            .collect();
        let record = NodeRecord {
            version: PROTOCOL_VERSION,
            network: params.name.clone(),
            node: self.node_id,
            addrs,
            onion_keys,
            issued_at: now,
            expires_at: epoch::record_expiry(
                &self.node_id,
                epoch,
                now,
                params.record_lifetime_ms,
                params.position_period_ms,
            ),
            admission,
        };
        Ok(record.sign(&self.key)?)
    }
}

/// The addresses worth putting in a record, as text: no unspecified IPs (no
/// one can dial 0.0.0.0), no `/p2p/…` suffix (the record names the node
/// already), no duplicates, at most [`MAX_RECORD_ADDRS`].
pub fn announceable(addrs: &[Multiaddr]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for addr in addrs {
        let unspecified = addr.iter().any(|p| match p {
            Protocol::Ip4(ip) => ip.is_unspecified(),
            Protocol::Ip6(ip) => ip.is_unspecified(),
            _ => false,
        });
        if unspecified {
            continue;
        }
        let stripped: Multiaddr = addr
            .iter()
            .filter(|p| !matches!(p, Protocol::P2p(_)))
            .collect();
        let text = stripped.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        out.push(text);
        if out.len() == MAX_RECORD_ADDRS {
            break;
        }
    }
    out
}

/// The system clock in Unix ms, for the first onion key's window (the running
/// node passes its own clock to [`Identity::record`] and rotation).
fn now_ms() -> UnixMillis {
    crate::clock::Clock::system().now()
}
