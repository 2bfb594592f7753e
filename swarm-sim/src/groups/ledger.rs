//! The group's bookkeeping: who was a member of which epoch, the commit that
//! ended each epoch, what was sent, stored and delivered to whom; and the
//! figures of the report drawn from it.
//!
//! **Who should get a message.** A message belongs to the epoch its sender
//! was in when it made it; it is expected at every member of that epoch but
//! its sender, except at the members the commit ending that epoch removed
//! when the message was stored after that commit: a removed member stops
//! reading once it applies its removal, so what lands in the old epoch's
//! account after the commit may or may not reach it (if it does, it counts
//! as `extra`). A member added by a commit is expected from the epoch that
//! commit starts.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::report::Latency;

/// One message of the group.
#[derive(Debug, Clone)]
struct Sent {
    sender: usize,
    epoch: u64,
    sent_ms: u64,
    stored_ms: Option<u64>,
}

/// The commit that ended an epoch.
#[derive(Debug, Clone)]
struct End {
    /// When its store was acknowledged, ms.
    stored_ms: u64,
    removed: Vec<usize>,
}

/// One change as it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeRecord {
    /// `"remove"` or `"add"`.
    pub kind: &'static str,
    /// The members removed or added.
    pub members: Vec<usize>,
    /// When it was due, ms from the start of sending.
    pub planned_ms: u64,
    /// When its commit was stored (acknowledged), if it was.
    pub committed_ms: Option<u64>,
    /// When the admin applied it (its epoch settled), if it did.
    pub applied_ms: Option<u64>,
    /// The epoch it started, once applied.
    pub epoch: Option<u64>,
}

/// What happened to the group's messages.
#[derive(Debug, Default)]
pub struct GroupLedger {
    epochs: BTreeMap<u64, BTreeSet<usize>>,
    ends: BTreeMap<u64, End>,
    messages: BTreeMap<u64, Sent>,
    deliveries: HashMap<(u64, usize), u64>,
    duplicates: u64,
    strays: u64,
    removed_seen: BTreeMap<usize, u64>,
    changes: Vec<ChangeRecord>,
    read_errors: u64,
    store_retries: u64,
}

/// The report's `groups` object.
#[derive(Debug, Clone, Default, Serialize)]
pub struct GroupFigures {
    /// Members at the start (the admin included).
    pub members_start: usize,
    /// Members in the last epoch.
    pub members_end: usize,
    /// Clients the members ran on.
    pub clients: usize,
    /// The group's last epoch (1 after creation; one more per change).
    pub epoch_end: u64,
    /// Each removal and addition as it went.
    pub changes: Vec<ChangeRecord>,
    /// Messages sent (made by a member's engine).
    pub messages: u64,
    /// Messages whose store was acknowledged.
    pub messages_stored: u64,
    /// Messages whose store failed every try (nobody is expected to get them).
    pub store_failed: u64,
    /// Deliveries expected: for every stored message, the members that should
    /// get it (see the module documentation).
    pub deliveries_expected: u64,
    /// Expected deliveries that happened.
    pub delivered: u64,
    /// Expected deliveries that never happened by the end of the drain.
    pub lost: u64,
    /// Deliveries nobody expected (a removed member reading the last of its
    /// old epoch); not counted in `delivered`.
    pub extra: u64,
    /// Deliveries to a removed member of a message of an epoch after its
    /// removal (must be 0: it cannot derive that epoch's account).
    pub after_removal: u64,
    /// Messages handed to a member twice.
    pub duplicates: u64,
    /// Message bodies that name no message of the run.
    pub strays: u64,
    /// Members removed over the run.
    pub removed: u64,
    /// Removed members that processed their removal (their state is gone).
    pub removals_seen: u64,
    /// Per message: from its send until the last member that should get it
    /// had it, ms (messages every expected member got).
    pub latency_all_ms: Latency,
    /// Per expected delivery: from the send until that member had it, ms.
    pub latency_ms: Latency,
    /// Messages every expected member got.
    pub messages_complete: u64,
    /// Reads of an epoch account that failed outright (every member tried
    /// refused or could not be reached).
    pub read_errors: u64,
    /// Stores (messages and commits) tried again after a failure.
    pub store_retries: u64,
    /// Long polls the nodes refused because the account already had as many
    /// waiting as a node allows (all accounts of the run).
    pub long_polls_refused: u64,
}

impl GroupLedger {
    /// The members of `epoch` (from the admin's view once it applied it).
    pub fn epoch_members(&mut self, epoch: u64, members: BTreeSet<usize>) {
        self.epochs.insert(epoch, members);
    }

    /// The members of the admin's latest epoch.
    pub fn latest_members(&self) -> BTreeSet<usize> {
        self.epochs
            .last_key_value()
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    /// A change is due.
    pub fn change_planned(&mut self, kind: &'static str, members: Vec<usize>, at_ms: u64) -> usize {
        self.changes.push(ChangeRecord {
            kind,
            members,
            planned_ms: at_ms,
            committed_ms: None,
            applied_ms: None,
            epoch: None,
        });
        self.changes.len() - 1
    }

    /// Change `change`'s commit, which ends `epoch`, was stored at `at_ms`.
    pub fn change_committed(&mut self, change: usize, epoch: u64, removed: Vec<usize>, at_ms: u64) {
        self.ends.insert(
            epoch,
            End {
                stored_ms: at_ms,
                removed,
            },
        );
        if let Some(c) = self.changes.get_mut(change) {
            c.committed_ms = Some(at_ms);
        }
    }

    /// The admin applied a commit that started `epoch` at `at_ms`.
    pub fn change_applied(&mut self, epoch: u64, at_ms: u64) {
        if let Some(c) = self
            .changes
            .iter_mut()
            .find(|c| c.committed_ms.is_some() && c.applied_ms.is_none())
        {
            c.applied_ms = Some(at_ms);
            c.epoch = Some(epoch);
        }
    }

    /// Whether every planned change was applied.
    pub fn changes_applied(&self, planned: usize) -> bool {
        self.changes.len() >= planned && self.changes.iter().all(|c| c.applied_ms.is_some())
    }

    /// Message `id` was made by `sender` in `epoch` at `at_ms`.
    pub fn sent(&mut self, id: u64, sender: usize, epoch: u64, at_ms: u64) {
        self.messages.insert(
            id,
            Sent {
                sender,
                epoch,
                sent_ms: at_ms,
                stored_ms: None,
            },
        );
    }

    /// Message `id`'s store was acknowledged at `at_ms`.
    pub fn stored(&mut self, id: u64, at_ms: u64) {
        if let Some(m) = self.messages.get_mut(&id) {
            m.stored_ms = Some(at_ms);
        }
    }

    /// A store (message or commit) is tried again.
    pub fn store_retry(&mut self) {
        self.store_retries += 1;
    }

    /// A read failed outright.
    pub fn read_error(&mut self) {
        self.read_errors += 1;
    }

    /// Member `member`'s engine handed it message `id` at `at_ms` (`None`:
    /// a body that names no message of the run).
    pub fn delivered(&mut self, id: Option<u64>, member: usize, at_ms: u64) {
        let Some(id) = id.filter(|id| self.messages.contains_key(id)) else {
            self.strays += 1;
            return;
        };
        // The first delivery counts; a later one is a duplicate.
        match self.deliveries.entry((id, member)) {
            std::collections::hash_map::Entry::Occupied(_) => self.duplicates += 1,
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(at_ms);
            }
        }
    }

    /// Member `member` processed its removal at `at_ms`.
    pub fn removal_seen(&mut self, member: usize, at_ms: u64) {
        self.removed_seen.entry(member).or_insert(at_ms);
    }

    /// The members that should get message `id`; `None` while its epoch's
    /// members are not known yet (or it was never stored).
    fn expected(&self, m: &Sent) -> Option<BTreeSet<usize>> {
        let stored = m.stored_ms?;
        let mut members = self.epochs.get(&m.epoch)?.clone();
        members.remove(&m.sender);
        if let Some(end) = self.ends.get(&m.epoch)
            && stored > end.stored_ms
        {
            for r in &end.removed {
                members.remove(r);
            }
        }
        Some(members)
    }

    /// Whether every stored message reached every member that should get it.
    pub fn all_delivered(&self) -> bool {
        self.messages.iter().all(|(id, m)| {
            m.stored_ms.is_none()
                || self
                    .expected(m)
                    .is_some_and(|e| e.iter().all(|r| self.deliveries.contains_key(&(*id, *r))))
        })
    }

    /// Messages made so far, and deliveries of them so far.
    pub fn progress(&self) -> (usize, usize) {
        (self.messages.len(), self.deliveries.len())
    }

    /// The epoch from which `member` was out of the group, if it was removed.
    fn removal_epoch(&self, member: usize) -> Option<u64> {
        self.ends
            .iter()
            .find(|(_, end)| end.removed.contains(&member))
            .map(|(epoch, _)| epoch + 1)
    }

    /// The report's figures.
    pub fn figures(&self, members_start: usize, clients: usize, refused: u64) -> GroupFigures {
        let mut f = GroupFigures {
            members_start,
            members_end: self.latest_members().len(),
            clients,
            epoch_end: self.epochs.last_key_value().map_or(0, |(e, _)| *e),
            changes: self.changes.clone(),
            messages: self.messages.len() as u64,
            duplicates: self.duplicates,
            strays: self.strays,
            read_errors: self.read_errors,
            store_retries: self.store_retries,
            long_polls_refused: refused,
            ..GroupFigures::default()
        };
        let removed: BTreeSet<usize> = self
            .ends
            .values()
            .flat_map(|e| e.removed.iter().copied())
            .collect();
        f.removed = removed.len() as u64;
        f.removals_seen = removed
            .iter()
            .filter(|m| self.removed_seen.contains_key(m))
            .count() as u64;
        let mut all = Vec::new();
        let mut each = Vec::new();
        for (id, m) in &self.messages {
            if m.stored_ms.is_none() {
                f.store_failed += 1;
                continue;
            }
            f.messages_stored += 1;
            let expected = self.expected(m).unwrap_or_default();
            let mut last = Some(0);
            for r in &expected {
                f.deliveries_expected += 1;
                match self.deliveries.get(&(*id, *r)) {
                    Some(&at) => {
                        f.delivered += 1;
                        let latency = at.saturating_sub(m.sent_ms);
                        each.push(latency);
                        last = last.map(|l: u64| l.max(latency));
                    }
                    None => {
                        f.lost += 1;
                        last = None;
                    }
                }
            }
            if let Some(l) = last {
                f.messages_complete += 1;
                if !expected.is_empty() {
                    all.push(l);
                }
            }
        }
        for (id, member) in self.deliveries.keys() {
            let Some(m) = self.messages.get(id) else {
                continue;
            };
            if !self.expected(m).is_some_and(|e| e.contains(member)) {
                f.extra += 1;
            }
            if self.removal_epoch(*member).is_some_and(|e| m.epoch >= e) {
                f.after_removal += 1;
            }
        }
        f.latency_all_ms = Latency::of(all);
        f.latency_ms = Latency::of(each);
        f
    }
}

impl GroupFigures {
    /// The summary table's rows about the group, each handed to `row` as
    /// (key, value).
    pub fn table_rows(&self, row: &mut impl FnMut(&str, String)) {
        let g = self;
        row(
            "groups",
            format!(
                "{} members at the start, {} at the end, on {} clients; epoch {} after {} changes",
                g.members_start,
                g.members_end,
                g.clients,
                g.epoch_end,
                g.changes.iter().filter(|c| c.applied_ms.is_some()).count()
            ),
        );
        row(
            "groups messages",
            format!(
                "sent {} stored {}; deliveries expected {} delivered {} lost {}",
                g.messages, g.messages_stored, g.deliveries_expected, g.delivered, g.lost
            ),
        );
        let l = g.latency_all_ms;
        row(
            "groups ms to all members",
            format!("p50 {} p95 {} p99 {} max {}", l.p50, l.p95, l.p99, l.max),
        );
        let l = g.latency_ms;
        row(
            "groups ms per delivery",
            format!("p50 {} p95 {} p99 {} max {}", l.p50, l.p95, l.p99, l.max),
        );
        row(
            "groups other",
            format!(
                "extra {} after-removal {} duplicates {} strays {}; removals seen {}/{}; \
             read errors {} store retries {} long polls refused {}",
                g.extra,
                g.after_removal,
                g.duplicates,
                g.strays,
                g.removals_seen,
                g.removed,
                g.read_errors,
                g.store_retries,
                g.long_polls_refused
            ),
        );
        for c in &g.changes {
            let at = |ms: Option<u64>| {
                ms.map_or("never".into(), |m| format!("{:.1} s", m as f64 / 1000.0))
            };
            row(
                &format!("groups {} at {} s", c.kind, c.planned_ms / 1000),
                format!(
                    "members {:?}: committed {}, applied {} (epoch {})",
                    c.members,
                    at(c.committed_ms),
                    at(c.applied_ms),
                    c.epoch.map_or("-".into(), |e| e.to_string())
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[usize]) -> BTreeSet<usize> {
        v.iter().copied().collect()
    }

    #[test]
    fn removed_and_added_members_are_expected_only_where_they_can_read() {
        let mut l = GroupLedger::default();
        l.epoch_members(1, set(&[0, 1, 2, 3]));
        // Before the removal's commit: member 3 should get it.
        l.sent(0, 1, 1, 100);
        l.stored(0, 200);
        // Member 0 removes 3; the commit is stored at 1000.
        let c = l.change_planned("remove", vec![3], 900);
        l.change_committed(c, 1, vec![3], 1_000);
        // Stored after the commit, still epoch 1: not expected at 3.
        l.sent(1, 2, 1, 1_100);
        l.stored(1, 1_300);
        l.change_applied(2, 4_000);
        l.epoch_members(2, set(&[0, 1, 2, 4]));
        // Epoch 2, with member 4 added.
        l.sent(2, 0, 2, 5_000);
        l.stored(2, 5_200);
        // A message that was never stored is nobody's.
        l.sent(3, 0, 2, 6_000);
        assert!(!l.all_delivered());

        for (id, member, at) in [
            (0, 0, 500),
            (0, 2, 600),
            (0, 3, 700),
            (1, 0, 1_500),
            (1, 1, 1_600),
            (1, 3, 1_700), // extra: 3 was still reading
            (2, 1, 5_500),
            (2, 2, 5_600),
            (2, 4, 6_000),
        ] {
            l.delivered(Some(id), member, at);
        }
        assert!(l.all_delivered());
        l.delivered(Some(2), 4, 6_100);
        l.delivered(None, 4, 6_100);
        l.delivered(Some(99), 4, 6_100);
        l.removal_seen(3, 4_100);
        let f = l.figures(4, 4, 0);
        assert_eq!(f.messages, 4);
        assert_eq!(f.messages_stored, 3);
        assert_eq!(f.store_failed, 1);
        assert_eq!(f.deliveries_expected, 3 + 2 + 3);
        assert_eq!(f.delivered, 8);
        assert_eq!(f.lost, 0);
        assert_eq!(f.extra, 1);
        assert_eq!(f.after_removal, 0);
        assert_eq!(f.duplicates, 1);
        assert_eq!(f.strays, 2);
        assert_eq!((f.removed, f.removals_seen), (1, 1));
        assert_eq!(f.messages_complete, 3);
        // Message 0: last at 700 - 100; 1: 1600 - 1100; 2: 6000 - 5000.
        assert_eq!(f.latency_all_ms.max, 1_000);
        assert_eq!(f.latency_all_ms.p50, 600);
        assert_eq!(f.changes[0].epoch, Some(2));
        assert_eq!(f.members_end, 4);
        assert_eq!(f.epoch_end, 2);

        // A delivery the removed member could not have had, and a loss.
        l.delivered(Some(2), 3, 7_000);
        l.sent(4, 1, 2, 8_000);
        l.stored(4, 8_100);
        let f = l.figures(4, 4, 0);
        assert_eq!(f.after_removal, 1);
        assert_eq!(f.extra, 2);
        assert_eq!(f.lost, 3);
        assert!(!l.all_delivered());
    }
}
