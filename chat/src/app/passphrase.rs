//! Asking for a passphrase on the terminal without echoing it.

use std::io::Write;

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use crossterm::terminal;

use super::AppError;

/// Longest passphrase accepted at the prompt; beyond this a key is stuck.
const MAX_LEN: usize = 1024;

/// Reads a line from the terminal with echo off. Ctrl-C aborts.
pub fn prompt(label: &str) -> Result<String, AppError> {
    eprint!("{label}");
    let _ = std::io::stderr().flush();
    terminal::enable_raw_mode()?;
    let result = read_line();
    // Always give the terminal back, whatever happened while reading.
    let _ = terminal::disable_raw_mode();
    eprintln!();
    result
}

fn read_line() -> Result<String, AppError> {
    let mut s = String::new();
    loop {
        if let Event::Key(k) = event::read()? {
            if k.kind == KeyEventKind::Release {
                continue;
            }
            match k.code {
                KeyCode::Enter => return Ok(s),
                KeyCode::Char('c') if k.modifiers.contains(KeyModifiers::CONTROL) => {
                    return Err(AppError::Usage("cancelled".into()));
                }
                KeyCode::Backspace => {
                    s.pop();
                }
                KeyCode::Char(c) if s.len() < MAX_LEN => s.push(c),
                _ => {}
            }
        }
    }
}

/// Asks twice for a new passphrase (SOTTO_PASSPHRASE wins if set).
pub fn new_passphrase() -> Result<String, AppError> {
    if let Some(p) = std::env::var("SOTTO_PASSPHRASE")
        .ok()
        .filter(|p| !p.is_empty())
    {
        return Ok(p);
    }
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        return Err(AppError::Usage(
            "--encrypt needs a passphrase: set SOTTO_PASSPHRASE or run in a terminal".into(),
        ));
    }
    let first = prompt("New passphrase: ")?;
    if first.chars().count() < 8 {
        return Err(AppError::Usage(
            "the passphrase is too short: use at least 8 characters".into(),
        ));
    }
    let again = prompt("Repeat it: ")?;
    if first != again {
        return Err(AppError::Usage("the two passphrases differ".into()));
    }
    Ok(first)
}
