//! Carrying out one command: settings, unlocking the home, reaching the
//! network, and calling the chat library.

/// Writes a line to stdout; a closed pipe (`sotto inbox | head`) ends the
/// command quietly instead of panicking as `println!` would.
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($t)*).map_err($crate::app::AppError::from)?;
    }};
}

mod account;
pub mod error;
mod history;
mod logging;
mod messages;
pub mod output;
mod passphrase;
mod people;
mod progress;

use std::io::IsTerminal;
use std::path::Path;
use std::time::Duration;

use sotto_client::chat::{ChatError, HomeOptions, Messenger};
use sotto_client::{AccountId, ClientConfig};

pub use error::AppError;

use crate::cli::{Cli, Command};
use crate::config::{self, Flags, Resolved};

/// How long a command waits for the library to stop its tasks on the way out.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Everything a command needs besides its own arguments.
pub struct Ctx {
    /// Settings after precedence.
    pub settings: Resolved,
}

impl Ctx {
    /// Where the home is and how to unlock it (SOTTO_PASSPHRASE if set).
    pub fn home_options(&self) -> HomeOptions {
        HomeOptions {
            home: self.settings.home.clone(),
            passphrase: std::env::var("SOTTO_PASSPHRASE")
                .ok()
                .filter(|p| !p.is_empty()),
        }
    }

    /// Opens the account; when the home is sealed and no passphrase was set in
    /// the environment, asks for it on the terminal.
    pub fn open(&self) -> Result<Messenger, AppError> {
        let mut opts = self.home_options();
        match Messenger::open(&opts) {
            Err(ChatError::WrongPassphrase)
                if opts.passphrase.is_none() && std::io::stdin().is_terminal() =>
            {
                opts.passphrase = Some(passphrase::prompt("Passphrase: ")?);
                Ok(Messenger::open(&opts)?)
            }
            Err(ChatError::WrongPassphrase) if opts.passphrase.is_none() => Err(AppError::Usage(
                "this home is encrypted: set SOTTO_PASSPHRASE or run sotto in a terminal to be asked"
                    .into(),
            )),
            other => Ok(other?),
        }
    }

    /// The network client's configuration; refuses when no bootstrap node is
    /// known, since the client could never find the network.
    pub fn client_config(&self) -> Result<ClientConfig, AppError> {
        if self.settings.bootstrap.is_empty() {
            return Err(AppError::Usage(
                "no bootstrap node known: pass --bootstrap MULTIADDR|FILE, set SOTTO_BOOTSTRAP, \
                 or add `bootstrap = [...]` to config.toml in your home"
                    .into(),
            ));
        }
        let mut c = ClientConfig::new(
            self.settings.params.clone(),
            self.settings.bootstrap.clone(),
        );
        c.state_dir = Some(self.settings.home.clone());
        Ok(c)
    }

    /// Opens the account and connects it to the network.
    pub async fn connected(&self) -> Result<Messenger, AppError> {
        let config = self.client_config()?;
        let m = self.open()?;
        if let Err(e) = m.connect(config).await {
            return Err(AppError::Network(format!("cannot reach the network: {e}")));
        }
        Ok(m)
    }
}

/// The account a CONTACT argument names: an account ID, or a contact's
/// nickname or display name. Something that looks like an ID but does not
/// parse is explained as one (a typo breaks the checksum) rather than
/// reported as an unknown name.
pub fn resolve(m: &Messenger, who: &str) -> Result<AccountId, AppError> {
    let t = who.trim();
    if t.len() > 6
        && t.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("sotto1"))
        && let Err(e) = t.parse::<AccountId>()
    {
        return Err(AppError::Usage(format!("{t:?} is not an account ID: {e}")));
    }
    Ok(m.resolve(who)?)
}

/// Stops the library's tasks, bounded in time (queued work stays queued).
pub async fn close(m: &Messenger) {
    if tokio::time::timeout(SHUTDOWN_GRACE, m.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("shutdown took longer than {SHUTDOWN_GRACE:?}; leaving anyway");
    }
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> Result<(), AppError> {
    let flags = Flags {
        home: cli.global.home.clone(),
        network: cli.global.network.clone(),
        bootstrap: cli.global.bootstrap.clone(),
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| Path::new(".").to_path_buf());
    let env = |k: &str| std::env::var(k).ok();
    let settings = config::resolve(&flags, &env, &cwd)?;
    logging::init(&settings.home, &settings.log);
    let ctx = Ctx { settings };
    match cli.command {
        Command::Init { name, encrypt } => account::init(&ctx, name.as_deref(), encrypt).await,
        Command::Restore { name, encrypt } => {
            account::restore(&ctx, name.as_deref(), encrypt).await
        }
        Command::Id { qr } => account::id(&ctx, qr),
        Command::Contacts(c) => people::contacts(&ctx, c),
        Command::Requests(r) => people::requests(&ctx, r).await,
        Command::Verify { contact, mark } => people::verify(&ctx, &contact, mark),
        Command::Disappear { contact, mode } => people::disappear(&ctx, &contact, mode).await,
        Command::Send {
            contact,
            text,
            timeout,
        } => messages::send(&ctx, &contact, &text, timeout).await,
        Command::Inbox { wait, json } => messages::inbox(&ctx, wait, json).await,
        Command::History {
            contact,
            limit,
            json,
        } => history::history(&ctx, &contact, limit, json).await,
        Command::Delete { id, timeout } => history::delete(&ctx, &id, timeout).await,
        Command::Paths { wait } => messages::paths(&ctx, wait).await,
        Command::Chat => crate::tui::run::run(&ctx).await,
    }
}
