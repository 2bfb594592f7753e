//! The typed error every failed request becomes, with the node's clock in it
//! (DESIGN §5), and how a client shows one.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::constants::{
    AUTH_CLOCK_WINDOW_MS, MAX_ERROR_MESSAGE_LEN, MAX_RETRY_AFTER_MS, MAX_SWARM_SIZE,
};
use crate::envelope::content::forbidden_in_name;
use crate::error::{Error, Result};
use crate::record::SignedNodeRecord;
use crate::rpc::auth::AuthError;
use crate::rpc::response::check_records;
use crate::time::UnixMillis;

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
    /// The account's inbox takes only stores with its delivery token, and this
    /// one had none or an old one: deliver into its requests with postage
    /// ([`crate::rpc::deliver`]).
    TokenRequired,
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
            ErrorKind::TokenRequired => "token_required",
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
        match &self.kind {
            ErrorKind::WrongSwarm { swarm } => {
                check_records("WrongSwarm records", swarm, MAX_SWARM_SIZE)
            }
            ErrorKind::RateLimited { retry_after_ms } if *retry_after_ms > MAX_RETRY_AFTER_MS => {
                Err(Error::OutOfRange {
                    what: "retry_after_ms",
                    reason: format!(
                        "{retry_after_ms} ms is longer than the longest wait of \
                         {MAX_RETRY_AFTER_MS} ms a node may ask for"
                    ),
                })
            }
            _ => Ok(()),
        }
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
            ErrorKind::TokenRequired => {
                f.write_str("the inbox takes only its contacts' deliveries: send a request")?
            }
        }
        if !self.message.is_empty() {
            // The message comes from a peer: show it, but not the characters that
            // could rewrite the terminal or the line around it (control characters,
            // line and paragraph separators, bidirectional overrides and isolates).
            f.write_str(" (")?;
            for c in self.message.chars() {
                let c = if forbidden_in_name(c) { '\u{fffd}' } else { c };
                write!(f, "{c}")?;
            }
            f.write_str(")")?;
        }
        Ok(())
    }
}

impl std::error::Error for RpcError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::MINUTE_MS;

    const NOW: UnixMillis = 1_700_000_000_000;

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
        let forged = RpcError {
            kind: ErrorKind::BadRequest,
            message: "x".repeat(MAX_ERROR_MESSAGE_LEN + 1),
            node_time: NOW,
        };
        assert!(matches!(forged.validate(), Err(Error::TooLarge { .. })));

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
    }

    #[test]
    fn peer_text_cannot_rewrite_the_display() {
        for evil in [
            "\u{1b}[2J", // terminal escape
            "\n",        // new line
            "\u{2028}",  // line separator
            "\u{2029}",  // paragraph separator
            "\u{202e}",  // right-to-left override
            "\u{202a}",  // left-to-right embedding
            "\u{2066}",  // left-to-right isolate
            "\u{2069}",  // pop directional isolate
        ] {
            let e = RpcError::new(ErrorKind::BadRequest, format!("a{evil}b"), NOW);
            let shown = e.to_string();
            assert!(
                !shown.chars().any(forbidden_in_name),
                "{evil:?} in {shown:?}"
            );
            assert!(shown.contains("a\u{fffd}"), "{shown:?}");
        }
        // Ordinary text in any script is shown as it is.
        let fine = RpcError::new(ErrorKind::BadRequest, "quota: 配额 ✓", NOW);
        assert!(fine.to_string().ends_with("(quota: 配额 ✓)"));
    }

    #[test]
    fn retry_after_is_capped() {
        let at = |retry_after_ms| RpcError::new(ErrorKind::RateLimited { retry_after_ms }, "", NOW);
        at(MAX_RETRY_AFTER_MS).validate().unwrap();
        assert!(matches!(
            at(MAX_RETRY_AFTER_MS + 1).validate(),
            Err(Error::OutOfRange {
                what: "retry_after_ms",
                ..
            })
        ));
        assert!(at(u64::MAX).validate().is_err());
    }

    #[test]
    fn protocol_errors_map_to_kinds() {
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
    }
}
