//! The user's own account: creating one, restoring it from its recovery phrase,
//! and reading its ID.

use std::fmt;

use rand::CryptoRng;
use rand::rand_core::UnwrapErr;
use rand::rngs::SysRng;
use sotto_protocol::{AccountId, AccountKey};

use crate::error::Result;
use crate::phrase::{self, RecoveryPhrase};

/// The user's account: the [`AccountKey`] from which its ID, its signing key and
/// its encryption key all follow (DESIGN §3).
///
/// Creating an account needs nothing but local randomness: no phone number, no
/// e-mail, no server, no network. It is instant and can be done offline; the
/// account exists as soon as its key does. Whoever holds the 12-word
/// [`RecoveryPhrase`] holds the account, and nobody can recover it without them.
///
/// `Debug` shows the account ID only, never the key or the phrase.
pub struct Account {
    key: AccountKey,
}

impl Account {
    /// A new account from 16 bytes of the operating system's randomness.
    ///
    /// Offline and instant: no phone number, no e-mail, no sign-up. Show the user
    /// [`Account::recovery_phrase`] so they can write it down.
    ///
    /// # Panics
    ///
    /// Only if the operating system cannot provide randomness at all, when no
    /// key could safely be made (the same condition under which `rand::rng()`
    /// panics).
    pub fn create() -> Self {
        // Straight from the OS rather than a user-space generator: a long-term
        // key is made once, so speed does not matter and no generator state that
        // could predict the key is left in memory.
        Self::create_with_rng(&mut UnwrapErr(SysRng))
    }

    /// A new account from `rng`, which must be a cryptographically secure
    /// generator (tests pass a seeded one).
    pub fn create_with_rng<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self {
            key: AccountKey::generate(rng),
        }
    }

    /// The account that a recovery phrase stands for. Case and extra white space
    /// do not matter; a wrong word count, an unknown word (with suggestions) and
    /// words in the wrong order are each reported so the user can fix them.
    pub fn restore(phrase: &str) -> Result<Self> {
        let entropy = phrase::decode(phrase)?;
        Ok(Self {
            key: AccountKey::from_entropy(*entropy),
        })
    }

    /// The account ID (`sotto1…`), the one thing to share with contacts.
    pub fn id(&self) -> AccountId {
        self.key.account_id()
    }

    /// The 12 words that restore this account. Show them only when the user asks.
    pub fn recovery_phrase(&self) -> RecoveryPhrase {
        RecoveryPhrase::from_entropy(self.key.entropy())
    }

    /// The account key, for signing requests and opening envelopes.
    pub fn key(&self) -> &AccountKey {
        &self.key
    }
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
// Tests may panic: that is how they fail.
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn create_phrase_restore_round_trip() {
        let account = Account::create();
        let phrase = account.recovery_phrase();
        assert_eq!(phrase.words().count(), 12);
        let restored = Account::restore(phrase.as_str()).unwrap();
        assert_eq!(restored.id(), account.id());
        assert_eq!(restored.key().entropy(), account.key().entropy());
    }

    #[test]
    fn two_creates_differ() {
        assert_ne!(Account::create().id(), Account::create().id());
    }

    #[test]
    fn restore_reports_errors() {
        assert!(matches!(
            Account::restore("zoo zoo"),
            Err(Error::PhraseWordCount { found: 2, .. })
        ));
    }

    #[test]
    fn debug_hides_the_key_and_phrase() {
        let account = Account::restore(
            "legal winner thank year wave sausage worth useful legal winner thank yellow",
        )
        .unwrap();
        let shown = format!("{account:?}");
        assert!(shown.contains(&account.id().to_text()), "{shown}");
        assert!(!shown.contains("legal"), "{shown}");
        // The entropy is 16 × 0x7f: neither its decimal nor its hex form appears.
        assert!(!shown.contains("127, 127"), "{shown}");
        assert!(!shown.to_lowercase().contains("7f7f7f"), "{shown}");
    }
}
