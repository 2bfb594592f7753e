//! The attachment format end to end, in memory: files of the sizes at the edges
//! round-trip byte for byte, and every way a stored file can go wrong (a chunk
//! altered, missing, reordered, the file cut short, a lying descriptor) is
//! detected with its own error and yields no plaintext.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;

use proptest::prelude::*;
use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng};
use sotto_protocol::attachment::{
    Attachment, AttachmentError, AttachmentKind, CHUNK_DATA_LEN, CHUNK_LEN, ChunkHash, FileOpener,
    FileSecret, Location, MANIFEST_INDEX, MAX_FILE_LEN, SealedFile, open_file, seal_file,
    seal_new_file,
};

fn data(len: usize, seed: u8) -> Vec<u8> {
    let mut rng = ChaCha20Rng::from_seed([seed; 32]);
    let mut v = vec![0u8; len];
    rng.fill_bytes(&mut v);
    v
}

fn store(file: &SealedFile) -> HashMap<ChunkHash, Vec<u8>> {
    file.all_chunks()
        .map(|c| (c.hash, c.bytes.clone()))
        .collect()
}

fn opener(file: &SealedFile) -> FileOpener {
    FileOpener::new(
        file.secret.clone(),
        file.size,
        file.chunks.len() as u32,
        file.root,
    )
    .unwrap()
}

fn round_trip(len: usize) -> SealedFile {
    let mut rng = ChaCha20Rng::from_seed([len as u8; 32]);
    let plain = data(len, 1);
    let file = seal_new_file(&mut rng, &plain).unwrap();
    for c in file.all_chunks() {
        assert_eq!(c.bytes.len(), CHUNK_LEN, "every chunk looks alike");
        assert_eq!(c.hash, ChunkHash::of(&c.bytes));
    }
    let chunks = store(&file);
    let out = open_file(opener(&file), |h| chunks.get(h).cloned()).unwrap();
    assert!(out == plain, "{len} bytes did not round-trip");
    file
}

#[test]
fn sizes_at_the_edges_round_trip() {
    let empty = round_trip(0);
    assert_eq!(empty.chunks.len(), 1);
    assert!(empty.manifest.is_none());
    assert_eq!(empty.root, empty.chunks[0].hash);
    let one = round_trip(CHUNK_DATA_LEN);
    assert_eq!(one.chunks.len(), 1);
    assert!(one.manifest.is_none());
    let two = round_trip(CHUNK_DATA_LEN + 1);
    assert_eq!(two.chunks.len(), 2);
    assert_eq!(two.root, two.manifest.as_ref().unwrap().hash);
}

#[test]
fn twenty_five_megabytes_round_trip() {
    let file = round_trip(25 * 1_000_000);
    assert_eq!(
        file.chunks.len(),
        (25 * 1_000_000usize).div_ceil(CHUNK_DATA_LEN)
    );
}

#[test]
fn over_the_limit_is_refused() {
    let err = FileOpener::new(
        FileSecret::from_parts([1; 32], [2; 19]),
        MAX_FILE_LEN + 1,
        1,
        ChunkHash([0; 32]),
    );
    assert!(matches!(err, Err(AttachmentError::FileTooLarge { .. })));
}

fn three_chunk_file() -> (Vec<u8>, SealedFile) {
    let plain = data(2 * CHUNK_DATA_LEN + 100, 3);
    let file = seal_file(FileSecret::from_parts([4; 32], [5; 19]), &plain).unwrap();
    (plain, file)
}

#[test]
fn an_altered_chunk_is_detected() {
    let (_, file) = three_chunk_file();
    let mut chunks = store(&file);
    chunks.get_mut(&file.chunks[1].hash).unwrap()[10] ^= 1;
    let err = open_file(opener(&file), |h| chunks.get(h).cloned()).unwrap_err();
    assert_eq!(err, AttachmentError::HashMismatch { index: 1 });
    // An altered manifest is caught the same way.
    let mut chunks = store(&file);
    chunks.get_mut(&file.root).unwrap()[0] ^= 1;
    let err = open_file(opener(&file), |h| chunks.get(h).cloned()).unwrap_err();
    assert_eq!(
        err,
        AttachmentError::HashMismatch {
            index: MANIFEST_INDEX
        }
    );
}

#[test]
fn a_missing_chunk_is_detected() {
    let (_, file) = three_chunk_file();
    let mut chunks = store(&file);
    chunks.remove(&file.chunks[2].hash);
    let err = open_file(opener(&file), |h| chunks.get(h).cloned()).unwrap_err();
    assert_eq!(err, AttachmentError::MissingChunk { index: 2 });
    let mut chunks = store(&file);
    chunks.remove(&file.root);
    let err = open_file(opener(&file), |h| chunks.get(h).cloned()).unwrap_err();
    assert_eq!(
        err,
        AttachmentError::MissingChunk {
            index: MANIFEST_INDEX
        }
    );
}

#[test]
fn reordered_chunks_are_detected() {
    let (_, file) = three_chunk_file();
    // A node answering for chunk 0 with chunk 1.
    let chunks = store(&file);
    let (a, b) = (file.chunks[0].hash, file.chunks[1].hash);
    let err = open_file(opener(&file), |h| {
        let h = if *h == a {
            b
        } else if *h == b {
            a
        } else {
            *h
        };
        chunks.get(&h).cloned()
    })
    .unwrap_err();
    assert_eq!(err, AttachmentError::HashMismatch { index: 0 });
    // The same chunk bytes opened at another index fail the AEAD, even with a
    // manifest that (impossibly) listed them there.
    let mut o = opener(&file);
    o.open_manifest(&file.manifest.as_ref().unwrap().bytes)
        .unwrap();
    let err = o.open_at(1, &file.chunks[0].bytes).unwrap_err();
    assert_eq!(err, AttachmentError::HashMismatch { index: 1 });
    assert_eq!(
        file.secret
            .open_chunk(file.size, 1, 0, &file.chunks[0].bytes),
        Err(AttachmentError::Decrypt { index: 1 })
    );
    // In-order opening refuses a chunk given out of turn.
    assert!(matches!(
        o.push(1, &file.chunks[1].bytes),
        Err(AttachmentError::OutOfOrder {
            expected: 0,
            got: 1
        })
    ));
}

#[test]
fn a_truncated_file_is_detected() {
    let (plain, file) = three_chunk_file();
    // The opener stops before the last chunk: finish refuses it.
    let mut o = opener(&file);
    o.open_manifest(&file.manifest.as_ref().unwrap().bytes)
        .unwrap();
    o.push(0, &file.chunks[0].bytes).unwrap();
    o.push(1, &file.chunks[1].bytes).unwrap();
    assert_eq!(
        o.finish(),
        Err(AttachmentError::Truncated {
            got: 2,
            expected: 3
        })
    );
    // A file sealed from the first two chunks' worth of bytes is another file:
    // a descriptor claiming the shorter size with the original chunks does not
    // open (the size is bound into every chunk, and chunk 1 is not the last).
    let short_size = 2 * CHUNK_DATA_LEN as u64;
    let short = seal_file(file.secret.clone(), &plain[..short_size as usize]).unwrap();
    let mut forged = FileOpener::new(file.secret.clone(), short_size, 2, short.root).unwrap();
    forged
        .open_manifest(&short.manifest.as_ref().unwrap().bytes)
        .unwrap();
    assert!(matches!(
        forged.open_at(1, &file.chunks[1].bytes),
        Err(AttachmentError::HashMismatch { index: 1 })
    ));
    // Opening the original chunk directly as the last of a shorter file fails
    // the AEAD: it was not sealed as a last chunk, nor with that size.
    let as_last = file
        .secret
        .open_chunk(short_size, 1, 0x01, &file.chunks[1].bytes);
    assert_eq!(as_last, Err(AttachmentError::Decrypt { index: 1 }));
}

#[test]
fn a_lying_descriptor_is_refused() {
    let (_, file) = three_chunk_file();
    assert!(FileOpener::new(file.secret.clone(), file.size, 2, file.root).is_err());
    let wrong_key = FileSecret::from_parts([6; 32], [5; 19]);
    let chunks = store(&file);
    let o = FileOpener::new(wrong_key, file.size, 3, file.root).unwrap();
    let err = open_file(o, |h| chunks.get(h).cloned()).unwrap_err();
    assert_eq!(
        err,
        AttachmentError::Decrypt {
            index: MANIFEST_INDEX
        }
    );
}

#[test]
fn descriptors_and_locations_round_trip_and_check() {
    let (_, file) = three_chunk_file();
    let mut image = Attachment::new(AttachmentKind::Image, "cat.jpg", "image/jpeg", &file);
    image.seal_thumbnail(b"tiny jpeg").unwrap();
    let bytes = image.encode().unwrap();
    let back = Attachment::decode(&bytes).unwrap();
    assert_eq!(back, image);
    assert_eq!(
        back.open_thumbnail().unwrap().as_deref(),
        Some(&b"tiny jpeg"[..])
    );
    let mut voice = Attachment::new(AttachmentKind::VoiceNote, "note.ogg", "audio/ogg", &file);
    assert!(voice.encode().is_err(), "a voice note needs a duration");
    voice.duration_ms = Some(12_000);
    assert_eq!(Attachment::decode(&voice.encode().unwrap()).unwrap(), voice);
    let mut wrong = image.clone();
    wrong.kind = AttachmentKind::File;
    assert!(wrong.encode().is_err(), "thumbnails are for images");
    let mut wrong = image.clone();
    wrong.chunk_count = 4;
    assert!(wrong.encode().is_err());
    let mut wrong = image.clone();
    wrong.thumbnail.as_mut().unwrap()[0] ^= 1;
    assert!(wrong.open_thumbnail().is_err());
    for cut in 0..bytes.len() {
        assert!(Attachment::decode(&bytes[..cut]).is_err());
    }
    let here = Location {
        lat: 48.2082,
        lon: 16.3738,
        label: Some("Stephansplatz".into()),
    };
    assert_eq!(Location::decode(&here.encode().unwrap()).unwrap(), here);
    for (lat, lon) in [
        (91.0, 0.0),
        (0.0, -180.5),
        (f64::NAN, 0.0),
        (0.0, f64::INFINITY),
    ] {
        let l = Location {
            lat,
            lon,
            label: None,
        };
        assert!(l.encode().is_err(), "{lat} {lon}");
        let raw = postcard::to_allocvec(&l).unwrap();
        assert!(Location::decode(&raw).is_err());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn arbitrary_sizes_round_trip(len in 0usize..(3 * CHUNK_DATA_LEN + 7), seed in any::<u8>()) {
        let plain = data(len, seed);
        let file = seal_file(FileSecret::from_parts([seed; 32], [7; 19]), &plain).unwrap();
        let chunks = store(&file);
        let out = open_file(opener(&file), |h| chunks.get(h).cloned()).unwrap();
        prop_assert_eq!(out, plain);
    }
}
