//! One connection with a fresh key: a libp2p swarm of its own (noise and
//! yamux over the simulator's memory transport, as every peer has) dials one
//! node and holds the connection until the attack ends. Peer ids cost
//! nothing, so only the node's bounds on strangers' connections can stop
//! this.
//!
//! The node's guard sees the peer id only after the handshake. Past the
//! strangers' share it closes the idlest stranger's connection to let the
//! newcomer in, so an attacker that only holds connections loses its older
//! ones (`closed_later`); a connection refused outright is established and
//! at once closed (`closed_at_once`). A dial that fails says why in its
//! error.

use std::time::{Duration, Instant};

use libp2p::futures::StreamExt;
use libp2p::identity::Keypair;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::{DialError, SwarmEvent, dummy};
use tokio::sync::watch;

use super::Arena;

/// A connection the node closes this soon after it was established counts
/// as refused (`closed_at_once`); a later close as `closed_later`.
const REFUSED_WITHIN: Duration = Duration::from_secs(2);
/// How long a dial may take before it counts as `dial_timeout`.
const DIAL_TIMEOUT: Duration = Duration::from_secs(15);
/// The attacker's own idle timeout: longer than any attack, so that only
/// the node closes a connection before the attack ends.
const IDLE: Duration = Duration::from_secs(3_600);

fn dial_reason(e: &DialError) -> &'static str {
    match e {
        DialError::Denied { .. } => "denied",
        DialError::Transport(_) => "transport",
        DialError::WrongPeerId { .. } => "wrong_peer",
        DialError::Aborted => "aborted",
        _ => "dial_other",
    }
}

/// Opens the `i`th connection (to the victim's swarm two times in three) and
/// holds it until `until` or `stop`. `Ok` when it was still open then.
pub async fn once(
    arena: &Arena,
    i: usize,
    until: Instant,
    mut stop: watch::Receiver<bool>,
) -> Result<(), &'static str> {
    let target = arena.target(i, true).ok_or("no_target")?;
    let key = Keypair::generate_ed25519();
    let mut swarm = sotto_p2p::build_swarm_from(key, dummy::Behaviour, true, arena.origin, IDLE)
        .map_err(|_| "attacker_setup")?;
    let dial = DialOpts::peer_id(target.peer)
        .addresses(vec![target.addr.clone()])
        .build();
    swarm.dial(dial).map_err(|e| dial_reason(&e))?;
    let dial_deadline = Instant::now() + DIAL_TIMEOUT;
    let mut opened: Option<Instant> = None;
    loop {
        let deadline = match opened {
            Some(_) => until,
            None => until.min(dial_deadline),
        };
        tokio::select! {
            event = swarm.select_next_some() => match event {
                SwarmEvent::ConnectionEstablished { .. } => opened = Some(Instant::now()),
                SwarmEvent::ConnectionClosed { .. } => {
                    return Err(match opened {
                        Some(t) if t.elapsed() < REFUSED_WITHIN => "closed_at_once",
                        _ => "closed_later",
                    });
                }
                SwarmEvent::OutgoingConnectionError { error, .. } => {
                    return Err(dial_reason(&error));
                }
                _ => {}
            },
            _ = tokio::time::sleep_until(deadline.into()) => {
                return if opened.is_some() { Ok(()) } else { Err("dial_timeout") };
            }
            _ = stop.changed() => {
                return if opened.is_some() { Ok(()) } else { Err("dial_timeout") };
            }
        }
    }
}
