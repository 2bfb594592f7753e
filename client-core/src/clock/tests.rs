//! The clock's learning rules, with samples fed directly (no network, no
//! waiting: sample times are given).

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::sync::Arc;
use std::time::Instant;

use sotto_protocol::time::MINUTE_MS;

use super::*;

const MIN: i64 = MINUTE_MS as i64;
const DAY: i64 = DAY_MS as i64;

fn node(i: u8) -> NodeId {
    NodeId([i; 32])
}

#[test]
fn the_corrected_clock_is_the_device_clock_plus_the_correction() {
    let clock = ClientClock::new(10 * MIN);
    assert_eq!(clock.sync_state(), SyncState::Unsynced);
    assert!(clock.needs_sync(), "never synced: ask the bootstrap nodes");
    assert_eq!(clock.sync(&[-10 * MIN]), Some(-10 * MIN));
    let device = clock.device_now();
    let corrected = clock.now();
    let diff = device.abs_diff(corrected);
    assert!((599_000..=601_000).contains(&diff), "{diff}");
    assert!(!clock.needs_sync());
}

#[test]
fn an_estimate_takes_the_answer_as_made_halfway() {
    assert_eq!(ClientClock::estimate(10_000, 1_000, 1_200), 8_900);
    assert_eq!(ClientClock::estimate(0, 5_000, 5_000), -5_000);
    // Garbage node times stay within i64.
    assert_eq!(ClientClock::estimate(u64::MAX, 0, 0), i64::MAX);
}

#[test]
fn bootstrap_sync_takes_the_median_whole() {
    let clock = ClientClock::new(0);
    assert_eq!(clock.sync(&[]), None, "no answer changes nothing");
    assert_eq!(clock.sync_state(), SyncState::Unsynced);
    // A day off is taken in one go, and one liar of three does not count.
    assert_eq!(clock.sync(&[DAY + 5, 3 * DAY, DAY - 5]), Some(DAY + 5));
    assert_eq!(clock.correction_ms(), DAY + 5);
    assert_eq!(clock.sync_state(), SyncState::Synced);
    // Two: halfway between them.
    assert_eq!(clock.sync(&[-DAY, -DAY + 2 * MIN]), Some(-DAY + MIN));
    // One: used, but only provisionally.
    assert_eq!(clock.sync(&[-DAY]), Some(-DAY));
    assert_eq!(clock.sync_state(), SyncState::Provisional);
    // Past the bound: held at the bound.
    assert_eq!(clock.sync(&[i64::MAX]), Some(MAX_CORRECTION_MS));
}

#[test]
fn bootstrap_sync_leaves_a_right_clock_alone() {
    let clock = ClientClock::new(0);
    // Answers delayed on the way: within the noise, nothing changes.
    assert_eq!(clock.sync(&[900, -300, 1_500]), Some(0));
    assert_eq!(clock.correction_ms(), 0);
    assert_eq!(clock.sync_state(), SyncState::Synced);
    // Past it, the median is taken whole.
    assert_eq!(clock.sync(&[2_500, 2_400, 9_000]), Some(2_500));
    // And near a correction already made, it stays.
    assert_eq!(clock.sync(&[3_000, 1_000, 2_000]), Some(2_500));
    assert_eq!(clock.sync(&[-SYNC_NOISE_MS]), Some(-SYNC_NOISE_MS));
}

#[test]
fn one_node_alone_never_moves_the_clock() {
    let clock = ClientClock::new(0);
    let t = Instant::now();
    for _ in 0..10 {
        assert_eq!(clock.learn(node(1), 4 * MIN, t), Learned::Unchanged);
    }
    assert_eq!(clock.correction_ms(), 0);
    // A second node that agrees: now it moves, to what both say.
    assert_eq!(clock.learn(node(2), 4 * MIN, t), Learned::Moved(4 * MIN));
    assert_eq!(clock.correction_ms(), 4 * MIN);
}

#[test]
fn one_liar_among_honest_nodes_cannot_move_the_clock() {
    let clock = ClientClock::new(0);
    let t = Instant::now();
    // Honest nodes agree with the clock within seconds; the liar says a
    // day, again and again. Alone with one honest node, or among many, it
    // is outvoted: the clock's own vote sides with the honest ones.
    assert_eq!(clock.learn(node(9), DAY, t), Learned::Unchanged);
    assert_eq!(clock.learn(node(1), 2_000, t), Learned::Unchanged);
    for _ in 0..5 {
        assert_eq!(clock.learn(node(9), DAY, t), Learned::Unchanged);
    }
    for i in 2..6 {
        assert_eq!(clock.learn(node(i), -1_000, t), Learned::Unchanged);
        assert_eq!(clock.learn(node(9), -DAY, t), Learned::Unchanged);
    }
    assert_eq!(clock.correction_ms(), 0);
    // Two liars that agree against one honest node tie with the honest
    // node and the clock's own vote: a tie keeps the clock. A third liar is
    // a majority and wins one bounded step.
    let clock = ClientClock::new(0);
    clock.learn(node(1), 0, t);
    clock.learn(node(8), DAY, t);
    assert_eq!(clock.learn(node(9), DAY, t), Learned::Unchanged);
    assert_eq!(clock.correction_ms(), 0);
    assert_eq!(clock.learn(node(7), DAY, t), Learned::Moved(MAX_STEP_MS));
}

#[test]
fn a_step_is_bounded_and_asks_for_a_bootstrap_sync() {
    let clock = ClientClock::new(0);
    clock.sync(&[0, 0]);
    assert!(!clock.needs_sync());
    let t = Instant::now();
    clock.learn(node(1), DAY, t);
    assert_eq!(clock.learn(node(2), DAY, t), Learned::Moved(MAX_STEP_MS));
    assert_eq!(clock.correction_ms(), MAX_STEP_MS);
    assert!(
        clock.lock().resync,
        "a cut-short step wants the bootstrap nodes"
    );
    // Each further answer takes at most one more step.
    assert_eq!(clock.learn(node(3), DAY, t), Learned::Moved(MAX_STEP_MS));
    assert_eq!(clock.correction_ms(), 2 * MAX_STEP_MS);
    // The bootstrap sync sets it right and forgets the samples.
    clock.sync(&[5, 5, 5]);
    assert_eq!(clock.correction_ms(), 5);
    assert!(!clock.lock().resync);
    assert_eq!(clock.learn(node(4), DAY, t), Learned::Unchanged);
}

#[test]
fn small_differences_are_noise() {
    let clock = ClientClock::new(0);
    let t = Instant::now();
    clock.learn(node(1), 20_000, t);
    assert_eq!(clock.learn(node(2), 25_000, t), Learned::Unchanged);
    assert_eq!(clock.correction_ms(), 0);
}

#[test]
fn a_node_counts_once_with_the_median_of_its_recent_samples() {
    let clock = ClientClock::new(0);
    let t = Instant::now();
    // Node 1: two answers of 10 min and one delayed odd one; its median is
    // 10 min. Node 2 agrees: the clock moves to 10 min, not to an average.
    clock.learn(node(1), 10 * MIN, t);
    clock.learn(node(1), 10 * MIN, t);
    clock.learn(node(1), 9 * MIN, t);
    assert_eq!(clock.learn(node(2), 10 * MIN, t), Learned::Moved(10 * MIN));
    // Only the last SAMPLES_PER_NODE count: three new answers of node 1
    // replace its old ones.
    let mut s = Samples::default();
    for v in [1, 2, 3, 100, 100, 100] {
        s.add(node(1), v * MIN, t);
    }
    s.add(node(2), 100 * MIN, t);
    assert_eq!(s.vote(0, t), Some(100 * MIN));
}

#[test]
fn samples_are_bounded_and_age_out() {
    let t = Instant::now();
    let mut s = Samples::default();
    for i in 0..40u8 {
        let at = t + Duration::from_secs(u64::from(i));
        s.add(node(i), i64::from(i), at);
    }
    assert_eq!(s.nodes.len(), MAX_SAMPLED_NODES);
    // The ones kept are the ones heard from last.
    assert!(
        s.nodes
            .iter()
            .all(|n| n.node.0[0] >= 40 - MAX_SAMPLED_NODES as u8)
    );
    assert!(s.nodes.iter().all(|n| n.recent.len() == 1));
    // Much later, none of them counts any more.
    let later = t + SAMPLE_MAX_AGE + Duration::from_secs(100);
    assert_eq!(s.vote(0, later), None);
    assert!(s.nodes.is_empty());
}

#[test]
fn provisional_clocks_are_refined_by_pongs_and_then_only_skew_counts() {
    let clock = ClientClock::new(0);
    assert_eq!(
        clock.observe_if_provisional(node(1), 1),
        Learned::Unchanged,
        "unsynced: a pong is not a clock answer"
    );
    // One bootstrap node 4 min slow: provisional.
    clock.sync(&[-4 * MIN]);
    assert_eq!(clock.sync_state(), SyncState::Provisional);
    // Path tests reach two other nodes with the right time.
    let right = clock.device_now();
    clock.observe_if_provisional(node(1), right);
    let moved = clock.observe_if_provisional(node(2), right);
    let Learned::Moved(step) = moved else {
        panic!("{moved:?}")
    };
    assert!((step - 4 * MIN).abs() < 2_000, "{step}");
    assert_eq!(clock.sync_state(), SyncState::Synced);
    assert_eq!(
        clock.observe_if_provisional(node(3), right + DAY as u64),
        Learned::Unchanged
    );
}

#[test]
fn concurrent_answers_are_each_applied_once() {
    // Sixteen nodes' ClockSkew answers arrive at once, all saying the clock
    // is 10 min slow. Adding each offset to the correction would move it
    // 160 min; the rule moves it exactly once, by 10 min, whatever the order.
    for _ in 0..20 {
        let clock = Arc::new(ClientClock::new(0));
        let t = Instant::now();
        let start = Arc::new(std::sync::Barrier::new(16));
        let threads: Vec<_> = (0..16u8)
            .map(|i| {
                let (clock, start) = (clock.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    clock.learn(node(i), 10 * MIN, t)
                })
            })
            .collect();
        let results: Vec<Learned> = threads.into_iter().map(|h| h.join().unwrap()).collect();
        let moves: Vec<i64> = results
            .iter()
            .filter_map(|r| match r {
                Learned::Moved(m) => Some(*m),
                Learned::Unchanged => None,
            })
            .collect();
        assert_eq!(moves, vec![10 * MIN], "{results:?}");
        assert_eq!(clock.correction_ms(), 10 * MIN);
    }
}
