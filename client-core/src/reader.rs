//! Reading an account's messages from its swarm without loss: one read cursor
//! per swarm member ([`ReadCursors`]), and the signed retrieve a cursor asks for.
//!
//! Every member numbers messages in the order it takes them in, so a reader
//! that goes on from its own cursor *on that member* can never skip a message
//! that reached the member late, however the members' clocks differ. A member
//! read for the first time is read by time instead, from a window before the
//! newest message the reader has seen (`protocol::rpc::read_cursor`). The proof
//! sketch is in docs/ARCHITECTURE.md ("Reading without loss").

mod pair;

pub use pair::PollPair;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sotto_protocol::rpc::read_cursor::first_read_not_before;
use sotto_protocol::rpc::{ReadCursor, RetrieveRequest, RetrievedMessage};
use sotto_protocol::{AccountId, Namespace, NodeId, UnixMillis};

/// Most members a reader keeps a cursor for. A swarm has 5 to 10 members; the
/// rest cover churn. The least recently used cursor goes first; a member read
/// again without one is read as a first contact (by time), which re-reads at
/// most a window of messages and loses none.
pub const MAX_READ_CURSORS: usize = 32;

/// A reader's cursors on the members of its swarm, and the newest message
/// time it has seen (where first reads start). Persist it whole between runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadCursors {
    members: BTreeMap<NodeId, Entry>,
    /// The largest timestamp taken in, never past the reader's clock then.
    newest: Option<UnixMillis>,
    /// A counter for "least recently used".
    tick: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    cursor: ReadCursor,
    used: u64,
}

impl ReadCursors {
    /// No cursors: every member is read from its start.
    pub fn new() -> Self {
        Self::default()
    }

    /// The unsigned retrieve of `account`'s `namespace` for `member`: on from
    /// this reader's cursor there, or a first read (by time) if it has none.
    pub fn request(
        &self,
        member: &NodeId,
        account: AccountId,
        namespace: Namespace,
    ) -> RetrieveRequest {
        let after = self.members.get(member).map(|e| e.cursor);
        let mut req = RetrieveRequest::unsigned(account, namespace, after);
        req.not_before = first_read_not_before(self.newest);
        req
    }

    /// Takes in a page `member` answered: its `cursor` is where the next read
    /// of that member goes on, and its `messages` move the newest time seen
    /// (capped at the reader's clock `now`, so a member dating a message ahead
    /// cannot push first reads of other members past real messages).
    ///
    /// Call it only once the page's messages are handled (kept, or durably
    /// queued): a crash before then reads them again, never skips them.
    pub fn advance(
        &mut self,
        member: NodeId,
        cursor: ReadCursor,
        messages: &[RetrievedMessage],
        now: UnixMillis,
    ) {
        self.tick = self.tick.wrapping_add(1);
        self.members.insert(
            member,
            Entry {
                cursor,
                used: self.tick,
            },
        );
        if let Some(t) = messages.iter().map(|m| m.timestamp.min(now)).max() {
            self.newest = Some(self.newest.map_or(t, |n| n.max(t)));
        }
        while self.members.len() > MAX_READ_CURSORS {
            let oldest = self
                .members
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(n, _)| *n);
            match oldest {
                Some(n) => self.members.remove(&n),
                None => break,
            };
        }
    }

    /// The cursor kept for `member`, if any.
    pub fn get(&self, member: &NodeId) -> Option<ReadCursor> {
        self.members.get(member).map(|e| e.cursor)
    }

    /// How many members have a cursor.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether no member has a cursor.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sotto_protocol::AccountKey;
    use sotto_protocol::constants::FIRST_READ_WINDOW_MS;
    use sotto_protocol::rpc::MessageHash;

    fn node(i: u8) -> NodeId {
        NodeId([i; 32])
    }

    fn msg(ts: UnixMillis) -> RetrievedMessage {
        RetrievedMessage {
            hash: MessageHash([1; 32]),
            data: vec![1],
            timestamp: ts,
            expiry: ts + 1_000,
        }
    }

    #[test]
    fn members_have_their_own_cursors_and_first_reads_go_by_time() {
        let acc = AccountKey::from_entropy([1; 16]).account_id();
        let mut c = ReadCursors::new();
        let first = c.request(&node(1), acc, Namespace::INBOX);
        assert_eq!((first.after, first.not_before), (None, 0));

        let now = 100 * FIRST_READ_WINDOW_MS;
        let cur = ReadCursor { store: 9, seq: 40 };
        c.advance(node(1), cur, &[msg(now - 10), msg(now - 5)], now);
        assert_eq!(c.request(&node(1), acc, Namespace::INBOX).after, Some(cur));
        let other = c.request(&node(2), acc, Namespace::INBOX);
        assert_eq!(other.after, None);
        assert_eq!(other.not_before, now - 5 - FIRST_READ_WINDOW_MS);

        // A message dated ahead of the reader's clock moves the newest time
        // only up to the clock.
        c.advance(node(2), cur, &[msg(now + FIRST_READ_WINDOW_MS)], now);
        assert_eq!(
            c.request(&node(3), acc, Namespace::INBOX).not_before,
            now - FIRST_READ_WINDOW_MS
        );
        // An empty page moves the cursor and nothing else.
        let later = ReadCursor { store: 9, seq: 41 };
        c.advance(node(1), later, &[], now + 1);
        assert_eq!(c.get(&node(1)), Some(later));
    }

    #[test]
    fn the_least_recently_used_cursor_goes_first() {
        let mut c = ReadCursors::new();
        let cur = ReadCursor { store: 1, seq: 1 };
        for i in 0..=u8::try_from(MAX_READ_CURSORS).unwrap() {
            c.advance(node(i), cur, &[], 0);
            // Member 0 is used again and again: it stays.
            c.advance(node(0), cur, &[], 0);
        }
        assert_eq!(c.len(), MAX_READ_CURSORS);
        assert!(c.get(&node(0)).is_some());
        assert!(c.get(&node(1)).is_none(), "the oldest other member went");
    }
}
