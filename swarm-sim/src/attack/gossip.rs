//! Invalid node records on the nodes' gossipsub topic: one libp2p peer with a
//! fresh key joins `/sotto/<network>/records/2` (the topic of
//! `sotto_node::net::records_topic`) on the victim's swarm members and a few
//! other nodes, and publishes, in turn, records with a bad signature, records
//! with a bad admission proof (signed correctly), garbage bytes and oversized
//! bytes. The nodes validate a record before forwarding it and reject it
//! (lowering the sender's gossip score); their counters say how many they
//! refused and why.

use libp2p::futures::StreamExt;
use libp2p::gossipsub::{self, MessageAuthenticity, PublishError};
use libp2p::identity::Keypair;
use libp2p::swarm::dial_opts::DialOpts;
use rand::RngExt;
use sotto_node::clock::Clock;
use sotto_protocol::constants::{KEY_LEN, MAX_RECORD_LEN, PROTOCOL_VERSION};
use sotto_protocol::keys::NodeKey;
use sotto_protocol::record::admission::{Admission, admission_bits, mine_admission};
use sotto_protocol::record::{NodeRecord, OnionKeyEntry};
use tokio::sync::{mpsc, oneshot};

use super::Arena;

/// Other nodes (besides the victim's swarm) the attacker joins the topic on.
const OTHER_PEERS: usize = 5;
/// Publishes queued for the attacker's swarm.
const QUEUE: usize = 64;
/// A documentation address (TEST-NET-3): public in form, reached by nobody.
const FORGED_ADDR: &str = "/ip4/203.0.113.7/tcp/4600";

type Reply = oneshot::Sender<Result<(), &'static str>>;

/// The attacker's gossipsub peer, run by its own task.
pub struct Gossiper {
    tx: mpsc::Sender<(Vec<u8>, Reply)>,
    arena: std::sync::Arc<Arena>,
}

fn publish_reason(e: &PublishError) -> &'static str {
    match e {
        PublishError::Duplicate => "duplicate",
        PublishError::NoPeersSubscribedToTopic => "no_peers",
        PublishError::MessageTooLarge => "too_large_to_send",
        PublishError::AllQueuesFull(_) => "queues_full",
        _ => "publish_failed",
    }
}

impl Gossiper {
    /// Starts the peer: dials the nodes and joins the records topic.
    pub fn start(arena: &std::sync::Arc<Arena>) -> Result<Gossiper, String> {
        let key = Keypair::generate_ed25519();
        let config = gossipsub::ConfigBuilder::default()
            // Room for the oversized records; the nodes' own bound is lower.
            .max_transmit_size(4 * MAX_RECORD_LEN)
            .validation_mode(gossipsub::ValidationMode::Anonymous)
            .build()
            .map_err(|e| format!("gossipsub configuration: {e}"))?;
        let mut gossip: gossipsub::Behaviour =
            gossipsub::Behaviour::new(MessageAuthenticity::Anonymous, config)
                .map_err(|e| format!("gossipsub: {e}"))?;
        let topic = sotto_node::net::records_topic(&arena.params.name);
        gossip
            .subscribe(&topic)
            .map_err(|e| format!("gossipsub subscribe: {e}"))?;
        let idle = std::time::Duration::from_secs(3_600);
        let mut swarm = sotto_p2p::build_swarm_from(key, gossip, true, arena.origin, idle)
            .map_err(|e| e.to_string())?;
        for t in arena
            .swarm
            .iter()
            .chain(arena.others.iter().take(OTHER_PEERS))
        {
            let dial = DialOpts::peer_id(t.peer)
                .addresses(vec![t.addr.clone()])
                .build();
            // A failed dial leaves a node out; the publishes count what reached.
            let _ = swarm.dial(dial);
        }
        let (tx, mut rx) = mpsc::channel::<(Vec<u8>, Reply)>(QUEUE);
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = swarm.select_next_some() => {}
                    cmd = rx.recv() => match cmd {
                        Some((bytes, reply)) => {
                            let r = swarm.behaviour_mut().publish(topic.clone(), bytes);
                            let _ = reply.send(r.map(|_| ()).map_err(|e| publish_reason(&e)));
                        }
                        None => break,
                    },
                }
            }
        });
        Ok(Gossiper {
            tx,
            arena: arena.clone(),
        })
    }

    /// Publishes the `i`th invalid record; `Ok` when gossipsub sent it out.
    pub async fn once(&self, i: usize) -> Result<(), &'static str> {
        let bytes = invalid_record(&self.arena, i)?;
        let (reply, answer) = oneshot::channel();
        self.tx
            .send((bytes, reply))
            .await
            .map_err(|_| "attacker_gone")?;
        answer.await.map_err(|_| "attacker_gone")?
    }
}

/// The `i`th record: bad signature, bad admission proof, garbage, oversized.
fn invalid_record(arena: &Arena, i: usize) -> Result<Vec<u8>, &'static str> {
    let mut rng = rand::rng();
    match i % 4 {
        0 => forged(arena, true),
        1 => forged(arena, false),
        2 => {
            let mut b = vec![0u8; 64 + rng.random_range(0..448usize)];
            rng.fill(&mut b[..]);
            Ok(b)
        }
        _ => {
            let mut b = vec![0u8; MAX_RECORD_LEN + 256];
            rng.fill(&mut b[..]);
            Ok(b)
        }
    }
}

/// A well-formed record of a fresh node key. With `proof`, it carries a
/// good admission proof and a broken signature; without, a proof short of
/// the network's difficulty and a good signature (none can be made when the
/// difficulty is 0: every proof passes there).
fn forged(arena: &Arena, proof: bool) -> Result<Vec<u8>, &'static str> {
    let mut rng = rand::rng();
    let secret: [u8; KEY_LEN] = rng.random();
    let key = NodeKey::from_secret_bytes(&secret);
    let node = key.node_id();
    let difficulty = arena.params.admission_difficulty;
    let now = Clock::system().now();
    let period = arena.params.position_period_ms;
    let epoch = sotto_protocol::position::epoch::epoch_for_record(&node, now, period);
    let admission = if proof {
        mine_admission(&node, epoch, difficulty)
    } else {
        if difficulty == 0 {
            return Err("no_bad_proof_at_difficulty_0");
        }
        (0..u64::MAX)
            .map(|n| Admission::new(epoch, n))
            .find(|&n| admission_bits(&node, n) < difficulty)
            .ok_or("no_bad_proof")?
    };
    let record = NodeRecord {
        version: PROTOCOL_VERSION,
        network: arena.params.name.clone(),
        node,
        addrs: vec![FORGED_ADDR.to_string()],
        onion_keys: vec![OnionKeyEntry {
            key: rng.random(),
            valid_from: now.saturating_sub(60_000),
            valid_until: now + 3_600_000,
        }],
        issued_at: now,
        expires_at: sotto_protocol::position::epoch::record_expiry(
            &node,
            epoch,
            now,
            arena.params.record_lifetime_ms / 2,
            period,
        ),
        admission,
    };
    let mut signed = record.sign(&key).map_err(|_| "not_made")?;
    if proof && let Some(b) = signed.signature.first_mut() {
        *b ^= 0x01;
    }
    signed.encode().map_err(|_| "not_made")
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_protocol::record::SignedNodeRecord;
    use sotto_protocol::{AccountId, Error, NetworkParams};

    fn account() -> AccountId {
        crate::user::account_keys(1, 1)
            .first()
            .map(|k| k.account_id())
            .unwrap()
    }

    /// Each kind of record fails the nodes' own check for the reason it is
    /// made for, so the attack measures what it says it does.
    #[test]
    fn every_forged_record_is_refused_for_its_own_reason() {
        let mut params = NetworkParams::devnet();
        params.admission_difficulty = 8;
        let arena = Arena::empty(params.clone(), account());
        let now = Clock::system().now();
        for i in 0..8 {
            let bytes = invalid_record(&arena, i).unwrap();
            let verdict = SignedNodeRecord::decode(&bytes).and_then(|r| r.verify(&params, now));
            match (i % 4, verdict) {
                (0, Err(Error::BadSignature { .. })) => {}
                (1, Err(Error::Admission { .. })) => {}
                (2, Err(_)) => {}
                (3, Err(Error::TooLarge { .. })) => assert!(bytes.len() > MAX_RECORD_LEN),
                (k, v) => panic!("record kind {k} gave {v:?}"),
            }
        }
        params.admission_difficulty = 0;
        let arena = Arena::empty(params, account());
        assert!(invalid_record(&arena, 1).is_err(), "no bad proof at 0 bits");
    }
}
