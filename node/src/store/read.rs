//! Retrieve: a page of an account's messages in one namespace after a cursor, in
//! the (timestamp, hash) order every replica shares, as one sled range scan.

use std::ops::Bound;

use sotto_protocol::rpc::response::page_has_room;
use sotto_protocol::rpc::{Cursor, RetrieveRequest, RetrievedMessage};
use sotto_protocol::time::UnixMillis;
use sotto_protocol::{AccountId, Namespace};

use super::Store;
use super::error::{Result, StoreError};
use super::keys::{message_key, message_key_cursor, message_prefix, prefix_end};
use super::records::MessageRecord;

/// A page of messages, as a `Response::Messages` carries it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// Messages in strictly increasing [`Cursor`] order, with the owner's
    /// shortening applied to their expiry.
    pub messages: Vec<RetrievedMessage>,
    /// The cursor of the last message; `None` when the page is empty.
    pub cursor: Option<Cursor>,
    /// Whether more messages follow that did not fit. Never set on an empty page.
    pub more: bool,
}

impl Store {
    /// The messages of `account` in `namespace` after `after`, re-reading
    /// `overlap_ms` before it ([`RetrieveRequest::lower_bound`]: with an overlap,
    /// everything from the start of the millisecond `after.timestamp −
    /// overlap_ms`), in cursor order, leaving out what has expired at `now`
    /// (including by the owner's shortening). The page holds messages while
    /// their data adds up to at most `max_bytes`, and always at least one if
    /// any is there ([`page_has_room`]); `more` says whether others follow.
    ///
    /// The caller has checked the request (limits, owner signature).
    pub fn retrieve(
        &self,
        account: &AccountId,
        namespace: Namespace,
        after: Option<Cursor>,
        overlap_ms: u64,
        max_bytes: u32,
        now: UnixMillis,
    ) -> Result<Page> {
        // One rule for where a page starts: the protocol's.
        let mut q = RetrieveRequest::unsigned(*account, namespace, after);
        q.overlap_ms = overlap_ms;
        let prefix = message_prefix(account, namespace);
        let start = match q.lower_bound() {
            Bound::Unbounded => Bound::Included(prefix.clone()),
            Bound::Included(c) => Bound::Included(message_key(account, namespace, &c)),
            Bound::Excluded(c) => Bound::Excluded(message_key(account, namespace, &c)),
        };
        let end = prefix_end(&prefix).map_or(Bound::Unbounded, Bound::Excluded);

        let mut page = Page::default();
        let mut used = 0usize;
        for entry in self.messages.range::<Vec<u8>, _>((start, end)) {
            let (key, value) = entry.map_err(|e| StoreError::engine("retrieve", e))?;
            let rec = MessageRecord::decode(&key, &value)?;
            if message_key_cursor(&key)? != rec.message.cursor() {
                return Err(StoreError::corrupt(
                    "messages",
                    &key,
                    "the record's timestamp or hash differs from its key",
                ));
            }
            let m = RetrievedMessage::from_stored(&rec.message, rec.shortened);
            if m.expiry <= m.timestamp || m.expiry <= now {
                continue;
            }
            if !page_has_room(page.messages.len(), used, m.data.len(), max_bytes) {
                page.more = true;
                break;
            }
            used = used.saturating_add(m.data.len());
            page.messages.push(m);
        }
        page.cursor = page.messages.last().map(RetrievedMessage::cursor);
        Ok(page)
    }
}
