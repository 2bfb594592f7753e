//! The one error type of `sotto-protocol`.

use crate::time::UnixMillis;

/// Everything that can go wrong while encoding, decoding, verifying or opening
/// protocol data. Variants carry enough context to tell a person what happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Input was longer than the limit for its kind; it was not decoded.
    #[error("{what} is {len} bytes, over the limit of {max} bytes")]
    TooLarge {
        /// What was being read.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Input was shorter than the minimum for its kind.
    #[error("{what} is {len} bytes, shorter than the minimum of {min} bytes")]
    TooShort {
        /// What was being read.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// Bytes did not decode as the expected structure.
    #[error("could not decode {what}: {reason}")]
    Decode {
        /// What was being read.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// A structure could not be encoded (a bug or an over-limit value).
    #[error("could not encode {what}: {reason}")]
    Encode {
        /// What was being written.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// An account ID did not parse; the reason says what to fix.
    #[error("invalid account ID: {0}")]
    AccountId(#[from] crate::id::AccountIdError),
    /// A public key was not a valid curve point.
    #[error("{what} is not a valid public key")]
    BadKey {
        /// Which key.
        what: &'static str,
    },
    /// A signature did not verify.
    #[error("the signature on {what} does not verify")]
    BadSignature {
        /// What was signed.
        what: &'static str,
    },
    /// Authenticated decryption failed: wrong key, or the bytes were changed.
    #[error("could not decrypt {what}: wrong key or tampered data")]
    Decrypt {
        /// What was being decrypted.
        what: &'static str,
    },
    /// An unsupported format version.
    #[error("{what} has version {found}, this build understands {supported}")]
    Version {
        /// What was being read.
        what: &'static str,
        /// The version found.
        found: u16,
        /// The version this build speaks.
        supported: u16,
    },
    /// A value is outside the range the protocol allows.
    #[error("{what} is out of range: {reason}")]
    OutOfRange {
        /// Which value.
        what: &'static str,
        /// Why.
        reason: String,
    },
    /// Something that has a lifetime is not valid at `now`.
    #[error("{what} is not valid now (valid {valid_from}..{valid_until} ms, now {now} ms)")]
    Expired {
        /// What expired (or is not yet valid).
        what: &'static str,
        /// Start of validity (Unix ms).
        valid_from: UnixMillis,
        /// End of validity (Unix ms).
        valid_until: UnixMillis,
        /// The time it was checked at (Unix ms).
        now: UnixMillis,
    },
    /// A record or request is for another network.
    #[error("belongs to network {found:?}, this node is on {expected:?}")]
    WrongNetwork {
        /// The network expected.
        expected: String,
        /// The network found.
        found: String,
    },
    /// An admission proof does not have enough leading zero bits.
    #[error("admission proof has {found} leading zero bits, the network requires {required}")]
    Admission {
        /// The difficulty required.
        required: u8,
        /// The difficulty of the proof.
        found: u8,
    },
    /// An onion packet's size is not one of the size classes.
    #[error("onion packet of {len} bytes is not one of the size classes")]
    SizeClass {
        /// Its length.
        len: usize,
    },
    /// A message does not fit in the largest size class or bucket.
    #[error("{what} of {len} bytes does not fit; the largest that fits is {max} bytes")]
    DoesNotFit {
        /// What was being packed.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The most that fits.
        max: usize,
    },
    /// A PQXDH initiation names a prekey this account does not have (any more):
    /// it was replaced or used longer ago than it is kept, or never existed.
    #[error(
        "this first message was made with {kind} {id}, which this account no longer has: \
         it cannot be read; a new session with the sender is needed"
    )]
    UnknownPrekey {
        /// Which kind of prekey.
        kind: &'static str,
        /// Its id.
        id: u32,
    },
    /// A ratchet message would make the receiver skip more message keys than the
    /// limit; it was refused and the session is unchanged.
    #[error(
        "message skips {skipped} messages of its chain, more than the {max} allowed: refused, \
         the session is unchanged"
    )]
    TooManySkipped {
        /// Message keys it would skip.
        skipped: u64,
        /// The limit.
        max: u32,
    },
    /// A ratchet message whose key is gone: it was read already (a duplicate) or
    /// its skipped key was dropped for age or count.
    #[error("message {n} of its chain was already read or arrived too late to be read")]
    OldMessage {
        /// Its number in its chain.
        n: u32,
    },
    /// An owner operation is not authorized: its signature is missing, outside
    /// the node's clock window, or does not verify.
    #[error("not authorized: {0}")]
    Auth(#[from] crate::rpc::auth::AuthError),
}

/// `Result` with the protocol [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
