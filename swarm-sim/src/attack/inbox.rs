//! A stranger flooding a victim's inbox: the attacker holds no delivery
//! token, so each of its requests is one of
//!
//! - a plain store into the victim's inbox (free to make; the nodes answer
//!   `TokenRequired` once the victim registered a token),
//! - a delivery into the victim's inbox with a made-up token (free to make;
//!   `TokenRequired` too),
//! - every [`PAID_EVERY`]th, a delivery into the requests with real postage
//!   (mined here, about 2^18 hashes), which the requests' own rate and quota
//!   take until they are full.
//!
//! Every request carries a fresh sealed-looking payload (random bytes of a
//! typical envelope's size), so none is a duplicate of an earlier one. The
//! victim's contacts meanwhile write to it with its token (the schedule); the
//! report's `honest` figures say whether they were locked out.

use rand::RngExt;
use sotto_client::ClientError;
use sotto_protocol::AccountId;
use sotto_protocol::Namespace;
use sotto_protocol::rpc::{DeliverRequest, DeliveryToken, Request, Response, StoreRequest};
use sotto_protocol::time::DAY_MS;

use crate::user::User;

/// One request in this many pays real postage.
const PAID_EVERY: u64 = 8;
/// The payload: about one sealed text message.
const PAYLOAD_LEN: usize = 1_200;

/// Sends the attack's `n`th request against `victim`'s inbox (`n` picks its
/// kind); `Ok` when a node stored it.
pub async fn once(user: &User, victim: AccountId, n: u64) -> Result<(), ClientError> {
    let data: Vec<u8> = {
        let mut rng = rand::rng();
        (0..PAYLOAD_LEN).map(|_| rng.random()).collect()
    };
    let request = if n % PAID_EVERY == PAID_EVERY - 1 {
        let start: u64 = rand::random();
        let d = tokio::task::spawn_blocking(move || {
            DeliverRequest::with_postage(victim, data, DAY_MS, start)
        })
        .await
        .map_err(|_| ClientError::Stopped)?;
        Request::Deliver(d)
    } else if n.is_multiple_of(2) {
        Request::Store(StoreRequest::unsigned(
            victim,
            Namespace::INBOX,
            data,
            DAY_MS,
        ))
    } else {
        let guess = DeliveryToken(rand::random());
        Request::Deliver(DeliverRequest::with_token(victim, data, DAY_MS, guess))
    };
    let answer = user
        .client
        .swarm_request(&victim, |_| request.clone())
        .await?;
    match answer {
        Response::Stored { .. } => Ok(()),
        _ => Err(ClientError::BadResponse),
    }
}
