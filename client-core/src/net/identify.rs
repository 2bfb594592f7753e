//! Asking a node which network it is on: libp2p's identify protocol, asked
//! but never answered. A client given the bootstrap nodes of another network
//! only learns that they do not speak its protocols; their identify answer
//! names theirs (`/sotto/<network>/1`), so the user can be told which
//! `--network` to use. The client does not serve identify itself, so a node
//! never learns anything from this and never drops the client for it.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite};
use libp2p::StreamProtocol;
use libp2p::request_response;

/// The identify protocol's name (libp2p's, spoken by every Sotto node).
pub const IDENTIFY_PROTOCOL: &str = "/ipfs/id/1.0.0";

/// Largest identify message read; libp2p's own limit for it.
pub const MAX_IDENTIFY_LEN: usize = 4096;

/// The protobuf field number of `protocolVersion` in an identify message.
const PROTOCOL_VERSION_FIELD: u64 = 5;

/// Most bytes of a length varint: 4096 fits in two, so three is generous.
const MAX_VARINT_BYTES: usize = 3;

/// Sends nothing and reads one length-prefixed identify message, raw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdentifyCodec;

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Reads one unsigned LEB128 varint of at most [`MAX_VARINT_BYTES`] bytes.
async fn read_len<T: AsyncRead + Unpin + Send>(io: &mut T) -> io::Result<usize> {
    let mut value: usize = 0;
    for i in 0..MAX_VARINT_BYTES {
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await?;
        let [b] = byte;
        value |= usize::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(invalid("identify length prefix too long"))
}

impl request_response::Codec for IdentifyCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, _: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        // Outbound only: the client never accepts identify streams.
        Err(invalid("the client does not answer identify"))
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        let len = read_len(io).await?;
        if len > MAX_IDENTIFY_LEN {
            return Err(invalid("identify message over the limit"));
        }
        let mut body = vec![0u8; len];
        io.read_exact(&mut body).await?;
        Ok(body)
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        // Asking is opening the stream: the node answers without a request.
        Ok(())
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        Err(invalid("the client does not answer identify"))
    }
}

/// Reads a varint from the front of `buf`, advancing it.
fn take_varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let (&b, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(b & 0x7f).checked_shl(7 * i)?;
        if b & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

/// Takes `n` bytes from the front of `buf`.
fn take<'a>(buf: &mut &'a [u8], n: u64) -> Option<&'a [u8]> {
    let n = usize::try_from(n).ok()?;
    if n > buf.len() {
        return None;
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Some(head)
}

/// The `protocolVersion` of a raw identify message, if it has a readable one.
/// Every other field is skipped by its wire type; anything malformed gives
/// `None`.
pub fn protocol_version(message: &[u8]) -> Option<String> {
    let mut buf = message;
    let mut found = None;
    while !buf.is_empty() {
        let key = take_varint(&mut buf)?;
        let (field, wire) = (key >> 3, key & 7);
        match wire {
            0 => {
                take_varint(&mut buf)?;
            }
            1 => {
                take(&mut buf, 8)?;
            }
            2 => {
                let len = take_varint(&mut buf)?;
                let bytes = take(&mut buf, len)?;
                if field == PROTOCOL_VERSION_FIELD {
                    found = Some(String::from_utf8(bytes.to_vec()).ok()?);
                }
            }
            5 => {
                take(&mut buf, 4)?;
            }
            _ => return None,
        }
    }
    found
}

/// The network name in a Sotto protocol version (`/sotto/<network>/1`).
pub fn network_of_version(version: &str) -> Option<String> {
    let name = version.strip_prefix("/sotto/")?.strip_suffix("/1")?;
    let ok = !name.is_empty()
        && name.len() <= sotto_protocol::constants::MAX_NETWORK_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    ok.then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::io::Cursor;
    use request_response::Codec as _;

    /// A field with wire type 2.
    fn field(n: u8, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![(n << 3) | 2, u8::try_from(bytes.len()).unwrap()];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn finds_the_version_among_other_fields() {
        let mut msg = field(1, b"public key bytes");
        msg.extend(field(2, b"/ip4/1.2.3.4"));
        msg.extend([(9 << 3), 0x96, 0x01]); // an unknown varint field
        msg.extend(field(5, b"/sotto/devnet/1"));
        msg.extend(field(6, b"sotto-node/0.1"));
        assert_eq!(protocol_version(&msg).as_deref(), Some("/sotto/devnet/1"));
        assert_eq!(protocol_version(&field(6, b"agent")), None);
        // Cut short, a bad wire type, bad UTF-8: nothing, no panic.
        assert_eq!(protocol_version(&msg[..msg.len() - 3]), None);
        assert_eq!(protocol_version(&[(5 << 3) | 3]), None);
        assert_eq!(protocol_version(&field(5, &[0xff, 0xfe])), None);
    }

    #[test]
    fn network_names() {
        assert_eq!(
            network_of_version("/sotto/devnet/1").as_deref(),
            Some("devnet")
        );
        assert_eq!(
            network_of_version("/sotto/sotto/1").as_deref(),
            Some("sotto")
        );
        assert_eq!(network_of_version("/ipfs/0.1.0"), None);
        assert_eq!(network_of_version("/sotto//1"), None);
        assert_eq!(network_of_version("/sotto/Dev Net/1"), None);
    }

    #[test]
    fn response_length_is_checked_before_reading() {
        let read = |bytes: Vec<u8>| {
            block_on(IdentifyCodec.read_response(
                &StreamProtocol::new(IDENTIFY_PROTOCOL),
                &mut Cursor::new(bytes),
            ))
        };
        let mut ok = vec![3];
        ok.extend(b"abc");
        assert_eq!(read(ok).unwrap(), b"abc");
        // 4097 announced: refused from the prefix alone.
        assert!(read(vec![0x81, 0x20]).is_err());
        // A prefix that never ends.
        assert!(read(vec![0x80, 0x80, 0x80, 0x01]).is_err());
        // Shorter than announced.
        assert!(read(vec![5, 1, 2]).is_err());
    }
}
