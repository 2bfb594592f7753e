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
#[derive(Debug, Clone, Subcommand)]
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
        /// Account ID, nickname or display name; or a group's name or id.
        contact: String,
        /// The message.
        text: String,
        /// How long to wait for the network before giving up (the message
        /// stays queued): seconds, or 30s, 5m, 1h.
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_wait)]
        timeout: Duration,
    },
    /// Send a file (at most 100 MB) and wait until the network holds it.
    ///
    /// The file is encrypted and stored as chunks in the network; exits 0
    /// once every chunk and the message naming them are stored.
    SendFile {
        /// Account ID, nickname or display name.
        contact: String,
        /// The file.
        path: PathBuf,
        /// Words shown with the file.
        #[arg(long, value_name = "TEXT")]
        caption: Option<String>,
        /// Send it as a voice note: its length comes from --duration, else
        /// from the file's WAV header (other files need --duration).
        #[arg(long)]
        voice: bool,
        /// The voice note's length in seconds (e.g. 12 or 12.5).
        #[arg(long, value_name = "SECS", requires = "voice", value_parser = parse_secs_ms)]
        duration: Option<u32>,
        /// How long to wait for the message after the chunks are stored (it
        /// stays queued otherwise): seconds, or 30s, 5m, 1h.
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_wait)]
        timeout: Duration,
    },
    /// Send a location (latitude and longitude in degrees, WGS 84).
    #[command(allow_negative_numbers = true)]
    SendLocation {
        /// Account ID, nickname or display name.
        contact: String,
        /// Latitude, -90 to 90.
        lat: f64,
        /// Longitude, -180 to 180.
        lon: f64,
        /// What the place is.
        #[arg(long, value_name = "TEXT")]
        label: Option<String>,
        /// How long to wait for the network: seconds, or 30s, 5m, 1h.
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_wait)]
        timeout: Duration,
    },
    /// Save an attachment into a folder and print its path.
    ///
    /// Saved with mode 0600 under a safe name (renamed if taken), never
    /// opened. The id is the one `inbox` or `history` printed.
    Save {
        /// The message id (32 hex digits).
        id: String,
        /// The folder [default: the download_dir setting, $XDG_DOWNLOAD_DIR
        /// or ~/Downloads]
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
    },
    /// Show new messages from contacts and requests.
    ///
    /// Each is shown once: what the terminal UI showed is not new here
    /// either, and what this prints counts as read.
    Inbox {
        /// Wait up to this long for new messages when there are none:
        /// seconds, or 30s, 5m, 1h.
        #[arg(long, value_name = "DURATION", default_value = "0", value_parser = parse_wait)]
        wait: Duration,
        /// One JSON object per line: id, from, text, sent_at (sender's clock,
        /// unix ms), received_at (this device's, unix ms), request, and
        /// attachment {id, name, type, size, state} or location {lat, lon,
        /// label} when the message carries one; group (its id) for a
        /// message in a group.
        #[arg(long)]
        json: bool,
    },
    /// Show a conversation with each message's direction, time and state.
    ///
    /// States: queued, sent, delivered, read (yours); new or read (theirs).
    /// Its new messages count as read once shown.
    History {
        /// Account ID, nickname or display name; or a group's name or id.
        contact: String,
        /// Only the last N messages.
        #[arg(long, value_name = "N", default_value_t = 50)]
        limit: usize,
        /// One JSON object per line: id, direction, text, sent_at,
        /// received_at, state, expires_at.
        #[arg(long)]
        json: bool,
    },
    /// Delete one of your messages for everyone.
    ///
    /// Here at once and on the recipient's device once it gets the notice;
    /// the id is the one `send` or `history` printed.
    Delete {
        /// The message id (32 hex digits).
        id: String,
        /// How long to wait for the network to take the deletion (it stays
        /// queued otherwise): seconds, or 30s, 5m.
        #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_wait)]
        timeout: Duration,
    },
    /// Messages from people who are not your contacts.
    #[command(subcommand)]
    Requests(RequestsCmd),
    /// Group conversations (up to 1,000 members, end-to-end encrypted with
    /// MLS); `send GROUP TEXT` writes to one, `inbox` shows them.
    #[command(subcommand)]
    Group(GroupCmd),
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
        /// How long to wait for a path to be ready: seconds, or 30s, 5m.
        #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_wait)]
        wait: Duration,
    },
    /// Open the terminal chat UI.
    Chat,
    /// Open the desktop app: a local web server and your browser.
    App {
        /// Where to listen (loopback only: 127.0.0.1:PORT or [::1]:PORT;
        /// port 0 picks a free one).
        #[arg(long, value_name = "ADDR", default_value = crate::web::DEFAULT_LISTEN)]
        listen: String,
        /// Only print the address; do not start a browser.
        #[arg(long)]
        no_open: bool,
    },
}

/// `contacts …`.
#[derive(Debug, Clone, Subcommand)]
pub enum ContactsCmd {
    /// Add a contact by account ID (an existing one is left as it is:
    /// use `rename` to change its name).
    Add {
        /// The contact's account ID (sotto1…).
        id: String,
        /// Your name for them.
        #[arg(long, value_name = "N")]
        name: Option<String>,
    },
    /// Change your name for a contact.
    Rename {
        /// Account ID, nickname or display name.
        contact: String,
        /// The new name (empty to clear it).
        name: String,
    },
    /// Remove a contact (the conversation stays; their messages become
    /// requests again).
    Remove {
        /// Account ID, nickname or display name.
        contact: String,
    },
    /// List contacts.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
}

/// `group …`.
#[derive(Debug, Clone, Subcommand)]
pub enum GroupCmd {
    /// Create a group with you as its admin, and invite its first members.
    ///
    /// Each member must have run sotto online once (their key package is
    /// published then). Contacts join at once; others see the invitation
    /// in `sotto group invites`.
    Create {
        /// The group's name (at most 128 bytes).
        name: String,
        /// A member: account ID, nickname or display name (repeat it).
        #[arg(long = "member", value_name = "ID")]
        members: Vec<String>,
        /// How long to wait for the invitations to leave: seconds, or 30s, 5m.
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_wait)]
        timeout: Duration,
    },
    /// Add members (admins only).
    Add {
        /// The group's name or id.
        group: String,
        /// Account IDs, nicknames or display names.
        #[arg(required = true, value_name = "ID")]
        members: Vec<String>,
        /// How long to wait for the change to settle: seconds, or 30s, 5m.
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_wait)]
        timeout: Duration,
    },
    /// Remove members (admins only): they cannot read anything sent after.
    Remove {
        /// The group's name or id.
        group: String,
        /// Account IDs, nicknames or display names.
        #[arg(required = true, value_name = "ID")]
        members: Vec<String>,
        /// How long to wait for the change to settle: seconds, or 30s, 5m.
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_wait)]
        timeout: Duration,
    },
    /// Leave a group (an admin's client removes you; the last admin must
    /// promote someone first).
    Leave {
        /// The group's name or id.
        group: String,
        /// How long to wait for the request to be stored: seconds, or 30s.
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_wait)]
        timeout: Duration,
    },
    /// Ask the admins to add you again: for a group you fell behind in
    /// (away longer than its changes are kept, 30 days). Done by itself
    /// after such an absence; the first admin online answers.
    Rejoin {
        /// The group's name or id.
        group: String,
    },
    /// Rename a group (admins only).
    Rename {
        /// The group's name or id.
        group: String,
        /// The new name (at most 128 bytes).
        name: String,
        /// How long to wait for the change to settle: seconds, or 30s, 5m.
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_wait)]
        timeout: Duration,
    },
    /// Make a member an admin (admins only).
    Promote {
        /// The group's name or id.
        group: String,
        /// The member: account ID, nickname or display name.
        member: String,
        /// How long to wait for the change to settle: seconds, or 30s, 5m.
        #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_wait)]
        timeout: Duration,
    },
    /// Turn read receipts and typing notices on or off for a group (both
    /// off by default: in a big group each would be read by every member).
    Set {
        /// The group's name or id.
        group: String,
        /// Send read receipts there and see who read yours: on or off.
        #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
        receipts: Option<bool>,
        /// Send typing notices there and see others': on or off.
        #[arg(long, value_name = "on|off", value_parser = parse_on_off)]
        typing: Option<bool>,
    },
    /// List your groups.
    List {
        /// One JSON object per line: id, name, members, admins, epoch.
        #[arg(long)]
        json: bool,
    },
    /// Show a group: its id, epoch, members and admins.
    Info {
        /// The group's name or id.
        group: String,
        /// One JSON object: id, name, epoch, members [{id, name, admin}].
        #[arg(long)]
        json: bool,
    },
    /// Invitations from people who are not your contacts.
    Invites {
        /// One JSON object per line: id, from, received_at.
        #[arg(long)]
        json: bool,
    },
    /// Accept an invitation: you join the group.
    Accept {
        /// The invitation's id, as `group invites` shows it.
        id: String,
    },
    /// Decline an invitation: it is dropped.
    Decline {
        /// The invitation's id, as `group invites` shows it.
        id: String,
    },
}

/// `requests …`.
#[derive(Debug, Clone, Subcommand)]
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
    /// Unblock: their future messages arrive again (as requests unless
    /// they are a contact).
    Unblock {
        /// The account ID.
        id: String,
    },
}

/// `disappear CONTACT …`.
#[derive(Debug, Clone, Subcommand, PartialEq, Eq)]
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

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" => Ok(true),
        "off" | "no" | "false" => Ok(false),
        _ => Err(format!("{s:?}: say on or off")),
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    crate::duration::parse(s)
}

fn parse_wait(s: &str) -> Result<Duration, String> {
    crate::duration::parse_wait(s)
}

/// Seconds (`12`, `12.5`) as whole milliseconds, at least 1 and at most 24 h.
fn parse_secs_ms(s: &str) -> Result<u32, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    let ms = (secs * 1000.0).round();
    if !(1.0..=86_400_000.0).contains(&ms) {
        return Err(format!(
            "{s} seconds: a voice note lasts at least 1 ms and at most 24 h"
        ));
    }
    Ok(ms as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;
    use std::path::Path;

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
            Command::Inbox { wait, json: true } if wait.is_zero()
        ));
        let c = parse(&["--bootstrap", "b.txt", "id", "--qr"]).unwrap();
        assert_eq!(c.global.bootstrap.as_deref(), Some("b.txt"));
        assert!(matches!(c.command, Command::Id { qr: true }));
    }

    #[test]
    fn attachment_commands() {
        let c = parse(&["send-file", "bob", "a b.pdf", "--caption", "the draft"]).unwrap();
        match c.command {
            Command::SendFile {
                contact,
                path,
                caption,
                voice,
                duration,
                timeout,
            } => {
                assert_eq!(contact, "bob");
                assert_eq!(path, PathBuf::from("a b.pdf"));
                assert_eq!(caption.as_deref(), Some("the draft"));
                assert_eq!((voice, duration), (false, None));
                assert_eq!(timeout, Duration::from_secs(60));
            }
            other => panic!("{other:?}"),
        }
        let voice = |args: &[&str]| match parse(args).map(|c| c.command) {
            Ok(Command::SendFile {
                voice, duration, ..
            }) => Ok((voice, duration)),
            Ok(other) => panic!("{other:?}"),
            Err(e) => Err(e.kind()),
        };
        assert_eq!(
            voice(&["send-file", "bob", "m.wav", "--voice"]),
            Ok((true, None))
        );
        assert_eq!(
            voice(&["send-file", "bob", "m.ogg", "--voice", "--duration", "12.5"]),
            Ok((true, Some(12_500)))
        );
        assert_eq!(
            voice(&["send-file", "bob", "--duration=3", "--voice", "m.ogg"]),
            Ok((true, Some(3_000)))
        );
        // A duration alone, or one that is no length, is refused.
        assert_eq!(
            voice(&["send-file", "bob", "m.ogg", "--duration", "3"]),
            Err(clap::error::ErrorKind::MissingRequiredArgument)
        );
        for bad in ["0", "abc", "86401", "NaN", "inf", "0.0001"] {
            assert_eq!(
                voice(&["send-file", "bob", "m.ogg", "--voice", "--duration", bad]),
                Err(clap::error::ErrorKind::ValueValidation),
                "{bad}"
            );
        }
        // Southern and western coordinates are numbers, not options.
        let c = parse(&[
            "send-location",
            "bob",
            "-33.8568",
            "-151.2",
            "--label",
            "Quay",
        ])
        .unwrap();
        match c.command {
            Command::SendLocation {
                lat, lon, label, ..
            } => {
                assert_eq!((lat, lon), (-33.8568, -151.2));
                assert_eq!(label.as_deref(), Some("Quay"));
            }
            other => panic!("{other:?}"),
        }
        assert!(parse(&["send-location", "bob", "north", "1"]).is_err());
        let c = parse(&["save", "ab", "--to", "/tmp/x"]).unwrap();
        assert!(matches!(
            c.command,
            Command::Save { id, to: Some(to) } if id == "ab" && to == Path::new("/tmp/x")
        ));
        assert!(matches!(
            parse(&["save", "ab"]).unwrap().command,
            Command::Save { to: None, .. }
        ));
        assert!(parse(&["send-file", "bob"]).is_err());
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

    /// Issue 11, item 9: every wait takes bare seconds and units alike.
    #[test]
    fn waits_take_seconds_or_units() {
        let wait_of = |args: &[&str]| match parse(args).unwrap().command {
            Command::Inbox { wait, .. } | Command::Paths { wait } => wait,
            Command::Send { timeout, .. } | Command::Delete { timeout, .. } => timeout,
            other => panic!("{other:?}"),
        };
        for (bare, unit) in [("30", "30s"), ("300", "5m")] {
            for cmd in [
                vec!["inbox", "--wait"],
                vec!["paths", "--wait"],
                vec!["send", "bob", "hi", "--timeout"],
                vec!["delete", "00", "--timeout"],
            ] {
                let with = |v: &str| {
                    let mut a = cmd.clone();
                    a.push(v);
                    wait_of(&a)
                };
                assert_eq!(with(bare), with(unit), "{cmd:?}");
            }
        }
        assert!(parse(&["inbox", "--wait", "soon"]).is_err());
    }

    #[test]
    fn inbox_help_names_every_json_field() {
        let mut cmd = Cli::command();
        let help = cmd
            .find_subcommand_mut("inbox")
            .unwrap()
            .render_long_help()
            .to_string();
        for field in ["id", "from", "text", "sent_at", "received_at", "request"] {
            assert!(help.contains(field), "{field} missing from:\n{help}");
        }
    }

    #[test]
    fn init_flags() {
        let c = parse(&["init", "--name", "Alice", "--encrypt"]).unwrap();
        assert!(
            matches!(c.command, Command::Init { ref name, encrypt: true } if name.as_deref() == Some("Alice"))
        );
    }
}
