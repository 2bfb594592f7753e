//! The local socket's messages and their framing: a 4-byte big-endian
//! length, then that many bytes of JSON. Lengths are checked before
//! anything is allocated or decoded.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Most bytes of a request: a command line, whose longest part is a message
/// text (an envelope holds far less than this).
pub const MAX_REQUEST_BYTES: u32 = 256 * 1024;
/// Most bytes of one reply frame; output is sent in pieces of at most
/// [`OUTPUT_PIECE`] bytes, so a frame stays well under this.
pub const MAX_REPLY_BYTES: u32 = 256 * 1024;
/// Most bytes of output text in one reply frame (JSON escaping can grow a
/// piece: control characters take up to six bytes each).
pub const OUTPUT_PIECE: usize = 32 * 1024;

/// What a client asks the process that holds the home.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// The client's `sotto` version: both sides must parse command lines
    /// alike, so any difference is refused.
    pub version: String,
    /// The client's command line, program name first.
    pub argv: Vec<String>,
    /// The network the client's settings name (its wire name).
    pub network: String,
    /// Whether the client's stderr is a terminal (`send` then says what it
    /// waits for).
    pub stderr_tty: bool,
}

/// What the holder sends back, in order.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub enum Reply {
    /// The request was accepted and the command starts: from here on it
    /// may change the home, so the client must not run it again itself.
    Started,
    /// Text for the client's stdout.
    Out(String),
    /// Text for the client's stderr.
    Err(String),
    /// Nothing to say yet; the command still runs.
    Alive,
    /// The command ended with this exit code (the last frame).
    Exit(u8),
}

/// Why a frame could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The connection failed.
    #[error("the local socket failed: {0}")]
    Io(#[from] std::io::Error),
    /// The length is past the limit.
    #[error("a local socket frame of {len} bytes is over the limit of {max}")]
    TooLarge {
        /// The announced length.
        len: u32,
        /// The limit.
        max: u32,
    },
    /// The bytes are not the message expected.
    #[error("a local socket frame does not decode: {0}")]
    Decode(#[from] serde_json::Error),
}

/// Reads one frame of at most `max` bytes; `None` when the other side closed
/// the connection before a frame began.
pub async fn read<T: DeserializeOwned, R: AsyncRead + Unpin>(
    r: &mut R,
    max: u32,
) -> Result<Option<T>, FrameError> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    let len = u32::from_be_bytes(len);
    if len > max {
        return Err(FrameError::TooLarge { len, max });
    }
    let mut body = vec![0u8; len as usize];
    r.read_exact(&mut body).await?;
    Ok(Some(serde_json::from_slice(&body)?))
}

/// The bytes of one frame holding `value`.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, FrameError> {
    let body = serde_json::to_vec(value)?;
    let len = u32::try_from(body.len()).map_err(|_| FrameError::TooLarge {
        len: u32::MAX,
        max: u32::MAX,
    })?;
    let mut out = Vec::with_capacity(body.len() + 4);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Writes one frame holding `value`.
pub async fn write<T: Serialize, W: AsyncWrite + Unpin>(
    w: &mut W,
    value: &T,
) -> Result<(), FrameError> {
    w.write_all(&encode(value)?).await?;
    Ok(())
}

/// `text` cut into pieces of at most [`OUTPUT_PIECE`] bytes, on character
/// boundaries.
pub fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while rest.len() > OUTPUT_PIECE {
        let mut cut = OUTPUT_PIECE;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let (head, tail) = rest.split_at(cut);
        out.push(head);
        rest = tail;
    }
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_round_trip_and_oversized_ones_are_refused_unread() {
        let req = Request {
            version: "1".into(),
            argv: vec!["sotto".into(), "id".into()],
            network: "devnet".into(),
            stderr_tty: false,
        };
        let bytes = encode(&req).unwrap();
        let back: Option<Request> = read(&mut &bytes[..], MAX_REQUEST_BYTES).await.unwrap();
        assert_eq!(back, Some(req));
        // Clean end before a frame.
        let none: Option<Reply> = read(&mut &[][..], MAX_REPLY_BYTES).await.unwrap();
        assert_eq!(none, None);
        // A huge length with no body behind it: refused on the length alone.
        let huge = u32::MAX.to_be_bytes();
        let e = read::<Request, _>(&mut &huge[..], MAX_REQUEST_BYTES)
            .await
            .unwrap_err();
        assert!(
            matches!(e, FrameError::TooLarge { len: u32::MAX, .. }),
            "{e}"
        );
        // Unknown fields and garbage do not decode.
        let odd = encode(
            &serde_json::json!({"version":"1","argv":[],"network":"x","stderr_tty":false,"uid":0}),
        )
        .unwrap();
        assert!(matches!(
            read::<Request, _>(&mut &odd[..], MAX_REQUEST_BYTES).await,
            Err(FrameError::Decode(_))
        ));
        let mut cut = encode(&Reply::Out("hello".into())).unwrap();
        cut.truncate(6);
        assert!(matches!(
            read::<Reply, _>(&mut &cut[..], MAX_REPLY_BYTES).await,
            Err(FrameError::Io(_))
        ));
    }

    #[test]
    fn output_is_cut_on_character_boundaries_and_fits_a_frame() {
        let text = "é".repeat(OUTPUT_PIECE);
        let parts = pieces(&text);
        assert_eq!(parts.concat(), text);
        assert!(parts.iter().all(|p| p.len() <= OUTPUT_PIECE));
        // The worst case for escaping still fits one reply frame.
        let worst = "\u{1}".repeat(OUTPUT_PIECE);
        let frame = encode(&Reply::Out(worst)).unwrap();
        assert!(frame.len() <= MAX_REPLY_BYTES as usize, "{}", frame.len());
        assert!(pieces("").is_empty());
    }
}
