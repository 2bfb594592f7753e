//! QR codes as SVG images for the page (account IDs, verification codes).

use std::fmt::Write as _;

use qrcode::{Color, QrCode};

/// Light modules around the code, as the QR standard asks.
const QUIET: usize = 4;

/// The QR code of `data` as a standalone SVG document: one black path on a
/// white square, no script, no style, nothing of `data` as text. `None`
/// only if `data` is too long for any QR version.
pub fn qr(data: &str) -> Option<String> {
    let code = QrCode::new(data.as_bytes()).ok()?;
    let width = code.width();
    let size = width + 2 * QUIET;
    let mut d = String::new();
    for (i, c) in code.to_colors().iter().enumerate() {
        if *c == Color::Dark {
            let (x, y) = (i % width + QUIET, i / width + QUIET);
            let _ = write!(d, "M{x} {y}h1v1h-1z");
        }
    }
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" \
         shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{d}\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn svg_draws_modules_and_carries_no_text_of_the_data() {
        let data = "sotto1<script>";
        let svg = qr(data).unwrap();
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(!svg.contains("script"));
        assert!(svg.matches("h1v1h-1z").count() > 50);
        assert_ne!(qr("a"), qr("b"));
        assert!(qr(&"x".repeat(10_000)).is_none());
    }
}
