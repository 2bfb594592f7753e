//! Following an account at one swarm member with a pair of long polls.
//!
//! A long poll is answered by the next message; the one after it then waits
//! until that answer has travelled back and the reader's next poll has
//! travelled out, two onion paths. A [`PollPair`] keeps a second poll parked
//! at the same member that waits for one message more
//! ([`RetrieveRequest::wait_for`]), so a message that arrives in that gap is
//! answered at once, and each message answers one poll, not both
//! (docs/ARCHITECTURE.md, "The pair of long polls").
//!
//! Which message each poll waits for is counted from the pair's cursor: a
//! poll that waits for `n` messages after an older cursor waits for fewer
//! after the newer one, by the new messages an answer brought. The count can
//! only go wrong towards both polls waiting for the same message (a message
//! the reader had from elsewhere, say), which costs the gap this avoids,
//! never a message: every answer reads on from a cursor, and a poll's wait
//! ends with what there is.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use rand::seq::IndexedRandom;
use sotto_protocol::rpc::{MessageHash, ReadCursor, Request, Response, RetrievedMessage};
use sotto_protocol::{AccountKey, Namespace, NodeId, UnixMillis};
use tokio::time::Instant;

use super::ReadCursors;
use crate::{Client, ClientError};

/// Message hashes a pair remembers, to hand each message over once.
const RECENT: usize = 1024;
/// The least time between two posts of one slot whose poll brought nothing
/// new: a node that answers at once, empty or with old messages, must not
/// make the pair send requests as fast as paths carry them.
const MIN_EMPTY_GAP: Duration = Duration::from_secs(1);

/// An answered poll: its slot and the node's answer.
type Answered = (usize, Result<Response, ClientError>);

/// Two long polls of one account's namespace at one swarm member. Dropping
/// it leaves its polls parked at the member until a message or their wait's
/// end answers them into nothing; they hold no state a later pair needs.
pub struct PollPair {
    client: Arc<Client>,
    network: String,
    key: Arc<AccountKey>,
    namespace: Namespace,
    member: NodeId,
    wait_ms: u32,
    /// Where the next poll reads on from.
    after: Option<ReadCursor>,
    /// A first contact's oldest timestamp (see [`ReadCursors::request`]).
    not_before: UnixMillis,
    slots: Slots,
    /// When each slot's poll went out.
    posted: [Instant; 2],
    /// A slot whose last poll came back early with nothing new goes out
    /// again no sooner than this.
    hold: [Option<Instant>; 2],
    polls: FuturesUnordered<BoxFuture<'static, Answered>>,
    seen: HashSet<MessageHash>,
    order: VecDeque<MessageHash>,
}

impl std::fmt::Debug for PollPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PollPair")
            .field("member", &self.member)
            .field("after", &self.after)
            .field("slots", &self.slots.0)
            .finish_non_exhaustive()
    }
}

impl PollPair {
    /// A pair following `key`'s account in `namespace` at `member`, each
    /// poll waiting up to `wait_ms`, from where `cursors` stand there.
    pub fn new(
        client: Arc<Client>,
        network: &str,
        key: Arc<AccountKey>,
        namespace: Namespace,
        member: NodeId,
        cursors: &ReadCursors,
        wait_ms: u32,
    ) -> Self {
        let first = cursors.request(&member, key.account_id(), namespace);
        Self {
            client,
            network: network.to_owned(),
            key,
            namespace,
            member,
            wait_ms,
            after: first.after,
            not_before: first.not_before,
            slots: Slots::default(),
            posted: [Instant::now(); 2],
            hold: [None; 2],
            polls: FuturesUnordered::new(),
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// [`PollPair::new`] at a member of `key`'s swarm chosen at random (a
    /// follower that picks again after a failure lands elsewhere), or `None`
    /// while the client knows no member of it.
    pub fn at_random_member(
        client: Arc<Client>,
        network: &str,
        key: Arc<AccountKey>,
        namespace: Namespace,
        cursors: &ReadCursors,
        wait_ms: u32,
    ) -> Option<Self> {
        let swarm = client.swarm_of(&key.account_id());
        let member = *swarm.choose(&mut rand::rng())?;
        Some(Self::new(
            client, network, key, namespace, member, cursors, wait_ms,
        ))
    }

    /// The next messages the member answers with, new to this pair and of
    /// the account (their hash checked), in the member's order. Polls are
    /// posted again as they are answered. A failed poll's error is returned;
    /// the other poll stays out, and the next call posts a new one in its
    /// place. A poll that comes back within [`MIN_EMPTY_GAP`] of going out
    /// with nothing new goes out again only after that gap. Cancel-safe:
    /// the polls live in the pair, not in this future.
    pub async fn next(&mut self) -> Result<Vec<RetrievedMessage>, ClientError> {
        loop {
            self.post();
            let Some((slot, answer)) = self.polls.next().await else {
                // `post` left none out: cannot happen, but not a busy loop.
                return Err(ClientError::BadResponse);
            };
            self.slots.answered(slot);
            let Response::Messages {
                messages, cursor, ..
            } = answer?
            else {
                return Err(ClientError::BadResponse);
            };
            let account = self.key.account_id();
            let new: Vec<RetrievedMessage> = messages
                .into_iter()
                .filter(|m| m.hash_matches(&account, self.namespace) && self.remember(m.hash))
                .collect();
            let forward = self
                .after
                .is_none_or(|a| a.store != cursor.store || a.seq < cursor.seq);
            if forward {
                self.after = Some(cursor);
                // The other poll waits for fewer messages after the new
                // cursor.
                self.slots.moved_on(new.len());
            }
            if !new.is_empty() {
                return Ok(new);
            }
            if let Some(posted) = self.posted.get(slot).copied()
                && posted.elapsed() < MIN_EMPTY_GAP
                && let Some(h) = self.hold.get_mut(slot)
            {
                *h = Some(posted + MIN_EMPTY_GAP);
            }
        }
    }

    /// Posts a poll in each empty slot (one held back goes out at its time).
    fn post(&mut self) {
        while let Some((slot, wait_for)) = self.slots.next_post() {
            let hold = self.hold.get_mut(slot).and_then(Option::take);
            if let Some(p) = self.posted.get_mut(slot) {
                let now = Instant::now();
                *p = hold.map_or(now, |at| at.max(now));
            }
            self.polls.push(self.poll(slot, wait_for, hold));
        }
    }

    fn poll(
        &self,
        slot: usize,
        wait_for: u8,
        hold: Option<Instant>,
    ) -> BoxFuture<'static, Answered> {
        let mut req = sotto_protocol::rpc::RetrieveRequest::unsigned(
            self.key.account_id(),
            self.namespace,
            self.after,
        );
        req.not_before = self.not_before;
        req.wait_ms = self.wait_ms;
        req.wait_for = wait_for;
        let (client, key, network, member) = (
            self.client.clone(),
            self.key.clone(),
            self.network.clone(),
            self.member,
        );
        Box::pin(async move {
            if let Some(at) = hold {
                tokio::time::sleep_until(at).await;
            }
            let answer = client
                .request(member, |now| match req.clone().sign(&key, &network, now) {
                    Ok(r) => Request::Retrieve(r),
                    // Signing fails only on an encoding error; the node then
                    // answers a ping, which `next` refuses.
                    Err(_) => Request::Ping,
                })
                .await;
            (slot, answer)
        })
    }

    /// Whether `hash` is new to the pair (and remembers it).
    fn remember(&mut self, hash: MessageHash) -> bool {
        if !self.seen.insert(hash) {
            return false;
        }
        self.order.push_back(hash);
        if self.order.len() > RECENT
            && let Some(old) = self.order.pop_front()
        {
            self.seen.remove(&old);
        }
        true
    }
}

/// For each of the two slots with a poll out: the message after the pair's
/// cursor it waits for (1: the next one; 0: one the pair already has).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Slots([Option<u8>; 2]);

impl Slots {
    /// An empty slot to post a poll in, and how many messages after the
    /// cursor that poll waits for: the one after the other poll's, or the
    /// next one. Marks the slot taken.
    fn next_post(&mut self) -> Option<(usize, u8)> {
        let [a, b] = self.0;
        let (slot, other) = match (a, b) {
            (None, other) => (0, other),
            (Some(other), None) => (1, Some(other)),
            (Some(_), Some(_)) => return None,
        };
        let wait_for = if other == Some(1) { 2 } else { 1 };
        if let Some(s) = self.0.get_mut(slot) {
            *s = Some(wait_for);
        }
        Some((slot, wait_for))
    }

    /// `slot`'s poll was answered (or failed).
    fn answered(&mut self, slot: usize) {
        if let Some(s) = self.0.get_mut(slot) {
            *s = None;
        }
    }

    /// The cursor moved on past `new` messages.
    fn moved_on(&mut self, new: usize) {
        let d = u8::try_from(new).unwrap_or(u8::MAX);
        for w in self.0.iter_mut().flatten() {
            *w = w.saturating_sub(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages arrive one at a time; the poll waiting for the next one
    /// answers it, the other is already out for the one after.
    #[test]
    fn each_message_answers_one_poll_and_the_other_waits_for_the_next() {
        let mut s = Slots::default();
        assert_eq!(s.next_post(), Some((0, 1)));
        assert_eq!(s.next_post(), Some((1, 2)));
        assert_eq!(s.next_post(), None);
        for _ in 0..5 {
            // The poll waiting for the next message answers with it.
            let slot = s.0.iter().position(|w| *w == Some(1)).unwrap_or(9);
            s.answered(slot);
            s.moved_on(1);
            // The other now waits for the next one; the new poll, for the
            // one after.
            assert_eq!(s.0.iter().flatten().copied().collect::<Vec<_>>(), vec![1]);
            assert_eq!(s.next_post(), Some((slot, 2)));
        }
    }

    /// Two messages at once answer both polls: the first answer moves the
    /// cursor past both, so the new poll waits for the next message and the
    /// second answer (nothing new) then posts one for the one after.
    #[test]
    fn two_messages_at_once_and_a_stale_answer() {
        let mut s = Slots::default();
        s.next_post();
        s.next_post();
        s.answered(0);
        s.moved_on(2);
        assert_eq!(s.0, [None, Some(0)]);
        assert_eq!(s.next_post(), Some((0, 1)));
        s.answered(1);
        s.moved_on(0);
        assert_eq!(s.next_post(), Some((1, 2)));
        // A failed poll is posted again the same way.
        s.answered(0);
        assert_eq!(s.next_post(), Some((0, 1)));
    }
}
