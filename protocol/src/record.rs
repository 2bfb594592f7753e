//! Signed node records: who a node is, where to reach it, its onion keys, for how
//! long, on which network, with its admission proof.
//!
//! A node describes itself in a [`NodeRecord`], signs it with its node key
//! ([`NodeRecord::sign`]) and publishes the [`SignedNodeRecord`]. Anyone holding
//! the network's parameters checks it with [`SignedNodeRecord::verify`], which
//! runs the cheap checks first (size, decoding, version, network, times, bounds,
//! the admission hash) and the Ed25519 verification last, so junk costs little.
//!
//! Nothing here reads a clock: the caller passes `now`.

pub mod admission;
pub mod netgroup;
pub mod shared_checks;

use serde::{Deserialize, Serialize};

use crate::codec::{self, bytes64};
use crate::constants::{
    KEY_LEN, MAX_ADDR_LEN, MAX_NETWORK_NAME_LEN, MAX_ONION_KEYS, MAX_RECORD_ADDRS, MAX_RECORD_LEN,
    MAX_RECORD_LIFETIME_MS, PROTOCOL_VERSION, RECORD_CLOCK_SKEW_MS, SIGNATURE_LEN,
};
use crate::error::{Error, Result};
use crate::id::NodeId;
use crate::keys::{self, NodeKey};
use crate::params::NetworkParams;
use crate::time::UnixMillis;

/// Domain string the node key signs in front of the record bytes, so a record
/// signature can never be mistaken for a signature over anything else.
pub const NODE_RECORD_DOMAIN: &[u8] = b"sotto node record v1";

/// One onion key (X25519 public key) and the window in which the node accepts
/// packets made for it: `valid_from <= t < valid_until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OnionKeyEntry {
    /// The X25519 public key.
    pub key: [u8; KEY_LEN],
    /// First moment the key may be used (Unix ms).
    pub valid_from: UnixMillis,
    /// First moment the key may no longer be used (Unix ms).
    pub valid_until: UnixMillis,
}

impl OnionKeyEntry {
    /// Whether the key may be used at `now`.
    pub fn is_valid_at(&self, now: UnixMillis) -> bool {
        self.valid_from <= now && now < self.valid_until
    }
}

/// What a node says about itself (DESIGN §4). Encoded with [`codec`] and signed
/// as a [`SignedNodeRecord`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeRecord {
    /// Wire version of the record, [`PROTOCOL_VERSION`].
    pub version: u16,
    /// The network this record is for ([`NetworkParams::name`]).
    pub network: String,
    /// The node's identity key; the record is signed by it.
    pub node: NodeId,
    /// Listen addresses as multiaddr text (`/ip4/…/tcp/…`). Only their shape is
    /// checked here (printable ASCII, bounded); the node crate parses them.
    pub addrs: Vec<String>,
    /// Onion keys with their validity windows: the current one, and the next or
    /// the previous one around a rotation.
    pub onion_keys: Vec<OnionKeyEntry>,
    /// When the record was made (Unix ms).
    pub issued_at: UnixMillis,
    /// When the record stops being valid (Unix ms); at most
    /// [`NetworkParams::record_lifetime_ms`] after `issued_at`.
    pub expires_at: UnixMillis,
    /// Admission proof for `node` in its current position epoch
    /// ([`admission`], [`crate::position::epoch`]); the node's position is
    /// derived from it.
    pub admission: admission::Admission,
}

impl NodeRecord {
    /// The network groups that keep its node apart from others in swarms
    /// ([`netgroup::swarm_groups`] of its addresses), on a network with
    /// `allow_same_subnet` as given.
    pub fn swarm_groups(&self, allow_same_subnet: bool) -> Vec<netgroup::NetGroup> {
        netgroup::swarm_groups(self.addrs.iter().map(String::as_str), allow_same_subnet)
    }

    /// Encodes and signs the record with `key`, which must be the key of
    /// [`NodeRecord::node`]. Refuses a record that [`SignedNodeRecord::verify`]
    /// would refuse for its shape (version, bounds, lifetime over 2 h); the
    /// network-dependent checks (name, lifetime limit, admission) are the
    /// verifier's.
    pub fn sign(&self, key: &NodeKey) -> Result<SignedNodeRecord> {
        if self.version != PROTOCOL_VERSION {
            return Err(version_error(self.version));
        }
        let signer = key.node_id();
        if self.node != signer {
            return Err(Error::OutOfRange {
                what: "node record",
                reason: format!(
                    "it is for node {}, but the signing key is node {}",
                    self.node.short(),
                    signer.short()
                ),
            });
        }
        self.check_bounds()?;
        let record = codec::encode("node record", self)?;
        if record.len() > MAX_RECORD_LEN {
            return Err(Error::TooLarge {
                what: "node record",
                len: record.len(),
                max: MAX_RECORD_LEN,
            });
        }
        let signature = key.sign(&signing_message(&record));
        Ok(SignedNodeRecord { record, signature })
    }

    /// Checks the shape of the record: a network name of 1 to
    /// [`MAX_NETWORK_NAME_LEN`] bytes; 1 to [`MAX_RECORD_ADDRS`] addresses, each
    /// 1 to [`MAX_ADDR_LEN`] bytes of printable ASCII without spaces; 1 to
    /// [`MAX_ONION_KEYS`] onion keys, each a usable X25519 key with a non-empty
    /// window; and `issued_at < expires_at` within [`MAX_RECORD_LIFETIME_MS`].
    pub fn check_bounds(&self) -> Result<()> {
        let bad = |what: &'static str, reason: String| Err(Error::OutOfRange { what, reason });
        if self.network.is_empty() || self.network.len() > MAX_NETWORK_NAME_LEN {
            return bad(
                "node record network name",
                format!(
                    "{} bytes is not 1 to {MAX_NETWORK_NAME_LEN}",
                    self.network.len()
                ),
            );
        }
        if self.addrs.is_empty() || self.addrs.len() > MAX_RECORD_ADDRS {
            return bad(
                "node record addresses",
                format!(
                    "{} addresses is not 1 to {MAX_RECORD_ADDRS}",
                    self.addrs.len()
                ),
            );
        }
        for addr in &self.addrs {
            if addr.is_empty() || addr.len() > MAX_ADDR_LEN {
                return bad(
                    "node record address",
                    format!("{} bytes is not 1 to {MAX_ADDR_LEN}", addr.len()),
                );
            }
            if !addr.bytes().all(|b| b.is_ascii_graphic()) {
                return bad(
                    "node record address",
                    format!("{addr:?} has a character outside printable ASCII"),
                );
            }
        }
        if self.onion_keys.is_empty() || self.onion_keys.len() > MAX_ONION_KEYS {
            return bad(
                "node record onion keys",
                format!(
                    "{} keys is not 1 to {MAX_ONION_KEYS}",
                    self.onion_keys.len()
                ),
            );
        }
        for entry in &self.onion_keys {
            if entry.valid_from >= entry.valid_until {
                return bad(
                    "onion key window",
                    format!("{}..{} ms is empty", entry.valid_from, entry.valid_until),
                );
            }
            if is_low_order_x25519(&entry.key) {
                return Err(Error::BadKey {
                    what: "onion key (low order X25519 point)",
                });
            }
        }
        match self.expires_at.checked_sub(self.issued_at) {
            Some(lifetime) if lifetime > 0 => {
                if lifetime > MAX_RECORD_LIFETIME_MS {
                    return bad(
                        "node record lifetime",
                        format!("{lifetime} ms is over the limit of {MAX_RECORD_LIFETIME_MS} ms"),
                    );
                }
            }
            _ => {
                return bad(
                    "node record lifetime",
                    format!(
                        "it expires at {} ms, not after it was issued at {} ms",
                        self.expires_at, self.issued_at
                    ),
                );
            }
        }
        Ok(())
    }

    /// The onion keys whose window contains `now`.
    pub fn onion_keys_valid_at(&self, now: UnixMillis) -> impl Iterator<Item = &OnionKeyEntry> {
        self.onion_keys.iter().filter(move |e| e.is_valid_at(now))
    }

    /// The onion key a client should build packets for at `now`: of the keys
    /// valid at `now`, the one that became valid last (on a tie, the later one in
    /// the list). `None` if no key is valid at `now`.
    pub fn current_onion_key(&self, now: UnixMillis) -> Option<[u8; KEY_LEN]> {
        self.onion_keys_valid_at(now)
            .max_by_key(|e| e.valid_from)
            .map(|e| e.key)
    }

    /// Whether the node should publish a fresh record: true when, `margin` ms from
    /// `now`, the record will have expired or no onion key in it will be valid.
    pub fn needs_reannounce(&self, now: UnixMillis, margin: u64) -> bool {
        let then = now.saturating_add(margin);
        self.expires_at <= then || self.current_onion_key(then).is_none()
    }
}

/// A node record as it travels: the exact encoded [`NodeRecord`] bytes that were
/// signed, and the node key's signature over them (with a domain string). Keeping
/// the signed bytes means verification never depends on re-encoding.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SignedNodeRecord {
    /// The encoded [`NodeRecord`].
    pub record: Vec<u8>,
    /// Ed25519 signature by the record's node key.
    #[serde(with = "bytes64")]
    pub signature: [u8; SIGNATURE_LEN],
}

impl SignedNodeRecord {
    /// Encodes the signed record for the wire.
    pub fn encode(&self) -> Result<Vec<u8>> {
        codec::encode("signed node record", self)
    }

    /// Decodes a signed record, refusing input over [`MAX_RECORD_LEN`] before
    /// reading it, and input that is not the one canonical encoding of its value
    /// ([`codec::decode`] checks), so a record that passes here has exactly one
    /// byte form and directories can compare records by bytes.
    /// Does not verify anything: call [`SignedNodeRecord::verify`].
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        codec::decode("signed node record", bytes, MAX_RECORD_LEN)
    }

    /// The node this record names, if its bytes decode and it has not expired
    /// at `now`. Verifies nothing: it is for finding what a directory already
    /// holds of that node, so that a byte-equal repeat (most of a pull, every
    /// echo of a gossiped record) is spared the signature check. An expired
    /// record names no node, so it goes through [`SignedNodeRecord::verify`]
    /// and is refused there.
    pub fn live_node_unverified(&self, now: UnixMillis) -> Option<NodeId> {
        codec::decode::<NodeRecord>("node record", &self.record, MAX_RECORD_LEN)
            .ok()
            .filter(|r| r.expires_at > now)
            .map(|r| r.node)
    }

    /// Checks the record against the network `params` at `now` and returns it:
    /// canonical encoding within [`MAX_RECORD_LEN`], version, network name,
    /// issued no later than [`RECORD_CLOCK_SKEW_MS`] after `now`, not expired,
    /// lifetime within the network's limit, bounds ([`NodeRecord::check_bounds`]),
    /// on networks that keep paths to distinct subnets only public addresses
    /// ([`netgroup::is_public`]), the admission proof's epoch (the record lies
    /// within it, [`crate::position::epoch::check_epoch`]), the proof at the
    /// network's difficulty, and last the signature by the record's own node
    /// key.
    pub fn verify(&self, params: &NetworkParams, now: UnixMillis) -> Result<NodeRecord> {
        self.verify_with(params, now, |signed, node| signed.check_signature(node))
    }

    /// [`SignedNodeRecord::verify`] with the last step, the signature check,
    /// left to `signature`, which must do what
    /// [`SignedNodeRecord::check_signature`] does (or find that it already
    /// did, for exactly these bytes).
    pub fn verify_with(
        &self,
        params: &NetworkParams,
        now: UnixMillis,
        signature: impl FnOnce(&SignedNodeRecord, &NodeId) -> Result<()>,
    ) -> Result<NodeRecord> {
        let what = "node record";
        let record: NodeRecord = codec::decode(what, &self.record, MAX_RECORD_LEN)?;
        if record.version != PROTOCOL_VERSION {
            return Err(version_error(record.version));
        }
        if record.network != params.name {
            return Err(Error::WrongNetwork {
                expected: params.name.clone(),
                found: record.network,
            });
        }
        check_times(&record, params, now)?;
        record.check_bounds()?;
        if !params.allow_same_subnet
            && let Some(addr) = record.addrs.iter().find(|a| !netgroup::is_public(a))
        {
            return Err(Error::OutOfRange {
                what: "node record address",
                reason: format!(
                    "{addr:?} cannot be reached from the internet (loopback, private or \
                     local); this network lists public addresses only"
                ),
            });
        }
        crate::position::epoch::check_epoch(
            &record.node,
            record.admission.epoch,
            record.issued_at,
            record.expires_at,
            params.position_period_ms,
        )?;
        admission::check_admission(&record.node, record.admission, params.admission_difficulty)?;
        signature(self, &record.node)?;
        Ok(record)
    }

    /// Checks the signature over the record's bytes by `node`'s key (the
    /// node the record names). One Ed25519 verification.
    pub fn check_signature(&self, node: &NodeId) -> Result<()> {
        keys::verify(
            "node record",
            node.as_bytes(),
            &signing_message(&self.record),
            &self.signature,
        )
    }
}

/// What the node key signs: [`NODE_RECORD_DOMAIN`] ‖ the encoded record.
fn signing_message(record: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(NODE_RECORD_DOMAIN.len() + record.len());
    message.extend_from_slice(NODE_RECORD_DOMAIN);
    message.extend_from_slice(record);
    message
}

/// The time checks of [`SignedNodeRecord::verify`].
fn check_times(record: &NodeRecord, params: &NetworkParams, now: UnixMillis) -> Result<()> {
    let not_valid = |what| Error::Expired {
        what,
        valid_from: record.issued_at,
        valid_until: record.expires_at,
        now,
    };
    if record.issued_at > now.saturating_add(RECORD_CLOCK_SKEW_MS) {
        return Err(not_valid(
            "node record (issued in the future: check the clocks of this machine and the node)",
        ));
    }
    if record.expires_at <= now {
        return Err(not_valid("node record (expired)"));
    }
    // An onion key window no longer than one rotation plus its grace period: a
    // relay remembers replay tags for as long as a key is valid, so an unbounded
    // window would make that memory unbounded too.
    let max_window = params
        .onion_key_rotation_ms
        .saturating_add(params.onion_key_grace_ms);
    for entry in &record.onion_keys {
        let window = entry.valid_until.saturating_sub(entry.valid_from);
        if window > max_window {
            return Err(Error::OutOfRange {
                what: "onion key window",
                reason: format!(
                    "{window} ms is over this network's rotation plus grace of {max_window} ms"
                ),
            });
        }
    }
    let limit = params.record_lifetime_ms.min(MAX_RECORD_LIFETIME_MS);
    match record.expires_at.checked_sub(record.issued_at) {
        Some(lifetime) if lifetime <= limit => Ok(()),
        Some(lifetime) => Err(Error::OutOfRange {
            what: "node record lifetime",
            reason: format!("{lifetime} ms is over this network's limit of {limit} ms"),
        }),
        None => Err(Error::OutOfRange {
            what: "node record lifetime",
            reason: "it expires before it was issued".into(),
        }),
    }
}

fn version_error(found: u16) -> Error {
    Error::Version {
        what: "node record",
        found,
        supported: PROTOCOL_VERSION,
    }
}

/// Encodings of the X25519 points of small order, with the top bit (which X25519
/// ignores) cleared: 0, 1, the two points of order 8, p − 1, p and p + 1
/// (p = 2^255 − 19). Agreement with any of them gives a result that does not
/// depend on the secret (all zeros), so a node publishing one would make every
/// packet to it readable by anyone. A table is much cheaper than a trial
/// scalar multiplication, and a test checks it against x25519-dalek.
const LOW_ORDER_X25519: [[u8; KEY_LEN]; 7] = [
    [0; KEY_LEN],
    {
        let mut one = [0; KEY_LEN];
        one[0] = 1;
        one
    },
    [
        0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
        0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
        0xb8, 0x00,
    ],
    [
        0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
        0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
        0x11, 0x57,
    ],
    p_plus(-1),
    p_plus(0),
    p_plus(1),
];

/// The little-endian encoding of p + `delta` (p = 2^255 − 19), for small `delta`.
const fn p_plus(delta: i8) -> [u8; KEY_LEN] {
    let mut out = [0xff; KEY_LEN];
    out[0] = (0xed_i16 + delta as i16) as u8;
    out[KEY_LEN - 1] = 0x7f;
    out
}

/// Whether `key` is a small-order X25519 point (in any of its encodings).
fn is_low_order_x25519(key: &[u8; KEY_LEN]) -> bool {
    let mut masked = *key;
    if let Some(top) = masked.last_mut() {
        *top &= 0x7f;
    }
    LOW_ORDER_X25519.contains(&masked)
}

#[cfg(test)]
mod tests;
