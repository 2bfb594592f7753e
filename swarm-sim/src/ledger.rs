//! The run's bookkeeping: what was sent, acknowledged and delivered, shared by
//! the sender and receiver tasks.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;
use sotto_protocol::AccountId;
use sotto_protocol::rpc::MessageHash;

/// One message's fate.
#[derive(Debug, Clone)]
struct Entry {
    from: usize,
    to: usize,
    sent_at: Instant,
    acked: Option<(AccountId, MessageHash)>,
    delivered_ms: Option<u64>,
}

/// What happened to the messages of a run.
#[derive(Debug)]
pub struct Ledger {
    start: Instant,
    entries: HashMap<u64, Entry>,
    duplicates: u64,
    strays: u64,
    /// Each first delivery.
    deliveries: Vec<Delivery>,
    flood: FloodCounts,
}

/// The first delivery of one message to its recipient's app.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// When, ms since the start of sending.
    pub at_ms: u64,
    /// How long after its send started, ms.
    pub latency_ms: u64,
    /// The recipient client.
    pub to: usize,
}

/// What became of a flood's stores (counted apart from the schedule).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FloodCounts {
    /// Stores attempted.
    pub attempted: u64,
    /// Stores a member acknowledged.
    pub stored: u64,
    /// Refused: the account's store rate on that node was used up.
    pub rate_limited: u64,
    /// Refused: the account's quota on that node was full.
    pub over_quota: u64,
    /// Failed otherwise (no path, timeouts, quorum not met).
    pub failed: u64,
    /// Not attempted: too many flood stores were already in flight.
    pub skipped: u64,
    /// Flood messages that reached the target's app.
    pub delivered: u64,
}

/// How a flood store ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloodOutcome {
    /// Acknowledged.
    Stored,
    /// Rate limited.
    RateLimited,
    /// Over quota.
    OverQuota,
    /// Any other failure.
    Failed,
    /// Not attempted.
    Skipped,
}

/// One client's share of the schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ClientFigures {
    /// The client's index.
    pub client: usize,
    /// Messages it started sending.
    pub sent: u64,
    /// Of those, acknowledged.
    pub acked: u64,
    /// Of those, delivered to their recipient.
    pub delivered: u64,
    /// Messages sent to it.
    pub addressed: u64,
    /// Messages to it that were delivered.
    pub received: u64,
    /// Messages to it acknowledged but not delivered.
    pub lost: u64,
}

/// The ledger as the tasks share it.
pub type Shared = Arc<Mutex<Ledger>>;

/// Runs `f` on the ledger; a poisoned lock still holds consistent counts
/// (every update is a single insert or increment).
pub fn with<T>(l: &Shared, f: impl FnOnce(&mut Ledger) -> T) -> T {
    match l.lock() {
        Ok(mut g) => f(&mut g),
        Err(p) => f(&mut p.into_inner()),
    }
}

/// Counts at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Sends started.
    pub sent: u64,
    /// Sends a swarm member acknowledged.
    pub acked: u64,
    /// Messages delivered to their recipient's app (first time).
    pub delivered: u64,
    /// Further deliveries of a message already delivered.
    pub duplicates: u64,
    /// Acknowledged messages not (yet) delivered.
    pub lost: u64,
    /// Envelopes opened that name no message of this run, or the wrong recipient.
    pub strays: u64,
}

impl Ledger {
    /// An empty ledger; times count from `start`.
    pub fn new(start: Instant) -> Shared {
        Arc::new(Mutex::new(Ledger {
            start,
            entries: HashMap::new(),
            duplicates: 0,
            strays: 0,
            deliveries: Vec::new(),
            flood: FloodCounts::default(),
        }))
    }

    /// A send of message `id` from client `from` to client `to` starts now.
    pub fn sent(&mut self, id: u64, from: usize, to: usize) {
        self.entries.insert(
            id,
            Entry {
                from,
                to,
                sent_at: Instant::now(),
                acked: None,
                delivered_ms: None,
            },
        );
    }

    /// Message `id` was stored under `hash` in `account`'s inbox.
    pub fn acked(&mut self, id: u64, account: AccountId, hash: MessageHash) {
        if let Some(e) = self.entries.get_mut(&id) {
            e.acked = Some((account, hash));
        }
    }

    /// Client `by`'s app received message `id` now.
    pub fn delivered(&mut self, id: u64, by: usize) {
        let now = Instant::now();
        let at_ms = now.duration_since(self.start).as_millis() as u64;
        match self.entries.get_mut(&id) {
            Some(e) if e.to == by => {
                if e.delivered_ms.is_some() {
                    self.duplicates += 1;
                } else {
                    let latency = now.duration_since(e.sent_at).as_millis() as u64;
                    e.delivered_ms = Some(latency);
                    self.deliveries.push(Delivery {
                        at_ms,
                        latency_ms: latency,
                        to: by,
                    });
                }
            }
            _ => self.strays += 1,
        }
    }

    /// A flood store ended with `o`.
    pub fn flood_store(&mut self, o: FloodOutcome) {
        let f = &mut self.flood;
        f.attempted += u64::from(o != FloodOutcome::Skipped);
        let counter = match o {
            FloodOutcome::Stored => &mut f.stored,
            FloodOutcome::RateLimited => &mut f.rate_limited,
            FloodOutcome::OverQuota => &mut f.over_quota,
            FloodOutcome::Failed => &mut f.failed,
            FloodOutcome::Skipped => &mut f.skipped,
        };
        *counter += 1;
    }

    /// A flood message reached its target's app.
    pub fn flood_delivered(&mut self) {
        self.flood.delivered += 1;
    }

    /// The flood's counts.
    pub fn flood(&self) -> FloodCounts {
        self.flood
    }

    /// Each of `clients` clients' share of the schedule.
    pub fn per_client(&self, clients: usize) -> Vec<ClientFigures> {
        let mut out: Vec<ClientFigures> = (0..clients)
            .map(|client| ClientFigures {
                client,
                ..ClientFigures::default()
            })
            .collect();
        for e in self.entries.values() {
            let delivered = e.delivered_ms.is_some();
            if let Some(f) = out.get_mut(e.from) {
                f.sent += 1;
                f.acked += u64::from(e.acked.is_some());
                f.delivered += u64::from(delivered);
            }
            if let Some(t) = out.get_mut(e.to) {
                t.addressed += 1;
                t.received += u64::from(delivered);
                t.lost += u64::from(e.acked.is_some() && !delivered);
            }
        }
        out
    }

    /// The counts now.
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            sent: self.entries.len() as u64,
            duplicates: self.duplicates,
            strays: self.strays,
            ..Counts::default()
        };
        for e in self.entries.values() {
            if e.acked.is_some() {
                c.acked += 1;
                if e.delivered_ms.is_none() {
                    c.lost += 1;
                }
            }
            if e.delivered_ms.is_some() {
                c.delivered += 1;
            }
        }
        c
    }

    /// Every first delivery.
    pub fn deliveries(&self) -> &[Delivery] {
        &self.deliveries
    }

    /// The inbox and hash of every acknowledged message.
    pub fn stored(&self) -> Vec<(AccountId, MessageHash)> {
        self.entries.values().filter_map(|e| e.acked).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_sends_acks_and_deliveries() {
        let l = Ledger::new(Instant::now());
        let acc = sotto_protocol::AccountKey::from_entropy([1; 16]).account_id();
        with(&l, |l| {
            l.sent(1, 1, 0);
            l.sent(2, 0, 1);
            l.sent(3, 0, 1);
            l.acked(1, acc, MessageHash::ZERO);
            l.acked(2, acc, MessageHash::ZERO);
            l.delivered(1, 0);
            l.delivered(1, 0);
            l.delivered(3, 0);
            l.delivered(99, 0);
        });
        let c = with(&l, |l| l.counts());
        assert_eq!(
            c,
            Counts {
                sent: 3,
                acked: 2,
                delivered: 1,
                duplicates: 1,
                lost: 1,
                strays: 2,
            }
        );
        assert_eq!(with(&l, |l| l.deliveries().len()), 1);
        let per = with(&l, |l| l.per_client(2));
        assert_eq!(per[0].sent, 2);
        assert_eq!(per[0].acked, 1);
        assert_eq!(per[0].delivered, 0);
        assert_eq!(per[0].received, 1);
        assert_eq!(per[1].sent, 1);
        assert_eq!(per[1].delivered, 1);
        assert_eq!(per[1].lost, 1);
        with(&l, |l| {
            l.flood_store(FloodOutcome::RateLimited);
            l.flood_store(FloodOutcome::Skipped);
            l.flood_delivered();
        });
        let f = with(&l, |l| l.flood());
        assert_eq!(
            (f.attempted, f.rate_limited, f.skipped, f.delivered),
            (1, 1, 1, 1)
        );
    }
}
