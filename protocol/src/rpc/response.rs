//! A node's answers to client requests, and the typed error every failure becomes
//! (with the node's clock in it, DESIGN §5).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec;
use crate::constants::{
    AUTH_CLOCK_WINDOW_MS, MAX_DIRECTORY_PAGE, MAX_ERROR_MESSAGE_LEN, MAX_HASHES_PER_REQUEST,
    MAX_RECORD_LEN, MAX_RETRIEVE_BYTES, MAX_RETRIEVE_MESSAGES, MAX_RPC_RESPONSE_LEN,
    MAX_SWARM_SIZE,
};
use crate::error::{Error, Result};
use crate::id::{AccountId, NodeId};
use crate::namespace::Namespace;
use crate::record::SignedNodeRecord;
use crate::rpc::auth::AuthError;
use crate::rpc::message::{Cursor, MessageHash, StoredMessage, check_data, check_lifetime};
use crate::time::UnixMillis;

/// A node's answer to a [`crate::rpc::Request`]. Variants are encoded by index:
/// only append.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// The message is stored (answer to `Store`).
    Stored {
        /// Its hash, as the node computed it.
        hash: MessageHash,
        /// The timestamp it is kept under (the first accepting node's clock; the
        /// earlier one if the same message was already there).
        timestamp: UnixMillis,
        /// When it expires.
        expiry: UnixMillis,
        /// How many swarm members (counting this node) hold it: at least the
        /// store quorum when the node answers.
        held_by: u8,
    },
    /// A page of messages (answer to `Retrieve`).
    Messages {
        /// Messages in strictly increasing [`Cursor`] order.
        messages: Vec<RetrievedMessage>,
        /// The cursor of the last message, to pass as `after` next time; `None`
        /// when the page is empty (keep the old cursor).
        cursor: Option<Cursor>,
        /// Whether more messages follow right away (ask again without waiting).
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
    Directory {
        /// Records ordered by node id; the client verifies each.
        records: Vec<SignedNodeRecord>,
        /// Where the next page starts, if there is one.
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
    /// The retrieve form of a stored message.
    pub fn from_stored(m: &StoredMessage) -> Self {
        Self {
            hash: m.hash,
            data: m.data.clone(),
            timestamp: m.timestamp,
            expiry: m.expiry,
        }
    }

    /// Its place in the account's order.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            timestamp: self.timestamp,
            hash: self.hash,
        }
    }

    /// Whether the hash is that of `data` for `account`/`namespace`: a client
    /// checks this, since a node could otherwise hand out forged hashes (which
    /// would break deduplication and deletes).
    pub fn hash_matches(&self, account: &AccountId, namespace: Namespace) -> bool {
        MessageHash::compute(account, namespace, &self.data) == self.hash
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

/// What went wrong, in a form the client can act on.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorKind {
    /// The request is malformed or outside the protocol's limits. Do not retry.
    BadRequest,
    /// The owner signature is missing or does not verify.
    Unauthorized,
    /// The owner signature's timestamp is too far from the node's clock; the
    /// error's `node_time` says how far.
    ClockSkew,
    /// This node is not in the account's swarm by its view. Use these records
    /// (at most [`MAX_SWARM_SIZE`]) and retry there.
    WrongSwarm {
        /// The swarm the node believes in.
        swarm: Vec<SignedNodeRecord>,
    },
    /// The account or the node is over its storage quota.
    QuotaExceeded,
    /// Too many requests; try again later.
    RateLimited {
        /// How long to wait before trying again.
        retry_after_ms: u64,
    },
    /// The request or its data is over a size limit.
    TooLarge,
    /// The node cannot serve now (starting, shutting down, overloaded).
    Unavailable,
    /// The node did not finish in time (for example a store whose quorum did not
    /// answer).
    Timeout,
    /// A bug or a storage failure on the node.
    Internal,
}

impl ErrorKind {
    /// A short name for metrics labels and logs.
    pub fn name(&self) -> &'static str {
        match self {
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::ClockSkew => "clock_skew",
            ErrorKind::WrongSwarm { .. } => "wrong_swarm",
            ErrorKind::QuotaExceeded => "quota_exceeded",
            ErrorKind::RateLimited { .. } => "rate_limited",
            ErrorKind::TooLarge => "too_large",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Internal => "internal",
        }
    }
}

/// A failed request: what kind of failure, a sentence for a person, and the
/// node's clock (DESIGN §5: every error carries it, so a client whose clock
/// drifted corrects itself instead of failing every signed request).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct RpcError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Details for a person, at most [`MAX_ERROR_MESSAGE_LEN`] bytes.
    pub message: String,
    /// The node's clock when it answered (Unix ms).
    pub node_time: UnixMillis,
}

impl RpcError {
    /// An error; `message` is cut to [`MAX_ERROR_MESSAGE_LEN`] bytes at a
    /// character boundary.
    pub fn new(kind: ErrorKind, message: impl Into<String>, node_time: UnixMillis) -> Self {
        let mut message = message.into();
        if message.len() > MAX_ERROR_MESSAGE_LEN {
            let mut end = MAX_ERROR_MESSAGE_LEN;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
        }
        Self {
            kind,
            message,
            node_time,
        }
    }

    /// The error a node answers for a protocol error found while decoding,
    /// validating or authorizing a request.
    pub fn from_error(error: &Error, node_time: UnixMillis) -> Self {
        let kind = match error {
            Error::TooLarge { .. } | Error::DoesNotFit { .. } => ErrorKind::TooLarge,
            Error::Auth(AuthError::ClockSkew { .. }) => ErrorKind::ClockSkew,
            Error::Auth(_) | Error::BadSignature { .. } => ErrorKind::Unauthorized,
            Error::Encode { .. } => ErrorKind::Internal,
            _ => ErrorKind::BadRequest,
        };
        Self::new(kind, error.to_string(), node_time)
    }

    /// The error for a failed owner signature.
    pub fn from_auth(error: &AuthError, node_time: UnixMillis) -> Self {
        Self::from_error(&Error::Auth(error.clone()), node_time)
    }

    /// How far the node's clock is ahead of `local_now` (negative: behind). A
    /// client adds this to its clock when it signs for this node.
    pub fn clock_offset_ms(&self, local_now: UnixMillis) -> i64 {
        let diff = i128::from(self.node_time) - i128::from(local_now);
        i64::try_from(diff).unwrap_or(if diff < 0 { i64::MIN } else { i64::MAX })
    }

    pub(crate) fn validate(&self) -> Result<()> {
        if self.message.len() > MAX_ERROR_MESSAGE_LEN {
            return Err(Error::TooLarge {
                what: "error message",
                len: self.message.len(),
                max: MAX_ERROR_MESSAGE_LEN,
            });
        }
        if let ErrorKind::WrongSwarm { swarm } = &self.kind {
            check_records("WrongSwarm records", swarm, MAX_SWARM_SIZE)?;
        }
        Ok(())
    }
}

impl fmt::Display for RpcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::BadRequest => f.write_str("the node refused the request as malformed")?,
            ErrorKind::Unauthorized => {
                f.write_str("not allowed: the owner's signature is missing or wrong")?
            }
            ErrorKind::ClockSkew => write!(
                f,
                "this device's clock is more than {} minutes off the node's \
                 (node time {} ms since 1970): set the clock right",
                AUTH_CLOCK_WINDOW_MS / 60_000,
                self.node_time
            )?,
            ErrorKind::WrongSwarm { swarm } => write!(
                f,
                "this node does not hold the account; it points to {} other nodes",
                swarm.len()
            )?,
            ErrorKind::QuotaExceeded => f.write_str("storage quota exceeded on the node")?,
            ErrorKind::RateLimited { retry_after_ms } => write!(
                f,
                "too many requests: try again in {:.1} s",
                *retry_after_ms as f64 / 1000.0
            )?,
            ErrorKind::TooLarge => f.write_str("the request is too large")?,
            ErrorKind::Unavailable => {
                f.write_str("the node is unavailable for now: try another")?
            }
            ErrorKind::Timeout => f.write_str("the node timed out")?,
            ErrorKind::Internal => f.write_str("the node had an internal error")?,
        }
        if !self.message.is_empty() {
            // The message comes from a peer: show it, but not its control characters.
            f.write_str(" (")?;
            for c in self.message.chars() {
                let c = if c.is_control() { '\u{fffd}' } else { c };
                write!(f, "{c}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl std::error::Error for RpcError {}

/// At most `max` records, none over [`MAX_RECORD_LEN`]. The records' signatures
/// are the receiver's to verify (with the network parameters and its clock).
fn check_records(what: &'static str, records: &[SignedNodeRecord], max: usize) -> Result<()> {
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

fn check_hash_list(hashes: &[MessageHash]) -> Result<()> {
    if hashes.len() > MAX_HASHES_PER_REQUEST {
        return Err(Error::OutOfRange {
            what: "hashes",
            reason: format!("{} hashes, at most {MAX_HASHES_PER_REQUEST}", hashes.len()),
        });
    }
    Ok(())
}

fn check_page(messages: &[RetrievedMessage], cursor: &Option<Cursor>) -> Result<()> {
    if messages.len() > MAX_RETRIEVE_MESSAGES {
        return Err(Error::OutOfRange {
            what: "retrieved messages",
            reason: format!(
                "{} messages, at most {MAX_RETRIEVE_MESSAGES}",
                messages.len()
            ),
        });
    }
    let mut total = 0usize;
    let mut last: Option<Cursor> = None;
    for m in messages {
        check_data(&m.data)?;
        check_lifetime(m.timestamp, m.expiry)?;
        total = total.saturating_add(m.data.len());
        let here = m.cursor();
        if last.is_some_and(|l| l >= here) {
            return Err(Error::OutOfRange {
                what: "retrieved messages",
                reason: "not in strictly increasing (timestamp, hash) order".into(),
            });
        }
        last = Some(here);
    }
    if total > MAX_RETRIEVE_BYTES {
        return Err(Error::TooLarge {
            what: "retrieved data",
            len: total,
            max: MAX_RETRIEVE_BYTES,
        });
    }
    if *cursor != last {
        return Err(Error::OutOfRange {
            what: "retrieve cursor",
            reason: "is not the cursor of the last message".into(),
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
    /// reading it, then checks its bounds ([`Response::validate`]).
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        let resp: Self = codec::decode("RPC response", bytes, MAX_RPC_RESPONSE_LEN)?;
        resp.validate()?;
        Ok(resp)
    }

    /// Encodes a response after checking its bounds.
    pub fn encode(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let bytes = codec::encode("RPC response", self)?;
        if bytes.len() > MAX_RPC_RESPONSE_LEN {
            return Err(Error::TooLarge {
                what: "RPC response",
                len: bytes.len(),
                max: MAX_RPC_RESPONSE_LEN,
            });
        }
        Ok(bytes)
    }

    /// Checks the bounds a client relies on: at most [`MAX_RETRIEVE_MESSAGES`]
    /// messages with at most [`MAX_RETRIEVE_BYTES`] of data in increasing cursor
    /// order, with the cursor of the last; hash lists of at most
    /// [`MAX_HASHES_PER_REQUEST`]; at most [`MAX_SWARM_SIZE`] swarm records and
    /// [`MAX_DIRECTORY_PAGE`] directory records; error messages of at most
    /// [`MAX_ERROR_MESSAGE_LEN`] bytes.
    pub fn validate(&self) -> Result<()> {
        match self {
            Response::Stored {
                timestamp,
                expiry,
                held_by,
                ..
            } => {
                check_lifetime(*timestamp, *expiry)?;
                if *held_by == 0 || usize::from(*held_by) > MAX_SWARM_SIZE {
                    return Err(Error::OutOfRange {
                        what: "held_by",
                        reason: format!("{held_by} is not 1 to {MAX_SWARM_SIZE}"),
                    });
                }
                Ok(())
            }
            Response::Messages {
                messages, cursor, ..
            } => check_page(messages, cursor),
            Response::Deleted { hashes } | Response::Expired { hashes, .. } => {
                check_hash_list(hashes)
            }
            Response::Swarm { records } => check_records("swarm records", records, MAX_SWARM_SIZE),
            Response::Directory { records, .. } => {
                check_records("directory records", records, MAX_DIRECTORY_PAGE)
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
    use crate::constants::MAX_MESSAGE_DATA;
    use crate::keys::AccountKey;
    use crate::time::{DAY_MS, MINUTE_MS};

    const NOW: UnixMillis = 1_700_000_000_000;

    fn msg(ts: UnixMillis, data: Vec<u8>) -> RetrievedMessage {
        RetrievedMessage {
            hash: MessageHash(*blake3::hash(&data).as_bytes()),
            data,
            timestamp: ts,
            expiry: ts + DAY_MS,
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
        let ms = vec![msg(1, vec![1]), msg(2, vec![2]), msg(2, vec![3])];
        let mut sorted = ms.clone();
        sorted.sort_by_key(RetrievedMessage::cursor);
        let cursor = sorted.last().map(RetrievedMessage::cursor);
        let good = Response::Messages {
            messages: sorted.clone(),
            cursor,
            more: false,
        };
        assert_eq!(Response::decode(&good.encode().unwrap()).unwrap(), good);

        let mut reversed = sorted.clone();
        reversed.reverse();
        let bad_order = Response::Messages {
            messages: reversed,
            cursor,
            more: false,
        };
        assert!(bad_order.validate().is_err());
        let bad_cursor = Response::Messages {
            messages: sorted.clone(),
            cursor: None,
            more: false,
        };
        assert!(bad_cursor.validate().is_err());
        let empty = Response::Messages {
            messages: vec![],
            cursor: None,
            more: false,
        };
        empty.validate().unwrap();

        // Two messages of the largest size exceed the page.
        let big = vec![
            msg(1, vec![1; MAX_MESSAGE_DATA]),
            msg(2, vec![2; MAX_MESSAGE_DATA]),
        ];
        let cursor = big.last().map(RetrievedMessage::cursor);
        let over = Response::Messages {
            messages: big,
            cursor,
            more: true,
        };
        assert!(matches!(over.validate(), Err(Error::TooLarge { .. })));

        assert!(page_has_room(0, 0, MAX_MESSAGE_DATA, 1));
        assert!(!page_has_room(1, 10, 1, 10));
        assert!(page_has_room(1, 10, 1, 11));
        assert!(!page_has_room(MAX_RETRIEVE_MESSAGES, 0, 1, u32::MAX));
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
        let cursor = messages.last().map(RetrievedMessage::cursor);
        let page = Response::Messages {
            messages,
            cursor,
            more: true,
        };
        let len = page.encode().unwrap().len();
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
        assert_eq!(Response::decode(&dir.encode().unwrap()).unwrap(), dir);
        let del = Response::Deleted {
            hashes: vec![MessageHash::ZERO; MAX_HASHES_PER_REQUEST + 1],
        };
        assert!(del.validate().is_err());
        let stored = Response::Stored {
            hash: MessageHash::ZERO,
            timestamp: NOW,
            expiry: NOW + DAY_MS,
            held_by: 0,
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
        assert!(Response::decode(&vec![0; MAX_RPC_RESPONSE_LEN + 1]).is_err());
    }

    #[test]
    fn errors_are_bounded_and_read_well() {
        let long = "é".repeat(200); // 400 bytes, two per character
        let e = RpcError::new(ErrorKind::Internal, long, NOW);
        assert_eq!(e.message.len(), MAX_ERROR_MESSAGE_LEN);
        assert!(e.message.chars().all(|c| c == 'é'));
        let odd = "a".repeat(255) + "é";
        assert_eq!(
            RpcError::new(ErrorKind::Internal, odd, NOW).message.len(),
            255
        );

        // A peer's over-long message is refused on decode.
        let forged = Response::Error(RpcError {
            kind: ErrorKind::BadRequest,
            message: "x".repeat(MAX_ERROR_MESSAGE_LEN + 1),
            node_time: NOW,
        });
        let bytes = codec::encode("t", &forged).unwrap();
        assert!(matches!(
            Response::decode(&bytes),
            Err(Error::TooLarge { .. })
        ));

        let skew = RpcError::new(ErrorKind::ClockSkew, "", NOW);
        let text = skew.to_string();
        assert!(
            text.contains("clock") && text.contains(&NOW.to_string()),
            "{text}"
        );
        assert_eq!(skew.clock_offset_ms(NOW - 10 * MINUTE_MS), 600_000);
        assert_eq!(skew.clock_offset_ms(NOW + 1), -1);
        let limited = RpcError::new(
            ErrorKind::RateLimited {
                retry_after_ms: 1500,
            },
            "store rate",
            NOW,
        );
        assert_eq!(
            limited.to_string(),
            "too many requests: try again in 1.5 s (store rate)"
        );
        let ctrl = RpcError::new(ErrorKind::BadRequest, "a\u{1b}[2Jb", NOW);
        assert!(!ctrl.to_string().contains('\u{1b}'));
    }

    #[test]
    fn protocol_errors_map_to_kinds() {
        let k = AccountKey::from_entropy([1; 16]);
        let e = RpcError::from_auth(
            &AuthError::ClockSkew {
                node_time: NOW,
                their_time: NOW - 10 * MINUTE_MS,
            },
            NOW,
        );
        assert_eq!(e.kind, ErrorKind::ClockSkew);
        assert_eq!(e.node_time, NOW);
        assert_eq!(
            RpcError::from_auth(&AuthError::BadSignature, NOW).kind,
            ErrorKind::Unauthorized
        );
        let too_large = Error::TooLarge {
            what: "x",
            len: 2,
            max: 1,
        };
        assert_eq!(
            RpcError::from_error(&too_large, NOW).kind,
            ErrorKind::TooLarge
        );
        let bad = crate::rpc::Request::decode(&[0, 1]).unwrap_err();
        assert_eq!(RpcError::from_error(&bad, NOW).kind, ErrorKind::BadRequest);
        let m = StoredMessage::new(k.account_id(), Namespace::INBOX, vec![1], NOW, DAY_MS);
        let r = RetrievedMessage::from_stored(&m);
        assert!(r.hash_matches(&k.account_id(), Namespace::INBOX));
        assert!(!r.hash_matches(&k.account_id(), Namespace::CONFIG));
    }
}
