//! The MLS provider of one account: RustCrypto for the primitives and an
//! in-memory key-value store that can be written out whole and read back.
//!
//! openmls keeps every group's state (trees, epoch secrets, the per-sender
//! ratchets of the secret tree) and every unused key package's private keys in
//! its storage provider. This one is openmls' own `MemoryStorage`, whose map is
//! public; [`Provider::export`] writes it as sorted key-value pairs and
//! [`Provider::import`] reads them back, so the account's groups survive a
//! restart wherever the caller keeps the bytes.

use openmls_rust_crypto::{MemoryStorage, RustCrypto};
use openmls_traits::OpenMlsProvider;

use super::GroupError;

/// openmls' crypto and rand providers with an exportable store.
#[derive(Default, Debug)]
pub struct Provider {
    crypto: RustCrypto,
    storage: MemoryStorage,
}

impl OpenMlsProvider for Provider {
    type CryptoProvider = RustCrypto;
    type RandProvider = RustCrypto;
    type StorageProvider = MemoryStorage;

    fn storage(&self) -> &Self::StorageProvider {
        &self.storage
    }

    fn crypto(&self) -> &Self::CryptoProvider {
        &self.crypto
    }

    fn rand(&self) -> &Self::RandProvider {
        &self.crypto
    }
}

impl Provider {
    /// Every stored key-value pair, sorted by key (so equal states export
    /// equal bytes).
    pub fn export(&self) -> Vec<(Vec<u8>, Vec<u8>)> {
        let values = self
            .storage
            .values
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut pairs: Vec<_> = values.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        pairs.sort();
        pairs
    }

    /// A provider holding `pairs` (what [`Provider::export`] wrote).
    pub fn import(pairs: Vec<(Vec<u8>, Vec<u8>)>) -> Result<Self, GroupError> {
        let provider = Self::default();
        {
            let mut values = provider
                .storage
                .values
                .write()
                .map_err(|_| GroupError::Storage("store lock poisoned".into()))?;
            values.extend(pairs);
        }
        Ok(provider)
    }
}
