//! Unit tests of the receive path's checks, the purge and verification, with
//! envelopes made here and handed to the handler (no network).

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use sotto_protocol::envelope::{self, Content, ContentBody, ReceiptKind};
use sotto_protocol::rpc::{MessageHash, RetrievedMessage};
use sotto_protocol::{AccountKey, Namespace};

use super::*;

/// A fresh account in `dir`.
pub(super) fn user(dir: &tempfile::TempDir) -> Messenger {
    let opts = HomeOptions {
        home: dir.path().join("h"),
        passphrase: None,
    };
    Messenger::create(&opts, None).unwrap().0
}

/// An envelope from `from` to `m`, as a retrieve would return it.
fn envelope_to(m: &Messenger, from: &AccountKey, body: ContentBody) -> (RetrievedMessage, Content) {
    let content = Content::new(&mut rand::rng(), system_now(), body);
    let data = envelope::seal(from, &m.account_id(), &content, &mut rand::rng()).unwrap();
    (raw(m, data), content)
}

fn raw(m: &Messenger, data: Vec<u8>) -> RetrievedMessage {
    RetrievedMessage {
        hash: MessageHash::compute(&m.account_id(), Namespace::INBOX, &data),
        data,
        timestamp: system_now(),
        expiry: system_now() + 60_000,
    }
}

fn key() -> AccountKey {
    AccountKey::from_entropy(rand::random())
}

#[tokio::test]
async fn bad_input_is_counted_and_never_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let m = user(&dir);
    let inner = &m.inner;
    // Garbage, and an envelope for somebody else.
    assert!(
        !inner
            .accept(&raw(&m, vec![7u8; 600]), Namespace::INBOX)
            .unwrap()
    );
    let other = tempfile::tempdir().unwrap();
    let stranger_box = user(&other);
    let (mut wrong, _) = envelope_to(
        &stranger_box,
        &key(),
        ContentBody::Text { text: "x".into() },
    );
    wrong.hash = MessageHash::compute(&m.account_id(), Namespace::INBOX, &wrong.data);
    assert!(!inner.accept(&wrong, Namespace::INBOX).unwrap());
    // A hash that does not match the data.
    let (mut forged, _) = envelope_to(&m, &key(), ContentBody::Text { text: "x".into() });
    forged.hash = MessageHash([0; 32]);
    assert!(!inner.accept(&forged, Namespace::INBOX).unwrap());
    assert_eq!(m.counters().malformed, 3);
    assert!(m.requests().unwrap().is_empty());

    // A real one is delivered once, by hash and by content id.
    let sender = key();
    let (msg, content) = envelope_to(&m, &sender, ContentBody::Text { text: "hi".into() });
    assert!(inner.accept(&msg, Namespace::INBOX).unwrap());
    assert!(!inner.accept(&msg, Namespace::INBOX).unwrap());
    let same_id = envelope::seal(&sender, &m.account_id(), &content, &mut rand::rng()).unwrap();
    assert!(!inner.accept(&raw(&m, same_id), Namespace::INBOX).unwrap());
    assert_eq!(m.counters().duplicates, 2);
    assert_eq!(m.requests().unwrap().len(), 1);
    assert_eq!(m.take_unseen().await.unwrap().len(), 1);
}

#[tokio::test]
async fn unseen_messages_stay_until_marked_read() {
    let dir = tempfile::tempdir().unwrap();
    let m = user(&dir);
    let sender = key();
    for text in ["one", "two"] {
        let (msg, _) = envelope_to(&m, &sender, ContentBody::Text { text: text.into() });
        assert!(m.inner.accept(&msg, Namespace::INBOX).unwrap());
    }
    // Reading does not consume: a front end that fails to show them loses nothing.
    let first = m.unseen().unwrap();
    assert_eq!(first.len(), 2);
    assert_eq!(m.unseen().unwrap(), first);
    // Only what was marked is gone.
    m.mark_messages_read(&[first[0].id]).await.unwrap();
    let left = m.unseen().unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].text, first[1].text);
    assert_eq!(m.take_unseen().await.unwrap().len(), 1);
    assert!(m.unseen().unwrap().is_empty());
}

/// Issue 11, item 6: one notion of "read" whichever front end showed it.
#[tokio::test]
async fn read_in_one_front_end_is_not_new_in_another() {
    let dir = tempfile::tempdir().unwrap();
    let m = user(&dir);
    let (friend_key, other_key) = (key(), key());
    let (friend, other) = (friend_key.account_id(), other_key.account_id());
    m.add_contact(friend, Some("friend")).unwrap();
    m.add_contact(other, Some("other")).unwrap();
    for (k, text) in [(&friend_key, "a"), (&friend_key, "b"), (&other_key, "c")] {
        let (msg, _) = envelope_to(&m, k, ContentBody::Text { text: text.into() });
        assert!(m.inner.accept(&msg, Namespace::INBOX).unwrap());
    }
    let unread = |peer| {
        m.conversations()
            .unwrap()
            .into_iter()
            .find(|c| c.peer == peer)
            .unwrap()
            .unread
    };
    assert_eq!(m.unseen().unwrap().len(), 3);
    assert_eq!(unread(friend), 2);

    // The terminal UI opens the conversation with `friend`: its messages are
    // no longer new for `inbox`, the other conversation's still are.
    m.mark_read(&friend).await.unwrap();
    let new: Vec<String> = m.unseen().unwrap().into_iter().map(|x| x.text).collect();
    assert_eq!(new, ["c"]);
    assert_eq!(unread(friend), 0);

    // `inbox` prints the other one: read in the UI's list as well.
    let shown = m.unseen().unwrap();
    m.mark_messages_read(&[shown[0].id]).await.unwrap();
    assert!(m.unseen().unwrap().is_empty());
    assert_eq!(unread(other), 0);
    let states: Vec<MessageState> = m
        .messages(&other, 10)
        .unwrap()
        .into_iter()
        .map(|x| x.state)
        .collect();
    assert_eq!(states, [MessageState::Read]);
}

#[tokio::test]
async fn peers_touch_only_what_is_theirs() {
    let dir = tempfile::tempdir().unwrap();
    let m = user(&dir);
    let (alice, eve) = (key(), key());
    m.add_contact(alice.account_id(), None).unwrap();
    let (msg, content) = envelope_to(
        &m,
        &alice,
        ContentBody::Text {
            text: "keep".into(),
        },
    );
    assert!(m.inner.accept(&msg, Namespace::INBOX).unwrap());
    let mine = m.send_text(&alice.account_id(), "mine").await.unwrap();
    // Eve deletes Alice's message and acknowledges ours: both refused.
    let (del, _) = envelope_to(
        &m,
        &eve,
        ContentBody::DeleteForEveryone {
            ids: vec![content.id],
        },
    );
    m.inner.accept(&del, Namespace::INBOX).unwrap();
    let (rc, _) = envelope_to(
        &m,
        &eve,
        ContentBody::Receipt {
            kind: ReceiptKind::Read,
            ids: vec![mine.0],
        },
    );
    m.inner.accept(&rc, Namespace::INBOX).unwrap();
    // Alice deletes our message: refused too.
    let (del, _) = envelope_to(
        &m,
        &alice,
        ContentBody::DeleteForEveryone { ids: vec![mine.0] },
    );
    m.inner.accept(&del, Namespace::INBOX).unwrap();
    assert_eq!(m.counters().refused, 3);
    assert_eq!(m.messages(&alice.account_id(), 10).unwrap().len(), 2);
    // Alice's receipt moves ours forward, and never back.
    let (rc, _) = envelope_to(
        &m,
        &alice,
        ContentBody::Receipt {
            kind: ReceiptKind::Read,
            ids: vec![mine.0],
        },
    );
    m.inner.accept(&rc, Namespace::INBOX).unwrap();
    let (rc, _) = envelope_to(
        &m,
        &alice,
        ContentBody::Receipt {
            kind: ReceiptKind::Delivered,
            ids: vec![mine.0],
        },
    );
    m.inner.accept(&rc, Namespace::INBOX).unwrap();
    let state = |m: &Messenger| {
        m.messages(&alice.account_id(), 10)
            .unwrap()
            .into_iter()
            .find(|x| x.id == mine)
            .unwrap()
            .state
    };
    assert_eq!(state(&m), MessageState::Read);
    // Alice deletes her own message: gone.
    let (del, _) = envelope_to(
        &m,
        &alice,
        ContentBody::DeleteForEveryone {
            ids: vec![content.id],
        },
    );
    m.inner.accept(&del, Namespace::INBOX).unwrap();
    assert_eq!(m.messages(&alice.account_id(), 10).unwrap().len(), 1);
}

#[test]
fn blocked_senders_are_dropped_and_timers_purge() {
    let dir = tempfile::tempdir().unwrap();
    let m = user(&dir);
    let spammer = key();
    m.inner
        .store
        .blocked
        .insert(spammer.account_id().as_bytes(), &[][..])
        .unwrap();
    let (msg, _) = envelope_to(
        &m,
        &spammer,
        ContentBody::Text {
            text: "spam".into(),
        },
    );
    assert!(!m.inner.accept(&msg, Namespace::INBOX).unwrap());
    assert_eq!(m.counters().blocked, 1);
    assert!(m.requests().unwrap().is_empty());

    // A message whose timer ran out is purged, with an event.
    let friend = key();
    m.add_contact(friend.account_id(), None).unwrap();
    let mut conv = m.inner.store.conv(&friend.account_id()).unwrap();
    conv.mode = Disappearing::AfterSend(std::time::Duration::from_millis(1));
    m.inner
        .store
        .put(&m.inner.store.convs, friend.account_id().as_bytes(), &conv)
        .unwrap();
    let mut events = m.subscribe();
    let (msg, content) = envelope_to(
        &m,
        &friend,
        ContentBody::Text {
            text: "brief".into(),
        },
    );
    assert!(m.inner.accept(&msg, Namespace::INBOX).unwrap());
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(m.inner.purge_expired().unwrap(), 1);
    assert!(m.messages(&friend.account_id(), 10).unwrap().is_empty());
    let mut deleted = false;
    while let Ok(e) = events.try_recv() {
        deleted |= matches!(e, ChatEvent::Deleted { id, .. } if id.0 == content.id);
    }
    assert!(deleted);
}

#[test]
fn a_stored_code_that_no_longer_matches_is_changed() {
    let dir = tempfile::tempdir().unwrap();
    let m = user(&dir);
    let peer = key().account_id();
    m.mark_verified(&peer).unwrap();
    assert_eq!(
        m.verification(&peer).unwrap().status,
        VerificationStatus::Verified
    );
    let s = &m.inner.store;
    s.put(&s.verified, peer.as_bytes(), &"1".repeat(60))
        .unwrap();
    assert_eq!(
        m.verification(&peer).unwrap().status,
        VerificationStatus::Changed
    );
}

/// A contact marked verified under the version-1 code (one joint hash) stays
/// verified after the code became one half per key.
#[test]
fn a_contact_verified_under_the_v1_code_stays_verified() {
    let dir = tempfile::tempdir().unwrap();
    let m = user(&dir);
    let peer = key().account_id();
    let v1 = crate::verification::verification_code_v1(&m.account_id(), &peer).digits();
    assert_ne!(
        v1,
        crate::verification_code(&m.account_id(), &peer).digits()
    );
    let s = &m.inner.store;
    s.put(&s.verified, peer.as_bytes(), &v1).unwrap();
    assert_eq!(
        m.verification(&peer).unwrap().status,
        VerificationStatus::Verified
    );
}

/// Issue 11, item 3: a message another receive round brought (the background
/// loop's) ends a long wait at once.
#[tokio::test]
async fn waiting_ends_when_any_round_brings_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let m = user(&dir);
    let waiter = tokio::spawn({
        let m = m.clone();
        async move { m.wait_unseen(std::time::Duration::from_secs(3600)).await }
    });
    // The waiter is waiting (subscribed, found nothing) before the message
    // comes, so only the event can wake it.
    while m.inner.events.receiver_count() == 0 {
        tokio::task::yield_now().await;
    }
    let (msg, _) = envelope_to(&m, &key(), ContentBody::Text { text: "now".into() });
    assert!(m.inner.accept(&msg, Namespace::INBOX).unwrap());
    let got = tokio::time::timeout(std::time::Duration::from_secs(60), waiter)
        .await
        .expect("the wait did not end when the message came")
        .unwrap()
        .unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].text, "now");
    // Nothing new: an empty answer once the (short) wait is over.
    m.mark_messages_read(&[got[0].id]).await.unwrap();
    assert!(
        m.wait_unseen(std::time::Duration::from_millis(10))
            .await
            .unwrap()
            .is_empty()
    );
}
