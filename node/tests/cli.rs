//! The `sotto-node` binary, run as an operator would: `init`, `info`, `--help`
//! and the errors a person sees.

// Helpers outside `#[test]` functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::Path;
use std::process::{Command, Output};

use sotto_node::config::NodeConfig;
use sotto_node::identity::Identity;
use sotto_protocol::{NetworkParams, Position};

fn sotto_node(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sotto-node"))
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn init_devnet(dir: &Path) -> Output {
    sotto_node(&[
        "init",
        "--data-dir",
        dir.to_str().unwrap(),
        "--network",
        "devnet",
    ])
}

#[test]
fn init_then_info_json_agree_with_the_identity_on_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    let out = init_devnet(&dir);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let printed = text(&out.stdout);

    let identity = Identity::load(&dir, &NetworkParams::devnet()).unwrap();
    let peer_id = identity.peer_id().to_string();
    assert!(printed.contains(&peer_id), "{printed}");
    let config = NodeConfig::load(&dir.join("node.toml")).unwrap();
    assert_eq!(config.network, "devnet");

    let out = sotto_node(&["info", "--data-dir", dir.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["peer_id"], peer_id.as_str());
    assert_eq!(json["node_id"], identity.node_id().to_string().as_str());
    assert_eq!(
        json["position"],
        Position::of_node(&identity.node_id(), identity.admission())
            .to_hex()
            .as_str()
    );
    assert_eq!(json["network"], "devnet");
    assert_eq!(json["listen"][0], "/ip4/0.0.0.0/tcp/4600");
}

#[test]
fn init_twice_needs_force() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    assert!(init_devnet(&dir).status.success());
    let first = Identity::load(&dir, &NetworkParams::devnet())
        .unwrap()
        .node_id();

    let out = init_devnet(&dir);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("already holds a node identity"), "{err}");
    assert!(err.contains("--force"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    // Nothing was replaced.
    let still = Identity::load(&dir, &NetworkParams::devnet())
        .unwrap()
        .node_id();
    assert_eq!(still, first);

    let out = sotto_node(&[
        "init",
        "--data-dir",
        dir.to_str().unwrap(),
        "--network",
        "devnet",
        "--force",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let replaced = Identity::load(&dir, &NetworkParams::devnet())
        .unwrap()
        .node_id();
    assert_ne!(replaced, first);
}

#[test]
fn help_explains_the_commands_and_options() {
    let out = sotto_node(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for word in ["init", "run", "info"] {
        assert!(help.contains(word), "{help}");
    }
    let out = sotto_node(&["run", "--help"]);
    let help = text(&out.stdout);
    for opt in [
        "--data-dir",
        "--config",
        "--listen",
        "--bootstrap",
        "--metrics",
        "--log",
    ] {
        assert!(help.contains(opt), "{help}");
    }
    let out = sotto_node(&["init", "--help"]);
    let help = text(&out.stdout);
    for opt in ["--data-dir", "--network", "--force"] {
        assert!(help.contains(opt), "{help}");
    }
}

#[test]
fn run_and_info_without_init_say_what_to_do() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("missing");
    for cmd in ["run", "info"] {
        let out = sotto_node(&[cmd, "--data-dir", dir.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{cmd}");
        let err = text(&out.stderr);
        assert!(err.contains("sotto-node init --data-dir"), "{cmd}: {err}");
    }
}

#[test]
fn bad_options_are_refused_before_starting() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("node");
    assert!(init_devnet(&dir).status.success());
    let d = dir.to_str().unwrap();
    let out = sotto_node(&["run", "--data-dir", d, "--listen", "not an address"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("listen"),
        "{}",
        text(&out.stderr)
    );
    let out = sotto_node(&["run", "--data-dir", d, "--metrics", "nowhere"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("metrics"),
        "{}",
        text(&out.stderr)
    );
    let out = sotto_node(&[
        "init",
        "--data-dir",
        tmp.path().join("x").to_str().unwrap(),
        "--network",
        "nosuch",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("neither a preset"),
        "{}",
        text(&out.stderr)
    );
}
