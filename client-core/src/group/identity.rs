//! Who a group member is: the MLS credential and signing key of an account.
//!
//! A member signs its MLS messages (leaf nodes, commits, application messages)
//! with a *leaf key*, an Ed25519 key derived from the account's entropy under
//! its own context, so the account key itself never signs MLS data (RFC 9420
//! §5.1.2 labels its signatures, but one key per protocol keeps any doubt out).
//! The credential (RFC 9420 §5.3, a `basic` credential) binds the leaf key to
//! the account: its identity bytes are the account id followed by the account's
//! signature over [`LEAF_BINDING_DOMAIN`] ‖ leaf public key. Every member checks
//! that binding ([`member_account`]) for each member a commit or a Welcome
//! brings, so a group's member list names accounts and nobody can join under
//! another account's id.

use ed25519_dalek::{Signer as _, SigningKey};
use openmls::prelude::{BasicCredential, Credential, CredentialType, CredentialWithKey};
use openmls_traits::signatures::{Signer, SignerError};
use openmls_traits::types::SignatureScheme;
use sotto_protocol::{AccountId, AccountKey};
use zeroize::Zeroizing;

use super::GroupError;

/// blake3 `derive_key` context turning account entropy into the MLS leaf key.
pub const LEAF_KEY_CONTEXT: &str = "sotto mls leaf key v1";
/// What the account signs, before the leaf public key, to vouch for it.
pub const LEAF_BINDING_DOMAIN: &[u8] = b"sotto mls leaf binding v1";
/// Length of a credential's identity: account id (32) and signature (64).
const IDENTITY_LEN: usize = 32 + 64;

/// An account's MLS identity: its leaf key and the credential naming it.
pub struct MemberIdentity {
    account: AccountId,
    leaf: SigningKey,
    credential: Credential,
}

impl MemberIdentity {
    /// The MLS identity of `account` (the same leaf key every time).
    pub fn new(account: &AccountKey) -> Self {
        let seed = Zeroizing::new(blake3::derive_key(LEAF_KEY_CONTEXT, account.entropy()));
        let leaf = SigningKey::from_bytes(&seed);
        let leaf_public = leaf.verifying_key().to_bytes();
        let mut signed = LEAF_BINDING_DOMAIN.to_vec();
        signed.extend_from_slice(&leaf_public);
        let signature = account.sign(&signed);
        let id = account.account_id();
        let mut identity = Vec::with_capacity(IDENTITY_LEN);
        identity.extend_from_slice(id.as_bytes());
        identity.extend_from_slice(&signature);
        Self {
            account: id,
            leaf,
            credential: BasicCredential::new(identity).into(),
        }
    }

    /// The account this identity speaks for.
    pub fn account(&self) -> AccountId {
        self.account
    }

    /// The credential and the leaf public key, as a leaf node carries them.
    pub fn credential_with_key(&self) -> CredentialWithKey {
        CredentialWithKey {
            credential: self.credential.clone(),
            signature_key: self.leaf.verifying_key().to_bytes().to_vec().into(),
        }
    }
}

impl Signer for MemberIdentity {
    fn sign(&self, payload: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(self.leaf.sign(payload).to_bytes().to_vec())
    }

    fn signature_scheme(&self) -> SignatureScheme {
        SignatureScheme::ED25519
    }
}

/// The account a member's credential and leaf key belong to, once the
/// account's signature over the leaf key checks out.
pub fn member_account(credential: &Credential, leaf_key: &[u8]) -> Result<AccountId, GroupError> {
    if credential.credential_type() != CredentialType::Basic {
        return Err(GroupError::BadCredential("not a basic credential"));
    }
    let identity = credential.serialized_content();
    if identity.len() != IDENTITY_LEN {
        return Err(GroupError::BadCredential(
            "identity is not an account binding",
        ));
    }
    let leaf: [u8; 32] = leaf_key
        .try_into()
        .map_err(|_| GroupError::BadCredential("leaf key is not an Ed25519 key"))?;
    let (id, signature) = identity
        .split_first_chunk::<32>()
        .ok_or(GroupError::BadCredential(
            "identity is not an account binding",
        ))?;
    let signature: &[u8; 64] = signature
        .try_into()
        .map_err(|_| GroupError::BadCredential("identity is not an account binding"))?;
    let account =
        AccountId::from_bytes(*id).map_err(|_| GroupError::BadCredential("not an account id"))?;
    let mut signed = LEAF_BINDING_DOMAIN.to_vec();
    signed.extend_from_slice(&leaf);
    sotto_protocol::keys::verify("MLS leaf binding", account.as_bytes(), &signed, signature)
        .map_err(|_| GroupError::BadCredential("the account did not sign this leaf key"))?;
    Ok(account)
}
