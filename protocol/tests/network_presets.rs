//! The network files in `config/networks/` parse, are valid, and equal the
//! built-in presets, so the documented files never drift from the code.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use sotto_protocol::NetworkParams;

fn load(name: &str) -> NetworkParams {
    let path = format!(
        "{}/../config/networks/{name}.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn devnet_file_equals_preset() {
    let p = load("devnet");
    p.validate().unwrap();
    assert_eq!(p, NetworkParams::devnet());
}

#[test]
fn public_file_equals_preset() {
    let p = load("public");
    p.validate().unwrap();
    assert_eq!(p, NetworkParams::public());
}

#[test]
fn unknown_keys_are_refused() {
    let err = toml::from_str::<NetworkParams>("name = \"x\"\nswarm_sise = 5\n");
    assert!(err.is_err());
}
