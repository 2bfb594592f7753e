//! Draws an [`App`] onto a ratatui frame. Pure: the same state always draws
//! the same screen.

mod panels;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph};
use sotto_client::PathStatus;

use super::state::{App, Chat, Panel, Screen, Tick, Trust};
use super::wrap::wrap;

/// Colour of the path indicator when a path is ready.
pub const READY: Color = Color::Green;
/// Colour of the path indicator while no path is ready.
pub const NOT_READY: Color = Color::Rgb(255, 165, 0);
/// Colour of "read" ticks (the same glyph as delivered).
pub const READ_TICK: Color = Color::Cyan;
/// Most text rows the composer shows at once; it scrolls past that.
pub const COMPOSER_ROWS: usize = 5;
/// Most rows the help line takes (it wraps on narrow terminals).
const HELP_ROWS: usize = 3;

/// The screen's parts, from top to bottom.
struct Areas {
    top: Rect,
    body: Rect,
    status: Rect,
    composer: Rect,
    help: Rect,
}

fn areas(area: Rect, app: &App) -> Areas {
    let help_rows = wrap(
        &[Span::raw(help_text(&app.screen))],
        usize::from(area.width),
    )
    .len()
    .min(HELP_ROWS);
    let composer_rows = composer_layout(app, area.width).0.len().min(COMPOSER_ROWS);
    let [top, body, status, composer, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(u16::try_from(composer_rows + 2).unwrap_or(3)),
        Constraint::Length(u16::try_from(help_rows).unwrap_or(1)),
    ])
    .areas(area);
    Areas {
        top,
        body,
        status,
        composer,
        help,
    }
}

/// The list and message panes of the main screen.
fn main_panes(body: Rect) -> [Rect; 2] {
    Layout::horizontal([Constraint::Percentage(30), Constraint::Percentage(70)]).areas(body)
}

/// Draws the whole UI.
pub fn draw(frame: &mut Frame, app: &App) {
    let a = areas(frame.area(), app);
    title_bar(frame, a.top, app);
    match &app.screen {
        Screen::Main => {
            let [list, messages] = main_panes(a.body);
            conversation_list(frame, list, app);
            message_view(frame, messages, app);
        }
        Screen::Requests => panels::requests(frame, a.body, app),
        Screen::Verify(view) => panels::verify(frame, a.body, view),
        Screen::NewChat(form) => panels::new_chat(frame, a.body, form),
    }
    if let Some(s) = app.status_text() {
        frame.render_widget(
            Paragraph::new(s).style(Style::default().fg(Color::Yellow)),
            a.status,
        );
    }
    composer_box(frame, a.composer, app);
    frame.render_widget(
        Paragraph::new(wrap(
            &[Span::raw(help_text(&app.screen))],
            usize::from(a.help.width),
        ))
        .style(Style::default().fg(Color::DarkGray)),
        a.help,
    );
    if app.screen == Screen::Main {
        match app.panel {
            Some(Panel::Paths) => panels::hops(frame, a.body, app),
            Some(Panel::Help) => panels::help(frame, a.body),
            None => {}
        }
    }
}

/// "HH:MM" (UTC) of a unix time in milliseconds.
pub fn clock(ms: u64) -> String {
    let mins = ms / 60_000;
    format!("{:02}:{:02}", (mins / 60) % 24, mins % 60)
}

/// The path indicator's words and colour.
pub fn path_indicator(path: &PathStatus) -> (String, Color) {
    match path {
        PathStatus::Ready { hops } => (format!("● {} path(s) ready", hops.len()), READY),
        PathStatus::Building => ("● building paths".into(), NOT_READY),
        PathStatus::Offline => ("● offline".into(), NOT_READY),
    }
}

fn title_bar(frame: &mut Frame, area: Rect, app: &App) {
    let (words, colour) = path_indicator(&app.path);
    let me = app.me.to_string();
    let short: String = me.chars().take(12).collect();
    let who = match &app.my_name {
        Some(n) => format!("{n} ({short}…)  "),
        None => format!("{short}…  "),
    };
    let mut spans = vec![
        Span::styled("sotto ", Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(who),
        Span::styled(words, Style::default().fg(colour)),
    ];
    if !app.requests.is_empty() {
        spans.push(Span::styled(
            format!("  requests: {}", app.requests.len()),
            Style::default().fg(Color::Yellow),
        ));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn trust_mark(t: Trust) -> Span<'static> {
    match t {
        Trust::Unverified => Span::raw(""),
        Trust::Verified => Span::styled(" ✔", Style::default().fg(Color::Green)),
        Trust::Changed => Span::styled(" ⚠ key changed", Style::default().fg(Color::Red)),
    }
}

fn conversation_list(frame: &mut Frame, area: Rect, app: &App) {
    let items: Vec<ListItem> = app
        .conversations
        .iter()
        .map(|c| {
            // Groups are marked, as in other messengers' lists.
            let mark = match c.chat {
                Chat::Group(_) => "# ",
                Chat::Direct(_) => "",
            };
            let mut spans = vec![Span::raw(format!("{mark}{}", c.title))];
            if c.unread > 0 {
                spans.push(Span::styled(
                    format!(" ({})", c.unread),
                    Style::default()
                        .fg(Color::Yellow)
                        .add_modifier(Modifier::BOLD),
                ));
            }
            spans.push(trust_mark(c.trust));
            ListItem::new(Line::from(spans))
        })
        .collect();
    let list = List::new(items)
        .block(Block::default().borders(Borders::ALL).title("Chats"))
        .highlight_style(Style::default().add_modifier(Modifier::REVERSED))
        .highlight_symbol("> ");
    let mut state = ListState::default();
    if !app.conversations.is_empty() {
        state.select(Some(app.selected));
    }
    frame.render_stateful_widget(list, area, &mut state);
}

/// Every line of the open conversation, wrapped at `width` columns.
fn message_lines(app: &App, width: usize) -> Vec<Line<'static>> {
    let conv = app.conversations.get(app.selected);
    let mut lines: Vec<Line> = Vec::new();
    if let Some(Trust::Changed) = conv.map(|c| c.trust) {
        lines.extend(wrap(
            &[Span::styled(
                "⚠ This contact's key changed since you verified it. Check the code again (Ctrl-V).",
                Style::default().fg(Color::Red),
            )],
            width,
        ));
    }
    for m in &app.messages {
        let who = if m.outgoing {
            "You".to_string()
        } else if let Some(from) = &m.from {
            from.clone()
        } else {
            conv.map_or(String::new(), |c| c.title.clone())
        };
        let mut spans = vec![
            Span::styled(
                format!("[{}] ", clock(m.sent_at)),
                Style::default().fg(Color::DarkGray),
            ),
            Span::styled(
                format!("{who}: "),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::raw(m.text.clone()),
        ];
        if m.outgoing {
            let style = match m.tick {
                Tick::Read => Style::default().fg(READ_TICK),
                Tick::Queued => Style::default().fg(Color::DarkGray),
                _ => Style::default(),
            };
            spans.push(Span::styled(format!(" {}", m.tick.glyph()), style));
        }
        if m.expires_at.is_some() {
            spans.push(Span::styled(" ⏲", Style::default().fg(Color::DarkGray)));
        }
        lines.extend(wrap(&spans, width));
    }
    lines
}

/// How far back the message view can scroll on a screen of `area`: the
/// lines that do not fit (0 when all do). The runner keeps
/// [`App::scroll`] within it.
pub fn max_scroll(app: &App, area: Rect) -> usize {
    let [_, messages] = main_panes(areas(area, app).body);
    let inner = messages.inner(ratatui::layout::Margin::new(1, 1));
    message_lines(app, usize::from(inner.width))
        .len()
        .saturating_sub(usize::from(inner.height))
}

/// Lines the message view shows at once on a screen of `area` (a page for
/// PgUp and PgDn).
pub fn page_lines(app: &App, area: Rect) -> usize {
    let [_, messages] = main_panes(areas(area, app).body);
    usize::from(messages.height.saturating_sub(2)).max(1)
}

fn message_view(frame: &mut Frame, area: Rect, app: &App) {
    let conv = app.conversations.get(app.selected);
    let mut title = conv.map_or("No conversation".to_string(), |c| c.title.clone());
    if app.peer_typing {
        title.push_str(" — typing…");
    }
    let inner_height = usize::from(area.height.saturating_sub(2));
    let lines = message_lines(app, usize::from(area.width.saturating_sub(2)));
    let back = app.scroll.min(lines.len().saturating_sub(inner_height));
    if back > 0 {
        title.push_str(&format!(" — {back} line(s) back, PgDn for newer"));
    }
    // The newest line at the bottom, `back` lines up when scrolled.
    let first = lines.len().saturating_sub(inner_height + back);
    let shown: Vec<Line> = lines.into_iter().skip(first).take(inner_height).collect();
    frame.render_widget(
        Paragraph::new(shown).block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

/// The composer's rows at the width of a screen `screen_width` wide, and
/// the cursor among them.
fn composer_layout(app: &App, screen_width: u16) -> (Vec<String>, (usize, usize)) {
    app.composer
        .layout(usize::from(screen_width.saturating_sub(2)))
}

fn composer_box(frame: &mut Frame, area: Rect, app: &App) {
    let title = match (&app.screen, app.conversations.get(app.selected)) {
        (Screen::Main, Some(c)) => format!("Message to {}", c.title),
        _ => "Message".to_string(),
    };
    let (rows, (row, col)) = composer_layout(app, area.width);
    let visible = usize::from(area.height.saturating_sub(2)).max(1);
    // Scrolled so the cursor's row is in view.
    let first = (row + 1).saturating_sub(visible);
    let shown: Vec<Line> = rows
        .into_iter()
        .skip(first)
        .take(visible)
        .map(Line::raw)
        .collect();
    frame.render_widget(
        Paragraph::new(shown).block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
    if app.screen == Screen::Main && app.panel.is_none() {
        let x = area.x + 1 + u16::try_from(col).unwrap_or(0);
        let y = area.y + 1 + u16::try_from(row - first).unwrap_or(0);
        frame.set_cursor_position(Position::new(x, y));
    }
}

/// The keys of a screen, one line that wraps where the terminal is narrow.
pub fn help_text(screen: &Screen) -> &'static str {
    match screen {
        Screen::Main => {
            "Enter send · Alt+Enter newline · ↑↓ chats · PgUp/PgDn scroll · Ctrl-N new chat · Ctrl-R requests · Ctrl-V verify · Ctrl-P paths · F1 help · Ctrl-Q quit"
        }
        Screen::Requests => "↑↓ choose · a accept · d decline · b block · Esc back",
        Screen::Verify(_) => "m mark verified · Esc back",
        Screen::NewChat(_) => "Tab next field · Enter add and open · Esc back",
    }
}
