//! The message being written: text with a cursor, edited by key presses and
//! pastes, and laid out in lines of a given width for the composer box.

/// Text with a cursor. The cursor is a char index (0 ..= chars), so every
/// edit lands on a character boundary whatever the text holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Composer {
    text: String,
    cursor: usize,
}

/// Chars of `text` up to (not including) `char_index`, as a byte offset.
fn byte_at(text: &str, char_index: usize) -> usize {
    text.char_indices()
        .nth(char_index)
        .map_or(text.len(), |(b, _)| b)
}

impl Composer {
    /// The text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The cursor, in chars from the start.
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// Characters held.
    pub fn len(&self) -> usize {
        self.text.chars().count()
    }

    /// Whether nothing is written.
    pub fn is_empty(&self) -> bool {
        self.text.is_empty()
    }

    /// Replaces the text; the cursor goes to its end.
    pub fn set(&mut self, text: &str) {
        self.text = text.to_string();
        self.cursor = self.len();
    }

    /// Empties it and returns what it held.
    pub fn take(&mut self) -> String {
        self.cursor = 0;
        std::mem::take(&mut self.text)
    }

    /// Inserts `s` at the cursor, at most `room` characters of it (control
    /// characters other than newlines and tabs dropped, `\r\n` and `\r` read
    /// as newlines); returns how many were left out for lack of room.
    pub fn insert(&mut self, s: &str, room: usize) -> usize {
        let clean = s.replace("\r\n", "\n").replace('\r', "\n");
        let chars: Vec<char> = clean
            .chars()
            .map(|c| if c == '\t' { ' ' } else { c })
            .filter(|c| *c == '\n' || !c.is_control())
            .collect();
        let fits = chars.len().min(room);
        let at = byte_at(&self.text, self.cursor);
        let inserted: String = chars.iter().take(fits).collect();
        self.text.insert_str(at, &inserted);
        self.cursor += fits;
        chars.len() - fits
    }

    /// Deletes the character before the cursor.
    pub fn backspace(&mut self) {
        if self.cursor == 0 {
            return;
        }
        self.cursor -= 1;
        let at = byte_at(&self.text, self.cursor);
        self.text.remove(at);
    }

    /// Deletes the character under the cursor.
    pub fn delete(&mut self) {
        if self.cursor < self.len() {
            let at = byte_at(&self.text, self.cursor);
            self.text.remove(at);
        }
    }

    /// One character left.
    pub fn left(&mut self) {
        self.cursor = self.cursor.saturating_sub(1);
    }

    /// One character right.
    pub fn right(&mut self) {
        self.cursor = (self.cursor + 1).min(self.len());
    }

    /// To the start of the cursor's line.
    pub fn home(&mut self) {
        let before: Vec<char> = self.text.chars().take(self.cursor).collect();
        self.cursor = before.iter().rposition(|&c| c == '\n').map_or(0, |i| i + 1);
    }

    /// To the end of the cursor's line.
    pub fn end(&mut self) {
        let after = self.text.chars().skip(self.cursor).position(|c| c == '\n');
        self.cursor = after.map_or(self.len(), |n| self.cursor + n);
    }

    /// The text cut into rows of at most `width` characters (at newlines and
    /// at the width), and the cursor's (row, column) among them.
    pub fn layout(&self, width: usize) -> (Vec<String>, (usize, usize)) {
        let width = width.max(1);
        let mut rows = vec![String::new()];
        let mut col = 0;
        let mut cursor = (0, 0);
        for (i, c) in self.text.chars().chain(std::iter::once('\0')).enumerate() {
            // The cursor after a full row sits at the start of the next one.
            if col == width && c != '\n' {
                rows.push(String::new());
                col = 0;
            }
            if i == self.cursor {
                cursor = (rows.len() - 1, col);
            }
            match c {
                '\0' => {}
                '\n' => {
                    rows.push(String::new());
                    col = 0;
                }
                c => {
                    if let Some(r) = rows.last_mut() {
                        r.push(c);
                    }
                    col += 1;
                }
            }
        }
        (rows, cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn editing_at_the_cursor() {
        let mut c = Composer::default();
        assert_eq!(c.insert("helo", 100), 0);
        c.left();
        assert_eq!(c.insert("l", 100), 0);
        assert_eq!(c.text(), "hello");
        c.home();
        c.delete();
        assert_eq!(c.text(), "ello");
        c.end();
        c.backspace();
        assert_eq!(c.text(), "ell");
        c.home();
        c.backspace();
        assert_eq!(c.text(), "ell", "nothing before the start");
        c.left();
        assert_eq!(c.cursor(), 0);
        for _ in 0..10 {
            c.right();
        }
        assert_eq!(c.cursor(), 3);
        // Multi-byte characters are edited whole.
        c.set("çé");
        c.left();
        c.backspace();
        assert_eq!(c.text(), "é");
        assert_eq!(c.take(), "é");
        assert!(c.is_empty());
    }

    #[test]
    fn paste_is_cleaned_and_bounded() {
        let mut c = Composer::default();
        assert_eq!(c.insert("a\r\nb\tc\u{7}d", 100), 0);
        assert_eq!(c.text(), "a\nb cd");
        assert_eq!(c.insert("xyz", 2), 1);
        assert_eq!(c.text(), "a\nb cdxy");
    }

    #[test]
    fn home_and_end_stay_on_the_line() {
        let mut c = Composer::default();
        c.insert("one\ntwo\nthree", 100);
        c.left();
        c.left();
        c.left();
        c.left();
        c.left();
        c.left();
        // In "two" now, after the 't'.
        c.home();
        assert_eq!(c.cursor(), 4);
        c.end();
        assert_eq!(c.cursor(), 7);
    }

    #[test]
    fn layout_wraps_and_places_the_cursor() {
        let mut c = Composer::default();
        c.insert("abcdefg\nhi", 100);
        let (rows, cur) = c.layout(3);
        assert_eq!(rows, ["abc", "def", "g", "hi"]);
        assert_eq!(cur, (3, 2));
        c.home();
        assert_eq!(c.layout(3).1, (3, 0));
        c.set("abc");
        // At the end of a full row the cursor waits on the next one.
        assert_eq!(c.layout(3), (vec!["abc".into(), String::new()], (1, 0)));
    }
}
