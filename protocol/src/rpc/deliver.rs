//! Delivering a message into someone's inbox so that strangers cannot lock the
//! account's contacts out ([`DeliverRequest`]).
//!
//! Anyone may store into an inbox, and a node charges what it holds to the
//! recipient: without more, one stranger fills a victim's quota and rate and
//! every contact is refused with them. So an account gives its contacts a
//! *delivery token* (32 random bytes, the same for every contact, sent inside
//! end-to-end encrypted messages) and stores the token's hash, owner-signed, in
//! its [`Namespace::DELIVERY`]. From then on:
//!
//! - a store into [`Namespace::INBOX`] must carry a token hashing to one of the
//!   stored hashes ([`Pass::Token`]); it takes the account's full quota and
//!   rate, as before;
//! - anyone else (a stranger's message request, a contact whose token is out of
//!   date) stores into [`Namespace::REQUESTS`] with postage ([`Pass::Postage`]),
//!   within a small quota and rate of that namespace's own.
//!
//! The node learns only "one of the contacts" or "someone": every contact sends
//! the same token, and the sender stays sealed inside the envelope. An account
//! with no token stored keeps an open inbox (a plain [`Request::Store`] is
//! taken), so clients that never registered one work as before.
//!
//! [`Request::Store`]: crate::rpc::Request::Store

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::namespace::Namespace;
use crate::rpc::request::StoreRequest;

/// blake3 `derive_key` context of a request's postage stamp.
pub const REQUEST_POSTAGE_CONTEXT: &str = "sotto request postage v1";

/// Leading zero bits a stamp on a store into [`Namespace::REQUESTS`] must
/// have: 2^18 ≈ 262,000 hashes, about 40 ms of one core in a release build
/// (chunk postage is 16 bits for 64 KiB; a message request is rarer and its
/// quota smaller). A stranger filling one victim's requests quota (2 MiB by
/// default, about 30 full-size messages) is held back by the quota and rate;
/// the postage prices the same stranger doing it to thousands of accounts.
pub const REQUEST_POSTAGE_BITS: u8 = 18;

/// The length of a delivery token and of its stored hash.
pub const DELIVERY_TOKEN_LEN: usize = 32;

/// The length of an item of [`Namespace::DELIVERY`]: the token's hash and the
/// owner's clock when it stored the item (8 bytes, little-endian), so that
/// storing the same token again (a refresh before the item expires) is a new
/// item rather than a duplicate of the old one.
pub const DELIVERY_ITEM_LEN: usize = DELIVERY_TOKEN_LEN + 8;

/// The token an account gives its contacts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DeliveryToken(pub [u8; DELIVERY_TOKEN_LEN]);

impl DeliveryToken {
    /// What the owner stores in [`Namespace::DELIVERY`]: the token's BLAKE3
    /// hash, so that reading a node's disk does not give the token away.
    pub fn stored_hash(&self) -> [u8; 32] {
        *blake3::hash(&self.0).as_bytes()
    }

    /// The [`Namespace::DELIVERY`] item the owner stores for this token at
    /// `now` ([`DELIVERY_ITEM_LEN`] bytes).
    pub fn delivery_item(&self, now: crate::time::UnixMillis) -> Vec<u8> {
        let mut item = self.stored_hash().to_vec();
        item.extend_from_slice(&now.to_le_bytes());
        item
    }
}

/// What lets a [`DeliverRequest`] in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Pass {
    /// The recipient's delivery token: a store into [`Namespace::INBOX`].
    Token(DeliveryToken),
    /// A postage stamp ([`mine_request_postage`]): a store into
    /// [`Namespace::REQUESTS`].
    Postage(u64),
}

/// Store a sealed message into `store.account`'s inbox (with the token) or its
/// requests (with postage). `store` is unsigned; its namespace must match the
/// pass.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliverRequest {
    /// The store: account, namespace, data and TTL; `auth` is `None`.
    pub store: StoreRequest,
    /// The token or the postage.
    pub pass: Pass,
}

impl DeliverRequest {
    /// A delivery with the recipient's token into its inbox.
    pub fn with_token(
        account: AccountId,
        data: Vec<u8>,
        ttl_ms: u64,
        token: DeliveryToken,
    ) -> Self {
        Self {
            store: StoreRequest::unsigned(account, Namespace::INBOX, data, ttl_ms),
            pass: Pass::Token(token),
        }
    }

    /// A delivery into the account's requests, mining the postage (about
    /// 2^[`REQUEST_POSTAGE_BITS`] hashes) from `start` (pass a random one).
    pub fn with_postage(account: AccountId, data: Vec<u8>, ttl_ms: u64, start: u64) -> Self {
        let stamp = mine_request_postage(&account, &data, REQUEST_POSTAGE_BITS, start);
        Self {
            store: StoreRequest::unsigned(account, Namespace::REQUESTS, data, ttl_ms),
            pass: Pass::Postage(stamp),
        }
    }

    /// Checks the store's fields, that it is unsigned, that its namespace
    /// matches the pass, and the postage (one BLAKE3 pass over the data). The
    /// token itself is checked by the node against what the owner stored.
    pub fn validate(&self) -> Result<()> {
        self.store.validate_fields()?;
        if self.store.auth.is_some() {
            return Err(out_of_range("a delivery is not signed: it is sealed"));
        }
        match (self.pass, self.store.namespace) {
            (Pass::Token(_), Namespace::INBOX) => Ok(()),
            (Pass::Postage(stamp), Namespace::REQUESTS) => {
                check_request_postage(&self.store.account, &self.store.data, stamp)
            }
            (Pass::Token(_), _) => Err(out_of_range("a token delivers into the inbox only")),
            (Pass::Postage(_), _) => Err(out_of_range(
                "postage delivers into the requests namespace only",
            )),
        }
    }
}

fn out_of_range(reason: &str) -> Error {
    Error::OutOfRange {
        what: "delivery",
        reason: reason.to_string(),
    }
}

fn postage_hash(account: &AccountId, data_hash: &[u8; 32], stamp: u64) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key(REQUEST_POSTAGE_CONTEXT);
    h.update(account.as_bytes());
    h.update(data_hash);
    h.update(&stamp.to_le_bytes());
    *h.finalize().as_bytes()
}

/// Leading zero bits of `hash` (saturating at 255).
pub fn leading_zero_bits(hash: &[u8; 32]) -> u8 {
    let mut bits: u32 = 0;
    for byte in hash {
        bits += byte.leading_zeros();
        if *byte != 0 {
            break;
        }
    }
    u8::try_from(bits).unwrap_or(u8::MAX)
}

/// Finds a stamp with at least `bits` leading zero bits for storing `data`
/// into `account`'s requests: `blake3::derive_key(REQUEST_POSTAGE_CONTEXT,
/// account ‖ blake3(data) ‖ stamp_le64)`. Bound to the recipient and the
/// bytes, so a stamp buys one message to one account (the same message again
/// is the same stored item). Expected work `2^bits` hashes.
pub fn mine_request_postage(account: &AccountId, data: &[u8], bits: u8, start: u64) -> u64 {
    let data_hash = *blake3::hash(data).as_bytes();
    let mut stamp = start;
    while leading_zero_bits(&postage_hash(account, &data_hash, stamp)) < bits {
        stamp = stamp.wrapping_add(1);
    }
    stamp
}

/// Checks that `stamp` pays for storing `data` into `account`'s requests
/// ([`REQUEST_POSTAGE_BITS`]).
pub fn check_request_postage(account: &AccountId, data: &[u8], stamp: u64) -> Result<()> {
    let data_hash = *blake3::hash(data).as_bytes();
    let found = leading_zero_bits(&postage_hash(account, &data_hash, stamp));
    if found < REQUEST_POSTAGE_BITS {
        return Err(Error::OutOfRange {
            what: "request postage",
            reason: format!(
                "the stamp has {found} leading zero bits, {REQUEST_POSTAGE_BITS} are needed"
            ),
        });
    }
    Ok(())
}

/// The token hash an owner's stored [`Namespace::DELIVERY`] item names
/// ([`DeliveryToken::delivery_item`]); `None` for an item of another length.
pub fn stored_token_hash(data: &[u8]) -> Option<[u8; 32]> {
    if data.len() != DELIVERY_ITEM_LEN {
        return None;
    }
    data.get(..DELIVERY_TOKEN_LEN)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::AccountKey;

    fn account(n: u8) -> AccountId {
        AccountKey::from_entropy([n; 16]).account_id()
    }

    #[test]
    fn postage_binds_to_account_and_data() {
        let a = account(1);
        let stamp = mine_request_postage(&a, b"hello", REQUEST_POSTAGE_BITS, 7);
        assert!(check_request_postage(&a, b"hello", stamp).is_ok());
        // Another message or another recipient needs its own work (this can
        // pass by chance with probability 2^-18).
        assert!(check_request_postage(&a, b"hellp", stamp).is_err());
        assert!(check_request_postage(&account(2), b"hello", stamp).is_err());
    }

    #[test]
    fn the_pass_must_match_the_namespace() {
        let a = account(1);
        let t = DeliveryToken([9; 32]);
        assert!(
            DeliverRequest::with_token(a, b"x".to_vec(), 60_000, t)
                .validate()
                .is_ok()
        );
        let mut wrong = DeliverRequest::with_token(a, b"x".to_vec(), 60_000, t);
        wrong.store.namespace = Namespace::REQUESTS;
        assert!(wrong.validate().is_err());
        let d = DeliverRequest::with_postage(a, b"y".to_vec(), 60_000, 5);
        assert!(d.validate().is_ok());
        let mut wrong = d.clone();
        wrong.store.namespace = Namespace::INBOX;
        assert!(wrong.validate().is_err());
        let mut unpaid = d;
        unpaid.pass = Pass::Postage(unpaid_stamp(&a, b"y"));
        assert!(unpaid.validate().is_err());
    }

    fn unpaid_stamp(a: &AccountId, data: &[u8]) -> u64 {
        let h = *blake3::hash(data).as_bytes();
        (0..)
            .find(|s| leading_zero_bits(&postage_hash(a, &h, *s)) == 0)
            .unwrap_or(0)
    }

    #[test]
    fn leading_zero_bits_counts_across_bytes() {
        let mut h = [0u8; 32];
        h[1] = 0b0001_0000;
        assert_eq!(leading_zero_bits(&h), 11);
        assert_eq!(leading_zero_bits(&[0; 32]), 255);
    }

    #[test]
    fn stored_hash_is_the_token_hash() {
        let t = DeliveryToken([1; 32]);
        let item = t.delivery_item(5);
        assert_eq!(item.len(), DELIVERY_ITEM_LEN);
        assert_eq!(stored_token_hash(&item), Some(t.stored_hash()));
        assert_ne!(item, t.delivery_item(6));
        assert_eq!(stored_token_hash(&t.stored_hash()), None);
    }
}
