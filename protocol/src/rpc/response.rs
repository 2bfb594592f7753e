//! A node's answers to client requests, with the checks a client applies before
//! it believes one.

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::constants::{
    MAX_DIRECTORY_PAGE, MAX_HASHES_PER_REQUEST, MAX_RECORD_LEN, MAX_RETRIEVE_BYTES,
    MAX_RETRIEVE_MESSAGES, MAX_RPC_RESPONSE_LEN, MAX_SWARM_SIZE,
};
use crate::error::{Error, Result};
use crate::id::{AccountId, NodeId};
use crate::namespace::Namespace;
use crate::record::SignedNodeRecord;
use crate::rpc::check_count;
use crate::rpc::error::{ErrorKind, RpcError};
use crate::rpc::message::{MessageHash, StoredMessage, check_data, check_lifetime, check_times};
use crate::rpc::read_cursor::ReadCursor;
use crate::rpc::receipt::StorageReceipt;
use crate::time::UnixMillis;

/// A node's answer to a [`crate::rpc::Request`]. Variants are encoded by index:
/// only append.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The message is stored (answer to `Store`).
    Stored {
        /// Its hash, as the node computed it.
        hash: MessageHash,
        /// The timestamp it is kept under: this node's clock, or the timestamp of
        /// the copy it already held (storing the same message again changes
        /// nothing).
        timestamp: UnixMillis,
        /// When it expires.
        expiry: UnixMillis,
        /// How many swarm members (counting this node) hold it: at least the
        /// store quorum when the node answers. The node's word only; the
        /// client counts `receipts`.
        held_by: u8,
        /// The signed receipts of the members that hold it, this node's
        /// first: at most [`MAX_SWARM_SIZE`]. The client counts the store as
        /// done only with valid receipts from a quorum of distinct members of
        /// the swarm as it sees it ([`crate::rpc::count_receipts`]).
        receipts: Vec<StorageReceipt>,
    },
    /// A page of messages (answer to `Retrieve`).
    ///
    /// The messages come in the order this member took them in (its sequence
    /// numbers), not by timestamp. The client keeps `cursor` for its next
    /// retrieve of *this* member, follows `more` at once, and caps how many
    /// pages it asks for in a row, since a node decides what `more` says.
    Messages {
        /// At most [`MAX_RETRIEVE_MESSAGES`] messages.
        messages: Vec<RetrievedMessage>,
        /// Where the next retrieve of this member goes on. It can move on an
        /// empty page (the member passed over expired or too old messages).
        cursor: ReadCursor,
        /// Whether more messages follow right away (ask again without waiting).
        /// Never set on an empty page: a page that says "more" must make progress.
        more: bool,
    },
    /// The messages deleted (answer to `Delete`); hashes not found are left out.
    Deleted {
        /// The hashes that were deleted.
        hashes: Vec<MessageHash>,
    },
    /// The messages whose expiry changed (answer to `Expire`).
    Expired {
        /// The hashes whose expiry is now `expiry`.
        hashes: Vec<MessageHash>,
        /// Their new expiry.
        expiry: UnixMillis,
    },
    /// The account's swarm by this node's view (answer to `GetSwarm`).
    Swarm {
        /// The swarm members' records; the client verifies each.
        records: Vec<SignedNodeRecord>,
    },
    /// A page of the directory (answer to `GetDirectory`).
    ///
    /// Whether `next` is after every record of the page can only be checked once
    /// the records are decoded; a client checks that, and caps how many pages it
    /// asks for, since a node decides whether there is a next page.
    Directory {
        /// Records ordered by node id; the client verifies each.
        records: Vec<SignedNodeRecord>,
        /// Where the next page starts, if there is one. Never set on an empty
        /// page.
        next: Option<NodeId>,
    },
    /// Answer to `Ping`.
    Pong {
        /// The node's clock (Unix ms), so a client can measure its own skew.
        node_time: UnixMillis,
    },
    /// The request failed.
    Error(RpcError),
}

/// A message as a retrieve returns it (the account and namespace are the
/// request's).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RetrievedMessage {
    /// Its hash.
    pub hash: MessageHash,
    /// Its data.
    pub data: Vec<u8>,
    /// When it was first accepted.
    pub timestamp: UnixMillis,
    /// When it expires.
    pub expiry: UnixMillis,
}

impl RetrievedMessage {
    /// The retrieve form of a stored message whose owner shortened its expiry to
    /// `shortened` (if so): the expiry is the earlier of the two. A node leaves
    /// out a message whose expiry, so computed, is not after its timestamp or
    /// not after the node's clock: it has expired.
    pub fn from_stored(m: &StoredMessage, shortened: Option<UnixMillis>) -> Self {
        Self {
            hash: m.hash,
            data: m.data.clone(),
            timestamp: m.timestamp,
            expiry: shortened.map_or(m.expiry, |s| s.min(m.expiry)),
        }
    }

    /// Whether the hash is that of `data` for `account`/`namespace`: a client
    /// checks this, since a node could otherwise hand out forged hashes (which
    /// would break deduplication and deletes).
    pub fn hash_matches(&self, account: &AccountId, namespace: Namespace) -> bool {
        MessageHash::compute(account, namespace, &self.data) == self.hash
    }

    /// The checks a client applies to a retrieved message at its clock `now`:
    /// data of 1 to [`crate::constants::MAX_MESSAGE_DATA`] bytes, an expiry after
    /// the timestamp and within the longest TTL of it, a timestamp at most the
    /// clock window ahead of `now` and an expiry at most the longest TTL ahead
    /// ([`check_times`]).
    pub fn validate_at(&self, now: UnixMillis) -> Result<()> {
        check_data(&self.data)?;
        check_lifetime(self.timestamp, self.expiry)?;
        check_times(self.timestamp, self.expiry, now)
    }
}

/// Whether a retrieve page that already has `count` messages with `used` bytes
/// of data has room for one more of `next` bytes, under the request's
/// `max_bytes`. The first message always fits, so a page always makes progress.
pub fn page_has_room(count: usize, used: usize, next: usize, max_bytes: u32) -> bool {
    count == 0
        || (count < MAX_RETRIEVE_MESSAGES
            && used.saturating_add(next) <= (max_bytes as usize).min(MAX_RETRIEVE_BYTES))
}

/// At most `max` records, none over [`MAX_RECORD_LEN`]. The records' signatures
/// are the receiver's to verify (with the network parameters and its clock).
pub(crate) fn check_records(
    what: &'static str,
    records: &[SignedNodeRecord],
    max: usize,
) -> Result<()> {
    if records.len() > max {
        return Err(Error::OutOfRange {
            what,
            reason: format!("{} records, at most {max} allowed", records.len()),
        });
    }
    if let Some(r) = records.iter().find(|r| r.record.len() > MAX_RECORD_LEN) {
        return Err(Error::TooLarge {
            what: "node record",
            len: r.record.len(),
            max: MAX_RECORD_LEN,
        });
    }
    Ok(())
}

fn check_page(messages: &[RetrievedMessage], more: bool) -> Result<()> {
    check_count(
        "retrieved messages",
        messages.len(),
        0,
        MAX_RETRIEVE_MESSAGES,
    )?;
    if more && messages.is_empty() {
        return Err(Error::OutOfRange {
            what: "retrieved messages",
            reason: "an empty page says more follow, which would never end".into(),
        });
    }
    let mut total = 0usize;
    for m in messages {
        check_data(&m.data)?;
        check_lifetime(m.timestamp, m.expiry)?;
        total = total.saturating_add(m.data.len());
    }
    if total > MAX_RETRIEVE_BYTES {
        return Err(Error::TooLarge {
            what: "retrieved data",
            len: total,
            max: MAX_RETRIEVE_BYTES,
        });
    }
    Ok(())
}

impl Response {
    /// An error answer.
    pub fn error(kind: ErrorKind, message: impl Into<String>, node_time: UnixMillis) -> Self {
        Response::Error(RpcError::new(kind, message, node_time))
    }

    /// Decodes a response, refusing input over [`MAX_RPC_RESPONSE_LEN`] before
    /// reading it, then checks its bounds and its times against the client's
    /// clock `now` ([`Response::validate_at`]).
    pub fn decode(bytes: &[u8], now: UnixMillis) -> Result<Self> {
        let resp: Self = codec::decode("RPC response", bytes, MAX_RPC_RESPONSE_LEN)?;
        resp.validate_at(now)?;
        Ok(resp)
    }

    /// Encodes a response after checking its bounds.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.validate()?;
        codec::encode_bounded("RPC response", self, MAX_RPC_RESPONSE_LEN)
    }

    /// [`Response::validate`], then every timestamp and expiry in it against the
    /// client's clock `now` ([`check_times`]): a message dated far ahead is not
    /// one any honest member accepted.
    pub fn validate_at(&self, now: UnixMillis) -> Result<()> {
        self.validate()?;
        match self {
            Response::Stored {
                timestamp, expiry, ..
            } => check_times(*timestamp, *expiry, now),
            Response::Messages { messages, .. } => {
                messages.iter().try_for_each(|m| m.validate_at(now))
            }
            _ => Ok(()),
        }
    }

    /// Checks the bounds a client relies on, with no clock: at most
    /// [`MAX_RETRIEVE_MESSAGES`] messages with at most [`MAX_RETRIEVE_BYTES`] of
    /// data, and no `more` on an empty page; hash lists of at most
    /// [`MAX_HASHES_PER_REQUEST`]; at most [`MAX_SWARM_SIZE`] swarm records and
    /// [`MAX_DIRECTORY_PAGE`] directory records and no `next` after an empty
    /// page; error messages of at most
    /// [`crate::constants::MAX_ERROR_MESSAGE_LEN`] bytes and a bounded
    /// `retry_after_ms`.
    pub fn validate(&self) -> Result<()> {
        match self {
            Response::Stored {
                timestamp,
                expiry,
                held_by,
                receipts,
                ..
            } => {
                check_lifetime(*timestamp, *expiry)?;
                check_count("storage receipts", receipts.len(), 0, MAX_SWARM_SIZE)?;
                if *held_by == 0 || usize::from(*held_by) > MAX_SWARM_SIZE {
                    return Err(Error::OutOfRange {
                        what: "held_by",
                        reason: format!("{held_by} is not 1 to {MAX_SWARM_SIZE}"),
                    });
                }
                Ok(())
            }
            Response::Messages { messages, more, .. } => check_page(messages, *more),
            Response::Deleted { hashes } | Response::Expired { hashes, .. } => {
                check_count("hashes", hashes.len(), 0, MAX_HASHES_PER_REQUEST)
            }
            Response::Swarm { records } => check_records("swarm records", records, MAX_SWARM_SIZE),
            Response::Directory { records, next } => {
                check_records("directory records", records, MAX_DIRECTORY_PAGE)?;
                if next.is_some() && records.is_empty() {
                    return Err(Error::OutOfRange {
                        what: "directory page",
                        reason: "an empty page names a next page, which would never end".into(),
                    });
                }
                Ok(())
            }
            Response::Pong { .. } => Ok(()),
            Response::Error(e) => e.validate(),
        }
    }

    /// A short name for metrics labels and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Response::Stored { .. } => "stored",
            Response::Messages { .. } => "messages",
            Response::Deleted { .. } => "deleted",
            Response::Expired { .. } => "expired",
            Response::Swarm { .. } => "swarm",
            Response::Directory { .. } => "directory",
            Response::Pong { .. } => "pong",
            Response::Error(_) => "error",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::{MAX_MESSAGE_DATA, MAX_TTL_MS, PEER_CLOCK_TOLERANCE_MS};
    use crate::keys::AccountKey;
    use crate::time::DAY_MS;

    const NOW: UnixMillis = 1_700_000_000_000;

    fn msg(ts: UnixMillis, data: Vec<u8>) -> RetrievedMessage {
        RetrievedMessage {
            hash: MessageHash(*blake3::hash(&data).as_bytes()),
            data,
            timestamp: ts,
            expiry: ts + DAY_MS,
        }
    }

    fn page(messages: Vec<RetrievedMessage>, more: bool) -> Response {
        let cursor = ReadCursor {
            store: 7,
            seq: messages.len() as u64,
        };
        Response::Messages {
            messages,
            cursor,
            more,
        }
    }

    fn record(len: usize) -> SignedNodeRecord {
        SignedNodeRecord {
            record: vec![7; len],
            signature: [1; 64],
        }
    }

    #[test]
    fn page_rules() {
        let ms = vec![
            msg(NOW, vec![1]),
            msg(NOW + 1, vec![2]),
            msg(NOW + 1, vec![3]),
        ];
        // A member's order is the order it took messages in, whatever their
        // timestamps: any order is well-formed.
        let mut reversed = ms.clone();
        reversed.reverse();
        for order in [ms.clone(), reversed] {
            let good = page(order, false);
            assert_eq!(
                Response::decode(&good.encode().unwrap(), NOW).unwrap(),
                good
            );
        }
        page(vec![], false).validate().unwrap();
        page(vec![msg(NOW, vec![1])], true).validate().unwrap();

        // Two messages of the largest size exceed the page.
        let big = vec![
            msg(NOW, vec![1; MAX_MESSAGE_DATA]),
            msg(NOW + 1, vec![2; MAX_MESSAGE_DATA]),
        ];
        assert!(matches!(
            page(big, true).validate(),
            Err(Error::TooLarge {
                what: "retrieved data",
                ..
            })
        ));

        assert!(page_has_room(0, 0, MAX_MESSAGE_DATA, 1));
        assert!(!page_has_room(1, 10, 1, 10));
        assert!(page_has_room(1, 10, 1, 11));
        assert!(!page_has_room(MAX_RETRIEVE_MESSAGES, 0, 1, u32::MAX));
    }

    #[test]
    fn empty_pages_cannot_promise_more() {
        let endless = page(vec![], true);
        assert!(matches!(
            endless.validate(),
            Err(Error::OutOfRange {
                what: "retrieved messages",
                ..
            })
        ));
        let bytes = codec::encode("t", &endless).unwrap();
        assert!(Response::decode(&bytes, NOW).is_err());

        let no_records = Response::Directory {
            records: vec![],
            next: Some(NodeId([4; 32])),
        };
        assert!(matches!(
            no_records.validate(),
            Err(Error::OutOfRange {
                what: "directory page",
                ..
            })
        ));
        Response::Directory {
            records: vec![],
            next: None,
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn far_future_messages_are_refused_by_the_client() {
        // A member hands out a message dated near the end of time: it would sort
        // after every real message and drag the client's cursor past them.
        let poison = RetrievedMessage {
            expiry: u64::MAX,
            ..msg(u64::MAX - DAY_MS, vec![1])
        };
        let resp = page(vec![msg(NOW, vec![2]), poison], true);
        resp.validate().unwrap();
        let bytes = resp.encode().unwrap();
        assert!(matches!(
            Response::decode(&bytes, NOW),
            Err(Error::OutOfRange {
                what: "message timestamp",
                ..
            })
        ));
        // Within two node clock errors of the client's clock: accepted.
        let edge = msg(NOW + PEER_CLOCK_TOLERANCE_MS, vec![3]);
        edge.validate_at(NOW).unwrap();
        assert!(
            msg(NOW + PEER_CLOCK_TOLERANCE_MS + 1, vec![3])
                .validate_at(NOW)
                .is_err()
        );
        // An expiry more than the longest TTL (and two node clock errors) ahead.
        let long = RetrievedMessage {
            expiry: NOW + MAX_TTL_MS + PEER_CLOCK_TOLERANCE_MS + 1,
            ..msg(NOW + 2, vec![4])
        };
        assert!(long.validate_at(NOW).is_err());
        // A stored answer with a far-future time.
        let stored = Response::Stored {
            hash: MessageHash::ZERO,
            timestamp: u64::MAX - DAY_MS,
            expiry: u64::MAX,
            held_by: 2,
            receipts: vec![],
        };
        stored.validate().unwrap();
        assert!(stored.validate_at(NOW).is_err());
    }

    #[test]
    fn a_full_page_fits_the_middle_response_class() {
        // Worst case: the most messages, the most data, the largest varints.
        let per = MAX_RETRIEVE_BYTES / MAX_RETRIEVE_MESSAGES;
        let messages: Vec<_> = (0..MAX_RETRIEVE_MESSAGES)
            .map(|i| RetrievedMessage {
                hash: MessageHash([0xff; 32]),
                data: vec![0xff; per],
                timestamp: u64::MAX - 1 - MAX_RETRIEVE_MESSAGES as u64 + i as u64,
                expiry: u64::MAX,
            })
            .collect();
        let len = page(messages, true).encode().unwrap().len();
        let class = crate::constants::ONION_RESPONSE_CLASSES[1]
            - crate::constants::TAG_LEN
            - crate::constants::ONION_LEN_PREFIX;
        assert!(len <= class, "{len} > {class}");
    }

    #[test]
    fn record_and_hash_bounds() {
        let swarm = Response::Swarm {
            records: vec![record(100); MAX_SWARM_SIZE + 1],
        };
        assert!(swarm.validate().is_err());
        let dir = Response::Directory {
            records: vec![record(MAX_RECORD_LEN + 1)],
            next: None,
        };
        assert!(matches!(dir.validate(), Err(Error::TooLarge { .. })));
        let dir = Response::Directory {
            records: vec![record(300); 3],
            next: Some(NodeId([4; 32])),
        };
        assert_eq!(Response::decode(&dir.encode().unwrap(), NOW).unwrap(), dir);
        let del = Response::Deleted {
            hashes: vec![MessageHash::ZERO; MAX_HASHES_PER_REQUEST + 1],
        };
        assert!(del.validate().is_err());
        let stored = Response::Stored {
            hash: MessageHash::ZERO,
            timestamp: NOW,
            expiry: NOW + DAY_MS,
            held_by: 0,
            receipts: vec![],
        };
        assert!(stored.validate().is_err());
        // More receipts than a swarm has members.
        let receipt = crate::rpc::StorageReceipt {
            node: NodeId([1; 32]),
            signature: [2; 64],
        };
        let stored = Response::Stored {
            hash: MessageHash::ZERO,
            timestamp: NOW,
            expiry: NOW + DAY_MS,
            held_by: 2,
            receipts: vec![receipt; MAX_SWARM_SIZE + 1],
        };
        assert!(stored.validate().is_err());
        let wrong = Response::error(
            ErrorKind::WrongSwarm {
                swarm: vec![record(10); MAX_SWARM_SIZE + 1],
            },
            "",
            NOW,
        );
        assert!(wrong.validate().is_err());
        // Oversized input, of non-zero bytes: refused by size before decoding.
        assert_eq!(
            Response::decode(&vec![0x5a; MAX_RPC_RESPONSE_LEN + 1], NOW),
            Err(Error::TooLarge {
                what: "RPC response",
                len: MAX_RPC_RESPONSE_LEN + 1,
                max: MAX_RPC_RESPONSE_LEN
            })
        );
        // A peer's over-long error message is refused on decode.
        let forged = Response::Error(RpcError {
            kind: ErrorKind::BadRequest,
            message: "x".repeat(crate::constants::MAX_ERROR_MESSAGE_LEN + 1),
            node_time: NOW,
        });
        let bytes = codec::encode("t", &forged).unwrap();
        assert!(matches!(
            Response::decode(&bytes, NOW),
            Err(Error::TooLarge {
                what: "error message",
                ..
            })
        ));
    }

    #[test]
    fn retrieved_messages_carry_the_owner_s_shortening() {
        let k = AccountKey::from_entropy([1; 16]);
        let m = StoredMessage::new(k.account_id(), Namespace::INBOX, vec![1], NOW, DAY_MS);
        let r = RetrievedMessage::from_stored(&m, None);
        assert_eq!(r.expiry, NOW + DAY_MS);
        assert!(r.hash_matches(&k.account_id(), Namespace::INBOX));
        assert!(!r.hash_matches(&k.account_id(), Namespace::CONFIG));
        assert_eq!(
            RetrievedMessage::from_stored(&m, Some(NOW + 5)).expiry,
            NOW + 5
        );
        assert_eq!(
            RetrievedMessage::from_stored(&m, Some(u64::MAX)).expiry,
            NOW + DAY_MS
        );
    }
}
