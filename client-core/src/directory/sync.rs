//! Learning the network's time from the bootstrap nodes before anything is
//! verified: each is asked for a `Pong` directly, all at once, and the clock
//! takes the median of their answers ([`ClientClock::sync`]).

use libp2p::Multiaddr;
use sotto_protocol::rpc::{Request, Response};

use crate::clock::ClientClock;
use crate::net::{NetHandle, Proto, Rejected, split_peer};

/// Most bootstrap nodes asked for the time at once; a longer list is cut.
/// Enough for a median that survives a lying or broken node or two.
pub const MAX_SYNC_NODES: usize = 8;

/// Asks the bootstrap nodes of `bootstrap` (at most [`MAX_SYNC_NODES`]) for
/// their time and syncs `clock` to the median of the answers. Returns how
/// many answered (0: the clock is left as it was). Every question ends within
/// the network handle's RPC timeout.
pub async fn sync_clock(
    net: &NetHandle,
    bootstrap: &[Multiaddr],
    clock: &ClientClock,
    rejected: &Rejected,
) -> usize {
    let asks = bootstrap
        .iter()
        .filter_map(split_peer)
        .take(MAX_SYNC_NODES)
        .map(|(peer, addr)| ask_time(net, peer, addr, clock, rejected));
    let estimates: Vec<i64> = futures::future::join_all(asks)
        .await
        .into_iter()
        .flatten()
        .collect();
    if let Some(correction_ms) = clock.sync(&estimates) {
        tracing::info!(
            correction_ms,
            answers = estimates.len(),
            "learned the network's time from the bootstrap nodes"
        );
    }
    estimates.len()
}

/// One bootstrap node's time as a correction ([`ClientClock::estimate`]).
async fn ask_time(
    net: &NetHandle,
    peer: libp2p::PeerId,
    addr: Multiaddr,
    clock: &ClientClock,
    rejected: &Rejected,
) -> Option<i64> {
    let ping = Request::Ping.encode().ok()?;
    let sent = clock.device_now();
    let answer = match net.send(Proto::Rpc, peer, vec![addr], ping).await {
        Ok(a) => a,
        Err(e) => {
            tracing::debug!("a bootstrap node did not tell its time: {e}");
            return None;
        }
    };
    let received = clock.device_now();
    // A `Pong` carries no time the decoder checks; the clock passed is moot.
    match Response::decode(&answer, clock.now()) {
        Ok(Response::Pong { node_time }) => Some(ClientClock::estimate(node_time, sent, received)),
        _ => {
            rejected.inc("directory", "bad_pong");
            None
        }
    }
}
