//! Messages v2 between two homes, with no network: the outbox's items are
//! sealed exactly as the sender task seals them (with the peer's bundle as
//! its swarm would return it) and handed to the peer's receive path as a
//! retrieve would. Out of order, duplicated, restarts between every step,
//! simultaneous starts, a restore on a new machine, and forward secrecy.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use sotto_protocol::envelope::v2::{self, Body};
use sotto_protocol::prekey::VerifiedBundle;
use sotto_protocol::rpc::{MessageHash, RetrievedMessage};
use sotto_protocol::{AccountKey, Namespace};
use tempfile::TempDir;

use super::outbox::{OutBody, OutItem};
use super::*;

struct Home {
    dir: TempDir,
    m: Messenger,
}

impl Home {
    fn new(name: &str) -> (Home, RecoveryPhrase) {
        let dir = tempfile::tempdir().unwrap();
        let (m, phrase) = Messenger::create(&opts(&dir), Some(name)).unwrap();
        (Home { dir, m }, phrase)
    }

    /// The process stops without a shutdown and starts again.
    fn crash_and_reopen(self) -> Home {
        let Home { dir, m } = self;
        drop(m);
        let m = Messenger::open(&opts(&dir)).unwrap();
        Home { dir, m }
    }

    fn id(&self) -> AccountId {
        self.m.account_id()
    }
}

fn opts(dir: &TempDir) -> HomeOptions {
    HomeOptions {
        home: dir.path().join("h"),
        passphrase: Some("pw".into()),
    }
}

/// The bundle `m` would publish now, as a fetch verifies it.
fn bundle_of(m: &Messenger, now: u64) -> VerifiedBundle {
    let secrets = m.inner.prekey_secrets().unwrap();
    secrets
        .bundle(&m.inner.key, now)
        .unwrap()
        .verify(&m.account_id(), now)
        .unwrap()
}

fn retrieved(to: &AccountId, data: Vec<u8>) -> RetrievedMessage {
    RetrievedMessage {
        hash: MessageHash::compute(to, Namespace::INBOX, &data),
        data,
        timestamp: system_now(),
        expiry: system_now() + 60_000,
    }
}

/// Seals and "sends" every queued item of `from` to `to` (sealed at `now`),
/// oldest first; returns the envelopes as `to`'s swarm would hand them out.
fn send_all_at(from: &Messenger, to: &Messenger, now: u64) -> Vec<RetrievedMessage> {
    let s = &from.inner.store;
    let mut out = Vec::new();
    for (key, mut item) in s.scan::<OutItem>(&s.outbox, b"").unwrap() {
        if item.peer != to.account_id() {
            continue;
        }
        from.inner
            .seal_with(&key, &mut item, Some(&bundle_of(to, now)), now)
            .unwrap();
        let OutBody::Sealed(data) = item.body else {
            panic!("not sealed")
        };
        s.outbox.remove(&key).unwrap();
        out.push(retrieved(&to.account_id(), data));
    }
    out
}

fn send_all(from: &Messenger, to: &Messenger) -> Vec<RetrievedMessage> {
    send_all_at(from, to, system_now())
}

fn texts_from(m: &Messenger, peer: &AccountId) -> Vec<String> {
    m.messages(peer, 1000)
        .unwrap()
        .into_iter()
        .filter(|x| !x.outgoing)
        .map(|x| x.text)
        .collect()
}

/// Whether an envelope to `to` carries an initiation.
fn is_init(to: &Messenger, m: &RetrievedMessage) -> bool {
    matches!(
        v2::unseal(&to.inner.key, &m.data).unwrap().body,
        Body::Init { .. }
    )
}

fn current_id(m: &Messenger, peer: &AccountId) -> sotto_protocol::pqxdh::SessionId {
    m.inner
        .sessions(peer)
        .unwrap()
        .sessions
        .current()
        .unwrap()
        .id()
}

#[tokio::test]
async fn out_of_order_and_duplicates_deliver_each_message_once() {
    let (alice, _) = Home::new("Alice");
    let (bob, _) = Home::new("Bob");
    alice.m.add_contact(bob.id(), Some("bob")).unwrap();
    bob.m.add_contact(alice.id(), Some("alice")).unwrap();
    let (a, b) = (&alice.m, &bob.m);
    // Profiles queued by add_contact go first; then five texts.
    for i in 0..5 {
        a.send_text(&bob.id(), &format!("m{i}")).await.unwrap();
    }
    let mut wire = send_all(a, b);
    // Until Bob answers, every message carries the initiation.
    assert!(wire.iter().all(|m| is_init(b, m)));
    wire.reverse();
    let again = wire.clone();
    for m in wire.iter().chain(again.iter()) {
        b.inner.accept(m, Namespace::INBOX).unwrap();
    }
    let mut got = texts_from(b, &alice.id());
    got.sort();
    assert_eq!(got, ["m0", "m1", "m2", "m3", "m4"]);
    assert_eq!(b.counters().duplicates, wire.len() as u64);
    assert_eq!(b.counters().v1, 0);

    // Bob's receipts and his reply reach Alice; her next message rides the
    // ratchet alone.
    b.send_text(&alice.id(), "back").await.unwrap();
    for m in send_all(b, a) {
        assert!(!is_init(a, &m), "the responder never sends an initiation");
        a.inner.accept(&m, Namespace::INBOX).unwrap();
    }
    assert_eq!(texts_from(a, &bob.id()), ["back"]);
    a.send_text(&bob.id(), "after").await.unwrap();
    let next = send_all(a, b);
    assert!(next.iter().all(|m| !is_init(b, m)));
    for m in &next {
        b.inner.accept(m, Namespace::INBOX).unwrap();
    }
    assert_eq!(texts_from(b, &alice.id()).len(), 6);
    assert_eq!(current_id(a, &bob.id()), current_id(b, &alice.id()));
}

#[tokio::test]
async fn restart_between_every_step_loses_nothing_and_reuses_no_key() {
    let (alice, _) = Home::new("Alice");
    let (bob, _) = Home::new("Bob");
    let (aid, bid) = (alice.id(), bob.id());
    alice.m.add_contact(bid, None).unwrap();
    bob.m.add_contact(aid, None).unwrap();
    // Queued, then a crash: still queued, as a content (not sealed yet).
    alice.m.send_text(&bid, "one").await.unwrap();
    let alice = alice.crash_and_reopen();
    let s = &alice.m.inner.store;
    let items = s.scan::<OutItem>(&s.outbox, b"").unwrap();
    assert!(
        items
            .iter()
            .all(|(_, i)| matches!(i.body, OutBody::Content(_)))
    );
    // Sealed (session and item written together), then a crash before it
    // left: the same bytes are sent after the restart.
    let (key, mut item) = items.last().cloned().unwrap();
    let now = system_now();
    alice
        .m
        .inner
        .seal_with(&key, &mut item, Some(&bundle_of(&bob.m, now)), now)
        .unwrap();
    let OutBody::Sealed(first) = item.body.clone() else {
        panic!()
    };
    let alice = alice.crash_and_reopen();
    let s = &alice.m.inner.store;
    let kept: OutItem = s.get(&s.outbox, &key).unwrap().unwrap();
    assert!(matches!(&kept.body, OutBody::Sealed(d) if *d == first));
    // A second message after the restart uses the next key: both open.
    alice.m.send_text(&bid, "two").await.unwrap();
    let wire = send_all(&alice.m, &bob.m);
    let mut bob = bob;
    for m in &wire {
        bob.m.inner.accept(m, Namespace::INBOX).unwrap();
        // Bob restarts after every message.
        bob = bob.crash_and_reopen();
    }
    let mut got = texts_from(&bob.m, &aid);
    got.sort();
    assert_eq!(got, ["one", "two"]);

    // A crash after the content was handled but before the session was
    // written: the old session and no seen marks. The message is read again,
    // reaches the app once, and the session moves on.
    alice.m.send_text(&bid, "three").await.unwrap();
    let wire = send_all(&alice.m, &bob.m);
    let m3 = wire.last().unwrap().clone();
    for m in &wire[..wire.len() - 1] {
        bob.m.inner.accept(m, Namespace::INBOX).unwrap();
    }
    let bs = &bob.m.inner.store;
    let before = bs.sessions.get(aid.as_bytes()).unwrap().unwrap();
    let seen_before: Vec<_> = bs.seen.iter().keys().map(|k| k.unwrap()).collect();
    assert!(bob.m.inner.accept(&m3, Namespace::INBOX).unwrap());
    let rollback = |bs: &super::store::Store, with_session: bool| {
        if with_session {
            bs.sessions.insert(aid.as_bytes(), before.clone()).unwrap();
        }
        for k in bs.seen.iter().keys().map(|k| k.unwrap()) {
            if !seen_before.contains(&k) {
                bs.seen.remove(k).unwrap();
            }
        }
    };
    rollback(bs, true);
    let bob = bob.crash_and_reopen();
    assert!(
        !bob.m.inner.accept(&m3, Namespace::INBOX).unwrap(),
        "delivered twice"
    );
    // A crash after the session was written but before the seen marks: the
    // key is used, the message is a duplicate.
    let bs = &bob.m.inner.store;
    rollback(bs, false);
    let bob = bob.crash_and_reopen();
    assert!(!bob.m.inner.accept(&m3, Namespace::INBOX).unwrap());
    assert_eq!(texts_from(&bob.m, &aid).len(), 3);
    // And the conversation goes on both ways.
    bob.m.send_text(&aid, "still here").await.unwrap();
    for m in send_all(&bob.m, &alice.m) {
        alice.m.inner.accept(&m, Namespace::INBOX).unwrap();
    }
    alice.m.send_text(&bid, "four").await.unwrap();
    for m in send_all(&alice.m, &bob.m) {
        bob.m.inner.accept(&m, Namespace::INBOX).unwrap();
    }
    assert_eq!(texts_from(&bob.m, &aid).len(), 4);
    assert_eq!(texts_from(&alice.m, &bid), ["still here"]);
    assert_eq!(bob.m.counters().unreadable, 0);
}

#[tokio::test]
async fn simultaneous_initiation_ends_on_one_session() {
    let (alice, _) = Home::new("Alice");
    let (bob, _) = Home::new("Bob");
    let (a, b) = (&alice.m, &bob.m);
    a.add_contact(bob.id(), None).unwrap();
    b.add_contact(alice.id(), None).unwrap();
    a.send_text(&bob.id(), "hi from alice").await.unwrap();
    b.send_text(&alice.id(), "hi from bob").await.unwrap();
    // Both sealed before either saw the other: two initiations cross.
    let to_bob = send_all(a, b);
    let to_alice = send_all(b, a);
    assert!(to_bob.iter().chain(&to_alice).count() >= 2);
    for m in &to_bob {
        b.inner.accept(m, Namespace::INBOX).unwrap();
    }
    for m in &to_alice {
        a.inner.accept(m, Namespace::INBOX).unwrap();
    }
    assert_eq!(texts_from(b, &alice.id()), ["hi from alice"]);
    assert_eq!(texts_from(a, &bob.id()), ["hi from bob"]);
    // Whatever each side sends now (receipts, texts) lands on one session.
    for round in 0..3 {
        a.send_text(&bob.id(), &format!("a{round}")).await.unwrap();
        b.send_text(&alice.id(), &format!("b{round}"))
            .await
            .unwrap();
        let x = send_all(a, b);
        let y = send_all(b, a);
        x.iter().for_each(|m| {
            b.inner.accept(m, Namespace::INBOX).unwrap();
        });
        y.iter().for_each(|m| {
            a.inner.accept(m, Namespace::INBOX).unwrap();
        });
    }
    assert_eq!(current_id(a, &bob.id()), current_id(b, &alice.id()));
    assert_eq!(texts_from(b, &alice.id()).len(), 4);
    assert_eq!(texts_from(a, &bob.id()).len(), 4);
    assert_eq!(a.counters().unreadable + b.counters().unreadable, 0);
}

#[tokio::test]
async fn a_contact_restored_on_a_new_machine_gets_a_new_session_by_itself() {
    let (alice, _) = Home::new("Alice");
    let (bob, bob_words) = Home::new("Bob");
    let (aid, bid) = (alice.id(), bob.id());
    alice.m.add_contact(bid, None).unwrap();
    bob.m.add_contact(aid, None).unwrap();
    alice.m.send_text(&bid, "before").await.unwrap();
    for m in send_all(&alice.m, &bob.m) {
        bob.m.inner.accept(&m, Namespace::INBOX).unwrap();
    }
    bob.m.send_text(&aid, "answer").await.unwrap();
    for m in send_all(&bob.m, &alice.m) {
        alice.m.inner.accept(&m, Namespace::INBOX).unwrap();
    }
    // Bob's machine is gone; the 12 words bring the account to a new one.
    drop(bob);
    let new_dir = tempfile::tempdir().unwrap();
    let bob = Messenger::restore(&opts(&new_dir), bob_words.as_str(), Some("Bob")).unwrap();
    assert_eq!(bob.account_id(), bid);
    // Alice writes on the old session: Bob cannot read it, says so, and
    // starts a new session with her (queued, nothing for the user to do).
    alice.m.send_text(&bid, "lost one").await.unwrap();
    for m in send_all(&alice.m, &bob) {
        bob.inner.accept(&m, Namespace::INBOX).unwrap();
    }
    assert!(bob.counters().unreadable >= 1);
    let notices = texts_from(&bob, &aid);
    assert_eq!(notices, [UNREADABLE_NOTICE]);
    assert_eq!(bob.requests().unwrap().len(), 1);
    // Bob's new session reaches Alice, who adopts it (its initiation is newer
    // than anything Bob sent on the old one).
    let later = system_now() + 1_000;
    for m in send_all_at(&bob, &alice.m, later) {
        assert!(is_init(&alice.m, &m));
        alice.m.inner.accept(&m, Namespace::INBOX).unwrap();
    }
    assert_eq!(current_id(&alice.m, &bid), current_id(&bob, &aid));
    alice.m.send_text(&bid, "found you").await.unwrap();
    for m in send_all(&alice.m, &bob) {
        bob.inner.accept(&m, Namespace::INBOX).unwrap();
    }
    assert_eq!(texts_from(&bob, &aid), [UNREADABLE_NOTICE, "found you"]);
    assert_eq!(alice.m.counters().unreadable, 0);
}

#[tokio::test]
async fn captured_envelopes_stay_unreadable_with_both_words_and_current_states() {
    let (alice, alice_words) = Home::new("Alice");
    let (bob, bob_words) = Home::new("Bob");
    let (a, b) = (&alice.m, &bob.m);
    let (aid, bid) = (alice.id(), bob.id());
    a.add_contact(bid, None).unwrap();
    b.add_contact(aid, None).unwrap();
    // The first exchange, then a capture of everything Alice sends next.
    a.send_text(&bid, "first").await.unwrap();
    for m in send_all(a, b) {
        b.inner.accept(&m, Namespace::INBOX).unwrap();
    }
    b.send_text(&aid, "reply").await.unwrap();
    for m in send_all(b, a) {
        a.inner.accept(&m, Namespace::INBOX).unwrap();
    }
    a.send_text(&bid, "secret").await.unwrap();
    let captured = send_all(a, b);
    // At capture time, Bob's state reads them: the check below can fail.
    let then = b.inner.sessions(&aid).unwrap();
    let readable_then = captured.iter().any(|m| {
        let Body::Ratchet { message } = v2::unseal(&b.inner.key, &m.data).unwrap().body else {
            return false;
        };
        let mut s = then.sessions.current().cloned().unwrap();
        v2::open_content(&mut s, &message, system_now()).is_ok()
    });
    assert!(readable_then);
    for m in &captured {
        b.inner.accept(m, Namespace::INBOX).unwrap();
    }
    // The conversation goes on: a few round trips move both ratchets.
    for i in 0..3 {
        b.send_text(&aid, &format!("b{i}")).await.unwrap();
        for m in send_all(b, a) {
            a.inner.accept(&m, Namespace::INBOX).unwrap();
        }
        a.send_text(&bid, &format!("a{i}")).await.unwrap();
        for m in send_all(a, b) {
            b.inner.accept(&m, Namespace::INBOX).unwrap();
        }
    }
    // The attacker: both accounts' words and both current ratchet states.
    let alice_key = AccountKey::from_entropy(
        *Account::restore(alice_words.as_str())
            .unwrap()
            .key()
            .entropy(),
    );
    let bob_key = AccountKey::from_entropy(
        *Account::restore(bob_words.as_str())
            .unwrap()
            .key()
            .entropy(),
    );
    assert_eq!(alice_key.account_id(), aid);
    let states = [
        a.inner.sessions(&bid).unwrap(),
        b.inner.sessions(&aid).unwrap(),
    ];
    for m in &captured {
        // The words open the sealed-sender layer: the sender is visible to
        // whoever holds the recipient's words (ARCHITECTURE says so)...
        let unsealed = v2::unseal(&bob_key, &m.data).unwrap();
        assert_eq!(unsealed.sender, aid);
        let message = match unsealed.body {
            Body::Ratchet { message } | Body::Init { message, .. } => message,
        };
        // ... but no session, current or archived, of either side reads it.
        for p in &states {
            for s in p
                .sessions
                .current()
                .into_iter()
                .chain(p.sessions.archived())
            {
                let mut s = s.clone();
                assert!(v2::open_content(&mut s, &message, system_now()).is_err());
            }
        }
    }
}

#[tokio::test]
async fn the_bundle_is_published_on_schedule_and_after_keys_are_used() {
    use sotto_protocol::constants::{
        ONE_TIME_PREKEY_BATCH, ONE_TIME_PREKEY_LOW_WATER, SIGNED_PREKEY_ROTATE_MS,
    };
    let (bob, _) = Home::new("Bob");
    let (alice, _) = Home::new("Alice");
    let inner = &bob.m.inner;
    let t0 = system_now();
    // Nothing published yet: due now.
    let (first, v) = inner.due_bundle(t0).unwrap().unwrap();
    inner.note_published(t0, MessageHash([1; 32]), v).unwrap();
    assert!(inner.due_bundle(t0 + 1_000).unwrap().is_none());
    assert_eq!(first.bundle.one_time_prekeys.len(), ONE_TIME_PREKEY_BATCH);
    // A stranger's first message uses a one-time key: the bundle goes out
    // again without it.
    alice.m.send_text(&bob.id(), "hello").await.unwrap();
    for m in send_all(&alice.m, &bob.m) {
        bob.m.inner.accept(&m, Namespace::INBOX).unwrap();
    }
    assert_eq!(texts_from(&bob.m, &alice.id()), ["hello"]);
    let (again, v) = inner.due_bundle(t0 + 2_000).unwrap().unwrap();
    assert_eq!(
        again.bundle.one_time_prekeys.len(),
        ONE_TIME_PREKEY_BATCH - 1
    );
    inner
        .note_published(t0 + 2_000, MessageHash([2; 32]), v)
        .unwrap();
    assert!(inner.due_bundle(t0 + 3_000).unwrap().is_none());
    // A day later: refreshed. A week later: a new signed pair.
    let day = sotto_protocol::time::DAY_MS;
    assert!(inner.due_bundle(t0 + 2_000 + day).unwrap().is_some());
    let (rotated, _) = inner
        .due_bundle(t0 + SIGNED_PREKEY_ROTATE_MS + 1)
        .unwrap()
        .unwrap();
    assert_ne!(
        rotated.bundle.signed_prekey.id,
        first.bundle.signed_prekey.id
    );
    // Used keys below the low-water mark are refilled to a batch.
    let mut secrets = inner.prekey_secrets().unwrap();
    let ids: Vec<u32> = rotated
        .bundle
        .one_time_prekeys
        .iter()
        .map(|k| k.id)
        .collect();
    for id in ids
        .iter()
        .take(ONE_TIME_PREKEY_BATCH - ONE_TIME_PREKEY_LOW_WATER + 1)
    {
        secrets.mark_used(
            &sotto_protocol::prekey::UsedPrekeys {
                one_time: Some(*id),
                one_time_kem: None,
            },
            t0,
        );
    }
    assert!(secrets.unused_one_time().0 < ONE_TIME_PREKEY_LOW_WATER);
    inner
        .store
        .put(&inner.store.meta, b"prekey_secrets", &secrets)
        .unwrap();
    let (refilled, _) = inner
        .due_bundle(t0 + SIGNED_PREKEY_ROTATE_MS + 2)
        .unwrap()
        .unwrap();
    assert_eq!(
        refilled.bundle.one_time_prekeys.len(),
        ONE_TIME_PREKEY_BATCH
    );
    // The secrets are sealed at rest: no piece of their encoding is on disk.
    let raw = inner.store.meta.get(b"prekey_secrets").unwrap().unwrap();
    let plain = postcard::to_allocvec(&inner.prekey_secrets().unwrap()).unwrap();
    assert!(plain.len() > 1_000);
    for piece in plain.chunks(32).filter(|c| c.len() == 32) {
        assert!(!raw.windows(32).any(|w| w == piece));
    }
}

#[tokio::test]
async fn a_message_too_far_ahead_is_refused_and_the_session_goes_on() {
    use sotto_protocol::constants::MAX_SKIP;
    use sotto_protocol::envelope::{Content, ContentBody};
    let (alice, _) = Home::new("Alice");
    let (bob, _) = Home::new("Bob");
    let (a, b) = (&alice.m, &bob.m);
    a.add_contact(bob.id(), None).unwrap();
    a.send_text(&bob.id(), "first").await.unwrap();
    for m in send_all(a, b) {
        b.inner.accept(&m, Namespace::INBOX).unwrap();
    }
    // A copy of Alice's sessions seals past the skip limit (what a forger
    // holding nothing could not do, and a broken sender might).
    let mut ahead = a.inner.sessions(&bob.id()).unwrap().sessions;
    let mut last = Vec::new();
    for _ in 0..=MAX_SKIP + 1 {
        let c = Content::new(
            &mut rand::rng(),
            system_now(),
            ContentBody::Typing { started: true },
        );
        last = ahead.seal(&c, &mut rand::rng()).unwrap();
    }
    let before = b
        .inner
        .sessions(&alice.id())
        .unwrap()
        .sessions
        .current()
        .unwrap()
        .id();
    assert!(
        !b.inner
            .accept(&retrieved(&bob.id(), last), Namespace::INBOX)
            .unwrap()
    );
    assert_eq!(b.counters().refused, 1);
    // The session is as it was: Alice's next real message opens.
    a.send_text(&bob.id(), "second").await.unwrap();
    for m in send_all(a, b) {
        b.inner.accept(&m, Namespace::INBOX).unwrap();
    }
    assert_eq!(texts_from(b, &alice.id()), ["first", "second"]);
    assert_eq!(current_id(b, &alice.id()), before);
    assert_eq!(b.counters().unreadable, 0);
}
