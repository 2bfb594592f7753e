//! The bootstrap nodes belong to another network than the client: the one
//! mistake that otherwise looks like a dead internet connection.

/// The client's bootstrap nodes are on another network than the client.
/// Both names are as on the wire (`sotto` is the public network's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the bootstrap nodes belong to {}, but this client is on network {ours:?}",
    theirs.as_deref().map_or_else(|| "another network".to_string(), |t| format!("network {t:?}"))
)]
pub struct WrongNetwork {
    /// The client's network.
    pub ours: String,
    /// The bootstrap nodes' network, when one of them said which.
    pub theirs: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_both_networks() {
        let w = WrongNetwork {
            ours: "sotto".into(),
            theirs: Some("devnet".into()),
        };
        assert_eq!(
            w.to_string(),
            "the bootstrap nodes belong to network \"devnet\", but this client is on network \"sotto\""
        );
        let w = WrongNetwork {
            ours: "sotto".into(),
            theirs: None,
        };
        assert!(w.to_string().contains("another network"), "{w}");
    }
}
