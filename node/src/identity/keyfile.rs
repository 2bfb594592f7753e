//! `DIR/node.key`: the node's identity key, the network its admission proof
//! was mined for and its latest admission proof (epoch and nonce).

use std::path::Path;

use serde::{Deserialize, Serialize};
use sotto_protocol::NodeKey;
use sotto_protocol::record::admission::Admission;
use zeroize::Zeroizing;

use super::IdentityError;
use super::file::{parse_key_hex, read_secret, write_secret};

/// The file name of the identity key in the data directory.
pub const NODE_KEY_FILE: &str = "node.key";

/// What `node.key` holds, as TOML.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct NodeKeyText {
    /// The Ed25519 secret key, 64 hex digits.
    secret: String,
    /// The network name the admission nonce was mined for.
    network: String,
    /// The position epoch of the proof (absent in files written before
    /// positions rotated: their proof is then mined again).
    #[serde(default)]
    admission_epoch: u64,
    /// The admission proof of the key for that network and epoch.
    admission_nonce: u64,
}

impl Drop for NodeKeyText {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

/// The contents of `node.key`, decoded.
pub(super) struct NodeKeyFile {
    pub(super) key: NodeKey,
    pub(super) network: String,
    pub(super) admission: Admission,
}

impl NodeKeyFile {
    /// Reads and decodes `path`.
    pub(super) fn read(path: &Path) -> Result<Self, IdentityError> {
        let text = read_secret(path)?;
        let parsed: NodeKeyText = toml::from_str(&text).map_err(|e| IdentityError::Corrupt {
            path: path.to_path_buf(),
            reason: e.message().to_string(),
        })?;
        let secret = parse_key_hex(path, "secret", &parsed.secret)?;
        Ok(Self {
            key: NodeKey::from_secret_bytes(&secret),
            network: parsed.network.clone(),
            admission: Admission::new(parsed.admission_epoch, parsed.admission_nonce),
        })
    }

    /// Encodes and writes it to `path` (0600, atomically).
    pub(super) fn write(&self, path: &Path) -> Result<(), IdentityError> {
        write(path, &self.key, &self.network, self.admission)
    }
}

/// Writes `node.key` at `path` (0600, atomically) from its parts.
pub(super) fn write(
    path: &Path,
    key: &NodeKey,
    network: &str,
    admission: Admission,
) -> Result<(), IdentityError> {
    let secret = key.to_secret_bytes();
    let body = NodeKeyText {
        secret: hex::encode(&secret[..]),
        network: network.to_string(),
        admission_epoch: admission.epoch,
        admission_nonce: admission.nonce,
    };
    let toml = Zeroizing::new(toml::to_string(&body).map_err(|e| IdentityError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("cannot encode: {e}"),
    })?);
    let text = Zeroizing::new(format!(
        "# The identity of this Sotto node. Keep it secret: whoever holds it can\n\
         # impersonate the node. Losing it gives the node a new identity and position.\n{}",
        toml.as_str()
    ));
    write_secret(path, &text)
}
