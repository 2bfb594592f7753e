//! Owner signatures: how an account proves to a node that a store, retrieve,
//! delete or expire comes from its owner (DESIGN §5).
//!
//! The account key signs
//!
//! ```text
//! "sotto owner auth v2" ‖ network name length (u64 LE) ‖ network name
//!                       ‖ op (u8) ‖ account key (32) ‖ namespace (u16 LE)
//!                       ‖ timestamp (u64 LE) ‖ blake3(params) (32)
//! ```
//!
//! where `params` is the postcard encoding of the request's fields other than the
//! account, the namespace and the auth itself (those two are in the message
//! directly); see [`OwnerSigned::signed_params`]. The network name is
//! length-prefixed and every other field has a fixed length, so the message parses
//! one way only. A signature made for one network, operation, account, namespace
//! or set of parameters therefore fails for any other: a request signed for a
//! devnet is worthless on the public network.
//!
//! ## Time and replay
//!
//! A node accepts a client's signed request whose timestamp is within
//! [`AUTH_CLOCK_WINDOW_MS`] of its own clock ([`OwnerSigned::authorize`]). Inside
//! that window anyone who saw the request can replay it: the node it was sent to,
//! and every member of the account's swarm, since stores, deletes and expiry
//! changes are replicated with their signatures. A replay only repeats what the
//! owner asked for: a store is idempotent (same hash), a retrieve shows the replayer
//! data it already holds, and deletes and expiry changes only move a message's
//! state one way (present → deleted, expiry → earlier), so applying one twice, or
//! late, changes nothing the first application did not.
//!
//! That is why a signed delete or expiry change that arrives by replication is
//! checked only for not being from the future
//! ([`OwnerSigned::authorize_replicated`]): it may be days old after a partition,
//! and it is still what the owner asked for. A replicated message's store proof
//! is checked against the message's own timestamp instead of the receiver's clock
//! ([`crate::rpc::StoredMessage::verify_owner`]): the first node accepted it within
//! the window of that timestamp.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec::bytes64;
use crate::constants::{
    AUTH_CLOCK_WINDOW_MS, HASH_LEN, KEY_LEN, REPLICATED_AUTH_TOLERANCE_MS, SIGNATURE_LEN,
};
use crate::error::Error;
use crate::id::AccountId;
use crate::keys::{self, AccountKey};
use crate::namespace::Namespace;
use crate::time::UnixMillis;

/// Domain string at the start of every owner-signed message. v2 added the network
/// name.
pub const OWNER_AUTH_DOMAIN: &[u8] = b"sotto owner auth v2";

/// Length of the message an owner signs on a network whose name is `network_len`
/// bytes long.
pub const fn owner_auth_message_len(network_len: usize) -> usize {
    OWNER_AUTH_DOMAIN.len() + 8 + network_len + 1 + KEY_LEN + 2 + 8 + HASH_LEN
}

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

/// The exact bytes an owner signs on `network` for `op` on `account`/`namespace`
/// at `timestamp` with the encoded `params`.
pub fn signing_message(
    network: &str,
    op: OwnerOp,
    account: &AccountId,
    namespace: Namespace,
    timestamp: UnixMillis,
    params: &[u8],
) -> Vec<u8> {
    let mut m = Vec::with_capacity(owner_auth_message_len(network.len()));
    m.extend_from_slice(OWNER_AUTH_DOMAIN);
    // usize is at most 64 bits on every target Rust supports.
    let network_len = u64::try_from(network.len()).unwrap_or(u64::MAX);
    m.extend_from_slice(&network_len.to_le_bytes());
    m.extend_from_slice(network.as_bytes());
    m.push(op.code());
    m.extend_from_slice(account.as_bytes());
    m.extend_from_slice(&namespace.code().to_le_bytes());
    m.extend_from_slice(&timestamp.to_le_bytes());
    m.extend_from_slice(blake3::hash(params).as_bytes());
    m
}

impl OwnerAuth {
    /// Signs `op` on the key's own account in `namespace` on `network` at
    /// `timestamp` over the encoded `params`.
    pub fn sign(
        key: &AccountKey,
        network: &str,
        op: OwnerOp,
        namespace: Namespace,
        timestamp: UnixMillis,
        params: &[u8],
    ) -> Self {
        let message = signing_message(network, op, &key.account_id(), namespace, timestamp, params);
        Self {
            timestamp,
            signature: key.sign(&message),
        }
    }

    /// The signature's timestamp is within [`AUTH_CLOCK_WINDOW_MS`] of `now` on
    /// either side (no overflow at either end of `u64`).
    pub fn check_window(&self, now: UnixMillis) -> Result<(), AuthError> {
        if now.abs_diff(self.timestamp) > AUTH_CLOCK_WINDOW_MS {
            return Err(self.skew(now));
        }
        Ok(())
    }

    /// The signature's timestamp is not after `now` +
    /// [`REPLICATED_AUTH_TOLERANCE_MS`]: the check for signed requests that
    /// arrive by replication, which may be old but never from the future (the
    /// member that took it may have been ahead of this node by two node clock
    /// errors).
    pub fn check_not_after(&self, now: UnixMillis) -> Result<(), AuthError> {
        if self.timestamp > now.saturating_add(REPLICATED_AUTH_TOLERANCE_MS) {
            return Err(self.skew(now));
        }
        Ok(())
    }

    fn skew(&self, now: UnixMillis) -> AuthError {
        AuthError::ClockSkew {
            node_time: now,
            their_time: self.timestamp,
        }
    }

    /// The Ed25519 signature alone, with no time check.
    pub fn verify_signature(
        &self,
        network: &str,
        op: OwnerOp,
        account: &AccountId,
        namespace: Namespace,
        params: &[u8],
    ) -> Result<(), AuthError> {
        let message = signing_message(network, op, account, namespace, self.timestamp, params);
        keys::verify("owner auth", account.as_bytes(), &message, &self.signature).map_err(|e| {
            match e {
                Error::BadKey { .. } => AuthError::BadKey,
                _ => AuthError::BadSignature,
            }
        })
    }

    /// Checks the clock window first (cheap, and the error carries the node's time
    /// so the client can correct itself), then the Ed25519 signature.
    pub fn verify(
        &self,
        network: &str,
        op: OwnerOp,
        account: &AccountId,
        namespace: Namespace,
        params: &[u8],
        now: UnixMillis,
    ) -> Result<(), AuthError> {
        self.check_window(now)?;
        self.verify_signature(network, op, account, namespace, params)
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
    /// namespace needs it, for a request from a client to a node on `network`
    /// whose clock says `now`. A signature present where none is needed must still
    /// verify: a client that attaches one means it, and a bad one is a bug to
    /// report rather than to ignore.
    fn authorize(&self, network: &str, now: UnixMillis) -> Result<(), AuthError> {
        check_auth(self, network, |auth| auth.check_window(now))
    }

    /// Like [`OwnerSigned::authorize`], for a signed request that reached this node
    /// by replication: the signature's timestamp may be any time up to `now` +
    /// [`REPLICATED_AUTH_TOLERANCE_MS`] (see the module documentation on replay).
    fn authorize_replicated(&self, network: &str, now: UnixMillis) -> Result<(), AuthError> {
        check_auth(self, network, |auth| auth.check_not_after(now))
    }
}

/// The time check `time`, then the signature; or that no signature is needed.
fn check_auth<R: OwnerSigned + ?Sized>(
    req: &R,
    network: &str,
    time: impl FnOnce(&OwnerAuth) -> Result<(), AuthError>,
) -> Result<(), AuthError> {
    match req.auth() {
        Some(auth) => {
            time(auth)?;
            let params = req
                .signed_params()
                .map_err(|e| AuthError::Params(e.to_string()))?;
            auth.verify_signature(network, R::OP, req.account(), req.namespace(), &params)
        }
        // An unknown namespace needs the owner: refuse rather than guess.
        None if req.needs_owner().unwrap_or(true) => Err(AuthError::Missing {
            op: R::OP,
            namespace: req.namespace().code(),
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::MINUTE_MS;

    const NOW: UnixMillis = 1_700_000_000_000;
    const NET: &str = "devnet";

    fn key(n: u8) -> AccountKey {
        AccountKey::from_entropy([n; 16])
    }

    #[test]
    fn message_layout() {
        let k = key(1);
        let m = signing_message(
            NET,
            OwnerOp::Delete,
            &k.account_id(),
            Namespace::CONFIG,
            7,
            b"p",
        );
        assert_eq!(m.len(), owner_auth_message_len(NET.len()));
        assert!(m.starts_with(OWNER_AUTH_DOMAIN));
        let rest = &m[OWNER_AUTH_DOMAIN.len()..];
        assert_eq!(&rest[..8], &6u64.to_le_bytes());
        assert_eq!(&rest[8..14], b"devnet");
        let rest = &rest[14..];
        assert_eq!(rest[0], 3);
        assert_eq!(&rest[1..33], k.account_id().as_bytes());
        assert_eq!(&rest[33..35], &[1, 0]);
        assert_eq!(&rest[35..43], &7u64.to_le_bytes());
        assert_eq!(&rest[43..], blake3::hash(b"p").as_bytes());
        // The length prefix keeps network and op apart: "devnet" + op 3 is not
        // "devnet\x03" + another op.
        let shifted = signing_message(
            "devnet\u{3}",
            OwnerOp::Delete,
            &k.account_id(),
            Namespace::CONFIG,
            7,
            b"p",
        );
        assert_ne!(m, shifted[..m.len()].to_vec());
    }

    #[test]
    fn verifies_only_what_was_signed() {
        let k = key(1);
        let me = k.account_id();
        let auth = OwnerAuth::sign(&k, NET, OwnerOp::Retrieve, Namespace::INBOX, NOW, b"params");
        let check = |auth: &OwnerAuth, net, op, who: &AccountId, ns, params: &[u8], now| {
            auth.verify(net, op, who, ns, params, now)
        };
        check(
            &auth,
            NET,
            OwnerOp::Retrieve,
            &me,
            Namespace::INBOX,
            b"params",
            NOW,
        )
        .unwrap();

        let bad = Err(AuthError::BadSignature);
        let other = key(2).account_id();
        let inbox = Namespace::INBOX;
        assert_eq!(
            check(&auth, NET, OwnerOp::Retrieve, &other, inbox, b"params", NOW),
            bad
        );
        assert_eq!(
            check(
                &auth,
                NET,
                OwnerOp::Retrieve,
                &me,
                Namespace::CONFIG,
                b"params",
                NOW
            ),
            bad
        );
        for op in [OwnerOp::Store, OwnerOp::Delete, OwnerOp::Expire] {
            assert_eq!(check(&auth, NET, op, &me, inbox, b"params", NOW), bad);
        }
        assert_eq!(
            check(&auth, NET, OwnerOp::Retrieve, &me, inbox, b"paramz", NOW),
            bad
        );
        // Another network: a devnet signature is worthless on the public network.
        for net in ["sotto", "devnet2", "", "devne"] {
            assert_eq!(
                check(&auth, net, OwnerOp::Retrieve, &me, inbox, b"params", NOW),
                bad,
                "{net}"
            );
        }
        for i in 0..SIGNATURE_LEN {
            let mut flipped = auth.clone();
            flipped.signature[i] ^= 0x01;
            assert_eq!(
                check(&flipped, NET, OwnerOp::Retrieve, &me, inbox, b"params", NOW),
                bad,
                "byte {i}"
            );
        }
        // A changed timestamp inside the window is a different message.
        let mut moved = auth.clone();
        moved.timestamp += 1;
        assert_eq!(
            check(&moved, NET, OwnerOp::Retrieve, &me, inbox, b"params", NOW),
            bad
        );
    }

    #[test]
    fn clock_window_edges() {
        let k = key(1);
        let me = k.account_id();
        let auth = OwnerAuth::sign(&k, NET, OwnerOp::Store, Namespace::CONFIG, NOW, b"");
        let at = |now| auth.verify(NET, OwnerOp::Store, &me, Namespace::CONFIG, b"", now);
        let skew = |now| {
            Err(AuthError::ClockSkew {
                node_time: now,
                their_time: NOW,
            })
        };
        // Exactly at the edges of the window on both sides: accepted.
        at(NOW + AUTH_CLOCK_WINDOW_MS).unwrap();
        at(NOW - AUTH_CLOCK_WINDOW_MS).unwrap();
        // One millisecond past either edge: refused with the node's time.
        assert_eq!(
            at(NOW + AUTH_CLOCK_WINDOW_MS + 1),
            skew(NOW + AUTH_CLOCK_WINDOW_MS + 1)
        );
        assert_eq!(
            at(NOW - AUTH_CLOCK_WINDOW_MS - 1),
            skew(NOW - AUTH_CLOCK_WINDOW_MS - 1)
        );
        let err = at(NOW + 10 * MINUTE_MS).unwrap_err();
        assert!(err.to_string().contains("correct the clock"), "{err}");
        // Even a forged signature gets the clock answer first (no verify cost).
        let mut forged = auth.clone();
        forged.signature = [0; 64];
        assert!(matches!(
            forged.verify(
                NET,
                OwnerOp::Store,
                &me,
                Namespace::CONFIG,
                b"",
                NOW - 10 * MINUTE_MS
            ),
            Err(AuthError::ClockSkew { .. })
        ));
    }

    #[test]
    fn clock_checks_do_not_overflow_at_the_ends_of_u64() {
        let at = |timestamp| OwnerAuth {
            timestamp,
            signature: [0; 64],
        };
        // Near 0: a node at 0 and a signature at the window's edge or past it.
        at(0).check_window(0).unwrap();
        at(AUTH_CLOCK_WINDOW_MS).check_window(0).unwrap();
        assert!(at(AUTH_CLOCK_WINDOW_MS + 1).check_window(0).is_err());
        at(0).check_window(AUTH_CLOCK_WINDOW_MS).unwrap();
        assert!(at(0).check_window(AUTH_CLOCK_WINDOW_MS + 1).is_err());
        assert!(at(u64::MAX).check_window(0).is_err());
        assert!(at(0).check_window(u64::MAX).is_err());
        // Near u64::MAX.
        at(u64::MAX).check_window(u64::MAX).unwrap();
        at(u64::MAX)
            .check_window(u64::MAX - AUTH_CLOCK_WINDOW_MS)
            .unwrap();
        assert!(
            at(u64::MAX)
                .check_window(u64::MAX - AUTH_CLOCK_WINDOW_MS - 1)
                .is_err()
        );
        // Not-after: old signatures pass, the future past the tolerance does not, and
        // `now + window` saturates instead of wrapping.
        at(0).check_not_after(u64::MAX).unwrap();
        at(u64::MAX).check_not_after(u64::MAX).unwrap();
        at(u64::MAX)
            .check_not_after(u64::MAX - REPLICATED_AUTH_TOLERANCE_MS)
            .unwrap();
        assert!(
            at(u64::MAX)
                .check_not_after(u64::MAX - REPLICATED_AUTH_TOLERANCE_MS - 1)
                .is_err()
        );
        at(NOW + REPLICATED_AUTH_TOLERANCE_MS)
            .check_not_after(NOW)
            .unwrap();
        assert_eq!(
            at(NOW + REPLICATED_AUTH_TOLERANCE_MS + 1).check_not_after(NOW),
            Err(AuthError::ClockSkew {
                node_time: NOW,
                their_time: NOW + REPLICATED_AUTH_TOLERANCE_MS + 1
            })
        );
        at(REPLICATED_AUTH_TOLERANCE_MS).check_not_after(0).unwrap();
        assert!(
            at(REPLICATED_AUTH_TOLERANCE_MS + 1)
                .check_not_after(0)
                .is_err()
        );
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
