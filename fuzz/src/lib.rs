//! Sotto's fuzz targets (run with `cargo fuzz`, see `README.md`).
//!
//! The logic of every target lives here, in [`protocol`] and [`client`], and the
//! binaries in `fuzz_targets/` only hand libFuzzer's bytes to it. The workspace's
//! tests include the same files (`protocol/tests/fuzz_corpus.rs`,
//! `client-core/tests/fuzz_corpus.rs`) and replay `corpus/<target>/` through them,
//! so every committed corpus file runs in an ordinary `cargo test`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod protocol;
