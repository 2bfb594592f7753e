//! The key layout of every sled tree of the store. All integers are big-endian so
//! that the byte order of keys is the order the store scans in.

use sotto_protocol::AccountId;
use sotto_protocol::Namespace;
use sotto_protocol::constants::{HASH_LEN, KEY_LEN};
use sotto_protocol::rpc::message::CURSOR_KEY_LEN;
use sotto_protocol::rpc::{Cursor, MessageHash};
use sotto_protocol::time::UnixMillis;

use super::error::{Result, StoreError};

/// `messages`: `account ‖ namespace (u16 BE) ‖ timestamp (u64 BE) ‖ hash`.
pub const MESSAGE_KEY_LEN: usize = KEY_LEN + 2 + CURSOR_KEY_LEN;
/// `items`: `account ‖ hash`.
pub const ITEM_KEY_LEN: usize = KEY_LEN + HASH_LEN;
/// `expiry`: `due (u64 BE) ‖ account ‖ hash`.
pub const DUE_KEY_LEN: usize = 8 + KEY_LEN + HASH_LEN;
/// `seqs`: `account ‖ namespace (u16 BE) ‖ seq (u64 BE)`.
pub const SEQ_KEY_LEN: usize = KEY_LEN + 2 + 8;

/// The key of a message in `seqs`, the order this node took its messages in:
/// by account, namespace, then this node's sequence number, so a retrieve after
/// a sequence number is one range scan. The value is the message's
/// [`Cursor::to_key`], its place in `messages`.
pub fn seq_key(account: &AccountId, namespace: Namespace, seq: u64) -> Vec<u8> {
    let mut k = message_prefix(account, namespace);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The sequence number at the end of a key of `seqs`.
pub fn seq_key_seq(key: &[u8]) -> Result<u64> {
    key.get(KEY_LEN + 2..)
        .filter(|_| key.len() == SEQ_KEY_LEN)
        .and_then(|t| <[u8; 8]>::try_from(t).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| StoreError::corrupt("seqs", key, "key has the wrong length"))
}

/// The cursor a value of `seqs` points at.
pub fn seq_value_cursor(key: &[u8], value: &[u8]) -> Result<Cursor> {
    <&[u8; CURSOR_KEY_LEN]>::try_from(value)
        .map(Cursor::from_key)
        .map_err(|_| StoreError::corrupt("seqs", key, "value has the wrong length"))
}

/// The key of a message in `messages`: ordered by account, namespace, then
/// [`Cursor::to_key`], so a retrieve is one range scan.
pub fn message_key(account: &AccountId, namespace: Namespace, cursor: &Cursor) -> Vec<u8> {
    let mut k = message_prefix(account, namespace);
    k.extend_from_slice(&cursor.to_key());
    k
}

/// The prefix of every message of `account` in `namespace`.
pub fn message_prefix(account: &AccountId, namespace: Namespace) -> Vec<u8> {
    let mut k = Vec::with_capacity(MESSAGE_KEY_LEN);
    k.extend_from_slice(account.as_bytes());
    k.extend_from_slice(&namespace.code().to_be_bytes());
    k
}

/// The key of an item (message or tombstone) in `items`: hash order within an
/// account, the order anti-entropy listings page in.
pub fn item_key(account: &AccountId, hash: &MessageHash) -> [u8; ITEM_KEY_LEN] {
    let mut k = [0u8; ITEM_KEY_LEN];
    let (a, h) = k.split_at_mut(KEY_LEN);
    a.copy_from_slice(account.as_bytes());
    h.copy_from_slice(hash.as_bytes());
    k
}

/// The account and hash of a key of `items`.
pub fn parse_item_key(key: &[u8]) -> Result<(AccountId, MessageHash)> {
    if key.len() != ITEM_KEY_LEN {
        return Err(StoreError::corrupt(
            "items",
            key,
            "key has the wrong length",
        ));
    }
    let (a, h) = key.split_at(KEY_LEN);
    Ok((account(a, "items", key)?, hash(h, "items", key)?))
}

/// The key of an entry of the `expiry` index: what is due at `due`, oldest
/// first, so a purge scans from the start up to its clock.
pub fn due_key(due: UnixMillis, account: &AccountId, hash: &MessageHash) -> [u8; DUE_KEY_LEN] {
    let mut k = [0u8; DUE_KEY_LEN];
    let (d, rest) = k.split_at_mut(8);
    d.copy_from_slice(&due.to_be_bytes());
    rest.copy_from_slice(&item_key(account, hash));
    k
}

/// The first key of the `expiry` index that is due after `now`: everything
/// before it is due at or before `now`.
pub fn due_after(now: UnixMillis) -> [u8; 8] {
    now.saturating_add(1).to_be_bytes()
}

/// The due time, account and hash of a key of the `expiry` index.
pub fn parse_due_key(key: &[u8]) -> Result<(UnixMillis, AccountId, MessageHash)> {
    if key.len() != DUE_KEY_LEN {
        return Err(StoreError::corrupt(
            "expiry",
            key,
            "key has the wrong length",
        ));
    }
    let (d, rest) = key.split_at(8);
    let mut due = [0u8; 8];
    due.copy_from_slice(d);
    let (a, h) = rest.split_at(KEY_LEN);
    Ok((
        u64::from_be_bytes(due),
        account(a, "expiry", key)?,
        hash(h, "expiry", key)?,
    ))
}

/// The smallest key after every key that starts with `prefix` (`None` if the
/// prefix is all `0xff`): the end of a prefix range scan.
pub fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

fn account(bytes: &[u8], tree: &'static str, key: &[u8]) -> Result<AccountId> {
    let raw = <[u8; KEY_LEN]>::try_from(bytes)
        .map_err(|_| StoreError::corrupt(tree, key, "account has the wrong length"))?;
    AccountId::from_bytes(raw)
        .map_err(|e| StoreError::corrupt(tree, key, format!("not an account: {e}")))
}

fn hash(bytes: &[u8], tree: &'static str, key: &[u8]) -> Result<MessageHash> {
    <[u8; HASH_LEN]>::try_from(bytes)
        .map(MessageHash)
        .map_err(|_| StoreError::corrupt(tree, key, "hash has the wrong length"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_protocol::AccountKey;

    #[test]
    fn keys_round_trip_and_sort_like_cursors() {
        let acc = AccountKey::from_entropy([3; 16]).account_id();
        let c1 = Cursor {
            timestamp: 0x0100,
            hash: MessageHash([0xff; 32]),
        };
        let c2 = Cursor {
            timestamp: 0x0101,
            hash: MessageHash([0; 32]),
        };
        let k1 = message_key(&acc, Namespace::INBOX, &c1);
        let k2 = message_key(&acc, Namespace::INBOX, &c2);
        assert_eq!(k1.len(), MESSAGE_KEY_LEN);
        assert!(k1 < k2, "key order is cursor order");
        assert!(k2 < message_key(&acc, Namespace::CONFIG, &c1));

        let h = MessageHash([7; 32]);
        assert_eq!(parse_item_key(&item_key(&acc, &h)).unwrap(), (acc, h));
        assert!(parse_item_key(&[0; 10]).is_err());
        let dk = due_key(42, &acc, &h);
        assert_eq!(parse_due_key(&dk).unwrap(), (42, acc, h));
        assert!(dk.as_slice() < due_after(42).as_slice());
        assert!(dk.as_slice() >= due_after(41).as_slice());
        assert!(parse_due_key(&dk[..70]).is_err());
    }

    #[test]
    fn seq_keys_sort_by_number_and_point_at_messages() {
        let acc = AccountKey::from_entropy([3; 16]).account_id();
        let k1 = seq_key(&acc, Namespace::INBOX, 255);
        let k2 = seq_key(&acc, Namespace::INBOX, 256);
        assert_eq!(k1.len(), SEQ_KEY_LEN);
        assert!(k1 < k2 && k2 < seq_key(&acc, Namespace::CONFIG, 1));
        assert_eq!(seq_key_seq(&k2).unwrap(), 256);
        assert!(seq_key_seq(&k2[1..]).is_err());
        let c = Cursor {
            timestamp: 9,
            hash: MessageHash([1; 32]),
        };
        assert_eq!(seq_value_cursor(&k1, &c.to_key()).unwrap(), c);
        assert!(seq_value_cursor(&k1, &[0; 39]).is_err());
    }

    #[test]
    fn prefix_end_bounds_the_prefix() {
        assert_eq!(prefix_end(&[1, 2]), Some(vec![1, 3]));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        let p = [5u8, 0xff];
        let end = prefix_end(&p).unwrap();
        assert!([5u8, 0xff, 0xff, 0xff].as_slice() < end.as_slice());
    }
}
