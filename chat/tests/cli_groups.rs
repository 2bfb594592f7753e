//! Groups through the real `sotto` binary against real `sotto-node`
//! processes on loopback (issue 18): Alice creates a group with two
//! contacts, everyone reads it in `inbox` (`[NAME] sender: text`, and
//! `"group"` in JSON), a stranger's invitation waits until it is accepted,
//! and a removed member stops getting the group's messages.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::field_reassign_with_default
)]

#[path = "support/devnet.rs"]
mod devnet;
#[path = "support/user.rs"]
mod user;

use std::time::Instant;

use user::{SOTTO, User};

/// `group list --json`, parsed.
fn groups(u: &User) -> Vec<serde_json::Value> {
    u.ok(&["group", "list", "--json"])
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs `inbox --json --wait 30` until a line with `text` comes (at most
/// three times: each run gives the group task 30 s); all lines read.
fn inbox_until(u: &User, text: &str) -> Vec<serde_json::Value> {
    let mut all = Vec::new();
    for _ in 0..3 {
        all.extend(u.inbox());
        if all.iter().any(|m| m["text"] == text) {
            return all;
        }
    }
    panic!("{text:?} never came; read {all:?}\nlog: {}", u.log());
}

#[test]
fn a_group_over_real_nodes() {
    let started = Instant::now();
    let nodes = devnet::start(SOTTO);
    let net_dir = tempfile::tempdir().unwrap();
    let bootstrap = devnet::bootstrap_file(&nodes, net_dir.path());

    let alice = User::new(&bootstrap);
    let bob = User::new(&bootstrap);
    let carol = User::new(&bootstrap);
    let dave = User::new(&bootstrap);
    let alice_id = alice.init("Alice");
    let bob_id = bob.init("Bob");
    let carol_id = carol.init("Carol");
    let dave_id = dave.init("Dave");
    for (who, name) in [(&bob_id, "bob"), (&carol_id, "carol"), (&dave_id, "dave")] {
        alice.ok(&["contacts", "add", who, "--name", name]);
    }
    // Bob and Carol know Alice: her invitation is joined at once. Dave does
    // not: his waits as a request.
    bob.ok(&["contacts", "add", &alice_id, "--name", "alice"]);
    carol.ok(&["contacts", "add", &alice_id, "--name", "alice"]);

    let created = alice.ok(&[
        "group", "create", "club", "--member", "bob", "--member", "carol",
    ]);
    assert!(created.contains("Created club"), "{created}");
    let list = groups(&alice);
    assert_eq!(list.len(), 1, "{list:?}");
    let gid = list[0]["id"].as_str().unwrap().to_string();
    assert_eq!(list[0]["members"], 3);
    assert_eq!(list[0]["admins"][0], alice_id.as_str());

    let sent = alice.ok(&["send", "club", "hello club"]);
    assert!(sent.contains("Sent to club"), "{sent}");

    // Bob: JSON with the group's id.
    let lines = inbox_until(&bob, "hello club");
    let m = lines.iter().find(|m| m["text"] == "hello club").unwrap();
    assert_eq!(m["group"], gid.as_str());
    assert_eq!(m["from"], alice_id.as_str());
    assert_eq!(groups(&bob).len(), 1);
    // Carol: the plain form, `[NAME] sender: text`.
    let mut plain = String::new();
    for _ in 0..3 {
        plain.push_str(&carol.ok(&["inbox", "--wait", "30"]));
        if plain.contains("hello club") {
            break;
        }
    }
    assert!(plain.contains("[club] alice: hello club"), "{plain}");
    // Shown once: a second inbox has nothing new.
    assert!(carol.ok(&["inbox"]).contains("No new messages"));

    // Bob answers; `history` shows the group conversation.
    bob.ok(&["send", "club", "hi from bob"]);
    inbox_until(&alice, "hi from bob");
    let history = alice.ok(&["history", "club"]);
    assert!(
        history.contains("you: hello club") && history.contains("bob: hi from bob"),
        "{history}"
    );

    // Dave, a stranger to Alice: the invitation waits in `group invites`.
    let added = alice.ok(&["group", "add", "club", "dave"]);
    assert!(added.contains("Added dave"), "{added}");
    let mut invites = Vec::new();
    for _ in 0..6 {
        dave.ok(&["inbox", "--wait", "5"]);
        invites = dave
            .ok(&["group", "invites", "--json"])
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .collect();
        if !invites.is_empty() {
            break;
        }
    }
    assert_eq!(invites.len(), 1, "no invitation came: {}", dave.log());
    assert_eq!(invites[0]["from"], alice_id.as_str());
    assert!(
        groups(&dave).is_empty(),
        "nothing is joined before accepting"
    );
    let invite_id = invites[0]["id"].as_str().unwrap();
    let joined = dave.ok(&["group", "accept", invite_id]);
    assert!(joined.contains("Joined club"), "{joined}");

    // Carol is removed; what follows reaches Bob and Dave, not her.
    let removed = alice.ok(&["group", "remove", "club", "carol"]);
    assert!(removed.contains("Removed carol"), "{removed}");
    let info = alice.ok(&["group", "info", "club", "--json"]);
    let info: serde_json::Value = serde_json::from_str(info.trim()).unwrap();
    let members: Vec<&str> = info["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(members.len(), 3, "{info}");
    assert!(!members.contains(&carol_id.as_str()), "{info}");
    alice.ok(&["send", "club", "without carol"]);
    inbox_until(&bob, "without carol");
    inbox_until(&dave, "without carol");
    // Carol's client applies her removal (the group is gone from her list)
    // and never reads what came after it.
    let mut after = Vec::new();
    for _ in 0..6 {
        after.extend(
            carol
                .ok(&["inbox", "--json", "--wait", "5"])
                .lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()),
        );
        if groups(&carol).is_empty() {
            break;
        }
    }
    assert!(groups(&carol).is_empty(), "{}", carol.log());
    assert!(
        after.iter().all(|m| m["text"] != "without carol"),
        "{after:?}"
    );

    eprintln!("the group test took {:?}", started.elapsed());
}
