//! The JSON shapes `--json` prints: one object per line, stable field names
//! for scripts.

use serde::Serialize;
use sotto_client::chat::{
    AttachmentInfo, AttachmentState, ChatMessage, Contact, GroupMessage, MessageRequest,
    VerificationStatus,
};
use sotto_protocol::attachment::Location;

/// One incoming message (`sotto inbox --json`).
#[derive(Debug, Serialize, PartialEq)]
pub struct InboxLine {
    /// Message id, 32 hex digits.
    pub id: String,
    /// Sender's account ID.
    pub from: String,
    /// The text.
    pub text: String,
    /// Sender's clock, unix ms.
    pub sent_at: u64,
    /// When this device stored it, unix ms.
    pub received_at: u64,
    /// From someone who is not a contact (it waits in Requests).
    pub request: bool,
    /// The attachment the message carries (`text` then summarises it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment: Option<AttachmentLine>,
    /// The location the message carries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<LocationLine>,
    /// The group's id (64 hex digits) for a message in a group.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
}

impl From<&ChatMessage> for InboxLine {
    fn from(m: &ChatMessage) -> Self {
        Self {
            id: m.id.to_string(),
            from: m.peer.to_string(),
            text: m.text.clone(),
            sent_at: m.sent_at,
            received_at: m.received_at,
            request: m.request,
            attachment: None,
            location: None,
            group: None,
        }
    }
}

impl From<&GroupMessage> for InboxLine {
    fn from(m: &GroupMessage) -> Self {
        Self {
            id: m.id.to_string(),
            from: m.sender.to_string(),
            text: m.text.clone(),
            sent_at: m.sent_at,
            received_at: m.received_at,
            request: false,
            attachment: None,
            location: None,
            group: Some(m.group.to_hex()),
        }
    }
}

/// An attachment in `inbox --json`.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct AttachmentLine {
    /// The message id, what `sotto save` takes.
    pub id: String,
    /// The name it is saved under (already made safe).
    pub name: String,
    /// The declared media type (a hint from the sender).
    #[serde(rename = "type")]
    pub media_type: String,
    /// Size in bytes.
    pub size: u64,
    /// `pending`, `downloading`, `ready` or `failed`.
    pub state: &'static str,
    /// For an image, the length in bytes of the sender's JPEG preview that
    /// came with it (null without one).
    pub thumbnail: Option<usize>,
    /// For a voice note, its length in milliseconds (null otherwise).
    pub duration_ms: Option<u32>,
}

impl From<&AttachmentInfo> for AttachmentLine {
    fn from(a: &AttachmentInfo) -> Self {
        Self {
            id: a.id.to_string(),
            name: a.name.clone(),
            media_type: a.media_type.clone(),
            size: a.size,
            state: state_word(&a.state),
            thumbnail: a.thumbnail.as_ref().map(Vec::len),
            duration_ms: a.duration_ms,
        }
    }
}

/// One word for an attachment's state.
pub fn state_word(s: &AttachmentState) -> &'static str {
    match s {
        AttachmentState::Pending => "pending",
        AttachmentState::Downloading => "downloading",
        AttachmentState::Ready(_) => "ready",
        AttachmentState::Failed(_) => "failed",
    }
}

/// A location in `inbox --json`.
#[derive(Debug, Serialize, PartialEq)]
pub struct LocationLine {
    /// Latitude in degrees.
    pub lat: f64,
    /// Longitude in degrees.
    pub lon: f64,
    /// The sender's label, if any.
    pub label: Option<String>,
}

impl From<&Location> for LocationLine {
    fn from(l: &Location) -> Self {
        Self {
            lat: l.lat,
            lon: l.lon,
            label: l.label.clone(),
        }
    }
}

/// One message of a conversation (`sotto history --json`).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct HistoryLine {
    /// Message id, 32 hex digits (what `sotto delete` takes).
    pub id: String,
    /// "out" (yours) or "in".
    pub direction: &'static str,
    /// The text.
    pub text: String,
    /// Sender's clock, unix ms.
    pub sent_at: u64,
    /// When this device stored it, unix ms.
    pub received_at: u64,
    /// "queued", "sent", "delivered" or "read" (an incoming message is
    /// "delivered" until read).
    pub state: String,
    /// When it disappears, unix ms (a disappearing timer is on).
    pub expires_at: Option<u64>,
    /// From someone who is not a contact (it waits in Requests).
    pub request: bool,
    /// In a group: who wrote it (account ID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
}

impl From<&GroupMessage> for HistoryLine {
    fn from(m: &GroupMessage) -> Self {
        Self {
            id: m.id.to_string(),
            direction: if m.outgoing { "out" } else { "in" },
            text: m.text.clone(),
            sent_at: m.sent_at,
            received_at: m.received_at,
            state: m.state.to_string(),
            expires_at: None,
            request: false,
            from: Some(m.sender.to_string()),
        }
    }
}

impl From<&ChatMessage> for HistoryLine {
    fn from(m: &ChatMessage) -> Self {
        Self {
            id: m.id.to_string(),
            direction: if m.outgoing { "out" } else { "in" },
            text: m.text.clone(),
            sent_at: m.sent_at,
            received_at: m.received_at,
            state: m.state.to_string(),
            expires_at: m.expires_at,
            request: m.request,
            from: None,
        }
    }
}

/// Unix ms as `YYYY-MM-DD HH:MM` (UTC), for lines a person reads.
pub fn date_time(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Days since 1970-01-01 to a civil date, in 400-year eras of 146 097
    // days (the proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        rest / 3600,
        (rest % 3600) / 60
    )
}

/// One contact (`sotto contacts list --json`).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct ContactLine {
    /// Account ID.
    pub id: String,
    /// Nickname, display name or short ID.
    pub title: String,
    /// The nickname given locally.
    pub nickname: Option<String>,
    /// The name they gave themselves.
    pub display_name: Option<String>,
    /// "unverified", "verified" or "changed".
    pub verified: &'static str,
    /// When added, unix ms.
    pub added_at: u64,
}

/// Lower-case word for a verification status.
pub fn status_word(s: VerificationStatus) -> &'static str {
    match s {
        VerificationStatus::Unverified => "unverified",
        VerificationStatus::Verified => "verified",
        VerificationStatus::Changed => "changed",
    }
}

impl From<&Contact> for ContactLine {
    fn from(c: &Contact) -> Self {
        Self {
            id: c.id.to_string(),
            title: c.title(),
            nickname: c.nickname.clone(),
            display_name: c.display_name.clone(),
            verified: status_word(c.verified),
            added_at: c.added_at,
        }
    }
}

/// One pending request (`sotto requests list --json`).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct RequestLine {
    /// Sender's account ID.
    pub from: String,
    /// The name they gave.
    pub display_name: Option<String>,
    /// How many messages wait.
    pub messages: usize,
    /// Their first message.
    pub first_text: String,
    /// When it arrived, unix ms.
    pub received_at: u64,
}

impl From<&MessageRequest> for RequestLine {
    fn from(r: &MessageRequest) -> Self {
        Self {
            from: r.from.to_string(),
            display_name: r.display_name.clone(),
            messages: r.messages,
            first_text: r.first_text.clone(),
            received_at: r.received_at,
        }
    }
}

/// A peer's text made safe to print on a terminal: control characters
/// (escape sequences could rewrite the screen or the window title) become
/// U+FFFD; line breaks stay. Anyone may send a message request, so nothing a
/// peer wrote reaches the terminal unfiltered. JSON output needs no filter:
/// its encoder escapes control characters.
pub fn shown(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

/// `value` as one line of JSON. These structs hold only strings and numbers,
/// so serialising cannot fail; an empty object is the fallback all the same.
pub fn line<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "{}".to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn peer_text_cannot_drive_the_terminal() {
        assert_eq!(
            super::shown("hi\u{1b}]0;pwned\u{7}\nthere\r"),
            "hi\u{FFFD}]0;pwned\u{FFFD}\nthere\u{FFFD}"
        );
    }

    use sotto_client::Account;
    use sotto_client::chat::{MessageId, MessageState};

    use super::*;

    #[test]
    fn inbox_line_has_the_documented_fields() {
        let from = Account::create().id();
        let id: MessageId = "00112233445566778899aabbccddeeff".parse().unwrap();
        let m = ChatMessage {
            id,
            peer: from,
            outgoing: false,
            text: "hi \"there\"\n".into(),
            sent_at: 1_700_000_000_000,
            received_at: 1_700_000_000_500,
            state: MessageState::Delivered,
            expires_at: None,
            request: true,
        };
        let text = line(&InboxLine::from(&m));
        assert!(!text.contains('\n'), "one object per line: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["id"], "00112233445566778899aabbccddeeff");
        assert_eq!(v["from"], from.to_string());
        assert_eq!(v["text"], "hi \"there\"\n");
        assert_eq!(v["sent_at"], 1_700_000_000_000u64);
        assert_eq!(v["received_at"], 1_700_000_000_500u64);
        assert_eq!(v["request"], true);
        assert_eq!(v.as_object().unwrap().len(), 6);

        let mut with = InboxLine::from(&m);
        with.attachment = Some(AttachmentLine {
            id: id.to_string(),
            name: "a.pdf".into(),
            media_type: "application/pdf".into(),
            size: 9,
            state: "pending",
            thumbnail: Some(812),
            duration_ms: None,
        });
        with.location = Some(LocationLine {
            lat: -1.5,
            lon: 2.0,
            label: None,
        });
        let v: serde_json::Value = serde_json::from_str(&line(&with)).unwrap();
        assert_eq!(v["attachment"]["type"], "application/pdf");
        assert_eq!(v["attachment"]["size"], 9);
        assert_eq!(v["attachment"]["id"], "00112233445566778899aabbccddeeff");
        assert_eq!(v["attachment"]["thumbnail"], 812);
        assert!(v["attachment"]["duration_ms"].is_null());
        assert_eq!(v["attachment"].as_object().unwrap().len(), 7);
        assert_eq!(v["location"]["lat"], -1.5);
        assert!(v["location"]["label"].is_null());
    }

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(date_time(0), "1970-01-01 00:00");
        assert_eq!(date_time(951_782_400_000), "2000-02-29 00:00");
        assert_eq!(date_time(1_764_559_800_000), "2025-12-01 03:30");
        assert_eq!(date_time(4_107_542_399_000), "2100-02-28 23:59");
    }

    #[test]
    fn history_line_has_the_documented_fields() {
        let id: MessageId = "00112233445566778899aabbccddeeff".parse().unwrap();
        let m = ChatMessage {
            id,
            peer: Account::create().id(),
            outgoing: true,
            text: "hi".into(),
            sent_at: 1,
            received_at: 2,
            state: MessageState::Read,
            expires_at: Some(3),
            request: false,
        };
        let v: serde_json::Value = serde_json::from_str(&line(&HistoryLine::from(&m))).unwrap();
        assert_eq!(v["direction"], "out");
        assert_eq!(v["state"], "read");
        assert_eq!(v["expires_at"], 3);
        assert_eq!(v["id"], "00112233445566778899aabbccddeeff");
        assert_eq!(v.as_object().unwrap().len(), 8);
    }

    #[test]
    fn contact_line_words() {
        let c = Contact {
            id: Account::create().id(),
            nickname: Some("bob".into()),
            display_name: Some("Robert".into()),
            verified: VerificationStatus::Changed,
            added_at: 5,
        };
        let v: serde_json::Value = serde_json::from_str(&line(&ContactLine::from(&c))).unwrap();
        assert_eq!(v["title"], "bob");
        assert_eq!(v["verified"], "changed");
        assert_eq!(v["display_name"], "Robert");
    }
}
