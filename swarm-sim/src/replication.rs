//! How well the acknowledged messages are replicated at the end of a run,
//! read straight from the nodes' stores and directories.

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use sotto_node::clock::Clock;
use sotto_node::store::Store;
use sotto_protocol::constants::MAX_RETRIEVE_BYTES;
use sotto_protocol::rpc::MessageHash;
use sotto_protocol::{AccountId, Namespace};

use crate::net::SimNet;

/// Most pages read from one store for one inbox.
const MAX_PAGES: usize = 100_000;

/// Replication at the end of a run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Replication {
    /// Acknowledged messages (all are live: the TTL outlasts any run).
    pub messages: u64,
    /// Of those, how many every current swarm member holds. A member that is
    /// stopped at the end counts as not holding it.
    pub fully_replicated: u64,
    /// `fully_replicated / messages` (1 when there are no messages).
    pub fraction: f64,
    /// Copies found over copies expected (members × messages).
    pub copy_fraction: f64,
    /// How long after the drain replication took to reach every member
    /// ([`settle`]), ms; the whole wait if it never did.
    pub settle_ms: u64,
}

/// The longest the end of a run waits for replication to complete. Nodes
/// repair by anti-entropy (every second in the simulator) and retried pushes;
/// a message a partition or crash kept from a member reaches it within a few
/// rounds once the nodes get the CPU, which on a loaded machine can be after
/// the drain. Measuring once, at a fixed instant, made a timing property of
/// the machine look like a replication failure.
pub const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Measures replication of `stored` again and again (every second) until
/// every member holds every message or [`SETTLE_LIMIT`] passes; the last
/// measurement, with how long that took.
pub async fn settle(net: &SimNet, stored: &[(AccountId, MessageHash)]) -> Replication {
    let start = std::time::Instant::now();
    loop {
        let mut r = measure(net, stored).await;
        let waited = start.elapsed();
        r.settle_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
        if r.fully_replicated == r.messages || waited >= SETTLE_LIMIT {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}

/// Every message hash `store` holds in `account`'s inbox.
fn inbox_hashes(store: &Store, account: &AccountId) -> HashSet<MessageHash> {
    let mut out = HashSet::new();
    let max = u32::try_from(MAX_RETRIEVE_BYTES).unwrap_or(u32::MAX);
    let mut after = 0;
    for _ in 0..MAX_PAGES {
        let now = Clock::system().now();
        let Ok(page) = store.retrieve(account, Namespace::INBOX, after, 0, max, now) else {
            break;
        };
        out.extend(page.messages.iter().map(|m| m.hash));
        if !(page.more || page.scan_limited) || page.seq == after {
            break;
        }
        after = page.seq;
    }
    out
}

/// Measures replication of `stored` (inbox, hash) on the running nodes, with
/// swarms as the first running node's directory sees them.
pub async fn measure(net: &SimNet, stored: &[(AccountId, MessageHash)]) -> Replication {
    let mut by_account: HashMap<AccountId, Vec<MessageHash>> = HashMap::new();
    for (a, h) in stored {
        by_account.entry(*a).or_default().push(*h);
    }
    let mut r = Replication {
        messages: stored.len() as u64,
        ..Replication::default()
    };
    let mut copies = 0u64;
    let mut expected = 0u64;
    for (account, hashes) in by_account {
        let members = net.swarm(&account);
        let mut held: Vec<HashSet<MessageHash>> = Vec::with_capacity(members.len());
        for m in &members {
            let store = net
                .index_of(m)
                .and_then(|i| net.slots.get(i))
                .and_then(|s| s.node.as_ref())
                .map(|n| n.context().store.clone());
            let set = match store {
                // Store reads block on disk.
                Some(store) => tokio::task::spawn_blocking(move || inbox_hashes(&store, &account))
                    .await
                    .unwrap_or_default(),
                None => HashSet::new(),
            };
            held.push(set);
        }
        for h in &hashes {
            let n = held.iter().filter(|s| s.contains(h)).count() as u64;
            copies += n;
            expected += members.len() as u64;
            if !members.is_empty() && n == members.len() as u64 {
                r.fully_replicated += 1;
            }
        }
    }
    r.fraction = ratio(r.fully_replicated, r.messages);
    r.copy_fraction = ratio(copies, expected);
    r
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}
