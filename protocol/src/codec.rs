//! The one wire and disk encoding (postcard), with a size check before any decode.
//!
//! Every decoder a peer can reach goes through [`decode`], which refuses input over
//! its limit before reading a byte of it, refuses trailing bytes after it, and
//! refuses any encoding but the canonical one (postcard would also accept, say, an
//! over-long varint such as `80 00` for 0). So one value has exactly one encoding,
//! and what was signed or hashed is what every peer re-encodes. Collections are
//! bounded by the input length: postcard never reads more elements than there are
//! bytes left, and serde preallocates at most 1 MiB for any one collection.

use postcard::ser_flavors::Flavor;
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};

/// Encodes `value` as postcard bytes.
pub fn encode<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>> {
    postcard::to_allocvec(value).map_err(|e| Error::Encode {
        what,
        reason: e.to_string(),
    })
}

/// Encodes `value`, refusing the result if it is longer than `max` (the limit the
/// receiver's [`decode`] applies), so a sender learns of an over-limit message
/// before sending it.
pub fn encode_bounded<T: Serialize>(what: &'static str, value: &T, max: usize) -> Result<Vec<u8>> {
    let bytes = encode(what, value)?;
    if bytes.len() > max {
        return Err(Error::TooLarge {
            what,
            len: bytes.len(),
            max,
        });
    }
    Ok(bytes)
}

/// Decodes one `T` from exactly `bytes`, refusing input longer than `max` before
/// decoding, trailing bytes after it, and any encoding of the value other than the
/// canonical one.
pub fn decode<T: Serialize + DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
    max: usize,
) -> Result<T> {
    if bytes.len() > max {
        return Err(Error::TooLarge {
            what,
            len: bytes.len(),
            max,
        });
    }
    let (value, rest) = postcard::take_from_bytes::<T>(bytes).map_err(|e| Error::Decode {
        what,
        reason: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(Error::Decode {
            what,
            reason: format!("{} trailing bytes", rest.len()),
        });
    }
    if !is_canonical(&value, bytes) {
        return Err(Error::Decode {
            what,
            reason: "not in canonical form (re-encoding gives other bytes)".into(),
        });
    }
    Ok(value)
}

/// Whether `value` encodes to exactly `bytes`, compared while encoding, without
/// allocating a copy.
fn is_canonical<T: Serialize>(value: &T, bytes: &[u8]) -> bool {
    matches!(
        postcard::serialize_with_flavor(
            value,
            Compare {
                expected: bytes,
                at: 0
            }
        ),
        Ok(true)
    )
}

/// A postcard output that compares each byte with the expected encoding and stops
/// at the first difference.
struct Compare<'a> {
    expected: &'a [u8],
    at: usize,
}

impl Flavor for Compare<'_> {
    type Output = bool;

    fn try_push(&mut self, data: u8) -> postcard::Result<()> {
        match self.expected.get(self.at) {
            Some(&b) if b == data => {
                self.at += 1;
                Ok(())
            }
            _ => Err(postcard::Error::SerializeBufferFull),
        }
    }

    fn try_extend(&mut self, data: &[u8]) -> postcard::Result<()> {
        let end = self.at.saturating_add(data.len());
        match self.expected.get(self.at..end) {
            Some(slice) if slice == data => {
                self.at = end;
                Ok(())
            }
            _ => Err(postcard::Error::SerializeBufferFull),
        }
    }

    fn finalize(self) -> postcard::Result<bool> {
        Ok(self.at == self.expected.len())
    }
}

/// Serde helpers for fixed-size byte arrays longer than serde's built-in 32
/// (signatures). Encoded as postcard bytes (a length, then the bytes); decoding
/// checks the length.
pub mod bytes64 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    /// Serializes 64 bytes as a byte string.
    pub fn serialize<S: Serializer>(v: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    /// Deserializes a byte string of exactly 64 bytes.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let b: &[u8] = <&[u8]>::deserialize(d)?;
        <[u8; 64]>::try_from(b).map_err(|_| D::Error::invalid_length(b.len(), &"64 bytes"))
    }
}

/// Serde helpers for fixed-size byte arrays of any length `N` (ML-KEM keys and
/// ciphertexts, seeds), encoded as a byte string (postcard: a length, then the
/// bytes). Decoding accepts a byte string or a sequence of exactly `N` bytes, so
/// formats without borrowed bytes (JSON for a client's storage) work too.
pub mod byte_array {
    use std::fmt;

    use serde::de::{Error as _, SeqAccess, Visitor};
    use serde::{Deserializer, Serializer};

    /// Serializes `N` bytes as a byte string.
    pub fn serialize<S: Serializer, const N: usize>(v: &[u8; N], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    /// Deserializes a byte string of exactly `N` bytes.
    pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
        d: D,
    ) -> Result<[u8; N], D::Error> {
        d.deserialize_bytes(ArrayVisitor::<N>)
    }

    struct ArrayVisitor<const N: usize>;

    impl<'de, const N: usize> Visitor<'de> for ArrayVisitor<N> {
        type Value = [u8; N];

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{N} bytes")
        }

        fn visit_bytes<E: serde::de::Error>(self, b: &[u8]) -> Result<[u8; N], E> {
            <[u8; N]>::try_from(b).map_err(|_| E::invalid_length(b.len(), &self))
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<[u8; N], A::Error> {
            let mut out = [0u8; N];
            for (i, slot) in out.iter_mut().enumerate() {
                *slot = seq
                    .next_element()?
                    .ok_or_else(|| A::Error::invalid_length(i, &self))?;
            }
            if seq.next_element::<u8>()?.is_some() {
                return Err(A::Error::invalid_length(N + 1, &self));
            }
            Ok(out)
        }
    }

    /// The same for a boxed array (large keys stay off the stack).
    pub mod boxed {
        use serde::{Deserializer, Serializer};

        /// Serializes `N` bytes as a byte string.
        #[allow(clippy::borrowed_box)] // serde's `with` hands over `&field`
        pub fn serialize<S: Serializer, const N: usize>(
            v: &Box<[u8; N]>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&v[..])
        }

        /// Deserializes a byte string of exactly `N` bytes into a box.
        pub fn deserialize<'de, D: Deserializer<'de>, const N: usize>(
            d: D,
        ) -> Result<Box<[u8; N]>, D::Error> {
            super::deserialize::<D, N>(d).map(Box::new)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        a: u32,
        data: Vec<u8>,
        #[serde(with = "bytes64")]
        sig: [u8; 64],
    }

    #[test]
    fn round_trip_and_limits() {
        let s = Sample {
            a: 7,
            data: vec![1, 2, 3],
            sig: [9; 64],
        };
        let bytes = encode("sample", &s).unwrap();
        assert_eq!(decode::<Sample>("sample", &bytes, 1024).unwrap(), s);
        assert!(matches!(
            decode::<Sample>("sample", &bytes, bytes.len() - 1),
            Err(Error::TooLarge { .. })
        ));
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(matches!(
            decode::<Sample>("sample", &trailing, 1024),
            Err(Error::Decode { .. })
        ));
        for cut in 0..bytes.len() {
            assert!(decode::<Sample>("sample", &bytes[..cut], 1024).is_err());
        }
    }

    #[test]
    fn only_the_canonical_encoding_decodes() {
        let s = Sample {
            a: 0,
            data: vec![],
            sig: [1; 64],
        };
        let bytes = encode("sample", &s).unwrap();
        assert_eq!(bytes[0], 0);
        // 0 as an over-long varint: 0x80 0x00.
        let mut long = vec![0x80, 0x00];
        long.extend_from_slice(&bytes[1..]);
        let err = decode::<Sample>("sample", &long, 1024).unwrap_err();
        assert!(err.to_string().contains("canonical"), "{err}");
        assert_eq!(decode::<Sample>("sample", &bytes, 1024).unwrap(), s);
    }

    #[test]
    fn huge_length_prefix_does_not_allocate() {
        // A varint claiming 2^32 bytes of data follows, with nothing behind it.
        let evil = [7u8, 0xff, 0xff, 0xff, 0xff, 0x0f];
        assert!(decode::<Sample>("sample", &evil, 1024).is_err());
    }
}
