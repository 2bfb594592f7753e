//! A scenario's pass criteria: the `[check]` table, bounds that the report of
//! a run must meet for the run to show what the scenario is meant to show.

use serde::{Deserialize, Serialize};

use super::ScenarioError;

/// The `[check]` table. Every key is optional; a run passes when it meets
/// every bound given. `max_*` bounds are inclusive upper bounds, `min_*`
/// inclusive lower bounds.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Criteria {
    /// Most acknowledged messages that may stay undelivered (`lost`).
    pub max_lost: Option<u64>,
    /// Most deliveries of a message the app already had (`duplicates`).
    pub max_duplicates: Option<u64>,
    /// Most envelopes that name no message of the run (`strays`).
    pub max_strays: Option<u64>,
    /// Largest 99th-percentile delivery latency, ms.
    pub max_p99_latency_ms: Option<u64>,
    /// Smallest share (0 to 1) of messages every swarm member holds at the end.
    pub min_replication: Option<f64>,
    /// Fewest flood stores the nodes must refuse (rate limited or over quota);
    /// only with a `[flood]`.
    pub min_flood_refused: Option<u64>,
    /// Largest ratio of hostile guard+exit paths drawn by the client's own
    /// selection to what random choice gives; only with a `[sybil]`.
    pub max_sybil_ratio: Option<f64>,
    /// Most swarms (the clients' and the drawn accounts') in which the
    /// attacker holds the store quorum; only with a `[sybil]`.
    pub max_sybil_quorum_swarms: Option<u64>,
    /// Fewest clients' swarms whose members must change over the run, so a
    /// scenario about moving positions shows positions moved; only with a
    /// `position_period_ms` above 0.
    pub min_swarms_changed: Option<u64>,
    /// Most expected group deliveries that may never happen (`groups.lost`);
    /// only with a `[groups]`.
    pub max_groups_lost: Option<u64>,
    /// Largest 99th percentile of the time until every member that should
    /// have a group message has it, ms; only with a `[groups]`.
    pub max_groups_p99_latency_ms: Option<u64>,
    /// Most deliveries to removed members of epochs after their removal
    /// (`groups.after_removal`); only with a `[groups]`.
    pub max_groups_after_removal: Option<u64>,
    /// Longest time, s, from the last node started to every node knowing
    /// every node (`directories_s`).
    pub max_directories_s: Option<u64>,
    /// Largest peak resident memory of the whole run, MB (`peak_rss_mb`;
    /// a run where it cannot be read fails this bound).
    pub max_peak_rss_mb: Option<u64>,
}

/// One of the group's figures, read from what was measured.
type GroupFigure = fn(&GroupMeasured) -> u64;

/// What a scenario has, for the criteria that need it.
#[derive(Debug, Clone, Copy, Default)]
pub struct Has {
    /// A `[flood]`.
    pub flood: bool,
    /// A `[sybil]`.
    pub sybil: bool,
    /// Positions that rotate.
    pub rotation: bool,
    /// A `[groups]`.
    pub groups: bool,
}

/// One criterion against the report: what was required, what was measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verdict {
    /// The criterion as written, e.g. `lost <= 0`.
    pub criterion: String,
    /// The measured value.
    pub measured: String,
    /// Whether the run meets it.
    pub pass: bool,
}

/// The figures of a run that criteria are checked against.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Measured {
    /// Acknowledged, never delivered.
    pub lost: u64,
    /// Delivered twice.
    pub duplicates: u64,
    /// Naming no message of the run.
    pub strays: u64,
    /// 99th-percentile latency, ms.
    pub p99_latency_ms: u64,
    /// Share of messages fully replicated at the end.
    pub replication: f64,
    /// Flood stores refused (rate limited or over quota), if there was a flood.
    pub flood_refused: Option<u64>,
    /// Hostile guard+exit share of drawn paths over random choice's, if
    /// there was a `[sybil]`.
    pub sybil_ratio: Option<f64>,
    /// Swarms (clients' and drawn accounts') in which the attacker holds the
    /// quorum, if there was a `[sybil]`.
    pub sybil_quorum_swarms: Option<u64>,
    /// Clients' swarms that changed members, if positions rotate.
    pub swarms_changed: Option<u64>,
    /// The group's figures, if the scenario has a `[groups]`.
    pub groups: Option<GroupMeasured>,
    /// Seconds until every directory was complete.
    pub directories_s: f64,
    /// Peak resident memory, MB, if it could be read.
    pub peak_rss_mb: Option<f64>,
}

/// The group figures criteria are checked against.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupMeasured {
    /// Expected deliveries that never happened.
    pub lost: u64,
    /// 99th percentile of the time to every member that should have a
    /// message, ms.
    pub p99_latency_ms: u64,
    /// Deliveries to removed members of epochs after their removal.
    pub after_removal: u64,
}

fn at_most(name: &str, bound: Option<u64>, got: u64) -> Option<Verdict> {
    bound.map(|b| Verdict {
        criterion: format!("{name} <= {b}"),
        measured: got.to_string(),
        pass: got <= b,
    })
}

impl Criteria {
    /// Whether no criterion is given.
    pub fn is_empty(&self) -> bool {
        *self == Criteria::default()
    }

    /// Checks the bounds themselves against what the scenario `has`.
    pub fn check(&self, has: Has) -> Result<(), ScenarioError> {
        if self
            .min_replication
            .is_some_and(|r| !(0.0..=1.0).contains(&r))
        {
            return Err(ScenarioError::Invalid(
                "check: min_replication must be between 0 and 1".into(),
            ));
        }
        if self.min_flood_refused.is_some() && !has.flood {
            return Err(ScenarioError::Invalid(
                "check: min_flood_refused needs a [flood]".into(),
            ));
        }
        if self.max_sybil_ratio.is_some() && !has.sybil {
            return Err(ScenarioError::Invalid(
                "check: max_sybil_ratio needs a [sybil]".into(),
            ));
        }
        if self.max_sybil_quorum_swarms.is_some() && !has.sybil {
            return Err(ScenarioError::Invalid(
                "check: max_sybil_quorum_swarms needs a [sybil]".into(),
            ));
        }
        if self.max_sybil_ratio.is_some_and(|r| r.is_nan() || r < 0.0) {
            return Err(ScenarioError::Invalid(
                "check: max_sybil_ratio must be a number from 0".into(),
            ));
        }
        let group_bounds = [
            self.max_groups_lost,
            self.max_groups_p99_latency_ms,
            self.max_groups_after_removal,
        ];
        if group_bounds.iter().any(Option::is_some) && !has.groups {
            return Err(ScenarioError::Invalid(
                "check: max_groups_* bounds need a [groups]".into(),
            ));
        }
        if self.min_swarms_changed.is_some() && !has.rotation {
            return Err(ScenarioError::Invalid(
                "check: min_swarms_changed needs network.position_period_ms above 0".into(),
            ));
        }
        Ok(())
    }

    /// Each criterion given, in the order of the table, against `m`.
    pub fn evaluate(&self, m: &Measured) -> Vec<Verdict> {
        let mut out: Vec<Verdict> = [
            at_most("lost", self.max_lost, m.lost),
            at_most("duplicates", self.max_duplicates, m.duplicates),
            at_most("strays", self.max_strays, m.strays),
            at_most("p99_latency_ms", self.max_p99_latency_ms, m.p99_latency_ms),
        ]
        .into_iter()
        .flatten()
        .collect();
        if let Some(min) = self.min_replication {
            out.push(Verdict {
                criterion: format!("replication >= {min}"),
                measured: format!("{:.3}", m.replication),
                pass: m.replication >= min,
            });
        }
        if let Some(min) = self.min_flood_refused {
            let got = m.flood_refused.unwrap_or(0);
            out.push(Verdict {
                criterion: format!("flood_refused >= {min}"),
                measured: got.to_string(),
                pass: got >= min,
            });
        }
        if let Some(max) = self.max_sybil_ratio {
            out.push(Verdict {
                criterion: format!("sybil_ratio <= {max}"),
                measured: m
                    .sybil_ratio
                    .map_or_else(|| "none".into(), |r| format!("{r:.2}")),
                pass: m.sybil_ratio.is_some_and(|r| r <= max),
            });
        }
        if let Some(max) = self.max_sybil_quorum_swarms {
            out.push(Verdict {
                criterion: format!("sybil_quorum_swarms <= {max}"),
                measured: m
                    .sybil_quorum_swarms
                    .map_or_else(|| "none".into(), |n| n.to_string()),
                pass: m.sybil_quorum_swarms.is_some_and(|n| n <= max),
            });
        }
        if let Some(max) = self.max_directories_s {
            out.push(Verdict {
                criterion: format!("directories_s <= {max}"),
                measured: format!("{:.1}", m.directories_s),
                pass: m.directories_s <= max as f64,
            });
        }
        if let Some(max) = self.max_peak_rss_mb {
            out.push(Verdict {
                criterion: format!("peak_rss_mb <= {max}"),
                measured: m
                    .peak_rss_mb
                    .map_or_else(|| "unknown".into(), |r| format!("{r:.0}")),
                pass: m.peak_rss_mb.is_some_and(|r| r <= max as f64),
            });
        }
        if let Some(min) = self.min_swarms_changed {
            let got = m.swarms_changed.unwrap_or(0);
            out.push(Verdict {
                criterion: format!("swarms_changed >= {min}"),
                measured: got.to_string(),
                pass: got >= min,
            });
        }
        let group: [(&str, Option<u64>, GroupFigure); 3] = [
            ("groups.lost", self.max_groups_lost, |g| g.lost),
            (
                "groups.p99_latency_ms",
                self.max_groups_p99_latency_ms,
                |g| g.p99_latency_ms,
            ),
            ("groups.after_removal", self.max_groups_after_removal, |g| {
                g.after_removal
            }),
        ];
        for (name, bound, figure) in group {
            if let Some(max) = bound {
                let got = m.groups.as_ref().map(figure);
                out.push(Verdict {
                    criterion: format!("{name} <= {max}"),
                    measured: got.map_or_else(|| "none".into(), |n| n.to_string()),
                    pass: got.is_some_and(|n| n <= max),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Criteria, toml::de::Error> {
        toml::from_str(text)
    }

    #[test]
    fn criteria_parse_and_refuse_unknown_keys() {
        let c = parse("max_lost = 0\nmax_p99_latency_ms = 30000\nmin_replication = 1.0\n").unwrap();
        assert_eq!(c.max_lost, Some(0));
        assert_eq!(c.max_p99_latency_ms, Some(30_000));
        assert_eq!(c.min_replication, Some(1.0));
        assert!(!c.is_empty());
        assert!(parse("").unwrap().is_empty());
        assert!(parse("lost = 0\n").is_err(), "unknown key");
        assert!(parse("max_lost = -1\n").is_err(), "a count is not negative");
        let bad = parse("min_replication = 1.5\n").unwrap();
        assert!(bad.check(Has::default()).is_err());
        let flood = parse("min_flood_refused = 1\n").unwrap();
        assert!(flood.check(Has::default()).is_err());
        let has = |flood, sybil, rotation| Has {
            flood,
            sybil,
            rotation,
            groups: false,
        };
        assert!(flood.check(has(true, false, false)).is_ok());
        let sybil = parse("max_sybil_ratio = 1.5\n").unwrap();
        assert!(sybil.check(has(true, false, true)).is_err());
        assert!(sybil.check(has(false, true, false)).is_ok());
        let quorum = parse("max_sybil_quorum_swarms = 0\n").unwrap();
        assert!(quorum.check(has(false, false, true)).is_err());
        assert!(quorum.check(has(false, true, false)).is_ok());
        assert!(
            parse("max_sybil_ratio = nan\n")
                .unwrap()
                .check(has(false, true, false))
                .is_err()
        );
        let moved = parse("min_swarms_changed = 1\n").unwrap();
        assert!(moved.check(has(true, true, false)).is_err());
        assert!(moved.check(has(false, false, true)).is_ok());
        let group = parse("max_groups_lost = 0\nmax_groups_p99_latency_ms = 2000\n").unwrap();
        assert!(group.check(has(true, true, true)).is_err());
        let with_groups = Has {
            groups: true,
            ..Has::default()
        };
        assert!(group.check(with_groups).is_ok());
    }

    #[test]
    fn directory_time_and_memory_bounds() {
        let c = Criteria {
            max_directories_s: Some(60),
            max_peak_rss_mb: Some(8_000),
            ..Criteria::default()
        };
        let m = |dir, rss| Measured {
            directories_s: dir,
            peak_rss_mb: rss,
            ..Measured::default()
        };
        assert!(c.evaluate(&m(60.0, Some(8_000.0))).iter().all(|v| v.pass));
        let v = c.evaluate(&m(74.0, Some(8_335.0)));
        assert_eq!(v.iter().filter(|v| !v.pass).count(), 2, "{v:?}");
        assert_eq!(v[0].measured, "74.0");
        let v = c.evaluate(&m(1.0, None));
        assert!(v[0].pass && !v[1].pass, "{v:?}");
        assert_eq!(v[1].measured, "unknown");
    }

    #[test]
    fn group_criteria_pass_fail_and_fail_without_figures() {
        let c = Criteria {
            max_groups_lost: Some(0),
            max_groups_p99_latency_ms: Some(2_000),
            max_groups_after_removal: Some(0),
            ..Criteria::default()
        };
        let m = |lost, p99| Measured {
            groups: Some(GroupMeasured {
                lost,
                p99_latency_ms: p99,
                after_removal: 0,
            }),
            ..Measured::default()
        };
        assert!(c.evaluate(&m(0, 2_000)).iter().all(|v| v.pass));
        let v = c.evaluate(&m(1, 2_001));
        assert_eq!(
            v.iter()
                .filter(|v| !v.pass)
                .map(|v| v.criterion.as_str())
                .collect::<Vec<_>>(),
            ["groups.lost <= 0", "groups.p99_latency_ms <= 2000"]
        );
        assert!(
            c.evaluate(&Measured::default())
                .iter()
                .all(|v| !v.pass && v.measured == "none")
        );
    }

    #[test]
    fn criteria_pass_and_fail() {
        let c = Criteria {
            max_lost: Some(0),
            max_duplicates: Some(0),
            max_p99_latency_ms: Some(1_000),
            min_replication: Some(1.0),
            min_flood_refused: Some(10),
            max_sybil_ratio: Some(1.5),
            max_sybil_quorum_swarms: Some(0),
            min_swarms_changed: Some(1),
            ..Criteria::default()
        };
        let good = Measured {
            p99_latency_ms: 1_000,
            replication: 1.0,
            flood_refused: Some(10),
            sybil_ratio: Some(1.5),
            sybil_quorum_swarms: Some(0),
            swarms_changed: Some(1),
            ..Measured::default()
        };
        let v = c.evaluate(&good);
        assert_eq!(v.len(), 8, "strays has no bound: not checked");
        assert!(v.iter().all(|v| v.pass), "{v:?}");
        assert_eq!(v[0].criterion, "lost <= 0");

        let bad = Measured {
            lost: 1,
            p99_latency_ms: 1_001,
            replication: 0.99,
            flood_refused: Some(9),
            sybil_ratio: Some(1.51),
            sybil_quorum_swarms: Some(1),
            swarms_changed: Some(0),
            ..Measured::default()
        };
        let v = c.evaluate(&bad);
        let failed: Vec<&str> = v
            .iter()
            .filter(|v| !v.pass)
            .map(|v| v.criterion.as_str())
            .collect();
        assert_eq!(
            failed,
            [
                "lost <= 0",
                "p99_latency_ms <= 1000",
                "replication >= 1",
                "flood_refused >= 10",
                "sybil_ratio <= 1.5",
                "sybil_quorum_swarms <= 0",
                "swarms_changed >= 1"
            ]
        );
        assert_eq!(v[0].measured, "1");
        assert!(Criteria::default().evaluate(&bad).is_empty());
        // A bound on a figure the run did not produce fails.
        let none = c.evaluate(&Measured::default());
        assert!(
            none.iter()
                .any(|v| v.criterion.starts_with("sybil") && !v.pass && v.measured == "none")
        );
    }
}
