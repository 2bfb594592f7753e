//! Where the app's settings come from: flags, then `SOTTO_*` environment
//! variables, then the home's `config.toml`, then defaults.

use std::path::{Path, PathBuf};

use libp2p::Multiaddr;
use serde::{Deserialize, Serialize};
use sotto_protocol::NetworkParams;

/// Name of the settings file inside the home.
pub const CONFIG_FILE: &str = "config.toml";
/// Largest settings, network or bootstrap file read: these are a few lines,
/// so anything bigger is a mistake (or not a text file at all).
pub const MAX_FILE_BYTES: u64 = 64 * 1024;
/// Most bootstrap addresses kept; the client only needs a few to start.
pub const MAX_BOOTSTRAP: usize = 64;
/// Network used when nothing says otherwise.
pub const DEFAULT_NETWORK: &str = "public";

/// A settings problem, worded for the person who has to fix it.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// No home was given and neither XDG_DATA_HOME nor HOME is set.
    #[error("cannot tell where to keep your data: set --home DIR or SOTTO_HOME")]
    NoHome,
    /// A file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The home's config.toml is not valid.
    #[error("{path} is not a valid settings file: {reason}")]
    File {
        /// The file.
        path: String,
        /// What the parser said.
        reason: String,
    },
    /// The network is neither a preset nor a usable parameters file.
    #[error("network {name:?}: {reason}")]
    Network {
        /// What was given.
        name: String,
        /// Why it is unusable.
        reason: String,
    },
    /// A bootstrap address does not parse or has no `/p2p/` part.
    #[error("bootstrap address {addr:?}: {reason}")]
    Bootstrap {
        /// What was given.
        addr: String,
        /// What is wrong.
        reason: String,
    },
}

/// The home's `config.toml`. Every key may be left out; flags and
/// environment variables win over it. `config.example.toml` lists each key
/// at its default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Network preset (`public`, `devnet`) or a parameters file, relative to
    /// the home. Default: `public`.
    pub network: String,
    /// Bootstrap multiaddrs (each ending in `/p2p/<peer id>`). Default: none.
    pub bootstrap: Vec<String>,
    /// Log filter for HOME/sotto.log, like `RUST_LOG`. Default: `info`.
    pub log: String,
}

impl Default for FileConfig {
    fn default() -> Self {
        Self {
            network: DEFAULT_NETWORK.to_string(),
            bootstrap: Vec::new(),
            log: "info".to_string(),
        }
    }
}

/// What the command line said about settings (absent = not given).
#[derive(Debug, Clone, Default)]
pub struct Flags {
    /// `--home`.
    pub home: Option<PathBuf>,
    /// `--network`.
    pub network: Option<String>,
    /// `--bootstrap`.
    pub bootstrap: Option<String>,
}

/// Settings after every source has been weighed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// The home directory.
    pub home: PathBuf,
    /// The network's parameters.
    pub params: NetworkParams,
    /// Bootstrap addresses (possibly empty: only network commands need them).
    pub bootstrap: Vec<Multiaddr>,
    /// Log filter.
    pub log: String,
}

/// The home when neither `--home` nor SOTTO_HOME is given:
/// `$XDG_DATA_HOME/sotto`, else `$HOME/.local/share/sotto`.
pub fn default_home(env: &dyn Fn(&str) -> Option<String>) -> Result<PathBuf, ConfigError> {
    if let Some(x) = env("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(x).join("sotto"));
    }
    env("HOME")
        .filter(|v| !v.is_empty())
        .map(|h| PathBuf::from(h).join(".local/share/sotto"))
        .ok_or(ConfigError::NoHome)
}

/// Reads a small text file, refusing big ones before reading them.
pub fn read_small(path: &Path) -> Result<String, ConfigError> {
    let err = |reason: String| ConfigError::Read {
        path: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(err(format!(
            "it is {} bytes; at most {MAX_FILE_BYTES} are expected",
            meta.len()
        )));
    }
    std::fs::read_to_string(path).map_err(|e| err(e.to_string()))
}

/// Loads HOME/config.toml; a missing file is the empty config.
pub fn load_file(home: &Path) -> Result<FileConfig, ConfigError> {
    let path = home.join(CONFIG_FILE);
    if !path.exists() {
        return Ok(FileConfig::default());
    }
    let text = read_small(&path)?;
    toml::from_str(&text).map_err(|e| ConfigError::File {
        path: path.display().to_string(),
        reason: e.message().to_string(),
    })
}

/// A network preset by name, or else a parameters file (relative paths are
/// taken from `base`).
pub fn network(name: &str, base: &Path) -> Result<NetworkParams, ConfigError> {
    let name = name.trim();
    let err = |reason: String| ConfigError::Network {
        name: name.to_string(),
        reason,
    };
    let params = match NetworkParams::preset(name) {
        Ok(p) => p,
        Err(_) => {
            let text = read_small(&base.join(name)).map_err(|e| {
                err(format!(
                    "neither a preset (\"public\", \"devnet\") nor a readable file ({e})"
                ))
            })?;
            toml::from_str::<NetworkParams>(&text).map_err(|e| err(e.message().to_string()))?
        }
    };
    params.validate().map_err(|e| err(e.to_string()))?;
    Ok(params)
}

/// One bootstrap multiaddr; it must name its node (`/p2p/<peer id>`).
pub fn bootstrap_addr(text: &str) -> Result<Multiaddr, ConfigError> {
    let err = |reason: &str| ConfigError::Bootstrap {
        addr: text.to_string(),
        reason: reason.to_string(),
    };
    let addr: Multiaddr = text
        .trim()
        .parse()
        .map_err(|_| err("not a multiaddr (like /ip4/1.2.3.4/tcp/4001/p2p/12D3Koo…)"))?;
    match addr.iter().last() {
        Some(libp2p::multiaddr::Protocol::P2p(_)) => Ok(addr),
        _ => Err(err(
            "it must end in /p2p/<peer id> so the node can be authenticated",
        )),
    }
}

/// `--bootstrap` / SOTTO_BOOTSTRAP: one multiaddr (several separated by
/// commas), or else a file of them, one per line (`#` starts a comment).
pub fn bootstrap_arg(value: &str, base: &Path) -> Result<Vec<Multiaddr>, ConfigError> {
    let v = value.trim();
    let path = base.join(v);
    // Multiaddrs and absolute paths both start with '/': a file that exists
    // wins, and something that is neither was most likely meant as a file.
    if v.starts_with('/') && !path.is_file() {
        let first = v.split(',').next().unwrap_or_default().trim();
        if first.parse::<Multiaddr>().is_err() {
            return Err(ConfigError::Read {
                path: path.display().to_string(),
                reason: "no such file (and it is not a multiaddr either)".into(),
            });
        }
        return bootstrap_list(v.split(','));
    }
    if !path.exists() {
        return Err(ConfigError::Read {
            path: path.display().to_string(),
            reason: "no such file (--bootstrap takes a multiaddr or a file of them)".into(),
        });
    }
    let text = read_small(&path)?;
    bootstrap_list(
        text.lines()
            .map(|l| l.split('#').next().unwrap_or_default()),
    )
}

fn bootstrap_list<'a>(items: impl Iterator<Item = &'a str>) -> Result<Vec<Multiaddr>, ConfigError> {
    let mut out = Vec::new();
    for item in items.map(str::trim).filter(|s| !s.is_empty()) {
        if out.len() == MAX_BOOTSTRAP {
            break;
        }
        out.push(bootstrap_addr(item)?);
    }
    Ok(out)
}

/// Weighs flags > environment > HOME/config.toml > defaults. `env` reads a
/// variable (the process environment in real use, a map in tests); `cwd` is
/// where relative paths given on the command line or in the environment start.
pub fn resolve(
    flags: &Flags,
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
) -> Result<Resolved, ConfigError> {
    let env_nonempty = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let home = match (&flags.home, env_nonempty("SOTTO_HOME")) {
        (Some(h), _) => cwd.join(h),
        (None, Some(h)) => cwd.join(h),
        (None, None) => default_home(env)?,
    };
    let file = load_file(&home)?;
    let params = match (&flags.network, env_nonempty("SOTTO_NETWORK")) {
        (Some(n), _) => network(n, cwd)?,
        (None, Some(n)) => network(&n, cwd)?,
        // The file's value, which is the default when the file has none.
        (None, None) => network(&file.network, &home)?,
    };
    let bootstrap = match (&flags.bootstrap, env_nonempty("SOTTO_BOOTSTRAP")) {
        (Some(b), _) => bootstrap_arg(b, cwd)?,
        (None, Some(b)) => bootstrap_arg(&b, cwd)?,
        (None, None) => bootstrap_list(file.bootstrap.iter().map(String::as_str))?,
    };
    Ok(Resolved {
        home,
        params,
        bootstrap,
        log: file.log,
    })
}

#[cfg(test)]
mod tests;
