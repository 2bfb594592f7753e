//! What a command can end in, and the exit code each failure gives.

use sotto_client::chat::ChatError;
use sotto_client::directory::WrongNetwork;
use sotto_protocol::NetworkParams;

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
    Chat(ChatError),
    /// The bootstrap nodes are on another network than the one chosen.
    #[error("{}", wrong_network_text(.0))]
    WrongNetwork(WrongNetwork),
    /// The input makes no sense.
    #[error("{0}")]
    Usage(String),
    /// The network could not be reached.
    #[error("{0}")]
    Network(String),
    /// The terminal or a file failed.
    #[error("{0}")]
    Io(String),
    /// The home is held by another `sotto` process and the command needs it
    /// to itself (the text names that process).
    #[error("{0}")]
    Held(String),
    /// The command ran in the process holding the home, which printed its
    /// output and error here already; this is its exit code.
    #[error("exit code {0}")]
    Relayed(u8),
    /// Whoever read our output went away (`sotto inbox | head`): nothing
    /// left to say to anyone.
    #[error("output closed")]
    OutputClosed,
}

impl AppError {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            AppError::Config(_) | AppError::Usage(_) | AppError::WrongNetwork(_) => EXIT_USAGE,
            AppError::Network(_) => EXIT_NETWORK,
            AppError::Io(_) | AppError::OutputClosed | AppError::Held(_) => EXIT_FAILURE,
            AppError::Relayed(code) => i32::from(*code),
            AppError::Chat(e) => match e {
                ChatError::NotSent { .. } => EXIT_NOT_SENT,
                ChatError::Network(_) | ChatError::NotConnected => EXIT_NETWORK,
                ChatError::Store(_) | ChatError::Locked { .. } => EXIT_FAILURE,
                ChatError::UnknownContact(_)
                | ChatError::UnknownGroup(_)
                | ChatError::Ambiguous(_)
                | ChatError::InvalidPhrase(_)
                | ChatError::InvalidName(_)
                | ChatError::TooLong { .. }
                | ChatError::NoAccount { .. }
                | ChatError::AccountExists { .. }
                | ChatError::WrongPassphrase
                | ChatError::Invalid(_)
                | ChatError::UnknownMessage
                | ChatError::WrongNetwork(_)
                | ChatError::Blocked(_) => EXIT_USAGE,
                _ => EXIT_FAILURE,
            },
        }
    }
}

impl From<ChatError> for AppError {
    fn from(e: ChatError) -> Self {
        match e {
            ChatError::WrongNetwork(w) => AppError::WrongNetwork(w),
            other => AppError::Chat(other),
        }
    }
}

/// The name a person gives a network on the wire: the preset's (`public`
/// is `sotto` on the wire), else the wire name.
fn preset_name(wire: &str) -> String {
    ["public", "devnet"]
        .into_iter()
        .find(|p| NetworkParams::preset(p).is_ok_and(|n| n.name == wire))
        .map_or_else(|| wire.to_string(), str::to_string)
}

/// Which network each side is on, and what to do about it.
fn wrong_network_text(w: &WrongNetwork) -> String {
    let ours = preset_name(&w.ours);
    match &w.theirs {
        Some(theirs) => {
            let theirs = preset_name(theirs);
            let how = if NetworkParams::preset(&theirs).is_ok() {
                format!("--network {theirs}? (or SOTTO_NETWORK={theirs})")
            } else {
                "--network with its parameters file?".to_string()
            };
            format!(
                "the bootstrap nodes belong to network {theirs:?}, but this client is on {ours:?}: {how}"
            )
        }
        None => format!(
            "the bootstrap nodes belong to another network than {ours:?}: check --network and --bootstrap"
        ),
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

    /// Issue 11, item 1: which network each side is on, and the flag to use.
    #[test]
    fn wrong_network_names_both_and_the_fix() {
        let e = AppError::from(ChatError::WrongNetwork(WrongNetwork {
            ours: NetworkParams::public().name,
            theirs: Some(NetworkParams::devnet().name),
        }));
        assert_eq!(e.exit_code(), EXIT_USAGE);
        assert_eq!(
            e.to_string(),
            "the bootstrap nodes belong to network \"devnet\", but this client is on \"public\": \
             --network devnet? (or SOTTO_NETWORK=devnet)"
        );
        let e = AppError::WrongNetwork(WrongNetwork {
            ours: NetworkParams::devnet().name,
            theirs: Some(NetworkParams::public().name),
        });
        assert!(
            e.to_string()
                .ends_with("--network public? (or SOTTO_NETWORK=public)"),
            "{e}"
        );
        let e = AppError::WrongNetwork(WrongNetwork {
            ours: "mine".into(),
            theirs: None,
        });
        assert!(
            e.to_string().contains("another network than \"mine\""),
            "{e}"
        );
    }

    #[test]
    fn broken_pipe_is_its_own_case() {
        let e = AppError::from(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(matches!(e, AppError::OutputClosed));
        let e = AppError::from(std::io::Error::other("disk full"));
        assert_eq!(e.to_string(), "disk full");
    }
}
