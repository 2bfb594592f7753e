//! The run's report: report.json, a table on stdout, and the SVG charts.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::SimError;
use crate::attack::AttackCounts;
use crate::faults::Applied;
use crate::groups::GroupFigures;
use crate::ledger::{ClientFigures, Counts, Delivery, FloodCounts};
use crate::links::ModelSummary;
use crate::positions::PositionFigures;
use crate::replication::Replication;
use crate::scenario::{GroupMeasured, Measured, Scenario, Verdict};
use crate::svg::{self, Band, Marker};
use crate::sybil::SybilFigures;

/// What a run measured, before it is summarised.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Final counts.
    pub counts: Counts,
    /// Each client's share of the schedule.
    pub per_client: Vec<ClientFigures>,
    /// The flood's counts, if the scenario has one.
    pub flood: Option<FloodCounts>,
    /// The attack's counts, if the scenario has one.
    pub attack: Option<AttackCounts>,
    /// The `sybil` attacker's figures, if the scenario has one.
    pub sybil: Option<SybilFigures>,
    /// What moved, if node positions rotate.
    pub positions: Option<PositionFigures>,
    /// Each first delivery.
    pub deliveries: Vec<Delivery>,
    /// The network model that ran, if links were delayed.
    pub network_model: Option<ModelSummary>,
    /// Replication at the end.
    pub replication: Replication,
    /// The faults as applied.
    pub faults: Vec<Applied>,
    /// Nodes running at the end.
    pub nodes_at_end: usize,
    /// The group's figures, if the scenario has a `[groups]`.
    pub groups: Option<GroupFigures>,
    /// Wall time of the whole run, setup included.
    pub wall_s: f64,
    /// From the last node started to every directory complete.
    pub directories_s: f64,
}

/// Latency percentiles, ms from the start of a send to the recipient's app.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

/// The honest clients' figures in a run with an attack.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Honest {
    /// Their messages lost.
    pub lost: u64,
    /// Their messages delivered.
    pub delivered: u64,
    /// Their delivery latency.
    pub latency_ms: Latency,
}

/// Deliveries within one phase of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Phase {
    /// What the phase is.
    pub name: String,
    /// Its start, ms from the start of sending.
    pub from_ms: u64,
    /// Its end (exclusive); `None` for the last phase.
    pub to_ms: Option<u64>,
    /// First deliveries in it.
    pub delivered: u64,
}

/// The report of one run (report.json).
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The scenario's name.
    pub scenario: String,
    /// The seed used.
    pub seed: u64,
    /// Nodes at the start.
    pub nodes: usize,
    /// Nodes running at the end.
    pub nodes_at_end: usize,
    /// Clients.
    pub clients: usize,
    /// Sends started.
    pub messages_sent: u64,
    /// Sends acknowledged (`Stored`).
    pub messages_acked: u64,
    /// Messages delivered to the recipient's app.
    pub messages_delivered: u64,
    /// Acknowledged but never delivered.
    pub lost: u64,
    /// Deliveries to the app of a message it already had.
    pub duplicates: u64,
    /// Envelopes that named no message of this run.
    pub strays: u64,
    /// Delivery latency of every delivered message.
    pub latency_ms: Latency,
    /// Delivery latency of the messages whose recipient was online from the
    /// send to the delivery (what a person with the app open waits).
    pub latency_online_ms: Latency,
    /// The network model on the links (`None`: links delivered at once).
    pub network_model: Option<ModelSummary>,
    /// Replication at the end.
    pub replication: Replication,
    /// `VmHWM` of this process, MB (all nodes and clients share it).
    pub peak_rss_mb: Option<f64>,
    /// Deliveries by phase (split at fault times and at the end of sending).
    pub phases: Vec<Phase>,
    /// The faults as applied.
    pub faults: Vec<Applied>,
    /// Each client's share of the schedule (flood messages not included).
    pub per_client: Vec<ClientFigures>,
    /// What became of the flood's stores, if the scenario has one.
    pub flood: Option<FloodCounts>,
    /// The figures of the clients that are not the attacker (the schedule's:
    /// the attacker is left out of it), when the scenario has an attack.
    pub honest: Option<Honest>,
    /// What the attacker tried and what the nodes refused, by reason.
    pub attack: Option<AttackCounts>,
    /// What a share of hostile nodes saw, dropped and could steer
    /// (`[sybil]` scenarios).
    pub sybil: Option<SybilFigures>,
    /// Nodes that moved to a new position epoch and clients' swarms that
    /// changed over the run, when positions rotate.
    pub positions: Option<PositionFigures>,
    /// The group's messages, deliveries and latency (`[groups]` scenarios).
    pub groups: Option<GroupFigures>,
    /// Wall time, setup included.
    pub wall_s: f64,
    /// Seconds from the last node started to every node's directory holding
    /// every node (the scale scenario's "directories complete" figure).
    pub directories_s: f64,
    /// Whether the nodes and clients shared the record signatures they found good
    /// (`swarm-sim run` without `--own-checks`;
    /// `sotto_protocol::record::shared_checks`).
    pub shared_signature_checks: bool,
    /// The scenario's pass criteria against this run, in the order of its
    /// `[check]` table (empty when it has none).
    pub checks: Vec<Verdict>,
    /// How long the run was meant to last: sending and drain, ms (for the
    /// charts).
    #[serde(skip)]
    pub planned_ms: u64,
    /// When clients were away (for the charts).
    #[serde(skip)]
    pub away: Vec<Band>,
    /// Each delivery; for the charts, not written to report.json.
    #[serde(skip)]
    pub deliveries: Vec<Delivery>,
}

/// The value at fraction `q` of sorted `v` (nearest rank).
fn percentile(v: &[u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v.get(rank - 1).copied().unwrap_or(0)
}

impl Latency {
    /// The percentiles of `v`.
    pub fn of(mut v: Vec<u64>) -> Latency {
        v.sort_unstable();
        Latency {
            p50: percentile(&v, 0.50),
            p95: percentile(&v, 0.95),
            p99: percentile(&v, 0.99),
            max: v.last().copied().unwrap_or(0),
        }
    }
}

/// Whether `d`'s recipient was online from the send to the delivery.
fn online_throughout(s: &Scenario, d: &Delivery) -> bool {
    let sent = d.at_ms.saturating_sub(d.latency_ms);
    !s.offline
        .iter()
        .any(|o| o.client == d.to && o.from_s * 1000 <= d.at_ms && sent < o.to_s * 1000)
}

/// The peak resident set of this process, from /proc (Linux only).
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some((kb / 1024.0 * 10.0).round() / 10.0)
}

fn phases(s: &Scenario, faults: &[Applied], deliveries: &[Delivery]) -> Vec<Phase> {
    let mut cuts: Vec<(u64, String)> = faults
        .iter()
        .map(|f| (f.at_ms, format!("after {} {:?}", f.kind, f.nodes)))
        .collect();
    for o in &s.offline {
        cuts.push((o.from_s * 1000, format!("client {} offline", o.client)));
        cuts.push((o.to_s * 1000, format!("client {} back", o.client)));
    }
    cuts.push((s.duration_s * 1000, "drain".into()));
    cuts.sort_by_key(|c| c.0);
    let mut out = vec![Phase {
        name: "start".into(),
        from_ms: 0,
        to_ms: None,
        delivered: 0,
    }];
    for (at, name) in cuts {
        if let Some(last) = out.last_mut() {
            last.to_ms = Some(at);
        }
        out.push(Phase {
            name,
            from_ms: at,
            to_ms: None,
            delivered: 0,
        });
    }
    for d in deliveries {
        if let Some(p) = out.iter_mut().rev().find(|p| p.from_ms <= d.at_ms) {
            p.delivered += 1;
        }
    }
    out
}

impl Report {
    /// Summarises a run.
    pub fn new(s: &Scenario, o: Outcome) -> Report {
        let latency_ms = Latency::of(o.deliveries.iter().map(|d| d.latency_ms).collect());
        let latency_online_ms = Latency::of(
            o.deliveries
                .iter()
                .filter(|d| online_throughout(s, d))
                .map(|d| d.latency_ms)
                .collect(),
        );
        let checks = s.check.evaluate(&Measured {
            lost: o.counts.lost,
            duplicates: o.counts.duplicates,
            strays: o.counts.strays,
            p99_latency_ms: latency_ms.p99,
            replication: o.replication.fraction,
            flood_refused: o.flood.as_ref().map(|f| f.rate_limited + f.over_quota),
            sybil_ratio: o.sybil.as_ref().map(|y| y.ratio_to_random),
            sybil_quorum_swarms: o
                .sybil
                .as_ref()
                .map(|y| (y.swarms_attacker_quorum + y.drawn_swarms_attacker_quorum) as u64),
            swarms_changed: o.positions.as_ref().map(|p| p.swarms_changed),
            groups: o.groups.as_ref().map(|g| GroupMeasured {
                lost: g.lost,
                p99_latency_ms: g.latency_all_ms.p99,
                after_removal: g.after_removal,
            }),
            directories_s: o.directories_s,
            peak_rss_mb: peak_rss_mb(),
        });
        let away = s
            .offline
            .iter()
            .map(|w| Band {
                from_ms: w.from_s * 1000,
                to_ms: w.to_s * 1000,
                label: format!("client {} away", w.client),
            })
            .collect();
        Report {
            scenario: s.name.clone(),
            seed: s.seed,
            nodes: s.nodes,
            nodes_at_end: o.nodes_at_end,
            clients: s.clients,
            messages_sent: o.counts.sent,
            messages_acked: o.counts.acked,
            messages_delivered: o.counts.delivered,
            lost: o.counts.lost,
            duplicates: o.counts.duplicates,
            strays: o.counts.strays,
            latency_ms,
            latency_online_ms,
            network_model: o.network_model,
            replication: o.replication,
            peak_rss_mb: peak_rss_mb(),
            phases: phases(s, &o.faults, &o.deliveries),
            faults: o.faults,
            per_client: o.per_client,
            flood: o.flood,
            honest: o.attack.as_ref().map(|_| Honest {
                lost: o.counts.lost,
                delivered: o.counts.delivered,
                latency_ms,
            }),
            attack: o.attack,
            sybil: o.sybil,
            positions: o.positions,
            groups: o.groups,
            wall_s: (o.wall_s * 10.0).round() / 10.0,
            directories_s: (o.directories_s * 10.0).round() / 10.0,
            shared_signature_checks: sotto_protocol::record::shared_checks::is_shared(),
            checks,
            planned_ms: (s.duration_s + s.drain_s) * 1000,
            away,
            deliveries: o.deliveries,
        }
    }

    /// The summary table.
    pub fn table(&self) -> String {
        let mut t = String::new();
        let mut row = |k: &str, v: String| t.push_str(&format!("  {k:<28} {v}\n"));
        row(
            "scenario",
            format!("{} (seed {})", self.scenario, self.seed),
        );
        row(
            "nodes (start/end)",
            format!("{}/{}", self.nodes, self.nodes_at_end),
        );
        row("clients", self.clients.to_string());
        // A run of a `[groups]` alone has no messages of its own to show.
        let one_to_one = self.clients > 0;
        if one_to_one {
            row("messages sent", self.messages_sent.to_string());
            row("messages acked", self.messages_acked.to_string());
            row("messages delivered", self.messages_delivered.to_string());
            row("lost (acked, undelivered)", self.lost.to_string());
            row("duplicates", self.duplicates.to_string());
            row("strays", self.strays.to_string());
        }
        row(
            "network model",
            self.network_model
                .as_ref()
                .map_or("none (no delay)".into(), |m| {
                    format!(
                        "{}: {} regions, loss {}, client access {} ms",
                        m.model,
                        m.nodes_per_region.len().max(m.clients_per_region.len()),
                        m.loss,
                        m.client_access_ms
                    )
                }),
        );
        if one_to_one {
            let l = self.latency_ms;
            row(
                "latency ms p50/p95/p99/max",
                format!("{}/{}/{}/{}", l.p50, l.p95, l.p99, l.max),
            );
            let l = self.latency_online_ms;
            row(
                "  recipient online",
                format!("{}/{}/{}/{}", l.p50, l.p95, l.p99, l.max),
            );
            row(
                "replication",
                format!(
                    "{:.3} fully held ({} of {}), {:.3} of copies, {} ms after the drain",
                    self.replication.fraction,
                    self.replication.fully_replicated,
                    self.replication.messages,
                    self.replication.copy_fraction,
                    self.replication.settle_ms
                ),
            );
        }
        row(
            "peak rss MB",
            self.peak_rss_mb
                .map_or("unknown".into(), |m| format!("{m:.1}")),
        );
        for p in self.phases.iter().filter(|_| one_to_one) {
            row(
                &format!("phase {}", p.name),
                format!("{} delivered", p.delivered),
            );
        }
        for c in &self.per_client {
            row(
                &format!("client {}", c.client),
                format!(
                    "sent {} acked {} delivered {}; to it {} received {} lost {}",
                    c.sent, c.acked, c.delivered, c.addressed, c.received, c.lost
                ),
            );
        }
        if let Some(f) = &self.flood {
            row(
                "flood stores",
                format!(
                    "attempted {} stored {} rate-limited {} over-quota {} failed {} skipped {}",
                    f.attempted, f.stored, f.rate_limited, f.over_quota, f.failed, f.skipped
                ),
            );
            row("flood delivered", f.delivered.to_string());
        }
        if let Some(a) = &self.attack {
            let refused: Vec<String> = a.refused.iter().map(|(k, v)| format!("{k} {v}")).collect();
            row(
                "attack",
                format!(
                    "{}: tried {} served {} skipped {}; refused: {}",
                    a.kind
                        .map_or("none".to_string(), |k| format!("{k:?}").to_lowercase()),
                    a.tried,
                    a.served,
                    a.skipped,
                    if refused.is_empty() {
                        "none".to_string()
                    } else {
                        refused.join(", ")
                    }
                ),
            );
            if !a.nodes.is_empty() {
                let seen: Vec<String> = a.nodes.iter().map(|(k, v)| format!("{k} {v}")).collect();
                row("attack, nodes saw", seen.join(", "));
            }
        }
        if let Some(y) = &self.sybil {
            row(
                "sybil nodes",
                format!(
                    "{} of {} ({:.0} %); dropped {} items, relayed {} packets",
                    y.hostile_nodes,
                    self.nodes,
                    y.hostile_share * 100.0,
                    y.items_dropped,
                    y.packets_seen
                ),
            );
            row(
                "sybil guard+exit",
                format!(
                    "built {} of {}; drawn {} of {} = {:.2} % (random {:.2} %, ratio {:.2})",
                    y.paths_hostile_guard_and_exit,
                    y.paths_built,
                    y.drawn_hostile_guard_and_exit,
                    y.paths_drawn,
                    y.drawn_share * 100.0,
                    y.random_share * 100.0,
                    y.ratio_to_random
                ),
            );
            row(
                "sybil swarm quorum",
                format!(
                    "{} of {} clients' swarms and {} of {} drawn accounts' (at most {} hostile in one swarm; attacker in {} /24s; without one place per /24, chance gives the clients' {:.2}; positions not mined)",
                    y.swarms_attacker_quorum,
                    y.swarms,
                    y.drawn_swarms_attacker_quorum,
                    y.swarms_drawn,
                    y.most_hostile_in_a_swarm,
                    y.attacker_subnets,
                    y.swarms_quorum_by_chance
                ),
            );
        }
        if let Some(p) = &self.positions {
            row(
                "positions",
                format!(
                    "period {} s: {} of {} nodes moved; {} of {} clients' swarms changed, {} members replaced",
                    p.period_ms / 1000,
                    p.nodes_moved,
                    p.nodes,
                    p.swarms_changed,
                    p.swarms,
                    p.members_replaced
                ),
            );
        }
        if let Some(g) = &self.groups {
            g.table_rows(&mut row);
        }
        row(
            "directories complete s",
            format!("{:.1}", self.directories_s),
        );
        row(
            "record signatures",
            if self.shared_signature_checks {
                "checked once per process (--own-checks: once per node and client)"
            } else {
                "checked by every node"
            }
            .to_string(),
        );
        row("wall time s", format!("{:.1}", self.wall_s));
        for v in &self.checks {
            row(
                &format!("check {}", v.criterion),
                format!(
                    "{} (measured {})",
                    if v.pass { "PASS" } else { "FAIL" },
                    v.measured
                ),
            );
        }
        if !self.checks.is_empty() {
            let failed = self.failed_checks();
            row(
                "verdict",
                if failed == 0 {
                    format!("PASS (all {} checks)", self.checks.len())
                } else {
                    format!("FAIL ({failed} of {} checks)", self.checks.len())
                },
            );
        }
        t
    }

    /// How many of the scenario's criteria the run missed.
    pub fn failed_checks(&self) -> usize {
        self.checks.iter().filter(|v| !v.pass).count()
    }

    /// Writes report.json, latency.svg and deliveries.svg into `dir`, and
    /// returns their paths in that order.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>, SimError> {
        let io = |e: std::io::Error| SimError::Output(format!("{}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(io)?;
        let json = serde_json::to_string_pretty(self)
            .map_err(|e| SimError::Output(format!("report.json: {e}")))?;
        let lat: Vec<u64> = self.deliveries.iter().map(|d| d.latency_ms).collect();
        let times: Vec<u64> = self.deliveries.iter().map(|d| d.at_ms).collect();
        let faults: Vec<Marker> = self
            .faults
            .iter()
            .map(|f| Marker {
                at_ms: f.at_ms,
                label: f.kind.to_string(),
            })
            .collect();
        let files = [
            ("report.json", json + "\n"),
            ("latency.svg", svg::latency(&lat)),
            (
                "deliveries.svg",
                svg::deliveries(&times, self.planned_ms, &self.away, &faults),
            ),
        ];
        let mut written = Vec::with_capacity(files.len());
        for (name, text) in files {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(io)?;
            written.push(path);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_latency_leaves_out_recipients_away_during_the_wait() {
        let text = "name = \"t\"\nseed = 1\nnodes = 10\nclients = 2\nduration_s = 30\n\
                    [messages]\ncount = 4\n[[offline]]\nclient = 1\nfrom_s = 5\nto_s = 10\n";
        let s = Scenario::parse(text).unwrap();
        let d = |at_ms, latency_ms, to| Delivery {
            at_ms,
            latency_ms,
            to,
        };
        // Sent before the window, delivered after it: away in between.
        assert!(!online_throughout(&s, &d(11_000, 7_000, 1)));
        // Sent and delivered within it, and around it for another client.
        assert!(!online_throughout(&s, &d(6_000, 500, 1)));
        assert!(online_throughout(&s, &d(11_000, 7_000, 0)));
        // Before the window or after it.
        assert!(online_throughout(&s, &d(4_000, 1_000, 1)));
        assert!(online_throughout(&s, &d(12_000, 1_000, 1)));
        assert!(!online_throughout(&s, &d(5_000, 0, 1)));
        assert!(online_throughout(&s, &d(10_000, 0, 1)));
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 0.5), 50);
        assert_eq!(percentile(&v, 0.99), 99);
        assert_eq!(percentile(&[7], 0.95), 7);
        assert_eq!(percentile(&[], 0.5), 0);
    }
}
