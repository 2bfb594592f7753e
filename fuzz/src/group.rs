//! The group fuzz target: what a group's swarm, an inbox or a directory of key
//! packages hands the MLS engine (`sotto_client::group`), shared by the
//! `cargo fuzz` binary and `client-core/tests/fuzz_group_corpus.rs`.
//!
//! MLS keys are random, so seeds made in one run would not open in another.
//! The fixture is therefore a pair of exported account states committed in
//! `fuzz/fixtures/group/` (written by the corpus test with
//! `SOTTO_REGENERATE_CORPUS=1`): Alice, admin of a group with Bob and Carol,
//! and Dave, holding one unused key package. The seeds were made by those
//! members, so they decrypt against the fixture in every run, and mutations
//! reach the engine's handling behind the cryptography (epochs, senders,
//! proposals, commits, Welcome checks).

use std::path::Path;

use sotto_client::group::Groups;
use sotto_protocol::AccountKey;

/// Fixed clock of the fixture (unix ms).
pub const NOW: u64 = 1_800_000_000_000;
/// Alice's account entropy (the admin).
pub const ALICE: [u8; 16] = [1; 16];
/// Dave's account entropy (holds a key package, in no group).
pub const DAVE: [u8; 16] = [4; 16];

/// The exported states the target starts every input from.
pub struct Fixture {
    alice: Vec<u8>,
    dave: Vec<u8>,
}

impl Fixture {
    /// Reads the fixture from `dir` (`fuzz/fixtures/group`).
    pub fn load(dir: &Path) -> std::io::Result<Self> {
        Ok(Self {
            alice: std::fs::read(dir.join("alice.bin"))?,
            dave: std::fs::read(dir.join("dave.bin"))?,
        })
    }

    /// A fixture from states held in memory (the seed generator's).
    pub fn from_states(alice: Vec<u8>, dave: Vec<u8>) -> Self {
        Self { alice, dave }
    }
}

/// The first byte picks what the rest is: 0 a message from the group's swarm
/// handed to Alice (`Groups::receive`, then `settle` well after), 1 a Welcome
/// handed to Dave (`Groups::join`), 3 an item as a node returns it from the
/// epoch account (`wrap::open` under Alice's epoch account, then what opens
/// to `Groups::receive`), 4 a Welcome that would replace Alice's state of
/// her group (`Groups::rejoin`: refused, it must leave the state as it was),
/// anything else a key package Alice adds (`Groups::add`). Every input starts from a fresh copy of the fixture.
/// Accepted: the engine took it (a message read, a group joined, a commit made).
pub fn group(data: &[u8], fixture: &Fixture) -> bool {
    let Some((&selector, input)) = data.split_first() else {
        return false;
    };
    match selector {
        0 => {
            let Ok(mut alice) = Groups::import(&AccountKey::from_entropy(ALICE), &fixture.alice)
            else {
                return false;
            };
            let taken = alice.receive(input, NOW).is_ok();
            let _ = alice.settle(NOW + 60_000);
            // The engine must still list its groups and say where they live.
            for info in alice.list() {
                let _ = alice.epoch_account(&info.id);
            }
            taken
        }
        1 => {
            let Ok(mut dave) = Groups::import(&AccountKey::from_entropy(DAVE), &fixture.dave)
            else {
                return false;
            };
            match dave.join(input) {
                Ok(id) => {
                    assert!(dave.info(&id).is_ok(), "a joined group has no info");
                    true
                }
                Err(_) => false,
            }
        }
        3 => {
            let Ok(mut alice) = Groups::import(&AccountKey::from_entropy(ALICE), &fixture.alice)
            else {
                return false;
            };
            let Some(info) = alice.list().into_iter().next() else {
                return false;
            };
            let Ok(epoch) = alice.epoch_account(&info.id) else {
                return false;
            };
            match sotto_client::group::wrap::open(&epoch, input) {
                Ok(message) => {
                    let _ = alice.receive(&message, NOW);
                    true
                }
                Err(_) => false,
            }
        }
        4 => {
            let Ok(mut alice) = Groups::import(&AccountKey::from_entropy(ALICE), &fixture.alice)
            else {
                return false;
            };
            let Some(info) = alice.list().into_iter().next() else {
                return false;
            };
            match alice.rejoin(input, &info.id) {
                Ok(_) => true,
                Err(_) => {
                    // A refused Welcome leaves the old state as it was.
                    assert_eq!(
                        alice.info(&info.id).ok(),
                        Some(info),
                        "rejoin lost the state"
                    );
                    false
                }
            }
        }
        _ => {
            let Ok(mut alice) = Groups::import(&AccountKey::from_entropy(ALICE), &fixture.alice)
            else {
                return false;
            };
            let Some(info) = alice.list().into_iter().next() else {
                return false;
            };
            alice
                .add(&info.id, &[input.to_vec()], NOW)
                .is_ok_and(|out| !out.is_empty())
        }
    }
}
