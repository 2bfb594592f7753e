//! The `group` fuzz corpus (`fuzz/corpus/group/`) replayed as a test through the
//! target function the `cargo fuzz` binary calls (`fuzz/src/group.rs`), against
//! the committed fixture (`fuzz/fixtures/group/`), and the seeds: a member's
//! message, a member's own update commit, a leave proposal, a message of the
//! next epoch, a Welcome for Dave, Dave's key package and a message as a node
//! stores it (sealed for the epoch account), with truncated and
//! bit-flipped copies. `SOTTO_REGENERATE_CORPUS=1 cargo test -p sotto-client
//! --test fuzz_group_corpus` makes a new fixture and rewrites the `seed-*`
//! files to match it (MLS keys are random: old seeds do not open against a
//! new fixture).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code, reason = "the fuzz crate's file; this test uses part of it")]
#[path = "../../fuzz/src/replay.rs"]
mod replay;
#[path = "../../fuzz/src/group.rs"]
mod target;

use std::fs;
use std::path::{Path, PathBuf};

use sotto_client::group::{GroupEvent, Groups, Outgoing};
use sotto_protocol::AccountKey;
use target::{ALICE, DAVE, Fixture, NOW};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/fixtures/group")
}

fn with_selector(selector: u8, bytes: Vec<u8>) -> Vec<u8> {
    let mut v = vec![selector];
    v.extend(bytes);
    v
}

fn only_group(out: Vec<Outgoing>) -> Vec<u8> {
    out.into_iter()
        .find_map(|o| match o {
            Outgoing::Group(b) => Some(b),
            _ => None,
        })
        .unwrap()
}

/// Named seed inputs.
type Seeds = Vec<(&'static str, Vec<u8>)>;

/// A fresh fixture (Alice's and Dave's states) and the seeds made against it.
fn make() -> (Vec<u8>, Vec<u8>, Seeds) {
    let alice_key = AccountKey::from_entropy(ALICE);
    let mut alice = Groups::new(&alice_key);
    let mut bob = Groups::new(&AccountKey::from_entropy([2; 16]));
    let mut carol = Groups::new(&AccountKey::from_entropy([3; 16]));
    let dave_key = AccountKey::from_entropy(DAVE);
    let mut dave = Groups::new(&dave_key);
    let packages = vec![bob.key_package().unwrap(), carol.key_package().unwrap()];
    let (id, out) = alice.create("fuzz", &packages, NOW).unwrap();
    let welcome = |out: &[Outgoing]| {
        out.iter()
            .find_map(|o| match o {
                Outgoing::Welcome { bytes, .. } => Some(bytes.clone()),
                _ => None,
            })
            .unwrap()
    };
    bob.join(&welcome(&out)).unwrap();
    carol.join(&welcome(&out)).unwrap();
    let for_welcome = dave.key_package().unwrap();
    let for_add = dave.key_package().unwrap();
    let dave_state = dave.export().unwrap();
    let alice_state = alice.export().unwrap();

    // A Welcome for Dave from a copy of Alice that added him.
    let mut copy = Groups::import(&alice_key, &alice_state).unwrap();
    copy.add(&id, &[for_welcome], NOW).unwrap();
    let events = copy.settle(NOW + 60_000);
    let dave_welcome = events
        .iter()
        .find_map(|e| match e {
            GroupEvent::Send(Outgoing::Welcome { bytes, .. }) => Some(bytes.clone()),
            _ => None,
        })
        .unwrap();

    let message = bob.send(&id, b"a message from bob", NOW).unwrap();
    let leave = carol.leave(&id, NOW).unwrap();
    let update = only_group(bob.update(&id, NOW).unwrap());
    bob.settle(NOW + 60_000);
    let next_epoch = bob.send(&id, b"after bob's update", NOW + 60_000).unwrap();
    let epoch = alice.epoch_account(&id).unwrap();
    let stored = sotto_client::group::wrap::seal(&epoch, &message).unwrap();
    let seeds = vec![
        ("message", with_selector(0, message)),
        ("leave", with_selector(0, leave)),
        ("update", with_selector(0, update)),
        ("next-epoch", with_selector(0, next_epoch)),
        ("welcome", with_selector(1, dave_welcome)),
        ("key-package", with_selector(2, for_add)),
        ("stored-message", with_selector(3, stored)),
    ];
    (alice_state, dave_state, seeds)
}

fn variants(data: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let flip = |at: usize| {
        let mut d = data.to_vec();
        if let Some(b) = d.get_mut(at) {
            *b ^= 0x01;
        }
        d
    };
    vec![
        ("short", data[..data.len() - 1].to_vec()),
        ("flip-start", flip(3)),
        ("flip-middle", flip(data.len() / 2)),
    ]
}

#[test]
fn seeds_are_accepted_against_their_fixture() {
    let regenerate = std::env::var("SOTTO_REGENERATE_CORPUS").as_deref() == Ok("1");
    let (alice, dave, seeds) = make();
    if regenerate {
        fs::create_dir_all(fixture_dir()).unwrap();
        fs::write(fixture_dir().join("alice.bin"), &alice).unwrap();
        fs::write(fixture_dir().join("dave.bin"), &dave).unwrap();
    }
    let fixture = Fixture::from_states(alice, dave);
    let corpus = replay::corpus_dir(env!("CARGO_MANIFEST_DIR"), "group");
    for (i, (name, data)) in seeds.iter().enumerate() {
        // The next-epoch message waits for a commit Alice has not seen:
        // taken (buffered), not read.
        assert!(target::group(data, &fixture), "seed {name} is refused");
        if regenerate {
            fs::create_dir_all(&corpus).unwrap();
            fs::write(corpus.join(format!("seed-{i:02}-{name}")), data).unwrap();
            for (variant, bytes) in variants(data) {
                let _ = target::group(&bytes, &fixture);
                fs::write(corpus.join(format!("seed-{i:02}-{name}-{variant}")), bytes).unwrap();
            }
        }
    }
}

#[test]
fn replay_group() {
    let fixture = Fixture::load(&fixture_dir()).expect("fuzz/fixtures/group");
    let dir = replay::corpus_dir(env!("CARGO_MANIFEST_DIR"), "group");
    let (accepted, total) = replay::replay("group", &dir, |data| target::group(data, &fixture));
    // Every seed itself is accepted; the mutated copies mostly are not.
    assert!(accepted >= 7, "{accepted} of {total} accepted");
}
