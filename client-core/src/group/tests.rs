//! The group engine without a network: members hand each other the bytes a
//! group's swarm would hold, in the order it holds them.

use sotto_protocol::{AccountId, AccountKey};

use super::engine;
use super::*;

const T0: u64 = 1_800_000_000_000;

mod rejoin;

struct Member {
    key: AccountKey,
    groups: Groups,
}

impl Member {
    fn new(seed: u8) -> Self {
        let key = AccountKey::from_entropy([seed; 16]);
        let groups = Groups::new(&key);
        Self { key, groups }
    }

    fn id(&self) -> AccountId {
        self.key.account_id()
    }

    /// Handles everything `stored` holds from `from` on, at `now`.
    fn read(&mut self, stored: &[Vec<u8>], now: u64) -> Vec<GroupEvent> {
        let mut events = Vec::new();
        for bytes in stored {
            match self.groups.receive(bytes, now) {
                Ok(more) => events.extend(more),
                Err(e) => eprintln!("{e}"),
            }
        }
        events.extend(self.groups.settle(now));
        events
    }

    fn join(&mut self, out: &[Outgoing]) -> GroupId {
        let welcome = out
            .iter()
            .find_map(|o| match o {
                Outgoing::Welcome { to, bytes } if to.contains(&self.id()) => Some(bytes.clone()),
                _ => None,
            })
            .expect("a welcome for this member");
        self.groups.join(&welcome).expect("join")
    }
}

fn texts(events: &[GroupEvent]) -> Vec<(AccountId, Vec<u8>)> {
    events
        .iter()
        .filter_map(|e| match e {
            GroupEvent::Message { sender, body, .. } => Some((*sender, body.clone())),
            _ => None,
        })
        .collect()
}

fn group_bytes(out: &[Outgoing]) -> Vec<Vec<u8>> {
    out.iter()
        .filter_map(|o| match o {
            Outgoing::Group(b) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

fn sent(events: &[GroupEvent]) -> Vec<Outgoing> {
    events
        .iter()
        .filter_map(|e| match e {
            GroupEvent::Send(o) => Some(o.clone()),
            _ => None,
        })
        .collect()
}

/// Alice (admin) creates a group with Bob and Carol.
fn three() -> (Member, Member, Member, GroupId) {
    let mut alice = Member::new(1);
    let mut bob = Member::new(2);
    let mut carol = Member::new(3);
    let packages = vec![
        bob.groups.key_package().unwrap(),
        carol.groups.key_package().unwrap(),
    ];
    let (id, out) = alice.groups.create("hikers", &packages, T0).unwrap();
    assert_eq!(bob.join(&out), id);
    assert_eq!(carol.join(&out), id);
    (alice, bob, carol, id)
}

#[test]
fn three_members_exchange_messages_and_agree_on_the_group() {
    let (mut alice, mut bob, mut carol, id) = three();
    let info = alice.groups.info(&id).unwrap();
    assert_eq!(info.meta.name, "hikers");
    assert_eq!(info.members.len(), 3);
    assert_eq!(bob.groups.info(&id).unwrap(), info);
    assert_eq!(carol.groups.info(&id).unwrap(), info);
    let stored = vec![
        alice.groups.send(&id, b"hello all", T0 + 1).unwrap(),
        bob.groups.send(&id, b"hi alice", T0 + 2).unwrap(),
    ];
    let seen = texts(&carol.read(&stored, T0 + 3));
    assert_eq!(
        seen,
        vec![
            (alice.id(), b"hello all".to_vec()),
            (bob.id(), b"hi alice".to_vec())
        ]
    );
    assert_eq!(
        texts(&alice.read(&stored[1..], T0 + 3)),
        vec![(bob.id(), b"hi alice".to_vec())]
    );
    assert_eq!(
        alice.groups.epoch_account(&id).unwrap().account_id(),
        carol.groups.epoch_account(&id).unwrap().account_id()
    );
}

#[test]
fn a_removed_member_with_its_whole_state_reads_nothing_stored_after_the_removal() {
    let (mut alice, mut bob, mut carol, id) = three();
    let old_write_key = carol.groups.epoch_account(&id).unwrap().account_id();
    // The thief gets everything Carol has at the moment of her removal.
    let stolen = carol.groups.export().unwrap();
    // Before the removal the stolen state reads the group (so the test can fail).
    let before = alice.groups.send(&id, b"before", T0 + 1).unwrap();
    let mut thief = Groups::import(&AccountKey::from_entropy([3; 16]), &stolen).unwrap();
    assert_eq!(texts(&thief.receive(&before, T0 + 1).unwrap()).len(), 1);
    let mut thief = Groups::import(&AccountKey::from_entropy([3; 16]), &stolen).unwrap();

    let commit = group_bytes(&alice.groups.remove(&id, &[carol.id()], T0 + 2).unwrap());
    let mut stored = commit.clone();
    // Bob sends on the old epoch while the removal settles; Alice, already on
    // the new one, still reads it.
    let late = bob
        .groups
        .send(&id, b"sent while it settled", T0 + 3)
        .unwrap();
    alice.read(&[], T0 + 2 + SETTLE_MS);
    assert_eq!(texts(&alice.read(&[late], T0 + 2 + SETTLE_MS)).len(), 1);
    bob.read(&commit, T0 + 2 + SETTLE_MS);
    let events = carol.read(&commit, T0 + 2 + SETTLE_MS);
    assert!(events.contains(&GroupEvent::Removed { group: id }));
    assert!(carol.groups.info(&id).is_err());
    assert_eq!(bob.groups.info(&id).unwrap().members.len(), 2);
    assert_ne!(
        bob.groups.epoch_account(&id).unwrap().account_id(),
        old_write_key
    );
    // What the removed member can still make, a message of the epoch it was
    // removed in, is refused by those who remain (they keep that epoch a while
    // for messages sent while the removal settled, as Bob's above).
    let mut forger = Groups::import(&AccountKey::from_entropy([3; 16]), &stolen).unwrap();
    let forged = forger.send(&id, b"still here", T0 + 3).unwrap();
    assert_eq!(
        bob.groups.receive(&forged, T0 + 3 + SETTLE_MS),
        Err(GroupError::Invalid(
            "a past epoch's message from a removed member"
        ))
    );

    stored.push(alice.groups.send(&id, b"after 1", T0 + 10_000).unwrap());
    stored.push(bob.groups.send(&id, b"after 2", T0 + 10_001).unwrap());
    stored.push(group_bytes(&alice.groups.update(&id, T0 + 10_002).unwrap()).remove(0));
    alice.read(&[], T0 + 20_000);
    // Bob reads Alice's message (his own is not for him) and her commit.
    let events = bob.read(&stored[1..], T0 + 20_000);
    assert_eq!(texts(&events), vec![(alice.id(), b"after 1".to_vec())]);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, GroupEvent::Changed { .. }))
    );
    stored.push(alice.groups.send(&id, b"after 3", T0 + 20_001).unwrap());

    let mut read = Vec::new();
    for bytes in &stored {
        if let Ok(events) = thief.receive(bytes, T0 + 30_000) {
            read.extend(texts(&events));
        }
    }
    read.extend(texts(&thief.settle(T0 + 30_000)));
    assert!(read.is_empty(), "the removed member's state read {read:?}");
}

#[test]
fn a_stolen_state_stops_reading_after_the_victims_next_commit() {
    // The victim is Bob, a member who is not an admin: his own update is the
    // one commit he may make.
    let (mut alice, mut bob, mut carol, id) = three();
    let stolen = bob.groups.export().unwrap();
    let mut thief = Groups::import(&AccountKey::from_entropy([2; 16]), &stolen).unwrap();
    // Control: a commit with no fresh keys for Bob (Alice adds Dave, no path)
    // does not shut the thief out; it follows the group like Bob does.
    let mut dave = Member::new(4);
    let add = alice
        .groups
        .add(&id, &[dave.groups.key_package().unwrap()], T0 + 1)
        .unwrap();
    let add_commit = group_bytes(&add);
    let welcome = sent(&alice.read(&[], T0 + 1 + SETTLE_MS));
    dave.join(&welcome);
    bob.read(&add_commit, T0 + 1 + SETTLE_MS);
    carol.read(&add_commit, T0 + 1 + SETTLE_MS);
    assert_eq!(
        thief.receive(&add_commit[0], T0 + 1 + SETTLE_MS).unwrap(),
        vec![]
    );
    assert_eq!(thief.settle(T0 + 1 + SETTLE_MS).len(), 1);
    let at_e = alice.groups.send(&id, b"at e+1", T0 + 5_000).unwrap();
    assert_eq!(texts(&thief.receive(&at_e, T0 + 5_000).unwrap()).len(), 1);
    bob.read(std::slice::from_ref(&at_e), T0 + 5_000);
    // Bob commits fresh key material; everyone moves on.
    let commit = group_bytes(&bob.groups.update(&id, T0 + 6_000).unwrap());
    bob.read(&[], T0 + 6_000 + SETTLE_MS);
    alice.read(&commit, T0 + 6_000 + SETTLE_MS);
    carol.read(&commit, T0 + 6_000 + SETTLE_MS);
    assert_eq!(
        alice.groups.info(&id).unwrap(),
        bob.groups.info(&id).unwrap()
    );
    let after = [
        alice
            .groups
            .send(&id, b"after the commit", T0 + 10_000)
            .unwrap(),
        carol.groups.send(&id, b"and more", T0 + 10_001).unwrap(),
    ];
    assert_eq!(texts(&bob.read(&after, T0 + 10_002)).len(), 2);
    let mut read = Vec::new();
    for bytes in commit.iter().chain(&after) {
        if let Ok(events) = thief.receive(bytes, T0 + 10_000) {
            read.extend(texts(&events));
        }
    }
    read.extend(texts(&thief.settle(T0 + 20_000)));
    assert!(read.is_empty(), "the thief read {read:?}");
}

#[test]
fn concurrent_commits_by_two_admins_end_in_one_epoch_and_member_list() {
    let (mut alice, mut bob, mut carol, id) = three();
    // Alice makes Bob an admin.
    let promote = group_bytes(&alice.groups.promote(&id, bob.id(), T0 + 1).unwrap());
    alice.read(&[], T0 + 1 + SETTLE_MS);
    bob.read(&promote, T0 + 1 + SETTLE_MS);
    carol.read(&promote, T0 + 1 + SETTLE_MS);
    let mut dave = Member::new(4);
    let mut erin = Member::new(5);
    // At the same moment Alice adds Dave and Bob adds Erin.
    let now = T0 + 10_000;
    let a = alice
        .groups
        .add(&id, &[dave.groups.key_package().unwrap()], now)
        .unwrap();
    let b = bob
        .groups
        .add(&id, &[erin.groups.key_package().unwrap()], now)
        .unwrap();
    // Two swarm members hold them in different orders; every member reads one.
    let one = [group_bytes(&a), group_bytes(&b)].concat();
    let other = [group_bytes(&b), group_bytes(&a)].concat();
    let early = now + SETTLE_MS / 2;
    assert!(
        alice
            .read(&other, early)
            .iter()
            .all(|e| !matches!(e, GroupEvent::Changed { .. }))
    );
    let settled = now + SETTLE_MS;
    let from_alice = sent(&alice.read(&[], settled));
    let from_bob = sent(&bob.read(&one, settled));
    carol.read(&other, settled);
    // The loser made its add again on the new epoch; the winner's Welcome went out.
    let mut again = group_bytes(&from_alice);
    again.extend(group_bytes(&from_bob));
    assert_eq!(again.len(), 1, "exactly one admin lost and committed again");
    let later = settled + 1;
    let late_alice = sent(&alice.read(&again, later + SETTLE_MS));
    let late_bob = sent(&bob.read(&again, later + SETTLE_MS));
    carol.read(&again, later + SETTLE_MS);
    let welcomes: Vec<Outgoing> = [from_alice, from_bob, late_alice, late_bob]
        .concat()
        .into_iter()
        .filter(|o| matches!(o, Outgoing::Welcome { .. }))
        .collect();
    dave.join(&welcomes);
    erin.join(&welcomes);
    // The one added by the first winner joined at the epoch the re-made add ends.
    dave.read(&again, later + SETTLE_MS);
    erin.read(&again, later + SETTLE_MS);
    let info = alice.groups.info(&id).unwrap();
    assert_eq!(info.members.len(), 5);
    for m in [&bob, &carol, &dave, &erin] {
        assert_eq!(m.groups.info(&id).unwrap(), info);
        assert_eq!(
            m.groups.epoch_account(&id).unwrap().account_id(),
            alice.groups.epoch_account(&id).unwrap().account_id()
        );
    }
}

#[test]
fn a_member_offline_during_three_commits_catches_up() {
    let (mut alice, mut bob, mut carol, id) = three();
    // What each epoch's account holds: its messages and the commit ending it.
    let mut by_epoch: std::collections::BTreeMap<u64, Vec<Vec<u8>>> = Default::default();
    let epoch = |m: &Member| m.groups.info(&id).unwrap().epoch;
    let mut now = T0 + 1;
    let mut dave = Member::new(4);
    let mut ops = vec![alice.groups.rename(&id, "trail crew", now).unwrap()];
    for step in 0..3 {
        let commit = group_bytes(ops.last().unwrap());
        by_epoch
            .entry(epoch(&alice))
            .or_default()
            .extend(commit.clone());
        now += SETTLE_MS;
        let out = sent(&alice.read(&[], now));
        bob.read(&commit, now);
        if step == 1 {
            dave.join(&out);
        }
        let message = bob
            .groups
            .send(&id, format!("message {step}").as_bytes(), now)
            .unwrap();
        by_epoch
            .entry(epoch(&bob))
            .or_default()
            .push(message.clone());
        alice.read(&[message], now);
        now += 1;
        match step {
            0 => ops.push(
                alice
                    .groups
                    .add(&id, &[dave.groups.key_package().unwrap()], now)
                    .unwrap(),
            ),
            1 => ops.push(alice.groups.update(&id, now).unwrap()),
            _ => {}
        }
    }
    // Carol was away for all three commits: she reads each epoch's account
    // to its end, settles, and goes on with the next, in one sitting.
    let mut events = Vec::new();
    while let Some(items) = by_epoch.get(&epoch(&carol)) {
        let before = epoch(&carol);
        events.extend(carol.read(items, now + 60_000));
        if epoch(&carol) == before {
            break;
        }
    }
    let changes = events
        .iter()
        .filter(|e| matches!(e, GroupEvent::Changed { .. }))
        .count();
    assert_eq!(changes, 3);
    assert_eq!(texts(&events).len(), 3);
    let info = carol.groups.info(&id).unwrap();
    assert_eq!(info.meta.name, "trail crew");
    assert_eq!(info, alice.groups.info(&id).unwrap());
    assert!(info.members.contains(&dave.id()));
}

#[test]
fn a_member_that_leaves_is_removed_by_an_admin_even_across_an_epoch() {
    let (mut alice, mut bob, mut carol, id) = three();
    // Alice renames the group while Carol's leave is on its way: the
    // proposal is for an epoch Alice has left, so it does not count.
    let rename = group_bytes(&alice.groups.rename(&id, "two of us", T0 + 1).unwrap());
    let proposal = carol.groups.leave(&id, T0 + 1).unwrap();
    assert!(carol.groups.list().is_empty());
    assert!(carol.groups.send(&id, b"still here?", T0 + 2).is_err());
    alice.read(&[], T0 + 1 + SETTLE_MS);
    bob.read(&rename, T0 + 1 + SETTLE_MS);
    assert!(alice.groups.receive(&proposal, T0 + 1 + SETTLE_MS).is_err());
    // Carol follows the rename and proposes again on the new epoch.
    let again = group_bytes(&sent(&carol.read(&rename, T0 + 1 + SETTLE_MS)));
    assert_eq!(again.len(), 1);
    let events = alice.read(&again, T0 + 2 + SETTLE_MS);
    assert!(events.contains(&GroupEvent::LeaveRequested {
        group: id,
        member: carol.id()
    }));
    let commit = group_bytes(&sent(&events));
    assert_eq!(commit.len(), 1);
    bob.read(
        &[again[0].clone(), commit[0].clone()],
        T0 + 3 + 2 * SETTLE_MS,
    );
    alice.read(&[], T0 + 3 + 2 * SETTLE_MS);
    let gone = carol.read(&commit, T0 + 3 + 2 * SETTLE_MS);
    assert!(gone.contains(&GroupEvent::Removed { group: id }));
    assert!(carol.groups.info(&id).is_err());
    assert_eq!(
        bob.groups.info(&id).unwrap().members,
        alice.groups.info(&id).unwrap().members
    );
    assert!(!bob.groups.info(&id).unwrap().members.contains(&carol.id()));
}

#[test]
fn members_who_are_not_admins_cannot_commit_and_the_last_admin_cannot_leave() {
    let (mut alice, mut bob, _carol, id) = three();
    assert_eq!(
        bob.groups.rename(&id, "mine", T0 + 1),
        Err(GroupError::NotAdmin)
    );
    assert!(matches!(
        alice.groups.leave(&id, T0 + 1),
        Err(GroupError::Invalid(_))
    ));
}

#[test]
fn a_key_package_whose_leaf_the_account_did_not_sign_is_refused() {
    let mut alice = Member::new(1);
    let mut bob = Member::new(2);
    let good = bob.groups.key_package().unwrap();
    // Flipping a byte inside the credential's account signature breaks the binding
    // (and openmls' own signature over the leaf, whichever is checked first).
    let mut bad = good.clone();
    let at = bad
        .windows(32)
        .position(|w| w == bob.id().as_bytes())
        .expect("account id in the package");
    bad[at + 40] ^= 1;
    let (id, _) = alice.groups.create("g", &[], T0).unwrap();
    assert!(alice.groups.add(&id, &[bad], T0 + 1).is_err());
    assert!(alice.groups.add(&id, &[good], T0 + 1).is_ok());
}

#[test]
fn state_written_out_and_read_back_goes_on_working() {
    let (alice, mut bob, _carol, id) = three();
    let bytes = alice.groups.export().unwrap();
    let mut restored = Groups::import(&alice.key, &bytes).unwrap();
    assert_eq!(restored.info(&id).unwrap(), alice.groups.info(&id).unwrap());
    let message = restored.send(&id, b"after restart", T0 + 5).unwrap();
    assert_eq!(
        texts(&bob.read(&[message], T0 + 5)),
        vec![(alice.id(), b"after restart".to_vec())]
    );
}

/// Bob's update commit whose new leaf carries `identity` as its credential
/// under his own leaf key.
fn update_claiming(bob: &mut Member, id: &GroupId, identity: Vec<u8>) -> Vec<u8> {
    use openmls::prelude::tls_codec::Serialize as _;
    use openmls::prelude::{BasicCredential, CredentialWithKey, LeafNodeParameters};
    use openmls_traits::OpenMlsProvider as _;

    let forged = CredentialWithKey {
        credential: BasicCredential::new(identity).into(),
        signature_key: bob.groups.identity.credential_with_key().signature_key,
    };
    let groups = &mut bob.groups;
    let held = groups.groups.get_mut(id).unwrap();
    held.mls
        .clear_pending_commit(groups.provider.storage())
        .unwrap();
    held.mls.set_aad(engine::aad(T0 + 1));
    let bundle = held
        .mls
        .commit_builder()
        .force_self_update(true)
        .leaf_node_parameters(
            LeafNodeParameters::builder()
                .with_credential_with_key(forged)
                .build(),
        )
        .load_psks(groups.provider.storage())
        .unwrap()
        .build(
            groups.provider.rand(),
            groups.provider.crypto(),
            &groups.identity,
            |_| true,
        )
        .unwrap()
        .stage_commit(&groups.provider)
        .unwrap();
    bundle.into_commit().tls_serialize_detached().unwrap()
}

#[test]
fn a_member_update_whose_new_leaf_claims_another_account_is_refused() {
    let (mut alice, mut bob, _carol, id) = three();
    let bob_leaf = bob.groups.identity.credential_with_key().signature_key;
    // Alice's id with a signature that is not hers.
    let mut junk = alice.id().as_bytes().to_vec();
    junk.extend_from_slice(&[0u8; 64]);
    let bytes = update_claiming(&mut bob, &id, junk);
    assert_eq!(
        alice.groups.receive(&bytes, T0 + 1),
        Err(GroupError::BadCredential(
            "the account did not sign this leaf key"
        ))
    );
    // Another account Bob holds really did sign his leaf key: still not his.
    let other = AccountKey::from_entropy([9; 16]);
    let mut signed = identity::LEAF_BINDING_DOMAIN.to_vec();
    signed.extend_from_slice(bob_leaf.as_slice());
    let mut claim = other.account_id().as_bytes().to_vec();
    claim.extend_from_slice(&other.sign(&signed));
    let bytes = update_claiming(&mut bob, &id, claim);
    assert_eq!(
        alice.groups.receive(&bytes, T0 + 1),
        Err(GroupError::BadCredential(
            "a commit's new leaf names another account"
        ))
    );
    // Bob's honest update is taken.
    bob.groups
        .groups
        .get_mut(&id)
        .unwrap()
        .mls
        .clear_pending_commit(openmls_traits::OpenMlsProvider::storage(
            &bob.groups.provider,
        ))
        .unwrap();
    let update = group_bytes(&bob.groups.update(&id, T0 + 2).unwrap());
    assert_eq!(alice.groups.receive(&update[0], T0 + 2), Ok(vec![]));
}

#[test]
fn a_members_update_never_beats_an_admins_commit_in_its_window() {
    let (mut alice, mut bob, mut carol, id) = three();
    // Bob's update is made before Alice's rename, in the same window: the
    // rename still wins for everyone.
    let early = group_bytes(&bob.groups.update(&id, T0).unwrap());
    let rename = group_bytes(&alice.groups.rename(&id, "renamed", T0 + 1).unwrap());
    let now = T0 + 1 + SETTLE_MS;
    let from_bob = sent(&bob.read(&rename, now));
    carol.read(&[early[0].clone(), rename[0].clone()], now);
    alice.read(&early, now);
    for m in [&alice, &bob, &carol] {
        assert_eq!(m.groups.info(&id).unwrap().meta.name, "renamed");
    }
    // Bob lost and updated again on the new epoch.
    let again = group_bytes(&from_bob);
    assert_eq!(again.len(), 1);
    let later = now + 1 + SETTLE_MS;
    alice.read(&again, later);
    carol.read(&again, later);
    bob.read(&[], later);
    let info = alice.groups.info(&id).unwrap();
    assert_eq!(bob.groups.info(&id).unwrap(), info);
    assert_eq!(carol.groups.info(&id).unwrap(), info);
}

#[test]
fn an_account_holds_at_most_max_groups() {
    let mut alice = Member::new(1);
    for i in 0..MAX_GROUPS {
        alice.groups.create(&format!("g{i}"), &[], T0).unwrap();
    }
    assert_eq!(
        alice.groups.create("one more", &[], T0),
        Err(GroupError::Invalid("this account is in 500 groups already"))
    );
    // Joining is refused the same way, before the Welcome is even read.
    assert_eq!(
        alice.groups.join(b"not even a welcome"),
        Err(GroupError::Invalid("this account is in 500 groups already"))
    );
}
