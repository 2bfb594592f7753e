//! Network parameters: the numbers every node of one network must share, with
//! defaults, bounds and the named presets `devnet` and `public`.

use serde::{Deserialize, Serialize};

use crate::constants::{
    DEFAULT_TTL_MS, MAX_NETWORK_NAME_LEN, MAX_RECORD_LIFETIME_MS, MAX_SWARM_SIZE, MAX_TTL_MS,
    MIN_TTL_MS,
};
use crate::error::{Error, Result};
use crate::time::{DAY_MS, HOUR_MS, MINUTE_MS};

/// Parameters of one Sotto network. Nodes refuse records and connections from
/// another network (the name is in every record and every libp2p protocol name).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkParams {
    /// Network name, `[a-z0-9-]`, at most 32 characters. Part of every protocol
    /// name, so two networks never mix.
    pub name: String,
    /// Nodes in each account's swarm (R). Default 5: Oxen's minimum swarm size;
    /// Session runs 5–10.
    pub swarm_size: u8,
    /// Swarm members (counting the entry node) that must hold a message before a
    /// store is acknowledged. Default 2.
    pub store_quorum: u8,
    /// Leading zero bits the admission proof of a node key must have. Each extra
    /// bit doubles the work of placing a node; 0 for tests, 26 for the public
    /// network (about 8.5 s of one core per proof, one proof per position
    /// epoch).
    pub admission_difficulty: u8,
    /// How long a node's position lasts before it needs a new admission proof
    /// and moves (`position::epoch`), ms; 0 keeps positions for as long as
    /// the key (devnets). Public: one day. At least 4 record lifetimes.
    pub position_period_ms: u64,
    /// Whether the network is local: a path may use several relays from one
    /// network group (IPv4 /24, IPv6 /48, see `record::netgroup`), and records
    /// may list loopback and private addresses. Only devnets on loopback or a
    /// LAN need this; a public network refuses records with such addresses.
    pub allow_same_subnet: bool,
    /// Lifetime of a node record, at most 2 h.
    pub record_lifetime_ms: u64,
    /// How often a node makes a new onion key.
    pub onion_key_rotation_ms: u64,
    /// How long a node still accepts packets under its previous onion key.
    pub onion_key_grace_ms: u64,
    /// TTL a client uses when it does not choose one.
    pub default_ttl_ms: u64,
    /// How long a node keeps data for accounts it no longer serves, after a
    /// directory change, before dropping it.
    pub handoff_grace_ms: u64,
}

impl Default for NetworkParams {
    fn default() -> Self {
        Self::public()
    }
}

impl NetworkParams {
    /// The public network.
    pub fn public() -> Self {
        Self {
            name: "sotto".into(),
            swarm_size: 5,
            store_quorum: 2,
            admission_difficulty: 26,
            position_period_ms: DAY_MS,
            allow_same_subnet: false,
            record_lifetime_ms: MAX_RECORD_LIFETIME_MS,
            onion_key_rotation_ms: DAY_MS,
            onion_key_grace_ms: HOUR_MS,
            default_ttl_ms: DEFAULT_TTL_MS,
            handoff_grace_ms: HOUR_MS,
        }
    }

    /// A local development network: no admission work, positions that do not
    /// rotate (so a test never sees a node move unless it sets a period),
    /// same-subnet paths allowed (everything is on 127.0.0.1), short handoff
    /// grace so tests see data move.
    pub fn devnet() -> Self {
        Self {
            name: "devnet".into(),
            admission_difficulty: 0,
            position_period_ms: 0,
            allow_same_subnet: true,
            handoff_grace_ms: MINUTE_MS,
            ..Self::public()
        }
    }

    /// A preset by name: `public` or `devnet`.
    pub fn preset(name: &str) -> Result<Self> {
        match name {
            "public" | "sotto" => Ok(Self::public()),
            "devnet" => Ok(Self::devnet()),
            other => Err(Error::OutOfRange {
                what: "network preset",
                reason: format!("unknown preset {other:?}; use \"public\", \"devnet\" or a file"),
            }),
        }
    }

    /// Checks every value is within the bounds the protocol allows.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &'static str, reason: String| Err(Error::OutOfRange { what, reason });
        if self.name.is_empty()
            || self.name.len() > MAX_NETWORK_NAME_LEN
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return bad(
                "network name",
                format!("{:?} must be 1-32 characters of a-z, 0-9 and -", self.name),
            );
        }
        if !(1..=MAX_SWARM_SIZE as u8).contains(&self.swarm_size) {
            return bad(
                "swarm_size",
                format!("{} is not in 1..={MAX_SWARM_SIZE}", self.swarm_size),
            );
        }
        if self.store_quorum == 0 || self.store_quorum > self.swarm_size {
            return bad(
                "store_quorum",
                format!(
                    "{} is not in 1..=swarm_size ({})",
                    self.store_quorum, self.swarm_size
                ),
            );
        }
        if self.admission_difficulty > 32 {
            return bad(
                "admission_difficulty",
                format!("{} is over 32 bits", self.admission_difficulty),
            );
        }
        if self.record_lifetime_ms < MINUTE_MS || self.record_lifetime_ms > MAX_RECORD_LIFETIME_MS {
            return bad(
                "record_lifetime_ms",
                format!(
                    "{} is not between 1 minute and 2 hours",
                    self.record_lifetime_ms
                ),
            );
        }
        if self.position_period_ms != 0
            && self.position_period_ms < self.record_lifetime_ms.saturating_mul(4)
        {
            return bad(
                "position_period_ms",
                format!(
                    "{} is neither 0 (no rotation) nor at least 4 record lifetimes ({} ms)",
                    self.position_period_ms,
                    self.record_lifetime_ms.saturating_mul(4)
                ),
            );
        }
        if self.onion_key_rotation_ms < MINUTE_MS {
            return bad("onion_key_rotation_ms", "is under a minute".into());
        }
        if self.onion_key_grace_ms > self.onion_key_rotation_ms {
            return bad(
                "onion_key_grace_ms",
                "is longer than the rotation period (only one previous key is kept)".into(),
            );
        }
        if !(MIN_TTL_MS..=MAX_TTL_MS).contains(&self.default_ttl_ms) {
            return bad(
                "default_ttl_ms",
                format!("{} is not between 10 s and 30 days", self.default_ttl_ms),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_valid_and_differ_where_they_should() {
        let public = NetworkParams::preset("public").unwrap();
        let devnet = NetworkParams::preset("devnet").unwrap();
        public.validate().unwrap();
        devnet.validate().unwrap();
        assert_eq!(devnet.admission_difficulty, 0);
        assert_eq!(devnet.position_period_ms, 0);
        assert_eq!(public.position_period_ms, DAY_MS);
        assert!(devnet.allow_same_subnet);
        assert!(!public.allow_same_subnet);
        assert_ne!(public.name, devnet.name);
        assert!(NetworkParams::preset("mainnet").is_err());
    }

    #[test]
    fn bounds_are_enforced() {
        let mut p = NetworkParams::devnet();
        p.store_quorum = p.swarm_size + 1;
        assert!(p.validate().is_err());
        let mut p = NetworkParams::devnet();
        p.name = "Dev Net".into();
        assert!(p.validate().is_err());
        let mut p = NetworkParams::devnet();
        p.record_lifetime_ms = 3 * HOUR_MS;
        assert!(p.validate().is_err());
        let mut p = NetworkParams::devnet();
        p.default_ttl_ms = 1;
        assert!(p.validate().is_err());
        // A position period shorter than 4 record lifetimes could not hold a
        // record and its successor.
        let mut p = NetworkParams::devnet();
        p.position_period_ms = 4 * p.record_lifetime_ms - 1;
        assert!(p.validate().is_err());
        p.position_period_ms = 4 * p.record_lifetime_ms;
        p.validate().unwrap();
    }
}
