//! Attackers that use the real protocol against the nodes (issue 12), each a
//! scenario client left out of the message schedule: `deletes` signs deletes
//! of random hashes of its own account (tombstones on every member), `polls`
//! holds as many waiting retrieves of its own inbox as the nodes let it,
//! `inbox` floods a victim's inbox as a stranger (no delivery token). The
//! report's `attack` counts what was tried and what the nodes refused, by
//! reason; the honest clients' figures show what the attack cost them.

mod deletes;
mod inbox;
mod polls;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use sotto_client::ClientError;
use tokio::sync::watch;

use crate::user::User;

/// Most attack requests in flight at once; beyond it a request is skipped
/// (counted), so the attacker's own backlog stays bounded.
const MAX_IN_FLIGHT: usize = 256;

/// What the attacker does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AttackKind {
    /// Deletes of 256 random hashes of its own account.
    Deletes,
    /// Long-poll retrieves of its own inbox, 25 s each.
    Polls,
    /// A stranger's stores into the `victim`'s inbox (no token) and paid
    /// message requests.
    Inbox,
}

/// `[attack]`: one client attacking from `from_s` to `to_s` at `rate`
/// requests a second.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attack {
    /// What it does.
    pub kind: AttackKind,
    /// The attacking client (left out of the schedule by the scenario).
    pub client: usize,
    /// Requests a second.
    pub rate: f64,
    /// When it starts (seconds from the start of sending).
    pub from_s: u64,
    /// When it stops.
    pub to_s: u64,
    /// The client attacked, for kinds aimed at someone else (`inbox`).
    #[serde(default)]
    pub victim: usize,
}

/// The most requests a second an attack may ask for.
pub const MAX_ATTACK_RATE: f64 = 1000.0;

/// What the attack tried and what became of it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AttackCounts {
    /// The attack's kind.
    pub kind: Option<AttackKind>,
    /// Requests sent.
    pub tried: u64,
    /// Requests the nodes carried out (a delete applied, a wait served).
    pub served: u64,
    /// Requests refused, by reason (`rate_limited`, `unreachable`, ...).
    pub refused: BTreeMap<String, u64>,
    /// Requests not sent because too many were in flight.
    pub skipped: u64,
}

/// The counts shared by the attacker's tasks.
pub type Shared = Arc<Mutex<AttackCounts>>;

fn with<T>(c: &Shared, f: impl FnOnce(&mut AttackCounts) -> T) -> T {
    match c.lock() {
        Ok(mut g) => f(&mut g),
        Err(p) => f(&mut p.into_inner()),
    }
}

/// Counts one answer: served, or refused for the error's reason.
fn count(c: &Shared, outcome: Result<(), ClientError>) {
    with(c, |c| match outcome {
        Ok(()) => c.served += 1,
        Err(e) => {
            let reason = match e {
                ClientError::RateLimited { .. } => "rate_limited",
                ClientError::TokenRequired => "token_required",
                ClientError::OverQuota => "over_quota",
                ClientError::Refused(_) => "refused",
                ClientError::SwarmUnreachable | ClientError::Unreachable => "unreachable",
                _ => "other",
            };
            *c.refused.entry(reason.to_string()).or_insert(0) += 1;
        }
    });
}

/// The request times, ms from the start of sending: evenly spaced.
fn times(a: &Attack) -> Vec<u64> {
    let (from, to) = (a.from_s * 1000, a.to_s * 1000);
    let n = (a.rate * (a.to_s.saturating_sub(a.from_s)) as f64).round() as u64;
    let step = 1000.0 / a.rate;
    (0..n)
        .map(|i| from + (i as f64 * step) as u64)
        .filter(|&t| t < to)
        .collect()
}

/// Runs the attack from `user` until its last request (or `stop`); returns
/// its counts once the requests in flight are answered or stopped.
pub async fn run(
    a: Attack,
    user: Arc<User>,
    victim: sotto_protocol::AccountId,
    start: Instant,
    counts: Shared,
    mut stop: watch::Receiver<bool>,
) {
    with(&counts, |c| c.kind = Some(a.kind));
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_IN_FLIGHT));
    let mut tasks = tokio::task::JoinSet::new();
    for at in times(&a) {
        let due = start + Duration::from_millis(at);
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {}
            _ = stop.changed() => break,
        }
        while tasks.try_join_next().is_some() {}
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            with(&counts, |c| c.skipped += 1);
            continue;
        };
        with(&counts, |c| c.tried += 1);
        let (user, counts) = (user.clone(), counts.clone());
        tasks.spawn(async move {
            let outcome = match a.kind {
                AttackKind::Deletes => deletes::once(&user).await,
                AttackKind::Polls => polls::once(&user).await,
                AttackKind::Inbox => inbox::once(&user, victim).await,
            };
            count(&counts, outcome);
            drop(permit);
        });
    }
    tokio::select! {
        _ = async { while tasks.join_next().await.is_some() {} } => {}
        _ = stop.changed() => tasks.abort_all(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attack_times_are_even_and_inside_the_window() {
        let a = Attack {
            kind: AttackKind::Deletes,
            client: 0,
            rate: 4.0,
            from_s: 2,
            to_s: 5,
            victim: 0,
        };
        let t = times(&a);
        assert_eq!(t.len(), 12);
        assert_eq!(t.first(), Some(&2000));
        assert!(t.iter().all(|&x| (2000..5000).contains(&x)));
    }
}
