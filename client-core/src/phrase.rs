//! The recovery phrase: an account's 16 bytes of entropy as 12 BIP-39 English words,
//! and parsing a typed phrase with errors a person can act on.
//!
//! Encoding follows BIP-39 exactly (128 bits of entropy, a 4-bit SHA-256 checksum,
//! 12 words of 11 bits), so a phrase written down for Sotto reads like any
//! wallet's phrase. Unlike a wallet, Sotto does not run the phrase through BIP-39's
//! PBKDF2 seed function: the 16 bytes themselves are the account's root
//! (DESIGN §3), so the phrase is not interchangeable with a wallet's.

use std::fmt;

use bip39::{Language, Mnemonic};
use sotto_protocol::constants::ACCOUNT_ENTROPY_LEN;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Words in a recovery phrase: 128 bits of entropy + 4 checksum bits = 12 × 11 bits.
pub const PHRASE_WORDS: usize = 12;

/// Most suggestions an [`Error::UnknownWord`] carries.
const MAX_SUGGESTIONS: usize = 3;

/// Longest typed word quoted back in an [`Error::UnknownWord`] (a pasted paragraph
/// should not become the error message).
const MAX_QUOTED_WORD_CHARS: usize = 24;

/// BIP-39 English words are unique in their first 4 letters.
const UNIQUE_PREFIX_LEN: usize = 4;

// 12 words hold exactly 128 bits of entropy; the decoding below relies on it.
const _: () = assert!(ACCOUNT_ENTROPY_LEN == 16 && PHRASE_WORDS * 11 == 128 + 4);

/// An account's recovery phrase: 12 lower-case BIP-39 English words separated by
/// single spaces. The text is wiped from memory when dropped and never shown by
/// `Debug`; there is deliberately no `Display`, so it cannot slip into a log line.
#[derive(Clone)]
pub struct RecoveryPhrase {
    text: Zeroizing<String>,
}

impl RecoveryPhrase {
    /// The phrase for 16 bytes of account entropy.
    pub fn from_entropy(entropy: &[u8; ACCOUNT_ENTROPY_LEN]) -> Self {
        // bip39 refuses only entropy that is not 16..=32 bytes in steps of 4; the
        // type fixes 16 bytes, the smallest valid length, so this cannot fail.
        let mnemonic = match Mnemonic::from_entropy_in(Language::English, entropy) {
            Ok(m) => m,
            Err(e) => unreachable!("16 bytes is a valid BIP-39 entropy length: {e}"),
        };
        // Size the string first so it never reallocates (which would leave an
        // unwiped copy of the phrase behind).
        let len = mnemonic.words().map(str::len).sum::<usize>() + PHRASE_WORDS - 1;
        let mut text = Zeroizing::new(String::with_capacity(len));
        for (i, word) in mnemonic.words().enumerate() {
            if i > 0 {
                text.push(' ');
            }
            text.push_str(word);
        }
        Self { text }
    }

    /// Reads a phrase as a person typed it: case and extra white space (leading,
    /// trailing, several spaces, new lines) do not matter. Errors say which word
    /// is wrong and what it may have been meant to be.
    pub fn parse(text: &str) -> Result<Self> {
        let entropy = decode(text)?;
        Ok(Self::from_entropy(&entropy))
    }

    /// The 12 words, in order.
    pub fn words(&self) -> impl Iterator<Item = &str> + '_ {
        self.text.split(' ')
    }

    /// The phrase as one line of 12 words separated by single spaces.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Debug for RecoveryPhrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryPhrase(<redacted>)")
    }
}

/// The 16 bytes of entropy behind a typed phrase (see [`RecoveryPhrase::parse`]).
pub(crate) fn decode(text: &str) -> Result<Zeroizing<[u8; ACCOUNT_ENTROPY_LEN]>> {
    let found = text.split_whitespace().count();
    if found != PHRASE_WORDS {
        return Err(Error::PhraseWordCount {
            found,
            expected: PHRASE_WORDS,
        });
    }

    // Look every word up; collect the 132 bits they hold. The first 11 words are
    // 121 bits of entropy; the last word is 7 more bits and the 4-bit checksum.
    let mut bits = Zeroizing::new(0u128);
    let mut last = Zeroizing::new(0u16);
    for (i, typed) in text.split_whitespace().enumerate() {
        let word = Zeroizing::new(typed.to_lowercase());
        let Some(index) = Language::English.find_word(&word) else {
            return Err(Error::UnknownWord {
                position: i + 1,
                word: word.chars().take(MAX_QUOTED_WORD_CHARS).collect(),
                suggestions: suggestions(&word),
            });
        };
        if i + 1 < PHRASE_WORDS {
            *bits = (*bits << 11) | u128::from(index);
        } else {
            *last = index;
        }
    }
    *bits = (*bits << 7) | u128::from(*last >> 4);
    let entropy = Zeroizing::new(bits.to_be_bytes());

    // The checksum check: the canonical phrase for this entropy has the same first
    // 11 words and the same 7 entropy bits in the last word, so the last words
    // differ exactly when the checksum bits do.
    let canonical = RecoveryPhrase::from_entropy(&entropy);
    let expected_last = canonical
        .words()
        .last()
        .and_then(|w| Language::English.find_word(w));
    if expected_last != Some(*last) {
        return Err(Error::PhraseChecksum);
    }
    Ok(entropy)
}

/// Up to [`MAX_SUGGESTIONS`] words of the list that `typed` (lower case) may have
/// been meant to be, best first: the word sharing its first 4 letters (there is at
/// most one), then words that `typed` is the beginning of (the user stopped
/// early), then words within a small edit distance (a missing, extra, changed or
/// swapped letter), closer and longer shared beginnings first.
fn suggestions(typed: &str) -> Vec<&'static str> {
    let typed: Vec<char> = typed.chars().collect();
    let max_distance = if typed.len() <= 3 { 1 } else { 2 };
    let prefix: Option<&[char]> = typed.get(..UNIQUE_PREFIX_LEN);

    let mut ranked: Vec<(u8, usize, usize, &'static str)> = Vec::new();
    for &word in Language::English.word_list() {
        let candidate: Vec<char> = word.chars().collect();
        let class = if prefix.is_some_and(|p| candidate.starts_with(p)) {
            0
        } else if typed.len() >= 2 && candidate.starts_with(&typed) {
            1
        } else {
            2
        };
        // Cheap bound first: the distance is at least the difference in length
        // (this also keeps a very long typed "word" from costing anything).
        let distance = if typed.len().abs_diff(candidate.len()) > max_distance {
            None
        } else {
            Some(edit_distance(&typed, &candidate)).filter(|&d| d <= max_distance)
        };
        if class < 2 || distance.is_some() {
            let shared = typed
                .iter()
                .zip(&candidate)
                .take_while(|(a, b)| a == b)
                .count();
            ranked.push((
                class,
                distance.unwrap_or(usize::MAX),
                usize::MAX - shared,
                word,
            ));
        }
    }
    ranked.sort_unstable();
    ranked
        .into_iter()
        .take(MAX_SUGGESTIONS)
        .map(|(_, _, _, word)| word)
        .collect()
}

/// Edit distance counting an insertion, a deletion, a substitution or a swap of
/// two neighbouring letters as one edit (optimal string alignment distance).
fn edit_distance(a: &[char], b: &[char]) -> usize {
    // Rolling rows of the usual table: two rows back (for swaps) and the previous.
    let mut before: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut row = Vec::with_capacity(b.len() + 1);
        row.push(i + 1);
        for (j, &cb) in b.iter().enumerate() {
            let at = |r: &[usize], k: usize| r.get(k).copied().unwrap_or(usize::MAX);
            let mut best = at(&row, j)
                .saturating_add(1)
                .min(at(&prev, j + 1).saturating_add(1))
                .min(at(&prev, j).saturating_add(usize::from(ca != cb)));
            let swapped = i > 0
                && j > 0
                && ca != cb
                && a.get(i - 1) == Some(&cb)
                && b.get(j - 1) == Some(&ca);
            if swapped {
                best = best.min(at(&before, j - 1).saturating_add(1));
            }
            row.push(best);
        }
        before = std::mem::replace(&mut prev, row);
    }
    prev.last().copied().unwrap_or(0)
}

#[cfg(test)]
// Tests may panic: that is how they fail.
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;

    /// BIP-39's published English vectors (trezor/python-mnemonic `vectors.json`),
    /// the 128-bit ones.
    const VECTORS: [([u8; 16], &str); 4] = [
        (
            [0x00; 16],
            "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
        ),
        (
            [0x7f; 16],
            "legal winner thank year wave sausage worth useful legal winner thank yellow",
        ),
        (
            [0x80; 16],
            "letter advice cage absurd amount doctor acoustic avoid letter advice cage above",
        ),
        (
            [0xff; 16],
            "zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo wrong",
        ),
    ];

    #[test]
    fn encodes_and_decodes_the_bip39_vectors() {
        for (entropy, text) in VECTORS {
            assert_eq!(RecoveryPhrase::from_entropy(&entropy).as_str(), text);
            assert_eq!(*decode(text).unwrap(), entropy, "{text}");
        }
    }

    #[test]
    fn parsing_ignores_case_and_spacing() {
        let (entropy, text) = VECTORS[2];
        let messy = format!("  {}\n", text.to_uppercase().replace(' ', " \t  "));
        let phrase = RecoveryPhrase::parse(&messy).unwrap();
        assert_eq!(phrase.as_str(), text);
        assert_eq!(*decode(&messy).unwrap(), entropy);
        assert_eq!(phrase.words().count(), PHRASE_WORDS);
    }

    #[test]
    fn word_count_is_checked_first() {
        assert_eq!(
            decode("").unwrap_err(),
            Error::PhraseWordCount {
                found: 0,
                expected: 12
            }
        );
        let thirteen = format!("{} zoo", VECTORS[0].1);
        assert_eq!(
            decode(&thirteen).unwrap_err(),
            Error::PhraseWordCount {
                found: 13,
                expected: 12
            }
        );
    }

    #[test]
    fn unknown_words_get_suggestions() {
        assert_eq!(suggestions("abandn"), vec!["abandon"]);
        // Four letters are enough to name a word: that word comes first.
        assert_eq!(suggestions("aban").first(), Some(&"abandon"));
        assert_eq!(suggestions("abandonn").first(), Some(&"abandon"));
        // A swapped pair of letters is one edit.
        assert!(
            suggestions("wrnog").contains(&"wrong"),
            "{:?}",
            suggestions("wrnog")
        );
        // Words the typed letters begin come before near misses.
        assert_eq!(suggestions("ab"), vec!["abandon", "ability", "able"]);
        assert!(suggestions("zzzzzzzz").is_empty());
        assert!(suggestions(&"x".repeat(10_000)).is_empty());
        for typed in ["ab", "cat", "lettr", "qqq"] {
            assert!(suggestions(typed).len() <= MAX_SUGGESTIONS, "{typed}");
        }
    }

    #[test]
    fn long_words_are_cut_short_in_errors() {
        let long = "y".repeat(500);
        let text = format!("{long} {}", "zoo ".repeat(11));
        match decode(&text) {
            Err(Error::UnknownWord { position, word, .. }) => {
                assert_eq!(position, 1);
                assert_eq!(word.chars().count(), MAX_QUOTED_WORD_CHARS);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_changed_last_word_is_a_checksum_error() {
        let text = VECTORS[0].1.replace("about", "abandon");
        assert_eq!(decode(&text).unwrap_err(), Error::PhraseChecksum);
    }

    #[test]
    fn edit_distance_counts_single_edits() {
        let d = |a: &str, b: &str| {
            let a: Vec<char> = a.chars().collect();
            let b: Vec<char> = b.chars().collect();
            edit_distance(&a, &b)
        };
        assert_eq!(d("abandon", "abandon"), 0);
        assert_eq!(d("abandn", "abandon"), 1);
        assert_eq!(d("abadnon", "abandon"), 1);
        assert_eq!(d("xbandon", "abandon"), 1);
        assert_eq!(d("", "zoo"), 3);
        assert_eq!(d("kitten", "sitting"), 3);
    }

    #[test]
    fn debug_is_redacted() {
        let phrase = RecoveryPhrase::from_entropy(&VECTORS[1].0);
        let shown = format!("{phrase:?}");
        assert!(!shown.contains("legal"), "{shown}");
    }
}
