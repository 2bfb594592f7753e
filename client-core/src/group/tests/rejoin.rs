//! Adding a member that fell behind again (`Groups::readd`).

use super::*;

#[test]
fn a_member_added_again_replaces_its_old_state_and_reads_on() {
    let (mut alice, mut bob, mut carol, id) = three();
    let before = alice.groups.info(&id).unwrap();
    // Bob's stale state: it will not see the commit below.
    let package = bob.groups.last_resort_key_package().unwrap();
    let out = alice.groups.readd(&id, bob.id(), &package, T0 + 1).unwrap();
    let commit = group_bytes(&out);
    let events = alice.read(&commit, T0 + 10_000);
    let welcome = sent(&events);
    assert_eq!(bob.groups.rejoin(&welcome_bytes(&welcome), &id), Ok(id));
    carol.read(&commit, T0 + 10_000);
    let after = alice.groups.info(&id).unwrap();
    assert_eq!(after.members, before.members);
    assert!(after.epoch > before.epoch);
    assert_eq!(bob.groups.info(&id).unwrap(), after);
    assert_eq!(carol.groups.info(&id).unwrap(), after);
    let hello = vec![
        alice
            .groups
            .send(&id, b"welcome back", T0 + 10_001)
            .unwrap(),
    ];
    assert_eq!(texts(&bob.read(&hello, T0 + 10_002)).len(), 1);
    // The same Welcome again (a replay) changes nothing.
    assert!(bob.groups.rejoin(&welcome_bytes(&welcome), &id).is_err());
    assert!(bob.groups.join(&welcome_bytes(&welcome)).is_err());
    assert_eq!(bob.groups.info(&id).unwrap(), after);
}

fn welcome_bytes(out: &[Outgoing]) -> Vec<u8> {
    out.iter()
        .find_map(|o| match o {
            Outgoing::Welcome { bytes, .. } => Some(bytes.clone()),
            _ => None,
        })
        .unwrap()
}
