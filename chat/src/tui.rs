//! The terminal UI (`sotto chat`), built as pure parts so each can be tested
//! without a terminal or a network:
//!
//! - [`state`]: what is on screen ([`App`]), filled from the library.
//! - [`composer`]: the message being written, with its cursor.
//! - [`keys`]: a key press or a paste changes the state and may ask for an
//!   [`Action`] (the one place the UI wants something done by the library).
//! - [`render`]: draws the state onto any ratatui backend (tests use
//!   `TestBackend`); [`wrap`] lays text out in lines of the pane's width.
//! - [`run`]: the loop joining the terminal, the keys and the library.

pub mod composer;
pub(crate) mod convert;
pub mod keys;
pub mod render;
pub mod run;
pub mod state;
pub mod wrap;

pub use keys::{Action, handle_key, handle_paste};
pub use render::draw;
pub use state::{
    App, Chat, Clears, Composer, ConvRow, MsgRow, NewChat, Panel, RequestRow, Screen, Status, Tick,
    Trust, VerifyView,
};

#[cfg(test)]
mod tests;
