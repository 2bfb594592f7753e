//! [`Groups`]: one account's MLS groups and the operations on them.
//!
//! Only admins commit changes (add, remove, rename, promote); any member may
//! commit an update of its own keys, with nothing else in it. A member that
//! leaves sends a proposal to remove itself and drops the group at once; an
//! admin that handles that proposal commits the removal. Every commit an admin
//! makes is *pending* until the epoch settles (see [`super::receive`]): if
//! another admin's commit for the same epoch wins, this one is thrown away and
//! its operation made again on the new epoch, so nothing an admin asked for is
//! lost to a race.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use openmls::prelude::tls_codec::{Deserialize as _, Serialize as _};
use openmls::prelude::{
    GroupId as MlsGroupId, KeyPackage, KeyPackageIn, LeafNodeIndex, MlsGroup, MlsGroupCreateConfig,
    MlsGroupJoinConfig, OpenMlsProvider, PURE_CIPHERTEXT_WIRE_FORMAT_POLICY, ProtocolVersion,
    SenderRatchetConfiguration,
};
use openmls_traits::random::OpenMlsRand;
use serde::{Deserialize, Serialize};
use sotto_protocol::{AccountId, AccountKey};

use super::identity::{MemberIdentity, member_account};
use super::meta::{GroupMeta, capabilities};
use super::provider::Provider;
use super::{
    CIPHERSUITE, EPOCH_ACCOUNT_LABEL, GroupError, GroupId, MAX_GROUPS, MAX_MEMBERS, Outgoing,
    SETTLE_MS,
};

/// Epochs whose message keys stay after a commit, so a message a member sent
/// on the old epoch while the commit settled still opens (RFC 9420 §14 leaves
/// this to the application; one epoch is the least that loses nothing).
pub const PAST_EPOCHS: usize = 1;

/// One operation an admin commits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(super) enum Op {
    /// Add the members of these key packages (TLS-encoded).
    Add(Vec<Vec<u8>>),
    /// Remove these accounts.
    Remove(Vec<AccountId>),
    /// Set the group's name.
    Rename(String),
    /// Make this member an admin.
    Promote(AccountId),
    /// Fresh key material for this member only (heals a stolen state).
    Update,
    /// Remove this member's old leaf and add it from this key package in
    /// one commit: a member that fell behind asked to come back.
    Readd(AccountId, Vec<u8>),
}

/// A commit this account made whose epoch has not settled.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct OwnCommit {
    pub(super) hash: [u8; 32],
    /// 0 for an admin's commit, 1 for a member's own update.
    pub(super) rank: u8,
    pub(super) sent_at: u64,
    pub(super) op: Op,
    /// The Welcome for the members it adds, sent only if this commit wins.
    pub(super) welcome: Option<(Vec<AccountId>, Vec<u8>)>,
}

/// Another admin's commit for the current epoch, checked and staged.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct Candidate {
    /// 0 for an admin's commit, 1 for a member's own update: admins' win.
    pub(super) rank: u8,
    /// When the first swarm member took it (its clock), or the sender's
    /// time where no node stamped it: the order within a rank.
    pub(super) at: u64,
    pub(super) hash: [u8; 32],
    pub(super) by: AccountId,
    pub(super) staged: openmls::prelude::StagedCommit,
}

/// What this account holds of one group besides openmls' own state.
pub(super) struct Held {
    pub(super) mls: MlsGroup,
    pub(super) candidates: Vec<Candidate>,
    pub(super) own: Option<OwnCommit>,
    /// Messages for later epochs, in the order they came.
    pub(super) future: VecDeque<Vec<u8>>,
    /// Members that asked to leave and are still in the group.
    pub(super) leaving: BTreeSet<AccountId>,
    /// The previous epoch's account entropy (see [`Groups::previous_epoch_account`]).
    pub(super) previous: Option<[u8; 16]>,
    /// This account asked to leave and proposes it again at every epoch
    /// until a commit removes it.
    pub(super) leaving_self: bool,
}

impl Held {
    /// A group just created or joined: nothing pending, nothing waiting.
    pub(super) fn new(mls: MlsGroup) -> Self {
        Self {
            mls,
            candidates: Vec::new(),
            own: None,
            future: VecDeque::new(),
            leaving: BTreeSet::new(),
            previous: None,
            leaving_self: false,
        }
    }
}

impl Candidate {
    /// The order of rule 2 (least wins).
    pub(super) fn key(&self) -> (u8, u64, [u8; 32]) {
        (self.rank, self.at, self.hash)
    }
}

impl OwnCommit {
    /// Its place in the order of [`Candidate::key`].
    pub(super) fn key(&self) -> (u8, u64, [u8; 32]) {
        (self.rank, self.sent_at, self.hash)
    }
}

/// A group as a front end shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupInfo {
    /// The group's id.
    pub id: GroupId,
    /// Its name and admins.
    pub meta: GroupMeta,
    /// Every member's account, sorted.
    pub members: Vec<AccountId>,
    /// The current MLS epoch.
    pub epoch: u64,
}

/// One account's groups.
pub struct Groups {
    pub(super) identity: MemberIdentity,
    pub(super) provider: Provider,
    pub(super) groups: BTreeMap<GroupId, Held>,
    pub(super) settle_ms: u64,
}

/// The authenticated data Sotto puts on every group message: a version byte
/// and the sender's clock (unix ms, little endian).
pub(super) fn aad(now: u64) -> Vec<u8> {
    let mut aad = vec![1u8];
    aad.extend_from_slice(&now.to_le_bytes());
    aad
}

/// The send time in authenticated data made by [`aad`].
pub(super) fn sent_at(aad: &[u8]) -> Option<u64> {
    match aad {
        [1, rest @ ..] if rest.len() == 8 => Some(u64::from_le_bytes(rest.try_into().ok()?)),
        _ => None,
    }
}

/// The account of a member already in the group (its binding was checked
/// when it joined: [`member_account`]).
pub(super) fn account_of(credential: &openmls::prelude::Credential) -> Option<AccountId> {
    let bytes: [u8; 32] = credential.serialized_content().get(..32)?.try_into().ok()?;
    AccountId::from_bytes(bytes).ok()
}

pub(super) fn join_config() -> MlsGroupJoinConfig {
    MlsGroupJoinConfig::builder()
        .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
        .max_past_epochs(PAST_EPOCHS)
        .use_ratchet_tree_extension(true)
        .sender_ratchet_configuration(SenderRatchetConfiguration::new(64, 10_000))
        .build()
}

impl Groups {
    /// An account's groups, none yet.
    pub fn new(account: &AccountKey) -> Self {
        Self {
            identity: MemberIdentity::new(account),
            provider: Provider::default(),
            groups: BTreeMap::new(),
            settle_ms: SETTLE_MS,
        }
    }

    /// Sets how long an epoch settles (tests and the simulator shorten it).
    pub fn set_settle_ms(&mut self, ms: u64) {
        self.settle_ms = ms;
    }

    /// This account.
    pub fn account(&self) -> AccountId {
        self.identity.account()
    }

    /// A new key package (TLS-encoded) that lets an admin add this account
    /// once; its private keys stay in this account's store until used.
    pub fn key_package(&mut self) -> Result<Vec<u8>, GroupError> {
        self.make_key_package(false)
    }

    /// A new *last-resort* key package (RFC 9420 §17.3's `last_resort`
    /// extension): its private keys stay after a join, so the one package an
    /// account publishes lets any number of admins add it until the next is
    /// published ([`super::publish`]). The cost: Welcomes to this account
    /// share an init key until then, so a Welcome has forward secrecy only
    /// from the package's replacement on.
    pub fn last_resort_key_package(&mut self) -> Result<Vec<u8>, GroupError> {
        self.make_key_package(true)
    }

    fn make_key_package(&mut self, last_resort: bool) -> Result<Vec<u8>, GroupError> {
        let mut builder = KeyPackage::builder().leaf_node_capabilities(capabilities());
        if last_resort {
            builder = builder.mark_as_last_resort();
        }
        let bundle = builder
            .build(
                CIPHERSUITE,
                &self.provider,
                &self.identity,
                self.identity.credential_with_key(),
            )
            .map_err(GroupError::mls)?;
        bundle
            .key_package()
            .tls_serialize_detached()
            .map_err(GroupError::mls)
    }

    /// The groups held, sorted by id.
    pub fn list(&self) -> Vec<GroupInfo> {
        self.groups
            .iter()
            .filter(|(_, held)| !held.leaving_self)
            .map(|(id, _)| id)
            .filter_map(|id| self.info(id).ok())
            .collect()
    }

    /// Every group held, also one this account is leaving (it is read until
    /// a commit removes it).
    pub fn ids(&self) -> Vec<GroupId> {
        self.groups.keys().copied().collect()
    }

    /// Whether group `id` has a commit waiting for its epoch to settle (its
    /// own or another member's): only then has [`Groups::settle_one`]
    /// anything to do.
    pub fn settling(&self, id: &GroupId) -> bool {
        self.groups
            .get(id)
            .is_some_and(|h| h.own.is_some() || !h.candidates.is_empty())
    }

    /// One group as a front end shows it.
    pub fn info(&self, id: &GroupId) -> Result<GroupInfo, GroupError> {
        let held = self.groups.get(id).ok_or(GroupError::UnknownGroup)?;
        let mut members: Vec<AccountId> = held
            .mls
            .members()
            .filter_map(|m| account_of(&m.credential))
            .collect();
        members.sort();
        Ok(GroupInfo {
            id: *id,
            meta: GroupMeta::from_context(held.mls.extensions())?,
            members,
            epoch: held.mls.epoch().as_u64(),
        })
    }

    /// The current epoch's account (see [`EPOCH_ACCOUNT_LABEL`]): where the
    /// group's messages of this epoch are stored and read.
    pub fn epoch_account(&self, id: &GroupId) -> Result<AccountKey, GroupError> {
        let held = self.groups.get(id).ok_or(GroupError::UnknownGroup)?;
        Ok(AccountKey::from_entropy(epoch_entropy(
            &self.provider,
            &held.mls,
        )?))
    }

    /// The previous epoch's account, kept for [`PAST_EPOCHS`] so messages
    /// sent there while the last commit settled are still read.
    pub fn previous_epoch_account(&self, id: &GroupId) -> Result<Option<AccountKey>, GroupError> {
        let held = self.groups.get(id).ok_or(GroupError::UnknownGroup)?;
        Ok(held.previous.map(AccountKey::from_entropy))
    }

    /// Creates a group named `name` with this account as its admin and the
    /// accounts of `key_packages` as members. Nobody else knows the group yet,
    /// so the adding commit applies at once; the Welcome goes to the members.
    pub fn create(
        &mut self,
        name: &str,
        key_packages: &[Vec<u8>],
        now: u64,
    ) -> Result<(GroupId, Vec<Outgoing>), GroupError> {
        self.check_room()?;
        let meta = GroupMeta {
            name: name.to_owned(),
            admins: vec![self.account()],
        };
        let config = MlsGroupCreateConfig::builder()
            .ciphersuite(CIPHERSUITE)
            .wire_format_policy(PURE_CIPHERTEXT_WIRE_FORMAT_POLICY)
            .max_past_epochs(PAST_EPOCHS)
            .use_ratchet_tree_extension(true)
            .sender_ratchet_configuration(SenderRatchetConfiguration::new(64, 10_000))
            .capabilities(capabilities())
            .with_group_context_extensions(meta.extensions()?)
            .build();
        let random = self
            .provider
            .rand()
            .random_array::<32>()
            .map_err(GroupError::mls)?;
        let id = GroupId(random);
        let mls = MlsGroup::new_with_group_id(
            &self.provider,
            &self.identity,
            &config,
            MlsGroupId::from_slice(&id.0),
            self.identity.credential_with_key(),
        )
        .map_err(GroupError::mls)?;
        self.groups.insert(id, Held::new(mls));
        let mut out = Vec::new();
        if !key_packages.is_empty() {
            out = self.commit(&id, Op::Add(key_packages.to_vec()), now)?;
            // Epoch 0 has one member: no other commit can compete.
            let events = self.apply_own(&id)?;
            for event in events {
                if let super::GroupEvent::Send(o) = event {
                    out.push(o);
                }
            }
            out.retain(|o| matches!(o, Outgoing::Welcome { .. }));
        }
        Ok((id, out))
    }

    /// Adds the accounts of `key_packages` (admins only).
    pub fn add(
        &mut self,
        id: &GroupId,
        key_packages: &[Vec<u8>],
        now: u64,
    ) -> Result<Vec<Outgoing>, GroupError> {
        self.commit(id, Op::Add(key_packages.to_vec()), now)
    }

    /// Removes `accounts` (admins only); removed admins stop being admins.
    pub fn remove(
        &mut self,
        id: &GroupId,
        accounts: &[AccountId],
        now: u64,
    ) -> Result<Vec<Outgoing>, GroupError> {
        self.commit(id, Op::Remove(accounts.to_vec()), now)
    }

    /// Renames the group (admins only).
    pub fn rename(
        &mut self,
        id: &GroupId,
        name: &str,
        now: u64,
    ) -> Result<Vec<Outgoing>, GroupError> {
        self.commit(id, Op::Rename(name.to_owned()), now)
    }

    /// Makes `account` an admin (admins only).
    pub fn promote(
        &mut self,
        id: &GroupId,
        account: AccountId,
        now: u64,
    ) -> Result<Vec<Outgoing>, GroupError> {
        self.commit(id, Op::Promote(account), now)
    }

    /// Adds `account`, a member that fell behind, again from its current key
    /// package (admins only): its old leaf is removed and the new one added
    /// in one commit, and it gets a Welcome. Its messages and admin role stay.
    pub fn readd(
        &mut self,
        id: &GroupId,
        account: AccountId,
        key_package: &[u8],
        now: u64,
    ) -> Result<Vec<Outgoing>, GroupError> {
        self.commit(id, Op::Readd(account, key_package.to_vec()), now)
    }

    /// Commits fresh key material for this member: any member may, with no
    /// other change in the commit. This heals a stolen state (the thief cannot
    /// follow it) and fills the tree's parent nodes on this member's branch,
    /// which keeps later commits small: in a tree whose parents are blank, a
    /// commit encrypts its path to nearly every member one by one.
    pub fn update(&mut self, id: &GroupId, now: u64) -> Result<Vec<Outgoing>, GroupError> {
        self.commit(id, Op::Update, now)
    }

    /// Sends `body` to the group: the bytes to store in its swarm.
    pub fn send(&mut self, id: &GroupId, body: &[u8], now: u64) -> Result<Vec<u8>, GroupError> {
        let held = self.groups.get_mut(id).ok_or(GroupError::UnknownGroup)?;
        if held.leaving_self {
            return Err(GroupError::Invalid("this account left the group"));
        }
        if held.own.is_some() {
            return Err(GroupError::CommitPending);
        }
        held.mls.set_aad(aad(now));
        let out = held
            .mls
            .create_message(&self.provider, &self.identity, body)
            .map_err(GroupError::mls)?;
        out.tls_serialize_detached().map_err(GroupError::mls)
    }

    /// Leaves the group: the proposal to store in its swarm (an admin commits
    /// it). The group is no longer listed and nothing more is sent to it, but
    /// its state stays until a commit removes this account: a proposal only
    /// counts in its own epoch, so it is made again at every new epoch
    /// ([`GroupEvent::Send`]) until one does. The last admin must promote
    /// someone first.
    pub fn leave(&mut self, id: &GroupId, now: u64) -> Result<Vec<u8>, GroupError> {
        let me = self.account();
        let held = self.groups.get_mut(id).ok_or(GroupError::UnknownGroup)?;
        let meta = GroupMeta::from_context(held.mls.extensions())?;
        if meta.admins == [me] && held.mls.members().count() > 1 {
            return Err(GroupError::Invalid(
                "the last admin must promote another member before leaving",
            ));
        }
        if held.own.is_some() {
            return Err(GroupError::CommitPending);
        }
        held.leaving_self = true;
        self.leave_proposal(id, now)
    }

    /// This account's proposal to remove itself, at the current epoch.
    pub(super) fn leave_proposal(&mut self, id: &GroupId, now: u64) -> Result<Vec<u8>, GroupError> {
        let held = self.groups.get_mut(id).ok_or(GroupError::UnknownGroup)?;
        held.mls.set_aad(aad(now));
        let proposal = held
            .mls
            .leave_group(&self.provider, &self.identity)
            .map_err(GroupError::mls)?;
        proposal.tls_serialize_detached().map_err(GroupError::mls)
    }

    /// Refuses one more group past [`MAX_GROUPS`].
    pub(super) fn check_room(&self) -> Result<(), GroupError> {
        if self.groups.len() >= MAX_GROUPS {
            return Err(GroupError::Invalid("this account is in 500 groups already"));
        }
        Ok(())
    }

    /// Throws away this account's own commit that has not settled yet (its
    /// operation is not made again). Only for a commit that never reached the
    /// group's swarm: one that did may still win, and its maker cannot apply
    /// its own commit from the swarm (openmls does not decrypt its own).
    pub fn discard_pending(&mut self, id: &GroupId) -> Result<(), GroupError> {
        let held = self.groups.get_mut(id).ok_or(GroupError::UnknownGroup)?;
        if held.own.take().is_some() {
            held.mls
                .clear_pending_commit(self.provider.storage())
                .map_err(|e| GroupError::Storage(e.to_string()))?;
        }
        Ok(())
    }

    /// Deletes a group's state from this account's store.
    pub(super) fn forget(&mut self, id: &GroupId) -> Result<(), GroupError> {
        if let Some(mut held) = self.groups.remove(id) {
            held.mls
                .delete(self.provider.storage())
                .map_err(|e| GroupError::Storage(e.to_string()))?;
        }
        Ok(())
    }

    /// Builds and stages the commit for `op`, if it changes anything.
    pub(super) fn commit(
        &mut self,
        id: &GroupId,
        op: Op,
        now: u64,
    ) -> Result<Vec<Outgoing>, GroupError> {
        let me = self.account();
        let held = self.groups.get_mut(id).ok_or(GroupError::UnknownGroup)?;
        if held.own.is_some() {
            return Err(GroupError::CommitPending);
        }
        if held.leaving_self {
            return Err(GroupError::Invalid("this account left the group"));
        }
        let mut meta = GroupMeta::from_context(held.mls.extensions())?;
        let rank = u8::from(!meta.is_admin(&me));
        if !meta.is_admin(&me) && op != Op::Update {
            return Err(GroupError::NotAdmin);
        }
        let members: BTreeMap<AccountId, LeafNodeIndex> = held
            .mls
            .members()
            .filter_map(|m| Some((account_of(&m.credential)?, m.index)))
            .collect();
        let mut adds = Vec::new();
        let mut added = Vec::new();
        let mut removals = Vec::new();
        let mut new_meta = None;
        match &op {
            Op::Add(packages) => {
                for bytes in packages {
                    let (package, account) = self::checked_key_package(&self.provider, bytes)?;
                    if !members.contains_key(&account) && !added.contains(&account) {
                        added.push(account);
                        adds.push(package);
                    }
                }
                if members.len() + adds.len() > MAX_MEMBERS {
                    return Err(GroupError::TooManyMembers);
                }
            }
            Op::Remove(accounts) => {
                for account in accounts {
                    if *account == me {
                        return Err(GroupError::Invalid(
                            "an admin leaves with leave, not remove",
                        ));
                    }
                    if let Some(index) = members.get(account) {
                        removals.push(*index);
                    }
                }
                let before = meta.admins.len();
                meta.admins.retain(|a| !accounts.contains(a));
                if meta.admins.len() != before {
                    new_meta = Some(meta.clone());
                }
            }
            Op::Rename(name) => {
                meta.name = name.clone();
                new_meta = Some(meta.clone());
            }
            Op::Promote(account) => {
                if !members.contains_key(account) {
                    return Err(GroupError::Invalid("only a member can be made an admin"));
                }
                if !meta.admins.contains(account) {
                    meta.admins.push(*account);
                    new_meta = Some(meta.clone());
                }
            }
            Op::Update => {}
            Op::Readd(account, bytes) => {
                let (package, of) = self::checked_key_package(&self.provider, bytes)?;
                if of != *account {
                    return Err(GroupError::Invalid("the key package is another account's"));
                }
                if *account == me {
                    return Err(GroupError::Invalid("an admin cannot add itself again"));
                }
                let index = members
                    .get(account)
                    .ok_or(GroupError::Invalid("only a member can be added again"))?;
                removals.push(*index);
                added.push(*account);
                adds.push(package);
            }
        }
        if adds.is_empty() && removals.is_empty() && new_meta.is_none() && op != Op::Update {
            return Ok(Vec::new());
        }
        held.mls.set_aad(aad(now));
        let mut builder = held
            .mls
            .commit_builder()
            .consume_proposal_store(false)
            // A path (fresh keys along this member's branch) only where MLS
            // needs one (removals) or it is the point (updates): adds alone
            // go without, which keeps them small in a large group.
            .force_self_update(op == Op::Update)
            .propose_adds(adds)
            .propose_removals(removals);
        if let Some(meta) = &new_meta {
            builder = builder
                .propose_group_context_extensions(meta.extensions()?)
                .map_err(GroupError::mls)?;
        }
        let bundle = builder
            .load_psks(self.provider.storage())
            .map_err(GroupError::mls)?
            .build(
                self.provider.rand(),
                self.provider.crypto(),
                &self.identity,
                |_| true,
            )
            .map_err(GroupError::mls)?
            .stage_commit(&self.provider)
            .map_err(GroupError::mls)?;
        let (commit, welcome, _) = bundle.into_messages();
        let bytes = commit.tls_serialize_detached().map_err(GroupError::mls)?;
        let welcome = match welcome {
            Some(w) => Some((added, w.tls_serialize_detached().map_err(GroupError::mls)?)),
            None => None,
        };
        held.own = Some(OwnCommit {
            hash: *blake3::hash(&bytes).as_bytes(),
            rank,
            sent_at: now,
            op,
            welcome,
        });
        Ok(vec![Outgoing::Group(bytes)])
    }
}

/// A key package from its TLS bytes, checked by openmls (signature, lifetime,
/// ciphersuite) and by Sotto (the leaf is bound to an account).
pub(super) fn checked_key_package(
    provider: &Provider,
    bytes: &[u8],
) -> Result<(KeyPackage, AccountId), GroupError> {
    if bytes.len() > super::MAX_MESSAGE_BYTES {
        return Err(GroupError::TooLarge);
    }
    let package = KeyPackageIn::tls_deserialize_exact(bytes).map_err(|_| GroupError::Malformed)?;
    let package = package
        .validate(provider.crypto(), ProtocolVersion::Mls10)
        .map_err(GroupError::mls)?;
    if package.ciphersuite() != CIPHERSUITE {
        return Err(GroupError::Invalid("key package of another ciphersuite"));
    }
    let leaf = package.leaf_node();
    let account = member_account(leaf.credential(), leaf.signature_key().as_slice())?;
    Ok((package, account))
}

/// The 16 bytes of the current epoch's account.
pub(super) fn epoch_entropy(provider: &Provider, mls: &MlsGroup) -> Result<[u8; 16], GroupError> {
    let secret = mls
        .export_secret(provider.crypto(), EPOCH_ACCOUNT_LABEL, &[], 16)
        .map_err(GroupError::mls)?;
    secret
        .try_into()
        .map_err(|_| GroupError::Mls("exporter length".into()))
}
