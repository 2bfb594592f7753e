//! The node's persistent keys in its data directory: the identity key with its
//! admission proof (`node.key`) and the rotating onion keys (`onion.key`), and
//! the signed node record made from them (DESIGN §4). The identity key lasts;
//! the onion keys are replaced at every start of the node
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
use sotto_protocol::record::admission::{check_admission, mine_admission};
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

fn dir_of(path: &Path) -> &Path {
    path.parent().unwrap_or(Path::new("."))
}

/// A `Result` with an [`IdentityError`].
pub type Result<T> = std::result::Result<T, IdentityError>;

/// The node's keys, loaded from its data directory. Shared as `Arc<Identity>`:
/// onion key rotation goes through an inner lock.
#[derive(Debug)]
pub struct Identity {
    dir: PathBuf,
    key: NodeKey,
    node_id: NodeId,
    network: String,
    admission_nonce: u64,
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
        let keyfile = NodeKeyFile {
            admission_nonce: mine_admission(&node_id, params.admission_difficulty),
            network: params.name.clone(),
            key,
        };
        keyfile.write(&dir.join(NODE_KEY_FILE))?;
        let onion_keys = vec![OnionKey::fresh(now_ms(), params)];
        onion::write(&dir.join(ONION_KEY_FILE), &onion_keys)?;
        Self::from_parts(dir, keyfile, onion_keys)
    }

    /// Loads the identity of `dir` for the network `params`. If the stored
    /// admission proof does not hold for this network (the node moved to
    /// another network or its difficulty went up), a new one is mined and
    /// saved. A missing `onion.key` is replaced by a fresh key.
    pub fn load(dir: &Path, params: &NetworkParams) -> Result<Identity> {
        let path = dir.join(NODE_KEY_FILE);
        let mut keyfile = NodeKeyFile::read(&path)?;
        let node_id = keyfile.key.node_id();
        if keyfile.network != params.name
            || check_admission(
                &node_id,
                keyfile.admission_nonce,
                params.admission_difficulty,
            )
            .is_err()
        {
            tracing::info!(
                network = %params.name,
                difficulty = params.admission_difficulty,
                "mining a new admission proof for this network"
            );
            keyfile.admission_nonce = mine_admission(&node_id, params.admission_difficulty);
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
            admission_nonce: keyfile.admission_nonce,
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

    /// The admission proof.
    pub fn admission_nonce(&self) -> u64 {
        self.admission_nonce
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
        match self.onion.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
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
    /// are rotated first if due.
    pub fn record(
        &self,
        params: &NetworkParams,
        addrs: &[Multiaddr],
        now: UnixMillis,
    ) -> Result<SignedNodeRecord> {
        self.rotate_if_due(now, params)?;
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
            expires_at: now.saturating_add(params.record_lifetime_ms),
            admission_nonce: self.admission_nonce,
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
