//! The command line: global options and subcommands.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

/// Private messages over Sotto's onion-routed network.
#[derive(Debug, Parser)]
#[command(name = "sotto", version, about, propagate_version = true)]
pub struct Cli {
    /// Settings every command shares.
    #[command(flatten)]
    pub global: Global,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes (they beat SOTTO_* variables and config.toml).
#[derive(Debug, Args, Default, Clone)]
pub struct Global {
    /// Where your account and messages live [env: SOTTO_HOME]
    /// [default: $XDG_DATA_HOME/sotto or ~/.local/share/sotto]
    #[arg(long, global = true, value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Network: "public", "devnet" or a parameters file [env: SOTTO_NETWORK]
    #[arg(long, global = true, value_name = "NAME|FILE")]
    pub network: Option<String>,
    /// Node(s) to join through: a multiaddr ending in /p2p/<peer id>, several
    /// separated by commas, or a file of them one per line [env: SOTTO_BOOTSTRAP]
    #[arg(long, global = true, value_name = "MULTIADDR|FILE")]
    pub bootstrap: Option<String>,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new account in the home and show its ID and recovery phrase.
    Init {
        /// Display name your contacts see.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Encrypt the home with a passphrase (SOTTO_PASSPHRASE, or asked).
        #[arg(long)]
        encrypt: bool,
    },
    /// Restore an account from its 12-word recovery phrase, read from stdin.
    Restore {
        /// Display name your contacts see.
        #[arg(long, value_name = "NAME")]
        name: Option<String>,
        /// Encrypt the home with a passphrase (SOTTO_PASSPHRASE, or asked).
        #[arg(long)]
        encrypt: bool,
    },
    /// Print your account ID (alone, for scripts).
    Id {
        /// Also draw it as a QR code.
        #[arg(long)]
        qr: bool,
    },
    /// Manage contacts.
    #[command(subcommand)]
    Contacts(ContactsCmd),
    /// Send a text message and wait until the network holds it.
    Send {
        /// Account ID, nickname or display name.
        contact: String,
        /// The message.
        text: String,
        /// How long to wait for the network before giving up (the message
        /// stays queued).
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Show new messages from contacts and requests.
    Inbox {
        /// Wait up to this many seconds for new messages when there are none.
        #[arg(long, value_name = "SECS", default_value_t = 0)]
        wait: u64,
        /// One JSON object per line: id, from, text, sent_at, request.
        #[arg(long)]
        json: bool,
    },
    /// Messages from people who are not your contacts.
    #[command(subcommand)]
    Requests(RequestsCmd),
    /// Show the verification code with a contact (compare it in person).
    Verify {
        /// Account ID, nickname or display name.
        contact: String,
        /// Mark the contact verified once the codes match.
        #[arg(long)]
        mark: bool,
    },
    /// Set disappearing messages for a conversation.
    Disappear {
        /// Account ID, nickname or display name.
        contact: String,
        /// off, after-send DURATION or after-read DURATION.
        #[command(subcommand)]
        mode: DisappearCmd,
    },
    /// Show the onion paths and their hops.
    Paths {
        /// How long to wait for a path to be ready.
        #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_duration)]
        wait: Duration,
    },
    /// Open the terminal chat UI.
    Chat,
}

/// `contacts …`.
#[derive(Debug, Subcommand)]
pub enum ContactsCmd {
    /// Add a contact by account ID.
    Add {
        /// The contact's account ID (sotto1…).
        id: String,
        /// Your name for them.
        #[arg(long, value_name = "N")]
        name: Option<String>,
    },
    /// List contacts.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

/// `requests …`.
#[derive(Debug, Subcommand)]
pub enum RequestsCmd {
    /// List pending requests.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Accept: the sender becomes a contact and is told.
    Accept {
        /// The sender's account ID.
        id: String,
    },
    /// Decline: the request is dropped and the sender told.
    Decline {
        /// The sender's account ID.
        id: String,
    },
    /// Block: the request is dropped and future messages too.
    Block {
        /// The sender's account ID.
        id: String,
    },
}

/// `disappear CONTACT …`.
#[derive(Debug, Subcommand, PartialEq, Eq)]
pub enum DisappearCmd {
    /// Keep messages.
    Off,
    /// Delete messages this long after they are sent.
    AfterSend {
        /// Like 30s, 5m, 1h, 1d.
        #[arg(value_parser = parse_duration)]
        duration: Duration,
    },
    /// Delete messages this long after they are read.
    AfterRead {
        /// Like 30s, 5m, 1h, 1d.
        #[arg(value_parser = parse_duration)]
        duration: Duration,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::duration::parse(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("sotto").chain(args.iter().copied()))
    }

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_options_anywhere() {
        let c = parse(&["inbox", "--home", "/h", "--network", "devnet", "--json"]).unwrap();
        assert_eq!(c.global.home, Some(PathBuf::from("/h")));
        assert_eq!(c.global.network.as_deref(), Some("devnet"));
        assert!(matches!(
            c.command,
            Command::Inbox {
                wait: 0,
                json: true
            }
        ));
        let c = parse(&["--bootstrap", "b.txt", "id", "--qr"]).unwrap();
        assert_eq!(c.global.bootstrap.as_deref(), Some("b.txt"));
        assert!(matches!(c.command, Command::Id { qr: true }));
    }

    #[test]
    fn disappear_modes() {
        let c = parse(&["disappear", "bob", "after-read", "5m"]).unwrap();
        match c.command {
            Command::Disappear { contact, mode } => {
                assert_eq!(contact, "bob");
                assert_eq!(
                    mode,
                    DisappearCmd::AfterRead {
                        duration: Duration::from_secs(300)
                    }
                );
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["disappear", "bob", "off"]).is_ok());
        let e = parse(&["disappear", "bob", "after-send", "5"]).unwrap_err();
        assert!(e.to_string().contains("no unit"), "{e}");
    }

    #[test]
    fn send_and_requests() {
        let c = parse(&["send", "bob", "hello there"]).unwrap();
        assert!(
            matches!(c.command, Command::Send { ref contact, ref text, timeout }
            if contact == "bob" && text == "hello there" && timeout == Duration::from_secs(60))
        );
        let c = parse(&["requests", "accept", "sotto1x"]).unwrap();
        assert!(matches!(
            c.command,
            Command::Requests(RequestsCmd::Accept { .. })
        ));
        assert!(parse(&["send", "bob"]).is_err());
        assert!(parse(&["requests", "maybe", "x"]).is_err());
    }

    #[test]
    fn init_flags() {
        let c = parse(&["init", "--name", "Alice", "--encrypt"]).unwrap();
        assert!(
            matches!(c.command, Command::Init { ref name, encrypt: true } if name.as_deref() == Some("Alice"))
        );
    }
}
