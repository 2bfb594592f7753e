//! One long-poll retrieve of the attacker's own inbox, waiting the longest
//! the protocol allows: each holds a waiter on a node until a message comes
//! (none does) or its wait is over.

use sotto_client::ClientError;
use sotto_protocol::Namespace;
use sotto_protocol::constants::MAX_LONG_POLL_MS;
use sotto_protocol::rpc::{Request, Response, RetrieveRequest};

use crate::user::User;

/// Sends one waiting retrieve; `Ok` when a node held it and answered a page.
pub async fn once(user: &User) -> Result<(), ClientError> {
    let account = user.account();
    let wait_ms = u32::try_from(MAX_LONG_POLL_MS).unwrap_or(u32::MAX);
    let answer = user
        .client
        .swarm_request(&account, |now| {
            let mut q = RetrieveRequest::unsigned(account, Namespace::INBOX, None);
            q.wait_ms = wait_ms;
            match q.sign(&user.key, &user.network, now) {
                Ok(q) => Request::Retrieve(q),
                Err(_) => Request::Ping,
            }
        })
        .await?;
    match answer {
        Response::Messages { .. } => Ok(()),
        _ => Err(ClientError::BadResponse),
    }
}
