//! The framing inside a sealed onion payload or response: `u32 LE length ‖ body ‖
//! zero padding`, filling the space the size class leaves.

use crate::constants::ONION_LEN_PREFIX;
use crate::error::{Error, Result};

/// Frames `body` into exactly `total` bytes.
pub(super) fn frame(what: &'static str, body: &[u8], total: usize) -> Result<Vec<u8>> {
    let max = total.saturating_sub(ONION_LEN_PREFIX);
    let len = u32::try_from(body.len())
        .ok()
        .filter(|_| body.len() <= max)
        .ok_or(Error::DoesNotFit {
            what,
            len: body.len(),
            max,
        })?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(body);
    out.resize(total, 0);
    Ok(out)
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

    #[test]
    fn frame_round_trip() {
        for len in [0usize, 1, 10, 96] {
            let body: Vec<u8> = (0..len).map(|i| i as u8 | 1).collect();
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
