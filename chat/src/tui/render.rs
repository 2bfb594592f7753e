//! Draws an [`App`] onto a ratatui frame. Pure: the same state always draws
//! the same screen.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};
use sotto_client::PathStatus;

use super::state::{App, Screen, Tick, Trust, VerifyView};

/// Colour of the path indicator when a path is ready.
pub const READY: Color = Color::Green;
/// Colour of the path indicator while no path is ready.
pub const NOT_READY: Color = Color::Rgb(255, 165, 0);
/// Colour of "read" ticks (the same glyph as delivered).
pub const READ_TICK: Color = Color::Cyan;

/// Draws the whole UI.
pub fn draw(frame: &mut Frame, app: &App) {
    let [top, body, status, composer, help] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
        Constraint::Length(3),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    title_bar(frame, top, app);
    match &app.screen {
        Screen::Main => {
            let [list, messages] =
                Layout::horizontal([Constraint::Percentage(30), Constraint::Percentage(70)])
                    .areas(body);
            conversation_list(frame, list, app);
            message_view(frame, messages, app);
        }
        Screen::Requests => requests_pane(frame, body, app),
        Screen::Verify(view) => verify_screen(frame, body, view),
    }
    if let Some(s) = &app.status {
        frame.render_widget(
            Paragraph::new(s.as_str()).style(Style::default().fg(Color::Yellow)),
            status,
        );
    }
    composer_box(frame, composer, app);
    frame.render_widget(
        Paragraph::new(help_text(&app.screen)).style(Style::default().fg(Color::DarkGray)),
        help,
    );
    if app.show_hops {
        hops_popup(frame, body, &app.path);
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
    let mut spans = vec![
        Span::styled("sotto ", Style::default().add_modifier(Modifier::BOLD)),
        Span::raw(format!("{short}…  ")),
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
            let mut spans = vec![Span::raw(c.title.clone())];
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

fn message_view(frame: &mut Frame, area: Rect, app: &App) {
    let conv = app.conversations.get(app.selected);
    let mut title = conv.map_or("No conversation".to_string(), |c| c.title.clone());
    if app.peer_typing {
        title.push_str(" — typing…");
    }
    let block = Block::default().borders(Borders::ALL).title(title);
    let mut lines: Vec<Line> = Vec::new();
    if let Some(Trust::Changed) = conv.map(|c| c.trust) {
        lines.push(Line::styled(
            "⚠ This contact's key changed since you verified it. Check the code again (Ctrl-V).",
            Style::default().fg(Color::Red),
        ));
    }
    for m in &app.messages {
        let who = if m.outgoing {
            "You".to_string()
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
        lines.push(Line::from(spans));
    }
    // Keep the newest messages in view: scroll so the last line is at the bottom.
    let inner_height = area.height.saturating_sub(2);
    let scroll = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_sub(inner_height);
    frame.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), area);
}

fn requests_pane(frame: &mut Frame, area: Rect, app: &App) {
    let items: Vec<ListItem> = if app.requests.is_empty() {
        vec![ListItem::new("No message requests.")]
    } else {
        app.requests
            .iter()
            .map(|r| {
                let id = r.from.to_string();
                let who = r.name.clone().unwrap_or_else(|| id.clone());
                ListItem::new(vec![
                    Line::from(vec![
                        Span::styled(who, Style::default().add_modifier(Modifier::BOLD)),
                        Span::raw(format!(" — {} message(s)", r.messages)),
                    ]),
                    Line::raw(format!("  {id}")),
                    Line::raw(format!("  “{}”", r.first_text)),
                ])
            })
            .collect()
    };
    let list = List::new(items)
        .block(
            Block::default()
                .borders(Borders::ALL)
                .title("Message requests (from people not in your contacts)"),
        )
        .highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut state = ListState::default();
    if !app.requests.is_empty() {
        state.select(Some(app.request_selected));
    }
    frame.render_stateful_widget(list, area, &mut state);
}

fn verify_screen(frame: &mut Frame, area: Rect, view: &VerifyView) {
    let mut lines = vec![
        Line::raw(format!("Verification code with {}", view.title)),
        Line::raw(""),
    ];
    lines.extend(view.code.lines().into_iter().map(Line::raw));
    lines.push(Line::raw(""));
    lines.push(match view.trust {
        Trust::Verified => Line::styled("✔ Verified", Style::default().fg(Color::Green)),
        Trust::Unverified => Line::raw(
            "Not verified. Compare these digits with your contact in person or on a call.",
        ),
        Trust::Changed => Line::styled(
            "⚠ The code changed since you verified it: the contact's key is not the one you checked.",
            Style::default().fg(Color::Red),
        ),
    });
    lines.push(Line::raw(""));
    if let Some(qr) = crate::qr::render(&view.code.digits()) {
        lines.extend(qr.into_iter().map(Line::raw));
    }
    frame.render_widget(
        Paragraph::new(lines)
            .block(Block::default().borders(Borders::ALL).title("Verify"))
            .wrap(Wrap { trim: false }),
        area,
    );
}

fn composer_box(frame: &mut Frame, area: Rect, app: &App) {
    let title = match (&app.screen, app.conversations.get(app.selected)) {
        (Screen::Main, Some(c)) => format!("Message to {}", c.title),
        _ => "Message".to_string(),
    };
    frame.render_widget(
        Paragraph::new(app.composer.as_str())
            .block(Block::default().borders(Borders::ALL).title(title)),
        area,
    );
}

fn help_text(screen: &Screen) -> &'static str {
    match screen {
        Screen::Main => {
            "Enter send · ↑↓ chats · Ctrl-R requests · Ctrl-V verify · Ctrl-P paths · Esc quit  (… queued ✓ sent ✓✓ delivered, cyan ✓✓ read)"
        }
        Screen::Requests => "↑↓ choose · a accept · d decline · b block · Esc back",
        Screen::Verify(_) => "m mark verified · Esc back",
    }
}

fn hops_popup(frame: &mut Frame, body: Rect, path: &PathStatus) {
    let lines: Vec<Line> = match path {
        PathStatus::Ready { hops } => hops
            .iter()
            .enumerate()
            .map(|(i, relays)| {
                let chain: Vec<String> = relays.iter().map(|n| n.short()).collect();
                Line::raw(format!("path {}: {}", i + 1, chain.join(" → ")))
            })
            .collect(),
        PathStatus::Building => vec![Line::raw("Building paths…")],
        PathStatus::Offline => vec![Line::raw("No path: the network cannot be reached yet.")],
    };
    let height = u16::try_from(lines.len())
        .unwrap_or(u16::MAX)
        .saturating_add(2)
        .min(body.height);
    let area = Rect {
        x: body.x,
        y: body.y,
        width: body.width,
        height,
    };
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title("Onion paths (guard first)"),
        ),
        area,
    );
}
