//! A reader's place in one swarm member's store: which store, and the last
//! sequence number read from it. Retrieves page by it instead of by time.

use serde::{Deserialize, Serialize};

use crate::constants::FIRST_READ_WINDOW_MS;
use crate::time::UnixMillis;

/// Where a reader stands in one member's store.
///
/// Every swarm member numbers the messages it takes in, in the order it takes
/// them in, with its own strictly increasing sequence (`seq`); a retrieve asks
/// for what follows the reader's `seq` *on that member*. A message a member
/// takes in later — stored there by a client, pushed there, or brought by
/// anti-entropy days later — gets a later number there, so it can never land
/// behind a cursor that member already handed out, whatever any clock says. A
/// time cursor cannot promise that: members' clocks differ, and a member that
/// learns of a message late files it under its first stamp
/// (docs/ARCHITECTURE.md, "Reading without loss").
///
/// `store` names the member's store instance (a random number made when the
/// store is created): a member whose store was wiped and made again numbers from
/// the start, and a cursor of the old instance must not skip its messages, so a
/// member given a cursor of another instance reads as for a first contact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ReadCursor {
    /// The member's store instance.
    pub store: u64,
    /// The last sequence number read (0: nothing read yet).
    pub seq: u64,
}

/// Where a first read of a member starts, for a reader whose newest message
/// is dated `newest_seen` (by its own clock-free view: the largest timestamp it
/// has taken in, `None` if it has none): [`FIRST_READ_WINDOW_MS`] before it, or
/// from the start.
///
/// A first contact has no sequence number to go on, so it reads by time; the
/// window covers the members' clock differences and the time a message takes
/// to reach every member.
pub fn first_read_not_before(newest_seen: Option<UnixMillis>) -> UnixMillis {
    newest_seen.map_or(0, |t| t.saturating_sub(FIRST_READ_WINDOW_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_reads_start_a_window_back() {
        assert_eq!(first_read_not_before(None), 0);
        assert_eq!(first_read_not_before(Some(5)), 0);
        let t = 10 * FIRST_READ_WINDOW_MS;
        assert_eq!(first_read_not_before(Some(t)), t - FIRST_READ_WINDOW_MS);
    }
}
