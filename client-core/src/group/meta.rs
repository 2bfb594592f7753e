//! The group's name and admins, kept in the MLS group context.
//!
//! They travel as one private group-context extension (type [`META_EXTENSION`],
//! in the private-use range of RFC 9420 §17.3), so every member holds the same
//! copy for an epoch, only a commit changes it, and it is as secret as the rest
//! of the group state: handshake messages are `PrivateMessage`s, and nodes see
//! none of it.

use openmls::prelude::{
    Capabilities, CredentialType, Extension, ExtensionType, Extensions, GroupContext,
    RequiredCapabilitiesExtension, UnknownExtension,
};
use serde::{Deserialize, Serialize};
use sotto_protocol::AccountId;

use super::GroupError;

/// The extension type of [`GroupMeta`] (private use, RFC 9420 §17.3).
pub const META_EXTENSION: u16 = 0xff5a;
/// Longest group name, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 128;
/// Most admins a group has.
pub const MAX_ADMINS: usize = 32;
/// Largest encoded meta accepted from a commit (name, admins and framing).
const MAX_META_BYTES: usize = MAX_NAME_BYTES + MAX_ADMINS * 33 + 16;

/// A group's name and the accounts allowed to commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMeta {
    /// Shown to members; empty is allowed.
    pub name: String,
    /// The accounts whose commits are applied (at least one).
    pub admins: Vec<AccountId>,
}

impl GroupMeta {
    /// Checks the limits a meta must meet before anyone commits it.
    pub fn check(&self) -> Result<(), GroupError> {
        if self.name.len() > MAX_NAME_BYTES {
            return Err(GroupError::Invalid("group name is longer than 128 bytes"));
        }
        if self.admins.is_empty() || self.admins.len() > MAX_ADMINS {
            return Err(GroupError::Invalid("a group has 1 to 32 admins"));
        }
        let mut sorted = self.admins.clone();
        sorted.sort();
        sorted.dedup();
        if sorted.len() != self.admins.len() {
            return Err(GroupError::Invalid("an admin is listed twice"));
        }
        Ok(())
    }

    /// Whether `account` may commit.
    pub fn is_admin(&self, account: &AccountId) -> bool {
        self.admins.contains(account)
    }

    /// The group-context extensions that carry this meta.
    pub(super) fn extensions(&self) -> Result<Extensions<GroupContext>, GroupError> {
        self.check()?;
        let bytes = postcard::to_allocvec(self).map_err(|_| GroupError::Invalid("meta"))?;
        Extensions::from_vec(vec![
            Extension::RequiredCapabilities(RequiredCapabilitiesExtension::new(
                &[ExtensionType::Unknown(META_EXTENSION)],
                &[],
                &[CredentialType::Basic],
            )),
            Extension::Unknown(META_EXTENSION, UnknownExtension(bytes)),
        ])
        .map_err(|_| GroupError::Invalid("meta extensions"))
    }

    /// The meta a group context's extensions carry, checked.
    pub(super) fn from_context(extensions: &Extensions<GroupContext>) -> Result<Self, GroupError> {
        let raw = extensions
            .unknown(META_EXTENSION)
            .ok_or(GroupError::Invalid("the group has no meta"))?;
        if raw.0.len() > MAX_META_BYTES {
            return Err(GroupError::Invalid("meta is too large"));
        }
        let meta: GroupMeta = postcard::from_bytes(&raw.0)
            .map_err(|_| GroupError::Invalid("meta does not decode"))?;
        meta.check()?;
        Ok(meta)
    }
}

/// What a Sotto leaf supports: the meta extension, last-resort key packages
/// and basic credentials.
pub(super) fn capabilities() -> Capabilities {
    Capabilities::new(
        None,
        None,
        Some(&[
            ExtensionType::Unknown(META_EXTENSION),
            ExtensionType::LastResort,
        ]),
        None,
        Some(&[CredentialType::Basic]),
    )
}
