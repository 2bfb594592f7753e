//! Sotto's fuzz targets (run with `cargo fuzz`, see `README.md`).
//!
//! The logic of every target lives here, in [`protocol`], [`deep`], [`messages_v2`], [`p2p`],
//! [`client`] and [`messenger`] (with the sealing helpers in [`seal`]), and the
//! binaries in `fuzz_targets/` only hand libFuzzer's bytes to it. The workspace's
//! tests include the same files (`protocol/tests/fuzz_corpus.rs`,
//! `client-core/tests/fuzz_corpus.rs`) and replay `corpus/<target>/` through them,
//! so every committed corpus file runs in an ordinary `cargo test`.

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod attachment;
pub mod client;
pub mod deep;
pub mod group;
pub mod messages_v2;
pub mod messenger;
pub mod p2p;
pub mod protocol;
pub mod replay;
pub mod seal;
