//! What the web server shares between requests: the guard, where the home
//! is, and whether an account is open yet.

use std::sync::{Arc, Mutex};

use sotto_client::ClientConfig;
use sotto_client::chat::{ChatError, HomeOptions, Messenger};
use tokio::sync::RwLock;

use super::security::Guard;

/// Where the app is in its life.
pub enum Phase {
    /// The home holds no account: the first-start screen.
    Setup,
    /// The home is encrypted and no passphrase was given yet.
    Locked,
    /// The account is open.
    Ready(Messenger),
}

impl Phase {
    /// The name the page sees.
    pub fn name(&self) -> &'static str {
        match self {
            Phase::Setup => "setup",
            Phase::Locked => "locked",
            Phase::Ready(_) => "ready",
        }
    }
}

/// Shared by every request.
pub struct Shared {
    /// Host, Origin and session checks.
    pub guard: Guard,
    /// The home directory, and the passphrase from SOTTO_PASSPHRASE if set.
    pub home: HomeOptions,
    /// How to reach the network, or why it cannot be.
    pub config: Result<ClientConfig, String>,
    /// Setup, locked or ready.
    pub phase: RwLock<Phase>,
    /// Why the network is out of reach, if it is.
    pub offline: Mutex<Option<String>>,
}

impl Shared {
    /// The open account, if there is one.
    pub async fn messenger(&self) -> Option<Messenger> {
        match &*self.phase.read().await {
            Phase::Ready(m) => Some(m.clone()),
            _ => None,
        }
    }

    /// The reason the network is out of reach, if any.
    pub fn offline(&self) -> Option<String> {
        match self.offline.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn set_offline(&self, why: Option<String>) {
        match self.offline.lock() {
            Ok(mut g) => *g = why,
            Err(p) => *p.into_inner() = why,
        }
    }

    /// Makes `m` the open account and connects it in the background.
    pub async fn become_ready(self: &Arc<Self>, m: Messenger) {
        *self.phase.write().await = Phase::Ready(m.clone());
        let config = match &self.config {
            Ok(c) => c.clone(),
            Err(e) => {
                self.set_offline(Some(e.clone()));
                return;
            }
        };
        let me = self.clone();
        tokio::spawn(async move {
            if let Err(e) = m.connect(config).await {
                me.set_offline(Some(format!("cannot reach the network: {e}")));
            }
        });
    }
}

/// Opens the account in the home: `Ok(None)` when there is none yet.
pub fn open_home(opts: &HomeOptions) -> Result<Option<Messenger>, ChatError> {
    match Messenger::open(opts) {
        Ok(m) => Ok(Some(m)),
        Err(ChatError::NoAccount { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
