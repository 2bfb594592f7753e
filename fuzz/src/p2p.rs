//! The stream framing target: `sotto_p2p::codec::read_frame`, which every
//! request and response stream passes through before anything decodes it, shared
//! by the `cargo fuzz` binary and by `p2p/tests/fuzz_corpus.rs`.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::AsyncRead;
use futures::executor::block_on;
use sotto_p2p::codec::read_frame;
use sotto_protocol::constants::{
    MAX_NODE_REQUEST_LEN, MAX_NODE_RESPONSE_LEN, MAX_RPC_REQUEST_LEN, MAX_RPC_RESPONSE_LEN,
};

/// Most frames read from one input (each is at least its 4-byte prefix, so the
/// input runs out first; this only bounds the loop).
const MAX_FRAMES: usize = 64;

/// A limit field at or above this picks one of the limits the node and the
/// client really use ([`REAL_LIMITS`]) instead of naming one itself.
const REAL_LIMIT_FROM: u16 = 0xfff0;

/// The frame limits of the RPC and replication protocols, up to the 1 MiB
/// response class.
const REAL_LIMITS: [usize; 4] = [
    MAX_RPC_REQUEST_LEN,
    MAX_RPC_RESPONSE_LEN,
    MAX_NODE_REQUEST_LEN,
    MAX_NODE_RESPONSE_LEN,
];

/// A stream over the fuzzer's bytes that hands them out at most `chunk` at a
/// time, the way a network stream arrives in pieces.
struct Trickle<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl AsyncRead for Trickle<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let n = buf.len().min(self.chunk).min(self.data.len());
        let (head, tail) = self.data.split_at(n);
        if let Some(out) = buf.get_mut(..n) {
            out.copy_from_slice(head);
        }
        self.data = tail;
        Poll::Ready(Ok(n))
    }
}

/// The reference reading of one frame at the start of `data` with limit `max`:
/// the body and the bytes after it, or `None` if the frame is over the limit or
/// cut short.
fn reference_frame(data: &[u8], max: usize) -> Option<(&[u8], &[u8])> {
    let (prefix, rest) = data.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*prefix)).ok()?;
    if len > max {
        return None;
    }
    rest.split_at_checked(len)
}

/// Target `p2p_frame`: `limit (2, u16 LE) ‖ chunk (1) ‖ stream`. Reads frames
/// with `read_frame` and a limit of `limit` bytes (from 0xfff0 up, one of the
/// protocols' real limits) from a stream that yields at
/// most `chunk + 1` bytes per read, until it refuses one; each frame must be
/// exactly the reference reading of the stream, and every refusal must be one.
/// Accepted: at least one frame read.
pub fn p2p_frame(data: &[u8]) -> bool {
    let Some((limit, data)) = data.split_first_chunk::<2>() else {
        return false;
    };
    let Some((&chunk, mut stream)) = data.split_first() else {
        return false;
    };
    let limit = u16::from_le_bytes(*limit);
    let max = if limit >= REAL_LIMIT_FROM {
        REAL_LIMITS
            .get(usize::from(limit & 3))
            .copied()
            .unwrap_or(MAX_RPC_REQUEST_LEN)
    } else {
        usize::from(limit)
    };
    let mut reader = Trickle {
        data: stream,
        chunk: usize::from(chunk) + 1,
    };
    let mut frames = 0;
    for _ in 0..MAX_FRAMES {
        let expected = reference_frame(stream, max);
        match block_on(read_frame(&mut reader, max)) {
            Ok(body) => {
                let Some((want, after)) = expected else {
                    panic!("p2p frame: read a frame the reference refuses");
                };
                assert_eq!(body, want, "p2p frame: read another body");
                assert_eq!(reader.data, after, "p2p frame: read past the frame");
                stream = after;
                frames += 1;
            }
            Err(e) => {
                assert!(
                    expected.is_none(),
                    "p2p frame: a valid frame was refused: {e}"
                );
                break;
            }
        }
    }
    frames > 0
}
