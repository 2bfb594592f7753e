//! The node's metrics, rendered in the Prometheus text format (version 0.0.4)
//! for `--metrics ADDR`.
//!
//! Counters and gauges are atomics; labelled families are small maps keyed by
//! `&'static str` labels, so their size is bounded by the code (every label
//! value is a constant: a request kind, an outcome, a rejection reason), never
//! by what peers send.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// A gauge: a value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicI64);

impl Gauge {
    /// Sets it.
    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed);
    }
    /// Sets it from a count.
    pub fn set_count(&self, v: usize) {
        self.set(i64::try_from(v).unwrap_or(i64::MAX));
    }
    /// Adds `d` (negative to subtract).
    pub fn add(&self, d: i64) {
        self.0.fetch_add(d, Ordering::Relaxed);
    }
    /// Reads it.
    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A counter: a value that only goes up.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.add(1);
    }
    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Reads it.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Counters labelled by up to two constant label values.
#[derive(Debug, Default)]
pub struct Family(Mutex<BTreeMap<(&'static str, &'static str), u64>>);

impl Family {
    /// Adds one to the counter of (`a`, `b`).
    pub fn inc(&self, a: &'static str, b: &'static str) {
        self.add(a, b, 1);
    }
    /// Adds `n` to the counter of (`a`, `b`).
    pub fn add(&self, a: &'static str, b: &'static str, n: u64) {
        if let Ok(mut m) = self.0.lock() {
            let c = m.entry((a, b)).or_default();
            *c = c.saturating_add(n);
        }
    }
    /// The counter of (`a`, `b`).
    pub fn get(&self, a: &'static str, b: &'static str) -> u64 {
        self.0
            .lock()
            .map(|m| m.get(&(a, b)).copied().unwrap_or(0))
            .unwrap_or(0)
    }
    /// The sum of every counter whose first label is `a`.
    pub fn sum_first(&self, a: &'static str) -> u64 {
        self.0
            .lock()
            .map(|m| m.iter().filter(|((x, _), _)| *x == a).map(|(_, v)| v).sum())
            .unwrap_or(0)
    }
    /// Every counter with its labels.
    pub fn snapshot(&self) -> Vec<((&'static str, &'static str), u64)> {
        self.0
            .lock()
            .map(|m| m.iter().map(|(k, v)| (*k, *v)).collect())
            .unwrap_or_default()
    }
}

/// Everything the node counts.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Verified, unexpired records in the directory.
    pub directory_nodes: Gauge,
    /// Peers with an open connection.
    pub connected_peers: Gauge,
    /// Messages held in the store: set from the store's counters when the
    /// node starts and after every change ([`Metrics::observe_store`]).
    pub stored_messages: Gauge,
    /// Bytes charged in the store (messages and tombstones), kept like
    /// `stored_messages`.
    pub stored_bytes: Gauge,
    /// Attachment chunks held, and the bytes they are charged (part of
    /// `stored_messages` and `stored_bytes`), kept like them.
    pub stored_chunks: Gauge,
    /// Bytes charged to attachment chunks.
    pub stored_chunk_bytes: Gauge,
    /// Items the purge skipped because a record of theirs is corrupt.
    pub store_corrupt_items: Counter,
    /// Replication pushes waiting to be retried.
    pub replication_backlog: Gauge,
    /// Client requests by (kind, outcome).
    pub requests: Family,
    /// Replication requests received, by (kind, outcome).
    pub node_requests: Family,
    /// Inputs refused before they were acted on, by (source, reason).
    pub rejected: Family,
    /// Replication pushes sent, by (kind, outcome).
    pub pushes: Family,
    /// Anti-entropy rounds run, by outcome.
    pub anti_entropy: Family,
    /// Messages pulled by anti-entropy.
    pub pulled_messages: Counter,
    /// Messages dropped because the node left their swarm (after the grace).
    pub handed_off_messages: Counter,
    /// Messages removed because they expired.
    pub purged_messages: Counter,
    /// Node records received, by outcome.
    pub records: Family,
    /// Onion packets this node received as a relay or destination, by
    /// (outcome, `_`).
    pub onion: Family,
    /// Serializes [`Metrics::observe_store`], so that the last reading set
    /// is the latest.
    store_reading: Mutex<()>,
}

impl Metrics {
    /// Sets `stored_messages` and `stored_bytes` from `store`'s counters. Called
    /// when the node starts and after every change to the store. Reading and
    /// setting happen under one lock: of two calls racing after two writes,
    /// the one that sets last also read last, so the gauges never stay behind
    /// the store. The counters are two small `meta` entries that sled keeps in
    /// memory; a failed read leaves the gauges as they were.
    pub fn observe_store(&self, store: &crate::store::Store) {
        let _one_at_a_time = match self.store_reading.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        match (store.message_count(), store.total_bytes()) {
            (Ok(messages), Ok(bytes)) => {
                self.stored_messages
                    .set(i64::try_from(messages).unwrap_or(i64::MAX));
                self.stored_bytes
                    .set(i64::try_from(bytes).unwrap_or(i64::MAX));
            }
            (Err(e), _) | (_, Err(e)) => {
                store.report(&e);
                tracing::warn!(error = %e, "could not read the store's totals");
            }
        }
        match store.chunk_usage() {
            Ok(u) => {
                self.stored_chunks
                    .set(i64::try_from(u.messages).unwrap_or(i64::MAX));
                self.stored_chunk_bytes
                    .set(i64::try_from(u.bytes).unwrap_or(i64::MAX));
            }
            Err(e) => {
                store.report(&e);
                tracing::warn!(error = %e, "could not read the store's chunk totals");
            }
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        gauge(
            &mut out,
            "sotto_directory_nodes",
            "Verified, unexpired node records in the directory.",
            &self.directory_nodes,
        );
        gauge(
            &mut out,
            "sotto_connected_peers",
            "Peers with an open connection.",
            &self.connected_peers,
        );
        gauge(
            &mut out,
            "sotto_stored_messages",
            "Messages held in the store.",
            &self.stored_messages,
        );
        gauge(
            &mut out,
            "sotto_stored_bytes",
            "Bytes charged in the store (data plus per-message overhead, and tombstones).",
            &self.stored_bytes,
        );
        gauge(
            &mut out,
            "sotto_stored_chunks",
            "Attachment chunks held in the store (part of sotto_stored_messages).",
            &self.stored_chunks,
        );
        gauge(
            &mut out,
            "sotto_stored_chunk_bytes",
            "Bytes charged to attachment chunks (part of sotto_stored_bytes).",
            &self.stored_chunk_bytes,
        );
        gauge(
            &mut out,
            "sotto_replication_backlog",
            "Replication pushes waiting to be retried.",
            &self.replication_backlog,
        );
        family(
            &mut out,
            "sotto_requests_total",
            "Client RPC requests handled.",
            ("kind", "outcome"),
            &self.requests,
        );
        family(
            &mut out,
            "sotto_node_requests_total",
            "Replication requests received from other nodes.",
            ("kind", "outcome"),
            &self.node_requests,
        );
        family(
            &mut out,
            "sotto_rejected_total",
            "Inputs refused before they were acted on.",
            ("source", "reason"),
            &self.rejected,
        );
        family(
            &mut out,
            "sotto_replication_pushes_total",
            "Replication pushes sent to swarm members.",
            ("kind", "outcome"),
            &self.pushes,
        );
        family(
            &mut out,
            "sotto_anti_entropy_rounds_total",
            "Anti-entropy rounds with a swarm member.",
            ("outcome", "_"),
            &self.anti_entropy,
        );
        counter(
            &mut out,
            "sotto_pulled_messages_total",
            "Messages pulled from swarm members by anti-entropy.",
            &self.pulled_messages,
        );
        counter(
            &mut out,
            "sotto_handed_off_messages_total",
            "Messages dropped after the node left their swarm and the grace period passed.",
            &self.handed_off_messages,
        );
        counter(
            &mut out,
            "sotto_purged_messages_total",
            "Messages removed because they expired.",
            &self.purged_messages,
        );
        counter(
            &mut out,
            "sotto_store_corrupt_items_total",
            "Due items the purge skipped because a record of theirs is corrupt.",
            &self.store_corrupt_items,
        );
        family(
            &mut out,
            "sotto_records_total",
            "Node records received.",
            ("outcome", "_"),
            &self.records,
        );
        family(
            &mut out,
            "sotto_onion_packets_total",
            "Onion packets received, by what became of them.",
            ("outcome", "_"),
            &self.onion,
        );
        out
    }
}

fn gauge(out: &mut String, name: &str, help: &str, g: &Gauge) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}",
        g.get()
    );
}

fn counter(out: &mut String, name: &str, help: &str, c: &Counter) {
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
        c.get()
    );
}

/// A family; a label named `_` is left out (one-label families).
fn family(out: &mut String, name: &str, help: &str, labels: (&str, &str), f: &Family) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for ((a, b), v) in f.snapshot() {
        if labels.1 == "_" {
            let _ = writeln!(out, "{name}{{{}=\"{a}\"}} {v}", labels.0);
        } else {
            let _ = writeln!(
                out,
                "{name}{{{}=\"{a}\",{}=\"{b}\"}} {v}",
                labels.0, labels.1
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::default();
        m.directory_nodes.set(5);
        m.requests.inc("store", "ok");
        m.requests.inc("store", "ok");
        m.anti_entropy.inc("ok", "");
        m.onion.inc("forwarded", "_");
        let text = m.render();
        assert!(
            text.contains("sotto_onion_packets_total{outcome=\"forwarded\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("# TYPE sotto_directory_nodes gauge\nsotto_directory_nodes 5\n"),
            "{text}"
        );
        assert!(
            text.contains("sotto_requests_total{kind=\"store\",outcome=\"ok\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("sotto_anti_entropy_rounds_total{outcome=\"ok\"} 1\n"),
            "{text}"
        );
        assert_eq!(m.requests.sum_first("store"), 2);
    }
}
