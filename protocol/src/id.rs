//! Identities on the wire: [`AccountId`] (an account's Ed25519 key, shown as
//! bech32m `sotto1…`) and [`NodeId`] (a service node's Ed25519 key).

use std::fmt;
use std::str::FromStr;

use bech32::primitives::decode::{CheckedHrpstring, UncheckedHrpstring};
use bech32::{Bech32m, Hrp};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::constants::KEY_LEN;

/// Human-readable part of every account ID.
pub const ACCOUNT_ID_HRP: &str = "sotto";
/// Length of an account ID in characters: `sotto` + `1` + 52 data + 6 checksum.
pub const ACCOUNT_ID_LEN: usize = 64;

/// Why a string is not an account ID, worded for the person who typed or pasted it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccountIdError {
    /// Nothing was given.
    #[error("it is empty: paste the whole ID, which starts with \"sotto1\"")]
    Empty,
    /// Upper and lower case letters are mixed.
    #[error("it mixes upper and lower case: use one case throughout")]
    MixedCase,
    /// The part before the `1` is not `sotto`.
    #[error("it starts with {found:?}, not \"sotto1\": is this an ID from another app?")]
    WrongPrefix {
        /// What the string starts with.
        found: String,
    },
    /// The string has the wrong number of characters.
    #[error(
        "it has {found} characters, an account ID has {expected}: part of it is missing or extra"
    )]
    WrongLength {
        /// Characters found.
        found: usize,
        /// Characters expected.
        expected: usize,
    },
    /// A character outside the bech32 alphabet.
    #[error(
        "character {ch:?} at position {position} cannot appear in an ID (there is no b, i, o or 1 after the prefix)"
    )]
    InvalidCharacter {
        /// The character.
        ch: char,
        /// Its position, counting from 1.
        position: usize,
    },
    /// The checksum does not match.
    #[error("checksum does not match: check for a typo")]
    Checksum,
    /// The checksum matches but the bytes are not a valid public key.
    #[error("it decodes, but not to a valid public key")]
    NotAKey,
}

/// An account: its Ed25519 public key. Its text form is bech32m with prefix `sotto`.
/// Always a valid curve point: decoding from the wire checks it too.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "[u8; KEY_LEN]", into = "[u8; KEY_LEN]")]
pub struct AccountId([u8; KEY_LEN]);

impl TryFrom<[u8; KEY_LEN]> for AccountId {
    type Error = AccountIdError;
    fn try_from(bytes: [u8; KEY_LEN]) -> Result<Self, Self::Error> {
        Self::from_bytes(bytes)
    }
}

impl From<AccountId> for [u8; KEY_LEN] {
    fn from(id: AccountId) -> Self {
        id.0
    }
}

impl AccountId {
    /// Wraps a public key, checking it is a valid Ed25519 point in its canonical
    /// encoding and not of small order (a "weak" key, for which signatures prove
    /// nothing: strict verification refuses them, so such an account could never
    /// sign; refusing it here keeps it out of contact lists and swarms).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Result<Self, AccountIdError> {
        let key = VerifyingKey::from_bytes(&bytes).map_err(|_| AccountIdError::NotAKey)?;
        if key.is_weak() || key.to_bytes() != bytes {
            return Err(AccountIdError::NotAKey);
        }
        Ok(Self(bytes))
    }

    /// From a verifying key, which is a valid point by construction.
    pub fn from_verifying_key(key: &VerifyingKey) -> Self {
        Self(key.to_bytes())
    }

    /// The raw Ed25519 public key.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The Ed25519 verifying key (valid by construction; the conversion is
    /// repeated rather than cached to keep the type a plain 32 bytes).
    pub fn verifying_key(&self) -> Result<VerifyingKey, crate::Error> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| crate::Error::BadKey {
            what: "account key",
        })
    }

    /// The X25519 public key messages to this account are encrypted to.
    pub fn x25519_public(&self) -> Result<[u8; KEY_LEN], crate::Error> {
        Ok(self.verifying_key()?.to_montgomery().to_bytes())
    }

    /// The bech32m text form, `sotto1…`, 64 characters, lower case.
    pub fn to_text(&self) -> String {
        // The HRP is a valid constant and 32 bytes is far below bech32m's length
        // limit, so both calls succeed; fall back to hex rather than panic.
        match Hrp::parse(ACCOUNT_ID_HRP)
            .ok()
            .and_then(|hrp| bech32::encode::<Bech32m>(hrp, &self.0).ok())
        {
            Some(s) => s,
            None => self.0.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// Parses the text form, saying precisely what is wrong if it is not valid.
    /// Surrounding white space is ignored; upper case is accepted (QR codes).
    pub fn parse(text: &str) -> Result<Self, AccountIdError> {
        let text = text.trim();
        if text.is_empty() {
            return Err(AccountIdError::Empty);
        }
        let has_lower = text.chars().any(|c| c.is_ascii_lowercase());
        let has_upper = text.chars().any(|c| c.is_ascii_uppercase());
        if has_lower && has_upper {
            return Err(AccountIdError::MixedCase);
        }
        let lower = text.to_ascii_lowercase();
        let prefix = format!("{ACCOUNT_ID_HRP}1");
        if !lower.starts_with(&prefix) {
            let found: String = lower.chars().take(prefix.len()).collect();
            return Err(AccountIdError::WrongPrefix { found });
        }
        let count = lower.chars().count();
        if count != ACCOUNT_ID_LEN {
            return Err(AccountIdError::WrongLength {
                found: count,
                expected: ACCOUNT_ID_LEN,
            });
        }
        const CHARSET: &str = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";
        for (i, ch) in lower.chars().enumerate().skip(prefix.len()) {
            if !CHARSET.contains(ch) {
                return Err(AccountIdError::InvalidCharacter {
                    ch,
                    position: i + 1,
                });
            }
        }
        let unchecked = UncheckedHrpstring::new(&lower).map_err(|_| AccountIdError::Checksum)?;
        if !unchecked.has_valid_checksum::<Bech32m>() {
            return Err(AccountIdError::Checksum);
        }
        let checked =
            CheckedHrpstring::new::<Bech32m>(&lower).map_err(|_| AccountIdError::Checksum)?;
        let bytes: Vec<u8> = checked.byte_iter().collect();
        let key: [u8; KEY_LEN] =
            bytes
                .try_into()
                .map_err(|v: Vec<u8>| AccountIdError::WrongLength {
                    found: v.len(),
                    expected: KEY_LEN,
                })?;
        Self::from_bytes(key)
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

impl fmt::Debug for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountId({})", self.to_text())
    }
}

impl FromStr for AccountId {
    type Err = AccountIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A service node: its Ed25519 public key (from which libp2p derives its PeerId).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NodeId(pub [u8; KEY_LEN]);

impl NodeId {
    /// The raw Ed25519 public key.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The Ed25519 verifying key, if the bytes are a valid point.
    pub fn verifying_key(&self) -> Result<VerifyingKey, crate::Error> {
        VerifyingKey::from_bytes(&self.0).map_err(|_| crate::Error::BadKey { what: "node key" })
    }

    /// Short hex form for logs (first 8 bytes).
    pub fn short(&self) -> String {
        self.0.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({})", self.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::SigningKey;

    fn sample() -> AccountId {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        AccountId::from_bytes(key.verifying_key().to_bytes()).unwrap()
    }

    #[test]
    fn text_round_trip() {
        let id = sample();
        let text = id.to_text();
        assert_eq!(text.len(), ACCOUNT_ID_LEN);
        assert!(text.starts_with("sotto1"));
        assert_eq!(AccountId::parse(&text).unwrap(), id);
        assert_eq!(AccountId::parse(&text.to_ascii_uppercase()).unwrap(), id);
        assert_eq!(AccountId::parse(&format!("  {text}\n")).unwrap(), id);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        let text = sample().to_text();
        assert_eq!(AccountId::parse(""), Err(AccountIdError::Empty));
        // Upper-case the first letter after the prefix (digits have no case).
        let pos = text
            .char_indices()
            .skip(6)
            .find(|(_, c)| c.is_ascii_lowercase())
            .map(|(i, _)| i)
            .unwrap();
        let mut mixed = text.clone();
        mixed.replace_range(pos..pos + 1, &text[pos..pos + 1].to_ascii_uppercase());
        assert_eq!(AccountId::parse(&mixed), Err(AccountIdError::MixedCase));
        assert!(matches!(
            AccountId::parse(&text.replacen("sotto1", "session1", 1)),
            Err(AccountIdError::WrongPrefix { .. })
        ));
        assert!(matches!(
            AccountId::parse(&text[..60]),
            Err(AccountIdError::WrongLength { found: 60, .. })
        ));
        let mut bad_char = text.clone();
        bad_char.replace_range(20..21, "b");
        assert!(matches!(
            AccountId::parse(&bad_char),
            Err(AccountIdError::InvalidCharacter {
                ch: 'b',
                position: 21
            })
        ));
        // A single substituted character is always caught by the checksum.
        for pos in 6..text.len() {
            let mut typo = text.clone().into_bytes();
            typo[pos] = if typo[pos] == b'q' { b'p' } else { b'q' };
            let typo = String::from_utf8(typo).unwrap();
            assert_eq!(
                AccountId::parse(&typo),
                Err(AccountIdError::Checksum),
                "pos {pos}"
            );
        }
        let msg = AccountIdError::Checksum.to_string();
        assert!(msg.contains("typo"));
    }

    proptest::proptest! {
        #[test]
        fn any_key_round_trips_through_text(seed in proptest::prelude::any::<[u8; 32]>()) {
            let key = SigningKey::from_bytes(&seed);
            let id = AccountId::from_verifying_key(&key.verifying_key());
            let text = id.to_text();
            proptest::prop_assert_eq!(text.len(), ACCOUNT_ID_LEN);
            proptest::prop_assert_eq!(AccountId::parse(&text), Ok(id));
            // The wire form (postcard) round-trips too.
            let bytes = crate::codec::encode("account id", &id).unwrap();
            let back: AccountId = crate::codec::decode("account id", &bytes, 64).unwrap();
            proptest::prop_assert_eq!(back, id);
        }

        #[test]
        fn decoding_refuses_invalid_points(bytes in proptest::prelude::any::<[u8; 32]>()) {
            let encoded = crate::codec::encode("bytes", &bytes).unwrap();
            let decoded = crate::codec::decode::<AccountId>("account id", &encoded, 64);
            let valid = VerifyingKey::from_bytes(&bytes)
                .is_ok_and(|k| !k.is_weak() && k.to_bytes() == bytes);
            proptest::prop_assert_eq!(decoded.is_ok(), valid);
        }
    }

    #[test]
    fn weak_and_non_canonical_keys_are_not_accounts() {
        // The identity point (y = 1) has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            AccountId::from_bytes(identity),
            Err(AccountIdError::NotAKey)
        );
        // y = p + 1 is a non-canonical encoding of the same point.
        let mut p_plus_one = [0xffu8; 32];
        p_plus_one[0] = 0xee;
        p_plus_one[31] = 0x7f;
        assert_eq!(
            AccountId::from_bytes(p_plus_one),
            Err(AccountIdError::NotAKey)
        );
        assert!(AccountId::from_bytes(*sample().as_bytes()).is_ok());
    }

    #[test]
    fn bech32_not_bech32m_is_a_checksum_error() {
        let id = sample();
        let hrp = Hrp::parse(ACCOUNT_ID_HRP).unwrap();
        let legacy = bech32::encode::<bech32::Bech32>(hrp, id.as_bytes()).unwrap();
        assert_eq!(AccountId::parse(&legacy), Err(AccountIdError::Checksum));
    }
}
