//! Retrieve: a page of an account's messages in one namespace, in the order this
//! node took them in (its sequence numbers, the `seqs` tree), after a reader's
//! sequence number.

use std::ops::Bound;

use sotto_protocol::rpc::RetrievedMessage;
use sotto_protocol::rpc::response::page_has_room;
use sotto_protocol::time::UnixMillis;
use sotto_protocol::{AccountId, Namespace};

use super::Store;
use super::error::{Result, StoreError};
use super::keys::{
    message_key, message_prefix, prefix_end, seq_key, seq_key_seq, seq_value_cursor,
};
use super::records::MessageRecord;

/// Most `seqs` entries one retrieve looks at. Entries it passes over (expired,
/// older than a first read's `not_before`) cost a read each; past this the page
/// ends where the scan stopped, so one request's work is bounded however much an
/// account holds, and the reader's next request goes on from there.
pub const MAX_SCAN: usize = 2048;

/// A page of messages, as a `Response::Messages` carries it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Page {
    /// Messages in this node's order, with the owner's shortening applied to
    /// their expiry.
    pub messages: Vec<RetrievedMessage>,
    /// The last sequence number the page covers: the next retrieve reads after
    /// it. Never before the request's.
    pub seq: u64,
    /// Whether more messages follow that did not fit. Never set on an empty page.
    pub more: bool,
    /// Whether the scan stopped at [`MAX_SCAN`] entries before the end: the
    /// page may be empty though more is there, so a long poll must not wait.
    pub scan_limited: bool,
    /// Entries passed over because they were damaged (each is logged; the
    /// caller counts them). One bad record must not stop an account's reads.
    pub corrupt: u32,
}

impl Store {
    /// The messages of `account` in `namespace` this node numbered after
    /// `after_seq`, leaving out those dated before `not_before` and what has
    /// expired at `now` (including by the owner's shortening). The page holds
    /// messages while their data adds up to at most `max_bytes`, and always at
    /// least one if any is there ([`page_has_room`]); `more` says whether
    /// others follow.
    ///
    /// The caller has checked the request (limits, owner signature).
    pub fn retrieve(
        &self,
        account: &AccountId,
        namespace: Namespace,
        after_seq: u64,
        not_before: UnixMillis,
        max_bytes: u32,
        now: UnixMillis,
    ) -> Result<Page> {
        let prefix = message_prefix(account, namespace);
        let start = Bound::Excluded(seq_key(account, namespace, after_seq));
        let end = prefix_end(&prefix).map_or(Bound::Unbounded, Bound::Excluded);

        let mut page = Page {
            seq: after_seq,
            ..Page::default()
        };
        let mut used = 0usize;
        for (scanned, entry) in self.seqs.range::<Vec<u8>, _>((start, end)).enumerate() {
            if scanned >= MAX_SCAN {
                page.scan_limited = true;
                break;
            }
            let (key, value) = entry.map_err(|e| StoreError::engine("retrieve", e))?;
            let seq = seq_key_seq(&key)?;
            let m = match self.entry(account, namespace, &key, &value, seq) {
                Ok(Some(m)) => m,
                // Removed since (a delete or purge between the two reads), or
                // damaged: either way there is nothing to hand out.
                Ok(None) => {
                    page.seq = seq;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "retrieve passed over a damaged record");
                    page.corrupt = page.corrupt.saturating_add(1);
                    page.seq = seq;
                    continue;
                }
            };
            if m.timestamp < not_before || m.expiry <= m.timestamp || m.expiry <= now {
                page.seq = seq;
                continue;
            }
            if !page_has_room(page.messages.len(), used, m.data.len(), max_bytes) {
                page.more = true;
                break;
            }
            used = used.saturating_add(m.data.len());
            page.messages.push(m);
            page.seq = seq;
        }
        Ok(page)
    }

    /// The message the `seqs` entry (`key`, `value`) numbered `seq` points at,
    /// if it is still held.
    fn entry(
        &self,
        account: &AccountId,
        namespace: Namespace,
        key: &[u8],
        value: &[u8],
        seq: u64,
    ) -> Result<Option<RetrievedMessage>> {
        let cursor = seq_value_cursor(key, value)?;
        let mkey = message_key(account, namespace, &cursor);
        let Some(v) = self
            .messages
            .get(&mkey)
            .map_err(|e| StoreError::engine("retrieve", e))?
        else {
            return Ok(None);
        };
        let rec = MessageRecord::decode(&mkey, &v)?;
        if rec.seq != seq {
            // The message was re-filed under another number in between: that
            // entry hands it out.
            return Ok(None);
        }
        if rec.message.cursor() != cursor {
            return Err(StoreError::corrupt(
                "messages",
                &mkey,
                "the record's timestamp or hash differs from its key",
            ));
        }
        Ok(Some(RetrievedMessage::from_stored(
            &rec.message,
            rec.shortened,
        )))
    }
}
