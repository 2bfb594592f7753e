//! Cost of the group operations at the largest group (1,000 members):
//!
//! - `add`: an admin's commit adding one member to 999 (with its Welcome);
//! - `remove`: an admin's commit removing one of 1,000;
//! - `send`: encrypting one 200-byte message;
//! - `process_commit`: a member handling another admin's commit (decrypt,
//!   verify, stage).
//!
//! Before timing it prints the sizes a member's network carries: the commit
//! of each operation, the Welcome a new member gets (it holds the whole
//! ratchet tree), a message, and the state an admin and a member keep
//! (`cargo bench -p sotto-client --bench groups`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::hint::black_box;

use criterion::{BatchSize, Criterion};
use sotto_client::group::{GroupId, Groups, Outgoing};
use sotto_protocol::AccountKey;

const T0: u64 = 1_800_000_000_000;

fn key(i: u32) -> AccountKey {
    let mut entropy = [0u8; 16];
    entropy[..4].copy_from_slice(&i.to_le_bytes());
    entropy[4] = 0x5a;
    AccountKey::from_entropy(entropy)
}

fn group_bytes(out: &[Outgoing]) -> Vec<u8> {
    out.iter()
        .find_map(|o| match o {
            Outgoing::Group(b) => Some(b.clone()),
            _ => None,
        })
        .expect("a commit")
}

fn welcome_bytes(out: &[Outgoing]) -> Vec<u8> {
    out.iter()
        .find_map(|o| match o {
            Outgoing::Welcome { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .expect("a welcome")
}

/// An admin and one member (Bob) of a 999-member group, a key package for the
/// 1,000th and the other members' ids.
fn setup() -> (
    Groups,
    Groups,
    AccountKey,
    GroupId,
    Vec<u8>,
    Vec<sotto_protocol::AccountId>,
) {
    let admin_key = key(0);
    let mut admin = Groups::new(&admin_key);
    let bob_key = key(1);
    let mut bob = Groups::new(&bob_key);
    let mut packages = vec![bob.key_package().unwrap()];
    let mut others = Vec::new();
    for i in 2..999 {
        let k = key(i);
        others.push(k.account_id());
        packages.push(Groups::new(&k).key_package().unwrap());
    }
    let (id, out) = admin.create("bench", &packages, T0).unwrap();
    let welcome = welcome_bytes(&out);
    bob.join(&welcome).unwrap();
    let mut newcomer = Groups::new(&key(999));
    let package = newcomer.key_package().unwrap();
    eprintln!(
        "groups: 999-member welcome {} bytes; state kept by the admin {} bytes, by a member {} bytes",
        welcome.len(),
        admin.export().unwrap().len(),
        bob.export().unwrap().len()
    );
    (admin, bob, bob_key, id, package, others)
}

fn bench(c: &mut Criterion) {
    let (mut admin, bob, bob_key, id, package, others) = setup();

    let out = admin
        .add(&id, std::slice::from_ref(&package), T0 + 1)
        .unwrap();
    let add_commit = group_bytes(&out);
    admin.discard_pending(&id).unwrap();
    let remove_commit = group_bytes(&admin.remove(&id, &others[..1], T0 + 1).unwrap());
    admin.discard_pending(&id).unwrap();
    let message = admin.send(&id, &[7u8; 200], T0 + 1).unwrap();
    eprintln!(
        "groups: add commit {} bytes, remove commit {} bytes, 200-byte message {} bytes",
        add_commit.len(),
        remove_commit.len(),
        message.len()
    );

    c.bench_function("groups/add_one_to_999", |b| {
        b.iter(|| {
            let out = admin
                .add(&id, std::slice::from_ref(&package), T0 + 2)
                .unwrap();
            admin.discard_pending(&id).unwrap();
            black_box(out)
        })
    });
    c.bench_function("groups/remove_one_of_999", |b| {
        b.iter(|| {
            let out = admin.remove(&id, &others[..1], T0 + 2).unwrap();
            admin.discard_pending(&id).unwrap();
            black_box(out)
        })
    });
    c.bench_function("groups/send_200_bytes", |b| {
        b.iter(|| black_box(admin.send(&id, &[7u8; 200], T0 + 2).unwrap()))
    });
    let bob_state = bob.export().unwrap();
    c.bench_function("groups/process_commit_in_999", |b| {
        b.iter_batched(
            || Groups::import(&bob_key, &bob_state).unwrap(),
            |mut bob| black_box(bob.receive(&remove_commit, T0 + 3).unwrap()),
            BatchSize::LargeInput,
        )
    });
}

fn main() {
    let mut c = Criterion::default().sample_size(10).configure_from_args();
    bench(&mut c);
    c.final_summary();
}
