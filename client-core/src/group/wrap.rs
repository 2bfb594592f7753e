//! The layer around every group message a node stores.
//!
//! An MLS `PrivateMessage` carries the group id, the epoch and the content
//! type in the clear (RFC 9420 §6.3). The group id never changes, so a node
//! holding two epochs' accounts could tell they are one group. Before it is
//! stored, each message is therefore sealed again with XChaCha20-Poly1305
//! under a key only the epoch's members have, derived from the epoch
//! account's entropy, and padded to a multiple of [`PAD_TO`] bytes: a node
//! sees an account, a time and a size class, nothing more.
//!
//! Layout: version `1` ‖ nonce (24) ‖ AEAD(length u32 LE ‖ message ‖ zeros),
//! with the epoch account's id as associated data.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngExt;
use sotto_protocol::AccountKey;
use sotto_protocol::constants::MAX_MESSAGE_DATA;
use zeroize::Zeroizing;

use super::GroupError;

/// blake3 `derive_key` context of an epoch's wrapping key.
pub const WRAP_KEY_CONTEXT: &str = "sotto group epoch wrap v1";
/// Sealed messages are padded to a multiple of this many bytes.
pub const PAD_TO: usize = 256;
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// The largest MLS message one stored message carries.
pub const MAX_WRAPPED: usize = (MAX_MESSAGE_DATA - 1 - NONCE_LEN - TAG_LEN) / PAD_TO * PAD_TO - 4;

fn key(epoch: &AccountKey) -> Zeroizing<[u8; 32]> {
    Zeroizing::new(blake3::derive_key(WRAP_KEY_CONTEXT, epoch.entropy()))
}

/// Seals `message` for storing in `epoch`'s account.
pub fn seal(epoch: &AccountKey, message: &[u8]) -> Result<Vec<u8>, GroupError> {
    if message.len() > MAX_WRAPPED {
        return Err(GroupError::TooLarge);
    }
    let len = u32::try_from(message.len()).map_err(|_| GroupError::TooLarge)?;
    let padded_len = (4 + message.len()).div_ceil(PAD_TO) * PAD_TO;
    let mut plain = Zeroizing::new(Vec::with_capacity(padded_len));
    plain.extend_from_slice(&len.to_le_bytes());
    plain.extend_from_slice(message);
    plain.resize(padded_len, 0);
    let mut nonce = [0u8; NONCE_LEN];
    rand::rng().fill(&mut nonce[..]);
    let id = epoch.account_id();
    let sealed = XChaCha20Poly1305::new((&*key(epoch)).into())
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: &plain,
                aad: id.as_bytes(),
            },
        )
        .map_err(|_| GroupError::TooLarge)?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens what [`seal`] made for `epoch`'s account.
pub fn open(epoch: &AccountKey, stored: &[u8]) -> Result<Vec<u8>, GroupError> {
    let Some((&VERSION, rest)) = stored.split_first() else {
        return Err(GroupError::Malformed);
    };
    let (nonce, body) = rest
        .split_first_chunk::<NONCE_LEN>()
        .ok_or(GroupError::Malformed)?;
    let id = epoch.account_id();
    let plain = Zeroizing::new(
        XChaCha20Poly1305::new((&*key(epoch)).into())
            .decrypt(
                &XNonce::from(*nonce),
                Payload {
                    msg: body,
                    aad: id.as_bytes(),
                },
            )
            .map_err(|_| GroupError::Malformed)?,
    );
    let (len, padded) = plain
        .split_first_chunk::<4>()
        .ok_or(GroupError::Malformed)?;
    let len = usize::try_from(u32::from_le_bytes(*len)).map_err(|_| GroupError::Malformed)?;
    let (message, zeros) = padded.split_at_checked(len).ok_or(GroupError::Malformed)?;
    if zeros.iter().any(|&b| b != 0) {
        return Err(GroupError::Malformed);
    }
    Ok(message.to_vec())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn sealed_messages_open_only_in_their_epoch_and_hide_their_size() {
        let e1 = AccountKey::from_entropy([1; 16]);
        let e2 = AccountKey::from_entropy([2; 16]);
        let sealed = seal(&e1, b"an mls message").unwrap();
        assert_eq!(sealed.len(), 1 + NONCE_LEN + PAD_TO + TAG_LEN);
        assert_eq!(seal(&e1, &[7; 200]).unwrap().len(), sealed.len());
        assert_eq!(open(&e1, &sealed).unwrap(), b"an mls message");
        assert_eq!(open(&e2, &sealed), Err(GroupError::Malformed));
        let mut flipped = sealed.clone();
        flipped[40] ^= 1;
        assert_eq!(open(&e1, &flipped), Err(GroupError::Malformed));
        assert_eq!(open(&e1, &sealed[..30]), Err(GroupError::Malformed));
        let largest = seal(&e1, &vec![1; MAX_WRAPPED]).unwrap();
        assert!(largest.len() <= MAX_MESSAGE_DATA);
        assert_eq!(
            seal(&e1, &vec![1; MAX_WRAPPED + 1]),
            Err(GroupError::TooLarge)
        );
    }
}
