//! Tests of stored messages: hashes, cursors, time checks and owner proofs.

use super::*;
use crate::constants::{AUTH_CLOCK_WINDOW_MS, MAX_TTL_MS, PEER_CLOCK_TOLERANCE_MS};
use crate::keys::AccountKey;
use crate::rpc::StoreRequest;
use crate::time::{DAY_MS, MINUTE_MS};

const NOW: UnixMillis = 1_700_000_000_000;
const NET: &str = "devnet";

fn key(n: u8) -> AccountKey {
    AccountKey::from_entropy([n; 16])
}

fn account(n: u8) -> AccountId {
    key(n).account_id()
}

/// A profile stored by its owner, as the first node keeps it.
fn public(k: &AccountKey, data: &[u8]) -> StoredMessage {
    StoreRequest::signed(k, NET, Namespace::PUBLIC, data.to_vec(), DAY_MS, NOW)
        .unwrap()
        .to_stored(NOW)
}

#[test]
fn hash_binds_account_namespace_and_data() {
    let a = MessageHash::compute(&account(1), Namespace::INBOX, b"hi");
    assert_eq!(
        a,
        MessageHash::compute(&account(1), Namespace::INBOX, b"hi")
    );
    assert_ne!(
        a,
        MessageHash::compute(&account(2), Namespace::INBOX, b"hi")
    );
    assert_ne!(
        a,
        MessageHash::compute(&account(1), Namespace::CONFIG, b"hi")
    );
    assert_ne!(
        a,
        MessageHash::compute(&account(1), Namespace::INBOX, b"ho")
    );
    // The layout is exactly account ‖ code LE ‖ data.
    let mut raw = account(1).as_bytes().to_vec();
    raw.extend_from_slice(&[0, 0]);
    raw.extend_from_slice(b"hi");
    assert_eq!(a.0, *blake3::hash(&raw).as_bytes());
}

#[test]
fn cursor_order_is_timestamp_then_hash_and_keys_agree() {
    let c = |t, h| Cursor {
        timestamp: t,
        hash: MessageHash([h; 32]),
    };
    let mut cursors = vec![c(5, 1), c(1, 9), c(5, 0), c(256, 0), c(1, 2)];
    cursors.sort();
    assert_eq!(cursors, vec![c(1, 2), c(1, 9), c(5, 0), c(5, 1), c(256, 0)]);
    let mut keys: Vec<_> = cursors.iter().map(Cursor::to_key).collect();
    keys.sort();
    let back: Vec<_> = keys.iter().map(Cursor::from_key).collect();
    assert_eq!(back, cursors);
}

#[test]
fn stored_message_checks() {
    let good = StoredMessage::new(account(3), Namespace::INBOX, vec![1, 2, 3], NOW, DAY_MS);
    good.validate_at(NOW).unwrap();
    assert!(!good.is_expired(NOW));
    assert!(good.is_expired(NOW + DAY_MS));

    let mut wrong_hash = good.clone();
    wrong_hash.data.push(4);
    assert!(matches!(
        wrong_hash.validate(),
        Err(Error::OutOfRange {
            what: "stored message hash",
            ..
        })
    ));
    let mut other_account = good.clone();
    other_account.account = account(4);
    assert!(other_account.validate().is_err());

    let big = StoredMessage::new(
        account(3),
        Namespace::INBOX,
        vec![7; MAX_MESSAGE_DATA + 1],
        NOW,
        DAY_MS,
    );
    assert_eq!(
        big.validate(),
        Err(Error::TooLarge {
            what: "message data",
            len: MAX_MESSAGE_DATA + 1,
            max: MAX_MESSAGE_DATA
        })
    );
    let empty = StoredMessage::new(account(3), Namespace::INBOX, vec![], NOW, DAY_MS);
    assert!(matches!(empty.validate(), Err(Error::TooShort { .. })));

    let mut dead = good.clone();
    dead.expiry = dead.timestamp;
    assert!(dead.validate().is_err());
    let mut brief = good.clone();
    brief.expiry = brief.timestamp + MIN_TTL_MS - 1;
    assert!(brief.validate().is_err());
    let mut forever = good.clone();
    forever.expiry = forever.timestamp + MAX_TTL_MS + 1;
    assert!(forever.validate().is_err());

    let unknown_ns: Namespace = crate::codec::decode("ns", &[9], 4).unwrap();
    let odd = StoredMessage::new(account(3), unknown_ns, vec![1], NOW, DAY_MS);
    assert!(odd.validate().is_err());
}

#[test]
fn far_future_messages_are_refused() {
    let at =
        |timestamp, ttl| StoredMessage::new(account(3), Namespace::INBOX, vec![1], timestamp, ttl);
    // Up to two node clock errors ahead: accepted (node clocks differ that much).
    at(NOW + PEER_CLOCK_TOLERANCE_MS, DAY_MS)
        .validate_at(NOW)
        .unwrap();
    at(NOW - 20 * DAY_MS, MAX_TTL_MS).validate_at(NOW).unwrap();
    for m in [
        at(NOW + PEER_CLOCK_TOLERANCE_MS + 1, DAY_MS),
        at(u64::MAX - DAY_MS, DAY_MS),
    ] {
        m.validate().unwrap();
        assert!(
            matches!(
                m.validate_at(NOW),
                Err(Error::OutOfRange {
                    what: "message timestamp",
                    ..
                })
            ),
            "{m:?}"
        );
    }
    // An expiry more than the longest TTL ahead, with a timestamp in the window.
    let far = at(NOW + PEER_CLOCK_TOLERANCE_MS, MAX_TTL_MS + 1);
    assert!(matches!(
        far.validate_at(NOW),
        Err(Error::OutOfRange {
            what: "message expiry",
            ..
        })
    ));
    // No overflow at the ends of u64.
    at(0, MIN_TTL_MS).validate_at(0).unwrap();
    at(u64::MAX - MIN_TTL_MS, MIN_TTL_MS)
        .validate_at(u64::MAX)
        .unwrap();
    check_times(u64::MAX, u64::MAX, u64::MAX).unwrap();
    assert!(check_times(u64::MAX, u64::MAX, 0).is_err());
}

#[test]
fn owner_namespaces_need_the_owner_s_store_proof() {
    let k = key(5);
    let m = public(&k, b"profile");
    assert!(m.owner.is_some());
    m.validate_at(NOW).unwrap();
    m.verify_owner(NET).unwrap();

    // No proof: refused before any signature is checked.
    let mut bare = m.clone();
    bare.owner = None;
    assert!(matches!(
        bare.validate(),
        Err(Error::Auth(AuthError::Missing {
            op: OwnerOp::Store,
            ..
        }))
    ));
    assert!(matches!(
        bare.verify_owner(NET),
        Err(AuthError::Missing { .. })
    ));
    // An inbox message carries none, and may not carry one.
    let inbox =
        StoreRequest::unsigned(k.account_id(), Namespace::INBOX, vec![1], DAY_MS).to_stored(NOW);
    assert_eq!(inbox.owner, None);
    inbox.verify_owner(NET).unwrap();
    let mut proven_inbox = inbox.clone();
    proven_inbox.owner = m.owner.clone();
    assert!(proven_inbox.validate().is_err());

    // Forged by another account, or for other data: the signature fails.
    let mallory = key(6);
    let mut forged = public(&mallory, b"evil profile");
    forged.account = k.account_id();
    forged.hash = MessageHash::compute(&forged.account, forged.namespace, &forged.data);
    forged.validate_at(NOW).unwrap();
    assert_eq!(forged.verify_owner(NET), Err(AuthError::BadSignature));
    let mut other_data = m.clone();
    other_data.data = b"profilf".to_vec();
    other_data.hash = MessageHash::compute(&k.account_id(), Namespace::PUBLIC, b"profilf");
    assert_eq!(other_data.verify_owner(NET), Err(AuthError::BadSignature));
    // Moved to config: another namespace.
    let mut moved = m.clone();
    moved.namespace = Namespace::CONFIG;
    moved.hash = MessageHash::compute(&k.account_id(), Namespace::CONFIG, b"profile");
    assert_eq!(moved.verify_owner(NET), Err(AuthError::BadSignature));
    // Another network.
    assert_eq!(m.verify_owner("sotto"), Err(AuthError::BadSignature));

    // The expiry is the signed TTL after the timestamp: not longer, not shorter.
    for expiry in [m.expiry - 1, m.expiry + 1] {
        let mut changed = m.clone();
        changed.expiry = expiry;
        assert!(matches!(
            changed.validate(),
            Err(Error::OutOfRange {
                what: "message expiry",
                ..
            })
        ));
    }
    // The timestamp must be within the clock window of the owner's signature.
    let mut late = m.clone();
    late.timestamp = NOW + AUTH_CLOCK_WINDOW_MS + 1;
    late.expiry = late.timestamp + DAY_MS;
    late.validate_at(NOW + MINUTE_MS * 10).unwrap();
    assert!(matches!(
        late.verify_owner(NET),
        Err(AuthError::ClockSkew { .. })
    ));
    let mut early = m.clone();
    early.timestamp = NOW - AUTH_CLOCK_WINDOW_MS;
    early.expiry = early.timestamp + DAY_MS;
    early.verify_owner(NET).unwrap();
}

#[test]
fn owner_replicas_merge_whole() {
    let k = key(7);
    let a = public(&k, b"p");
    let b = StoreRequest::signed(&k, NET, Namespace::PUBLIC, b"p".to_vec(), 2 * DAY_MS, NOW)
        .unwrap()
        .to_stored(NOW + 1);
    // The later timestamp wins with its own proof and expiry.
    for merged in [a.merged(&b), b.merged(&a)] {
        assert_eq!(merged, b);
        merged.validate_at(NOW).unwrap();
        merged.verify_owner(NET).unwrap();
    }
    assert_eq!(a.merged(&a), a);
}
