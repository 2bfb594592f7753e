//! Unit tests of the metadata rules (`metadata.rs`): stale contents,
//! last-writer-wins timer and profile changes, deletes that arrive before
//! their message, delayed and batched delivery receipts, preset TTLs. The
//! envelopes are made here and handed to the handler (no network).

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::time::Duration;

use sotto_protocol::envelope::{self, Content, ContentBody, ContentId, ReceiptKind};
use sotto_protocol::rpc::{MessageHash, RetrievedMessage};
use sotto_protocol::time::{HOUR_MS, MINUTE_MS};
use sotto_protocol::{AccountKey, Namespace};

use super::metadata::DEFAULT_RECEIPT_DELAY;
use super::metadata::STALE_AFTER_MS;
use super::outbox::{OutBody, OutItem};
use super::tests::user;
use super::*;

/// A fresh account (in the returned directory) with one contact.
fn with_contact() -> (tempfile::TempDir, Messenger, AccountKey) {
    let dir = tempfile::tempdir().unwrap();
    let m = user(&dir);
    let friend = AccountKey::from_entropy(rand::random());
    m.add_contact(friend.account_id(), None).unwrap();
    (dir, m, friend)
}

/// `content` from `from` to `m`, as a retrieve would return it.
fn deliver(m: &Messenger, from: &AccountKey, content: &Content) -> bool {
    let data = envelope::seal(from, &m.account_id(), content, &mut rand::rng()).unwrap();
    let now = system_now();
    let msg = RetrievedMessage {
        hash: MessageHash::compute(&m.account_id(), Namespace::INBOX, &data),
        data,
        timestamp: now,
        expiry: now + 60_000,
    };
    m.inner.accept(&msg, Namespace::INBOX).unwrap()
}

fn at(sent_at: u64, body: ContentBody) -> Content {
    Content::new(&mut rand::rng(), sent_at, body)
}

fn text(t: &str) -> ContentBody {
    ContentBody::Text { text: t.into() }
}

fn timer(mode: Disappearing) -> ContentBody {
    ContentBody::DisappearingTimer {
        mode: mode.to_wire(),
    }
}

/// The outbox items, in order.
fn outbox(m: &Messenger) -> Vec<OutItem> {
    let s = &m.inner.store;
    s.outbox
        .iter()
        .map(|e| {
            let (k, v) = e.unwrap();
            s.decode::<OutItem>(&s.outbox, &k, &v).unwrap()
        })
        .collect()
}

/// The delivery receipts waiting in the outbox: the ids of each.
fn receipts(m: &Messenger) -> Vec<Vec<ContentId>> {
    outbox(m)
        .into_iter()
        .filter_map(|i| match i.body {
            OutBody::Content(Content {
                body:
                    ContentBody::Receipt {
                        kind: ReceiptKind::Delivered,
                        ids,
                    },
                ..
            }) => Some(ids),
            _ => None,
        })
        .collect()
}

#[test]
fn contents_older_than_the_longest_ttl_are_refused() {
    let (_dir, m, friend) = with_contact();
    let peer = friend.account_id();
    let now = system_now();
    // A replayed message and an old "timer off", each older than any swarm
    // keeps anything (and so, a day later, than the seen set remembers).
    let old = now - STALE_AFTER_MS - MINUTE_MS;
    assert!(!deliver(&m, &friend, &at(old, text("deleted long ago"))));
    let mode = Disappearing::AfterSend(Duration::from_secs(3600));
    m.inner
        .store
        .put(
            &m.inner.store.convs,
            peer.as_bytes(),
            &super::records::ConvRecord {
                mode,
                ..Default::default()
            },
        )
        .unwrap();
    assert!(!deliver(&m, &friend, &at(old, timer(Disappearing::Off))));
    assert_eq!(m.disappearing(&peer).unwrap(), mode);
    assert_eq!(m.counters().stale, 2);
    assert!(m.messages(&peer, 10).unwrap().is_empty());
    // Inside the window it is taken.
    assert!(deliver(&m, &friend, &at(now - HOUR_MS, text("recent"))));
}

#[tokio::test]
async fn timer_and_profile_changes_are_last_writer_wins() {
    let (_dir, m, friend) = with_contact();
    let peer = friend.account_id();
    let now = system_now();
    let hour = Disappearing::AfterSend(Duration::from_secs(3600));
    let day = Disappearing::AfterSend(Duration::from_secs(86_400));

    // The later change arrives first; the earlier one after it loses.
    deliver(&m, &friend, &at(now - 1_000, timer(hour)));
    deliver(&m, &friend, &at(now - 5_000, timer(Disappearing::Off)));
    assert_eq!(m.disappearing(&peer).unwrap(), hour);
    // This account's own change is later than both; a peer's change made
    // before it (delivered late) does not undo it.
    m.set_disappearing(&peer, day).await.unwrap();
    deliver(&m, &friend, &at(now - 500, timer(Disappearing::Off)));
    assert_eq!(m.disappearing(&peer).unwrap(), day);
    // A later change of the peer's wins.
    deliver(&m, &friend, &at(system_now() + 1_000, timer(hour)));
    assert_eq!(m.disappearing(&peer).unwrap(), hour);

    let name = |n: &str| ContentBody::Profile {
        display_name: n.into(),
    };
    deliver(&m, &friend, &at(now - 1_000, name("new name")));
    deliver(&m, &friend, &at(now - 9_000, name("old name")));
    // A change stamped days ahead would win against every later one: it is
    // refused.
    deliver(&m, &friend, &at(now + 3 * 24 * HOUR_MS, name("forever")));
    let conv = m.inner.store.conv(&peer).unwrap();
    assert_eq!(conv.display_name.as_deref(), Some("new name"));
    assert_eq!(m.counters().stale, 4);
}

#[test]
fn a_message_arriving_after_its_delete_stays_deleted() {
    let (_dir, m, friend) = with_contact();
    let peer = friend.account_id();
    let now = system_now();
    let message = at(now - 2_000, text("regretted"));
    let delete = at(
        now - 1_000,
        ContentBody::DeleteForEveryone {
            ids: vec![message.id],
        },
    );
    deliver(&m, &friend, &delete);
    assert!(!deliver(&m, &friend, &message));
    assert!(m.messages(&peer, 10).unwrap().is_empty());
    // Another sender cannot delete it in advance for them: the memory is
    // per sender.
    let other = AccountKey::from_entropy(rand::random());
    m.add_contact(other.account_id(), None).unwrap();
    let theirs = at(now - 2_000, text("mine"));
    let forged = at(
        now - 1_000,
        ContentBody::DeleteForEveryone {
            ids: vec![theirs.id],
        },
    );
    deliver(&m, &friend, &forged);
    assert!(deliver(&m, &other, &theirs));
}

#[test]
fn delivery_receipts_wait_a_random_delay_and_leave_batched() {
    let (_dir, m, friend) = with_contact();
    let now = system_now();
    let first = at(now, text("one"));
    let second = at(now, text("two"));
    assert!(deliver(&m, &friend, &first));
    assert!(deliver(&m, &friend, &second));
    // Nothing leaves at once.
    assert!(receipts(&m).is_empty());
    let (lo, hi) = DEFAULT_RECEIPT_DELAY;
    let soon = system_now() + u64::try_from(lo.as_millis()).unwrap() - 1_000;
    let next = m.inner.release_receipts(soon).unwrap().unwrap();
    assert!(receipts(&m).is_empty());
    assert!(next >= soon, "next due {next} before {soon}");
    // Once one is due, both leave together, in one receipt.
    let late = system_now() + u64::try_from(hi.as_millis()).unwrap() + 1_000;
    assert_eq!(m.inner.release_receipts(late).unwrap(), None);
    let sent = receipts(&m);
    assert_eq!(sent.len(), 1, "{sent:?}");
    let mut ids = sent[0].clone();
    ids.sort();
    let mut want = vec![first.id, second.id];
    want.sort();
    assert_eq!(ids, want);
}

#[test]
fn swarm_ttls_are_rounded_up_to_presets() {
    let dir = tempfile::tempdir().unwrap();
    let m = user(&dir);
    let peer = AccountKey::from_entropy(rand::random()).account_id();
    m.inner
        .enqueue(&peer, text("five minutes"), Some(5 * MINUTE_MS))
        .unwrap();
    m.inner
        .enqueue(&peer, text("two days"), Some(2 * 24 * HOUR_MS))
        .unwrap();
    let ttls: Vec<u64> = outbox(&m).iter().map(|i| i.ttl_ms).collect();
    assert_eq!(ttls, vec![HOUR_MS, 7 * 24 * HOUR_MS]);
}
