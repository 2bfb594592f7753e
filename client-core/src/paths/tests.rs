//! The avoid list and the guards under path-bias accounting ([`super::bias`]):
//! what one hostile relay's accusations can do to the client's paths.

#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::collections::HashSet;

use super::*;

fn n(i: u8) -> NodeId {
    NodeId([i; 32])
}

/// Paths with guards `n(1)` and `n(2)` and a ready path in each slot.
fn paths() -> Paths {
    let pool: Vec<Candidate> = (1..=2)
        .map(|i| Candidate {
            node: n(i),
            subnets: vec![crate::directory::Subnet::V4([10, 0, i])],
        })
        .collect();
    let mut guards = Guards::in_memory();
    guards.refresh(&mut rand::rng(), 1, &pool, &HashSet::new(), false);
    let p = Paths::new(guards);
    assert_eq!(p.guards().len(), 2);
    let first = p.guards()[0];
    let second = p.guards()[1];
    p.install(0, vec![first, n(10), n(20)]);
    p.install(1, vec![second, n(11), n(21)]);
    p
}

fn through(guard: NodeId, middle: u8) -> PathRef {
    PathRef {
        slot: None,
        relays: vec![guard, n(middle), n(99)],
    }
}

#[test]
fn a_hostile_guard_cannot_push_out_every_honest_middle() {
    let p = paths();
    let guard = p.guards()[0];
    // The guard names one honest middle after another.
    for middle in 30..40 {
        p.failed(&through(guard, middle), Some(n(middle)));
    }
    let avoided = p.avoided();
    let pushed_out = (30..40).filter(|m| avoided.contains(&n(*m))).count();
    assert_eq!(pushed_out, bias::MAX_ACCUSED_PER_REPORTER);
    // Its later accusations fell on itself.
    assert!(avoided.contains(&guard));
}

#[test]
fn the_client_own_observation_is_not_capped() {
    let p = paths();
    let guard = p.guards()[0];
    // The client could not reach the guard: the guard is blamed, no reporter.
    p.failed(&through(guard, 30), Some(guard));
    assert!(p.avoided().contains(&guard));
}

#[test]
fn a_guard_whose_paths_fail_far_more_is_dropped() {
    let p = paths();
    let (bad, good) = (p.guards()[0], p.guards()[1]);
    for i in 0..bias::MIN_ATTEMPTS {
        // The good guard's paths work; the bad one's fail in the path
        // (garbled, refused: nobody is named).
        p.succeeded(&through(good, 50));
        if i % 4 == 0 {
            p.succeeded(&through(bad, 50));
        } else {
            p.failed(&through(bad, 50), None);
        }
    }
    let failures = p.with(|s| {
        s.guards
            .list()
            .iter()
            .find(|g| g.node == bad)
            .unwrap()
            .failures
    });
    assert!(
        failures >= GUARD_MAX_FAILURES,
        "the biased guard is marked for replacement"
    );
    // Its ready path is gone, the other guard's is not.
    let ready = p.ready_relays();
    assert!(ready.iter().all(|r| r[0] != bad));
    assert!(ready.iter().any(|r| r[0] == good));
}

#[test]
fn a_destination_that_did_not_answer_does_not_count_against_the_guard() {
    let p = paths();
    let guard = p.guards()[0];
    for _ in 0..3 * bias::MIN_ATTEMPTS {
        // Blame on a node outside the path: the destination.
        p.failed(&through(guard, 50), Some(n(200)));
    }
    assert_eq!(p.guard_record(&guard).attempts, 0);
}

#[test]
fn a_path_made_for_one_request_serves_the_next_that_no_ready_path_fits() {
    let p = paths();
    let guard = p.guards()[0];
    let one_off = through(guard, 60);
    let none: HashSet<NodeId> = HashSet::new();
    assert_eq!(p.pick_extra(&none, &[]), None);
    // A ready path is never kept as an extra one.
    let ready = PathRef {
        slot: Some(0),
        relays: p.ready_relays()[0].clone(),
    };
    p.keep_extra(&ready);
    assert_eq!(p.pick_extra(&none, &[]), None);

    p.keep_extra(&one_off);
    p.keep_extra(&one_off);
    assert_eq!(p.pick_extra(&none, &[]), Some(one_off.clone()));
    // Not where the request must avoid one of its relays, nor twice for
    // one request.
    let swarm: HashSet<NodeId> = [n(60)].into_iter().collect();
    assert_eq!(p.pick_extra(&swarm, &[]), None);
    assert_eq!(p.pick_extra(&none, std::slice::from_ref(&one_off)), None);

    // The newest of at most EXTRA_PATHS is tried first; the oldest goes.
    for middle in 61..61 + EXTRA_PATHS as u8 {
        p.keep_extra(&through(guard, middle));
    }
    assert_eq!(
        p.pick_extra(&none, &[]),
        Some(through(guard, 60 + EXTRA_PATHS as u8))
    );
    let not_61: HashSet<NodeId> = (62..61 + EXTRA_PATHS as u8).map(n).collect();
    assert_eq!(p.pick_extra(&not_61, &[]), Some(through(guard, 61)));
    let only_60: HashSet<NodeId> = (61..61 + EXTRA_PATHS as u8).map(n).collect();
    assert_eq!(p.pick_extra(&only_60, &[]), None, "the oldest was dropped");

    // A failure drops it at once, and so does a relay that failed
    // elsewhere (it is avoided).
    p.failed(&through(guard, 61), None);
    assert_eq!(p.pick_extra(&not_61, &[]), None);
    let newest = through(guard, 60 + EXTRA_PATHS as u8);
    p.failed(&through(guard, 90), Some(n(60 + EXTRA_PATHS as u8)));
    assert_ne!(p.pick_extra(&none, &[]), Some(newest));
    // The next newest is taken in its place.
    assert_eq!(
        p.pick_extra(&none, &[]),
        Some(through(guard, 59 + EXTRA_PATHS as u8))
    );
}
