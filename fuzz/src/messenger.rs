//! The client target: hostile content in a validly sealed, validly signed
//! envelope, handled by a real offline [`Messenger`] the way its receive loop
//! handles every message it retrieves. Shared by the `cargo fuzz` binary and by
//! `client-core/tests/fuzz_corpus.rs`.
//!
//! The entry point is `Messenger::accept_retrieved` (`#[doc(hidden)]`, in
//! `client-core/src/chat/receive.rs`): the receive loop's own `accept`, without
//! the network round around it. The harness plays three senders, a contact, a
//! stranger and a blocked account, and seals the fuzzer's content bytes from one
//! of them ([`crate::seal`]), so the content decoder and everything the client
//! does with a content (texts, message requests, receipts, deletes, timers,
//! profiles) see arbitrary input. The Messenger keeps its state between inputs,
//! as a real one does between messages.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sotto_client::chat::{HomeOptions, Messenger};
use sotto_client::{AccountId, AccountKey, RecoveryPhrase};
use sotto_protocol::Namespace;
use sotto_protocol::envelope::{Content, ContentBody};
use sotto_protocol::rpc::{RetrievedMessage, StoredMessage};
use sotto_protocol::time::DAY_MS;

use crate::seal::{seal_envelope, signed_inner};

/// The entropy of the account the Messenger runs as.
pub const MESSENGER_ENTROPY: [u8; 16] = [0x3c; 16];

/// When every message the harness delivers was stored (2026-01-01T00:00:00Z).
const STORED_AT: u64 = 1_767_225_600_000;

/// A Messenger and the senders the harness writes as.
pub struct ClientFixture {
    /// The account under test, offline.
    pub messenger: Messenger,
    /// Its ID, which every envelope is sealed to.
    pub id: AccountId,
    /// Senders by the selector's low two bits: a contact, a stranger, a blocked
    /// account, and a second stranger.
    pub senders: [AccountKey; 4],
}

impl ClientFixture {
    /// Creates the account in `home` (which must not hold one), adds sender 0 as
    /// a contact and blocks sender 2.
    pub fn new(home: &Path) -> Result<Self, String> {
        let phrase = RecoveryPhrase::from_entropy(&MESSENGER_ENTROPY);
        let opts = HomeOptions {
            home: home.to_path_buf(),
            passphrase: None,
        };
        let messenger =
            Messenger::restore(&opts, phrase.as_str(), Some("fuzz")).map_err(|e| e.to_string())?;
        let senders = [0xc1, 0xc2, 0xc3, 0xc4].map(|b| AccountKey::from_entropy([b; 16]));
        let [contact, _, blocked, _] = &senders;
        messenger
            .add_contact(contact.account_id(), Some("contact"))
            .map_err(|e| e.to_string())?;
        // `block` flushes the store on tokio's blocking pool.
        tokio::runtime::Builder::new_current_thread()
            .build()
            .map_err(|e| e.to_string())?
            .block_on(messenger.block(&blocked.account_id()))
            .map_err(|e| e.to_string())?;
        Ok(Self {
            id: messenger.account_id(),
            messenger,
            senders,
        })
    }
}

/// The fixture of the fuzz binary: one Messenger in a fresh directory under the
/// system's temporary directory, named after the process.
#[allow(
    clippy::panic,
    reason = "a fixture that cannot be built is a bug in the harness, not a finding"
)]
fn fixture() -> &'static ClientFixture {
    static FIXTURE: OnceLock<ClientFixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let home: PathBuf =
            std::env::temp_dir().join(format!("sotto-fuzz-messenger-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        ClientFixture::new(&home).unwrap_or_else(|e| panic!("fuzz fixture: {e}"))
    })
}

/// Target `client_content`: see [`client_content_with`], on the process's
/// fixture.
pub fn client_content(data: &[u8]) -> bool {
    client_content_with(fixture(), data)
}

/// `selector ‖ content`: the harness signs `content` (the bytes
/// `Content::from_bytes` reads) as sender `selector & 3`, seals it to the
/// Messenger and hands it over as a retrieved inbox message; with selector bit
/// 2, the same message is handed over a second time.
///
/// Checks: a content that decodes is never counted malformed and one that does
/// not always is; only a text, attachment or location from someone not blocked can be a new message; a
/// message handed over again is never new. Accepted: the content decoded and the
/// Messenger handled it without a store error.
pub fn client_content_with(fixture: &ClientFixture, data: &[u8]) -> bool {
    let Some((&selector, content)) = data.split_first() else {
        return false;
    };
    let Some(sender) = fixture.senders.get(usize::from(selector & 3)) else {
        return false;
    };
    let inner = signed_inner(sender, &fixture.id, content);
    let Some(sealed) = seal_envelope(&fixture.id, &inner, 0) else {
        return false;
    };
    let stored = StoredMessage::new(fixture.id, Namespace::INBOX, sealed, STORED_AT, DAY_MS);
    let message = RetrievedMessage::from_stored(&stored, None);
    let decoded = Content::from_bytes(content).ok();

    let messenger = &fixture.messenger;
    let before = messenger.counters();
    let result = messenger.accept_retrieved(&message);
    let after = messenger.counters();
    let malformed = after.malformed - before.malformed;
    // A message seen before (the same input again) is dropped by its hash
    // before it is opened.
    let seen_before = after.duplicates > before.duplicates;
    let expected = u64::from(decoded.is_none() && !seen_before);
    assert!(
        malformed == expected || (seen_before && malformed == 0),
        "client content: counted malformed {malformed} time(s) for a content that {}",
        if decoded.is_some() {
            "decodes"
        } else {
            "does not decode"
        }
    );
    let Ok(new) = result else {
        return false;
    };
    if new {
        assert!(
            matches!(
                decoded,
                Some(Content {
                    body: ContentBody::Text { .. }
                        | ContentBody::Attachment { .. }
                        | ContentBody::Location { .. },
                    ..
                })
            ),
            "client content: a new message from a content that is not a text, attachment or location"
        );
        assert_ne!(
            selector & 3,
            2,
            "client content: a blocked sender got through"
        );
    }
    if selector & 4 != 0 {
        let again = messenger.accept_retrieved(&message);
        assert!(
            !matches!(again, Ok(true)),
            "client content: the same message was new twice"
        );
    }
    decoded.is_some()
}
