//! The `p2p_frame` fuzz corpus (`fuzz/corpus/p2p_frame/`) replayed as an
//! ordinary test, through the same function the `cargo fuzz` binary calls
//! (`fuzz/src/p2p.rs`, included below), and the seeds it started from: streams
//! of valid frames under the protocols' real limits and under small ones, and
//! streams just over an edge (a frame over the limit, a frame cut short, a
//! prefix cut short). `SOTTO_REGENERATE_CORPUS=1 cargo test -p sotto-p2p --test
//! fuzz_corpus` rewrites the `seed-*` files.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[allow(dead_code, reason = "the fuzz crate's file; this test uses part of it")]
#[path = "../../fuzz/src/p2p.rs"]
mod p2p;
#[allow(dead_code, reason = "the fuzz crate's file; this test uses part of it")]
#[path = "../../fuzz/src/replay.rs"]
mod replay;

use replay::{Seed, check_seeds, corpus_dir, replay};

/// `u32 BE length ‖ body`, as `write_frame` sends it.
fn frame(body: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(body.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(body);
    out
}

/// `limit (u16 LE) ‖ chunk ‖ stream`.
fn input(limit: u16, chunk: u8, stream: &[u8]) -> Vec<u8> {
    let mut out = limit.to_le_bytes().to_vec();
    out.push(chunk);
    out.extend_from_slice(stream);
    out
}

fn seeds() -> Vec<Seed> {
    let two = [frame(b"first request"), frame(b"")].concat();
    let big = frame(&vec![0x61; 70_000]);
    vec![
        Seed::valid("rpc-limit-two-frames", input(0xfff0, 6, &two)),
        Seed::valid("rpc-response-limit-70k", input(0xfff1, 255, &big)),
        Seed::valid(
            "node-limit-one-byte-reads",
            input(0xfff2, 0, &frame(b"digest")),
        ),
        Seed::valid("small-limit-exact", input(5, 3, &frame(b"12345"))),
        Seed::valid(
            "then-over-limit",
            input(5, 3, &[frame(b"ok"), frame(b"123456")].concat()),
        ),
        Seed::refused("over-limit", input(5, 3, &frame(b"123456"))),
        Seed::refused("cut-short", input(0xfff0, 2, &frame(b"cut short")[..8])),
        Seed::refused("prefix-cut-short", input(0xfff3, 2, &[0, 0, 1])),
        Seed::refused(
            "huge-announced",
            input(0xfff1, 9, &[0xff, 0xff, 0xff, 0xff, 1, 2]),
        ),
    ]
}

#[test]
fn replay_p2p_frame() {
    replay(
        "p2p_frame",
        &corpus_dir(env!("CARGO_MANIFEST_DIR"), "p2p_frame"),
        p2p::p2p_frame,
    );
}

/// Valid seeds are read and near-valid ones refused; `SOTTO_REGENERATE_CORPUS=1`
/// writes them.
#[test]
fn seeds_get_the_right_answer() {
    check_seeds(
        "p2p_frame",
        &corpus_dir(env!("CARGO_MANIFEST_DIR"), "p2p_frame"),
        &seeds(),
        p2p::p2p_frame,
    );
}
