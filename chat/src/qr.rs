//! QR codes drawn in a terminal with Unicode half blocks.

use qrcode::{Color, QrCode};

/// Light modules around the code: scanners need a quiet zone to find it.
const QUIET: usize = 2;

/// The QR code of `data` as lines of text, two rows of modules per line
/// (upper and lower half blocks), dark modules drawn as spaces on a light
/// background so the code scans on dark terminal themes too.
///
/// Returns `None` only if `data` is too long for any QR version.
pub fn render(data: &str) -> Option<Vec<String>> {
    let code = QrCode::new(data.as_bytes()).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    let size = width + 2 * QUIET;
    // Whether the module at (x, y) of the padded grid is dark.
    let dark = |x: usize, y: usize| -> bool {
        if x < QUIET || y < QUIET || x >= width + QUIET || y >= width + QUIET {
            return false;
        }
        colors.get((y - QUIET) * width + (x - QUIET)) == Some(&Color::Dark)
    };
    let mut lines = Vec::with_capacity(size.div_ceil(2));
    for pair in (0..size).step_by(2) {
        let line: String = (0..size)
            .map(|x| match (dark(x, pair), dark(x, pair + 1)) {
                // Light is drawn, dark is left blank: inverted on purpose.
                (false, false) => '█',
                (false, true) => '▀',
                (true, false) => '▄',
                (true, true) => ' ',
            })
            .collect();
        lines.push(line);
    }
    Some(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_square_with_quiet_zone() {
        let lines = render("sotto1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq").unwrap();
        let width = lines[0].chars().count();
        // Two module rows per line, so about half as many lines as columns.
        assert_eq!(lines.len(), width.div_ceil(2));
        assert!(lines.iter().all(|l| l.chars().count() == width));
        // The quiet zone is light: full blocks on the whole first line.
        assert!(lines[0].chars().all(|c| c == '█'));
        // Finder patterns make some modules dark inside.
        assert!(lines.iter().any(|l| l.contains(' ')));
    }

    #[test]
    fn same_data_same_picture_different_data_different_picture() {
        assert_eq!(render("abc"), render("abc"));
        assert_ne!(render("abc"), render("abd"));
    }

    #[test]
    fn too_long_is_none() {
        assert!(render(&"x".repeat(10_000)).is_none());
    }
}
