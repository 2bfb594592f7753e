//! The real `sotto` binary against real `sotto-node` processes on loopback
//! (issue 5, part 4): two users init, add each other, send, read the inbox as
//! JSON; a stranger's message is a request, which is then accepted; a file
//! and a location go through the nodes (issue 16).

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

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use user::{SOTTO, User};

#[test]
fn two_users_and_a_stranger_over_real_nodes() {
    let started = Instant::now();
    let nodes = devnet::start(SOTTO);
    let net_dir = tempfile::tempdir().unwrap();
    let bootstrap = devnet::bootstrap_file(&nodes, net_dir.path());

    let alice = User::new(&bootstrap);
    let bob = User::new(&bootstrap);
    let carol = User::new(&bootstrap);
    let alice_id = alice.init("Alice");
    let bob_id = bob.init("Bob");
    let carol_id = carol.init("Carol");

    // Issue 11, item 1: the devnet's nodes given to a client on the public
    // network: said at once, by name, with the flag to use.
    let dave = User::new(&bootstrap);
    dave.init("Dave");
    let wrong = dave.run(
        &[
            "--network",
            "public",
            "send",
            &bob_id,
            "hello?",
            "--timeout",
            "10m",
        ],
        Duration::from_secs(90),
    );
    let err = String::from_utf8_lossy(&wrong.stderr);
    assert_eq!(wrong.status.code(), Some(2), "{err}");
    assert!(
        err.contains("network \"devnet\"")
            && err.contains("on \"public\"")
            && err.contains("--network devnet"),
        "{err}"
    );

    // A second init on the same home is refused with a reason.
    let again = alice.run(&["init"], Duration::from_secs(20));
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds an account"));

    alice.ok(&["contacts", "add", &bob_id, "--name", "bob"]);
    bob.ok(&["contacts", "add", &alice_id, "--name", "alice"]);
    let contacts = alice.ok(&["contacts", "list", "--json"]);
    assert!(
        contacts.contains(&bob_id) && contacts.contains("\"title\":\"bob\""),
        "{contacts}"
    );

    // A bad contact name fails with a message and the usage exit code.
    let bad = alice.run(&["send", "nobody", "x"], Duration::from_secs(20));
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("nobody"));

    let t = Instant::now();
    let sent = alice.ok(&["send", "bob", "hello bob", "--timeout", "60s"]);
    assert!(sent.contains("Sent to bob"), "{sent}");
    eprintln!("alice's send returned after {:?}", t.elapsed());

    let t = Instant::now();
    let inbox = bob.inbox();
    eprintln!(
        "bob's inbox returned {} line(s) after {:?}",
        inbox.len(),
        t.elapsed()
    );
    let m = inbox
        .iter()
        .find(|m| m["text"] == "hello bob")
        .unwrap_or_else(|| panic!("no message in {inbox:?}"));
    assert_eq!(m["from"], alice_id.as_str());
    assert_eq!(m["request"], false);
    assert!(m["sent_at"].as_u64().unwrap() > 0);
    let id = m["id"].as_str().unwrap();
    assert_eq!(id.len(), 32);
    assert!(id.chars().all(|c| c.is_ascii_hexdigit()));

    // Issue 11, item 2: while Alice's `inbox --wait` holds her home, her
    // other commands run through it, with the output they have directly.
    let mut holder = Command::new(SOTTO)
        .arg("--home")
        .arg(alice.home.path())
        .args(["inbox", "--json", "--wait", "120"])
        .env("SOTTO_NETWORK", "devnet")
        .env("SOTTO_BOOTSTRAP", &bootstrap)
        .env_remove("SOTTO_HOME")
        .env_remove("SOTTO_PASSPHRASE")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let socket = alice.home.path().join("sotto.sock");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !socket.exists() {
        assert!(holder.try_wait().unwrap().is_none(), "{}", alice.log());
        assert!(
            Instant::now() < deadline,
            "the holder never served its socket"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(alice.ok(&["id"]).trim(), alice_id);
    // Bob's display name may arrive meanwhile (his receipts carry his
    // profile, and the holder is receiving): compare everything else.
    let without_name = |text: &str| -> Vec<serde_json::Value> {
        text.lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                v.as_object_mut().unwrap().remove("display_name");
                v
            })
            .collect()
    };
    assert_eq!(
        without_name(&alice.ok(&["contacts", "list", "--json"])),
        without_name(&contacts)
    );
    let sent = alice.ok(&["send", "bob", "through the holder", "--timeout", "60s"]);
    assert!(
        sent.starts_with("Sent to bob (") && sent.contains("); message id "),
        "{sent}"
    );
    assert!(holder.try_wait().unwrap().is_none(), "the home stayed held");
    let inbox = bob.inbox();
    assert!(
        inbox.iter().any(|m| m["text"] == "through the holder"),
        "{inbox:?}"
    );
    // Bob answers: the holder's own `inbox` prints it and ends.
    bob.ok(&["send", "alice", "got it", "--timeout", "60s"]);
    let deadline = Instant::now() + Duration::from_secs(120);
    while holder.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "the holder's inbox never ended");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = holder.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("\"text\":\"got it\""),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!socket.exists(), "the socket goes with the holder");

    // Carol is not Bob's contact: her message is a request.
    carol.ok(&["send", &bob_id, "hi, it's carol", "--timeout", "60s"]);
    let inbox = bob.inbox();
    let m = inbox
        .iter()
        .find(|m| m["text"] == "hi, it's carol")
        .unwrap_or_else(|| panic!("no request in {inbox:?}"));
    assert_eq!(m["from"], carol_id.as_str());
    assert_eq!(m["request"], true);
    // What was shown once is not shown again.
    assert!(!bob.ok(&["inbox", "--json"]).contains("hi, it's carol"));

    // Issue 11, items 5 and 6: each side's history, with states; what
    // `inbox` printed is read.
    let lines = |out: String| -> Vec<serde_json::Value> {
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let sent = lines(alice.ok(&["history", "bob", "--json"]));
    let hello = sent.iter().find(|m| m["text"] == "hello bob").unwrap();
    assert_eq!(hello["direction"], "out");
    assert!(
        ["sent", "delivered", "read"].contains(&hello["state"].as_str().unwrap()),
        "{hello}"
    );
    let got = lines(bob.ok(&["history", "alice", "--json"]));
    let hello = got.iter().find(|m| m["text"] == "hello bob").unwrap();
    assert_eq!(hello["direction"], "in");
    assert_eq!(hello["state"], "read", "inbox printed it: {hello}");
    let text = bob.ok(&["history", "alice"]);
    assert!(
        text.contains("] Alice: hello bob  (read)") || text.contains("] alice: hello bob  (read)"),
        "{text}"
    );

    // Delete for everyone: gone on both sides.
    let sent = alice.ok(&["send", "bob", "oops, wrong chat", "--timeout", "60s"]);
    let oops = sent.trim().rsplit(' ').next().unwrap().to_string();
    let deleted = alice.ok(&["delete", &oops]);
    assert!(
        deleted.contains("Deleted here and sent the deletion"),
        "{deleted}"
    );
    assert!(!alice.ok(&["history", "bob"]).contains("oops"));
    bob.ok(&["inbox", "--wait", "3"]);
    assert!(!bob.ok(&["history", "alice", "--json"]).contains("oops"));
    let again = alice.run(&["delete", &oops], Duration::from_secs(60));
    assert_eq!(again.status.code(), Some(2));

    let requests = bob.ok(&["requests", "list", "--json"]);
    assert!(requests.contains(&carol_id), "{requests}");
    let accepted = bob.ok(&["requests", "accept", &carol_id]);
    assert!(accepted.contains("is now a contact"), "{accepted}");
    assert!(!bob.ok(&["requests", "list", "--json"]).contains(&carol_id));
    assert!(bob.ok(&["contacts", "list", "--json"]).contains(&carol_id));
    let removed = bob.ok(&["contacts", "remove", &carol_id]);
    assert!(removed.contains("Removed"), "{removed}");
    assert!(!bob.ok(&["contacts", "list", "--json"]).contains(&carol_id));

    // The rest of the commands a user reaches for, over the same devnet.
    let paths = alice.ok(&["paths"]);
    assert!(paths.starts_with("Ready:"), "{paths}");
    assert!(paths.contains("path 1: "), "{paths}");
    let verify = alice.ok(&["verify", "bob"]);
    let bob_verify = bob.ok(&["verify", "alice"]);
    let code = |out: &str| -> String {
        out.lines()
            .map(str::trim)
            .filter(|l| {
                l.split(' ')
                    .all(|g| g.len() == 5 && g.chars().all(|c| c.is_ascii_digit()))
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(code(&verify).len(), 60 + 11, "{verify}");
    assert_eq!(code(&verify), code(&bob_verify), "both sides see one code");
    assert!(verify.contains("not verified"), "{verify}");
    alice.ok(&["verify", "bob", "--mark"]);
    assert!(alice.ok(&["verify", "bob"]).contains("Status: verified"));
    // Issue 16: a file of about 200 KB (four chunks and a manifest) and a
    // location, through the real nodes; `save` gives the same bytes, 0600.
    let files = tempfile::tempdir().unwrap();
    let source = files.path().join("report.pdf");
    let bytes: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&source, &bytes).unwrap();
    let t = Instant::now();
    let sent = alice.ok(&[
        "send-file",
        "bob",
        source.to_str().unwrap(),
        "--caption",
        "the draft",
    ]);
    assert!(sent.contains("Sent to bob"), "{sent}");
    eprintln!("send-file of 200 kB returned after {:?}", t.elapsed());
    let inbox = bob.inbox();
    let m = inbox
        .iter()
        .find(|m| m["attachment"].is_object())
        .unwrap_or_else(|| panic!("no attachment in {inbox:?}"));
    let a = &m["attachment"];
    assert_eq!(a["name"], "report.pdf");
    assert_eq!(a["type"], "application/pdf");
    assert_eq!(a["size"], 200_000);
    assert_eq!(a["id"], m["id"]);
    assert!(m["text"].as_str().unwrap().contains("the draft"), "{m}");
    let to = files.path().join("saved");
    let t = Instant::now();
    let saved = bob.ok(&[
        "save",
        a["id"].as_str().unwrap(),
        "--to",
        to.to_str().unwrap(),
    ]);
    eprintln!("save of 200 kB returned after {:?}", t.elapsed());
    let path = PathBuf::from(saved.trim());
    assert_eq!(path, to.join("report.pdf"));
    assert!(
        std::fs::read(&path).unwrap() == bytes,
        "the saved bytes differ"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let sent = alice.ok(&[
        "send-location",
        "bob",
        "-33.8568",
        "151.2153",
        "--label",
        "Opera House",
    ]);
    assert!(sent.contains("Sent to bob"), "{sent}");
    let inbox = bob.inbox();
    let m = inbox
        .iter()
        .find(|m| m["location"].is_object())
        .unwrap_or_else(|| panic!("no location in {inbox:?}"));
    assert_eq!(m["location"]["lat"], -33.8568);
    assert_eq!(m["location"]["lon"], 151.2153);
    assert_eq!(m["location"]["label"], "Opera House");

    let d = alice.ok(&["disappear", "bob", "after-read", "5m"]);
    assert!(d.contains("5m after reading"), "{d}");

    eprintln!("whole test took {:?}", started.elapsed());
    drop(nodes);
}

#[test]
fn encrypted_home_needs_its_passphrase() {
    let user = User::new(Path::new("/nonexistent-bootstrap.txt"));
    let run = |args: &[&str], pass: Option<&str>| {
        let mut c = Command::new(SOTTO);
        c.arg("--home")
            .arg(user.home.path())
            .args(args)
            .env_remove("SOTTO_BOOTSTRAP")
            .env_remove("SOTTO_HOME")
            .stdin(Stdio::null());
        match pass {
            Some(p) => c.env("SOTTO_PASSPHRASE", p),
            None => c.env_remove("SOTTO_PASSPHRASE"),
        };
        c.output().unwrap()
    };
    let out = run(&["init", "--encrypt"], Some("correct horse battery"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = run(&["id"], Some("correct horse battery"));
    assert!(id.status.success());
    assert!(String::from_utf8_lossy(&id.stdout).starts_with("sotto1"));
    let wrong = run(&["id"], Some("wrong"));
    assert_eq!(wrong.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("passphrase"));
    // No terminal to ask on and no variable: told what to do.
    let none = run(&["id"], None);
    assert_eq!(none.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&none.stderr).contains("SOTTO_PASSPHRASE"));
}

#[test]
fn restore_reads_the_phrase_from_stdin() {
    let first = tempfile::tempdir().unwrap();
    let out = Command::new(SOTTO)
        .arg("--home")
        .arg(first.path())
        .arg("init")
        .env_remove("SOTTO_PASSPHRASE")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let id = text
        .lines()
        .find_map(|l| l.strip_prefix("Account ID: "))
        .unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("Recovery phrase"))
        .unwrap();
    let phrase = lines[at + 2].trim();
    assert_eq!(phrase.split(' ').count(), 12, "{phrase}");

    let second = tempfile::tempdir().unwrap();
    let out = restore(second.path(), &format!("{}\n", phrase.to_uppercase()));
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(id));

    // A phrase with a typo is refused with the reason.
    let third = tempfile::tempdir().unwrap();
    let out = restore(third.path(), "apple banana\n");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("recovery phrase"));
}

/// Runs `sotto restore` into `home` with `input` on stdin.
fn restore(home: &std::path::Path, input: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = Command::new(SOTTO)
        .arg("--home")
        .arg(home)
        .arg("restore")
        .env_remove("SOTTO_PASSPHRASE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Runs `sotto` with `home` and no settings from the environment.
fn sotto(home: &Path, args: &[&str]) -> Output {
    Command::new(SOTTO)
        .arg("--home")
        .arg(home)
        .args(args)
        .env_remove("SOTTO_BOOTSTRAP")
        .env_remove("SOTTO_NETWORK")
        .env_remove("SOTTO_HOME")
        .env_remove("SOTTO_PASSPHRASE")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// A bootstrap address where nothing listens (port 1 on loopback).
fn dead_bootstrap() -> String {
    let peer = libp2p::identity::Keypair::generate_ed25519()
        .public()
        .to_peer_id();
    format!("/ip4/127.0.0.1/tcp/1/p2p/{peer}")
}

/// Issue 11, items 5 and 9: the offline commands say what is wrong, with the
/// bad-input exit code, the same way everywhere.
#[test]
fn offline_commands_explain_themselves() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    assert!(sotto(h, &["init", "--name", "Ann"]).status.success());
    let friend = sotto_client::Account::create().id().to_string();
    let err = |o: &Output| String::from_utf8_lossy(&o.stderr).to_string();
    let out = |o: &Output| String::from_utf8_lossy(&o.stdout).to_string();

    let added = sotto(h, &["contacts", "add", &friend, "--name", "bo"]);
    assert!(out(&added).contains("Added bo"), "{}", err(&added));
    // Adding again: no silent rename; the same again is a no-op.
    let rename = sotto(h, &["contacts", "add", &friend, "--name", "robert"]);
    assert_eq!(rename.status.code(), Some(2));
    assert!(err(&rename).contains("contacts rename"), "{}", err(&rename));
    let same = sotto(h, &["contacts", "add", &friend]);
    assert!(
        out(&same).contains("Already a contact: bo"),
        "{}",
        out(&same)
    );
    let renamed = sotto(h, &["contacts", "rename", "bo", "robert"]);
    assert!(
        out(&renamed).contains("Renamed: robert"),
        "{}",
        err(&renamed)
    );
    assert!(out(&sotto(h, &["contacts", "list"])).contains("robert"));

    // An empty message is bad input.
    let empty = sotto(h, &["send", "robert", "  "]);
    assert_eq!(empty.status.code(), Some(2), "{}", err(&empty));
    assert!(err(&empty).contains("empty"), "{}", err(&empty));
    // A mistyped ID is explained by its checksum, as `contacts add` does.
    let mut typo: Vec<char> = friend.chars().collect();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == 'q' { 'p' } else { 'q' };
    let typo: String = typo.into_iter().collect();
    let send = sotto(h, &["send", &typo, "hi"]);
    assert_eq!(send.status.code(), Some(2));
    assert!(err(&send).contains("checksum"), "{}", err(&send));
    let add = sotto(h, &["contacts", "add", &typo]);
    assert_eq!(add.status.code(), Some(2));
    assert!(err(&add).contains("checksum"), "{}", err(&add));

    // A missing bootstrap file is named as one.
    for missing in ["nope.txt", "/nonexistent-dir/nope.txt"] {
        let o = sotto(h, &["--bootstrap", missing, "paths"]);
        assert_eq!(o.status.code(), Some(2));
        assert!(err(&o).contains("no such file"), "{}", err(&o));
    }

    // History of a conversation with nothing in it yet; the message sent
    // above was refused, so nothing was queued.
    let hist = sotto(h, &["history", "robert"]);
    assert!(
        out(&hist).contains("No messages with robert yet."),
        "{}",
        err(&hist)
    );
    // Deleting what is not there.
    let del = sotto(h, &["delete", "00112233445566778899aabbccddeeff"]);
    assert_eq!(del.status.code(), Some(2));
    assert!(err(&del).contains("no message of yours"), "{}", err(&del));
    let del = sotto(h, &["delete", "xyz"]);
    assert_eq!(del.status.code(), Some(2));

    // Block and unblock.
    let stranger = sotto_client::Account::create().id().to_string();
    assert!(sotto(h, &["requests", "block", &stranger]).status.success());
    let un = sotto(h, &["requests", "unblock", &stranger]);
    assert!(out(&un).contains("Unblocked"), "{}", err(&un));
    let un = sotto(h, &["requests", "unblock", &stranger]);
    assert!(out(&un).contains("was not blocked"), "{}", out(&un));

    // Removing a contact.
    let rm = sotto(h, &["contacts", "remove", "robert"]);
    assert!(out(&rm).contains("Removed robert"), "{}", err(&rm));
    assert!(!out(&sotto(h, &["contacts", "list"])).contains("robert"));
}

/// Issue 11, items 9 and 10: with the network unreachable, `send` gives up
/// after its timeout saying why, and writes nothing else when its output is
/// not a terminal; on a terminal it says what it waits for.
#[test]
fn send_with_the_network_down() {
    let home = tempfile::tempdir().unwrap();
    let h = home.path();
    assert!(sotto(h, &["init"]).status.success());
    let friend = sotto_client::Account::create().id().to_string();
    let boot = dead_bootstrap();
    let o = sotto(
        h,
        &[
            "--bootstrap",
            &boot,
            "send",
            &friend,
            "hi",
            "--timeout",
            "3",
        ],
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(3), "{err}");
    assert!(o.stdout.is_empty());
    assert_eq!(err.lines().count(), 1, "only the result: {err}");
    assert!(err.contains("not sent yet"), "{err}");
    assert!(err.contains("no node of the network is known yet"), "{err}");
    assert!(!err.contains("onion path"), "no path was tried: {err}");

    // On a terminal (util-linux `script` gives it one), the wait is explained.
    let Ok(script) = which("script") else {
        eprintln!("no `script` here: the terminal half is not run");
        return;
    };
    let line = format!(
        "{SOTTO} --home {} --bootstrap {boot} send {friend} again --timeout 8",
        h.display()
    );
    let o = Command::new(script)
        .args(["-qec", &line, "/dev/null"])
        .env_remove("SOTTO_BOOTSTRAP")
        .env_remove("SOTTO_NETWORK")
        .env_remove("SOTTO_PASSPHRASE")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let seen = String::from_utf8_lossy(&o.stdout);
    assert!(
        seen.contains("sotto: waiting: no node of the network is known yet"),
        "{seen}"
    );
}

fn which(name: &str) -> Result<PathBuf, ()> {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.is_file())
        })
        .ok_or(())
}
