//! What a command can end in, and the exit code each failure gives.

use sotto_client::chat::ChatError;

use crate::config::ConfigError;

/// Exit code when a message was not sent in time (it stays queued).
pub const EXIT_NOT_SENT: i32 = 3;
/// Exit code for bad input (the same code clap uses for usage errors).
pub const EXIT_USAGE: i32 = 2;
/// Exit code when the network could not be reached.
pub const EXIT_NETWORK: i32 = 4;
/// Exit code for any other failure.
pub const EXIT_FAILURE: i32 = 1;

/// A failed command, worded for the person at the terminal.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Settings are wrong.
    #[error("{0}")]
    Config(#[from] ConfigError),
    /// The chat library refused or failed.
    #[error("{0}")]
    Chat(#[from] ChatError),
    /// The input makes no sense.
    #[error("{0}")]
    Usage(String),
    /// The network could not be reached.
    #[error("{0}")]
    Network(String),
    /// The terminal or a file failed.
    #[error("{0}")]
    Io(String),
    /// Whoever read our output went away (`sotto inbox | head`): nothing
    /// left to say to anyone.
    #[error("output closed")]
    OutputClosed,
}

impl AppError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Config(_) | AppError::Usage(_) => EXIT_USAGE,
            AppError::Network(_) => EXIT_NETWORK,
            AppError::Io(_) | AppError::OutputClosed => EXIT_FAILURE,
            AppError::Chat(e) => match e {
                ChatError::NotSent { .. } => EXIT_NOT_SENT,
                ChatError::Network(_) | ChatError::NotConnected => EXIT_NETWORK,
                ChatError::Store(_) | ChatError::Locked { .. } => EXIT_FAILURE,
                ChatError::UnknownContact(_)
                | ChatError::Ambiguous(_)
                | ChatError::InvalidPhrase(_)
                | ChatError::InvalidName(_)
                | ChatError::TooLong { .. }
                | ChatError::NoAccount { .. }
                | ChatError::AccountExists { .. }
                | ChatError::WrongPassphrase
                | ChatError::Blocked(_) => EXIT_USAGE,
                _ => EXIT_FAILURE,
            },
        }
    }
}

impl From<std::io::Error> for AppError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            return AppError::OutputClosed;
        }
        AppError::Io(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_sort_failures() {
        let code = |e: ChatError| AppError::Chat(e).exit_code();
        assert_eq!(
            code(ChatError::NotSent {
                reason: "no onion path".into()
            }),
            EXIT_NOT_SENT
        );
        assert_eq!(code(ChatError::UnknownContact("bob".into())), EXIT_USAGE);
        assert_eq!(code(ChatError::WrongPassphrase), EXIT_USAGE);
        assert_eq!(code(ChatError::Network("down".into())), EXIT_NETWORK);
        assert_eq!(code(ChatError::Store("disk".into())), EXIT_FAILURE);
        assert_eq!(AppError::Network("x".into()).exit_code(), EXIT_NETWORK);
        assert_eq!(AppError::Usage("x".into()).exit_code(), EXIT_USAGE);
    }

    #[test]
    fn broken_pipe_is_its_own_case() {
        let e = AppError::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(matches!(e, AppError::OutputClosed));
        let e = AppError::from(std::io::Error::other("disk full"));
        assert_eq!(e.to_string(), "disk full");
    }
}
