//! A flooding client: it stores far more into one inbox than the nodes'
//! per-account rate limit and quota allow, so a run shows that the nodes
//! refuse it (typed answers, counted) while everyone else's messages go on.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sotto_client::ClientError;
use sotto_protocol::AccountId;
use sotto_protocol::envelope::{Content, ContentBody};
use sotto_protocol::rpc::{DeliverRequest, Request, Response};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;

use crate::ledger::{self, FloodOutcome, Shared};
use crate::scenario::Flood;
use crate::user::{FLOOD_PREFIX, User};

/// Flood stores in flight at once; beyond it a store is skipped (counted),
/// so the flooder's own backlog stays bounded whatever its rate.
const MAX_IN_FLIGHT: usize = 32;

/// The flood's store times, ms from the start of sending: evenly spaced at
/// `rate` a second over `[from_s, to_s)` (no randomness: the same every run).
pub fn times(f: &Flood) -> Vec<u64> {
    let (from, to) = (f.from_s * 1000, f.to_s * 1000);
    let n = (f.rate * (f.to_s - f.from_s) as f64).round() as u64;
    let step = 1000.0 / f.rate;
    (0..n)
        .map(|i| from + (i as f64 * step) as u64)
        .filter(|&t| t < to)
        .collect()
}

/// Runs the flood from `user` into `target`'s inbox until its last store
/// (or `stop`), then waits for the stores in flight.
pub async fn run(
    f: Flood,
    user: Arc<User>,
    target: AccountId,
    ledger: Shared,
    start: Instant,
    ttl_ms: u64,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let mut stores = JoinSet::new();
    let filler = "x".repeat(f.size.saturating_sub(FLOOD_PREFIX.len() + 8));
    for (n, at) in times(&f).into_iter().enumerate() {
        let due = start + Duration::from_millis(at);
        tokio::select! {
            _ = tokio::time::sleep_until(due.into()) => {}
            _ = stop.changed() => break,
        }
        // Reap finished stores so the set stays small.
        while stores.try_join_next().is_some() {}
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            ledger::with(&ledger, |l| l.flood_store(FloodOutcome::Skipped));
            continue;
        };
        let (user, ledger) = (user.clone(), ledger.clone());
        let text = format!("{FLOOD_PREFIX}{n} {filler}");
        stores.spawn(async move {
            let outcome = store_once(&user, target, text, ttl_ms).await;
            ledger::with(&ledger, |l| l.flood_store(outcome));
            drop(permit);
        });
    }
    while stores.join_next().await.is_some() {}
}

/// One flood store, not retried: a refusal is what the flood is for.
async fn store_once(user: &User, target: AccountId, text: String, ttl_ms: u64) -> FloodOutcome {
    let content = Content::new(
        &mut rand::rng(),
        user.client.now(),
        ContentBody::Text { text },
    );
    let Some(data) = user.seal(&target, &content).await else {
        return FloodOutcome::Failed;
    };
    // The flooder is one of the target's contacts (it holds the token): the
    // flood tests the contacts' own rate and quota.
    let d = DeliverRequest::with_token(target, data, ttl_ms, crate::user::sim_token(&target));
    let answer = user
        .client
        .swarm_request(&target, |_| Request::Deliver(d.clone()))
        .await;
    match answer {
        Ok(Response::Stored { .. }) => FloodOutcome::Stored,
        Err(ClientError::RateLimited { .. }) => FloodOutcome::RateLimited,
        Err(ClientError::OverQuota) => FloodOutcome::OverQuota,
        _ => FloodOutcome::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flood_times_are_even_and_inside_the_window() {
        let f = Flood {
            client: 0,
            target: None,
            rate: 4.0,
            from_s: 2,
            to_s: 5,
            size: 100,
        };
        let t = times(&f);
        assert_eq!(t.len(), 12);
        assert_eq!(t.first(), Some(&2000));
        assert_eq!(t.get(1), Some(&2250));
        assert!(t.iter().all(|&x| (2000..5000).contains(&x)));
    }
}
