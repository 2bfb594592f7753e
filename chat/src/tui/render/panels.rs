//! The screens besides the main one (requests, verification, new chat) and
//! the panels drawn over it (paths, help).

use ratatui::Frame;
use ratatui::layout::{Position, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, List, ListItem, ListState, Paragraph, Wrap};
use sotto_client::PathStatus;

use super::super::state::{App, NewChat, Trust, VerifyView};
use super::super::wrap::width;

pub(super) fn requests(frame: &mut Frame, area: Rect, app: &App) {
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

pub(super) fn verify(frame: &mut Frame, area: Rect, view: &VerifyView) {
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

/// The form that adds a contact; the cursor sits at the end of the field
/// being typed in.
pub(super) fn new_chat(frame: &mut Frame, area: Rect, form: &NewChat) {
    let focus = Style::default().add_modifier(Modifier::REVERSED);
    let field = |label: &str, value: &str, on: bool| {
        Line::from(vec![
            Span::styled(
                format!("{label:<17}"),
                Style::default().add_modifier(Modifier::BOLD),
            ),
            Span::styled(
                format!("{value} "),
                if on { focus } else { Style::default() },
            ),
        ])
    };
    let lines = vec![
        Line::raw("Add a contact and open the conversation with them."),
        Line::raw(""),
        field("Account ID:", &form.id, !form.on_name),
        field("Name (optional):", &form.name, form.on_name),
        Line::raw(""),
        Line::raw("Their ID starts with sotto1 (they see it with `sotto id`); paste it whole."),
    ];
    frame.render_widget(
        Paragraph::new(lines)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title("New conversation"),
            )
            .wrap(Wrap { trim: false }),
        area,
    );
    let (row, value) = if form.on_name {
        (4, &form.name)
    } else {
        (3, &form.id)
    };
    let col = 17 + width(value);
    if col + 2 < usize::from(area.width) {
        frame.set_cursor_position(Position::new(
            area.x + 1 + u16::try_from(col).unwrap_or(0),
            area.y + row,
        ));
    }
}

/// A box over the top of `body` holding `lines`.
fn popup(frame: &mut Frame, body: Rect, title: &str, lines: Vec<Line>) {
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
        Paragraph::new(lines)
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .title(format!("{title} — Esc closes")),
            )
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// Each ready path, hop by hop: the relay's address where the directory
/// knows it (as the runner put it in [`App::hops`]), else its short id.
pub(super) fn hops(frame: &mut Frame, body: Rect, app: &App) {
    let lines: Vec<Line> = match &app.path {
        PathStatus::Ready { hops } => hops
            .iter()
            .enumerate()
            .map(|(i, relays)| {
                let chain: Vec<String> = relays
                    .iter()
                    .enumerate()
                    .map(|(j, n)| {
                        app.hops
                            .get(i)
                            .and_then(|p| p.get(j))
                            .cloned()
                            .unwrap_or_else(|| n.short())
                    })
                    .collect();
                Line::raw(format!("path {}: {}", i + 1, chain.join(" → ")))
            })
            .collect(),
        PathStatus::Building => vec![Line::raw("Building paths…")],
        PathStatus::Offline => vec![Line::raw("No path: the network cannot be reached yet.")],
    };
    popup(frame, body, "Onion paths (guard first)", lines);
}

/// Every key of the main screen and what the ticks mean.
pub(super) fn help(frame: &mut Frame, body: Rect) {
    let rows = [
        ("Enter", "send the message"),
        ("Alt+Enter, Shift+Enter, Ctrl-J", "new line in the message"),
        ("← → Home End, Backspace, Delete", "edit the message"),
        ("↑ ↓", "choose a conversation (# marks a group)"),
        ("PgUp PgDn", "scroll back through the conversation"),
        ("Ctrl-N", "new conversation: add a contact by ID"),
        (
            "Ctrl-R",
            "message requests from people not in your contacts",
        ),
        ("Ctrl-V", "verification code of the open conversation"),
        (
            "Ctrl-S",
            "save the newest attachment here into the download folder",
        ),
        ("Ctrl-P", "onion paths, hop by hop"),
        ("Esc", "close this panel"),
        ("Ctrl-Q, Ctrl-C", "quit"),
    ];
    let mut lines: Vec<Line> = rows
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(
                    format!("{k:<34}"),
                    Style::default().add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        "Ticks: … queued · ✓ sent (the network holds it) · ✓✓ delivered · cyan ✓✓ read · ⏲ disappears",
    ));
    popup(frame, body, "Keys", lines);
}
