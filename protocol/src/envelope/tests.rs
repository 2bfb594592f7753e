//! Unit and property tests of sealing and opening envelopes.

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;

use super::content::tests::{arb_body, every_kind};
use super::*;
use crate::codec;
use crate::constants::{CONTENT_ID_LEN, ENVELOPE_INNER_FIXED_LEN, MAX_MESSAGE_DATA};

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn alice() -> AccountKey {
    AccountKey::from_entropy([0xA1; 16])
}

fn bob() -> AccountKey {
    AccountKey::from_entropy([0xB0; 16])
}

fn carol() -> AccountKey {
    AccountKey::from_entropy([0xC4; 16])
}

fn text(s: &str) -> Content {
    Content {
        id: ContentId([5; CONTENT_ID_LEN]),
        sent_at: 1_700_000_000_000,
        body: ContentBody::Text { text: s.into() },
    }
}

/// Builds an inner plaintext by hand, signed by `sender` for `recipient`, so that
/// tests can break one rule at a time.
fn inner_for(
    sender: &AccountKey,
    recipient: &AccountId,
    content_bytes: &[u8],
    bucket: usize,
) -> Zeroizing<Vec<u8>> {
    let sig = sender.sign(&signed_message(
        &sender.account_id(),
        recipient,
        content_bytes,
    ));
    let mut inner = Zeroizing::new(Vec::new());
    inner.extend_from_slice(sender.account_id().as_bytes());
    inner.extend_from_slice(&sig);
    inner.extend_from_slice(&u32::try_from(content_bytes.len()).unwrap().to_le_bytes());
    inner.extend_from_slice(content_bytes);
    inner.resize(bucket - ENVELOPE_HEADER_LEN - TAG_LEN, 0);
    inner
}

#[test]
fn every_kind_round_trips() {
    let (a, b) = (alice(), bob());
    let mut r = rng(1);
    for body in every_kind() {
        let content = Content::new(&mut r, 42, body);
        let sealed = seal(&a, &b.account_id(), &content, &mut r).unwrap();
        assert!(ENVELOPE_BUCKETS.contains(&sealed.len()));
        let opened = open(&b, &sealed).unwrap();
        assert_eq!(opened.sender, a.account_id());
        assert_eq!(opened.content, content);
    }
}

#[test]
fn a_note_to_self_opens() {
    let a = alice();
    let sealed = seal(&a, &a.account_id(), &text("note"), &mut rng(2)).unwrap();
    assert_eq!(open(&a, &sealed).unwrap().sender, a.account_id());
}

#[test]
fn two_seals_of_one_content_differ() {
    let (a, b) = (alice(), bob());
    let mut r = rng(3);
    let one = seal(&a, &b.account_id(), &text("hi"), &mut r).unwrap();
    let two = seal(&a, &b.account_id(), &text("hi"), &mut r).unwrap();
    assert_ne!(one, two);
}

#[test]
fn the_wrong_recipient_cannot_open() {
    let sealed = seal(&alice(), &bob().account_id(), &text("for bob"), &mut rng(4)).unwrap();
    assert_eq!(
        open(&carol(), &sealed),
        Err(Error::Decrypt { what: "envelope" })
    );
    // Not even the sender can open what it sent to someone else.
    assert_eq!(
        open(&alice(), &sealed),
        Err(Error::Decrypt { what: "envelope" })
    );
}

#[test]
fn every_changed_byte_is_rejected() {
    let b = bob();
    let sealed = seal(&alice(), &b.account_id(), &text("x"), &mut rng(5)).unwrap();
    assert_eq!(sealed.len(), ENVELOPE_BUCKETS[0]);
    for i in 0..sealed.len() {
        for flip in [0x01, 0x80] {
            let mut bad = sealed.clone();
            bad[i] ^= flip;
            let err = open(&b, &bad).unwrap_err();
            if i == 0 {
                assert!(matches!(
                    err,
                    Error::Version {
                        found: _,
                        supported: 1,
                        ..
                    }
                ));
            } else {
                assert!(
                    matches!(err, Error::Decrypt { .. } | Error::BadKey { .. }),
                    "byte {i}: {err:?}"
                );
            }
        }
    }
}

#[test]
fn a_recipient_cannot_forward_as_if_addressed_to_another() {
    let (a, b, c) = (alice(), bob(), carol());
    let sealed = seal(&a, &b.account_id(), &text("only for bob"), &mut rng(6)).unwrap();
    // Bob decrypts and re-encrypts Alice's signed inner part, unchanged, to Carol.
    let inner = decrypt(&b, &sealed).unwrap();
    let forwarded = encrypt(
        &c.account_id().x25519_public().unwrap(),
        inner.clone(),
        &mut rng(7),
    )
    .unwrap();
    assert_eq!(forwarded.len(), sealed.len());
    assert_eq!(
        open(&c, &forwarded),
        Err(Error::BadSignature { what: "envelope" })
    );
    // The same construction addressed back to Bob opens, so the rejection above
    // is the signature's binding to Bob and nothing else.
    let back = encrypt(&b.account_id().x25519_public().unwrap(), inner, &mut rng(8)).unwrap();
    assert_eq!(open(&b, &back).unwrap().sender, a.account_id());
}

#[test]
fn wrong_sizes_are_rejected_before_any_crypto() {
    let b = bob();
    let smallest = ENVELOPE_BUCKETS[0];
    let largest = MAX_MESSAGE_DATA;
    for len in [0, 1, ENVELOPE_OVERHEAD_LEN, smallest - 1] {
        assert!(
            matches!(open(&b, &vec![1; len]), Err(Error::TooShort { .. })),
            "{len}"
        );
    }
    for len in [largest + 1, 2 * largest, 1 << 20] {
        assert!(
            matches!(open(&b, &vec![1; len]), Err(Error::TooLarge { .. })),
            "{len}"
        );
    }
    for len in [smallest + 1, 1000, ENVELOPE_BUCKETS[1] - 1, largest - 1] {
        assert!(
            matches!(open(&b, &vec![1; len]), Err(Error::OutOfRange { .. })),
            "{len}"
        );
    }
    // A real envelope cut short or extended is refused the same way.
    let sealed = seal(&alice(), &b.account_id(), &text("hi"), &mut rng(9)).unwrap();
    assert!(matches!(
        open(&b, &sealed[..sealed.len() - 1]),
        Err(Error::TooShort { .. })
    ));
    let mut longer = sealed.clone();
    longer.push(0);
    assert!(matches!(open(&b, &longer), Err(Error::OutOfRange { .. })));
    // Right size, unknown version: refused without decrypting.
    for version in [0u8, 2, 0xff] {
        let mut v = sealed.clone();
        v[0] = version;
        assert_eq!(
            open(&b, &v),
            Err(Error::Version {
                what: "envelope",
                found: u16::from(version),
                supported: 1
            })
        );
    }
}

#[test]
fn a_low_order_ephemeral_key_is_refused() {
    let mut bytes = vec![0u8; ENVELOPE_BUCKETS[0]];
    bytes[0] = ENVELOPE_VERSION;
    // bytes[1..33] = 0: the identity point, of low order.
    assert!(matches!(open(&bob(), &bytes), Err(Error::BadKey { .. })));
}

#[test]
fn the_length_is_always_the_smallest_bucket_that_fits() {
    let (a, b) = (alice(), bob());
    let mut r = rng(10);
    let base = text("a").to_bytes().unwrap().len() - 1;
    for &bucket in &ENVELOPE_BUCKETS {
        // Text lengths whose content lands just under, at and over each bucket.
        let fit = bucket - ENVELOPE_OVERHEAD_LEN - base - 3;
        for n in [fit.saturating_sub(2), fit, fit + 1, fit + 4] {
            let c = text(&"z".repeat(n));
            let content_len = c.to_bytes().map(|v| v.len());
            match content_len {
                Ok(content_len) => {
                    let sealed = seal(&a, &b.account_id(), &c, &mut r).unwrap();
                    let expected = bucket_for(content_len + ENVELOPE_OVERHEAD_LEN).unwrap();
                    assert_eq!(sealed.len(), expected);
                    assert_eq!(Some(sealed.len()), sealed_len(content_len));
                    // No smaller bucket would have held it.
                    assert!(
                        ENVELOPE_BUCKETS
                            .iter()
                            .filter(|&&s| s < expected)
                            .all(|&s| s < content_len + ENVELOPE_OVERHEAD_LEN)
                    );
                    assert_eq!(open(&b, &sealed).unwrap().content, c);
                }
                Err(e) => assert!(matches!(e, Error::DoesNotFit { .. })),
            }
        }
    }
}

#[test]
fn the_largest_content_fits_and_one_more_byte_does_not() {
    let (a, b) = (alice(), bob());
    // Find the text length whose encoded content is exactly MAX_CONTENT_LEN.
    let n = (MAX_CONTENT_LEN - 40..MAX_CONTENT_LEN)
        .find(|&n| codec::encode("t", &text(&"q".repeat(n))).unwrap().len() == MAX_CONTENT_LEN)
        .unwrap();
    let largest = text(&"q".repeat(n));
    let sealed = seal(&a, &b.account_id(), &largest, &mut rng(11)).unwrap();
    assert_eq!(sealed.len(), MAX_MESSAGE_DATA);
    assert_eq!(open(&b, &sealed).unwrap().content, largest);
    assert_eq!(
        seal(&a, &b.account_id(), &text(&"q".repeat(n + 1)), &mut rng(11)),
        Err(Error::DoesNotFit {
            what: "envelope content",
            len: MAX_CONTENT_LEN + 1,
            max: MAX_CONTENT_LEN
        })
    );
}

#[test]
fn invalid_content_is_neither_sealed_nor_opened() {
    let (a, b) = (alice(), bob());
    let empty = text("");
    assert!(matches!(
        seal(&a, &b.account_id(), &empty, &mut rng(12)),
        Err(Error::OutOfRange { .. })
    ));
    // A sender that skips validation signs it anyway; the recipient refuses it.
    let raw = codec::encode("t", &empty).unwrap();
    let inner = inner_for(&a, &b.account_id(), &raw, ENVELOPE_BUCKETS[0]);
    let sealed = encrypt(&b.x25519_public(), inner, &mut rng(13)).unwrap();
    assert!(matches!(open(&b, &sealed), Err(Error::OutOfRange { .. })));
}

#[test]
fn a_malformed_inner_part_is_refused() {
    let (a, b) = (alice(), bob());
    let bx = b.x25519_public();
    let raw = text("hi").to_bytes().unwrap();
    let good = inner_for(&a, &b.account_id(), &raw, ENVELOPE_BUCKETS[0]);
    let sealed = encrypt(&bx, good.clone(), &mut rng(14)).unwrap();
    assert!(open(&b, &sealed).is_ok());

    // Non-zero padding: one content has one encoding.
    let mut padded = good.clone();
    if let Some(last) = padded.last_mut() {
        *last = 1;
    }
    let sealed = encrypt(&bx, padded, &mut rng(15)).unwrap();
    assert!(matches!(open(&b, &sealed), Err(Error::Decode { .. })));

    // A content length past the end, and one past the largest content.
    let len_at = KEY_LEN + SIGNATURE_LEN;
    for claimed in [
        u32::try_from(good.len() - ENVELOPE_INNER_FIXED_LEN + 1).unwrap(),
        u32::MAX,
    ] {
        let mut long = good.clone();
        long[len_at..len_at + 4].copy_from_slice(&claimed.to_le_bytes());
        let sealed = encrypt(&bx, long, &mut rng(16)).unwrap();
        assert!(matches!(open(&b, &sealed), Err(Error::Decode { .. })));
    }

    // A sender key that is not a curve point.
    let bad_point = (0u8..=255)
        .map(|y| {
            let mut k = [0u8; KEY_LEN];
            k[0] = y;
            k
        })
        .find(|k| AccountId::from_bytes(*k).is_err())
        .unwrap();
    let mut not_a_key = good.clone();
    not_a_key[..KEY_LEN].copy_from_slice(&bad_point);
    let sealed = encrypt(&bx, not_a_key, &mut rng(17)).unwrap();
    assert!(matches!(open(&b, &sealed), Err(Error::BadKey { .. })));

    // Someone else's key in the sender field: the signature no longer matches.
    let mut impostor = good.clone();
    impostor[..KEY_LEN].copy_from_slice(carol().account_id().as_bytes());
    let sealed = encrypt(&bx, impostor, &mut rng(18)).unwrap();
    assert_eq!(
        open(&b, &sealed),
        Err(Error::BadSignature { what: "envelope" })
    );
}

#[test]
fn a_larger_bucket_than_needed_opens() {
    let (a, b) = (alice(), bob());
    let raw = text("hi").to_bytes().unwrap();
    let inner = inner_for(&a, &b.account_id(), &raw, ENVELOPE_BUCKETS[2]);
    let sealed = encrypt(&b.x25519_public(), inner, &mut rng(19)).unwrap();
    assert_eq!(sealed.len(), ENVELOPE_BUCKETS[2]);
    assert_eq!(open(&b, &sealed).unwrap().content, text("hi"));
}

#[test]
fn buckets_and_sizes() {
    assert_eq!(bucket_for(0), Some(ENVELOPE_BUCKETS[0]));
    assert_eq!(bucket_for(ENVELOPE_BUCKETS[0]), Some(ENVELOPE_BUCKETS[0]));
    assert_eq!(
        bucket_for(ENVELOPE_BUCKETS[0] + 1),
        Some(ENVELOPE_BUCKETS[1])
    );
    assert_eq!(bucket_for(MAX_MESSAGE_DATA + 1), None);
    assert_eq!(sealed_len(MAX_CONTENT_LEN), Some(MAX_MESSAGE_DATA));
    assert_eq!(sealed_len(MAX_CONTENT_LEN + 1), None);
    assert_eq!(sealed_len(usize::MAX), None);
}

#[test]
fn debug_shows_no_secret_and_no_text() {
    let a = alice();
    let entropy_hex: String = a.entropy().iter().map(|b| format!("{b:02x}")).collect();
    let key_debug = format!("{a:?}");
    assert!(
        !key_debug.to_lowercase().contains(&entropy_hex),
        "{key_debug}"
    );
    assert!(!key_debug.contains("161"), "{key_debug}"); // 0xA1 in decimal
    let sealed = seal(
        &a,
        &bob().account_id(),
        &text("the password is swordfish"),
        &mut rng(20),
    )
    .unwrap();
    let opened = open(&bob(), &sealed).unwrap();
    let s = format!("{opened:?}");
    assert!(!s.contains("swordfish"), "{s}");
    assert!(s.contains("Text"), "{s}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn seal_open_round_trip_over_text_lengths(len in 1usize..MAX_CONTENT_LEN - 32, seed in any::<u64>()) {
        let (a, b) = (alice(), bob());
        let c = text(&"m".repeat(len));
        let sealed = seal(&a, &b.account_id(), &c, &mut rng(seed)).unwrap();
        prop_assert_eq!(Some(sealed.len()), sealed_len(c.to_bytes().unwrap().len()));
        let opened = open(&b, &sealed).unwrap();
        prop_assert_eq!(opened.sender, a.account_id());
        prop_assert_eq!(opened.content, c);
    }

    #[test]
    fn seal_open_round_trip_over_kinds(body in arb_body(), sent_at in any::<u64>(), seed in any::<u64>()) {
        let (a, b) = (alice(), bob());
        let mut r = rng(seed);
        let c = Content::new(&mut r, sent_at, body);
        let sealed = seal(&a, &b.account_id(), &c, &mut r).unwrap();
        prop_assert_eq!(open(&b, &sealed).unwrap().content, c);
    }

    #[test]
    fn random_bytes_of_a_bucket_size_never_open(
        bucket in 0usize..ENVELOPE_BUCKETS.len(),
        seed in any::<u64>(),
    ) {
        let mut bytes = vec![0u8; ENVELOPE_BUCKETS[bucket]];
        rand::Rng::fill_bytes(&mut rng(seed), &mut bytes);
        bytes[0] = ENVELOPE_VERSION;
        prop_assert!(open(&bob(), &bytes).is_err());
    }
}
