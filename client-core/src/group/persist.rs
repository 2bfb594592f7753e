//! Writing an account's groups out and reading them back.
//!
//! Format: a version byte (`1`), then postcard of openmls' store as its
//! sorted key-value pairs and of what Sotto keeps beside it per group (its own
//! pending commit, messages waiting for the next epoch, members leaving, the
//! previous epoch's account). Candidate commits are openmls values, written
//! as JSON (the encoding openmls itself uses for the values in its store)
//! inside that. postcard keeps bytes as bytes: a first version wrote the
//! whole as JSON, about 3.5 characters per byte of MLS state. The caller
//! seals the bytes like every other secret of the home.

use std::collections::{BTreeSet, VecDeque};

use openmls::prelude::{GroupId as MlsGroupId, MlsGroup};
use serde::{Deserialize, Serialize};
use sotto_protocol::{AccountId, AccountKey};

use super::engine::{Candidate, Groups, Held, OwnCommit};
use super::identity::MemberIdentity;
use super::provider::Provider;
use super::{GroupError, GroupId};

#[derive(Serialize, Deserialize)]
struct Snapshot {
    store: Vec<(Vec<u8>, Vec<u8>)>,
    groups: Vec<HeldSnapshot>,
    settle_ms: u64,
}

/// The format version this module writes.
const VERSION: u8 = 1;

#[derive(Serialize, Deserialize)]
struct HeldSnapshot {
    id: GroupId,
    /// Each candidate as JSON.
    candidates: Vec<Vec<u8>>,
    own: Option<OwnCommit>,
    future: VecDeque<Vec<u8>>,
    leaving: BTreeSet<AccountId>,
    previous: Option<[u8; 16]>,
    leaving_self: bool,
}

impl Groups {
    /// Everything this account holds of its groups, secrets included.
    pub fn export(&self) -> Result<Vec<u8>, GroupError> {
        let groups = self
            .groups
            .iter()
            .map(|(id, held)| {
                Ok(HeldSnapshot {
                    id: *id,
                    candidates: held
                        .candidates
                        .iter()
                        .map(serde_json::to_vec)
                        .collect::<Result<_, _>>()
                        .map_err(|e| GroupError::Storage(e.to_string()))?,
                    own: held.own.clone(),
                    future: held.future.clone(),
                    leaving: held.leaving.clone(),
                    previous: held.previous,
                    leaving_self: held.leaving_self,
                })
            })
            .collect::<Result<Vec<_>, GroupError>>()?;
        let snapshot = Snapshot {
            store: self.provider.export(),
            groups,
            settle_ms: self.settle_ms,
        };
        let mut out = vec![VERSION];
        out.extend(
            postcard::to_allocvec(&snapshot).map_err(|e| GroupError::Storage(e.to_string()))?,
        );
        Ok(out)
    }

    /// Puts back what [`Groups::export`] wrote of this account's groups.
    pub(super) fn restore(&mut self, bytes: &[u8]) -> Result<(), GroupError> {
        let (provider, groups, settle_ms) = Self::parts(bytes)?;
        self.provider = provider;
        self.groups = groups;
        self.settle_ms = settle_ms;
        Ok(())
    }

    /// The groups [`Groups::export`] wrote, for `account`.
    pub fn import(account: &AccountKey, bytes: &[u8]) -> Result<Self, GroupError> {
        let (provider, groups, settle_ms) = Self::parts(bytes)?;
        Ok(Self {
            identity: MemberIdentity::new(account),
            provider,
            groups,
            settle_ms,
        })
    }

    #[allow(clippy::type_complexity)]
    fn parts(
        bytes: &[u8],
    ) -> Result<(Provider, std::collections::BTreeMap<GroupId, Held>, u64), GroupError> {
        let Some((&VERSION, body)) = bytes.split_first() else {
            return Err(GroupError::Storage(
                "not a groups export of this version".into(),
            ));
        };
        let snapshot: Snapshot =
            postcard::from_bytes(body).map_err(|e| GroupError::Storage(e.to_string()))?;
        let provider = Provider::import(snapshot.store)?;
        let mut groups = std::collections::BTreeMap::new();
        for held in snapshot.groups {
            let mls = MlsGroup::load(
                openmls_traits::OpenMlsProvider::storage(&provider),
                &MlsGroupId::from_slice(&held.id.0),
            )
            .map_err(|e| GroupError::Storage(e.to_string()))?
            .ok_or(GroupError::Storage("a group's state is missing".into()))?;
            groups.insert(
                held.id,
                Held {
                    mls,
                    candidates: held
                        .candidates
                        .iter()
                        .map(|c| serde_json::from_slice::<Candidate>(c))
                        .collect::<Result<_, _>>()
                        .map_err(|e| GroupError::Storage(e.to_string()))?,
                    own: held.own,
                    future: held.future,
                    leaving: held.leaving,
                    previous: held.previous,
                    leaving_self: held.leaving_self,
                },
            );
        }
        Ok((provider, groups, snapshot.settle_ms))
    }
}
