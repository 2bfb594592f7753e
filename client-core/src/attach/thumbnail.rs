//! Thumbnails of images sent as attachments: a small JPEG preview that the
//! descriptor carries sealed under the file's key
//! ([`Attachment::seal_thumbnail`]), so a recipient sees the picture before
//! fetching the file.
//!
//! The picture is the user's own file, but it is decoded as if hostile: files
//! over [`MAX_SOURCE_LEN`] are skipped, the decoder runs under [`Limits`]
//! (dimensions and memory, checked against the header before pixels are
//! allocated), and every error, and even a panic inside a decoder, gives
//! `None`: a thumbnail is a nicety, the file is sent without one.
//!
//! [`Attachment::seal_thumbnail`]: sotto_protocol::attachment::Attachment::seal_thumbnail

use std::fs::File;
use std::io::{BufReader, Cursor};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use image::codecs::jpeg::JpegEncoder;
use image::{DynamicImage, ImageReader, Limits, RgbImage};
use sotto_protocol::attachment::descriptor::MAX_THUMBNAIL_LEN;

/// Largest picture file a thumbnail is made of (50 MB).
pub const MAX_SOURCE_LEN: u64 = 50_000_000;
/// Largest width or height a picture may declare to be decoded.
pub const MAX_SOURCE_DIMENSION: u32 = 12_000;
/// Most memory a decoder may allocate (256 MiB).
pub const MAX_DECODE_ALLOC: u64 = 256 * 1024 * 1024;
/// The box a thumbnail fits in, keeping the picture's aspect.
pub const THUMBNAIL_BOX: u32 = 160;

/// JPEG qualities tried in turn until the preview fits.
const QUALITIES: [u8; 6] = [80, 70, 60, 50, 40, 30];
/// Smaller boxes tried, at the lowest quality, when even that does not fit.
const SMALLER_BOXES: [u32; 4] = [120, 96, 64, 32];

/// A JPEG preview of the picture at `path`, at most [`THUMBNAIL_BOX`] pixels
/// on each side and at most [`MAX_THUMBNAIL_LEN`] bytes, or `None` if the
/// file is not a picture this build decodes (JPEG, PNG, GIF, WebP), is too
/// large, or is broken. Blocks: run it on a blocking thread.
pub fn make_thumbnail(path: &Path) -> Option<Vec<u8>> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_SOURCE_LEN {
        return None;
    }
    let file = File::open(path).ok()?;
    let reader = BufReader::new(file);
    // A decoder bug must not take the sender down: a panic is one more "no".
    catch_unwind(AssertUnwindSafe(|| thumbnail_of(reader))).ok()?
}

/// [`make_thumbnail`] of a picture already in memory.
pub fn thumbnail_of_bytes(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.len() as u64 > MAX_SOURCE_LEN {
        return None;
    }
    catch_unwind(AssertUnwindSafe(|| thumbnail_of(Cursor::new(bytes)))).ok()?
}

/// Decodes under limits, shrinks and encodes.
fn thumbnail_of<R: std::io::BufRead + std::io::Seek>(reader: R) -> Option<Vec<u8>> {
    let mut reader = ImageReader::new(reader).with_guessed_format().ok()?;
    reader.format()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SOURCE_DIMENSION);
    limits.max_image_height = Some(MAX_SOURCE_DIMENSION);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let picture = reader.decode().ok()?;
    let small = fit(picture, THUMBNAIL_BOX);
    // JPEG has no alpha: flatten to RGB.
    let rgb = small.to_rgb8();
    for quality in QUALITIES {
        if let Some(jpeg) = encode_fitting(&rgb, quality) {
            return Some(jpeg);
        }
    }
    let lowest = QUALITIES.last().copied().unwrap_or(30);
    let rgb = DynamicImage::ImageRgb8(rgb);
    SMALLER_BOXES.into_iter().find_map(|side| {
        let smaller = fit(rgb.clone(), side).to_rgb8();
        encode_fitting(&smaller, lowest)
    })
}

/// `picture` shrunk to fit a `side`×`side` box keeping its aspect; a smaller
/// one is kept as it is.
fn fit(picture: DynamicImage, side: u32) -> DynamicImage {
    if picture.width() <= side && picture.height() <= side {
        picture
    } else {
        picture.thumbnail(side, side)
    }
}

/// `picture` as a JPEG of `quality`, if it fits [`MAX_THUMBNAIL_LEN`].
fn encode_fitting(picture: &RgbImage, quality: u8) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, quality)
        .encode_image(picture)
        .ok()?;
    (out.len() <= MAX_THUMBNAIL_LEN).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{ImageFormat, Rgb, Rgba, RgbaImage};

    fn png_of(img: DynamicImage) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
            .unwrap();
        out
    }

    /// Pixels that compress badly, so the quality and size steps are used.
    fn noisy(w: u32, h: u32) -> RgbImage {
        let mut state = 0x2545_f491_u32;
        RgbImage::from_fn(w, h, |_, _| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            let [a, b, c, _] = state.to_le_bytes();
            Rgb([a, b, c])
        })
    }

    fn check_jpeg(thumb: &[u8], max_w: u32, max_h: u32) -> DynamicImage {
        assert!(thumb.len() <= MAX_THUMBNAIL_LEN, "{} bytes", thumb.len());
        assert_eq!(image::guess_format(thumb).unwrap(), ImageFormat::Jpeg);
        let img = image::load_from_memory_with_format(thumb, ImageFormat::Jpeg).unwrap();
        assert!(img.width() <= max_w && img.height() <= max_h);
        img
    }

    #[test]
    fn a_png_becomes_a_small_jpeg_keeping_its_aspect() {
        let gradient = RgbImage::from_fn(800, 400, |x, y| Rgb([(x / 4) as u8, (y / 2) as u8, 90]));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("wide.png");
        std::fs::write(&path, png_of(DynamicImage::ImageRgb8(gradient))).unwrap();
        let thumb = make_thumbnail(&path).unwrap();
        let img = check_jpeg(&thumb, THUMBNAIL_BOX, THUMBNAIL_BOX);
        assert_eq!((img.width(), img.height()), (160, 80));
    }

    #[test]
    fn noise_and_transparency_still_fit() {
        let thumb = thumbnail_of_bytes(&png_of(DynamicImage::ImageRgb8(noisy(640, 640)))).unwrap();
        check_jpeg(&thumb, THUMBNAIL_BOX, THUMBNAIL_BOX);
        let clear = RgbaImage::from_pixel(300, 500, Rgba([10, 200, 30, 0]));
        let thumb = thumbnail_of_bytes(&png_of(DynamicImage::ImageRgba8(clear))).unwrap();
        let img = check_jpeg(&thumb, THUMBNAIL_BOX, THUMBNAIL_BOX);
        assert_eq!(img.height(), 160);
    }

    #[test]
    fn garbage_and_truncated_files_give_none() {
        let mut state = 7u64;
        let random: Vec<u8> = (0..4096)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                (state >> 56) as u8
            })
            .collect();
        assert_eq!(thumbnail_of_bytes(&random), None);
        assert_eq!(thumbnail_of_bytes(&[]), None);
        let png = png_of(DynamicImage::ImageRgb8(noisy(64, 64)));
        assert!(thumbnail_of_bytes(&png).is_some());
        assert_eq!(thumbnail_of_bytes(&png[..png.len() / 2]), None);
        assert_eq!(thumbnail_of_bytes(&png[..40]), None);
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(make_thumbnail(&dir.path().join("missing.png")), None);
        assert_eq!(make_thumbnail(dir.path()), None);
    }

    /// A PNG whose header claims 100,000 × 100,000 pixels (40 GB as RGBA)
    /// is refused from the header, before any pixel buffer exists.
    #[test]
    fn a_huge_declared_size_is_refused_from_the_header() {
        let mut png = png_of(DynamicImage::ImageRgb8(noisy(4, 4)));
        // IHDR data starts at 16: width and height, big-endian; fix its CRC.
        png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        let crc = crc32(&png[12..29]);
        png[29..33].copy_from_slice(&crc.to_be_bytes());
        let reader = ImageReader::new(Cursor::new(&png))
            .with_guessed_format()
            .unwrap();
        assert_eq!(reader.into_dimensions().unwrap(), (100_000, 100_000));
        assert_eq!(thumbnail_of_bytes(&png), None);
    }

    /// The CRC-32 PNG chunks carry (IEEE, reflected).
    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xedb8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
}
