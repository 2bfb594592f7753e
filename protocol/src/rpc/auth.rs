//! Owner signatures: how an account proves to a node that a store, retrieve,
//! delete or expire comes from its owner (DESIGN §5).
//!
//! The account key signs
//!
//! ```text
//! "sotto owner auth v1" ‖ op (u8) ‖ account key (32) ‖ namespace (u16 LE)
//!                       ‖ timestamp (u64 LE) ‖ blake3(params) (32)
//! ```
//!
//! where `params` is the postcard encoding of the request's fields other than the
//! account, the namespace and the auth itself (those two are in the message
//! directly); see [`OwnerSigned::signed_params`]. Every field has a fixed length,
//! so the message parses one way only. A signature made for one operation, account,
//! namespace or set of parameters therefore fails for any other.
//!
//! A node accepts a signature whose timestamp is within
//! [`AUTH_CLOCK_WINDOW_MS`] of its own clock. Inside that window a signed request
//! can be replayed by whoever saw it, which is only its destination node (it is
//! onion-encrypted on the way); every owner operation is idempotent, so a replay
//! repeats what the owner already asked for and nothing else.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::bytes64;
use crate::constants::{AUTH_CLOCK_WINDOW_MS, HASH_LEN, KEY_LEN, SIGNATURE_LEN};
use crate::error::Error;
use crate::id::AccountId;
use crate::keys::{self, AccountKey};
use crate::namespace::Namespace;
use crate::time::UnixMillis;

/// Domain string at the start of every owner-signed message.
pub const OWNER_AUTH_DOMAIN: &[u8] = b"sotto owner auth v1";

/// Length of the message an owner signs.
pub const OWNER_AUTH_MESSAGE_LEN: usize = OWNER_AUTH_DOMAIN.len() + 1 + KEY_LEN + 2 + 8 + HASH_LEN;

/// The operations an owner signs, with their fixed codes in the signed message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OwnerOp {
    /// Store a message. Code 1.
    Store,
    /// Retrieve messages. Code 2.
    Retrieve,
    /// Delete messages. Code 3.
    Delete,
    /// Shorten messages' expiry. Code 4.
    Expire,
}

impl OwnerOp {
    /// The code in the signed message.
    pub fn code(self) -> u8 {
        match self {
            OwnerOp::Store => 1,
            OwnerOp::Retrieve => 2,
            OwnerOp::Delete => 3,
            OwnerOp::Expire => 4,
        }
    }

    /// Lower-case name, for messages and metrics.
    pub fn name(self) -> &'static str {
        match self {
            OwnerOp::Store => "store",
            OwnerOp::Retrieve => "retrieve",
            OwnerOp::Delete => "delete",
            OwnerOp::Expire => "expire",
        }
    }
}

impl fmt::Display for OwnerOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an owner signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The namespace needs the owner's signature and the request has none.
    #[error("{op} in namespace {namespace} needs the owner's signature and the request has none")]
    Missing {
        /// The operation.
        op: OwnerOp,
        /// The namespace code.
        namespace: u16,
    },
    /// The signature's timestamp is outside the node's clock window.
    #[error(
        "the request was signed at {their_time} ms but the node's clock says {node_time} ms \
         (more than {} s apart): correct the clock, or sign again using the node's time",
        AUTH_CLOCK_WINDOW_MS / 1000
    )]
    ClockSkew {
        /// The node's clock when it checked (Unix ms).
        node_time: UnixMillis,
        /// The timestamp in the signature (Unix ms).
        their_time: UnixMillis,
    },
    /// The account in the request is not a valid Ed25519 public key.
    #[error("the account is not a valid public key, so nothing can be signed for it")]
    BadKey,
    /// The signature does not verify for this operation, account, namespace,
    /// timestamp and parameters.
    #[error(
        "the owner signature does not verify for this account, operation, namespace and parameters"
    )]
    BadSignature,
    /// The parameters could not be encoded to check the signature (a bug).
    #[error("could not encode the signed parameters: {0}")]
    Params(String),
}

/// An owner's signature on a request.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OwnerAuth {
    /// When it was signed, by the owner's clock (Unix ms).
    pub timestamp: UnixMillis,
    /// Ed25519 signature by the account key over [`signing_message`].
    #[serde(with = "bytes64")]
    pub signature: [u8; SIGNATURE_LEN],
}

/// The exact bytes an owner signs for `op` on `account`/`namespace` at `timestamp`
/// with the encoded `params`.
pub fn signing_message(
    op: OwnerOp,
    account: &AccountId,
    namespace: Namespace,
    timestamp: UnixMillis,
    params: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(OWNER_AUTH_MESSAGE_LEN);
    m.extend_from_slice(OWNER_AUTH_DOMAIN);
    m.push(op.code());
    m.extend_from_slice(account.as_bytes());
    m.extend_from_slice(&namespace.code().to_le_bytes());
    m.extend_from_slice(&timestamp.to_le_bytes());
    m.extend_from_slice(blake3::hash(params).as_bytes());
    m
}

impl OwnerAuth {
    /// Signs `op` on the key's own account in `namespace` at `timestamp` over the
    /// encoded `params`.
    pub fn sign(
        key: &AccountKey,
        op: OwnerOp,
        namespace: Namespace,
        timestamp: UnixMillis,
        params: &[u8],
    ) -> Self {
        let message = signing_message(op, &key.account_id(), namespace, timestamp, params);
        Self {
            timestamp,
            signature: key.sign(&message),
        }
    }

    /// Checks the clock window first (cheap, and the error carries the node's time
    /// so the client can correct itself), then the Ed25519 signature.
    pub fn verify(
        &self,
        op: OwnerOp,
        account: &AccountId,
        namespace: Namespace,
        params: &[u8],
        now: UnixMillis,
    ) -> Result<(), AuthError> {
        if now.abs_diff(self.timestamp) > AUTH_CLOCK_WINDOW_MS {
            return Err(AuthError::ClockSkew {
                node_time: now,
                their_time: self.timestamp,
            });
        }
        let message = signing_message(op, account, namespace, self.timestamp, params);
        keys::verify("owner auth", account.as_bytes(), &message, &self.signature).map_err(|e| {
            match e {
                Error::BadKey { .. } => AuthError::BadKey,
                _ => AuthError::BadSignature,
            }
        })
    }
}

/// A request an owner signs: it names its operation, account, namespace and the
/// parameters the signature covers. Implemented by the store, retrieve, delete and
/// expire requests.
pub trait OwnerSigned {
    /// The operation.
    const OP: OwnerOp;

    /// The account the request acts on.
    fn account(&self) -> &AccountId;

    /// The namespace the request acts on.
    fn namespace(&self) -> Namespace;

    /// The signature, if the request carries one.
    fn auth(&self) -> Option<&OwnerAuth>;

    /// Whether this request must carry the owner's signature.
    fn needs_owner(&self) -> crate::Result<bool>;

    /// The postcard encoding of the fields the signature covers besides account
    /// and namespace.
    fn signed_params(&self) -> crate::Result<Vec<u8>>;

    /// Checks the signature if there is one, and that there is one if the
    /// namespace needs it. A signature present where none is needed must still
    /// verify: a client that attaches one means it, and a bad one is a bug to
    /// report rather than to ignore.
    fn authorize(&self, now: UnixMillis) -> Result<(), AuthError> {
        match self.auth() {
            Some(auth) => {
                let params = self
                    .signed_params()
                    .map_err(|e| AuthError::Params(e.to_string()))?;
                auth.verify(Self::OP, self.account(), self.namespace(), &params, now)
            }
            // An unknown namespace needs the owner: refuse rather than guess.
            None if self.needs_owner().unwrap_or(true) => Err(AuthError::Missing {
                op: Self::OP,
                namespace: self.namespace().code(),
            }),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::MINUTE_MS;

    const NOW: UnixMillis = 1_700_000_000_000;

    fn key(n: u8) -> AccountKey {
        AccountKey::from_entropy([n; 16])
    }

    #[test]
    fn message_layout() {
        let k = key(1);
        let m = signing_message(OwnerOp::Delete, &k.account_id(), Namespace::CONFIG, 7, b"p");
        assert_eq!(m.len(), OWNER_AUTH_MESSAGE_LEN);
        assert!(m.starts_with(OWNER_AUTH_DOMAIN));
        let rest = &m[OWNER_AUTH_DOMAIN.len()..];
        assert_eq!(rest[0], 3);
        assert_eq!(&rest[1..33], k.account_id().as_bytes());
        assert_eq!(&rest[33..35], &[1, 0]);
        assert_eq!(&rest[35..43], &7u64.to_le_bytes());
        assert_eq!(&rest[43..], blake3::hash(b"p").as_bytes());
    }

    #[test]
    fn verifies_only_what_was_signed() {
        let k = key(1);
        let me = k.account_id();
        let auth = OwnerAuth::sign(&k, OwnerOp::Retrieve, Namespace::INBOX, NOW, b"params");
        auth.verify(OwnerOp::Retrieve, &me, Namespace::INBOX, b"params", NOW)
            .unwrap();
        // Within the window on both sides.
        auth.verify(
            OwnerOp::Retrieve,
            &me,
            Namespace::INBOX,
            b"params",
            NOW + 5 * MINUTE_MS,
        )
        .unwrap();
        auth.verify(
            OwnerOp::Retrieve,
            &me,
            Namespace::INBOX,
            b"params",
            NOW - 5 * MINUTE_MS,
        )
        .unwrap();

        let bad = AuthError::BadSignature;
        let other = key(2).account_id();
        assert_eq!(
            auth.verify(OwnerOp::Retrieve, &other, Namespace::INBOX, b"params", NOW),
            Err(bad.clone())
        );
        assert_eq!(
            auth.verify(OwnerOp::Retrieve, &me, Namespace::CONFIG, b"params", NOW),
            Err(bad.clone())
        );
        for op in [OwnerOp::Store, OwnerOp::Delete, OwnerOp::Expire] {
            assert_eq!(
                auth.verify(op, &me, Namespace::INBOX, b"params", NOW),
                Err(bad.clone())
            );
        }
        assert_eq!(
            auth.verify(OwnerOp::Retrieve, &me, Namespace::INBOX, b"paramz", NOW),
            Err(bad.clone())
        );
        for i in 0..SIGNATURE_LEN {
            let mut flipped = auth.clone();
            flipped.signature[i] ^= 0x01;
            assert_eq!(
                flipped.verify(OwnerOp::Retrieve, &me, Namespace::INBOX, b"params", NOW),
                Err(bad.clone()),
                "byte {i}"
            );
        }
        // A changed timestamp inside the window is a different message.
        let mut moved = auth.clone();
        moved.timestamp += 1;
        assert_eq!(
            moved.verify(OwnerOp::Retrieve, &me, Namespace::INBOX, b"params", NOW),
            Err(bad)
        );
    }

    #[test]
    fn clock_window_is_checked_first_and_carries_node_time() {
        let k = key(1);
        let auth = OwnerAuth::sign(&k, OwnerOp::Store, Namespace::CONFIG, NOW, b"");
        let later = NOW + 10 * MINUTE_MS;
        let err = auth
            .verify(
                OwnerOp::Store,
                &k.account_id(),
                Namespace::CONFIG,
                b"",
                later,
            )
            .unwrap_err();
        assert_eq!(
            err,
            AuthError::ClockSkew {
                node_time: later,
                their_time: NOW
            }
        );
        assert!(err.to_string().contains("correct the clock"), "{err}");
        // Even a forged signature gets the clock answer first (no verify cost).
        let mut forged = auth.clone();
        forged.signature = [0; 64];
        assert!(matches!(
            forged.verify(
                OwnerOp::Store,
                &k.account_id(),
                Namespace::CONFIG,
                b"",
                NOW - 10 * MINUTE_MS
            ),
            Err(AuthError::ClockSkew { .. })
        ));
        // Just past the window.
        assert!(matches!(
            auth.verify(
                OwnerOp::Store,
                &k.account_id(),
                Namespace::CONFIG,
                b"",
                NOW + AUTH_CLOCK_WINDOW_MS + 1
            ),
            Err(AuthError::ClockSkew { .. })
        ));
    }

    #[test]
    fn op_codes_are_fixed() {
        let codes: Vec<u8> = [
            OwnerOp::Store,
            OwnerOp::Retrieve,
            OwnerOp::Delete,
            OwnerOp::Expire,
        ]
        .iter()
        .map(|o| o.code())
        .collect();
        assert_eq!(codes, vec![1, 2, 3, 4]);
    }
}
