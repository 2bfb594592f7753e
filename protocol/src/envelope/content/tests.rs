//! Round trips, validation and `Debug` of every content kind.

use super::*;
use crate::attachment::stream::NONCE_PREFIX_LEN;
use crate::attachment::{AttachmentKind, ChunkHash, FileSecret, data_chunks_for};
use proptest::prelude::*;

/// A valid descriptor of a `size`-byte file of `kind` (fixed key and hash).
pub(crate) fn descriptor(kind: AttachmentKind, size: u64) -> Attachment {
    Attachment {
        kind,
        name: "holiday photo.jpg".into(),
        media_type: "image/jpeg".into(),
        size,
        secret: FileSecret::from_parts([0x11; 32], [0x22; NONCE_PREFIX_LEN]),
        root: ChunkHash([0x33; 32]),
        chunk_count: u32::try_from(data_chunks_for(size)).unwrap(),
        thumbnail: None,
        duration_ms: (kind == AttachmentKind::VoiceNote).then_some(4_500),
    }
}

fn place(lat: f64, lon: f64, label: Option<&str>) -> ContentBody {
    ContentBody::Location {
        location: Location {
            lat,
            lon,
            label: label.map(str::to_owned),
        },
    }
}

fn id(n: u8) -> ContentId {
    ContentId([n; CONTENT_ID_LEN])
}

fn content(body: ContentBody) -> Content {
    Content {
        id: id(7),
        sent_at: 1_700_000_000_000,
        body,
    }
}

/// One valid content of every kind.
pub(crate) fn every_kind() -> Vec<ContentBody> {
    vec![
        ContentBody::Text {
            text: "hello, sotto ✓".into(),
        },
        ContentBody::Receipt {
            kind: ReceiptKind::Delivered,
            ids: vec![id(1), id(2)],
        },
        ContentBody::Receipt {
            kind: ReceiptKind::Read,
            ids: vec![id(3)],
        },
        ContentBody::Typing { started: true },
        ContentBody::Typing { started: false },
        ContentBody::DisappearingTimer {
            mode: DisappearMode::Off,
        },
        ContentBody::DisappearingTimer {
            mode: DisappearMode::AfterSend { ms: 60_000 },
        },
        ContentBody::DisappearingTimer {
            mode: DisappearMode::AfterRead {
                ms: MAX_DISAPPEAR_TIMER_MS,
            },
        },
        ContentBody::RequestResponse { accepted: true },
        ContentBody::RequestResponse { accepted: false },
        ContentBody::Profile {
            display_name: "Ada Lovelace".into(),
        },
        ContentBody::Profile {
            display_name: String::new(),
        },
        ContentBody::DeleteForEveryone {
            ids: vec![id(9); MAX_CONTENT_IDS],
        },
        ContentBody::Attachment {
            attachment: descriptor(AttachmentKind::Image, 200_000),
            caption: Some("the view from the top".into()),
        },
        ContentBody::Attachment {
            attachment: descriptor(AttachmentKind::VoiceNote, 0),
            caption: None,
        },
        place(48.2104, 16.3638, Some("Café Central")),
        place(-90.0, 180.0, None),
        ContentBody::GroupRejoin { group: [5; 32] },
    ]
}

#[test]
fn every_kind_round_trips() {
    for body in every_kind() {
        let c = content(body);
        let bytes = c.to_bytes().unwrap();
        assert_eq!(Content::from_bytes(&bytes).unwrap(), c);
    }
}

#[test]
fn invalid_contents_are_refused_on_both_sides() {
    let bad = [
        ContentBody::Text {
            text: String::new(),
        },
        ContentBody::Receipt {
            kind: ReceiptKind::Read,
            ids: vec![],
        },
        ContentBody::DeleteForEveryone {
            ids: vec![id(1); MAX_CONTENT_IDS + 1],
        },
        ContentBody::DisappearingTimer {
            mode: DisappearMode::AfterSend {
                ms: MIN_DISAPPEAR_TIMER_MS - 1,
            },
        },
        ContentBody::DisappearingTimer {
            mode: DisappearMode::AfterRead {
                ms: MAX_DISAPPEAR_TIMER_MS + 1,
            },
        },
        ContentBody::Profile {
            display_name: "x".repeat(MAX_DISPLAY_NAME_CHARS + 1),
        },
        ContentBody::Profile {
            display_name: "Eve\nAlice".into(),
        },
        ContentBody::Profile {
            display_name: "Bob\u{202E}ecilA".into(),
        },
    ];
    let mut too_many_chunks = descriptor(AttachmentKind::File, 10);
    too_many_chunks.chunk_count = 2;
    let mut voice_without_duration = descriptor(AttachmentKind::VoiceNote, 10);
    voice_without_duration.duration_ms = None;
    let attached = |attachment, caption: Option<String>| ContentBody::Attachment {
        attachment,
        caption,
    };
    let bad = bad.into_iter().chain([
        attached(too_many_chunks, None),
        attached(voice_without_duration, None),
        attached(descriptor(AttachmentKind::File, 1), Some(String::new())),
        attached(descriptor(AttachmentKind::File, 1), Some(" \n ".into())),
        attached(
            descriptor(AttachmentKind::File, 1),
            Some("x".repeat(MAX_CAPTION_LEN + 1)),
        ),
        place(90.5, 0.0, None),
        place(0.0, -180.1, None),
        place(f64::NAN, 0.0, None),
        place(0.0, 0.0, Some(&"l".repeat(300))),
    ]);
    for body in bad {
        let c = content(body);
        assert!(
            matches!(c.to_bytes(), Err(Error::OutOfRange { .. })),
            "{c:?} was encoded"
        );
        // A peer that skips validation still cannot get it past the decoder.
        let raw = codec::encode("test", &c).unwrap();
        assert!(
            matches!(Content::from_bytes(&raw), Err(Error::OutOfRange { .. })),
            "{c:?} was decoded"
        );
    }
    // 64 characters are allowed even where each takes 4 bytes.
    let name = "😀".repeat(MAX_DISPLAY_NAME_CHARS);
    content(ContentBody::Profile { display_name: name })
        .validate()
        .unwrap();
}

#[test]
fn oversized_text_does_not_fit() {
    let c = content(ContentBody::Text {
        text: "a".repeat(MAX_CONTENT_LEN),
    });
    assert!(matches!(
        c.to_bytes(),
        Err(Error::DoesNotFit {
            max: MAX_CONTENT_LEN,
            ..
        })
    ));
}

#[test]
fn decoder_refuses_trailing_bytes_and_unknown_kinds() {
    let mut bytes = content(ContentBody::Typing { started: true })
        .to_bytes()
        .unwrap();
    bytes.push(0);
    assert!(Content::from_bytes(&bytes).is_err());
    // id (16) + sent_at (varint 0) + an unknown variant index.
    let mut unknown = vec![0u8; CONTENT_ID_LEN];
    unknown.extend_from_slice(&[0, 99]);
    assert!(matches!(
        Content::from_bytes(&unknown),
        Err(Error::Decode { .. })
    ));
}

#[test]
fn only_the_canonical_encoding_decodes() {
    let c = Content {
        id: id(0),
        sent_at: 0,
        body: ContentBody::Typing { started: true },
    };
    let canonical = c.to_bytes().unwrap();
    assert_eq!(Content::from_bytes(&canonical).unwrap(), c);
    // The same value with `sent_at` as the over-long varint 0x80 0x00.
    let mut overlong = vec![0u8; CONTENT_ID_LEN];
    overlong.extend_from_slice(&[0x80, 0x00, 2, 1]);
    assert!(matches!(
        Content::from_bytes(&overlong),
        Err(Error::Decode { .. })
    ));
}

#[test]
fn debug_hides_what_people_wrote() {
    let c = content(ContentBody::Text {
        text: "meet at the old mill".into(),
    });
    let s = format!("{c:?}");
    assert!(!s.contains("mill"), "{s}");
    let p = format!(
        "{:?}",
        ContentBody::Profile {
            display_name: "Grace Hopper".into()
        }
    );
    assert!(!p.contains("Grace"), "{p}");
    let a = format!(
        "{:?}",
        ContentBody::Attachment {
            attachment: descriptor(AttachmentKind::Image, 5),
            caption: Some("secret plans".into()),
        }
    );
    assert!(!a.contains("holiday") && !a.contains("plans"), "{a}");
    assert!(!a.contains("jpeg") && !a.contains("17, 17"), "{a}");
    assert!(
        a.contains("name_len: 17") && a.contains("caption_len: Some(12)"),
        "{a}"
    );
    let l = format!("{:?}", place(48.2104, 16.3638, Some("Café Central")));
    assert!(!l.contains("48.2") && !l.contains("Central"), "{l}");
    assert_eq!(
        format!("{:?}", id(0xab)),
        format!("ContentId({})", "ab".repeat(16))
    );
}

fn arb_id() -> impl Strategy<Value = ContentId> {
    any::<[u8; CONTENT_ID_LEN]>().prop_map(ContentId)
}

fn arb_ids() -> impl Strategy<Value = Vec<ContentId>> {
    prop::collection::vec(arb_id(), 1..=MAX_CONTENT_IDS)
}

fn arb_timer() -> impl Strategy<Value = DisappearMode> {
    let ms = MIN_DISAPPEAR_TIMER_MS..=MAX_DISAPPEAR_TIMER_MS;
    prop_oneof![
        Just(DisappearMode::Off),
        ms.clone().prop_map(|ms| DisappearMode::AfterSend { ms }),
        ms.prop_map(|ms| DisappearMode::AfterRead { ms }),
    ]
}

pub(crate) fn arb_body() -> impl Strategy<Value = ContentBody> {
    prop_oneof![
        ".{1,300}".prop_map(|text| ContentBody::Text { text }),
        (any::<bool>(), arb_ids()).prop_map(|(read, ids)| ContentBody::Receipt {
            kind: if read {
                ReceiptKind::Read
            } else {
                ReceiptKind::Delivered
            },
            ids,
        }),
        any::<bool>().prop_map(|started| ContentBody::Typing { started }),
        arb_timer().prop_map(|mode| ContentBody::DisappearingTimer { mode }),
        any::<bool>().prop_map(|accepted| ContentBody::RequestResponse { accepted }),
        "[^\\p{Cc}\u{2028}\u{2029}\u{202A}-\u{202E}\u{2066}-\u{2069}]{0,64}"
            .prop_map(|display_name| ContentBody::Profile { display_name }),
        arb_ids().prop_map(|ids| ContentBody::DeleteForEveryone { ids }),
        (0u64..10_000_000, proptest::option::of("[a-z ]{1,40}")).prop_map(|(size, caption)| {
            ContentBody::Attachment {
                attachment: descriptor(AttachmentKind::File, size),
                caption: caption.filter(|c| !c.trim().is_empty()),
            }
        }),
        (
            -90.0f64..=90.0,
            -180.0f64..=180.0,
            proptest::option::of(".{0,40}")
        )
            .prop_map(|(lat, lon, label)| ContentBody::Location {
                location: Location { lat, lon, label }
            }),
    ]
}

proptest! {
    #[test]
    fn encode_decode_round_trip(id in arb_id(), sent_at in any::<u64>(), body in arb_body()) {
        let c = Content { id, sent_at, body };
        let bytes = c.to_bytes().unwrap();
        prop_assert_eq!(Content::from_bytes(&bytes).unwrap(), c);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        // Whatever decodes must also be valid and re-encode to the same bytes.
        if let Ok(c) = Content::from_bytes(&bytes) {
            prop_assert_eq!(c.to_bytes().unwrap(), bytes);
        }
    }
}
