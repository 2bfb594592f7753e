//! The request-response codec of every Sotto protocol: raw bytes framed by a
//! u32 big-endian length, with a ceiling per direction checked before reading.

use std::io;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response;

/// Bytes of the length prefix.
const PREFIX_LEN: usize = 4;

/// The first write of a frame: its prefix and the start of its body, copied
/// together. yamux cuts writes into frames of at most 16 KiB (yamux 0.14's
/// default split size), so this is one yamux frame, and a body that fits is
/// one write in all; a longer body's rest follows uncopied.
const FIRST_WRITE: usize = 16 * 1024;

/// First allocation for a frame body. The buffer only grows as bytes really
/// arrive, so a peer announcing a large frame and then stalling costs us this,
/// not the announced length.
const INITIAL_CAPACITY: usize = 4 * 1024;

/// Frames opaque byte strings; decoding them is the protocol crate's job.
///
/// The two limits are the largest request and the largest response this
/// protocol carries. Anything longer is refused from its length prefix alone,
/// before any of its body is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameCodec {
    max_request: usize,
    max_response: usize,
}

impl FrameCodec {
    /// A codec refusing requests over `max_request` and responses over
    /// `max_response` bytes.
    pub fn new(max_request: usize, max_response: usize) -> Self {
        Self {
            max_request,
            max_response,
        }
    }
}

/// Reads one frame of at most `max` bytes.
///
/// The length is checked against `max` before anything is allocated for the
/// body, and the body is read through a `take` of exactly that length, so a
/// lying prefix can neither make us allocate more nor read past the frame.
pub async fn read_frame<T>(io: &mut T, max: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let len = read_prefix(io, max).await?;
    read_body(io, len).await
}

/// Reads the length prefix of a frame, and nothing more: a reader that wants
/// to decide something (who the peer is, whether there is room) between the
/// prefix and the body calls this, then [`read_body`]. A length over `max` is
/// an [`io::ErrorKind::InvalidData`] error.
pub async fn read_prefix<T>(io: &mut T, max: usize) -> io::Result<usize>
where
    T: AsyncRead + Unpin + Send,
{
    let mut prefix = [0u8; PREFIX_LEN];
    io.read_exact(&mut prefix).await?;
    let len = usize::try_from(u32::from_be_bytes(prefix)).unwrap_or(usize::MAX);
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("frame of {len} bytes is over the limit of {max}"),
        ));
    }
    Ok(len)
}

/// Reads a frame body of exactly `len` bytes (a length [`read_prefix`]
/// checked). The buffer grows only as bytes arrive.
pub async fn read_body<T>(io: &mut T, len: usize) -> io::Result<Vec<u8>>
where
    T: AsyncRead + Unpin + Send,
{
    let mut body = Vec::with_capacity(len.min(INITIAL_CAPACITY));
    let limit = u64::try_from(len).unwrap_or(u64::MAX);
    io.take(limit).read_to_end(&mut body).await?;
    if body.len() != len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("frame cut short: {} of {len} bytes", body.len()),
        ));
    }
    Ok(body)
}

/// Writes one frame; refuses a body over `max` (the peer would refuse it).
pub async fn write_frame<T>(io: &mut T, body: &[u8], max: usize) -> io::Result<()>
where
    T: AsyncWrite + Unpin + Send,
{
    let len = u32::try_from(body.len())
        .ok()
        .filter(|_| body.len() <= max)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "refusing to send a frame of {} bytes over the limit of {max}",
                    body.len()
                ),
            )
        })?;
    // The prefix goes with the body's start: over yamux every write is at
    // least a frame of its own, and over a connection each frame is a send
    // of its own (a prefix written alone doubled a small request's frames
    // and system calls). At most `FIRST_WRITE` bytes are copied for it.
    let (head, rest) = body.split_at(body.len().min(FIRST_WRITE - PREFIX_LEN));
    let mut first = Vec::with_capacity(PREFIX_LEN.saturating_add(head.len()));
    first.extend_from_slice(&len.to_be_bytes());
    first.extend_from_slice(head);
    io.write_all(&first).await?;
    if !rest.is_empty() {
        io.write_all(rest).await?;
    }
    io.flush().await
}

impl request_response::Codec for FrameCodec {
    type Protocol = StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_request).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Vec<u8>>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_frame(io, self.max_response).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &req, self.max_request).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_frame(io, &res, self.max_response).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::executor::block_on;
    use futures::io::Cursor;
    use libp2p::request_response::Codec as _;

    fn framed(len: u32, body: &[u8]) -> Vec<u8> {
        let mut v = len.to_be_bytes().to_vec();
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn exact_max_is_accepted_and_round_trips() {
        let body = vec![7u8; 100];
        let mut wire = Cursor::new(Vec::new());
        block_on(write_frame(&mut wire, &body, 100)).unwrap();
        assert_eq!(wire.get_ref().len(), 104);
        let mut wire = Cursor::new(wire.into_inner());
        assert_eq!(block_on(read_frame(&mut wire, 100)).unwrap(), body);
    }

    #[test]
    fn oversized_prefix_is_refused_before_the_body() {
        // The prefix claims 4 GiB; only 3 body bytes follow. The error must come
        // from the prefix check, and nothing of the body may be consumed.
        let mut wire = Cursor::new(framed(u32::MAX, b"abc"));
        let err = block_on(read_frame(&mut wire, 1024)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(wire.position(), 4);

        let mut wire = Cursor::new(framed(101, &[0; 101]));
        let err = block_on(read_frame(&mut wire, 100)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn truncated_frames_are_refused() {
        let mut wire = Cursor::new(framed(10, b"short"));
        let err = block_on(read_frame(&mut wire, 100)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);

        let mut wire = Cursor::new(vec![0, 0]);
        let err = block_on(read_frame(&mut wire, 100)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn a_frame_does_not_read_past_its_length() {
        let mut bytes = framed(3, b"abc");
        bytes.extend_from_slice(&framed(2, b"de"));
        let mut wire = Cursor::new(bytes);
        assert_eq!(block_on(read_frame(&mut wire, 10)).unwrap(), b"abc");
        assert_eq!(block_on(read_frame(&mut wire, 10)).unwrap(), b"de");
    }

    #[test]
    fn prefix_then_body_reads_one_frame_in_two_steps() {
        let mut wire = Cursor::new(framed(5, b"hello tail"));
        let len = block_on(read_prefix(&mut wire, 5)).unwrap();
        assert_eq!((len, wire.position()), (5, 4));
        assert_eq!(block_on(read_body(&mut wire, len)).unwrap(), b"hello");
        assert_eq!(wire.position(), 9);
        let mut wire = Cursor::new(framed(6, b"hello!"));
        let err = block_on(read_prefix(&mut wire, 5)).unwrap_err();
        assert_eq!(
            (err.kind(), wire.position()),
            (io::ErrorKind::InvalidData, 4)
        );
    }

    /// Records each `poll_write` it is given, as a yamux stream turns each
    /// into a frame of its own.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl AsyncWrite for Writes {
        fn poll_write(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<io::Result<usize>> {
            self.0.push(buf.to_vec());
            std::task::Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
        fn poll_close(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn the_prefix_goes_in_one_write_with_the_start_of_the_body() {
        let mut out = Writes::default();
        block_on(write_frame(&mut out, b"ping", 10)).unwrap();
        assert_eq!(out.0, vec![framed(4, b"ping")]);
        // A body that just fits the first write is still one write.
        let fits = vec![2u8; FIRST_WRITE - PREFIX_LEN];
        let mut out = Writes::default();
        block_on(write_frame(&mut out, &fits, fits.len())).unwrap();
        assert_eq!(
            out.0,
            vec![framed(u32::try_from(fits.len()).unwrap(), &fits)]
        );
        // A longer body: only its start is copied in with the prefix, the
        // rest follows as it is.
        let big = vec![1u8; 128 * 1024 + 1];
        let mut out = Writes::default();
        block_on(write_frame(&mut out, &big, big.len())).unwrap();
        assert_eq!(
            out.0.concat(),
            framed(u32::try_from(big.len()).unwrap(), &big)
        );
        assert_eq!(out.0.first().map(Vec::len), Some(FIRST_WRITE));
        assert_eq!(out.0.len(), 2);
    }

    #[test]
    fn writer_refuses_oversized_bodies() {
        let mut wire = Cursor::new(Vec::new());
        let err = block_on(write_frame(&mut wire, &[0; 11], 10)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(wire.get_ref().is_empty());
    }

    #[test]
    fn codec_applies_each_direction_limit() {
        let mut codec = FrameCodec::new(8, 16);
        let proto = StreamProtocol::new("/sotto/test/rpc/1");
        let mut wire = Cursor::new(framed(12, &[1; 12]));
        assert!(block_on(codec.read_request(&proto, &mut wire)).is_err());
        let mut wire = Cursor::new(framed(12, &[1; 12]));
        assert_eq!(
            block_on(codec.read_response(&proto, &mut wire)).unwrap(),
            vec![1; 12]
        );
        let mut out = Cursor::new(Vec::new());
        assert!(block_on(codec.write_request(&proto, &mut out, vec![0; 9])).is_err());
        assert!(block_on(codec.write_response(&proto, &mut out, vec![0; 9])).is_ok());
    }
}
