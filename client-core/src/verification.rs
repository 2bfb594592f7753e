//! Verification codes (DESIGN §3): the 60-digit code two contacts compare to be
//! sure they hold each other's real keys, and the 30-digit public code of one key.
//!
//! ## Derivation (version 2)
//!
//! Both codes come from one construction, `stretch(context, input)`:
//!
//! ```text
//! h₁   = blake3::derive_key(context, input)
//! hᵢ₊₁ = blake3::derive_key(context, hᵢ ‖ input)          for i = 1 … 5199
//! out  = the first 5·groups bytes of the blake3 XOF in derive_key mode over
//!        (context, h₅₂₀₀ ‖ input)
//! group k = (out[5k .. 5k+5] as a big-endian 40-bit number) mod 100 000
//! ```
//!
//! - **Public code** of one key: context [`PUBLIC_CODE_CONTEXT`], input the
//!   32-byte Ed25519 key. 6 groups, 30 digits.
//! - **Verification code** of two accounts: their two public codes, the smaller
//!   (compared digit by digit) first. 12 groups, 60 digits. Both sides compute
//!   the same code whoever is "a", and each side finds its own public code as one
//!   of the two halves. This is the shape of Signal's safety numbers (one
//!   fingerprint per key, displayed sorted).
//!
//! **Why one half per key**: a man in the middle gives Alice his key `M_B` in place
//! of Bob's. With one joint hash over both keys (version 1 of this module) he only
//! needed `code(A, M_B) == code(M_A, B)`, a collision he could search from both
//! sides; a user who compared just two groups (10 digits) was beaten after about
//! 2 · √(10¹⁰) ≈ 2¹⁸ tries of 5200 hashes each, ≈ 2³⁰ hashes. With one half per
//! key he needs `public_code(M_B) == public_code(B)` on the digits the user
//! compares: a second preimage, which no birthday search shortens. Two groups then
//! cost 10¹⁰ tries ≈ 2⁴⁵ hashes, the whole code ≈ 2^99.7 × 5200.
//!
//! **Why 5200 rounds**: it is the iteration count of Signal's safety numbers. A
//! code is checked by eye, so an attacker wins by finding *some* key whose code
//! matches the victim's; every key they try costs 5200 hashes instead of one.
//!
//! **Earlier codes**: a contact marked verified under version 1 stays verified;
//! `verification_code_v1` recomputes that code so the stored mark can be
//! recognised.
//!
//! **Bias**: 2^40 is not a multiple of 100 000, so the low values of a group are
//! more likely by at most 1 in 11 million: no use to an attacker.
//!
//! The codes are not secret (they are derived from public keys only), so they
//! compare with ordinary `==`.

use std::fmt;
use std::str::FromStr;

use sotto_protocol::AccountId;

use crate::error::{Error, Result};

/// blake3 `derive_key` context of the version-1 verification code, kept to
/// recognise contacts verified before version 2.
pub const VERIFICATION_CODE_CONTEXT: &str = "sotto verification code v1";
/// blake3 `derive_key` context of an account's public code.
pub const PUBLIC_CODE_CONTEXT: &str = "sotto public code v1";
/// Hash rounds behind each code (Signal's safety-number iteration count).
pub const CODE_ITERATIONS: u32 = 5200;
/// Digits in each group as displayed.
pub const DIGITS_PER_GROUP: usize = 5;
/// Groups in a verification code (60 digits).
pub const VERIFICATION_CODE_GROUPS: usize = 12;
/// Groups in a public code (30 digits).
pub const PUBLIC_CODE_GROUPS: usize = 6;

/// Bytes of hash output behind one group: 40 bits, reduced mod 10^5.
const BYTES_PER_GROUP: usize = 5;
/// 10^[`DIGITS_PER_GROUP`].
const GROUP_MODULUS: u64 = 100_000;

/// The code two contacts compare to check that each holds the other's real key:
/// 60 digits in 12 groups of 5, the same on both sides. See the module docs for
/// how it is derived.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct VerificationCode(Groups<VERIFICATION_CODE_GROUPS>);

/// A fingerprint of one's own account key, to post anywhere (a profile, a
/// business card) so others can check the key they were given: 30 digits in 6
/// groups of 5.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct PublicCode(Groups<PUBLIC_CODE_GROUPS>);

/// The verification code between accounts `a` and `b`. The order does not matter:
/// `verification_code(a, b) == verification_code(b, a)`.
pub fn verification_code(a: &AccountId, b: &AccountId) -> VerificationCode {
    let (pa, pb) = (public_code(a).0.0, public_code(b).0.0);
    let (lo, hi) = if pa <= pb { (pa, pb) } else { (pb, pa) };
    let mut groups = [0u32; VERIFICATION_CODE_GROUPS];
    let (first, second) = groups.split_at_mut(PUBLIC_CODE_GROUPS);
    first.copy_from_slice(&lo);
    second.copy_from_slice(&hi);
    VerificationCode(Groups(groups))
}

/// The version-1 verification code: one joint hash over both keys, sorted by
/// their bytes (context [`VERIFICATION_CODE_CONTEXT`]). Only for recognising a
/// contact that was marked verified before version 2; never shown.
pub(crate) fn verification_code_v1(a: &AccountId, b: &AccountId) -> VerificationCode {
    let (lo, hi) = if a.as_bytes() <= b.as_bytes() {
        (a, b)
    } else {
        (b, a)
    };
    let mut input = [0u8; 64];
    let (first, second) = input.split_at_mut(32);
    first.copy_from_slice(lo.as_bytes());
    second.copy_from_slice(hi.as_bytes());
    VerificationCode(Groups::derive(VERIFICATION_CODE_CONTEXT, &input))
}

/// The public code of `id`.
pub fn public_code(id: &AccountId) -> PublicCode {
    PublicCode(Groups::derive(PUBLIC_CODE_CONTEXT, id.as_bytes()))
}

impl VerificationCode {
    /// What the code is called in error messages.
    const WHAT: &'static str = "verification code";

    /// The 12 groups, each below 100 000 (show them zero-padded to 5 digits).
    pub fn groups(&self) -> &[u32; VERIFICATION_CODE_GROUPS] {
        &self.0.0
    }

    /// All 60 digits, without spaces.
    pub fn digits(&self) -> String {
        self.0.digits()
    }

    /// The code as 3 lines of 4 groups, the layout to show on screen.
    pub fn lines(&self) -> Vec<String> {
        self.0.lines(4)
    }

    /// Reads a code as typed or pasted: 60 digits; white space anywhere is ignored.
    pub fn parse(text: &str) -> Result<Self> {
        Groups::parse(Self::WHAT, text).map(Self)
    }
}

impl PublicCode {
    /// What the code is called in error messages.
    const WHAT: &'static str = "public code";

    /// The 6 groups, each below 100 000 (show them zero-padded to 5 digits).
    pub fn groups(&self) -> &[u32; PUBLIC_CODE_GROUPS] {
        &self.0.0
    }

    /// All 30 digits, without spaces.
    pub fn digits(&self) -> String {
        self.0.digits()
    }

    /// The code as 2 lines of 3 groups.
    pub fn lines(&self) -> Vec<String> {
        self.0.lines(3)
    }

    /// Reads a code as typed or pasted: 30 digits; white space anywhere is ignored.
    pub fn parse(text: &str) -> Result<Self> {
        Groups::parse(Self::WHAT, text).map(Self)
    }
}

impl fmt::Display for VerificationCode {
    /// The 12 groups on one line, separated by single spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for PublicCode {
    /// The 6 groups on one line, separated by single spaces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for VerificationCode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl FromStr for PublicCode {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

/// `N` groups of 5 decimal digits: what both codes are made of.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
struct Groups<const N: usize>([u32; N]);

impl<const N: usize> Groups<N> {
    /// The construction of the module docs.
    fn derive(context: &str, input: &[u8]) -> Self {
        let keyed = blake3::Hasher::new_derive_key(context);
        let mut h = keyed.clone().update(input).finalize();
        for _ in 1..CODE_ITERATIONS {
            h = keyed.clone().update(h.as_bytes()).update(input).finalize();
        }
        let mut out = keyed.clone();
        out.update(h.as_bytes()).update(input);
        let mut reader = out.finalize_xof();
        let mut groups = [0u32; N];
        for group in &mut groups {
            let mut chunk = [0u8; BYTES_PER_GROUP];
            reader.fill(&mut chunk);
            let value = chunk
                .iter()
                .fold(0u64, |acc, &byte| (acc << 8) | u64::from(byte));
            // Below 100 000, so it always fits.
            *group = u32::try_from(value % GROUP_MODULUS).unwrap_or(0);
        }
        Self(groups)
    }

    fn digits(&self) -> String {
        self.0.iter().map(|g| format!("{g:05}")).collect()
    }

    fn lines(&self, per_line: usize) -> Vec<String> {
        self.0
            .chunks(per_line)
            .map(|line| {
                let groups: Vec<String> = line.iter().map(|g| format!("{g:05}")).collect();
                groups.join(" ")
            })
            .collect()
    }

    fn parse(what: &'static str, text: &str) -> Result<Self> {
        let mut digits = Vec::with_capacity(N * DIGITS_PER_GROUP);
        for (i, ch) in text.chars().enumerate() {
            if ch.is_whitespace() {
                continue;
            }
            match ch.to_digit(10) {
                Some(d) => digits.push(d),
                None => {
                    return Err(Error::CodeCharacter {
                        what,
                        ch,
                        position: i + 1,
                    });
                }
            }
        }
        let expected = N * DIGITS_PER_GROUP;
        if digits.len() != expected {
            return Err(Error::CodeLength {
                what,
                found: digits.len(),
                expected,
            });
        }
        let mut groups = [0u32; N];
        for (group, chunk) in groups.iter_mut().zip(digits.chunks(DIGITS_PER_GROUP)) {
            *group = chunk.iter().fold(0, |acc, &d| acc * 10 + d);
        }
        Ok(Self(groups))
    }
}

impl<const N: usize> fmt::Display for Groups<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, g) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{g:05}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
// Tests may panic: that is how they fail.
#[allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use sotto_protocol::AccountKey;

    fn id(byte: u8) -> AccountId {
        AccountKey::from_entropy([byte; 16]).account_id()
    }

    #[test]
    fn shapes() {
        let code = verification_code(&id(1), &id(2));
        assert_eq!(code.digits().len(), 60);
        assert!(code.digits().chars().all(|c| c.is_ascii_digit()));
        assert_eq!(code.groups().len(), 12);
        assert!(code.groups().iter().all(|&g| g < 100_000));
        let shown = code.to_string();
        assert_eq!(shown.split(' ').count(), 12);
        assert!(shown.split(' ').all(|g| g.len() == 5));
        assert_eq!(code.lines().len(), 3);
        assert!(code.lines().iter().all(|l| l.split(' ').count() == 4));
        assert_eq!(code.lines().join(" "), shown);

        let public = public_code(&id(1));
        assert_eq!(public.digits().len(), 30);
        assert_eq!(public.to_string().split(' ').count(), 6);
        assert_eq!(public.lines().len(), 2);
        assert_eq!(public.lines().join(" "), public.to_string());
    }

    /// Recomputes the version-1 code step by step, through blake3's one-shot
    /// functions rather than the reused hasher of `derive`.
    #[test]
    fn v1_derivation_follows_its_description() {
        let (a, b) = (id(1), id(2));
        let (lo, hi) = if a.as_bytes() < b.as_bytes() {
            (a, b)
        } else {
            (b, a)
        };
        let input = [lo.as_bytes().as_slice(), hi.as_bytes().as_slice()].concat();
        let mut h = blake3::derive_key(VERIFICATION_CODE_CONTEXT, &input);
        for _ in 1..5200 {
            h = blake3::derive_key(VERIFICATION_CODE_CONTEXT, &[&h[..], &input].concat());
        }
        let last = [&h[..], &input].concat();
        let mut out = [0u8; 60];
        blake3::Hasher::new_derive_key(VERIFICATION_CODE_CONTEXT)
            .update(&last)
            .finalize_xof()
            .fill(&mut out);
        // The XOF's first 32 bytes are the ordinary derive_key output.
        assert_eq!(
            out[..32],
            blake3::derive_key(VERIFICATION_CODE_CONTEXT, &last)
        );
        let expected: Vec<u32> = out
            .chunks(5)
            .map(|c| {
                let n = c.iter().fold(0u64, |acc, &x| acc * 256 + u64::from(x));
                (n % 100_000) as u32
            })
            .collect();
        assert_eq!(verification_code_v1(&a, &b).groups().to_vec(), expected);
    }

    /// Each half of a verification code is one key's public code, the smaller
    /// first, so a substituted key must match the victim's own public code (a
    /// second preimage) on whatever groups the users compare.
    #[test]
    fn verification_code_is_both_public_codes_sorted() {
        for (x, y) in [(1u8, 2u8), (2, 1), (5, 9), (9, 5), (7, 7)] {
            let (a, b) = (id(x), id(y));
            let (pa, pb) = (public_code(&a).digits(), public_code(&b).digits());
            let sorted = if pa <= pb { pa + &pb } else { pb + &pa };
            assert_eq!(verification_code(&a, &b).digits(), sorted);
        }
    }

    #[test]
    fn groups_are_zero_padded() {
        let g = Groups([0, 7, 99_999]);
        assert_eq!(g.to_string(), "00000 00007 99999");
        assert_eq!(g.digits(), "000000000799999");
        assert_eq!(Groups::<3>::parse("c", "00000 00007 99999"), Ok(g));
    }

    #[test]
    fn parse_accepts_any_spacing_and_reports_errors() {
        let code = verification_code(&id(3), &id(4));
        assert_eq!(VerificationCode::parse(&code.to_string()), Ok(code));
        assert_eq!(VerificationCode::parse(&code.digits()), Ok(code));
        let messy = format!("\n {}  \t", code.lines().join("\n"));
        assert_eq!(messy.parse::<VerificationCode>(), Ok(code));

        let short = &code.digits()[..59];
        assert_eq!(
            VerificationCode::parse(short),
            Err(Error::CodeLength {
                what: "verification code",
                found: 59,
                expected: 60
            })
        );
        assert_eq!(
            PublicCode::parse("12345 6789x"),
            Err(Error::CodeCharacter {
                what: "public code",
                ch: 'x',
                position: 11
            })
        );
        // A verification code is not a public code, and the message says so.
        let err = PublicCode::parse(&code.digits()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "a public code has 30 digits; you entered 60"
        );
    }
}
