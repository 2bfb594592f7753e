//! Key packages in the account's `Public` namespace, where admins find them.
//!
//! An account publishes one last-resort key package
//! ([`super::Groups::last_resort_key_package`]) beside its prekey bundle, and
//! replaces it the same way the bundle is replaced: store the new one, then
//! delete every older key package found there. Items are told apart from
//! bundles by [`KEY_PACKAGE_PREFIX`]. An admin fetching one keeps only
//! packages that openmls validates and whose leaf the account itself signed
//! ([`super::identity::member_account`]), so a swarm member cannot hand it
//! someone else's package.

use sotto_protocol::rpc::MessageHash;
use sotto_protocol::{AccountId, AccountKey};

use super::engine::checked_key_package;
use super::provider::Provider;
use crate::prekeys::{PrekeyError, first_from_members, replace_public};
use crate::{Client, ClientError};

/// What a key package item in `Public` starts with.
pub const KEY_PACKAGE_PREFIX: &[u8] = b"sotto key package v1\n";

/// Why a key package could not be published or fetched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyPackageError {
    /// The network failed.
    #[error("{0}")]
    Network(#[from] ClientError),
    /// The account has published no key package that checks out.
    #[error(
        "this account has not published a key package yet (it has not been online with this version): it cannot be added to a group until it has"
    )]
    None,
    /// The swarm answered something unexpected.
    #[error("the swarm answered {0}")]
    Unexpected(&'static str),
}

impl From<PrekeyError> for KeyPackageError {
    fn from(e: PrekeyError) -> Self {
        match e {
            PrekeyError::Network(e) => Self::Network(e),
            PrekeyError::Unexpected(kind) => Self::Unexpected(kind),
            _ => Self::None,
        }
    }
}

/// Stores `package` (a key package of `key`'s account, TLS bytes) in the
/// account's `Public` namespace for the longest TTL, then deletes older key
/// packages there (best effort, as for prekey bundles). Returns its hash.
pub async fn publish_key_package(
    client: &Client,
    key: &AccountKey,
    network: &str,
    package: &[u8],
) -> Result<MessageHash, KeyPackageError> {
    let mut data = KEY_PACKAGE_PREFIX.to_vec();
    data.extend_from_slice(package);
    Ok(
        replace_public(client, key, network, data, "key packages", |m| {
            m.data.starts_with(KEY_PACKAGE_PREFIX)
        })
        .await?,
    )
}

/// The newest key package `account` published that checks out: valid for
/// openmls (signature, lifetime, ciphersuite) and bound to `account`, from
/// the first of up to three swarm members that holds one (as a prekey bundle
/// is fetched: a hostile member could hide it).
pub async fn fetch_key_package(
    client: &Client,
    account: &AccountId,
) -> Result<Vec<u8>, KeyPackageError> {
    let checker = Provider::default();
    let found = first_from_members(client, account, |found, _| {
        found
            .iter()
            .filter_map(|m| {
                let package = m.data.strip_prefix(KEY_PACKAGE_PREFIX)?;
                match checked_key_package(&checker, package) {
                    Ok((_, owner)) if owner == *account => Some((m.timestamp, package.to_vec())),
                    _ => None,
                }
            })
            .max_by_key(|(at, _)| *at)
            .map(|(_, package)| package)
    })
    .await?;
    found.ok_or(KeyPackageError::None)
}
