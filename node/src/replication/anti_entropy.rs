//! Anti-entropy: comparing what two members hold for the accounts they share,
//! pulling what this node lacks and pushing what the peer lacks (DESIGN §6,
//! and the round described in `sotto_protocol::rpc::replication`).

use std::collections::{BTreeMap, BTreeSet};
use std::iter::Peekable;

use libp2p::PeerId;
use sotto_protocol::constants::{
    MAX_DIGEST_ENTRIES, MAX_LISTING_PAGE, MAX_REPLICATION_BATCH, PEER_CLOCK_TOLERANCE_MS,
};
use sotto_protocol::rpc::digest::ItemState;
use sotto_protocol::rpc::{
    DigestItem, MessageHash, NodeRequest, NodeResponse, Reconcile, reconcile,
};
use sotto_protocol::{AccountId, NodeId, UnixMillis};

use super::apply::{self, Batch};
use super::{ReplicationError, Replicator, blocking};

/// Most listing pages asked of a peer for one account in one round: the peer
/// decides whether more follow, so this bounds what one peer can make a round
/// cost. At [`MAX_LISTING_PAGE`] items a page it covers about 260,000 items,
/// more than the default per-account quota can hold.
const MAX_LIST_PAGES: usize = 256;

/// The metrics source of what peers' answers get refused for.
const SOURCE: &str = "anti_entropy";

/// A `(account, hash)` list, as `Fetch` and the store's `fetch` take it.
type Hashes = Vec<(AccountId, MessageHash)>;

impl Replicator {
    /// One anti-entropy pass: for every account this node holds and serves, with
    /// every other member of its swarm, compare digests, and for each account
    /// that differs pull what this node lacks and push what the peer lacks.
    /// Accounts only the peer holds are covered by the peer's own pass. Counts
    /// one round per peer in `metrics.anti_entropy` ("ok" or "failed"). A
    /// store that holds nothing ([`crate::store::Store::may_hold_items`]) has
    /// no pass.
    pub async fn anti_entropy_once(&self) {
        let ctx = &self.ctx;
        if !ctx.store.may_hold_items() {
            return;
        }
        let accounts =
            match blocking(&ctx.store, |s| s.accounts().collect::<Result<Vec<_>, _>>()).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "anti-entropy could not list the accounts held");
                    ctx.metrics.anti_entropy.inc("failed", "");
                    return;
                }
            };
        // Per peer, the accounts both should hold, in increasing order (the
        // store lists accounts in order, and Digest needs them so).
        let me = ctx.node_id;
        let plan = ctx.dir(|d| {
            let mut plan = BTreeMap::<NodeId, (PeerId, Vec<AccountId>)>::new();
            for account in &accounts {
                let swarm = d.swarm(account);
                if !swarm.contains(&me) {
                    continue;
                }
                for node in swarm.iter().filter(|n| **n != me) {
                    if let Some(e) = d.get(node) {
                        plan.entry(*node)
                            .or_insert((e.peer, Vec::new()))
                            .1
                            .push(*account);
                    }
                }
            }
            plan
        });
        // One peer after the other: a round is background work, and each
        // request is time-bounded by the network handle.
        for (peer, accounts) in plan.into_values() {
            let outcome = match self.round_with(peer, &accounts).await {
                Ok(()) => "ok",
                Err(e) => {
                    tracing::debug!(error = %e, "anti-entropy round failed");
                    "failed"
                }
            };
            ctx.metrics.anti_entropy.inc(outcome, "");
        }
    }

    /// One round with `peer` over `accounts` (increasing). Goes on with the
    /// other accounts when one fails, and reports the first failure.
    async fn round_with(
        &self,
        peer: PeerId,
        accounts: &[AccountId],
    ) -> Result<(), ReplicationError> {
        let mut first_error = None;
        for chunk in accounts.chunks(MAX_DIGEST_ENTRIES) {
            let now = self.ctx.clock.now();
            let owned = chunk.to_vec();
            let digests = blocking(&self.ctx.store, move |s| {
                owned
                    .iter()
                    .map(|a| s.digest(a, now))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
            let differing = match self.ask(peer, NodeRequest::Digest { digests }).await? {
                NodeResponse::DigestDiff { differing } => differing,
                other => return Err(unexpected("digest", other)),
            };
            for account in differing {
                if chunk.binary_search(&account).is_err() {
                    // Not one we asked about: nothing to do with it.
                    self.ctx.metrics.rejected.inc(SOURCE, "unasked_account");
                    continue;
                }
                if let Err(e) = self.sync_account(peer, account).await {
                    first_error.get_or_insert(e);
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Sends `request` to `peer`; an error answer is an error.
    async fn ask(
        &self,
        peer: PeerId,
        request: NodeRequest,
    ) -> Result<NodeResponse, ReplicationError> {
        match self.ctx.net.node_request(peer, request).await? {
            NodeResponse::Error(e) => Err(ReplicationError::Peer(e)),
            r => Ok(r),
        }
    }

    /// Brings `account` in line with `peer`, both ways, one listing page of the
    /// peer at a time: each page covers a range of hashes, compared with this
    /// node's items in the same range.
    async fn sync_account(&self, peer: PeerId, account: AccountId) -> Result<(), ReplicationError> {
        let mut after: Option<MessageHash> = None;
        let mut pull = Hashes::new();
        let mut give = Hashes::new();
        let mut lacking = Hashes::new();
        for _ in 0..MAX_LIST_PAGES {
            let limit = u16::try_from(MAX_LISTING_PAGE).unwrap_or(u16::MAX);
            let (remote, more) = match self
                .ask(
                    peer,
                    NodeRequest::List {
                        account,
                        after,
                        limit,
                    },
                )
                .await?
            {
                NodeResponse::Listing { items, more } => (items, more),
                other => return Err(unexpected("list", other)),
            };
            // Items come in increasing hash order (checked by decode); they
            // must also start after where this page was asked to, or paging
            // could go round in circles.
            if let (Some(a), Some(first)) = (after, remote.first())
                && first.hash <= a
            {
                return Err(ReplicationError::Unexpected { asked: "list" });
            }
            let high = if more {
                remote.last().map(|i| i.hash)
            } else {
                None
            };
            let local = self.local_range(account, after, high).await?;
            // Past the clocks' tolerance, the peer cannot have expired it.
            let live_past = self.ctx.clock.now().saturating_add(PEER_CLOCK_TOLERANCE_MS);
            compare(
                account,
                &local,
                &remote,
                &mut pull,
                &mut give,
                &mut lacking,
                live_past,
            );
            while pull.len() >= MAX_REPLICATION_BATCH {
                let batch: Hashes = pull.drain(..MAX_REPLICATION_BATCH).collect();
                self.pull_from(peer, batch).await?;
            }
            while give.len() >= MAX_REPLICATION_BATCH {
                let batch: Hashes = give.drain(..MAX_REPLICATION_BATCH).collect();
                self.give_to(peer, batch).await?;
            }
            match high {
                Some(h) => after = Some(h),
                None => break,
            }
        }
        if !pull.is_empty() {
            self.pull_from(peer, pull).await?;
        }
        if !give.is_empty() {
            self.give_to(peer, give).await?;
        }
        self.check_receipts(peer, &lacking);
        Ok(())
    }

    /// `peer` holds nothing of the live messages `lacking`: any it signed a
    /// receipt for, it acknowledged and dropped ([`super::witness`]).
    fn check_receipts(&self, peer: PeerId, lacking: &[(AccountId, MessageHash)]) {
        if lacking.is_empty() {
            return;
        }
        let broken = super::lock(&self.witnessed).broken(peer, lacking, std::time::Instant::now());
        if broken > 0 {
            tracing::warn!(
                %peer,
                broken,
                "a swarm member no longer holds messages it signed receipts for; \
                 its receipts do not count for an hour"
            );
            for _ in 0..broken {
                self.ctx.metrics.rejected.inc(SOURCE, "receipt_broken");
            }
        }
    }

    /// This node's live items of `account` with a hash after `after` and up
    /// to `high` (to the end when `None`), in hash order. The store's quotas
    /// bound how many one account can have.
    async fn local_range(
        &self,
        account: AccountId,
        after: Option<MessageHash>,
        high: Option<MessageHash>,
    ) -> Result<Vec<DigestItem>, ReplicationError> {
        let now = self.ctx.clock.now();
        blocking(&self.ctx.store, move |s| {
            let mut out = Vec::new();
            let mut cursor = after;
            loop {
                let (items, more) = s.list(&account, cursor, MAX_LISTING_PAGE, now)?;
                for item in items {
                    if high.is_some_and(|h| item.hash > h) {
                        return Ok(out);
                    }
                    cursor = Some(item.hash);
                    out.push(item);
                }
                if !more {
                    return Ok(out);
                }
            }
        })
        .await
    }

    /// Fetches `hashes` from `peer`, checks the owner signatures, and keeps
    /// what was asked for.
    async fn pull_from(&self, peer: PeerId, hashes: Hashes) -> Result<(), ReplicationError> {
        let asked: BTreeSet<(AccountId, MessageHash)> = hashes.iter().copied().collect();
        let accounts: BTreeSet<AccountId> = hashes.iter().map(|(a, _)| *a).collect();
        let answer = self.ask(peer, NodeRequest::Fetch { hashes }).await?;
        let now = self.ctx.clock.now();
        if let Err(e) = answer.authorize(&self.ctx.params.name, now) {
            self.ctx.metrics.rejected.inc(SOURCE, "bad_signature");
            return Err(ReplicationError::Forged(e));
        }
        let NodeResponse::Messages {
            messages,
            deletes,
            expiries,
        } = answer
        else {
            return Err(unexpected("fetch", answer));
        };
        let batch = Batch {
            messages: messages
                .into_iter()
                .filter(|m| asked.contains(&(m.account, m.hash)))
                .collect(),
            deletes: deletes
                .into_iter()
                .filter(|d| accounts.contains(&d.account))
                .collect(),
            expiries: expiries
                .into_iter()
                .filter(|e| accounts.contains(&e.account))
                .collect(),
        };
        let applied = apply::apply(&self.ctx, SOURCE, batch).await?;
        self.ctx
            .metrics
            .pulled_messages
            .add(u64::from(applied.new_messages));
        Ok(())
    }

    /// Pushes what this node holds for `hashes` to `peer`.
    async fn give_to(&self, peer: PeerId, hashes: Hashes) -> Result<(), ReplicationError> {
        let now = self.ctx.clock.now();
        let f = blocking(&self.ctx.store, move |s| s.fetch(&hashes, now)).await?;
        if f.messages.is_empty() && f.deletes.is_empty() && f.expiries.is_empty() {
            return Ok(());
        }
        let request = NodeRequest::Replicate {
            messages: f.messages,
            deletes: f.deletes,
            expiries: f.expiries,
        };
        let result = match self.ask(peer, request).await? {
            NodeResponse::Ack { .. } => Ok(()),
            other => Err(unexpected("replicate", other)),
        };
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        self.ctx.metrics.pushes.inc("anti_entropy", outcome);
        result
    }
}

/// The error for an answer of the wrong kind (an error answer is the peer's).
fn unexpected(asked: &'static str, answer: NodeResponse) -> ReplicationError {
    match answer {
        NodeResponse::Error(e) => ReplicationError::Peer(e),
        _ => ReplicationError::Unexpected { asked },
    }
}

/// Walks `local` and `remote` (both in increasing hash order) together and
/// notes, with the protocol's `reconcile` run both ways, which hashes this
/// node must pull and which the peer should be given; of the latter, the
/// live messages the peer holds nothing at all of, and that expire after
/// `live_past` by this node's view, go to `lacking` too.
fn compare(
    account: AccountId,
    local: &[DigestItem],
    remote: &[DigestItem],
    pull: &mut Hashes,
    give: &mut Hashes,
    lacking: &mut Hashes,
    live_past: UnixMillis,
) {
    let mut l: Peekable<_> = local.iter().peekable();
    let mut r: Peekable<_> = remote.iter().peekable();
    loop {
        let (mine, theirs) = match (l.peek(), r.peek()) {
            (None, None) => return,
            (Some(a), Some(b)) if a.hash == b.hash => (l.next(), r.next()),
            (Some(a), Some(b)) if a.hash < b.hash => (l.next(), None),
            (Some(_), None) => (l.next(), None),
            _ => (None, r.next()),
        };
        if let Some(t) = theirs
            && reconcile(mine, t) == Reconcile::Fetch
        {
            pull.push((account, t.hash));
        }
        if let Some(m) = mine
            && reconcile(theirs, m) == Reconcile::Fetch
        {
            give.push((account, m.hash));
            if theirs.is_none()
                && matches!(m.state, ItemState::Present { expiry, .. } if expiry > live_past)
            {
                lacking.push((account, m.hash));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_protocol::rpc::StoredMessage;
    use sotto_protocol::{AccountKey, Namespace};

    #[test]
    fn compare_pulls_and_gives_both_ways() {
        let a = AccountKey::from_entropy([1; 16]).account_id();
        let item = |d: u8, t: u64| {
            DigestItem::of_message(
                &StoredMessage::new(a, Namespace::INBOX, vec![d], t, 60_000),
                None,
            )
        };
        let mut shared_old = item(1, 1_000);
        let shared_new = item(1, 2_000);
        let only_mine = item(2, 1_000);
        let only_theirs = item(3, 1_000);
        let gone = DigestItem::deleted(item(4, 1_000).hash, Namespace::INBOX);
        let alive = item(4, 1_000);
        let mut local = vec![shared_old, only_mine, alive];
        let mut remote = vec![shared_new, only_theirs, gone];
        local.sort_by_key(|i| i.hash);
        remote.sort_by_key(|i| i.hash);
        let (mut pull, mut give, mut lacking) = (Vec::new(), Vec::new(), Vec::new());
        compare(a, &local, &remote, &mut pull, &mut give, &mut lacking, 0);
        pull.sort();
        give.sort();
        // Only what the peer has no trace of: not `alive`, which it holds as
        // deleted (the tombstone wins and comes this way).
        assert_eq!(lacking, vec![(a, only_mine.hash)]);
        let mut want_pull = vec![(a, shared_new.hash), (a, only_theirs.hash), (a, gone.hash)];
        want_pull.sort();
        assert_eq!(pull, want_pull);
        assert_eq!(give, vec![(a, only_mine.hash)]);
        // Equal states: nothing either way.
        shared_old = shared_new;
        let (mut pull, mut give, mut lacking) = (Vec::new(), Vec::new(), Vec::new());
        compare(
            a,
            &[shared_old],
            &[shared_new],
            &mut pull,
            &mut give,
            &mut lacking,
            0,
        );
        assert!(pull.is_empty() && give.is_empty() && lacking.is_empty());
        // The peer holding an older state of a message is not lacking it.
        let (mut pull, mut give, mut lacking) = (Vec::new(), Vec::new(), Vec::new());
        compare(
            a,
            &[shared_new],
            &[item(1, 1_000)],
            &mut pull,
            &mut give,
            &mut lacking,
            0,
        );
        assert!(lacking.is_empty());
        // Nor one that may have expired on the peer's clock.
        let (mut pull, mut give, mut lacking) = (Vec::new(), Vec::new(), Vec::new());
        compare(
            a,
            &[only_mine],
            &[],
            &mut pull,
            &mut give,
            &mut lacking,
            u64::MAX,
        );
        assert_eq!(give, vec![(a, only_mine.hash)]);
        assert!(lacking.is_empty());
    }
}
