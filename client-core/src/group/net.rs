//! Carrying a group's messages through the network: each epoch's messages
//! and the commit that ends it live in the swarm of the epoch's account
//! ([`super::Groups::epoch_account`]), in its owner-only namespace
//! (`Namespace::CONFIG`), stored and read with the epoch account's owner
//! signature over onion paths.
//!
//! So a node checks that a writer or reader holds the current epoch's key,
//! which only members can derive, and learns nothing else: not the group
//! (each epoch is a new account), not the member (the signature is the epoch
//! account's, the same for every member), not the content.

use sotto_protocol::constants::{MAX_LONG_POLL_MS, MAX_TTL_MS};
use sotto_protocol::rpc::{MessageHash, Request, Response, RetrievedMessage, StoreRequest};
use sotto_protocol::time::DAY_MS;
use sotto_protocol::{AccountKey, Namespace, NodeId};
use std::collections::HashSet;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::{Client, ClientError, ReadCursors};

/// Where a group's messages are stored in an epoch account.
pub const GROUP_NAMESPACE: Namespace = Namespace::CONFIG;
/// How long an application message is kept (Session keeps 14 days too).
pub const MESSAGE_TTL_MS: u64 = 14 * DAY_MS;
/// How long a handshake (commit, proposal) is kept: the longest TTL, so a
/// member away longer than messages are kept can still follow the epochs.
pub const HANDSHAKE_TTL_MS: u64 = MAX_TTL_MS;
/// Pages read in a row from one epoch account before a read returns.
pub const MAX_PAGES: usize = 16;

/// Stores `message` (an MLS message of the epoch), sealed by [`super::wrap`],
/// in `epoch`'s swarm for `ttl_ms`.
pub async fn store(
    client: &Client,
    network: &str,
    epoch: &AccountKey,
    message: &[u8],
    ttl_ms: u64,
) -> Result<MessageHash, ClientError> {
    let bytes =
        super::wrap::seal(epoch, message).map_err(|e| ClientError::BadRequest(e.to_string()))?;
    let answer = client
        .swarm_request(&epoch.account_id(), |now| {
            match StoreRequest::signed(epoch, network, GROUP_NAMESPACE, bytes.clone(), ttl_ms, now)
            {
                Ok(r) => Request::Store(r),
                // Signing fails only on an encoding error; the node then
                // answers a ping, which is refused below.
                Err(_) => Request::Ping,
            }
        })
        .await?;
    match answer {
        Response::Stored { hash, .. } => Ok(hash),
        _ => Err(ClientError::BadResponse),
    }
}

/// Swarm members a reader reads to their end before it settles an epoch: one
/// hostile member could leave out the winning commit, or say early that
/// nothing more follows, and the reader would apply another and fork.
pub const SETTLE_MEMBERS: usize = 2;

/// One item of an epoch account, opened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// When the first swarm member took it (its clock): pass it to
    /// [`super::Groups::receive_stored`].
    pub stored_at: u64,
    /// The MLS message.
    pub message: Vec<u8>,
}

/// What one read of an epoch account brought.
#[derive(Debug, Default)]
pub struct Read {
    /// The items, opened, each once, in the order the members' answers were
    /// opened (each member's in the order it holds them).
    pub items: Vec<Item>,
    /// Stored items that did not open under the epoch's key (not a member's).
    pub unreadable: usize,
    /// Set when [`SETTLE_MEMBERS`] distinct members (or every member, in a
    /// smaller swarm) each said nothing more follows, so the reader may
    /// settle ([`super::Groups::settle`]): a time (this client's clock) no
    /// later than an honest member made any of those answers, the `now` to
    /// settle with (ARCHITECTURE, Groups, *Ordering*). A member's answer
    /// comes after the page was asked for, and an empty answer to a wait
    /// after the wait.
    pub ended_after: Option<u64>,
}

impl Read {
    /// Whether the read reached the end of the epoch account (see
    /// [`Read::ended_after`]).
    pub fn at_end(&self) -> bool {
        self.ended_after.is_some()
    }
}

/// Opens `messages` read from `epoch`'s account (a [`crate::reader::PollPair`]'s,
/// say): the items, in order, and how many did not open under the epoch's
/// key. Messages whose hash is not of the account's group namespace are
/// left out.
pub fn open_all(epoch: &AccountKey, messages: Vec<RetrievedMessage>) -> (Vec<Item>, usize) {
    let account = epoch.account_id();
    let mut items = Vec::with_capacity(messages.len());
    let mut unreadable = 0;
    for m in messages {
        if !m.hash_matches(&account, GROUP_NAMESPACE) {
            continue;
        }
        match super::wrap::open(epoch, &m.data) {
            Ok(message) => items.push(Item {
                stored_at: m.timestamp,
                message,
            }),
            Err(_) => unreadable += 1,
        }
    }
    (items, unreadable)
}

/// Reads `epoch`'s swarm on from `cursors`: [`SETTLE_MEMBERS`] distinct
/// members, each followed through its pages (up to [`MAX_PAGES`]), waiting
/// up to `wait_ms` on the first page for something new. Items held by several
/// members come once. The caller keeps `cursors` with the group's state.
pub async fn read(
    client: &Client,
    network: &str,
    epoch: &AccountKey,
    cursors: &mut ReadCursors,
    wait_ms: u32,
) -> Result<Read, ClientError> {
    let mut items = Vec::new();
    let mut read = read_each(client, network, epoch, cursors, wait_ms, 1, |got| {
        items.extend(got)
    })
    .await?;
    read.items = items;
    Ok(read)
}

/// [`read`] handing items over as they come: the first [`SETTLE_MEMBERS`]
/// members are asked at the same time, the first `waiters` of them wait (up
/// to `wait_ms`) for something new, and the others answer at once; further
/// members are asked one after the other only if one of those failed or did
/// not reach its end, and they wait until a member that waited answered.
/// A reader about to settle lets every member wait until the time from
/// which their answers count ([`Read::ended_after`]), and with `waiters` of
/// [`SETTLE_MEMBERS`] or more a wait answered with news is posted again for
/// the rest of it, so the read still ends then; otherwise one waiter is
/// enough. So a long poll that is answered ends the read without
/// another round trip, and the next one is posted at once. `each` is handed
/// every page's new items as soon as it is opened. Items held by several
/// members come once. The returned [`Read`]'s `items` are empty (they went
/// to `each`, also when the read then fails).
///
/// The simulator's groups long-poll with it (`swarm-sim/src/groups`); the
/// chat's group task reads with [`read`].
pub async fn read_each(
    client: &Client,
    network: &str,
    epoch: &AccountKey,
    cursors: &mut ReadCursors,
    wait_ms: u32,
    waiters: usize,
    each: impl FnMut(Vec<Item>),
) -> Result<Read, ClientError> {
    use rand::seq::SliceRandom;

    let mut members = client.swarm_of(&epoch.account_id());
    members.shuffle(&mut rand::rng());
    let wanted = SETTLE_MEMBERS.min(members.len()).max(1);
    let shared = Mutex::new(Shared {
        cursors,
        seen: HashSet::new(),
        each,
        unreadable: 0,
    });
    let mut tally = Tally::default();
    let mut members = members.into_iter().take(wanted + 2);
    let first: Vec<NodeId> = members.by_ref().take(wanted).collect();
    let waiters = waiters.max(1);
    // Several waiters: the reader is about to settle, and a wait answered
    // with news is followed to its end (see `read_member`).
    let follow = waiters >= SETTLE_MEMBERS;
    let asked = first.iter().enumerate().map(|(i, member)| {
        let wait = if i < waiters { wait_ms } else { 0 };
        read_member(client, network, epoch, &shared, *member, wait, follow)
    });
    for (i, result) in futures::future::join_all(asked)
        .await
        .into_iter()
        .enumerate()
    {
        tally.note(result, i < waiters);
    }
    for member in members {
        if tally.ended >= wanted {
            break;
        }
        let wait = if tally.waited { 0 } else { wait_ms };
        tally.note(
            read_member(client, network, epoch, &shared, member, wait, follow).await,
            true,
        );
    }
    if let (0, Some(e)) = (tally.ended, tally.last_error) {
        return Err(e);
    }
    Ok(Read {
        items: Vec::new(),
        unreadable: shared
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .unreadable,
        ended_after: tally.ended_after.filter(|_| tally.ended >= wanted),
    })
}

/// How the members of one read answered.
#[derive(Default)]
struct Tally {
    /// Members that said nothing more follows.
    ended: usize,
    /// Whether a member asked to wait answered: until one has, the next
    /// member asked waits (a node refuses a long poll when it holds as
    /// many for the account as it allows; the read then waits elsewhere
    /// rather than end at once and be made again at once).
    waited: bool,
    /// The earliest of the ended members' [`Read::ended_after`].
    ended_after: Option<u64>,
    last_error: Option<ClientError>,
}

impl Tally {
    /// Counts one member's answer; `waiter`: it was the one asked to wait.
    fn note(&mut self, result: Result<Option<u64>, ClientError>, waiter: bool) {
        match result {
            Ok(end) => {
                self.waited |= waiter;
                if let Some(after) = end {
                    self.ended += 1;
                    self.ended_after = Some(self.ended_after.map_or(after, |a| a.min(after)));
                }
            }
            Err(e) => self.last_error = Some(e),
        }
    }
}

/// What the members read at once share: locked only between awaits (a
/// `Mutex` rather than a `RefCell` so the read stays `Send`).
struct Shared<'a, F> {
    cursors: &'a mut ReadCursors,
    seen: HashSet<MessageHash>,
    each: F,
    unreadable: usize,
}

/// The shared state; a panic while it was held (in the caller's `each`)
/// left it whole.
fn lock<'m, 'a, F>(shared: &'m Mutex<Shared<'a, F>>) -> MutexGuard<'m, Shared<'a, F>> {
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reads one member through its pages; if it said nothing more follows, a
/// time no later than it said so (if honest): see [`Read::ended_after`].
///
/// With `follow`, a wait answered with new items is posted again for what is
/// left of it, until the member answers a wait empty or the wait's end has
/// passed: so a reader about to settle still has an answer from the end of
/// the wait, from which its read counts, when messages keep arriving (each
/// one would otherwise end the read early, and the read made next would
/// come a round trip after the time it is needed). The items go to `each`
/// as they come, so this delays none of them. Only items that open under
/// the epoch's key (or were had from another member of this read) count
/// as news, so a node cannot keep the read going with junk; one that
/// answers with old items again keeps it going only until the wait's end,
/// one request per answer.
async fn read_member<F: FnMut(Vec<Item>)>(
    client: &Client,
    network: &str,
    epoch: &AccountKey,
    shared: &Mutex<Shared<'_, F>>,
    member: NodeId,
    wait_ms: u32,
    follow: bool,
) -> Result<Option<u64>, ClientError> {
    let until = client
        .now()
        .saturating_add(u64::from(wait_ms).min(MAX_LONG_POLL_MS));
    let mut wait = wait_ms;
    loop {
        let (end, news) = read_pages(client, network, epoch, shared, member, wait).await?;
        let left = until.saturating_sub(client.now());
        if !(follow && news && wait > 0 && left > 0 && end.is_some()) {
            return Ok(end);
        }
        wait = u32::try_from(left).unwrap_or(u32::MAX);
    }
}

/// One pass of [`read_member`] through the member's pages, the first
/// waiting up to `wait_ms`: when it said nothing more follows (see
/// [`Read::ended_after`]), and whether the first page brought new items.
async fn read_pages<F: FnMut(Vec<Item>)>(
    client: &Client,
    network: &str,
    epoch: &AccountKey,
    shared: &Mutex<Shared<'_, F>>,
    member: NodeId,
    wait_ms: u32,
) -> Result<(Option<u64>, bool), ClientError> {
    let account = epoch.account_id();
    let mut news = false;
    for page in 0..MAX_PAGES {
        let asked = client.now();
        let mut req = lock(shared)
            .cursors
            .request(&member, account, GROUP_NAMESPACE);
        req.wait_ms = if page == 0 { wait_ms } else { 0 };
        let answer = client
            .request(member, |now| match req.clone().sign(epoch, network, now) {
                Ok(r) => Request::Retrieve(r),
                Err(_) => Request::Ping,
            })
            .await?;
        let Response::Messages {
            messages,
            cursor,
            more,
        } = answer
        else {
            return Err(ClientError::BadResponse);
        };
        let waited = if page == 0 && messages.is_empty() {
            u64::from(wait_ms).min(MAX_LONG_POLL_MS)
        } else {
            0
        };
        let mut s = lock(shared);
        s.cursors.advance(member, cursor, &messages, client.now());
        let mut items = Vec::new();
        for m in messages {
            if !m.hash_matches(&account, GROUP_NAMESPACE) {
                continue;
            }
            // Already had from another member: news all the same (this
            // member's wait was answered by it), but handed over once.
            if !s.seen.insert(m.hash) {
                news |= page == 0;
                continue;
            }
            match super::wrap::open(epoch, &m.data) {
                Ok(message) => items.push(Item {
                    stored_at: m.timestamp,
                    message,
                }),
                Err(_) => s.unreadable += 1,
            }
        }
        news |= page == 0 && !items.is_empty();
        if !items.is_empty() {
            (s.each)(items);
        }
        if !more {
            return Ok((Some(asked + waited), news));
        }
    }
    Ok((None, news))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_counts_from_the_earliest_end_and_waits_on_after_a_failed_waiter() {
        let mut t = Tally::default();
        // The waiter was refused: nobody has waited, so the next one asked
        // must wait in its place.
        t.note(
            Err(ClientError::RateLimited {
                retry_after_ms: 5_000,
            }),
            true,
        );
        t.note(Ok(Some(2_000)), false);
        assert!(!t.waited, "an answer at once is not a wait");
        assert_eq!((t.ended, t.ended_after), (1, Some(2_000)));
        // The member that took over waited and ended later: the read
        // counts from the earlier end.
        t.note(Ok(Some(9_000)), true);
        assert!(t.waited);
        assert_eq!((t.ended, t.ended_after), (2, Some(2_000)));
        // A member that ran out of pages answered but did not end.
        t.note(Ok(None), false);
        assert_eq!((t.ended, t.ended_after), (2, Some(2_000)));
        assert!(t.last_error.is_some());
    }
}
