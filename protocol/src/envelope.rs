//! Envelope v1: a content signed by its sender, bound to its recipient, padded to
//! a size bucket and sealed to the recipient's X25519 key (DESIGN §8).
//!
//! ```text
//! envelope  = version (1) ‖ ephemeral X25519 key (32) ‖ AEAD(inner) ‖ tag (16)
//! inner     = sender key (32) ‖ signature (64) ‖ content length (u32 LE) ‖ content ‖ zeros
//! signature = Ed25519 by the sender over
//!             "sotto envelope signature v1" ‖ sender key ‖ recipient key ‖ content
//! key       = blake3 derive_key("sotto envelope v1", shared ‖ ephemeral key ‖ recipient X25519 key)
//! ```
//!
//! The whole envelope is exactly one of [`ENVELOPE_BUCKETS`], so a storage node
//! learns the recipient (from the inbox), a size bucket and a TTL, and nothing of
//! the sender (sealed sender). The signature names the recipient, so a recipient
//! cannot re-seal a content it received to a third party as if it were addressed
//! to them. The AEAD's associated data is the version byte; the key binds the
//! ephemeral and recipient keys. The nonce is fixed because each key is used once.
//!
//! [`seal`] always uses the smallest bucket that fits; [`open`] accepts any bucket
//! whose padding is all zeros, so a later sender may pad up to hide more.
//!
//! Not here: forward secrecy (envelope v2, [`v2`], carries Double Ratchet
//! messages without a signature), dedupe by content id (the client), and what
//! the content kinds mean to a conversation.

pub mod content;
pub mod v2;

pub use content::{Content, ContentBody, ContentId, DisappearMode, ReceiptKind};

use rand_core::CryptoRng;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::constants::{
    ENVELOPE_BUCKETS, ENVELOPE_HEADER_LEN, ENVELOPE_OVERHEAD_LEN, ENVELOPE_VERSION, KEY_LEN,
    MAX_CONTENT_LEN, SIGNATURE_LEN, TAG_LEN,
};
use crate::crypto::{dh, kdf, open_in_place, seal_in_place};
use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::keys::{AccountKey, verify};

/// Domain string that starts every envelope signature.
pub const ENVELOPE_SIGNATURE_CONTEXT: &str = "sotto envelope signature v1";
/// blake3 `derive_key` context of the envelope's encryption key.
pub const ENVELOPE_KEY_CONTEXT: &str = "sotto envelope v1";

/// What [`open`] found in an envelope addressed to us.
///
/// The sender is authenticated and the content was addressed to us, but the same
/// envelope can be stored twice: dedupe by [`ContentId`] (the client's job).
#[derive(Debug, Clone, PartialEq)]
pub struct Opened {
    /// Who sent it: the signature by this account verified.
    pub sender: AccountId,
    /// What it says (decoded and validated).
    pub content: Content,
}

/// The smallest envelope bucket that holds `envelope_len` bytes, or `None` if it
/// is larger than the largest bucket.
pub fn bucket_for(envelope_len: usize) -> Option<usize> {
    ENVELOPE_BUCKETS
        .iter()
        .copied()
        .find(|&b| b >= envelope_len)
}

/// The length of the envelope that [`seal`] makes for `content_len` bytes of
/// encoded content, or `None` if it does not fit in any bucket.
pub fn sealed_len(content_len: usize) -> Option<usize> {
    bucket_for(content_len.checked_add(ENVELOPE_OVERHEAD_LEN)?)
}

/// Signs `content`, binds it to `recipient`, pads it to a bucket and encrypts it
/// to the recipient with a fresh ephemeral key from `rng`.
///
/// Fails with [`Error::OutOfRange`] if the content breaks a rule of its kind,
/// [`Error::DoesNotFit`] if it is larger than the largest envelope holds, and
/// [`Error::BadKey`] if the recipient's key cannot be encrypted to.
pub fn seal<R: CryptoRng + ?Sized>(
    sender: &AccountKey,
    recipient: &AccountId,
    content: &Content,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let recipient_x25519 = recipient.x25519_public()?;
    let content_bytes = Zeroizing::new(content.to_bytes()?);
    let does_not_fit = || Error::DoesNotFit {
        what: "envelope content",
        len: content_bytes.len(),
        max: MAX_CONTENT_LEN,
    };
    let envelope_len = sealed_len(content_bytes.len()).ok_or_else(does_not_fit)?;
    let content_len = u32::try_from(content_bytes.len()).map_err(|_| does_not_fit())?;
    let sender_key = sender.account_id();
    let signature = sender.sign(&signed_message(&sender_key, recipient, &content_bytes));

    let mut inner = Zeroizing::new(Vec::with_capacity(envelope_len));
    inner.extend_from_slice(sender_key.as_bytes());
    inner.extend_from_slice(&signature);
    inner.extend_from_slice(&content_len.to_le_bytes());
    inner.extend_from_slice(&content_bytes);
    inner.resize(envelope_len - ENVELOPE_HEADER_LEN - TAG_LEN, 0);
    encrypt(&recipient_x25519, inner, rng)
}

/// Opens an envelope addressed to `recipient`: checks its size and version (before
/// any public-key operation), decrypts it, checks the padding, verifies the
/// sender's signature over our own account ID, then decodes and validates the
/// content.
pub fn open(recipient: &AccountKey, bytes: &[u8]) -> Result<Opened> {
    let inner = decrypt(recipient, bytes)?;
    parse_inner(&recipient.account_id(), &inner)
}

/// What the sender signs: the domain, both keys and the content bytes. Every part
/// but the last has a fixed length, so the concatenation is unambiguous.
fn signed_message(sender: &AccountId, recipient: &AccountId, content: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut m = Zeroizing::new(Vec::with_capacity(
        ENVELOPE_SIGNATURE_CONTEXT.len() + 2 * KEY_LEN + content.len(),
    ));
    m.extend_from_slice(ENVELOPE_SIGNATURE_CONTEXT.as_bytes());
    m.extend_from_slice(sender.as_bytes());
    m.extend_from_slice(recipient.as_bytes());
    m.extend_from_slice(content);
    m
}

/// The key of one envelope.
fn envelope_key(
    shared: &[u8; KEY_LEN],
    ephemeral: &[u8; KEY_LEN],
    recipient_x25519: &[u8; KEY_LEN],
) -> Zeroizing<[u8; KEY_LEN]> {
    kdf(
        ENVELOPE_KEY_CONTEXT,
        &[&shared[..], &ephemeral[..], &recipient_x25519[..]],
    )
}

/// Encrypts a padded `inner` to `recipient_x25519` under a fresh ephemeral key.
fn encrypt<R: CryptoRng + ?Sized>(
    recipient_x25519: &[u8; KEY_LEN],
    mut inner: Zeroizing<Vec<u8>>,
    rng: &mut R,
) -> Result<Vec<u8>> {
    let ephemeral = StaticSecret::random_from_rng(rng);
    let ephemeral_public = PublicKey::from(&ephemeral).to_bytes();
    let shared = dh(&ephemeral, recipient_x25519)?;
    let key = envelope_key(&shared, &ephemeral_public, recipient_x25519);
    let tag = seal_in_place(&key, &[ENVELOPE_VERSION], &mut inner)?;

    let mut out = Vec::with_capacity(1 + KEY_LEN + inner.len() + TAG_LEN);
    out.push(ENVELOPE_VERSION);
    out.extend_from_slice(&ephemeral_public);
    out.extend_from_slice(&inner);
    out.extend_from_slice(&tag);
    Ok(out)
}

/// Checks the size and version, then decrypts; returns the padded inner plaintext.
fn decrypt(recipient: &AccountKey, bytes: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    check_bucket(bytes.len())?;
    let malformed = || Error::TooShort {
        what: "envelope",
        len: bytes.len(),
        min: ENVELOPE_OVERHEAD_LEN,
    };
    let (&version, rest) = bytes.split_first().ok_or_else(malformed)?;
    if version != ENVELOPE_VERSION {
        return Err(Error::Version {
            what: "envelope",
            found: u16::from(version),
            supported: u16::from(ENVELOPE_VERSION),
        });
    }
    let (ephemeral, rest) = rest.split_first_chunk::<KEY_LEN>().ok_or_else(malformed)?;
    let (ciphertext, tag) = rest.split_last_chunk::<TAG_LEN>().ok_or_else(malformed)?;

    let own_x25519 = recipient.x25519_public();
    let shared = dh(&recipient.x25519_secret(), ephemeral)?;
    let key = envelope_key(&shared, ephemeral, &own_x25519);
    let mut inner = Zeroizing::new(ciphertext.to_vec());
    open_in_place("envelope", &key, &[ENVELOPE_VERSION], &mut inner, tag)?;
    Ok(inner)
}

/// Refuses any length that is not exactly one of the buckets.
fn check_bucket(len: usize) -> Result<()> {
    let (Some(&smallest), Some(&largest)) = (ENVELOPE_BUCKETS.first(), ENVELOPE_BUCKETS.last())
    else {
        return Err(Error::OutOfRange {
            what: "envelope buckets",
            reason: "none are defined".into(),
        });
    };
    if len < smallest {
        return Err(Error::TooShort {
            what: "envelope",
            len,
            min: smallest,
        });
    }
    if len > largest {
        return Err(Error::TooLarge {
            what: "envelope",
            len,
            max: largest,
        });
    }
    if !ENVELOPE_BUCKETS.contains(&len) {
        return Err(Error::OutOfRange {
            what: "envelope length",
            reason: format!("{len} bytes is not one of the sizes {ENVELOPE_BUCKETS:?}"),
        });
    }
    Ok(())
}

/// Splits the decrypted inner part, checks the padding and the signature, and
/// decodes the content.
fn parse_inner(recipient: &AccountId, inner: &[u8]) -> Result<Opened> {
    let malformed = |reason: String| Error::Decode {
        what: "envelope",
        reason,
    };
    let short = || {
        malformed(format!(
            "{} bytes inside, fewer than the fixed fields",
            inner.len()
        ))
    };
    let (sender, rest) = inner.split_first_chunk::<KEY_LEN>().ok_or_else(short)?;
    let (signature, rest) = rest
        .split_first_chunk::<SIGNATURE_LEN>()
        .ok_or_else(short)?;
    let (len, rest) = rest.split_first_chunk::<4>().ok_or_else(short)?;
    let len = u32::from_le_bytes(*len);
    let (content, padding) = usize::try_from(len)
        .ok()
        .filter(|&n| n <= MAX_CONTENT_LEN)
        .and_then(|n| rest.split_at_checked(n))
        .ok_or_else(|| {
            malformed(format!(
                "content length {len} is more than the {} bytes that follow",
                rest.len()
            ))
        })?;
    if padding.iter().any(|&b| b != 0) {
        return Err(malformed("padding is not all zeros".into()));
    }
    let sender = AccountId::from_bytes(*sender).map_err(|_| Error::BadKey {
        what: "envelope sender key",
    })?;
    verify(
        "envelope",
        sender.as_bytes(),
        &signed_message(&sender, recipient, content),
        signature,
    )?;
    let content = Content::from_bytes(content)?;
    Ok(Opened { sender, content })
}

#[cfg(test)]
mod tests;
