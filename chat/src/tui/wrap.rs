//! Laying styled text out in lines of a given width: at spaces where it can,
//! inside a word only when the word alone is wider than a line, and at every
//! newline. The message view wraps this way so it knows how many lines each
//! message takes (to scroll) and nothing is cut at the pane edge.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

/// A piece of text that is laid out whole.
enum Token {
    Word(String, Style),
    Space(String, Style),
    Break,
}

/// Display width of `s` in terminal columns.
pub fn width(s: &str) -> usize {
    Span::raw(s).width()
}

fn tokens(spans: &[Span<'_>]) -> Vec<Token> {
    let mut out = Vec::new();
    for span in spans {
        let mut cur = String::new();
        let mut in_space = false;
        for c in span.content.chars() {
            let space = c == ' ' || c == '\t';
            if c == '\n' || space != in_space {
                if !cur.is_empty() {
                    let t = std::mem::take(&mut cur);
                    out.push(if in_space {
                        Token::Space(t, span.style)
                    } else {
                        Token::Word(t, span.style)
                    });
                }
                in_space = space;
            }
            if c == '\n' {
                out.push(Token::Break);
                in_space = false;
            } else if !c.is_control() {
                cur.push(if c == '\t' { ' ' } else { c });
            }
        }
        if !cur.is_empty() {
            out.push(if in_space {
                Token::Space(cur, span.style)
            } else {
                Token::Word(cur, span.style)
            });
        }
    }
    out
}

/// Lines being filled.
struct Filler {
    width: usize,
    lines: Vec<Vec<Span<'static>>>,
    col: usize,
}

impl Filler {
    fn push(&mut self, s: String, style: Style, w: usize) {
        if let Some(line) = self.lines.last_mut() {
            line.push(Span::styled(s, style));
        }
        self.col += w;
    }

    fn newline(&mut self) {
        self.lines.push(Vec::new());
        self.col = 0;
    }

    /// A break for lack of room: spaces left at the end of the line go.
    fn soft_newline(&mut self) {
        if let Some(line) = self.lines.last_mut() {
            while line
                .last()
                .is_some_and(|s| s.content.chars().all(|c| c == ' '))
            {
                line.pop();
            }
        }
        self.newline();
    }

    fn word(&mut self, s: String, style: Style) {
        let w = width(&s);
        if self.col + w <= self.width {
            return self.push(s, style, w);
        }
        if w <= self.width {
            self.soft_newline();
            return self.push(s, style, w);
        }
        // Longer than a line (a link, a hash): cut it where the line ends.
        let mut piece = String::new();
        let mut piece_w = 0;
        for c in s.chars() {
            let cw = width(c.encode_utf8(&mut [0; 4]));
            if self.col + piece_w + cw > self.width {
                if !piece.is_empty() {
                    self.push(std::mem::take(&mut piece), style, piece_w);
                }
                piece_w = 0;
                self.soft_newline();
            }
            piece.push(c);
            piece_w += cw;
        }
        if !piece.is_empty() {
            self.push(piece, style, piece_w);
        }
    }
}

/// `spans` laid out in lines at most `width` columns wide (at least one
/// line, even for no text).
pub fn wrap(spans: &[Span<'_>], width: usize) -> Vec<Line<'static>> {
    let mut f = Filler {
        width: width.max(1),
        lines: vec![Vec::new()],
        col: 0,
    };
    for t in tokens(spans) {
        match t {
            Token::Break => f.newline(),
            Token::Word(s, style) => f.word(s, style),
            Token::Space(s, style) => {
                let w = width_of_space(&s);
                if f.col + w <= f.width {
                    f.push(s, style, w);
                } else {
                    // Spaces at a break are dropped: the next line starts
                    // with the next word.
                    f.newline();
                }
            }
        }
    }
    f.lines.into_iter().map(Line::from).collect()
}

fn width_of_space(s: &str) -> usize {
    s.chars().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[Line<'_>]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn wraps_at_spaces_and_keeps_the_last_span() {
        let spans = [
            Span::raw("[13:05] You: "),
            Span::raw("one two three four"),
            Span::styled(
                " ✓✓",
                Style::new().add_modifier(ratatui::style::Modifier::BOLD),
            ),
        ];
        let lines = wrap(&spans, 16);
        assert_eq!(texts(&lines), ["[13:05] You: one", "two three four", "✓✓"]);
        // The tick keeps its style on its own line.
        assert_eq!(
            lines[2].spans[0].style,
            Style::new().add_modifier(ratatui::style::Modifier::BOLD)
        );
        assert!(lines.iter().all(|l| l.width() <= 16));
    }

    #[test]
    fn long_words_are_cut_and_newlines_kept() {
        let lines = wrap(&[Span::raw("abcdefghij x\ny")], 4);
        assert_eq!(texts(&lines), ["abcd", "efgh", "ij x", "y"]);
        assert_eq!(wrap(&[], 10).len(), 1);
        // Wide characters count two columns.
        let wide = wrap(&[Span::raw("日本語です")], 4);
        assert_eq!(texts(&wide), ["日本", "語で", "す"]);
    }
}
