//! The `attachment` fuzz corpus (`fuzz/corpus/attachment/`) replayed as a test
//! through the target function the `cargo fuzz` binary calls
//! (`fuzz/src/attachment.rs`), and the seeds it started from: a descriptor of
//! each kind, a location, and manifests, plus truncated and bit-flipped
//! copies. `SOTTO_REGENERATE_CORPUS=1 cargo test -p sotto-protocol --test
//! fuzz_attachment_corpus` rewrites the `seed-*` files.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../fuzz/src/attachment.rs"]
mod targets;

use std::fs;
use std::panic::catch_unwind;
use std::path::{Path, PathBuf};

use sotto_protocol::attachment::{
    Attachment, AttachmentKind, CHUNK_DATA_LEN, ChunkHash, FileSecret, Location, Manifest,
    seal_file,
};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/attachment")
}

fn with_selector(selector: u8, bytes: Vec<u8>) -> Vec<u8> {
    let mut v = vec![selector];
    v.extend(bytes);
    v
}

fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    let secret = FileSecret::from_parts([0x11; 32], [0x22; 19]);
    let small = seal_file(secret.clone(), b"small file").unwrap();
    let big = seal_file(secret, &vec![7u8; CHUNK_DATA_LEN + 1]).unwrap();
    let file = Attachment::new(AttachmentKind::File, "notes.txt", "text/plain", &small);
    let mut image = Attachment::new(AttachmentKind::Image, "cat.jpg", "image/jpeg", &big);
    image.seal_thumbnail(b"tiny preview").unwrap();
    let mut voice = Attachment::new(AttachmentKind::VoiceNote, "", "audio/ogg", &small);
    voice.duration_ms = Some(4_500);
    let location = Location {
        lat: -33.8568,
        lon: 151.2153,
        label: Some("harbour".into()),
    };
    let manifest = Manifest {
        hashes: vec![ChunkHash([1; 32]), ChunkHash([2; 32]), ChunkHash([3; 32])],
    };
    let mut padded = manifest.to_plaintext().unwrap();
    padded.resize(padded.len() + 64, 0);
    vec![
        ("file", with_selector(0, file.encode().unwrap())),
        ("image", with_selector(0, image.encode().unwrap())),
        ("voice", with_selector(0, voice.encode().unwrap())),
        ("location", with_selector(1, location.encode().unwrap())),
        (
            "manifest",
            with_selector(2, manifest.to_plaintext().unwrap()),
        ),
        ("manifest-padded", with_selector(2, padded)),
    ]
}

fn variants(data: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let flip = |at: usize| {
        let mut d = data.to_vec();
        if let Some(b) = d.get_mut(at) {
            *b ^= 0x01;
        }
        d
    };
    vec![
        ("short", data[..data.len() - 1].to_vec()),
        ("flip-start", flip(2)),
        ("flip-middle", flip(data.len() / 2)),
    ]
}

#[test]
fn seeds_are_accepted() {
    let regenerate = std::env::var("SOTTO_REGENERATE_CORPUS").as_deref() == Ok("1");
    for (i, (name, data)) in seeds().iter().enumerate() {
        assert!(targets::attachment(data), "seed {name} is refused");
        if regenerate {
            fs::create_dir_all(corpus_dir()).unwrap();
            fs::write(corpus_dir().join(format!("seed-{i:02}-{name}")), data).unwrap();
            for (variant, bytes) in variants(data) {
                let _ = targets::attachment(&bytes);
                fs::write(
                    corpus_dir().join(format!("seed-{i:02}-{name}-{variant}")),
                    bytes,
                )
                .unwrap();
            }
        }
    }
}

#[test]
fn replay_attachment() {
    let mut paths: Vec<PathBuf> = fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no corpus in {}", corpus_dir().display());
    let mut accepted = 0;
    let mut panicked = vec![];
    for path in &paths {
        let data = fs::read(path).unwrap();
        match catch_unwind(|| targets::attachment(&data)) {
            Ok(true) => accepted += 1,
            Ok(false) => {}
            Err(_) => panicked.push(path.display().to_string()),
        }
    }
    assert!(
        panicked.is_empty(),
        "these corpus files panic: {panicked:#?}"
    );
    assert!(
        accepted > 0,
        "no corpus file is accepted any more: regenerate the seeds"
    );
}
