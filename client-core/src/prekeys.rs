//! Prekey bundles in the swarm (messages v2): publishing this account's signed
//! bundle in its `Public` namespace, and fetching and verifying another
//! account's before starting a session with it.
//!
//! The node keeps `Public` as an owner-signed store that anyone may read
//! (DESIGN §5): only the owner stores or deletes there, a stored message lives
//! at most 30 days, and storing never replaces anything. So *replace* is done
//! here: the owner stores the new bundle and then deletes every other bundle it
//! finds in its namespace (also those a former device of the same account left
//! there, e.g. before a restore from the 12 words). A reader takes the newest
//! bundle that verifies, so a bundle whose delete has not reached every member
//! yet is never chosen over a newer one.
//!
//! Not here: the bundle's format and checks (`sotto_protocol::prekey`), the
//! secrets and the publishing schedule of a chat account (`chat`).

use rand::seq::SliceRandom;
use sotto_protocol::constants::{MAX_HASHES_PER_REQUEST, MAX_TTL_MS};
use sotto_protocol::prekey::{SignedPrekeyBundle, VerifiedBundle};
use sotto_protocol::rpc::{
    DeleteRequest, MessageHash, Request, Response, RetrieveRequest, RetrievedMessage, StoreRequest,
};
use sotto_protocol::{AccountId, AccountKey, Namespace, NodeId};

use crate::{Client, ClientError};

/// Most pages of a `Public` namespace read when looking for bundles. A bundle
/// of full batches is about 60 KB and a page at most 80 KiB, so each page holds
/// about one bundle; the owner deletes replaced ones, so more than a few means
/// deletes have not landed yet, and the newest is on the last pages.
const MAX_PUBLIC_PAGES: usize = 8;

/// Why a bundle could not be published or fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PrekeyError {
    /// The network failed.
    #[error("{0}")]
    Network(#[from] ClientError),
    /// The account has no valid bundle in its swarm.
    #[error(
        "the recipient has published no keys to start a conversation with (they have not been \
         online since they created or restored their account): the message waits until they are"
    )]
    NoBundle,
    /// A node answered something else than a store or retrieve answer.
    #[error("the swarm answered {0}")]
    Unexpected(&'static str),
    /// The bundle could not be made or encoded.
    #[error("the prekey bundle: {0}")]
    Bundle(#[from] sotto_protocol::Error),
}

/// Stores `bundle` (this account's, signed by `key`) in the account's `Public`
/// namespace for the longest TTL, then deletes every other bundle found there.
/// Returns the stored bundle's hash. The delete is best effort: a failure is
/// logged, and the next publish deletes what is left.
pub async fn publish_bundle(
    client: &Client,
    key: &AccountKey,
    network: &str,
    bundle: &SignedPrekeyBundle,
) -> Result<MessageHash, PrekeyError> {
    let data = bundle.encode()?;
    replace_public(client, key, network, data, "prekey bundles", |m| {
        SignedPrekeyBundle::decode(&m.data).is_ok()
    })
    .await
}

/// Stores `data` in `key`'s own `Public` namespace for the longest TTL, then
/// deletes every other item there that `same_kind` says is of its kind (what
/// `data` replaces); returns the stored item's hash. Only the owner stores or
/// deletes there, and storing never replaces, so *replace* is this. The
/// delete is best effort (logged, naming `what`): the next publish deletes
/// what is left, and readers take the newest anyway.
pub(crate) async fn replace_public(
    client: &Client,
    key: &AccountKey,
    network: &str,
    data: Vec<u8>,
    what: &str,
    same_kind: impl Fn(&RetrievedMessage) -> bool,
) -> Result<MessageHash, PrekeyError> {
    let own = key.account_id();
    let answer = client
        .swarm_request(&own, |now| {
            match StoreRequest::signed(
                key,
                network,
                Namespace::PUBLIC,
                data.clone(),
                MAX_TTL_MS,
                now,
            ) {
                Ok(r) => Request::Store(r),
                // Signing fails only on an encoding error; the node then
                // answers a ping, which is refused below.
                Err(_) => Request::Ping,
            }
        })
        .await?;
    let Response::Stored { hash, .. } = answer else {
        return Err(PrekeyError::Unexpected(answer.kind()));
    };
    match public_messages(client, &own, None).await {
        Ok(found) => {
            let old: Vec<MessageHash> = found
                .iter()
                .filter(|m| m.hash != hash && same_kind(m))
                .map(|m| m.hash)
                .take(MAX_HASHES_PER_REQUEST)
                .collect();
            if !old.is_empty() {
                let deleted = client
                    .swarm_request(&own, |now| {
                        match DeleteRequest::signed(
                            key,
                            network,
                            Namespace::PUBLIC,
                            old.clone(),
                            now,
                        ) {
                            Ok(r) => Request::Delete(r),
                            Err(_) => Request::Ping,
                        }
                    })
                    .await;
                if let Err(e) = deleted {
                    tracing::debug!("replaced {what} not deleted yet: {e}");
                }
            }
        }
        Err(e) => tracing::debug!("could not list the published {what}: {e}"),
    }
    Ok(hash)
}

/// Members asked in turn for a bundle before giving up.
const BUNDLE_MEMBERS: usize = 3;

/// Fetches `account`'s bundles from its swarm and returns the newest that
/// verifies (signed by `account`, not too old, not from the future, keys
/// well formed) at `client`'s clock.
///
/// A member that answers without a bundle may have lost it, or hide it (a
/// hostile member that keeps a contact from starting a session): up to
/// [`BUNDLE_MEMBERS`] distinct members are asked, in random order, until one
/// has a bundle that verifies.
pub async fn fetch_bundle(
    client: &Client,
    account: &AccountId,
) -> Result<VerifiedBundle, PrekeyError> {
    let found = first_from_members(client, account, |found, now| {
        found
            .iter()
            .filter_map(|m| SignedPrekeyBundle::decode(&m.data).ok())
            .filter_map(|b| b.verify(account, now).ok())
            .max_by_key(|b| b.bundle().created_at)
    })
    .await?;
    found.ok_or(PrekeyError::NoBundle)
}

/// What `pick` finds in `account`'s `Public` namespace (given what one member
/// holds and the client's clock), asking up to [`BUNDLE_MEMBERS`] distinct
/// members in random order until one holds something `pick` takes: a member
/// that answers without it may have lost it, or hide it. `None` if the
/// members answered and none had it; the last error if none answered.
pub(crate) async fn first_from_members<T>(
    client: &Client,
    account: &AccountId,
    pick: impl Fn(&[RetrievedMessage], u64) -> Option<T>,
) -> Result<Option<T>, PrekeyError> {
    let mut members = client.swarm_of(account);
    members.shuffle(&mut rand::rng());
    let asks: Vec<Option<NodeId>> = if members.is_empty() {
        vec![None]
    } else {
        members.into_iter().take(BUNDLE_MEMBERS).map(Some).collect()
    };
    let mut last = None;
    for member in asks {
        match public_messages(client, account, member).await {
            Ok(found) => match pick(&found, client.now()) {
                Some(t) => return Ok(Some(t)),
                None => last = None,
            },
            Err(e) => last = Some(e),
        }
    }
    match last {
        Some(e) => Err(e),
        None => Ok(None),
    }
}

/// What `account`'s `Public` namespace holds (at most [`MAX_PUBLIC_PAGES`]
/// pages, all from one swarm member, so that its cursor goes on where the
/// last page ended), keeping only messages whose hash matches. From `member`,
/// or a member the swarm request picks when `None`.
async fn public_messages(
    client: &Client,
    account: &AccountId,
    member: Option<NodeId>,
) -> Result<Vec<RetrievedMessage>, PrekeyError> {
    let mut out = Vec::new();
    let mut member = member;
    let mut after = None;
    for _ in 0..MAX_PUBLIC_PAGES {
        let request = Request::Retrieve(RetrieveRequest::unsigned(
            *account,
            Namespace::PUBLIC,
            after,
        ));
        let answer = match member {
            None => {
                let (m, a) = client
                    .swarm_request_at(account, |_, _| request.clone())
                    .await?;
                member = Some(m);
                a
            }
            Some(m) => client.request(m, |_| request.clone()).await?,
        };
        let Response::Messages {
            messages,
            cursor,
            more,
        } = answer
        else {
            return Err(PrekeyError::Unexpected(answer.kind()));
        };
        out.extend(
            messages
                .into_iter()
                .filter(|m| m.hash_matches(account, Namespace::PUBLIC)),
        );
        after = Some(cursor);
        if !more {
            break;
        }
    }
    Ok(out)
}
