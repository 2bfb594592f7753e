//! Sealing an outbox item for its recipient (messages v2), once, on its first
//! try: on the current session with the peer, or on a new one started from the
//! peer's published prekey bundle (PQXDH) when there is none or the peer could
//! not read ours.
//!
//! Crash rule: the advanced session and the sealed item are written in one
//! sled transaction and flushed before the envelope is handed to the network.
//! A crash before that leaves both as they were (the item is sealed again, with
//! the same key: nothing had left); a crash after it sends the same bytes again.
//! So a message key is never used for two envelopes, and nothing queued is lost.

use sled::Transactional;
use sled::transaction::ConflictableTransactionError;
use sotto_protocol::constants::MAX_CONTENT_LEN_V2;
use sotto_protocol::envelope::Content;
use sotto_protocol::prekey::VerifiedBundle;

use super::outbox::{OutBody, OutItem};
use super::{ChatError, Inner};

/// Refuses a content the recipient would refuse, or one too long to seal.
pub(crate) fn check_content(content: &Content) -> Result<(), ChatError> {
    let len = content
        .to_bytes()
        .map_err(|e| match e {
            sotto_protocol::Error::DoesNotFit { len, .. } => ChatError::TooLong {
                len,
                max: MAX_CONTENT_LEN_V2,
            },
            other => ChatError::Invalid(other.to_string()),
        })?
        .len();
    if len > MAX_CONTENT_LEN_V2 {
        return Err(ChatError::TooLong {
            len,
            max: MAX_CONTENT_LEN_V2,
        });
    }
    Ok(())
}

impl Inner {
    /// Seals `item` (at `key` in the outbox) and writes it back sealed,
    /// together with the session it advanced (module doc).
    pub(crate) async fn seal_item(
        &self,
        client: &crate::Client,
        key: &[u8],
        item: &mut OutItem,
    ) -> Result<(), ChatError> {
        if matches!(item.body, OutBody::Sealed(_)) {
            return Ok(());
        }
        let peer = item.peer;
        let needs_bundle = {
            let _one = super::lock(&self.sessions_lock);
            let p = self.sessions(&peer)?;
            p.sessions.current().is_none() || p.restart
        };
        // The network wait happens outside the lock; what it found is used
        // only if a session is still needed once the lock is held again.
        let bundle = if needs_bundle {
            Some(
                crate::prekeys::fetch_bundle(client, &peer)
                    .await
                    .map_err(|e| ChatError::Session(e.to_string()))?,
            )
        } else {
            None
        };
        self.seal_with(key, item, bundle.as_ref(), client.now())
    }

    /// The sealing itself, with the peer's bundle if one was fetched: no
    /// network, so the offline tests drive it too.
    pub(crate) fn seal_with(
        &self,
        key: &[u8],
        item: &mut OutItem,
        bundle: Option<&VerifiedBundle>,
        now: u64,
    ) -> Result<(), ChatError> {
        let OutBody::Content(content) = &item.body else {
            return Ok(());
        };
        let peer = item.peer;
        let _one = super::lock(&self.sessions_lock);
        let mut sessions = self.sessions(&peer)?;
        let mut rng = rand::rng();
        if sessions.sessions.current().is_none() || sessions.restart {
            let Some(bundle) = bundle else {
                // A new session is needed and no bundle was fetched (the
                // need arose meanwhile): the next round fetches one.
                return Err(ChatError::Session(
                    "a new session with the recipient is being started".into(),
                ));
            };
            sessions
                .sessions
                .start(&self.key, bundle, now, &mut rng)
                .map_err(|e| ChatError::Session(format!("starting a session: {e}")))?;
            sessions.restart = false;
        }
        let data = sessions
            .sessions
            .seal(content, &mut rng)
            .map_err(|e| ChatError::Session(format!("sealing: {e}")))?;
        // `item` changes only once the transaction went through: an item
        // sealed on a session that was not stored must never be sent.
        let mut sealed = item.clone();
        sealed.body = OutBody::Sealed(data);
        let s = &self.store;
        let sessions_value = self.encode_sessions(&peer, &sessions)?;
        let item_value = s.encode(&s.outbox, key, &sealed)?;
        (&s.sessions, &s.outbox).transaction(|(sessions_tree, outbox_tree)| {
            if outbox_tree.get(key)?.is_none() {
                // Deleted meanwhile (a text deleted by the user): nothing
                // is sent, and the session stays as it was.
                return Err(ConflictableTransactionError::Abort(ChatError::Session(
                    "the message was deleted before it was sent".into(),
                )));
            }
            sessions_tree.insert(peer.as_bytes(), sessions_value.as_slice())?;
            outbox_tree.insert(key, item_value.as_slice())?;
            Ok(())
        })?;
        s.flush()?;
        *item = sealed;
        Ok(())
    }
}
