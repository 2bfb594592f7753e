//! `DIR/onion.key`: the node's onion keys (X25519), the current one and the
//! one before it, each with the window in which packets made for it are
//! accepted, and their rotation.

use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sotto_protocol::record::OnionKeyEntry;
use sotto_protocol::{NetworkParams, OnionSecret, UnixMillis};
use zeroize::Zeroizing;

use super::IdentityError;
use super::file::{parse_key_hex, read_secret, write_secret};

/// The file name of the onion keys in the data directory.
pub const ONION_KEY_FILE: &str = "onion.key";

/// At most this many onion keys are kept: the current one and the previous one,
/// which stays usable for the grace period after a rotation so that packets
/// built from an older record still open.
pub const MAX_KEPT_ONION_KEYS: usize = 2;

/// One onion key with its window.
#[derive(Clone, Debug)]
pub struct OnionKey {
    /// The secret (shared: the onion code peels with it while the identity
    /// may rotate it away).
    pub secret: Arc<OnionSecret>,
    /// Its public key and window, as published in the node record.
    pub entry: OnionKeyEntry,
}

impl OnionKey {
    /// A fresh key created at `now`, valid for one rotation plus the grace
    /// period: the longest window `SignedNodeRecord::verify` accepts.
    pub(super) fn fresh(now: UnixMillis, params: &NetworkParams) -> Self {
        let secret = OnionSecret::generate(&mut rand::rand_core::UnwrapErr(rand::rngs::SysRng));
        let window = params
            .onion_key_rotation_ms
            .saturating_add(params.onion_key_grace_ms);
        let entry = OnionKeyEntry {
            key: secret.public(),
            valid_from: now,
            valid_until: now.saturating_add(window),
        };
        Self {
            secret: Arc::new(secret),
            entry,
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnionText {
    #[serde(default)]
    key: Vec<OnionKeyText>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OnionKeyText {
    secret: String,
    valid_from: u64,
    valid_until: u64,
}

impl Drop for OnionKeyText {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret);
    }
}

/// Reads the onion keys of `path`, current (newest) first.
pub(super) fn read(path: &Path) -> Result<Vec<OnionKey>, IdentityError> {
    let text = read_secret(path)?;
    let parsed: OnionText = toml::from_str(&text).map_err(|e| IdentityError::Corrupt {
        path: path.to_path_buf(),
        reason: e.message().to_string(),
    })?;
    if parsed.key.is_empty() || parsed.key.len() > MAX_KEPT_ONION_KEYS {
        return Err(IdentityError::Corrupt {
            path: path.to_path_buf(),
            reason: format!(
                "{} keys is not 1 to {MAX_KEPT_ONION_KEYS}",
                parsed.key.len()
            ),
        });
    }
    let mut keys = Vec::with_capacity(parsed.key.len());
    for k in &parsed.key {
        if k.valid_from >= k.valid_until {
            return Err(IdentityError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("empty key window {}..{}", k.valid_from, k.valid_until),
            });
        }
        let bytes = parse_key_hex(path, "onion secret", &k.secret)?;
        let secret = OnionSecret::from_secret_bytes(*bytes);
        keys.push(OnionKey {
            entry: OnionKeyEntry {
                key: secret.public(),
                valid_from: k.valid_from,
                valid_until: k.valid_until,
            },
            secret: Arc::new(secret),
        });
    }
    keys.sort_by_key(|k| std::cmp::Reverse(k.entry.valid_from));
    Ok(keys)
}

/// Writes `keys` to `path` (0600, atomically).
pub(super) fn write(path: &Path, keys: &[OnionKey]) -> Result<(), IdentityError> {
    let body = OnionText {
        key: keys
            .iter()
            .map(|k| OnionKeyText {
                secret: hex::encode(&k.secret.to_secret_bytes()[..]),
                valid_from: k.entry.valid_from,
                valid_until: k.entry.valid_until,
            })
            .collect(),
    };
    let toml = Zeroizing::new(toml::to_string(&body).map_err(|e| IdentityError::Corrupt {
        path: path.to_path_buf(),
        reason: format!("cannot encode: {e}"),
    })?);
    let text = Zeroizing::new(format!(
        "# The onion keys of this Sotto node (current first). Keep them secret.\n{}",
        toml.as_str()
    ));
    write_secret(path, &text)
}

/// Whether `keys` are due for rotation at `now` (see [`rotated`]).
pub(super) fn rotation_due(keys: &[OnionKey], now: UnixMillis, params: &NetworkParams) -> bool {
    match keys.first() {
        Some(current) => {
            now >= current
                .entry
                .valid_from
                .saturating_add(params.onion_key_rotation_ms)
                || now >= current.entry.valid_until
        }
        None => true,
    }
}

/// The keys after a rotation check at `now`: unchanged (`None`) unless the
/// current key is a full rotation period old or has ended; then a fresh
/// current key plus the previous one if it has not ended.
///
/// A key whose window starts after `now` is not due: the node's clock stepped
/// back (an NTP correction, an operator's fix) past the moment the key was
/// made. Replacing it then would withdraw the key every directory knows, while
/// the new record, dated earlier than the last one, is ignored by every
/// directory until the clock passes the old date again, so no client could
/// reach the node in between. The relay accepts a packet for a key it holds
/// until the key's end, whatever its start.
pub(super) fn rotated(
    keys: &[OnionKey],
    now: UnixMillis,
    params: &NetworkParams,
) -> Option<Vec<OnionKey>> {
    if !rotation_due(keys, now, params) {
        return None;
    }
    let mut next = vec![OnionKey::fresh(now, params)];
    next.extend(
        keys.iter()
            .filter(|k| now < k.entry.valid_until)
            .take(MAX_KEPT_ONION_KEYS - 1)
            .cloned(),
    );
    Some(next)
}
