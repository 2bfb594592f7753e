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

/// What one read of an epoch account brought.
#[derive(Debug, Default)]
pub struct Read {
    /// The MLS messages, opened, in the order the member that answered holds them.
    pub messages: Vec<Vec<u8>>,
    /// Stored items that did not open under the epoch's key (not a member's).
    pub unreadable: usize,
    /// Whether the member said nothing more follows (the swarm was read to its
    /// end, so the group may settle: [`super::Groups::settle`]).
    pub at_end: bool,
}

/// Reads `epoch`'s swarm on from `cursors` (one member, following its pages
/// up to [`MAX_PAGES`]), waiting up to `wait_ms` on the first page for
/// something new. The caller keeps `cursors` with the group's state.
pub async fn read(
    client: &Client,
    network: &str,
    epoch: &AccountKey,
    cursors: &mut ReadCursors,
    wait_ms: u32,
) -> Result<Read, ClientError> {
    let account = epoch.account_id();
    let mut read = Read::default();
    for page in 0..MAX_PAGES {
        let snapshot = cursors.clone();
        let make = |member, now| {
            let mut req = snapshot.request(&member, account, GROUP_NAMESPACE);
            req.wait_ms = if page == 0 { wait_ms } else { 0 };
            match req.sign(epoch, network, now) {
                Ok(r) => Request::Retrieve(r),
                Err(_) => Request::Ping,
            }
        };
        let (member, answer) = client.swarm_request_at(&account, make).await?;
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
            match super::wrap::open(epoch, &m.data) {
                Ok(message) => read.messages.push(message),
                Err(_) => read.unreadable += 1,
            }
        }
        if !more {
            read.at_end = true;
            break;
        }
    }
    Ok(read)
}
