//! The home's local socket: while one `sotto` process holds a home (the
//! store allows one at a time), other `sotto` commands on that home run
//! through it instead of failing.
//!
//! The holder serves a Unix domain socket, `HOME/sotto.sock` (mode 0600, in
//! the owner-only home), from the moment it opens the home until it closes
//! it. A second command that finds the home locked connects, sends its
//! command line ([`frame::Request`]) and gets back its output and exit code
//! ([`frame::Reply`]), which it prints as its own: the holder parses the
//! command line again and carries it out over the `Messenger` it already
//! has, so a passphrase is not asked for again.
//!
//! Who may connect: both ends check the other's uid with `SO_PEERCRED` and
//! refuse any but their own; the client also refuses a socket that is not
//! its own or is open to others. Every frame is size-checked before it is
//! decoded; the holder serves a bounded number of clients at once, drops one
//! that says nothing within a timeout, and writes nothing to its own
//! terminal for them.
//!
//! - [`frame`]: the messages and their framing.
//! - [`server`]: the holder's side.
//! - [`client`]: the side of the command that found the home held.

pub mod client;
pub mod frame;
pub mod server;

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::cli::Command;

/// The socket's file name in the home.
pub const SOCKET_NAME: &str = "sotto.sock";

/// Where a home's socket is.
pub fn socket_path(home: &Path) -> PathBuf {
    home.join(SOCKET_NAME)
}

/// This process's effective uid: the only one allowed at either end.
pub fn my_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Whether a command can run through the holder, or needs the home for
/// itself (and what to call it in the refusal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Runs through the holder.
    Shared,
    /// Needs the home to itself: a second terminal UI, or making the account.
    Exclusive(&'static str),
}

impl Kind {
    /// What `command` is.
    pub fn of(command: &Command) -> Kind {
        match command {
            Command::Chat => Kind::Exclusive("a second terminal UI"),
            Command::Init { .. } => Kind::Exclusive("sotto init"),
            Command::Restore { .. } => Kind::Exclusive("sotto restore"),
            Command::App { .. } => Kind::Exclusive("the desktop app"),
            Command::Id { .. }
            | Command::Contacts(_)
            | Command::Send { .. }
            | Command::SendFile { .. }
            | Command::SendLocation { .. }
            | Command::Save { .. }
            | Command::Inbox { .. }
            | Command::History { .. }
            | Command::Delete { .. }
            | Command::Requests(_)
            | Command::Group(_)
            | Command::Verify { .. }
            | Command::Disappear { .. }
            | Command::Paths { .. } => Kind::Shared,
        }
    }
}

/// Why the home's socket is not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unsafe {
    /// Something other than a socket has the name.
    #[error("{} is not a socket: refusing to use it (move it away)", .0.display())]
    NotASocket(PathBuf),
    /// The socket belongs to another user.
    #[error("{} belongs to uid {owner}, not to you (uid {me}): refusing to use it", path.display())]
    Owner {
        /// The socket.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Us.
        me: u32,
    },
    /// Others may connect to the socket.
    #[error(
        "{} has mode {mode:o}, open to other users: refusing to use it (it must be 600; the sotto process holding the home makes it so)",
        path.display()
    )]
    Mode {
        /// The socket.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The home cannot be looked at.
    #[error("cannot look at {}: {reason}", path.display())]
    Unreadable {
        /// The home.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The home itself is open to others.
    #[error("{} has mode {mode:o}, open to other users: not serving other sotto commands from it (chmod 700 it)", path.display())]
    Home {
        /// The home.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
}

/// Checks a socket's type, owner and mode before connecting to it.
pub fn check_socket(path: &Path, meta: &std::fs::Metadata) -> Result<(), Unsafe> {
    if !meta.file_type().is_socket() {
        return Err(Unsafe::NotASocket(path.to_path_buf()));
    }
    owner_only(path, meta, |mode| Unsafe::Mode {
        path: path.to_path_buf(),
        mode,
    })
}

/// Checks that the home is ours and closed to others before serving in it.
pub fn check_home(home: &Path) -> Result<(), Unsafe> {
    let meta = std::fs::metadata(home).map_err(|e| Unsafe::Unreadable {
        path: home.to_path_buf(),
        reason: e.to_string(),
    })?;
    owner_only(home, &meta, |mode| Unsafe::Home {
        path: home.to_path_buf(),
        mode,
    })
}

fn owner_only(
    path: &Path,
    meta: &std::fs::Metadata,
    wide: impl FnOnce(u32) -> Unsafe,
) -> Result<(), Unsafe> {
    let me = my_uid();
    if meta.uid() != me {
        return Err(Unsafe::Owner {
            path: path.to_path_buf(),
            owner: meta.uid(),
            me,
        });
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(wide(mode));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn only_an_owner_only_socket_is_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = socket_path(dir.path());
        let _l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(check_socket(&path, &meta), Ok(()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o660)).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let e = check_socket(&path, &meta).unwrap_err();
        assert!(matches!(e, Unsafe::Mode { mode: 0o660, .. }), "{e}");
        assert!(e.to_string().contains("mode 660"), "{e}");
        let file = dir.path().join("plain");
        std::fs::write(&file, b"").unwrap();
        let meta = std::fs::symlink_metadata(&file).unwrap();
        assert!(matches!(
            check_socket(&file, &meta),
            Err(Unsafe::NotASocket(_))
        ));
    }

    #[test]
    fn a_home_open_to_others_is_not_served_from() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(check_home(dir.path()), Ok(()));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(
            check_home(dir.path()),
            Err(Unsafe::Home { mode: 0o755, .. })
        ));
    }
}
