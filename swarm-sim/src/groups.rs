//! One MLS group over the simulated network (issue 18): its members run
//! `sotto_client::group::Groups` on real clients, store and read the group's
//! messages and commits in each epoch account's swarm through
//! `sotto_client::group::net`, send messages at seeded random times from
//! random members, and an admin removes and adds members mid-run. The report
//! gains `groups`: messages, the deliveries expected, delivered and lost, and
//! the latency until every member that should have a message has it.
//!
//! - [`member`]: one member's driver (its reads of the current and previous
//!   epoch accounts, settling, what the engine asks to send).
//! - [`ledger`]: who was a member of which epoch, what was sent, stored and
//!   delivered, and the figures drawn from it.
//! - [`driver`]: setting the group up, the schedule of messages and changes,
//!   and the end of the run.
//!
//! What is not simulated: Welcomes are handed to the members they add in
//! process (the chat sends them through the inbox, as a `GroupInvite`), and
//! key packages are handed to the admin in process (the chat publishes and
//! fetches them through the nodes). Commits and messages always go through
//! the nodes.

pub mod driver;
pub mod ledger;
pub mod member;

use serde::Deserialize;

pub use driver::Groups;
pub use ledger::GroupFigures;

/// Most members one group in a run may have in all (each is a member's MLS
/// state, and by default a client of its own).
pub const MAX_GROUP_MEMBERS: usize = 250;
/// Longest wait of one read at a node (the protocol's longest long poll).
pub const MAX_WAIT_MS: u32 = 25_000;
/// Largest message text, bytes (one stored message holds far more; this
/// keeps a run's memory small).
pub const MAX_TEXT_BYTES: usize = 16 * 1024;
/// A member scheduled for removal sends nothing from this long before its
/// removal on: a message a removed member sent on the old epoch is refused
/// by every member that already applied the removal (ARCHITECTURE, Groups:
/// "a message of a past epoch from a member the commit removed is refused"),
/// so a send racing its own removal is not a delivery anyone expects.
pub const QUIET_BEFORE_REMOVAL_MS: u64 = 5_000;

/// The scenario's `[groups]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsSettings {
    /// Members at the start, the admin (member 0, who creates the group and
    /// commits every change) included.
    pub members: usize,
    /// Clients (devices) the members run on, members spread over them in
    /// turn (default: one each). Members sharing a client share its paths.
    pub clients: Option<usize>,
    /// Messages sent over the sending window, from random members at
    /// random times (or `rate`; exactly one).
    pub messages: Option<usize>,
    /// Messages a second, on average.
    pub rate: Option<f64>,
    /// Text bytes in each message (default 100).
    #[serde(default = "default_text_bytes")]
    pub text_bytes: usize,
    /// How long one read of an epoch account waits at a node for something
    /// new, ms (a long poll; default 10000). 0 reads every second instead,
    /// as the chat's group task does today.
    #[serde(default = "default_wait_ms")]
    pub wait_ms: u32,
    /// How long an epoch settles, ms (default: the client's `SETTLE_MS`).
    #[serde(default = "default_settle_ms")]
    pub settle_ms: u64,
    /// Members removed mid-run (one commit each entry).
    #[serde(default)]
    pub removals: Vec<Change>,
    /// Members added mid-run (one commit each entry); they are numbered
    /// after the first `members`.
    #[serde(default)]
    pub additions: Vec<Change>,
}

/// One change the admin commits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    /// When, seconds from the start of sending (the commit waits for the
    /// admin's previous one to settle).
    pub at_s: u64,
    /// How many members it removes or adds (default 1).
    #[serde(default = "one")]
    pub count: usize,
    /// Removals only: which members (by index, never 0, the admin); default
    /// a seeded draw among the first `members`.
    pub members: Option<Vec<usize>>,
}

fn default_text_bytes() -> usize {
    100
}

fn default_wait_ms() -> u32 {
    10_000
}

fn default_settle_ms() -> u64 {
    sotto_client::group::SETTLE_MS
}

fn one() -> usize {
    1
}

impl GroupsSettings {
    /// Members added over the run.
    pub fn added(&self) -> usize {
        self.additions.iter().map(|c| c.count).sum()
    }

    /// Members at the start and added later.
    pub fn total_members(&self) -> usize {
        self.members + self.added()
    }

    /// Clients the members run on.
    pub fn client_count(&self) -> usize {
        self.clients.unwrap_or(self.total_members())
    }

    /// How many messages a run of `duration_s` sends.
    pub fn message_count(&self, duration_s: u64) -> usize {
        match (self.messages, self.rate) {
            (Some(n), _) => n,
            (None, Some(r)) => (r * duration_s as f64).round() as usize,
            (None, None) => 0,
        }
    }

    /// Why these settings cannot run in a sending window of `duration_s`,
    /// if they cannot.
    pub fn problem(&self, duration_s: u64) -> Option<String> {
        let total = self.total_members();
        if self.members < 2 || total > MAX_GROUP_MEMBERS {
            return Some(format!(
                "groups: members must be at least 2, and with additions at most {MAX_GROUP_MEMBERS}"
            ));
        }
        if self.clients.is_some_and(|c| c == 0 || c > total) {
            return Some(format!(
                "groups: clients must be 1 to the number of members ({total})"
            ));
        }
        match (self.messages, self.rate) {
            (Some(n), None) if n <= crate::scenario::MAX_MESSAGES => {}
            (None, Some(r))
                if r > 0.0 && r * duration_s as f64 <= crate::scenario::MAX_MESSAGES as f64 => {}
            _ => {
                return Some(format!(
                    "groups: give exactly one of messages or rate (positive), at most {} in all",
                    crate::scenario::MAX_MESSAGES
                ));
            }
        }
        if !(1..=MAX_TEXT_BYTES).contains(&self.text_bytes) {
            return Some(format!("groups: text_bytes must be 1 to {MAX_TEXT_BYTES}"));
        }
        if self.wait_ms > MAX_WAIT_MS {
            return Some(format!("groups: wait_ms must be at most {MAX_WAIT_MS}"));
        }
        if !(100..=60_000).contains(&self.settle_ms) {
            return Some("groups: settle_ms must be 100 to 60000".into());
        }
        for c in self.removals.iter().chain(&self.additions) {
            if c.at_s >= duration_s || c.count == 0 {
                return Some(
                    "groups: a removal or addition needs at_s within the sending window and a count of at least 1"
                        .into(),
                );
            }
        }
        if self.additions.iter().any(|c| c.members.is_some()) {
            return Some(
                "groups: additions take no members (added members are new, numbered after the first ones)"
                    .into(),
            );
        }
        let mut named = std::collections::HashSet::new();
        for c in &self.removals {
            if let Some(m) = &c.members {
                if m.len() != c.count {
                    return Some("groups: a removal's members must list count members".into());
                }
                if m.iter()
                    .any(|&i| i == 0 || i >= self.members || !named.insert(i))
                {
                    return Some(format!(
                        "groups: removed members must be 1 to {} (0 is the admin), each once",
                        self.members - 1
                    ));
                }
            }
        }
        let removed: usize = self.removals.iter().map(|c| c.count).sum();
        if removed + 2 > self.members {
            return Some(
                "groups: removals must leave the admin and at least one other first member".into(),
            );
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> GroupsSettings {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn settings_default_and_refuse_what_cannot_run() {
        let g = parse("members = 5\nmessages = 10\n");
        assert_eq!(g.text_bytes, 100);
        assert_eq!(g.wait_ms, 10_000);
        assert_eq!(g.settle_ms, sotto_client::group::SETTLE_MS);
        assert_eq!(g.client_count(), 5);
        assert!(g.problem(30).is_none());

        let g = parse(
            "members = 5\nrate = 2.0\n[[removals]]\nat_s = 5\nmembers = [3]\n\
             [[additions]]\nat_s = 8\ncount = 2\n",
        );
        assert!(g.problem(30).is_none());
        assert_eq!(g.total_members(), 7);
        assert_eq!(g.message_count(30), 60);

        let bad = |text: &str| parse(text).problem(30).is_some();
        assert!(bad("members = 1\nmessages = 1\n"), "a group of one");
        assert!(bad("members = 5\n"), "no messages");
        assert!(bad("members = 5\nmessages = 1\nrate = 1.0\n"), "both");
        assert!(bad("members = 5\nmessages = 1\nclients = 6\n"));
        assert!(bad("members = 5\nmessages = 1\nwait_ms = 30000\n"));
        assert!(bad("members = 5\nmessages = 1\n[[removals]]\nat_s = 30\n"));
        assert!(bad(
            "members = 5\nmessages = 1\n[[removals]]\nat_s = 3\nmembers = [0]\n"
        ));
        assert!(bad(
            "members = 5\nmessages = 1\n[[removals]]\nat_s = 3\nmembers = [5]\n"
        ));
        assert!(bad(
            "members = 5\nmessages = 1\n[[removals]]\nat_s = 3\ncount = 2\nmembers = [1]\n"
        ));
        assert!(bad(
            "members = 3\nmessages = 1\n[[removals]]\nat_s = 3\ncount = 2\n"
        ));
        assert!(bad(
            "members = 5\nmessages = 1\n[[additions]]\nat_s = 3\nmembers = [1]\n"
        ));
        assert!(toml::from_str::<GroupsSettings>("members = 5\nbogus = 1\n").is_err());
    }
}
