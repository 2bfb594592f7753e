//! Precedence and parsing of the app's settings.

use std::collections::HashMap;

use super::*;

const PEER: &str = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";

fn addr(port: u16) -> String {
    format!("/ip4/127.0.0.1/tcp/{port}/p2p/{PEER}")
}

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

fn home_with_file(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(CONFIG_FILE), text).unwrap();
    dir
}

#[test]
fn default_home_follows_xdg_then_home() {
    let env = env_of(&[("XDG_DATA_HOME", "/x"), ("HOME", "/h")]);
    assert_eq!(default_home(&env).unwrap(), PathBuf::from("/x/sotto"));
    let env = env_of(&[("HOME", "/h")]);
    assert_eq!(
        default_home(&env).unwrap(),
        PathBuf::from("/h/.local/share/sotto")
    );
    assert_eq!(default_home(&env_of(&[])), Err(ConfigError::NoHome));
}

#[test]
fn flag_beats_env_beats_file_beats_default() {
    let home = home_with_file(&format!(
        "network = \"devnet\"\nbootstrap = [\"{}\"]\nlog = \"debug\"\n",
        addr(3)
    ));
    let h = home.path().to_str().unwrap();
    let cwd = Path::new("/");

    // Only the file: its values.
    let flags = Flags {
        home: Some(home.path().into()),
        ..Flags::default()
    };
    let r = resolve(&flags, &env_of(&[]), cwd).unwrap();
    assert_eq!(r.params.name, "devnet");
    assert_eq!(r.bootstrap, vec![addr(3).parse().unwrap()]);
    assert_eq!(r.log, "debug");

    // The environment beats the file.
    let a2 = addr(2);
    let env = env_of(&[
        ("SOTTO_HOME", h),
        ("SOTTO_NETWORK", "public"),
        ("SOTTO_BOOTSTRAP", &a2),
    ]);
    let r = resolve(&Flags::default(), &env, cwd).unwrap();
    assert_eq!(r.home, home.path());
    assert_eq!(r.params.name, "sotto");
    assert_eq!(r.bootstrap, vec![addr(2).parse().unwrap()]);

    // Flags beat both.
    let flags = Flags {
        home: Some(home.path().into()),
        network: Some("devnet".into()),
        bootstrap: Some(addr(1)),
    };
    let env = env_of(&[
        ("SOTTO_HOME", "/elsewhere"),
        ("SOTTO_NETWORK", "public"),
        ("SOTTO_BOOTSTRAP", &a2),
    ]);
    let r = resolve(&flags, &env, cwd).unwrap();
    assert_eq!(r.home, home.path());
    assert_eq!(r.params.name, "devnet");
    assert_eq!(r.bootstrap, vec![addr(1).parse().unwrap()]);
}

#[test]
fn defaults_without_any_source() {
    let xdg = tempfile::tempdir().unwrap();
    let x = xdg.path().to_str().unwrap().to_string();
    let env = env_of(&[("XDG_DATA_HOME", &x)]);
    let r = resolve(&Flags::default(), &env, Path::new("/")).unwrap();
    assert_eq!(r.home, xdg.path().join("sotto"));
    assert_eq!(r.params, NetworkParams::public());
    assert!(r.bootstrap.is_empty());
    assert_eq!(r.log, "info");
}

#[test]
fn bootstrap_file_and_comma_list() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bootstrap.txt"),
        format!("# devnet\n{}\n\n{}  # second\n", addr(1), addr(2)),
    )
    .unwrap();
    let got = bootstrap_arg("bootstrap.txt", dir.path()).unwrap();
    assert_eq!(got.len(), 2);
    let absolute = dir.path().join("bootstrap.txt");
    let got = bootstrap_arg(absolute.to_str().unwrap(), Path::new("/")).unwrap();
    assert_eq!(got.len(), 2);
    let got = bootstrap_arg(&format!("{},{}", addr(1), addr(2)), dir.path()).unwrap();
    assert_eq!(got.len(), 2);
    assert!(matches!(
        bootstrap_arg("missing.txt", dir.path()),
        Err(ConfigError::Read { .. })
    ));
}

/// Issue 11, item 9: a missing file is named as one, relative or absolute.
#[test]
fn missing_bootstrap_file_says_no_such_file() {
    let dir = tempfile::tempdir().unwrap();
    for given in [
        "nope.txt".to_string(),
        dir.path().join("nope.txt").display().to_string(),
    ] {
        let e = bootstrap_arg(&given, dir.path()).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("no such file"), "{text}");
        assert!(text.contains("nope.txt"), "{text}");
        assert!(!text.starts_with("bootstrap address"), "{text}");
    }
    // A multiaddr that is wrong is still explained as a multiaddr.
    let e = bootstrap_arg("/ip4/127.0.0.1/tcp/1", dir.path()).unwrap_err();
    assert!(e.to_string().contains("/p2p/"), "{e}");
}

#[test]
fn bootstrap_needs_peer_id_and_valid_syntax() {
    let e = bootstrap_addr("/ip4/127.0.0.1/tcp/1").unwrap_err();
    assert!(e.to_string().contains("/p2p/"), "{e}");
    let e = bootstrap_addr("/ip4/nonsense").unwrap_err();
    assert!(e.to_string().contains("not a multiaddr"), "{e}");
}

#[test]
fn bad_file_and_network_are_explained() {
    let home = home_with_file("colour = \"blue\"\n");
    let e = load_file(home.path()).unwrap_err();
    assert!(matches!(e, ConfigError::File { .. }), "{e}");
    assert!(e.to_string().contains("colour"), "{e}");

    let e = network("nope", home.path()).unwrap_err();
    assert!(e.to_string().contains("neither a preset"), "{e}");

    std::fs::write(home.path().join("net.toml"), "name = \"Bad Name\"\n").unwrap();
    let e = network("net.toml", home.path()).unwrap_err();
    assert!(e.to_string().contains("network name"), "{e}");
}

#[test]
fn network_file_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let text = toml::to_string(&NetworkParams::devnet()).unwrap();
    std::fs::write(dir.path().join("devnet.toml"), text).unwrap();
    assert_eq!(
        network("devnet.toml", dir.path()).unwrap(),
        NetworkParams::devnet()
    );
}

#[test]
fn oversized_file_is_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.txt");
    std::fs::write(&big, vec![b'/'; MAX_FILE_BYTES as usize + 1]).unwrap();
    let e = read_small(&big).unwrap_err();
    assert!(e.to_string().contains("at most"), "{e}");
}

#[test]
fn example_file_lists_the_defaults() {
    let text = include_str!("../../config.example.toml");
    let parsed: FileConfig = toml::from_str(text).unwrap();
    assert_eq!(parsed, FileConfig::default());
    // And every key is in it, so nobody has to read the code to find one.
    let keys = toml::to_string(&FileConfig::default()).unwrap();
    for line in keys.lines().filter(|l| l.contains('=')) {
        let key = line.split('=').next().unwrap().trim();
        assert!(
            text.lines().any(|l| l.starts_with(&format!("{key} ="))),
            "{key} missing from config.example.toml"
        );
    }
}
