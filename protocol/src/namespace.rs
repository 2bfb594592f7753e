//! Storage namespaces of an account (DESIGN §5), with fixed numeric codes.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Who may do what in a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone may store; only the owner reads or deletes (inboxes).
    AnyoneStoresOwnerReads,
    /// Only the owner stores, reads or deletes (own settings, synced devices).
    OwnerOnly,
    /// The owner stores and deletes; anyone reads (profile, prekeys).
    OwnerStoresAnyoneReads,
    /// Anyone stores and anyone reads; nobody deletes (items expire). The
    /// "account" is derived from the data's hash, so a store can only put the
    /// bytes that hash there: attachment chunks
    /// ([`crate::attachment::ChunkHash::account`]).
    ContentAddressed,
}

/// A namespace of an account's storage, carried on the wire as its `u16` code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Namespace(u16);

impl Namespace {
    /// Messages from others to the account. Code 0.
    pub const INBOX: Namespace = Namespace(0);
    /// The account's own encrypted settings. Code 1.
    pub const CONFIG: Namespace = Namespace(1);
    /// Public data of the account: profile, prekeys. Code 2.
    pub const PUBLIC: Namespace = Namespace(2);
    /// Attachment chunks, each under the account its hash names. Code 3.
    pub const CHUNKS: Namespace = Namespace(3);
    /// Messages from senders without the account's delivery token (message
    /// requests, strangers): anyone may store, with postage and within a small
    /// quota and rate of their own, so that strangers cannot fill the space and
    /// rate of the account's contacts ([`crate::rpc::deliver`]). Code 4.
    pub const REQUESTS: Namespace = Namespace(4);
    /// The hashes of the delivery tokens the owner gave its contacts: while one
    /// is stored, a store into [`Namespace::INBOX`] must carry a token that
    /// hashes to one of them. Only the owner stores or reads. Code 5.
    pub const DELIVERY: Namespace = Namespace(5);

    /// The namespace with this code, if this build knows it.
    pub fn from_code(code: u16) -> Result<Self> {
        let ns = Namespace(code);
        ns.access()?;
        Ok(ns)
    }

    /// The numeric code on the wire.
    pub fn code(&self) -> u16 {
        self.0
    }

    /// Who may store, read and delete here. Unknown codes (for example from a
    /// newer peer, or forged) are an error, never a default.
    pub fn access(&self) -> Result<Access> {
        match self.0 {
            0 => Ok(Access::AnyoneStoresOwnerReads),
            1 => Ok(Access::OwnerOnly),
            2 => Ok(Access::OwnerStoresAnyoneReads),
            3 => Ok(Access::ContentAddressed),
            4 => Ok(Access::AnyoneStoresOwnerReads),
            5 => Ok(Access::OwnerOnly),
            other => Err(Error::OutOfRange {
                what: "namespace",
                reason: format!("unknown namespace code {other}"),
            }),
        }
    }

    /// Whether storing here needs the owner's signature.
    pub fn store_needs_owner(&self) -> Result<bool> {
        Ok(!matches!(
            self.access()?,
            Access::AnyoneStoresOwnerReads | Access::ContentAddressed
        ))
    }

    /// Whether reading here needs the owner's signature.
    pub fn read_needs_owner(&self) -> Result<bool> {
        Ok(!matches!(
            self.access()?,
            Access::OwnerStoresAnyoneReads | Access::ContentAddressed
        ))
    }

    /// Whether an owner may delete or shorten items here (not in a
    /// content-addressed namespace: nobody owns a chunk, it expires).
    pub fn owner_deletes(&self) -> Result<bool> {
        Ok(!matches!(self.access()?, Access::ContentAddressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_access() {
        assert_eq!(Namespace::from_code(0).unwrap(), Namespace::INBOX);
        assert!(Namespace::from_code(99).is_err());
        assert!(!Namespace::INBOX.store_needs_owner().unwrap());
        assert!(Namespace::INBOX.read_needs_owner().unwrap());
        assert!(Namespace::CONFIG.store_needs_owner().unwrap());
        assert!(!Namespace::PUBLIC.read_needs_owner().unwrap());
        assert!(Namespace(7).access().is_err());
        assert!(Namespace(6).access().is_err());
        assert_eq!(Namespace::from_code(3).unwrap(), Namespace::CHUNKS);
        assert!(!Namespace::CHUNKS.store_needs_owner().unwrap());
        assert!(!Namespace::CHUNKS.read_needs_owner().unwrap());
        assert!(!Namespace::CHUNKS.owner_deletes().unwrap());
        assert!(Namespace::INBOX.owner_deletes().unwrap());
        assert_eq!(Namespace::from_code(4).unwrap(), Namespace::REQUESTS);
        assert!(!Namespace::REQUESTS.store_needs_owner().unwrap());
        assert!(Namespace::REQUESTS.read_needs_owner().unwrap());
        assert_eq!(Namespace::from_code(5).unwrap(), Namespace::DELIVERY);
        assert!(Namespace::DELIVERY.store_needs_owner().unwrap());
        assert!(Namespace::DELIVERY.read_needs_owner().unwrap());
    }
}
