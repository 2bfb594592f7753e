//! A member follows its current epoch account with a pair of long polls at
//! one swarm member ([`PollPair`]): every message answers one of the two
//! polls and the other is already out for the next, so a message that
//! arrives while an answer travels back waits for no new poll. The member's
//! read loop (`read_current`) then reads only once a second, as the chat
//! does, except while an epoch settles.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sotto_protocol::AccountKey;
use sotto_protocol::rpc::RetrievedMessage;
use tokio::time::Instant;

use sotto_client::ClientError;
use sotto_client::group::net::{self, GROUP_NAMESPACE};
use sotto_client::reader::PollPair;

use super::{ERROR_PAUSE, Member, pause};
use crate::groups::driver::World;

/// How long a member's pair follows the previous epoch's account after
/// the member applied the next: members apply an epoch within a few hundred
/// ms of each other, so messages made in the old one land in its account
/// within a round trip or two of that (`read_previous` reads it on, once a
/// long poll at a time, for the rest of its 30 s).
const PREVIOUS_PAIR: Duration = Duration::from_secs(5);

/// What one wait of the follower brought.
enum Event {
    /// An answer of the current epoch's pair.
    Current(Result<Vec<RetrievedMessage>, ClientError>),
    /// An answer of the previous epoch's pair.
    Previous(Result<Vec<RetrievedMessage>, ClientError>),
    /// The previous epoch's pair is done with.
    PreviousDone,
    /// The member applied another epoch.
    Epoch,
    /// The run stops, or the member is gone.
    Stop,
}

impl Member {
    /// Follows the current epoch account until the run stops or the member
    /// is removed, moving to each new epoch's account as the member applies
    /// it (and following the old one with its pair for [`PREVIOUS_PAIR`]
    /// more). A failed poll makes it pick a member again after a pause.
    pub(super) async fn follow_current(&self, world: &World) {
        let mut stop = world.stop.clone();
        let mut epochs = self.epochs.subscribe();
        let mut previous: Option<(PollPair, Arc<AccountKey>, Instant)> = None;
        loop {
            epochs.borrow_and_update();
            if *stop.borrow() || self.gone.load(Ordering::Relaxed) {
                return;
            }
            let Some((key, cursors)) = self.with(|s| {
                let id = s.group?;
                let key = s.groups.epoch_account(&id).ok()?;
                let cursors = s.cursors.get(&key.account_id()).cloned();
                Some((key, cursors.unwrap_or_default()))
            }) else {
                return;
            };
            let key = Arc::new(key);
            let Some(mut pair) = PollPair::at_random_member(
                self.client.clone(),
                &world.network,
                key.clone(),
                GROUP_NAMESPACE,
                &cursors,
                world.wait_ms,
            ) else {
                pause(&mut stop, ERROR_PAUSE).await;
                continue;
            };
            loop {
                let event = {
                    let old = previous.as_mut();
                    let until = old.as_ref().map(|(_, _, t)| *t);
                    tokio::select! {
                        r = pair.next() => Event::Current(r),
                        r = async { match old { Some((p, _, _)) => p.next().await, None => std::future::pending().await } } => Event::Previous(r),
                        _ = tokio::time::sleep_until(until.unwrap_or_else(Instant::now)), if until.is_some() => Event::PreviousDone,
                        r = epochs.changed() => if r.is_ok() { Event::Epoch } else { Event::Stop },
                        _ = stop.changed() => Event::Stop,
                    }
                };
                match event {
                    Event::Current(Ok(messages)) => self.took(world, &key, messages).await,
                    Event::Previous(Ok(messages)) => {
                        if let Some((_, old_key, _)) = previous.as_ref() {
                            let old_key = old_key.clone();
                            self.took(world, &old_key, messages).await;
                        }
                    }
                    // `read_previous` reads it on.
                    Event::Previous(Err(_)) | Event::PreviousDone => previous = None,
                    Event::Epoch => {
                        previous = Some((pair, key, Instant::now() + PREVIOUS_PAIR));
                        break;
                    }
                    Event::Stop => return,
                    Event::Current(Err(e)) => {
                        world.with_ledger(|l| l.read_error());
                        let wait = match e {
                            ClientError::RateLimited { retry_after_ms } => {
                                Duration::from_millis(retry_after_ms).max(ERROR_PAUSE)
                            }
                            _ => ERROR_PAUSE,
                        };
                        pause(&mut stop, wait).await;
                        break;
                    }
                }
            }
        }
    }

    /// Hands what a pair read from `key`'s account to the engine, acts on
    /// what it produced, and wakes the read loop (a commit makes the epoch
    /// settle).
    async fn took(&self, world: &World, key: &AccountKey, messages: Vec<RetrievedMessage>) {
        let (items, _) = net::open_all(key, messages);
        let events = self.take(world, items);
        self.handle(world, events).await;
        self.kick.notify_one();
    }
}
