//! The paired measurement every ratio of the node's benchmarks is printed from:
//! the two sides interleaved round by round (so a slow moment of the machine
//! hits both), each round timed by the side itself (so its setup stays out of
//! the timing), medians taken.

use std::time::Duration;

/// Runs `a` and `b` alternately for `rounds` rounds; each returns how long its
/// `iters` operations took. Returns the median time of one operation of each
/// side, in nanoseconds.
pub fn paired(
    rounds: usize,
    iters: usize,
    mut a: impl FnMut() -> Duration,
    mut b: impl FnMut() -> Duration,
) -> (f64, f64) {
    let mut ta = Vec::with_capacity(rounds);
    let mut tb = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        ta.push(a());
        tb.push(b());
    }
    (median(&mut ta, iters), median(&mut tb, iters))
}

fn median(v: &mut [Duration], iters: usize) -> f64 {
    v.sort();
    let mid = v.get(v.len() / 2).copied().unwrap_or_default();
    mid.as_nanos() as f64 / iters.max(1) as f64
}
