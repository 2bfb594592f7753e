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

use sotto_protocol::constants::MAX_TTL_MS;
use sotto_protocol::rpc::{MessageHash, Request, Response, StoreRequest};
use sotto_protocol::time::DAY_MS;
use sotto_protocol::{AccountKey, Namespace};

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
    /// The items, opened, each once, in the order the members that answered
    /// hold them.
    pub items: Vec<Item>,
    /// Stored items that did not open under the epoch's key (not a member's).
    pub unreadable: usize,
    /// Whether [`SETTLE_MEMBERS`] distinct members (or every member, in a
    /// smaller swarm) each said nothing more follows: the reader may settle
    /// ([`super::Groups::settle`]).
    pub at_end: bool,
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
    use rand::seq::SliceRandom;

    let account = epoch.account_id();
    let mut members = client.swarm_of(&account);
    members.shuffle(&mut rand::rng());
    let wanted = SETTLE_MEMBERS.min(members.len()).max(1);
    let mut read = Read::default();
    let mut seen = std::collections::HashSet::new();
    let mut ended = 0;
    let mut last_error = None;
    for member in members.into_iter().take(wanted + 2) {
        if ended == wanted {
            break;
        }
        match read_member(
            client, network, epoch, cursors, member, wait_ms, &mut seen, &mut read,
        )
        .await
        {
            Ok(true) => ended += 1,
            Ok(false) => {}
            Err(e) => last_error = Some(e),
        }
    }
    if let (0, Some(e)) = (ended, last_error) {
        return Err(e);
    }
    read.at_end = ended >= wanted;
    Ok(read)
}

/// [`read`] for a reader that long-polls the account: only the first member
/// that answers waits (up to `wait_ms`) for something new, the others are
/// read at once after it, so one read takes at most `wait_ms` and the round
/// trips; and `each` is handed each member's new items as soon as that
/// member's answer is opened, before the next member is asked, so a message
/// is acted on one round trip sooner. Otherwise as [`read`]:
/// [`SETTLE_MEMBERS`] distinct members read to their end, items held by
/// several members come once. The returned [`Read`]'s `items` are empty
/// (they went to `each`, also when the read then fails).
///
/// The simulator's groups long-poll with it (`swarm-sim/src/groups`); the
/// group task still reads with [`read`] every second.
pub async fn read_each(
    client: &Client,
    network: &str,
    epoch: &AccountKey,
    cursors: &mut ReadCursors,
    wait_ms: u32,
    mut each: impl FnMut(Vec<Item>),
) -> Result<Read, ClientError> {
    use rand::seq::SliceRandom;

    let mut members = client.swarm_of(&epoch.account_id());
    members.shuffle(&mut rand::rng());
    let wanted = SETTLE_MEMBERS.min(members.len()).max(1);
    let mut read = Read::default();
    let mut seen = std::collections::HashSet::new();
    let (mut ended, mut answered) = (0, false);
    let mut last_error = None;
    for member in members.into_iter().take(wanted + 2) {
        if ended == wanted {
            break;
        }
        let wait = if answered { 0 } else { wait_ms };
        let mut got = Read::default();
        let result = read_member(
            client, network, epoch, cursors, member, wait, &mut seen, &mut got,
        )
        .await;
        read.unreadable += got.unreadable;
        if !got.items.is_empty() {
            each(got.items);
        }
        match result {
            Ok(end) => {
                answered = true;
                ended += usize::from(end);
            }
            Err(e) => last_error = Some(e),
        }
    }
    if let (0, Some(e)) = (ended, last_error) {
        return Err(e);
    }
    read.at_end = ended >= wanted;
    Ok(read)
}

/// Reads one member through its pages; `true` if it said nothing more follows.
#[allow(clippy::too_many_arguments)]
async fn read_member(
    client: &Client,
    network: &str,
    epoch: &AccountKey,
    cursors: &mut ReadCursors,
    member: sotto_protocol::NodeId,
    wait_ms: u32,
    seen: &mut std::collections::HashSet<MessageHash>,
    read: &mut Read,
) -> Result<bool, ClientError> {
    let account = epoch.account_id();
    for page in 0..MAX_PAGES {
        let mut req = cursors.request(&member, account, GROUP_NAMESPACE);
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
        cursors.advance(member, cursor, &messages, client.now());
        for m in messages {
            if !m.hash_matches(&account, GROUP_NAMESPACE) || !seen.insert(m.hash) {
                continue;
            }
            match super::wrap::open(epoch, &m.data) {
                Ok(message) => read.items.push(Item {
                    stored_at: m.timestamp,
                    message,
                }),
                Err(_) => read.unreadable += 1,
            }
        }
        if !more {
            return Ok(true);
        }
    }
    Ok(false)
}
