//! The terminal UI (`sotto chat`), built as pure parts so each can be tested
//! without a terminal or a network:
//!
//! - [`state`]: what is on screen ([`App`]), filled from the library.
//! - [`keys`]: a key press changes the state and may ask for an [`Action`]
//!   (the one place the UI wants something done by the library).
//! - [`render`]: draws the state onto any ratatui backend (tests use
//!   `TestBackend`).
//! - [`run`]: the loop joining the terminal, the keys and the library.

mod convert;
pub mod keys;
pub mod render;
pub mod run;
pub mod state;

pub use keys::{Action, handle_key};
pub use render::draw;
pub use state::{App, ConvRow, MsgRow, RequestRow, Screen, Tick, Trust, VerifyView};

#[cfg(test)]
mod tests;
