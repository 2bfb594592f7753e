//! The length of a WAV recording, for sending it as a voice note: the size of
//! its `data` chunk divided by the byte rate of its `fmt ` chunk.
//!
//! Only the header is parsed, and boundedly: at most [`MAX_CHUNKS`] chunks
//! are walked (skipped by seeking, never read whole), only the first 16 bytes
//! of `fmt ` are read, and sizes that claim more than the file holds are cut
//! to what it holds (a recorder that was stopped early leaves such a header).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

/// Chunks walked before giving up on finding `fmt ` and `data`.
pub const MAX_CHUNKS: usize = 64;

/// Why a file's length could not be read as a WAV's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WavError {
    /// Not a RIFF/WAVE file.
    #[error("not a WAV file (no RIFF/WAVE header)")]
    NotWav,
    /// A RIFF/WAVE file whose header is broken or lies.
    #[error("broken WAV header: {0}")]
    Broken(&'static str),
    /// Longer than a duration in milliseconds can say.
    #[error("the recording is too long")]
    TooLong,
    /// The file could not be read.
    #[error("reading the file: {0}")]
    Io(String),
}

/// The length in milliseconds of the WAV file at `path`.
pub fn wav_file_duration_ms(path: &Path) -> Result<u32, WavError> {
    let file = File::open(path).map_err(|e| WavError::Io(e.to_string()))?;
    let len = file
        .metadata()
        .map_err(|e| WavError::Io(e.to_string()))?
        .len();
    wav_duration_ms(BufReader::new(file), len)
}

/// The length in milliseconds of the WAV recording `reader` holds, `len`
/// bytes in all.
pub fn wav_duration_ms<R: Read + Seek>(mut reader: R, len: u64) -> Result<u32, WavError> {
    let io = |e: std::io::Error| WavError::Io(e.to_string());
    let mut head = [0u8; 12];
    if len < 12 || reader.read_exact(&mut head).is_err() {
        return Err(WavError::NotWav);
    }
    if head[..4] != *b"RIFF" || head[8..12] != *b"WAVE" {
        return Err(WavError::NotWav);
    }
    let mut at: u64 = 12;
    let mut byte_rate = None;
    for _ in 0..MAX_CHUNKS {
        let mut chunk = [0u8; 8];
        if at + 8 > len || reader.read_exact(&mut chunk).is_err() {
            break;
        }
        at += 8;
        let size = u64::from(u32::from_le_bytes([chunk[4], chunk[5], chunk[6], chunk[7]]));
        let held = size.min(len - at);
        match &chunk[..4] {
            b"fmt " => {
                if held < 16 {
                    return Err(WavError::Broken("fmt chunk shorter than 16 bytes"));
                }
                let mut fmt = [0u8; 16];
                reader.read_exact(&mut fmt).map_err(io)?;
                let rate = u32::from_le_bytes([fmt[4], fmt[5], fmt[6], fmt[7]]);
                let bytes_per_second = u32::from_le_bytes([fmt[8], fmt[9], fmt[10], fmt[11]]);
                let block_align = u16::from_le_bytes([fmt[12], fmt[13]]);
                if bytes_per_second == 0
                    || u64::from(rate) * u64::from(block_align) != u64::from(bytes_per_second)
                {
                    return Err(WavError::Broken(
                        "byte rate is zero or not sample rate × block size",
                    ));
                }
                byte_rate = Some(u64::from(bytes_per_second));
            }
            b"data" => {
                let Some(rate) = byte_rate else {
                    return Err(WavError::Broken("data before fmt"));
                };
                let ms = held.saturating_mul(1000) / rate;
                return u32::try_from(ms).map_err(|_| WavError::TooLong);
            }
            _ => {}
        }
        // Chunks are padded to an even length; 16 bytes of `fmt ` were read.
        let skip = size + (size & 1);
        let already = if chunk[..4] == *b"fmt " { 16 } else { 0 };
        at = at.saturating_add(skip);
        if at > len {
            break;
        }
        let rest = i64::try_from(skip - already).map_err(|_| WavError::Broken("chunk size"))?;
        reader.seek(SeekFrom::Current(rest)).map_err(io)?;
    }
    Err(WavError::Broken("no fmt and data chunks in the header"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A WAV of `seconds` of silence: 8 kHz, 16-bit mono (16,000 B/s), with
    /// a `LIST` chunk of odd length before `fmt ` to be skipped.
    fn wav(data_len: u32, declared_data: u32) -> Vec<u8> {
        let mut w = b"RIFF\0\0\0\0WAVE".to_vec();
        w.extend_from_slice(b"LIST\x03\0\0\0abc\0");
        w.extend_from_slice(b"fmt \x10\0\0\0");
        w.extend_from_slice(&1u16.to_le_bytes()); // PCM
        w.extend_from_slice(&1u16.to_le_bytes()); // mono
        w.extend_from_slice(&8_000u32.to_le_bytes());
        w.extend_from_slice(&16_000u32.to_le_bytes());
        w.extend_from_slice(&2u16.to_le_bytes());
        w.extend_from_slice(&16u16.to_le_bytes());
        w.extend_from_slice(b"data");
        w.extend_from_slice(&declared_data.to_le_bytes());
        w.extend(std::iter::repeat_n(0u8, data_len as usize));
        let riff = (w.len() - 8) as u32;
        w[4..8].copy_from_slice(&riff.to_le_bytes());
        w
    }

    fn duration(bytes: &[u8]) -> Result<u32, WavError> {
        wav_duration_ms(Cursor::new(bytes), bytes.len() as u64)
    }

    #[test]
    fn a_good_file_gives_its_length() {
        assert_eq!(
            duration(&wav(16_000 * 12 + 8_000, 16_000 * 12 + 8_000)),
            Ok(12_500)
        );
        assert_eq!(duration(&wav(0, 0)), Ok(0));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("memo.wav");
        std::fs::write(&path, wav(32_000, 32_000)).unwrap();
        assert_eq!(wav_file_duration_ms(&path), Ok(2_000));
    }

    #[test]
    fn lying_sizes_are_cut_to_the_file() {
        // A data size of 4 GiB over 1 s of samples: 1 s, not 74 h.
        assert_eq!(duration(&wav(16_000, u32::MAX)), Ok(1_000));
        // A byte rate that does not match the format is refused.
        let mut w = wav(16_000, 16_000);
        w[40..44].copy_from_slice(&1u32.to_le_bytes());
        assert!(matches!(duration(&w), Err(WavError::Broken(_))));
        let mut w = wav(16_000, 16_000);
        w[40..44].copy_from_slice(&0u32.to_le_bytes());
        assert!(matches!(duration(&w), Err(WavError::Broken(_))));
        // A skipped chunk claiming more than the file: no data chunk found.
        let mut w = wav(16_000, 16_000);
        w[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(matches!(duration(&w), Err(WavError::Broken(_))));
    }

    #[test]
    fn truncated_and_foreign_files_are_refused() {
        let good = wav(1_600, 1_600);
        assert_eq!(duration(&good[..8]), Err(WavError::NotWav));
        assert_eq!(duration(b""), Err(WavError::NotWav));
        assert_eq!(
            duration(b"ID3\x04 this is an mp3 file"),
            Err(WavError::NotWav)
        );
        // Cut inside fmt, and cut before data.
        assert!(matches!(duration(&good[..30]), Err(WavError::Broken(_))));
        assert!(matches!(duration(&good[..52]), Err(WavError::Broken(_))));
        // Cut inside the samples: the samples held count.
        assert_eq!(duration(&good[..good.len() - 800]), Ok(50));
        // Endless tiny chunks: the walk stops.
        let mut many = b"RIFF\0\0\0\0WAVE".to_vec();
        for _ in 0..200 {
            many.extend_from_slice(b"junk\0\0\0\0");
        }
        assert!(matches!(duration(&many), Err(WavError::Broken(_))));
    }
}
