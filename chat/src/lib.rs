//! # sotto-chat
//!
//! The `sotto` desktop app: a command line for scripts and quick use, and a
//! terminal UI (`sotto chat`) for conversations. Both are thin front ends over
//! `sotto_client::chat::Messenger`, which owns accounts, contacts, the outbox,
//! receipts and the local store.
//!
//! - [`app`]: carrying out each command with the library.
//! - [`cli`]: the command-line grammar (clap).
//! - [`config`]: where settings come from (flag > `SOTTO_*` > HOME/config.toml > default).
//! - [`duration`]: `30s` / `5m` / `1h` / `1d`.
//! - [`qr`]: QR codes drawn with Unicode half blocks.
//! - [`tui`]: the terminal UI as pure state, key handling and render functions.
//! - [`web`]: `sotto app`, the desktop app served to a local browser.
//!
//! ## Not in this crate
//!
//! Anything about messages themselves (encryption, storage, delivery, paths):
//! that is `sotto-client`. This crate turns user input into library calls and
//! library state into text.

pub mod app;
pub mod cli;
pub mod config;
pub mod duration;
pub mod qr;
pub mod tui;
pub mod web;
