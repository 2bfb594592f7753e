//! Writing an account's groups out and reading them back.
//!
//! openmls' store is written as its sorted key-value pairs; what Sotto keeps
//! beside it per group (candidate commits, its own pending commit, messages
//! waiting for a later epoch, members leaving) is written as JSON, the format
//! openmls itself uses for the values in that store. The caller seals the
//! bytes like every other secret of the home.

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

#[derive(Serialize, Deserialize)]
struct HeldSnapshot {
    id: GroupId,
    candidates: Vec<Candidate>,
    own: Option<OwnCommit>,
    future: VecDeque<Vec<u8>>,
    leaving: BTreeSet<AccountId>,
    #[serde(default)]
    previous: Option<[u8; 16]>,
    #[serde(default)]
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
                        .map(|c| serde_json::to_vec(c).and_then(|v| serde_json::from_slice(&v)))
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
        serde_json::to_vec(&snapshot).map_err(|e| GroupError::Storage(e.to_string()))
    }

    /// The groups [`Groups::export`] wrote, for `account`.
    pub fn import(account: &AccountKey, bytes: &[u8]) -> Result<Self, GroupError> {
        let snapshot: Snapshot =
            serde_json::from_slice(bytes).map_err(|e| GroupError::Storage(e.to_string()))?;
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
                    candidates: held.candidates,
                    own: held.own,
                    future: held.future,
                    leaving: held.leaving,
                    previous: held.previous,
                    leaving_self: held.leaving_self,
                },
            );
        }
        Ok(Self {
            identity: MemberIdentity::new(account),
            provider,
            groups,
            settle_ms: snapshot.settle_ms,
        })
    }
}
