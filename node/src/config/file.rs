//! Reading, checking and writing `node.toml`, and finding the network's
//! parameters it names.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use libp2p::Multiaddr;
use sotto_protocol::NetworkParams;

use super::NodeConfig;

/// The largest configuration or network file read: real ones are a few KiB.
pub const MAX_CONFIG_FILE_LEN: u64 = 256 * 1024;

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// The file is larger than any configuration.
    #[error("{} is over {MAX_CONFIG_FILE_LEN} bytes: not a configuration file", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
    },
    /// The TOML is malformed or has an unknown key or a wrong type.
    #[error("{}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's explanation, with the line.
        message: String,
    },
    /// A value is out of its range.
    #[error("{key}: {reason}")]
    Invalid {
        /// The key, as written in the file (`limits.max_connections`).
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The `network` setting is neither a preset nor a usable file.
    #[error("network {name:?}: {reason}")]
    Network {
        /// What `network` says.
        name: String,
        /// What went wrong.
        reason: String,
    },
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        reason: reason.into(),
    }
}

/// Reads at most [`MAX_CONFIG_FILE_LEN`] bytes of `path` as text.
fn read_bounded(path: &Path) -> Result<String, ConfigError> {
    let io = |source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let mut text = String::new();
    file.take(MAX_CONFIG_FILE_LEN + 1)
        .read_to_string(&mut text)
        .map_err(io)?;
    if text.len() as u64 > MAX_CONFIG_FILE_LEN {
        return Err(ConfigError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    Ok(text)
}

impl NodeConfig {
    /// Reads `path` (size-limited), parses it (unknown keys are errors, missing
    /// keys take their defaults) and checks it ([`NodeConfig::validate`]).
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = read_bounded(path)?;
        let config = Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })?;
        Ok(config)
    }

    /// Parses and checks a configuration from TOML text.
    pub fn from_toml(text: &str) -> Result<NodeConfig, ConfigError> {
        let config: NodeConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<text>"),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as TOML (every key).
    pub fn to_toml(&self) -> Result<String, ConfigError> {
        toml::to_string(self).map_err(|e| invalid("(whole file)", format!("cannot encode: {e}")))
    }

    /// Writes the configuration to `path`.
    pub fn save(&self, path: &Path) -> Result<(), ConfigError> {
        let text = format!(
            "# Sotto node configuration. config/node.toml in the source explains every key.\n{}",
            self.to_toml()?
        );
        std::fs::write(path, text).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Checks what serde cannot: addresses parse, counts and intervals are
    /// above zero.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.network.trim().is_empty() {
            return Err(invalid(
                "network",
                "is empty; use \"public\", \"devnet\" or a file",
            ));
        }
        for (key, list) in [
            ("listen", &self.listen),
            ("bootstrap", &self.bootstrap),
            ("external", &self.external),
        ] {
            for a in list {
                a.parse::<Multiaddr>().map_err(|e| {
                    invalid(
                        key,
                        format!("{a:?} is not a multiaddr ({e}); e.g. /ip4/0.0.0.0/tcp/4600"),
                    )
                })?;
            }
        }
        if self.listen.is_empty() {
            return Err(invalid(
                "listen",
                "is empty: the node would not be reachable",
            ));
        }
        if !self.metrics.is_empty() {
            self.metrics.parse::<SocketAddr>().map_err(|_| {
                invalid(
                    "metrics",
                    format!(
                        "{:?} is not an address and port such as 127.0.0.1:9600 (or \"\" for none)",
                        self.metrics
                    ),
                )
            })?;
        }
        let l = &self.limits;
        let s = &self.store;
        let r = &self.replication;
        let d = &self.directory;
        // Each value within a range: 0 breaks the part it sizes, and a huge
        // interval or bound overflows the arithmetic built on it (a timer's
        // jitter, a budget) or holds memory the host does not have.
        const SECOND: u64 = 1_000;
        const DAY: u64 = 86_400_000;
        const MILLION: u64 = 1_000_000;
        let ranged: [(&str, u64, u64, u64); 30] = [
            ("store.max_account_bytes", s.max_account_bytes, 1, u64::MAX),
            ("store.max_request_bytes", s.max_request_bytes, 1, u64::MAX),
            (
                "limits.request_rate_per_minute",
                u64::from(l.request_rate_per_minute),
                1,
                u64::from(u32::MAX),
            ),
            (
                "limits.request_burst",
                u64::from(l.request_burst),
                1,
                u64::from(u32::MAX),
            ),
            ("store.max_total_bytes", s.max_total_bytes, 1, u64::MAX),
            ("store.max_chunk_bytes", s.max_chunk_bytes, 1, u64::MAX),
            (
                "limits.chunk_rate_per_minute",
                u64::from(l.chunk_rate_per_minute),
                1,
                u64::from(u32::MAX),
            ),
            (
                "limits.chunk_burst",
                u64::from(l.chunk_burst),
                1,
                u64::from(u32::MAX),
            ),
            ("store.purge_interval_ms", s.purge_interval_ms, 10, DAY),
            ("store.purge_batch", s.purge_batch as u64, 1, MILLION),
            (
                "limits.max_connections",
                u64::from(l.max_connections),
                1,
                1 << 20,
            ),
            (
                "limits.max_connections_per_peer",
                u64::from(l.max_connections_per_peer),
                1,
                1024,
            ),
            (
                "limits.max_connections_per_ip",
                l.max_connections_per_ip as u64,
                1,
                1 << 20,
            ),
            (
                "limits.max_concurrent_requests",
                l.max_concurrent_requests as u64,
                1,
                MILLION,
            ),
            (
                "limits.max_requests_per_peer",
                l.max_requests_per_peer as u64,
                1,
                MILLION,
            ),
            (
                "limits.max_requests_per_ip",
                l.max_requests_per_ip as u64,
                1,
                MILLION,
            ),
            (
                "limits.request_timeout_ms",
                l.request_timeout_ms,
                10,
                10 * 60 * SECOND,
            ),
            (
                "limits.max_long_polls",
                l.max_long_polls as u64,
                1,
                100 * MILLION,
            ),
            (
                "limits.store_rate_per_minute",
                u64::from(l.store_rate_per_minute),
                1,
                u64::from(u32::MAX),
            ),
            (
                "limits.store_burst",
                u64::from(l.store_burst),
                1,
                u64::from(u32::MAX),
            ),
            (
                "limits.rate_tracked_accounts",
                l.rate_tracked_accounts as u64,
                1,
                100 * MILLION,
            ),
            (
                "limits.max_directory_nodes",
                l.max_directory_nodes as u64,
                1,
                100 * MILLION,
            ),
            // Zero tags would refuse every onion packet: the relay closed.
            (
                "limits.max_replay_tags",
                l.max_replay_tags as u64,
                1024,
                1_000 * MILLION,
            ),
            (
                "replication.anti_entropy_interval_ms",
                r.anti_entropy_interval_ms,
                10,
                DAY,
            ),
            (
                "replication.retry_interval_ms",
                r.retry_interval_ms,
                10,
                DAY,
            ),
            (
                "replication.max_backlog",
                r.max_backlog as u64,
                1,
                10 * MILLION,
            ),
            (
                "replication.handoff_check_interval_ms",
                r.handoff_check_interval_ms,
                10,
                DAY,
            ),
            ("directory.check_interval_ms", d.check_interval_ms, 10, DAY),
            ("directory.pull_interval_ms", d.pull_interval_ms, 10, DAY),
            (
                "directory.reannounce_margin_ms",
                d.reannounce_margin_ms,
                1,
                DAY,
            ),
        ];
        for (key, value, min, max) in ranged {
            if !(min..=max).contains(&value) {
                return Err(invalid(
                    key,
                    format!("is {value}: it must be from {min} to {max}"),
                ));
            }
        }
        Ok(())
    }

    /// The network's parameters: a preset (`public`, `devnet`) by name, or
    /// else a TOML file of [`NetworkParams`], relative to `base_dir` (the
    /// directory of the configuration file). Checked with
    /// [`NetworkParams::validate`].
    pub fn resolve_network(&self, base_dir: &Path) -> Result<NetworkParams, ConfigError> {
        let name = self.network.trim();
        let net_err = |reason: String| ConfigError::Network {
            name: name.to_string(),
            reason,
        };
        let params = match NetworkParams::preset(name) {
            Ok(p) => p,
            Err(_) => {
                let path = base_dir.join(name);
                let text = read_bounded(&path).map_err(|e| {
                    net_err(format!(
                        "neither a preset (\"public\", \"devnet\") nor a readable file: {e}"
                    ))
                })?;
                toml::from_str::<NetworkParams>(&text).map_err(|e| {
                    net_err(format!("{}: {}", path.display(), e.to_string().trim_end()))
                })?
            }
        };
        params.validate().map_err(|e| net_err(e.to_string()))?;
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_file_lists_the_defaults() {
        let text = include_str!("../../../config/node.toml");
        let parsed = NodeConfig::from_toml(text).unwrap();
        assert_eq!(parsed, NodeConfig::default());
        // Every key is in the example: dropping any line changes nothing only
        // if the key was at its default, so check the key count instead.
        let encoded = NodeConfig::default().to_toml().unwrap();
        let keys = |t: &str| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.starts_with('#') && l.contains(" = "))
                .count()
        };
        assert_eq!(keys(text), keys(&encoded), "{encoded}");
    }

    #[test]
    fn toml_round_trip_and_save_load() {
        let mut c = NodeConfig {
            network: "devnet".into(),
            bootstrap: vec!["/ip4/127.0.0.1/tcp/4601".into()],
            metrics: "127.0.0.1:9600".into(),
            ..NodeConfig::default()
        };
        c.limits.max_connections = 7;
        assert_eq!(NodeConfig::from_toml(&c.to_toml().unwrap()).unwrap(), c);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.toml");
        c.save(&path).unwrap();
        assert_eq!(NodeConfig::load(&path).unwrap(), c);
    }

    #[test]
    fn missing_keys_default_and_bad_input_is_explained() {
        let c =
            NodeConfig::from_toml("network = \"devnet\"\n[limits]\nmax_connections = 9\n").unwrap();
        assert_eq!(c.limits.max_connections, 9);
        assert_eq!(c.store, NodeConfig::default().store);

        let err = NodeConfig::from_toml("[limits]\nmax_conections = 9\n").unwrap_err();
        assert!(err.to_string().contains("max_conections"), "{err}");
        let err = NodeConfig::from_toml("listen = [\"tcp 4600\"]\n").unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
        let err = NodeConfig::from_toml("external = [\"203.0.113.7:4600\"]\n").unwrap_err();
        assert!(err.to_string().contains("external"), "{err}");
        let ok = NodeConfig::from_toml("external = [\"/ip4/203.0.113.7/tcp/4600\"]\n").unwrap();
        assert_eq!(ok.external.len(), 1);
        let err = NodeConfig::from_toml("metrics = \"localhost\"\n").unwrap_err();
        assert!(err.to_string().contains("metrics"), "{err}");
        let err = NodeConfig::from_toml("[limits]\nrequest_timeout_ms = 0\n").unwrap_err();
        assert!(
            err.to_string().contains("limits.request_timeout_ms"),
            "{err}"
        );
        let err = NodeConfig::from_toml("[directory]\ncheck_interval_ms = 0\n").unwrap_err();
        assert!(
            err.to_string().contains("directory.check_interval_ms"),
            "{err}"
        );
        let err = NodeConfig::from_toml("network = 5\n").unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
    }

    #[test]
    fn values_out_of_range_are_refused_naming_the_key() {
        for (text, key) in [
            // A huge interval once panicked in the timer's jitter arithmetic.
            (
                "[replication]\nanti_entropy_interval_ms = 18446744073709551615\n",
                "replication.anti_entropy_interval_ms",
            ),
            // No replay tags closed the relay.
            ("[limits]\nmax_replay_tags = 0\n", "limits.max_replay_tags"),
            (
                "[limits]\nmax_requests_per_ip = 0\n",
                "limits.max_requests_per_ip",
            ),
            (
                "[directory]\npull_interval_ms = 9999999999999\n",
                "directory.pull_interval_ms",
            ),
        ] {
            let err = NodeConfig::from_toml(text).unwrap_err();
            assert!(err.to_string().contains(key), "{text}: {err}");
            assert!(err.to_string().contains("must be from"), "{err}");
        }
    }

    #[test]
    fn oversized_and_missing_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.toml");
        std::fs::write(&path, "#".repeat(MAX_CONFIG_FILE_LEN as usize + 1)).unwrap();
        assert!(matches!(
            NodeConfig::load(&path),
            Err(ConfigError::TooLarge { .. })
        ));
        let missing = dir.path().join("none.toml");
        assert!(matches!(
            NodeConfig::load(&missing),
            Err(ConfigError::Io { .. })
        ));
    }

    #[test]
    fn network_from_preset_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = NodeConfig::default();
        assert_eq!(
            c.resolve_network(dir.path()).unwrap(),
            NetworkParams::public()
        );
        c.network = "devnet".into();
        assert_eq!(
            c.resolve_network(dir.path()).unwrap(),
            NetworkParams::devnet()
        );

        let mut custom = NetworkParams::devnet();
        custom.name = "lab".into();
        custom.swarm_size = 3;
        std::fs::write(
            dir.path().join("lab.toml"),
            toml::to_string(&custom).unwrap(),
        )
        .unwrap();
        c.network = "lab.toml".into();
        assert_eq!(c.resolve_network(dir.path()).unwrap(), custom);

        std::fs::write(dir.path().join("bad.toml"), "name = \"Lab Net\"\n").unwrap();
        c.network = "bad.toml".into();
        let err = c.resolve_network(dir.path()).unwrap_err();
        assert!(err.to_string().contains("network name"), "{err}");

        c.network = "devnte".into();
        let err = c.resolve_network(dir.path()).unwrap_err();
        assert!(err.to_string().contains("neither a preset"), "{err}");
    }

    #[test]
    fn shipped_network_files_resolve_to_their_presets() {
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config");
        let mut c = NodeConfig {
            network: "networks/devnet.toml".into(),
            ..NodeConfig::default()
        };
        assert_eq!(c.resolve_network(&base).unwrap(), NetworkParams::devnet());
        c.network = "networks/public.toml".into();
        assert_eq!(c.resolve_network(&base).unwrap(), NetworkParams::public());
    }
}
