//! The crate's error type: what went wrong, worded for the person who has to fix it.

/// Everything that can go wrong in `sotto-client`.
///
/// Messages are written to be shown to the user as they are: each one says what
/// is wrong and what to do about it.
///
/// [`Error::UnknownWord`] carries the word the user typed, which is usually a
/// near miss of a word of their secret phrase: show it to them, never log it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A recovery phrase with the wrong number of words.
    #[error("a recovery phrase has {expected} words; you entered {found}")]
    PhraseWordCount {
        /// Words found (runs of white space count as one separator).
        found: usize,
        /// Words a phrase has ([`crate::phrase::PHRASE_WORDS`]).
        expected: usize,
    },

    /// A word of a recovery phrase that is not in the BIP-39 English word list.
    #[error(
        "word {position}, {word:?}, is not in the recovery word list{}",
        suggestion_hint(.suggestions)
    )]
    UnknownWord {
        /// Its position in the phrase, counting from 1.
        position: usize,
        /// The word as typed (lower-cased; cut short if it was very long).
        word: String,
        /// Up to three words of the list it may have been meant to be, best first.
        suggestions: Vec<&'static str>,
    },

    /// Every word is in the list, but the phrase's checksum does not match: words
    /// were swapped, or one was replaced by another word of the list.
    #[error(
        "the words are all valid but do not belong together: check their order, \
         and that each one is the word written down"
    )]
    PhraseChecksum,

    /// A typed code with the wrong number of digits.
    #[error("a {what} has {expected} digits; you entered {found}")]
    CodeLength {
        /// Which code: "verification code" or "public code".
        what: &'static str,
        /// Digits found.
        found: usize,
        /// Digits the code has.
        expected: usize,
    },

    /// A typed code containing something other than digits and white space.
    #[error(
        "{ch:?} (character {position}) is not a digit: a {what} has only digits, in groups of 5"
    )]
    CodeCharacter {
        /// Which code: "verification code" or "public code".
        what: &'static str,
        /// The offending character.
        ch: char,
        /// Its position in the text, counting from 1.
        position: usize,
    },
}

/// `pub type Result<T>` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// The end of the [`Error::UnknownWord`] message: suggestions if there are any,
/// and the 4-letter rule that lets a person find the right word themselves.
fn suggestion_hint(suggestions: &[&'static str]) -> String {
    const RULE: &str = "(every word in the list is unique in its first 4 letters)";
    let quoted: Vec<String> = suggestions.iter().map(|s| format!("{s:?}")).collect();
    match quoted.as_slice() {
        [] => format!(": check its spelling {RULE}"),
        [one] => format!(": did you mean {one}? {RULE}"),
        [init @ .., last] => format!(": did you mean {} or {last}? {RULE}", init.join(", ")),
    }
}

#[cfg(test)]
// Tests may panic: that is how they fail.
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn unknown_word_messages_list_suggestions() {
        let e = |suggestions| Error::UnknownWord {
            position: 3,
            word: "abandn".into(),
            suggestions,
        };
        assert_eq!(
            e(vec![]).to_string(),
            "word 3, \"abandn\", is not in the recovery word list: check its spelling \
             (every word in the list is unique in its first 4 letters)"
        );
        assert!(
            e(vec!["abandon"])
                .to_string()
                .contains(": did you mean \"abandon\"? (every")
        );
        assert!(
            e(vec!["a", "b", "c"])
                .to_string()
                .contains("did you mean \"a\", \"b\" or \"c\"?")
        );
    }

    #[test]
    fn counts_and_codes_read_naturally() {
        let wc = Error::PhraseWordCount {
            found: 11,
            expected: 12,
        };
        assert_eq!(
            wc.to_string(),
            "a recovery phrase has 12 words; you entered 11"
        );
        let len = Error::CodeLength {
            what: "verification code",
            found: 59,
            expected: 60,
        };
        assert_eq!(
            len.to_string(),
            "a verification code has 60 digits; you entered 59"
        );
    }
}
