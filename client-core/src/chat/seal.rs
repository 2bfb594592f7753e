//! Sealing an outbox item for its recipient, once, on its first try.

use sotto_protocol::constants::MAX_CONTENT_LEN;
use sotto_protocol::envelope::{self, Content};

use super::outbox::{OutBody, OutItem};
use super::{ChatError, Inner};

/// Refuses a content the recipient would refuse, or one too long to seal.
pub(crate) fn check_content(content: &Content) -> Result<(), ChatError> {
    content.to_bytes().map(|_| ()).map_err(|e| match e {
        sotto_protocol::Error::DoesNotFit { len, .. } => ChatError::TooLong {
            len,
            max: MAX_CONTENT_LEN,
        },
        other => ChatError::Invalid(other.to_string()),
    })
}

impl Inner {
    /// Seals `item` (at `key` in the outbox) and writes it back sealed.
    pub(crate) async fn seal_item(
        &self,
        _client: &crate::Client,
        key: &[u8],
        item: &mut OutItem,
    ) -> Result<(), ChatError> {
        let OutBody::Content(content) = &item.body else {
            return Ok(());
        };
        let data = envelope::seal(&self.key, &item.peer, content, &mut rand::rng())
            .map_err(|e| ChatError::Invalid(e.to_string()))?;
        item.body = OutBody::Sealed(data);
        let s = &self.store;
        s.put(&s.outbox, key, item)?;
        s.flush()
    }
}
