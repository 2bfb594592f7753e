//! One delete of 256 random hashes of the attacker's own account: signed
//! (only an owner may delete), so each is a real protocol request that would
//! write 256 tombstones on every member of the swarm.

use rand::RngExt;
use sotto_client::ClientError;
use sotto_protocol::Namespace;
use sotto_protocol::constants::MAX_HASHES_PER_REQUEST;
use sotto_protocol::rpc::{DeleteRequest, MessageHash, Request, Response};

use crate::user::User;

/// Sends one delete; `Ok` when the node applied it.
pub async fn once(user: &User) -> Result<(), ClientError> {
    let hashes: Vec<MessageHash> = {
        let mut rng = rand::rng();
        (0..MAX_HASHES_PER_REQUEST)
            .map(|_| MessageHash(rng.random()))
            .collect()
    };
    let account = user.account();
    let answer = user
        .client
        .swarm_request(&account, |now| {
            match DeleteRequest::signed(
                &user.key,
                &user.network,
                Namespace::INBOX,
                hashes.clone(),
                now,
            ) {
                Ok(d) => Request::Delete(d),
                // Cannot happen with 256 hashes; a ping then fails below.
                Err(_) => Request::Ping,
            }
        })
        .await?;
    match answer {
        Response::Deleted { .. } => Ok(()),
        _ => Err(ClientError::BadResponse),
    }
}
