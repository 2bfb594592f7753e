//! Time on the wire: Unix milliseconds.

/// Milliseconds since the Unix epoch, UTC. Every timestamp on the wire has this unit.
pub type UnixMillis = u64;

/// One second in [`UnixMillis`].
pub const SECOND_MS: u64 = 1_000;
/// One minute in [`UnixMillis`].
pub const MINUTE_MS: u64 = 60 * SECOND_MS;
/// One hour in [`UnixMillis`].
pub const HOUR_MS: u64 = 60 * MINUTE_MS;
/// One day in [`UnixMillis`].
pub const DAY_MS: u64 = 24 * HOUR_MS;
