//! Accounts, recovery phrases and verification codes through the public API only.

// Tests may panic: that is how they fail.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use proptest::prelude::*;
use sotto_client::{
    Account, AccountKey, Error, PublicCode, RecoveryPhrase, VerificationCode, public_code,
    verification_code,
};

/// A fixed account: the one whose 16 bytes of entropy are all `byte`.
fn fixed(byte: u8) -> Account {
    let phrase = RecoveryPhrase::from_entropy(&[byte; 16]);
    Account::restore(phrase.as_str()).unwrap()
}

// ---- creating and restoring ------------------------------------------------------

#[test]
fn create_then_restore_gives_the_same_account() {
    let account = Account::create();
    let phrase = account.recovery_phrase();
    assert_eq!(phrase.words().count(), 12);
    assert!(
        phrase
            .words()
            .all(|w| bip39::Language::English.find_word(w).is_some())
    );
    assert_eq!(
        Account::restore(phrase.as_str()).unwrap().id(),
        account.id()
    );
}

#[test]
fn two_accounts_differ() {
    let a = Account::create();
    let b = Account::create();
    assert_ne!(a.id(), b.id());
    assert_ne!(a.recovery_phrase().as_str(), b.recovery_phrase().as_str());
}

#[test]
fn the_phrase_is_the_account_key_entropy() {
    let account = fixed(0x7f);
    assert_eq!(
        account.recovery_phrase().as_str(),
        "legal winner thank year wave sausage worth useful legal winner thank yellow"
    );
    assert_eq!(
        account.id(),
        AccountKey::from_entropy([0x7f; 16]).account_id()
    );
}

#[test]
fn restore_forgives_case_and_spacing() {
    let account = Account::create();
    let phrase = account.recovery_phrase();
    let messy = format!(
        "\n  {}  \t",
        phrase
            .words()
            .enumerate()
            .map(|(i, w)| if i % 2 == 0 {
                w.to_uppercase()
            } else {
                w.to_owned()
            })
            .collect::<Vec<_>>()
            .join("   ")
    );
    assert_eq!(Account::restore(&messy).unwrap().id(), account.id());
}

// ---- restore errors --------------------------------------------------------------

fn words_of(account: &Account) -> Vec<String> {
    account
        .recovery_phrase()
        .words()
        .map(str::to_owned)
        .collect()
}

#[test]
fn eleven_words_is_a_word_count_error() {
    let mut words = words_of(&fixed(0x80));
    words.pop();
    let err = Account::restore(&words.join(" ")).unwrap_err();
    assert_eq!(
        err,
        Error::PhraseWordCount {
            found: 11,
            expected: 12
        }
    );
    assert_eq!(
        err.to_string(),
        "a recovery phrase has 12 words; you entered 11"
    );
}

#[test]
fn an_unknown_word_is_named_with_suggestions() {
    // "letter advice cage absurd amount doctor acoustic avoid letter advice cage above"
    let mut words = words_of(&fixed(0x80));
    assert_eq!(words[2], "cage");
    words[2] = "CAGW".into();
    let err = Account::restore(&words.join(" ")).unwrap_err();
    match &err {
        Error::UnknownWord {
            position,
            word,
            suggestions,
        } => {
            assert_eq!(*position, 3);
            assert_eq!(word, "cagw");
            assert!(!suggestions.is_empty() && suggestions.len() <= 3);
            assert!(suggestions.contains(&"cage"), "{suggestions:?}");
        }
        other => panic!("expected UnknownWord, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.starts_with("word 3, \"cagw\", is not in the recovery word list: did you mean"));
    assert!(msg.contains("\"cage\""), "{msg}");
    assert!(msg.contains("unique in its first 4 letters"), "{msg}");

    // Four letters name a word on their own: it is the first suggestion.
    words[2] = "absu".into();
    match Account::restore(&words.join(" ")) {
        Err(Error::UnknownWord { suggestions, .. }) => assert_eq!(suggestions[0], "absurd"),
        other => panic!("expected UnknownWord, got {other:?}"),
    }
}

#[test]
fn swapped_words_are_a_checksum_error() {
    // With this fixed phrase, swapping words 1 and 2 breaks the checksum (a swap
    // leaves it intact with probability 1/16, so the pair is chosen, not random).
    let mut words = words_of(&fixed(0x80));
    words.swap(0, 1);
    let err = Account::restore(&words.join(" ")).unwrap_err();
    assert_eq!(err, Error::PhraseChecksum);
    assert_eq!(
        err.to_string(),
        "the words are all valid but do not belong together: check their order, \
         and that each one is the word written down"
    );
}

// ---- verification codes ----------------------------------------------------------

#[test]
fn verification_code_shape_and_symmetry() {
    let (a, b) = (Account::create(), Account::create());
    let code = verification_code(&a.id(), &b.id());
    assert_eq!(code, verification_code(&b.id(), &a.id()));
    assert_eq!(code.digits().len(), 60);
    assert_eq!(code.groups().len(), 12);
    let shown = code.to_string();
    assert_eq!(shown.split(' ').count(), 12);
    assert!(shown.split(' ').all(|g| g.len() == 5));
}

#[test]
fn verification_code_changes_with_either_key() {
    let (a, b, c) = (fixed(1), fixed(2), fixed(3));
    let ab = verification_code(&a.id(), &b.id());
    assert_ne!(ab, verification_code(&a.id(), &c.id()));
    assert_ne!(ab, verification_code(&c.id(), &b.id()));
    // A code with oneself is defined (and distinct from any pair).
    assert_ne!(ab, verification_code(&a.id(), &a.id()));
}

/// Known answers: a change of the derivation shows up as a change of these lines.
#[test]
fn verification_code_known_answer() {
    let code = verification_code(&fixed(1).id(), &fixed(2).id());
    assert_eq!(
        code.to_string(),
        "34125 78293 93246 24842 65931 01785 97475 39656 96992 28587 50649 07776"
    );
    assert_eq!(
        public_code(&fixed(1).id()).to_string(),
        "97475 39656 96992 28587 50649 07776"
    );
    assert_eq!(
        public_code(&fixed(2).id()).to_string(),
        "34125 78293 93246 24842 65931 01785"
    );
}

#[test]
fn public_code_shape() {
    let (a, b) = (fixed(1), fixed(2));
    let code = public_code(&a.id());
    assert_eq!(code.digits().len(), 30);
    assert_eq!(code.groups().len(), 6);
    assert_ne!(code, public_code(&b.id()));
    assert_eq!(code, public_code(&a.id()));
    // Each side finds its own public code as one half of the pairwise code.
    let pair = verification_code(&a.id(), &b.id()).digits();
    let halves = [&pair[..30], &pair[30..]];
    assert!(halves.contains(&code.digits().as_str()));
    assert!(halves.contains(&public_code(&b.id()).digits().as_str()));
}

#[test]
fn codes_parse_back() {
    let code = verification_code(&fixed(5).id(), &fixed(6).id());
    assert_eq!(VerificationCode::parse(&code.to_string()).unwrap(), code);
    assert_eq!(
        VerificationCode::parse(&code.lines().join("\n")).unwrap(),
        code
    );
    let public = public_code(&fixed(5).id());
    assert_eq!(public.to_string().parse::<PublicCode>().unwrap(), public);
    assert!(matches!(
        VerificationCode::parse("12345"),
        Err(Error::CodeLength {
            found: 5,
            expected: 60,
            ..
        })
    ));
}

// ---- properties ------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_entropy_survives_the_phrase(entropy in any::<[u8; 16]>()) {
        let phrase = RecoveryPhrase::from_entropy(&entropy);
        prop_assert_eq!(phrase.words().count(), 12);
        let restored = Account::restore(phrase.as_str()).unwrap();
        prop_assert_eq!(restored.id(), AccountKey::from_entropy(entropy).account_id());
        prop_assert_eq!(restored.key().entropy(), &entropy);
        let reparsed = RecoveryPhrase::parse(&phrase.as_str().to_uppercase()).unwrap();
        prop_assert_eq!(reparsed.as_str(), phrase.as_str());
    }

    #[test]
    fn verification_is_symmetric(x in any::<[u8; 16]>(), y in any::<[u8; 16]>()) {
        let a = AccountKey::from_entropy(x).account_id();
        let b = AccountKey::from_entropy(y).account_id();
        let code = verification_code(&a, &b);
        prop_assert_eq!(code, verification_code(&b, &a));
        prop_assert_eq!(VerificationCode::parse(&code.digits()).unwrap(), code);
    }
}
