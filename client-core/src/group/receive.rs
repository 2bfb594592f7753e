//! Handling what a group's swarm holds, and the one-commit-per-epoch rule.
//!
//! **Ordering.** MLS needs every member to apply the same commit for an
//! epoch. Sotto's rule, with its proof sketch in docs/ARCHITECTURE.md
//! (*Groups*): only admins commit changes, any member its own update. Every
//! commit of the current epoch that checks out (it decrypts; its sender is an
//! admin, or it changes nothing but the sender's keys; the committer's new
//! leaf and the members it adds are bound to their accounts; the group stays
//! within its limits) is a *candidate*, one per sender, at most
//! [`super::MAX_CANDIDATES`]. Once `now` is [`super::SETTLE_MS`] past the
//! earliest candidate's time *and the reader has read the swarm to its end*
//! ([`Groups::settle`]), the candidate with the least `(rank, time, blake3
//! hash)` among those taken within half the settle time of the earliest wins and is applied, and the others are dropped: rank 0 is an
//! admin's commit, 1 a member's update, so no member can keep an admin's
//! change from winning; time is when the first swarm member took the commit
//! ([`Groups::receive_stored`]), which the member cannot choose. An admin
//! whose own commit lost makes its operation again on the new epoch. Messages
//! for the next epoch wait (at most [`super::MAX_FUTURE`]) until the commit
//! that starts it is applied.

use std::collections::BTreeSet;

use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::{
    ContentType, MlsMessageBodyIn, MlsMessageIn, ProcessedMessageContent, Proposal,
    ProtocolMessage, Sender, StagedCommit, StagedWelcome,
};
use openmls_traits::OpenMlsProvider as _;
use sotto_protocol::AccountId;

use super::engine::{
    Candidate, Groups, Held, Op, OwnCommit, account_of, epoch_entropy, join_config, sent_at,
};
use super::identity::member_account;
use super::meta::GroupMeta;
use super::{
    GroupError, GroupEvent, GroupId, MAX_CANDIDATES, MAX_FUTURE, MAX_FUTURE_BYTES, MAX_MEMBERS,
    MAX_MESSAGE_BYTES, Outgoing,
};

impl Groups {
    /// Joins the group a Welcome (TLS bytes) invites this account to, after
    /// checking every member's binding to an account, the group's meta and
    /// size, and that an admin sent it.
    pub fn join(&mut self, welcome: &[u8]) -> Result<GroupId, GroupError> {
        self.join_from(welcome, 0)
    }

    /// Joins group `id` again from `welcome`, the answer to this account's
    /// request to be added again (`Groups::readd` on an admin's side). The
    /// old state is replaced only by a Welcome for `id` at a later epoch (a
    /// replayed one is refused) sent by an admin *of the old state*, so
    /// nobody can swap the group for one of their own under its id. On any
    /// failure nothing changes.
    pub fn rejoin(&mut self, welcome: &[u8], id: &GroupId) -> Result<GroupId, GroupError> {
        let held = self.groups.get(id).ok_or(GroupError::UnknownGroup)?;
        let epoch = held.mls.epoch().as_u64();
        let admins = GroupMeta::from_context(held.mls.extensions())?.admins;
        let backup = self.export()?;
        let result = self.replace_from(welcome, id, epoch, &admins);
        if result.is_err() {
            self.restore(&backup)?;
        }
        result
    }

    fn replace_from(
        &mut self,
        welcome: &[u8],
        id: &GroupId,
        epoch: u64,
        admins: &[AccountId],
    ) -> Result<GroupId, GroupError> {
        if let Some(mut old) = self.groups.remove(id) {
            old.mls
                .delete(self.provider.storage())
                .map_err(|e| GroupError::Storage(e.to_string()))?;
        }
        match self.join_checked(welcome, epoch.saturating_add(1), Some(admins))? {
            g if g == *id => Ok(g),
            _ => Err(GroupError::Invalid("the Welcome is for another group")),
        }
    }

    fn join_from(&mut self, welcome: &[u8], min_epoch: u64) -> Result<GroupId, GroupError> {
        self.join_checked(welcome, min_epoch, None)
    }

    /// [`Groups::join`], refusing a Welcome before `min_epoch` and, with
    /// `senders`, one not sent by one of them.
    fn join_checked(
        &mut self,
        welcome: &[u8],
        min_epoch: u64,
        senders: Option<&[AccountId]>,
    ) -> Result<GroupId, GroupError> {
        if welcome.len() > MAX_MESSAGE_BYTES {
            return Err(GroupError::TooLarge);
        }
        self.check_room()?;
        let message =
            MlsMessageIn::tls_deserialize_exact(welcome).map_err(|_| GroupError::Malformed)?;
        let MlsMessageBodyIn::Welcome(welcome) = message.extract() else {
            return Err(GroupError::Malformed);
        };
        let staged = StagedWelcome::new_from_welcome(&self.provider, &join_config(), welcome, None)
            .map_err(GroupError::mls)?;
        let meta = GroupMeta::from_context(staged.group_context().extensions())?;
        // Count first: each member's check costs two signature verifications.
        if staged.members().count() > MAX_MEMBERS {
            return Err(GroupError::TooManyMembers);
        }
        let mut accounts = BTreeSet::new();
        for member in staged.members() {
            let account = member_account(&member.credential, &member.signature_key)?;
            if !accounts.insert(account) {
                return Err(GroupError::Invalid("an account is in the group twice"));
            }
        }
        let sender = staged.welcome_sender().map_err(GroupError::mls)?;
        let by =
            account_of(sender.credential()).ok_or(GroupError::BadCredential("welcome sender"))?;
        if !meta.is_admin(&by) || senders.is_some_and(|s| !s.contains(&by)) {
            return Err(GroupError::NotAdmin);
        }
        let raw: [u8; 32] = staged
            .group_context()
            .group_id()
            .as_slice()
            .try_into()
            .map_err(|_| GroupError::Invalid("group id is not 32 bytes"))?;
        let id = GroupId(raw);
        if self.groups.contains_key(&id) {
            return Err(GroupError::Invalid("already a member of this group"));
        }
        if staged.group_context().epoch().as_u64() < min_epoch {
            return Err(GroupError::Invalid(
                "a Welcome older than the state it would replace",
            ));
        }
        let mls = staged.into_group(&self.provider).map_err(GroupError::mls)?;
        self.groups.insert(id, Held::new(mls));
        Ok(id)
    }

    /// Handles one message read from a group's swarm at `now`. A commit only
    /// becomes a candidate here; [`Groups::settle`] applies the winner, and is
    /// to be called once the reader has read the group's swarm to its end
    /// (the ordering rule relies on it: see the module's documentation).
    /// Commits are ordered by the sender's own time in their authenticated
    /// data; [`Groups::receive_stored`] orders them by the time a node stamped
    /// instead, which a member cannot choose.
    pub fn receive(&mut self, bytes: &[u8], now: u64) -> Result<Vec<GroupEvent>, GroupError> {
        self.receive_one(bytes, None, now)
    }

    /// [`Groups::receive`] for an item a node returned, with the time the
    /// first swarm member took it (`RetrievedMessage::timestamp`, the same on
    /// every replica): commits are ordered by it.
    pub fn receive_stored(
        &mut self,
        bytes: &[u8],
        stored_at: u64,
        now: u64,
    ) -> Result<Vec<GroupEvent>, GroupError> {
        self.receive_one(bytes, Some(stored_at), now)
    }

    /// [`Groups::settle`] for one group, the one a reader has just read to
    /// its end.
    pub fn settle_one(&mut self, id: &GroupId, now: u64) -> Vec<GroupEvent> {
        self.settle_group(id, now)
    }

    /// When `id`'s next epoch is due to settle: its earliest candidate's
    /// time (its own pending commit's is the time a node stamped on it once
    /// read back, until then the time it was made) plus the settle time;
    /// `None` when nothing is pending. A reader that settles no
    /// earlier than this applies the epoch with the others.
    pub fn settle_due(&self, id: &GroupId) -> Option<u64> {
        let earliest = earliest_candidate(self.groups.get(id)?)?;
        Some(earliest.saturating_add(self.settle_ms))
    }

    /// Applies every epoch whose settle time has passed, in every group.
    pub fn settle(&mut self, now: u64) -> Vec<GroupEvent> {
        let ids: Vec<GroupId> = self.groups.keys().copied().collect();
        ids.iter()
            .flat_map(|id| self.settle_group(id, now))
            .collect()
    }

    fn receive_one(
        &mut self,
        bytes: &[u8],
        stored_at: Option<u64>,
        now: u64,
    ) -> Result<Vec<GroupEvent>, GroupError> {
        if bytes.len() > MAX_MESSAGE_BYTES {
            return Err(GroupError::TooLarge);
        }
        let message =
            MlsMessageIn::tls_deserialize_exact(bytes).map_err(|_| GroupError::Malformed)?;
        let message: ProtocolMessage = message
            .try_into_protocol_message()
            .map_err(|_| GroupError::Malformed)?;
        let ProtocolMessage::PrivateMessage(private) = &message else {
            return Err(GroupError::Invalid("group messages are encrypted"));
        };
        let sent = sent_at(private.aad()).ok_or(GroupError::Malformed)?;
        let id = GroupId(
            message
                .group_id()
                .as_slice()
                .try_into()
                .map_err(|_| GroupError::Malformed)?,
        );
        let held = self.groups.get_mut(&id).ok_or(GroupError::UnknownGroup)?;
        let epoch = message.epoch().as_u64();
        let current = held.mls.epoch().as_u64();
        let content_type = message.content_type();
        if epoch > current.saturating_add(1) {
            return Err(GroupError::Invalid(
                "a message for an epoch this member cannot reach yet",
            ));
        }
        if epoch > current {
            let held_bytes: usize = held.future.iter().map(Vec::len).sum();
            if held.future.len() >= MAX_FUTURE || held_bytes + bytes.len() > MAX_FUTURE_BYTES {
                return Err(GroupError::Invalid(
                    "too many messages ahead of this member's epoch",
                ));
            }
            held.future.push_back(bytes.to_vec());
            return Ok(Vec::new());
        }
        if epoch < current && content_type != ContentType::Application {
            return Err(GroupError::Invalid("a handshake of a past epoch"));
        }
        let hash = *blake3::hash(bytes).as_bytes();
        if let (Some(own), Some(at)) = (held.own.as_mut(), stored_at) {
            // This account's own commit as a node stamped it: from now on it
            // competes with the time every other member sees.
            if own.hash == hash {
                own.sent_at = at;
            }
        }
        let known = held.own.as_ref().is_some_and(|own| own.hash == hash)
            || held.candidates.iter().any(|c| c.hash == hash);
        if content_type == ContentType::Commit && known {
            return Ok(Vec::new());
        }
        let processed = held
            .mls
            .process_message(&self.provider, message)
            .map_err(GroupError::mls)?;
        let sender = match processed.sender() {
            Sender::Member(_) => {
                account_of(processed.credential()).ok_or(GroupError::BadCredential("sender"))?
            }
            _ => return Err(GroupError::Invalid("only members send to a group")),
        };
        match processed.into_content() {
            ProcessedMessageContent::ApplicationMessage(_)
                if epoch < current && !member_set(held).contains(&sender) =>
            {
                // Past epochs stay readable for messages sent while a commit
                // settled, not for members that commit removed.
                Err(GroupError::Invalid(
                    "a past epoch's message from a removed member",
                ))
            }
            ProcessedMessageContent::ApplicationMessage(message) => Ok(vec![GroupEvent::Message {
                group: id,
                sender,
                sent_at: sent,
                body: message.into_bytes(),
            }]),
            ProcessedMessageContent::ProposalMessage(queued) => {
                // The one proposal a member sends: leaving (removing itself).
                let leaf = match processed_sender_leaf(queued.sender()) {
                    Some(leaf) => leaf,
                    None => return Err(GroupError::Invalid("proposal from a non-member")),
                };
                match queued.proposal() {
                    Proposal::Remove(remove) if remove.removed() == leaf => {
                        held.leaving.insert(sender);
                        let mut events = vec![GroupEvent::LeaveRequested {
                            group: id,
                            member: sender,
                        }];
                        events.extend(self.remove_leavers(&id, now));
                        Ok(events)
                    }
                    _ => Err(GroupError::Invalid("members only propose to leave")),
                }
            }
            ProcessedMessageContent::StagedCommitMessage(staged) => {
                let meta = GroupMeta::from_context(held.mls.extensions())?;
                let changes = staged.queued_proposals().next().is_some()
                    || staged.group_context().extensions() != held.mls.extensions();
                let admin = meta.is_admin(&sender);
                if changes && !admin {
                    return Err(GroupError::NotAdmin);
                }
                check_commit(&staged, held.mls.members().count(), &sender)?;
                let candidate = Candidate {
                    rank: u8::from(!admin),
                    at: stored_at.unwrap_or(sent),
                    hash,
                    by: sender,
                    staged: *staged,
                };
                admit(&mut held.candidates, candidate)?;
                Ok(Vec::new())
            }
            _ => Err(GroupError::Invalid("unexpected group message")),
        }
    }

    /// Picks and applies the winning commit of each settled epoch in group `id`.
    fn settle_group(&mut self, id: &GroupId, now: u64) -> Vec<GroupEvent> {
        let mut events = Vec::new();
        loop {
            let settle_ms = self.settle_ms;
            let Some(held) = self.groups.get_mut(id) else {
                break;
            };
            let own_key = held.own.as_ref().map(OwnCommit::key);
            let pending = held.candidates.len() + usize::from(own_key.is_some());
            let Some(earliest) = earliest_candidate(held) else {
                break;
            };
            if now < earliest.saturating_add(settle_ms) {
                break;
            }
            // Only what was first taken within half the settle time of the
            // earliest competes: all of that has reached every member by the
            // time anyone settles, so every reader sees the same set.
            let window = earliest.saturating_add(settle_ms / 2);
            let own_key = own_key.filter(|k| k.1 <= window);
            let best = held
                .candidates
                .iter()
                .filter(|c| c.at <= window)
                .map(Candidate::key)
                .min();
            let own_wins = match (own_key, best) {
                (Some(own), Some(best)) => own < best,
                (Some(_), None) => true,
                _ => false,
            };
            let applied = if own_wins {
                self.apply_own(id)
            } else {
                self.apply_candidate(id, window, now)
            };
            match applied {
                Ok(more) => events.extend(more),
                Err(e) => {
                    tracing::debug!("a group commit did not apply: {e}");
                    // The failed commit was dropped: try what is left, if
                    // anything was dropped (otherwise this would not end).
                    let left = self
                        .groups
                        .get(id)
                        .map(|h| h.candidates.len() + usize::from(h.own.is_some()));
                    if left.is_some_and(|n| n < pending) {
                        continue;
                    }
                    break;
                }
            }
            if !self.groups.contains_key(id) {
                break;
            }
            // Messages that were waiting for this epoch.
            let waiting = match self.groups.get_mut(id) {
                Some(held) => std::mem::take(&mut held.future),
                None => break,
            };
            for bytes in waiting {
                if let Ok(more) = self.receive_one(&bytes, None, now) {
                    events.extend(more);
                }
            }
            events.extend(self.remove_leavers(id, now));
            // A leave proposal counts only in its epoch: propose again.
            if self.groups.get(id).is_some_and(|h| h.leaving_self) {
                match self.leave_proposal(id, now) {
                    Ok(bytes) => events.push(GroupEvent::Send(Outgoing::Group(bytes))),
                    Err(e) => tracing::debug!("leaving a group: {e}"),
                }
            }
        }
        events
    }

    /// Applies this account's own pending commit (it won its epoch).
    pub(super) fn apply_own(&mut self, id: &GroupId) -> Result<Vec<GroupEvent>, GroupError> {
        let me = self.account();
        let held = self.groups.get_mut(id).ok_or(GroupError::UnknownGroup)?;
        let previous = epoch_entropy(&self.provider, &held.mls)?;
        let own = held
            .own
            .take()
            .ok_or(GroupError::Invalid("no pending commit"))?;
        let before = member_set(held);
        if let Err(e) = held.mls.merge_pending_commit(&self.provider) {
            let _ = held.mls.clear_pending_commit(self.provider.storage());
            return Err(GroupError::mls(e));
        }
        held.previous = Some(previous);
        held.candidates.clear();
        let after = member_set(held);
        let mut events = vec![changed(id, held, &before, &after, me)];
        if let Some((to, bytes)) = own.welcome {
            events.push(GroupEvent::Send(Outgoing::Welcome { to, bytes }));
        }
        Ok(events)
    }

    /// Applies the least candidate; an own pending commit lost and its
    /// operation is made again on the new epoch.
    fn apply_candidate(
        &mut self,
        id: &GroupId,
        window: u64,
        now: u64,
    ) -> Result<Vec<GroupEvent>, GroupError> {
        let held = self.groups.get_mut(id).ok_or(GroupError::UnknownGroup)?;
        let previous = epoch_entropy(&self.provider, &held.mls)?;
        let least = held
            .candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| c.at <= window)
            .min_by_key(|(_, c)| c.key())
            .map(|(i, _)| i)
            .ok_or(GroupError::Invalid("no candidate"))?;
        // Taken out first: if it does not merge, the others remain.
        let winner = held.candidates.swap_remove(least);
        let before = member_set(held);
        let self_removed = winner.staged.self_removed();
        let by = winner.by;
        held.mls
            .merge_staged_commit(&self.provider, winner.staged)
            .map_err(GroupError::mls)?;
        held.previous = Some(previous);
        held.candidates.clear();
        let lost: Option<Op> = held.own.take().map(|own| own.op);
        if self_removed {
            self.forget(id)?;
            return Ok(vec![GroupEvent::Removed { group: *id }]);
        }
        let after = member_set(held);
        let mut events = vec![changed(id, held, &before, &after, by)];
        // A lost re-addition is not made again: another admin's answer to
        // the same request may have won, and a second one would take the
        // member's fresh place away (it asks again if it is still behind).
        if let Some(op) = lost.filter(|op| !matches!(op, Op::Readd(..))) {
            // Made again on the new epoch; what no longer applies (a member
            // the winner removed, an admin it demoted) is dropped, not fatal.
            match self.commit(id, op, now) {
                Ok(out) => events.extend(out.into_iter().map(GroupEvent::Send)),
                Err(e) => tracing::debug!("a lost group operation no longer applies: {e}"),
            }
        }
        Ok(events)
    }

    /// An admin with no commit pending commits the removal of members that
    /// asked to leave.
    fn remove_leavers(&mut self, id: &GroupId, now: u64) -> Vec<GroupEvent> {
        let me = self.account();
        let Some(held) = self.groups.get_mut(id) else {
            return Vec::new();
        };
        let members = member_set(held);
        held.leaving.retain(|a| members.contains(a));
        let is_admin =
            GroupMeta::from_context(held.mls.extensions()).is_ok_and(|m| m.is_admin(&me));
        if held.leaving.is_empty() || held.own.is_some() || !is_admin {
            return Vec::new();
        }
        let leaving: Vec<AccountId> = held.leaving.iter().copied().collect();
        match self.commit(id, Op::Remove(leaving), now) {
            Ok(out) => out.into_iter().map(GroupEvent::Send).collect(),
            Err(_) => Vec::new(),
        }
    }
}

fn processed_sender_leaf(sender: &Sender) -> Option<openmls::prelude::LeafNodeIndex> {
    match sender {
        Sender::Member(leaf) => Some(*leaf),
        _ => None,
    }
}

/// Sotto's checks on another member's commit, beyond openmls' own: the
/// committer's new leaf and every added member are bound to accounts (the
/// committer's to its own), the group stays within its size, and a new meta
/// is well formed.
fn check_commit(
    staged: &StagedCommit,
    members: usize,
    sender: &AccountId,
) -> Result<(), GroupError> {
    // A path brings a new leaf for the committer: it must still be bound to
    // the committer's own account (openmls leaves credentials to the caller).
    if let Some(leaf) = staged.update_path_leaf_node() {
        let account = member_account(leaf.credential(), leaf.signature_key().as_slice())?;
        if account != *sender {
            return Err(GroupError::BadCredential(
                "a commit's new leaf names another account",
            ));
        }
    }
    let mut added = 0usize;
    for add in staged.add_proposals() {
        let leaf = add.add_proposal().key_package().leaf_node();
        member_account(leaf.credential(), leaf.signature_key().as_slice())?;
        added += 1;
    }
    let removed = staged.remove_proposals().count();
    if members + added - removed.min(members + added) > MAX_MEMBERS {
        return Err(GroupError::TooManyMembers);
    }
    GroupMeta::from_context(staged.group_context().extensions())?;
    Ok(())
}

fn member_set(held: &Held) -> BTreeSet<AccountId> {
    held.mls
        .members()
        .filter_map(|m| account_of(&m.credential))
        .collect()
}

fn changed(
    id: &GroupId,
    held: &Held,
    before: &BTreeSet<AccountId>,
    after: &BTreeSet<AccountId>,
    by: AccountId,
) -> GroupEvent {
    GroupEvent::Changed {
        group: *id,
        epoch: held.mls.epoch().as_u64(),
        added: after.difference(before).copied().collect(),
        removed: before.difference(after).copied().collect(),
        by,
    }
}

/// Takes a candidate in: one per sender (the least), and at most
/// [`MAX_CANDIDATES`], keeping the least ones, so what a reader keeps does not
/// depend on the order it read them in, and one member cannot crowd others out.
fn admit(candidates: &mut Vec<Candidate>, candidate: Candidate) -> Result<(), GroupError> {
    if let Some(same) = candidates.iter_mut().find(|c| c.by == candidate.by) {
        if candidate.key() < same.key() {
            *same = candidate;
        }
        return Ok(());
    }
    if candidates.len() < MAX_CANDIDATES {
        candidates.push(candidate);
        return Ok(());
    }
    match candidates.iter_mut().max_by_key(|c| c.key()) {
        Some(largest) if candidate.key() < largest.key() => {
            *largest = candidate;
            Ok(())
        }
        _ => Err(GroupError::Invalid("too many commits for one epoch")),
    }
}

/// The time of `held`'s earliest pending candidate, its own commit's
/// included (rule 2's `t₀`).
fn earliest_candidate(held: &Held) -> Option<u64> {
    held.candidates
        .iter()
        .map(|c| c.at)
        .chain(held.own.as_ref().map(|o| o.key().1))
        .min()
}
