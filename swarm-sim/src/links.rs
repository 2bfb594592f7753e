//! The simulator's network model: every node and client sits in a region
//! (drawn from the scenario's seed), and every connection one of them dials
//! gets the one-way delay of half the round trip between the two regions
//! (plus a client's last mile), a little seeded jitter, and a small loss
//! rate. `sotto_p2p::simlink` applies it to the memory transport, so
//! handshakes, relays, replication and long polls all pay it.

pub mod regions;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sotto_p2p::simlink::{Attached, Link, LinkModel, attach};

use regions::{REGIONS, pick, rtt_ms};

/// The name of the model with regions (the default).
pub const REGIONS_MODEL: &str = "regions";
/// The name of no model: links without delay or loss.
pub const NO_MODEL: &str = "none";

/// The scenario's `[latency]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LatencySettings {
    /// `"regions"` (default): the region model; `"none"`: links deliver at
    /// once, as libp2p's memory transport does.
    pub model: String,
    /// The chance that a chunk written to a connection is lost and sent
    /// again one retransmission timeout later (default 0.001).
    pub loss: f64,
    /// Each pair of endpoints' delay is off the table's by up to this
    /// fraction, either way (default 0.1).
    pub jitter: f64,
    /// One-way delay a client's own access link adds (home broadband or a
    /// phone's radio), ms (default 10; an assumption, not a measurement).
    pub client_access_ms: u64,
}

impl Default for LatencySettings {
    fn default() -> Self {
        Self {
            model: REGIONS_MODEL.into(),
            loss: 0.001,
            jitter: 0.1,
            client_access_ms: 10,
        }
    }
}

impl LatencySettings {
    /// Why these settings cannot run, if they cannot.
    pub fn problem(&self) -> Option<String> {
        if self.model != REGIONS_MODEL && self.model != NO_MODEL {
            return Some(format!(
                "latency.model must be \"{REGIONS_MODEL}\" or \"{NO_MODEL}\""
            ));
        }
        if !(0.0..=0.5).contains(&self.loss) {
            return Some("latency.loss must be 0 to 0.5".into());
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Some("latency.jitter must be 0 to 1".into());
        }
        if self.client_access_ms > 1_000 {
            return Some("latency.client_access_ms must be at most 1000".into());
        }
        None
    }

    /// Whether links are delayed at all.
    pub fn enabled(&self) -> bool {
        self.model == REGIONS_MODEL
    }
}

/// Which model ran, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct ModelSummary {
    /// `"regions"` or `"none"`.
    pub model: String,
    /// Where the round-trip figures come from.
    pub source: &'static str,
    /// Loss rate per chunk.
    pub loss: f64,
    /// Jitter fraction.
    pub jitter: f64,
    /// A client's access delay, ms one way.
    pub client_access_ms: u64,
    /// Nodes placed in each region (by region name).
    pub nodes_per_region: Vec<(String, usize)>,
    /// Clients placed in each region.
    pub clients_per_region: Vec<(String, usize)>,
}

/// Where the round trips come from (see [`regions`]).
pub const SOURCE: &str = "AWS inter-region average pings (Latency Between AWS Global Regions, \
                          2017); 2 ms within a region";

/// One placed endpoint.
#[derive(Debug, Clone, Copy)]
struct Place {
    region: usize,
    client: bool,
}

/// The region model of one run.
#[derive(Debug)]
pub struct RegionModel {
    seed: u64,
    settings: LatencySettings,
    places: Mutex<HashMap<u64, Place>>,
    connections: Mutex<u64>,
}

/// splitmix64 of `x`: a well-mixed hash for seeded draws.
pub fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl RegionModel {
    /// A model for a run with `seed`.
    pub fn new(seed: u64, settings: LatencySettings) -> Arc<RegionModel> {
        Arc::new(RegionModel {
            seed,
            settings,
            places: Mutex::new(HashMap::new()),
            connections: Mutex::new(0),
        })
    }

    /// The region node `index` sits in (a seeded draw).
    pub fn node_region(&self, index: usize) -> usize {
        pick(mix(self.seed ^ mix(index as u64)), |r| r.node_weight)
    }

    /// The region client `index` sits in (a seeded draw).
    pub fn client_region(&self, index: usize) -> usize {
        pick(mix(self.seed ^ mix(index as u64 | 1 << 40)), |r| {
            r.client_weight
        })
    }

    /// Places endpoint `endpoint` (node or client `index`) and attaches the
    /// model to it; the placement lasts while the guard lives.
    pub fn place(self: &Arc<Self>, endpoint: u64, index: usize, client: bool) -> Attached {
        let region = if client {
            self.client_region(index)
        } else {
            self.node_region(index)
        };
        self.places
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(endpoint, Place { region, client });
        attach(endpoint, self.clone())
    }

    /// Which model ran and how it spread the endpoints.
    pub fn summary(&self) -> ModelSummary {
        let places = self.places.lock().unwrap_or_else(|e| e.into_inner());
        let count = |client: bool| {
            REGIONS
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    let n = places
                        .values()
                        .filter(|p| p.client == client && p.region == i)
                        .count();
                    (r.name.to_string(), n)
                })
                .filter(|(_, n)| *n > 0)
                .collect()
        };
        ModelSummary {
            model: self.settings.model.clone(),
            source: SOURCE,
            loss: self.settings.loss,
            jitter: self.settings.jitter,
            client_access_ms: self.settings.client_access_ms,
            nodes_per_region: count(false),
            clients_per_region: count(true),
        }
    }
}

impl LinkModel for RegionModel {
    fn link(&self, from: u64, to: u64) -> Option<Link> {
        let (a, b) = {
            let places = self.places.lock().unwrap_or_else(|e| e.into_inner());
            (*places.get(&from)?, *places.get(&to)?)
        };
        let rtt = rtt_ms(a.region, b.region);
        // The same pair always gets the same jitter, either way round.
        let pair = mix(self.seed ^ mix(from.min(to)) ^ mix(from.max(to)).rotate_left(17));
        let unit = (pair >> 11) as f64 / (1u64 << 53) as f64;
        let jitter = 1.0 + self.settings.jitter * (2.0 * unit - 1.0);
        let access = [a, b]
            .iter()
            .filter(|p| p.client)
            .map(|_| self.settings.client_access_ms as f64)
            .sum::<f64>();
        let one_way_ms = rtt / 2.0 * jitter + access;
        let n = {
            let mut c = self.connections.lock().unwrap_or_else(|e| e.into_inner());
            *c += 1;
            *c
        };
        Some(Link {
            one_way: Duration::from_secs_f64(one_way_ms / 1000.0),
            loss: self.settings.loss,
            // Linux's smallest retransmission timeout (200 ms) past a round
            // trip, the usual first retransmission on a quiet connection.
            retransmit: Duration::from_secs_f64((200.0 + 2.0 * one_way_ms) / 1000.0),
            seed: mix(pair ^ n),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_follow_the_table_and_clients_pay_their_access() {
        let settings = LatencySettings {
            jitter: 0.0,
            ..LatencySettings::default()
        };
        let m = RegionModel::new(3, settings);
        let _a = m.place(9_100_000_001, 0, false);
        let _b = m.place(9_100_000_002, 1, false);
        let _c = m.place(9_100_000_003, 0, true);
        let (ra, rb, rc) = (m.node_region(0), m.node_region(1), m.client_region(0));
        let ab = m.link(9_100_000_001, 9_100_000_002).unwrap();
        assert_eq!(ab.one_way.as_secs_f64() * 1000.0, rtt_ms(ra, rb) / 2.0);
        let ca = m.link(9_100_000_003, 9_100_000_001).unwrap();
        let want = rtt_ms(rc, ra) / 2.0 + 10.0;
        assert!((ca.one_way.as_secs_f64() * 1000.0 - want).abs() < 1e-6);
        assert!(m.link(9_100_000_001, 77).is_none(), "unplaced far end");
        let s = m.summary();
        assert_eq!(s.nodes_per_region.iter().map(|(_, n)| n).sum::<usize>(), 2);
        assert_eq!(
            s.clients_per_region.iter().map(|(_, n)| n).sum::<usize>(),
            1
        );
    }

    #[test]
    fn placement_follows_the_seed() {
        let a = RegionModel::new(1, LatencySettings::default());
        let b = RegionModel::new(1, LatencySettings::default());
        let c = RegionModel::new(2, LatencySettings::default());
        let regions = |m: &RegionModel| (0..64).map(|i| m.node_region(i)).collect::<Vec<_>>();
        assert_eq!(regions(&a), regions(&b));
        assert_ne!(regions(&a), regions(&c));
        // A thousand nodes land in most regions.
        let spread: std::collections::HashSet<usize> =
            (0..1000).map(|i| a.node_region(i)).collect();
        assert!(spread.len() >= 6, "{spread:?}");
    }
}
