//! Carrying out one command: settings, unlocking the home, reaching the
//! network, and calling the chat library.

/// Writes a line to the command's stdout ([`console::out`]: this process's,
/// or the client's when served over the local socket); a closed pipe
/// (`sotto inbox | head`) ends the command quietly instead of panicking as
/// `println!` would.
macro_rules! say {
    () => {{
        $crate::app::console::out(format_args!(""))?;
    }};
    ($($t:tt)*) => {{
        $crate::app::console::out(format_args!($($t)*))?;
    }};
}

mod account;
mod attach;
pub mod console;
pub mod error;
mod groups;
mod history;
pub mod local;
mod logging;
mod messages;
pub mod output;
mod passphrase;
mod people;
mod progress;

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use sotto_client::chat::{ChatError, HomeOptions, Messenger};
use sotto_client::{AccountId, ClientConfig};

pub use error::AppError;

use crate::cli::{Cli, Command};
use crate::config::{self, Flags, Resolved};

/// How long a command waits for the library to stop its tasks on the way out.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// How long a command that finds its home held keeps trying when the holder
/// does not answer on the socket (it is just starting, or closing).
const HOLDER_PATIENCE: Duration = Duration::from_secs(10);
/// Pause between those tries.
const HOLDER_RETRY: Duration = Duration::from_millis(100);

/// Everything a command needs besides its own arguments.
pub struct Ctx {
    /// Settings after precedence.
    pub settings: Resolved,
    /// Set when the command runs for a client of the local socket: the
    /// holder's messenger, and the network the client's settings name.
    lent: Option<(Messenger, String)>,
    /// This process's local socket, while it holds the home.
    server: Mutex<Option<local::server::Server>>,
}

impl Ctx {
    /// A command run by this process for itself.
    pub fn new(settings: Resolved) -> Self {
        Self {
            settings,
            lent: None,
            server: Mutex::new(None),
        }
    }

    /// A command run for a client over the local socket, on `messenger`
    /// (which this process holds): it neither opens nor closes the home.
    pub(crate) fn served(settings: Resolved, messenger: Messenger, network: String) -> Self {
        Self {
            settings,
            lent: Some((messenger, network)),
            server: Mutex::new(None),
        }
    }

    /// Serves the home's local socket for `m` until [`Ctx::stop_serving`];
    /// a failure only means other commands cannot share the home.
    pub(crate) fn serve(&self, m: &Messenger) {
        match local::server::Server::start(&self.settings, m.clone()) {
            Ok(server) => {
                let old = match self.server.lock() {
                    Ok(mut s) => s.replace(server),
                    Err(p) => p.into_inner().replace(server),
                };
                if let Some(old) = old {
                    tokio::spawn(old.stop());
                }
            }
            Err(e) => tracing::warn!("other sotto commands cannot share this home: {e}"),
        }
    }

    /// Stops serving the local socket (commands in progress for clients
    /// get a bounded time to finish).
    pub async fn stop_serving(&self) {
        let server = match self.server.lock() {
            Ok(mut s) => s.take(),
            Err(p) => p.into_inner().take(),
        };
        if let Some(s) = server {
            s.stop().await;
        }
    }

    /// Connects `m` to the network, unless it already is (a served command
    /// shares the holder's connection; the holder's own command may find a
    /// served one connected it).
    pub async fn connect(&self, m: &Messenger, config: ClientConfig) -> Result<(), ChatError> {
        match m.connect(config).await {
            Ok(()) | Err(ChatError::AlreadyConnected) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Done with `m`: stops serving other commands, then the library's tasks
    /// (bounded in time). A served command leaves the holder's messenger be.
    pub async fn close(&self, m: &Messenger) {
        if self.lent.is_some() {
            return;
        }
        self.stop_serving().await;
        close(m).await;
    }

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
        if let Some((m, _)) = &self.lent {
            return Ok(m.clone());
        }
        let m = self.open_home()?;
        self.serve(&m);
        Ok(m)
    }

    fn open_home(&self) -> Result<Messenger, AppError> {
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
        if let Some((_, wanted)) = &self.lent
            && *wanted != self.settings.params.name
        {
            return Err(AppError::Usage(format!(
                "this home is open in sotto process {} on network {:?}, not {wanted:?}: \
                 use its network, or close it first",
                std::process::id(),
                self.settings.params.name
            )));
        }
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
        if let Err(e) = self.connect(&m, config).await {
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

/// What a CONTACT argument of `send` or `history` names.
pub enum Target {
    /// A contact or account.
    Contact(AccountId),
    /// A group.
    Group(sotto_client::group::GroupInfo),
}

/// The contact or group `who` names (see [`resolve`] and
/// `Messenger::group`); a name that fits both is refused as ambiguous.
pub fn target(m: &Messenger, who: &str) -> Result<Target, AppError> {
    match (resolve(m, who), m.group(who)) {
        (Ok(c), Err(_)) => Ok(Target::Contact(c)),
        (Err(_), Ok(g)) => Ok(Target::Group(g)),
        (Ok(_), Ok(_)) => Err(AppError::Usage(format!(
            "{who:?} names both a contact and a group: use the account ID or the group's id"
        ))),
        (Err(AppError::Chat(ChatError::UnknownContact(_))), Err(ChatError::UnknownGroup(_))) => {
            Err(AppError::Usage(format!(
                "no contact, account ID or group matches {who:?}"
            )))
        }
        (Err(e), _) => Err(e),
    }
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

/// Runs one parsed command line. When another `sotto` process holds the
/// home, the command runs through it ([`local`]), or, if it needs the home
/// to itself, fails naming that process.
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
    let ctx = Ctx::new(settings);
    let kind = local::Kind::of(&cli.command);
    let deadline = tokio::time::Instant::now() + HOLDER_PATIENCE;
    loop {
        // Every command opens the home before it prints or changes
        // anything, so finding it held means nothing happened yet.
        let result = dispatch(&ctx, cli.command.clone()).await;
        ctx.stop_serving().await;
        let Err(AppError::Chat(ChatError::Locked { .. })) = &result else {
            return result;
        };
        let home = &ctx.settings.home;
        if let local::Kind::Exclusive(what) = kind {
            return match local::client::holder_pid(home).await {
                Some(pid) => Err(AppError::Held(format!(
                    "{} is open in sotto process {pid}: {what} cannot run beside it (other sotto commands run through it); close it first",
                    home.display()
                ))),
                None => result,
            };
        }
        let argv = std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let argv = attach::absolute_paths(&cli.command, argv, &cwd);
        match local::client::forward(&ctx.settings, argv).await? {
            local::client::Reach::Ran(r) => return r,
            local::client::Reach::NoHolder if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(HOLDER_RETRY).await;
            }
            local::client::Reach::NoHolder => return result,
        }
    }
}

/// Carries out one command (for this process, or for a client of the
/// local socket when `ctx` is a served one).
pub(crate) async fn dispatch(ctx: &Ctx, command: Command) -> Result<(), AppError> {
    match command {
        Command::Init { name, encrypt } => account::init(ctx, name.as_deref(), encrypt).await,
        Command::Restore { name, encrypt } => account::restore(ctx, name.as_deref(), encrypt).await,
        Command::Id { qr } => account::id(ctx, qr),
        Command::Contacts(c) => people::contacts(ctx, c),
        Command::Requests(r) => people::requests(ctx, r).await,
        Command::Group(g) => groups::group(ctx, g).await,
        Command::Verify { contact, mark } => people::verify(ctx, &contact, mark),
        Command::Disappear { contact, mode } => people::disappear(ctx, &contact, mode).await,
        Command::Send {
            contact,
            text,
            timeout,
        } => messages::send(ctx, &contact, &text, timeout).await,
        Command::SendFile {
            contact,
            path,
            caption,
            voice,
            duration,
            timeout,
        } => {
            let voice = voice.then_some(attach::Voice {
                duration_ms: duration,
            });
            attach::send_file(ctx, &contact, &path, caption, voice, timeout).await
        }
        Command::SendLocation {
            contact,
            lat,
            lon,
            label,
            timeout,
        } => attach::send_location(ctx, &contact, (lat, lon), label, timeout).await,
        Command::Save { id, to } => attach::save(ctx, &id, to.as_deref()).await,
        Command::Inbox { wait, json } => messages::inbox(ctx, wait, json).await,
        Command::History {
            contact,
            limit,
            json,
        } => history::history(ctx, &contact, limit, json).await,
        Command::Delete { id, timeout } => history::delete(ctx, &id, timeout).await,
        Command::Paths { wait } => messages::paths(ctx, wait).await,
        Command::Chat => crate::tui::run::run(ctx).await,
        Command::App { listen, no_open } => crate::web::run(ctx, &listen, no_open).await,
    }
}
