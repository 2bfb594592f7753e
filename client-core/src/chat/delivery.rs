//! Delivery tokens in the chat ([`sotto_protocol::rpc::deliver`]): this
//! account's own token (made once, stored in the home, registered in its
//! swarm and given to contacts), the tokens contacts gave it, and how an
//! outgoing envelope is delivered: into the peer's inbox with the peer's
//! token, else into its message requests with postage.
//!
//! Rules:
//! - the token goes to whoever becomes a contact (the user wrote to them,
//!   added them or accepted their request), and to every contact again when
//!   it changes;
//! - blocking someone who may hold the token replaces it: the new one is
//!   registered, the old item deleted, and contacts get the new one (until it
//!   reaches them, their messages go to the requests, with postage: none is
//!   lost);
//! - a contact whose message arrives in the requests lacks the current token:
//!   it is offered again, at most once a day per contact;
//! - a peer's token is kept from contacts only (a stranger's would be one
//!   record per fresh account), and forgotten when their swarm refuses it.

use serde::{Deserialize, Serialize};
use sotto_protocol::AccountId;
use sotto_protocol::Namespace;
use sotto_protocol::constants::MAX_TTL_MS;
use sotto_protocol::envelope::ContentBody;
use sotto_protocol::rpc::{
    DeleteRequest, DeliverRequest, DeliveryToken, MessageHash, Request, Response, StoreRequest,
};
use sotto_protocol::time::DAY_MS;

use super::{ChatError, Inner};
use crate::ClientError;

/// Meta key of this account's token.
const OWN_TOKEN_KEY: &[u8] = b"delivery_token";
/// Meta key of what was registered in the swarm ([`Registered`]).
const REGISTERED_KEY: &[u8] = b"delivery_registered";
/// The token's item is stored again this often, although it lives
/// [`MAX_TTL_MS`] (30 days): a swarm that lost it gets it back within a day.
const REFRESH_MS: u64 = DAY_MS;
/// A contact whose messages arrive in the requests is offered the token at
/// most this often.
const OFFER_GAP_MS: u64 = DAY_MS;
/// Most hashes this account's client deletes from its swarm per request.
const MAX_DELETE: usize = sotto_protocol::constants::MAX_HASHES_PER_REQUEST;

/// What this account last stored in its [`Namespace::DELIVERY`].
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Registered {
    /// When (network clock), 0 for never.
    at: u64,
    /// The token it was for.
    token: Option<DeliveryToken>,
    /// The stored items not deleted yet (the current one last).
    items: Vec<MessageHash>,
}

impl Inner {
    /// This account's delivery token, made (and stored) on first use.
    pub(crate) fn own_token(&self) -> Result<DeliveryToken, ChatError> {
        let s = &self.store;
        if let Some(t) = s.get::<DeliveryToken>(&s.meta, OWN_TOKEN_KEY)? {
            return Ok(t);
        }
        let t = DeliveryToken(rand::random());
        s.put(&s.meta, OWN_TOKEN_KEY, &t)?;
        s.flush()?;
        Ok(t)
    }

    /// Queues this account's token for `peer`.
    pub(crate) fn enqueue_token(&self, peer: &AccountId) -> Result<(), ChatError> {
        let token = self.own_token()?;
        self.enqueue(peer, ContentBody::DeliveryToken { token }, None)?;
        let mut key = b"s".to_vec();
        key.extend_from_slice(peer.as_bytes());
        let s = &self.store;
        s.put(&s.tokens, &key, &self.now())
    }

    /// A contact's message came into the requests: it lacks the current
    /// token. Offers it again, at most once per [`OFFER_GAP_MS`].
    pub(crate) fn offer_token(&self, peer: &AccountId) -> Result<(), ChatError> {
        let s = &self.store;
        let mut key = b"s".to_vec();
        key.extend_from_slice(peer.as_bytes());
        let last: u64 = s.get(&s.tokens, &key)?.unwrap_or(0);
        if self.now().saturating_sub(last) < OFFER_GAP_MS {
            return Ok(());
        }
        self.enqueue_token(peer)
    }

    /// Replaces this account's token (after blocking someone who may hold
    /// it): the registration task stores the new one and deletes the old, and
    /// every contact is sent the new one.
    ///
    /// A contact the new token cannot be queued for now (the outbox is full)
    /// is skipped, not an error that would leave the rotation half done: its
    /// next message is refused at the inbox, goes to the requests with
    /// postage, and arriving there makes this account offer it the token
    /// again ([`Self::offer_token`]). Nothing is lost on the way.
    pub(crate) fn rotate_token(&self) -> Result<(), ChatError> {
        let s = &self.store;
        let t = DeliveryToken(rand::random());
        s.put(&s.meta, OWN_TOKEN_KEY, &t)?;
        for item in s.contacts.iter() {
            let (k, _) = item?;
            if let Some(peer) = super::records::peer_of_key(&k)
                && !s.blocked.contains_key(peer.as_bytes())?
            {
                match self.enqueue_token(&peer) {
                    Ok(()) => {}
                    Err(ChatError::NotSent { reason }) => {
                        tracing::info!(%peer, "new delivery token not queued ({reason}): offered when it next writes");
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        s.flush()?;
        self.prekeys_wake.notify_one();
        Ok(())
    }

    /// The token `peer` gave this account, if any.
    pub(crate) fn peer_token(&self, peer: &AccountId) -> Result<Option<DeliveryToken>, ChatError> {
        let s = &self.store;
        let mut key = b"t".to_vec();
        key.extend_from_slice(peer.as_bytes());
        s.get(&s.tokens, &key)
    }

    /// Keeps the token `peer` sent (`None`: forgets it, its swarm refused it).
    pub(crate) fn set_peer_token(
        &self,
        peer: &AccountId,
        token: Option<DeliveryToken>,
    ) -> Result<(), ChatError> {
        let s = &self.store;
        let mut key = b"t".to_vec();
        key.extend_from_slice(peer.as_bytes());
        match token {
            Some(t) => s.put(&s.tokens, &key, &t),
            None => {
                s.tokens.remove(&key)?;
                Ok(())
            }
        }
    }

    /// Delivers sealed `data` to `peer` for `ttl_ms`: with the peer's token
    /// into its inbox; without one, or when the swarm refuses it, into its
    /// requests with postage (mined off the async threads).
    pub(crate) async fn deliver(
        &self,
        client: &crate::Client,
        peer: &AccountId,
        data: Vec<u8>,
        ttl_ms: u64,
    ) -> Result<Response, ClientError> {
        if let Some(token) = self.peer_token(peer).map_err(store_error)? {
            let d = DeliverRequest::with_token(*peer, data.clone(), ttl_ms, token);
            match client
                .swarm_request(peer, |_| Request::Deliver(d.clone()))
                .await
            {
                Err(ClientError::TokenRequired) => {
                    self.set_peer_token(peer, None).map_err(store_error)?;
                }
                other => return other,
            }
        }
        let account = *peer;
        let start: u64 = rand::random();
        let d = tokio::task::spawn_blocking(move || {
            DeliverRequest::with_postage(account, data, ttl_ms, start)
        })
        .await
        .map_err(|_| ClientError::Stopped)?;
        client
            .swarm_request(peer, |_| Request::Deliver(d.clone()))
            .await
    }

    /// Stores this account's token in its swarm if it changed or the item is
    /// due for a refresh, then deletes the items of older tokens. `true` if
    /// something was stored.
    pub(crate) async fn register_token_if_due(
        &self,
        client: &crate::Client,
    ) -> Result<bool, ChatError> {
        let s = &self.store;
        let token = self.own_token()?;
        let mut reg: Registered = s.get(&s.meta, REGISTERED_KEY)?.unwrap_or_default();
        let now = client.now();
        if reg.token == Some(token) && now.saturating_sub(reg.at) < REFRESH_MS {
            return Ok(false);
        }
        let network = self.network();
        let data = token.delivery_item(now);
        let key = &self.key;
        let answer = client
            .swarm_request(&self.id, |at| {
                match StoreRequest::signed(
                    key,
                    &network,
                    Namespace::DELIVERY,
                    data.clone(),
                    MAX_TTL_MS,
                    at,
                ) {
                    Ok(r) => Request::Store(r),
                    Err(_) => Request::Ping,
                }
            })
            .await
            .map_err(|e| ChatError::Network(e.to_string()))?;
        let Response::Stored { hash, .. } = answer else {
            return Err(ChatError::Network(format!(
                "the swarm answered the token's store with {}",
                answer.kind()
            )));
        };
        // The new item first, then the old ones go: a swarm always holds a
        // token, and the current one from here on.
        let old: Vec<MessageHash> = reg.items.iter().copied().filter(|h| *h != hash).collect();
        reg = Registered {
            at: now,
            token: Some(token),
            items: old.iter().copied().chain([hash]).collect(),
        };
        s.put(&s.meta, REGISTERED_KEY, &reg)?;
        s.flush()?;
        if !old.is_empty() {
            self.delete_own(client, Namespace::DELIVERY, old.clone())
                .await?;
            reg.items.retain(|h| !old.contains(h));
            s.put(&s.meta, REGISTERED_KEY, &reg)?;
            s.flush()?;
        }
        Ok(true)
    }

    /// Deletes `hashes` of this account's `namespace` from its swarm (what it
    /// cannot open, what blocked senders sent, replaced token items).
    pub(crate) async fn delete_own(
        &self,
        client: &crate::Client,
        namespace: Namespace,
        hashes: Vec<MessageHash>,
    ) -> Result<(), ChatError> {
        let network = self.network();
        let key = &self.key;
        for batch in hashes.chunks(MAX_DELETE) {
            let answer = client
                .swarm_request(&self.id, |at| {
                    match DeleteRequest::signed(key, &network, namespace, batch.to_vec(), at) {
                        Ok(r) => Request::Delete(r),
                        Err(_) => Request::Ping,
                    }
                })
                .await
                .map_err(|e| ChatError::Network(e.to_string()))?;
            if !matches!(answer, Response::Deleted { .. }) {
                return Err(ChatError::Network(format!(
                    "the swarm answered a delete with {}",
                    answer.kind()
                )));
            }
        }
        Ok(())
    }

    /// Notes `hash` (a message this account cannot open, or from a blocked
    /// sender) to be deleted from its swarm after the page that holds it.
    pub(crate) fn doom(&self, hash: MessageHash) {
        let mut d = match self.doomed.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if d.len() < MAX_DOOMED {
            d.push(hash);
        }
    }

    /// The hashes noted by [`Inner::doom`] since the last call.
    pub(crate) fn take_doomed(&self) -> Vec<MessageHash> {
        match self.doomed.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }
}

/// Most hashes waiting to be deleted; past it, a message simply expires.
const MAX_DOOMED: usize = 4 * MAX_DELETE;

fn store_error(e: ChatError) -> ClientError {
    ClientError::BadRequest(format!("the local store: {e}"))
}
