//! What an envelope carries: a [`Content`] (random id, sender's clock, one of the
//! content kinds of a conversation) and the rules every decoded content must meet.
//!
//! A content is encoded with [`crate::codec`] (postcard) and checked with
//! [`Content::validate`] on both sides: the sender refuses to seal what the
//! recipient would refuse to open. What people wrote (texts, display names) is
//! never shown by `Debug`, so a stray `{:?}` in a log line cannot leak it.

use std::fmt;

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::constants::{
    CONTENT_ID_LEN, MAX_CONTENT_IDS, MAX_CONTENT_LEN, MAX_DISAPPEAR_TIMER_MS,
    MAX_DISPLAY_NAME_CHARS, MIN_DISAPPEAR_TIMER_MS,
};
use crate::error::{Error, Result};
use crate::time::{DAY_MS, SECOND_MS, UnixMillis};

/// The random 16-byte id of one content. Receivers dedupe by it; receipts and
/// deletes refer to contents by it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContentId(pub [u8; CONTENT_ID_LEN]);

impl ContentId {
    /// A fresh id from `rng`. 128 random bits: collisions are not a concern.
    pub fn random<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut id = [0u8; CONTENT_ID_LEN];
        rng.fill_bytes(&mut id);
        Self(id)
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; CONTENT_ID_LEN] {
        &self.0
    }
}

impl fmt::Display for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl fmt::Debug for ContentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentId({self})")
    }
}

/// Which receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ReceiptKind {
    /// The recipient's client has the messages.
    Delivered,
    /// The recipient has seen the messages.
    Read,
}

/// A conversation's disappearing-messages setting (DESIGN §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DisappearMode {
    /// Messages stay.
    Off,
    /// Messages disappear `ms` after they were sent; the swarm TTL is the timer.
    AfterSend {
        /// The timer, in milliseconds.
        ms: u64,
    },
    /// Messages disappear `ms` after the recipient read them.
    AfterRead {
        /// The timer, in milliseconds.
        ms: u64,
    },
}

/// One of the content kinds of a conversation (DESIGN §8).
///
/// The order of the variants is the wire format (postcard encodes the index):
/// add new kinds at the end only.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ContentBody {
    /// A text message. Not empty; its length is bounded only by what fits in the
    /// largest envelope ([`crate::envelope::seal`] says `DoesNotFit` otherwise).
    Text {
        /// The text, UTF-8.
        text: String,
    },
    /// Delivery or read receipt for earlier contents.
    Receipt {
        /// Delivered or read.
        kind: ReceiptKind,
        /// The contents it is for: 1 to [`MAX_CONTENT_IDS`].
        ids: Vec<ContentId>,
    },
    /// Typing started or stopped.
    Typing {
        /// `true` when typing started, `false` when it stopped.
        started: bool,
    },
    /// The sender changed the conversation's disappearing-messages timer.
    DisappearingTimer {
        /// The new setting.
        mode: DisappearMode,
    },
    /// The answer to a message request.
    RequestResponse {
        /// `true` if the request was accepted.
        accepted: bool,
    },
    /// The sender's profile.
    Profile {
        /// Display name: at most [`MAX_DISPLAY_NAME_CHARS`] characters, no control
        /// or bidirectional-override characters. Empty means "no name".
        display_name: String,
    },
    /// The sender deletes its own earlier contents for both ends.
    DeleteForEveryone {
        /// The contents to delete: 1 to [`MAX_CONTENT_IDS`].
        ids: Vec<ContentId>,
    },
}

impl ContentBody {
    /// Checks the rules of this kind; the error says which value is wrong and why.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Text { text } => {
                if text.is_empty() {
                    return Err(out_of_range("message text", "it is empty".into()));
                }
                Ok(())
            }
            Self::Receipt { ids, .. } => check_ids("receipt ids", ids),
            Self::DeleteForEveryone { ids } => check_ids("delete-for-everyone ids", ids),
            Self::DisappearingTimer { mode } => check_timer(mode),
            Self::Profile { display_name } => check_display_name(display_name),
            Self::Typing { .. } | Self::RequestResponse { .. } => Ok(()),
        }
    }
}

impl fmt::Debug for ContentBody {
    /// Texts and display names are shown by length only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text { text } => f
                .debug_struct("Text")
                .field("text_len", &text.len())
                .finish_non_exhaustive(),
            Self::Receipt { kind, ids } => f
                .debug_struct("Receipt")
                .field("kind", kind)
                .field("ids", ids)
                .finish(),
            Self::Typing { started } => f.debug_struct("Typing").field("started", started).finish(),
            Self::DisappearingTimer { mode } => f
                .debug_struct("DisappearingTimer")
                .field("mode", mode)
                .finish(),
            Self::RequestResponse { accepted } => f
                .debug_struct("RequestResponse")
                .field("accepted", accepted)
                .finish(),
            Self::Profile { display_name } => f
                .debug_struct("Profile")
                .field("display_name_chars", &display_name.chars().count())
                .finish_non_exhaustive(),
            Self::DeleteForEveryone { ids } => f
                .debug_struct("DeleteForEveryone")
                .field("ids", ids)
                .finish(),
        }
    }
}

/// What one envelope carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Content {
    /// Random id; receivers dedupe by it.
    pub id: ContentId,
    /// The sender's clock when it was written (not trusted for ordering across
    /// senders; the swarm timestamp is).
    pub sent_at: UnixMillis,
    /// What it says.
    pub body: ContentBody,
}

impl Content {
    /// A content with a fresh random id.
    pub fn new<R: CryptoRng + ?Sized>(rng: &mut R, sent_at: UnixMillis, body: ContentBody) -> Self {
        Self {
            id: ContentId::random(rng),
            sent_at,
            body,
        }
    }

    /// Checks the rules of its kind.
    pub fn validate(&self) -> Result<()> {
        self.body.validate()
    }

    /// Validates and encodes; fails with [`Error::DoesNotFit`] if the encoding is
    /// longer than [`MAX_CONTENT_LEN`], the most the largest envelope holds.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let bytes = codec::encode("envelope content", self)?;
        if bytes.len() > MAX_CONTENT_LEN {
            return Err(Error::DoesNotFit {
                what: "envelope content",
                len: bytes.len(),
                max: MAX_CONTENT_LEN,
            });
        }
        Ok(bytes)
    }

    /// Decodes exactly `bytes` (at most [`MAX_CONTENT_LEN`]) and validates.
    /// [`codec::decode`] refuses any encoding but the canonical one, so the same
    /// content never travels as two byte strings.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let content: Self = codec::decode("envelope content", bytes, MAX_CONTENT_LEN)?;
        content.validate()?;
        Ok(content)
    }
}

fn out_of_range(what: &'static str, reason: String) -> Error {
    Error::OutOfRange { what, reason }
}

fn check_ids(what: &'static str, ids: &[ContentId]) -> Result<()> {
    if ids.is_empty() {
        return Err(out_of_range(what, "the list is empty".into()));
    }
    if ids.len() > MAX_CONTENT_IDS {
        return Err(out_of_range(
            what,
            format!(
                "{} ids, at most {MAX_CONTENT_IDS} fit in one content: send several",
                ids.len()
            ),
        ));
    }
    Ok(())
}

fn check_timer(mode: &DisappearMode) -> Result<()> {
    let ms = match mode {
        DisappearMode::Off => return Ok(()),
        DisappearMode::AfterSend { ms } | DisappearMode::AfterRead { ms } => *ms,
    };
    if !(MIN_DISAPPEAR_TIMER_MS..=MAX_DISAPPEAR_TIMER_MS).contains(&ms) {
        return Err(out_of_range(
            "disappearing-messages timer",
            format!(
                "{ms} ms, it must be between {} seconds and {} days",
                MIN_DISAPPEAR_TIMER_MS / SECOND_MS,
                MAX_DISAPPEAR_TIMER_MS / DAY_MS
            ),
        ));
    }
    Ok(())
}

/// Characters a display name may not hold: control characters, line and paragraph
/// separators (they break a one-line UI) and bidirectional embeddings, overrides
/// and isolates (they reorder what follows and let one name pose as another).
/// Also used to show text from a peer in an RPC error (`rpc::error`).
pub(crate) fn forbidden_in_name(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn check_display_name(name: &str) -> Result<()> {
    let chars = name.chars().count();
    if chars > MAX_DISPLAY_NAME_CHARS {
        return Err(out_of_range(
            "display name",
            format!("{chars} characters, at most {MAX_DISPLAY_NAME_CHARS} are allowed"),
        ));
    }
    if let Some((i, c)) = name
        .chars()
        .enumerate()
        .find(|(_, c)| forbidden_in_name(*c))
    {
        return Err(out_of_range(
            "display name",
            format!(
                "character {} (U+{:04X}) is a control or text-direction character",
                i + 1,
                u32::from(c)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use proptest::prelude::*;

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
}
