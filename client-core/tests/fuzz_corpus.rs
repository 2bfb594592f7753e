//! The `recovery_phrase` fuzz corpus (`fuzz/corpus/recovery_phrase/`) replayed as
//! an ordinary test, through the same function the `cargo fuzz` binary calls
//! (`fuzz/src/client.rs`, included below), and the seeds it started from: valid
//! phrases as people type them, and the mistakes they make.
//!
//! Every file must run without a panic, the corpus must not be empty, and at
//! least one file must be accepted. `SOTTO_REGENERATE_CORPUS=1 cargo test -p
//! sotto-client --test fuzz_corpus` rewrites the `seed-*` files.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../fuzz/src/client.rs"]
mod targets;

use std::fs;
use std::panic::catch_unwind;
use std::path::{Path, PathBuf};

use sotto_client::RecoveryPhrase;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/recovery_phrase")
}

#[test]
fn replay_recovery_phrase() {
    let dir = corpus_dir();
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        // libFuzzer's temporary files (`.tmp*`) and editors' hidden files.
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    paths.sort();
    let mut accepted = 0usize;
    let mut panicked = vec![];
    for path in &paths {
        let data = fs::read(path).unwrap();
        match catch_unwind(|| targets::recovery_phrase(&data)) {
            Ok(true) => accepted += 1,
            Ok(false) => {}
            Err(_) => panicked.push(path.display().to_string()),
        }
    }
    assert!(
        panicked.is_empty(),
        "recovery_phrase: these corpus files panic: {panicked:#?}"
    );
    assert!(
        !paths.is_empty(),
        "recovery_phrase: no corpus in {}",
        dir.display()
    );
    assert!(
        accepted > 0,
        "recovery_phrase: none of the {} corpus files is accepted any more",
        paths.len()
    );
}

/// Seeds: whether the target accepts them, and the text.
fn seeds() -> Vec<(&'static str, bool, String)> {
    let phrase = RecoveryPhrase::from_entropy(&[0x5a; 16]);
    let text = phrase.as_str().to_owned();
    let words: Vec<&str> = phrase.words().collect();
    let mut swapped = words.clone();
    swapped.swap(0, 1);
    let mut typo = words.clone();
    let misspelt = format!("{}x", words[3]);
    typo[3] = &misspelt;
    vec![
        ("phrase", true, text.clone()),
        (
            "phrase-as-typed",
            true,
            format!("  {}\n\t{}  ", words[..6].join("  "), words[6..].join(" ")).to_uppercase(),
        ),
        (
            "other-phrase",
            true,
            RecoveryPhrase::from_entropy(&[0; 16]).as_str().to_owned(),
        ),
        ("eleven-words", false, words[..11].join(" ")),
        ("thirteen-words", false, format!("{text} {}", words[0])),
        ("swapped", false, swapped.join(" ")),
        ("typo", false, typo.join(" ")),
        ("unicode", false, format!("{text} é\u{202e}")),
        ("empty", false, String::new()),
    ]
}

/// Valid seeds are accepted and the others refused, and with
/// `SOTTO_REGENERATE_CORPUS=1` they are written to `seed-*` files.
#[test]
fn seeds_are_judged_right() {
    let regenerate = std::env::var("SOTTO_REGENERATE_CORPUS").as_deref() == Ok("1");
    for (i, (name, valid, text)) in seeds().into_iter().enumerate() {
        assert_eq!(targets::recovery_phrase(text.as_bytes()), valid, "{name}");
        if regenerate {
            fs::create_dir_all(corpus_dir()).unwrap();
            fs::write(corpus_dir().join(format!("seed-{i:02}-{name}")), text).unwrap();
        }
    }
}
