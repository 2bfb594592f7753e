//! File names from a sender made safe to save: one plain name in the download
//! folder, never a path, never hidden, never disguised.

/// Name used when nothing of the sender's name is left.
pub const DEFAULT_FILE_NAME: &str = "attachment";
/// Longest saved name, in bytes: under the 255 bytes most file systems allow,
/// with room for a clash suffix such as ` (9999)`.
pub const MAX_SAVED_NAME_LEN: usize = 200;
/// Longest extension kept whole when a long name is shortened, in bytes.
const MAX_KEPT_EXTENSION: usize = 16;

/// Whether `c` may not appear in a saved name: control characters, the
/// direction marks and overrides that make `\u{202e}gpj.exe` display as
/// `exe.jpg`, zero-width and other invisible format characters, and the
/// characters Windows file systems refuse.
fn refused(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200b}'..='\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2060}'..='\u{2069}'
                | '\u{feff}'
                | ':' | '*' | '?' | '"' | '<' | '>' | '|'
        )
}

/// The sender's `name` as a safe file name: only the part after the last `/` or
/// `\` (so `../../.bashrc` is `bashrc`), without control, direction-override,
/// invisible or reserved characters, without leading dots or surrounding
/// spaces (no hidden files, no `..`), without trailing dots, at most
/// [`MAX_SAVED_NAME_LEN`] bytes cut at a character boundary (keeping a short
/// extension), and [`DEFAULT_FILE_NAME`] if nothing is left.
pub fn safe_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|&c| !refused(c)).collect();
    let trimmed = cleaned
        .trim()
        .trim_start_matches('.')
        .trim_end_matches(['.', ' '])
        .trim();
    let capped = cap(trimmed, MAX_SAVED_NAME_LEN);
    if capped.is_empty() {
        DEFAULT_FILE_NAME.to_string()
    } else {
        capped
    }
}

/// `name` cut to at most `max` bytes at a character boundary, keeping its
/// extension when that is short.
fn cap(name: &str, max: usize) -> String {
    if name.len() <= max {
        return name.to_string();
    }
    let (stem, ext) = split_extension(name);
    if !ext.is_empty() && ext.len() <= MAX_KEPT_EXTENSION {
        let room = max - ext.len();
        return format!("{}{ext}", prefix_within(stem, room).trim_end());
    }
    prefix_within(name, max).to_string()
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character
/// boundary.
fn prefix_within(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

/// `name` split before its last dot (`report.pdf` → `report`, `.pdf`); a name
/// whose only dot leads has no extension.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 => name.split_at(i),
        _ => (name, ""),
    }
}

/// The `n`th alternative for a name that is taken: `photo.jpg` → `photo (n).jpg`.
pub fn rename_on_clash(name: &str, n: u32) -> String {
    let (stem, ext) = split_extension(name);
    format!("{stem} ({n}){ext}")
}

/// The first of `name`, `name (1)`, `name (2)`, … for which `taken` says no,
/// trying at most `max_tries` alternatives; `None` if all were taken.
pub fn first_free_name(
    name: &str,
    max_tries: u32,
    mut taken: impl FnMut(&str) -> bool,
) -> Option<String> {
    if !taken(name) {
        return Some(name.to_string());
    }
    (1..=max_tries)
        .map(|n| rename_on_clash(name, n))
        .find(|candidate| !taken(candidate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names() {
        assert_eq!(safe_file_name("../../.bashrc"), "bashrc");
        assert_eq!(safe_file_name("a/b"), "b");
        assert_eq!(safe_file_name("a\\..\\b.txt"), "b.txt");
        assert_eq!(safe_file_name("\u{202e}gpj.exe"), "gpj.exe");
        assert_eq!(safe_file_name("ok\u{202e}\u{2066}\u{200f}.txt"), "ok.txt");
        assert_eq!(safe_file_name(""), DEFAULT_FILE_NAME);
        assert_eq!(safe_file_name("/"), DEFAULT_FILE_NAME);
        assert_eq!(safe_file_name(".."), DEFAULT_FILE_NAME);
        assert_eq!(safe_file_name("...hidden"), "hidden");
        assert_eq!(safe_file_name("bell\u{7}\nname\r.txt"), "bellname.txt");
        assert_eq!(safe_file_name("  note.txt . "), "note.txt");
        assert_eq!(safe_file_name("a:b*c?.txt"), "abc.txt");
        assert_eq!(safe_file_name("photo.jpg"), "photo.jpg");
        assert_eq!(safe_file_name("日本語.txt"), "日本語.txt");
    }

    #[test]
    fn long_names_are_cut_at_a_char_boundary() {
        let ascii = format!("{}.pdf", "x".repeat(996));
        assert_eq!(ascii.len(), 1000);
        let safe = safe_file_name(&ascii);
        assert_eq!(safe.len(), MAX_SAVED_NAME_LEN);
        assert!(safe.ends_with(".pdf"));
        // 3-byte characters: the cut never splits one.
        let wide = "語".repeat(334);
        let safe = safe_file_name(&wide);
        assert!(safe.len() <= MAX_SAVED_NAME_LEN);
        assert!(safe.chars().all(|c| c == '語'));
        assert_eq!(safe.len(), 198);
        // A long extension is not kept whole.
        let long_ext = format!("a.{}", "e".repeat(500));
        assert_eq!(safe_file_name(&long_ext).len(), MAX_SAVED_NAME_LEN);
    }

    #[test]
    fn clashes_are_renamed() {
        assert_eq!(rename_on_clash("photo.jpg", 1), "photo (1).jpg");
        assert_eq!(rename_on_clash("README", 2), "README (2)");
        assert_eq!(rename_on_clash("a.tar.gz", 3), "a.tar (3).gz");
        let taken = ["f.txt", "f (1).txt"];
        assert_eq!(
            first_free_name("f.txt", 10, |n| taken.contains(&n)).as_deref(),
            Some("f (2).txt")
        );
        assert_eq!(first_free_name("g", 10, |_| false).as_deref(), Some("g"));
        assert_eq!(first_free_name("g", 3, |_| true), None);
    }
}
