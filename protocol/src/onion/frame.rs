//! The framing inside a sealed onion payload or response: `u32 LE length ‖ body ‖
//! zero padding`, filling the space the size class leaves.

use crate::constants::ONION_LEN_PREFIX;
use crate::error::{Error, Result};

/// Frames `body` into `out` (all of it), so the caller can seal the frame in place
/// and no plaintext copy is left behind in a buffer of its own.
pub(super) fn frame_into(what: &'static str, body: &[u8], out: &mut [u8]) -> Result<()> {
    let max = out.len().saturating_sub(ONION_LEN_PREFIX);
    let too_long = || Error::DoesNotFit {
        what,
        len: body.len(),
        max,
    };
    let (prefix, rest) = out
        .split_first_chunk_mut::<ONION_LEN_PREFIX>()
        .ok_or_else(too_long)?;
    let (len, (head, padding)) = u32::try_from(body.len())
        .ok()
        .zip(rest.split_at_mut_checked(body.len()))
        .ok_or_else(too_long)?;
    *prefix = len.to_le_bytes();
    head.copy_from_slice(body);
    padding.fill(0);
    Ok(())
}

/// Reads the body back out of a framed buffer, refusing a length that does not fit
/// and any non-zero padding (one body has exactly one framing).
pub(super) fn unframe(what: &'static str, buf: &[u8]) -> Result<Vec<u8>> {
    let (len, rest) = buf
        .split_first_chunk::<ONION_LEN_PREFIX>()
        .ok_or(Error::TooShort {
            what,
            len: buf.len(),
            min: ONION_LEN_PREFIX,
        })?;
    let len = u32::from_le_bytes(*len);
    let (body, padding) = usize::try_from(len)
        .ok()
        .and_then(|len| rest.split_at_checked(len))
        .ok_or_else(|| Error::Decode {
            what,
            reason: format!(
                "it claims {len} bytes but only {} follow the length",
                rest.len()
            ),
        })?;
    if padding.iter().any(|b| *b != 0) {
        return Err(Error::Decode {
            what,
            reason: "the padding is not all zeros".into(),
        });
    }
    Ok(body.to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use super::*;

    /// Frames `body` into a fresh buffer of `total` bytes.
    fn frame(what: &'static str, body: &[u8], total: usize) -> Result<Vec<u8>> {
        let mut out = vec![0xEE; total];
        frame_into(what, body, &mut out)?;
        Ok(out)
    }

    #[test]
    fn frame_round_trip() {
        for len in [0usize, 1, 10, 96] {
            let body: Vec<u8> = (0..len).map(|i| i as u8 | 1).collect();
            // The buffer starts non-zero: the padding must be written, not assumed.
            let framed = frame("t", &body, 100).unwrap();
            assert_eq!(framed.len(), 100);
            assert_eq!(unframe("t", &framed).unwrap(), body);
        }
        assert!(matches!(
            frame("t", &[0; 97], 100),
            Err(Error::DoesNotFit {
                len: 97,
                max: 96,
                ..
            })
        ));
        assert!(matches!(
            frame("t", &[], 3),
            Err(Error::DoesNotFit { len: 0, max: 0, .. })
        ));
    }

    #[test]
    fn bad_framing_is_refused() {
        let mut framed = frame("t", b"abc", 20).unwrap();
        framed[19] = 1;
        assert!(matches!(unframe("t", &framed), Err(Error::Decode { .. })));
        let mut long = frame("t", b"abc", 20).unwrap();
        long[0] = 17;
        assert!(matches!(unframe("t", &long), Err(Error::Decode { .. })));
        long[0] = 16;
        // 16 bytes claimed and 16 present: the padding bytes become the body.
        assert_eq!(unframe("t", &long).unwrap().len(), 16);
        let mut huge = frame("t", b"", 20).unwrap();
        huge[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(unframe("t", &huge), Err(Error::Decode { .. })));
        assert!(matches!(unframe("t", &[0; 3]), Err(Error::TooShort { .. })));
    }
}
