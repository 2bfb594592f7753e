//! The client fuzz targets: parsers of what a person types or pastes, shared by
//! the `cargo fuzz` binaries and by `client-core/tests/fuzz_corpus.rs`.
//!
//! Like the protocol targets, each function must not panic on any input and
//! returns whether the input was accepted.

use sotto_client::RecoveryPhrase;

/// `RecoveryPhrase::parse` on the input as UTF-8 (lossily, so every input is
/// tried); an accepted phrase must come out as 12 words that parse back to the
/// same phrase. Accepted: parsed.
pub fn recovery_phrase(data: &[u8]) -> bool {
    let text = String::from_utf8_lossy(data);
    let Ok(phrase) = RecoveryPhrase::parse(&text) else {
        return false;
    };
    assert_eq!(
        phrase.words().count(),
        sotto_client::phrase::PHRASE_WORDS,
        "recovery phrase: an accepted phrase does not have 12 words"
    );
    let again = RecoveryPhrase::parse(phrase.as_str()).ok();
    assert_eq!(
        again.as_ref().map(RecoveryPhrase::as_str),
        Some(phrase.as_str()),
        "recovery phrase: a parsed phrase does not parse back to itself"
    );
    true
}
