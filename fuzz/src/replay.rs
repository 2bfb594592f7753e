//! Replaying a committed corpus, and writing seeds, for the corpus tests of the
//! targets behind the cryptography (`protocol/tests/fuzz_deep_corpus.rs`,
//! `p2p/tests/fuzz_corpus.rs`, `client-core/tests/fuzz_corpus.rs`), which
//! include this file. Not used by the fuzz binaries.

use std::fs;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// `fuzz/corpus/<target>/`, from the manifest directory of a workspace crate.
pub fn corpus_dir(manifest_dir: &str, target: &str) -> PathBuf {
    Path::new(manifest_dir).join("../fuzz/corpus").join(target)
}

/// Runs every file of `dir` through `run`, and fails if a file panics, if
/// there is none, or if none is accepted (a format change made the corpus
/// stale). Returns how many were accepted, of how many.
#[allow(
    clippy::panic,
    reason = "a test helper: a failing replay is a failing test"
)]
pub fn replay(target: &str, dir: &Path, run: impl Fn(&[u8]) -> bool) -> (usize, usize) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        // libFuzzer's temporary files (`.tmp*`) and editors' hidden files.
        .filter(|p| {
            p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    paths.sort();
    let mut accepted = 0usize;
    let mut panicked = vec![];
    for path in &paths {
        let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        match catch_unwind(AssertUnwindSafe(|| run(&data))) {
            Ok(true) => accepted += 1,
            Ok(false) => {}
            Err(_) => panicked.push(path.display().to_string()),
        }
    }
    assert!(
        panicked.is_empty(),
        "{target}: these corpus files panic: {panicked:#?}"
    );
    assert!(
        !paths.is_empty(),
        "{target}: no corpus in {}",
        dir.display()
    );
    assert!(
        accepted > 0,
        "{target}: none of the {} corpus files is accepted any more; regenerate the \
         seeds (SOTTO_REGENERATE_CORPUS=1, see fuzz/README.md)",
        paths.len()
    );
    (accepted, paths.len())
}

/// One seed input of a target.
pub struct Seed {
    /// Part of the file name (`seed-<nn>-<name>`).
    pub name: String,
    /// The input.
    pub data: Vec<u8>,
    /// Whether the target must accept it (a valid input) or must refuse it (a
    /// near-valid one, just over an edge).
    pub accepted: bool,
}

impl Seed {
    /// A valid input, which the target must accept.
    pub fn valid(name: &str, data: Vec<u8>) -> Self {
        Self {
            name: name.into(),
            data,
            accepted: true,
        }
    }

    /// A near-valid input, which the target must refuse without a panic.
    pub fn refused(name: &str, data: Vec<u8>) -> Self {
        Self {
            name: name.into(),
            data,
            accepted: false,
        }
    }
}

/// Checks every seed gets the answer it should from `run`, and with
/// `SOTTO_REGENERATE_CORPUS=1` writes them to `dir` as `seed-<nn>-<name>`.
#[allow(
    clippy::panic,
    reason = "a test helper: a failing check is a failing test"
)]
pub fn check_seeds(target: &str, dir: &Path, seeds: &[Seed], run: impl Fn(&[u8]) -> bool) {
    assert!(seeds.iter().any(|s| s.accepted), "{target}: no valid seed");
    let regenerate = std::env::var("SOTTO_REGENERATE_CORPUS").as_deref() == Ok("1");
    if regenerate {
        fs::create_dir_all(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    }
    for (i, seed) in seeds.iter().enumerate() {
        let name = &seed.name;
        assert_eq!(
            run(&seed.data),
            seed.accepted,
            "{target}: seed {name} should be {}",
            if seed.accepted { "accepted" } else { "refused" }
        );
        if regenerate {
            let path = dir.join(format!("seed-{i:02}-{name}"));
            fs::write(&path, &seed.data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
}
