//! The attachment fuzz target: the decoders of what a message announcing an
//! attachment carries, and of a file's manifest, shared by the `cargo fuzz`
//! binary and `protocol/tests/fuzz_attachment_corpus.rs`.

use sotto_protocol::attachment::{Attachment, Location, Manifest};

/// The first byte picks the decoder, the rest is its input: 0 an attachment
/// descriptor (`Attachment::decode`), 1 a location (`Location::decode`),
/// anything else the plaintext of a manifest chunk (`Manifest::from_plaintext`).
/// An accepted value must survive encode → decode unchanged. Accepted: decoded.
pub fn attachment(data: &[u8]) -> bool {
    let Some((&selector, input)) = data.split_first() else {
        return false;
    };
    match selector {
        0 => {
            let Ok(a) = Attachment::decode(input) else {
                return false;
            };
            let again = a.encode().map(|bytes| bytes == input);
            assert_eq!(again, Ok(true), "attachment does not re-encode to itself");
            let _ = a.open_thumbnail();
            true
        }
        1 => {
            let Ok(l) = Location::decode(input) else {
                return false;
            };
            let again = l.encode().map(|bytes| bytes == input);
            assert_eq!(again, Ok(true), "location does not re-encode to itself");
            true
        }
        _ => {
            let Ok(m) = Manifest::from_plaintext(input) else {
                return false;
            };
            let plain = m.to_plaintext();
            assert_eq!(
                plain.and_then(|p| Manifest::from_plaintext(&p)),
                Ok(m),
                "manifest does not round-trip"
            );
            true
        }
    }
}
