//! Speed of sealing and opening attachments next to raw XChaCha20-Poly1305 over
//! the same bytes, measured in the same run.
//!
//! Criterion prints a table for each side; a paired measurement at the end (the
//! sides interleaved round by round, medians compared) prints
//! `attachment/raw encrypt ratio: X.XX` and `attachment/raw decrypt ratio: X.XX`,
//! throughput of the attachment format divided by throughput of one raw AEAD
//! pass over the file (target ≥ 0.5). The format's extra work is the per-chunk
//! BLAKE3 hash, the copies and the manifest.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use criterion::{Criterion, Throughput};
use sotto_protocol::attachment::{
    ChunkHash, FileOpener, FileSecret, SealedFile, open_file, seal_file,
};

/// 8 MB: 123 chunks, enough that per-file costs do not dominate.
const FILE_LEN: usize = 8 * 1_000_000;

fn secret() -> FileSecret {
    FileSecret::from_parts([1; 32], [2; 19])
}

fn seal(data: &[u8]) -> SealedFile {
    seal_file(secret(), data).unwrap()
}

fn open(file: &SealedFile, chunks: &HashMap<ChunkHash, Vec<u8>>) -> Vec<u8> {
    let o = FileOpener::new(secret(), file.size, file.chunks.len() as u32, file.root).unwrap();
    open_file(o, |h| chunks.get(h).cloned()).unwrap()
}

fn raw_encrypt(cipher: &XChaCha20Poly1305, buf: &mut [u8]) -> [u8; 16] {
    let tag = cipher
        .encrypt_inout_detached(&XNonce::default(), b"", buf.into())
        .unwrap();
    tag.into()
}

fn raw_decrypt(cipher: &XChaCha20Poly1305, buf: &mut [u8], tag: &[u8; 16]) -> bool {
    cipher
        .decrypt_inout_detached(&XNonce::default(), b"", buf.into(), tag.into())
        .is_ok()
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .configure_from_args();
    let data: Vec<u8> = (0..FILE_LEN).map(|i| (i * 7 % 251) as u8).collect();
    let file = seal(&data);
    let chunks: HashMap<ChunkHash, Vec<u8>> = file
        .all_chunks()
        .map(|c| (c.hash, c.bytes.clone()))
        .collect();
    let cipher = XChaCha20Poly1305::new(&[3u8; 32].into());
    let mut raw_buf = data.clone();
    let raw_tag = raw_encrypt(&cipher, &mut raw_buf);

    let mut g = c.benchmark_group("attachment_8MB");
    g.throughput(Throughput::Bytes(FILE_LEN as u64));
    g.bench_function("seal_file", |b| b.iter(|| seal(black_box(&data))));
    g.bench_function("open_file", |b| b.iter(|| open(&file, black_box(&chunks))));
    g.bench_function("raw_xchacha20poly1305_encrypt", |b| {
        b.iter(|| {
            let mut buf = data.clone();
            raw_encrypt(&cipher, black_box(&mut buf))
        })
    });
    g.bench_function("raw_xchacha20poly1305_decrypt", |b| {
        b.iter(|| {
            let mut buf = raw_buf.clone();
            raw_decrypt(&cipher, black_box(&mut buf), &raw_tag)
        })
    });
    g.finish();

    // Paired rounds: each side runs once per round; medians compared. Both raw
    // sides copy their input first and work on the copy, as sealing and opening
    // do (the caller's bytes stay as they were, the output is new memory); the
    // in-place raw encryption is printed too.
    let rounds = 15;
    let (mut seal_t, mut open_t, mut enc_t, mut dec_t) = (vec![], vec![], vec![], vec![]);
    let mut in_place_t = vec![];
    let mut buf = data.clone();
    for _ in 0..rounds {
        let t = Instant::now();
        black_box(seal(black_box(&data)));
        seal_t.push(t.elapsed());
        let t = Instant::now();
        let mut copy = data.clone();
        black_box(raw_encrypt(&cipher, black_box(&mut copy)));
        enc_t.push(t.elapsed());
        let t = Instant::now();
        black_box(raw_encrypt(&cipher, black_box(&mut buf)));
        in_place_t.push(t.elapsed());
        let t = Instant::now();
        black_box(open(&file, black_box(&chunks)));
        open_t.push(t.elapsed());
        let t = Instant::now();
        let mut copy = raw_buf.clone();
        black_box(raw_decrypt(&cipher, black_box(&mut copy), &raw_tag));
        dec_t.push(t.elapsed());
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2].as_secs_f64()
    };
    let mbps = |secs: f64| FILE_LEN as f64 / 1e6 / secs;
    let (s, e, o, d) = (
        median(&mut seal_t),
        median(&mut enc_t),
        median(&mut open_t),
        median(&mut dec_t),
    );
    println!(
        "attachment seal {:.0} MB/s, raw encrypt {:.0} MB/s; attachment open {:.0} MB/s, raw decrypt {:.0} MB/s",
        mbps(s),
        mbps(e),
        mbps(o),
        mbps(d)
    );
    println!(
        "raw encrypt in place (no copy) {:.0} MB/s",
        mbps(median(&mut in_place_t))
    );
    println!("attachment/raw encrypt ratio: {:.2}", e / s);
    println!("attachment/raw decrypt ratio: {:.2}", d / o);
    c.final_summary();
}
