//! The relay alone, without a network: one node whose directory is empty and
//! whose network handle goes nowhere (or, in `forward`, to a scripted stand-in
//! for the swarm task).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, RwLock};
use std::time::Duration;

use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sotto_protocol::constants::{ONION_VALIDITY_MS, PEER_CLOCK_TOLERANCE_MS};
use sotto_protocol::onion::{Hop, OpenedResponse, ReplyState, build_request, open_response};
use sotto_protocol::rpc::{ErrorKind, Request, Response};
use sotto_protocol::time::{HOUR_MS, MINUTE_MS};
use sotto_protocol::{NetworkParams, NodeKey, OnionSecret, UnixMillis};
use tempfile::TempDir;

use super::Relay;
use crate::clock::Clock;
use crate::config::NodeConfig;
use crate::context::{Acks, BoxFuture, Context, Push, Pusher, Waiters};
use crate::directory::Directory;
use crate::identity::Identity;
use crate::metrics::Metrics;
use crate::net::NetHandle;
use crate::service::Service;
use crate::store::Store;

mod forward;
mod parked;

#[derive(Debug)]
struct AckAll;

impl Pusher for AckAll {
    fn push(&self, _push: Push, need: usize) -> BoxFuture<Acks> {
        Box::pin(async move {
            Acks {
                count: need,
                receipts: Vec::new(),
            }
        })
    }
}

struct Setup {
    relay: Arc<Relay>,
    identity: Arc<Identity>,
    ctx: Arc<Context>,
    params: NetworkParams,
    _dir: TempDir,
}

fn setup(max_replay_tags: usize) -> Setup {
    let nowhere = NetHandle::new(tokio::sync::mpsc::channel(8).0, Duration::from_secs(1));
    setup_with(max_replay_tags, nowhere)
}

fn setup_with(max_replay_tags: usize, net: NetHandle) -> Setup {
    let mut config = NodeConfig::default();
    config.limits.max_replay_tags = max_replay_tags;
    setup_from(config, net)
}

fn setup_from(config: NodeConfig, net: NetHandle) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let params = NetworkParams::devnet();
    let identity = Arc::new(Identity::init(dir.path(), &params).unwrap());
    let store = Store::open(dir.path().join("store"), config.store.limits()).unwrap();
    let ctx = Arc::new(Context {
        directory: RwLock::new(Directory::new(params.clone(), 10)),
        params: params.clone(),
        config,
        node_id: identity.node_id(),
        node_key: Arc::new(NodeKey::from_secret_bytes(
            &identity.node_key().to_secret_bytes(),
        )),
        peer_id: identity.peer_id(),
        clock: Arc::new(Clock::system()),
        store,
        metrics: Arc::new(Metrics::default()),
        net,
        waiters: Waiters::default(),
    });
    let service = Arc::new(Service::new(ctx.clone(), Arc::new(AckAll)));
    Setup {
        relay: Relay::new(ctx.clone(), identity.clone(), service),
        identity,
        ctx,
        params,
        _dir: dir,
    }
}

impl Setup {
    /// This node as a hop, with the onion key `key`.
    fn hop(&self, key: [u8; 32]) -> Hop {
        Hop {
            node: self.identity.node_id(),
            onion_key: key,
        }
    }

    fn current_key(&self) -> [u8; 32] {
        self.identity.onion_secrets().first().unwrap().entry.key
    }

    fn outcome(&self, outcome: &'static str) -> u64 {
        self.ctx.metrics.onion.get(outcome, "_")
    }
}

fn ping(seed: u8, hops: &[Hop]) -> (Vec<u8>, ReplyState) {
    ping_at(Clock::system().now(), seed, hops)
}

/// A ping built by a client whose clock reads `now`.
fn ping_at(now: UnixMillis, seed: u8, hops: &[Hop]) -> (Vec<u8>, ReplyState) {
    let request = Request::Ping.encode().unwrap();
    build_request(&mut ChaCha20Rng::from_seed([seed; 32]), hops, &request, now).unwrap()
}

fn peer() -> libp2p::PeerId {
    libp2p::PeerId::random()
}

/// The destination's answer in `answer`, decoded.
fn destination_answer(state: &ReplyState, answer: &[u8]) -> Response {
    match open_response(state, answer).unwrap() {
        OpenedResponse::Destination(body) => Response::decode(&body, u64::MAX / 2).unwrap(),
        other => panic!("expected the destination's answer, got {other:?}"),
    }
}

#[tokio::test]
async fn delivers_a_request_for_this_node_and_drops_its_replay() {
    let s = setup(100);
    let (packet, state) = ping(1, &[s.hop(s.current_key())]);
    let answer = s.relay.handle_packet(peer(), packet.clone()).await;
    assert!(matches!(
        destination_answer(&state, &answer),
        Response::Pong { .. }
    ));
    assert_eq!(s.outcome("delivered"), 1);
    assert_eq!(s.relay.replay_tags(), 1);

    let again = s.relay.handle_packet(peer(), packet).await;
    assert!(again.is_empty());
    assert_eq!(s.outcome("replayed"), 1);
    assert_eq!(s.ctx.metrics.rejected.get("onion", "replayed"), 1);
    assert_eq!(s.outcome("delivered"), 1);
}

#[tokio::test]
async fn a_packet_for_the_previous_key_opens_during_its_grace() {
    let s = setup(100);
    let old = s.current_key();
    let after = s.ctx.clock.now() + s.params.onion_key_rotation_ms + 1;
    assert!(s.identity.rotate_if_due(after, &s.params).unwrap());
    let new = s.current_key();
    assert_ne!(old, new);
    assert_eq!(s.identity.onion_secrets().len(), 2);

    // Inside the grace period: both keys open their packets.
    s.ctx.clock.set_offset(
        i64::try_from(s.params.onion_key_rotation_ms + s.params.onion_key_grace_ms / 2).unwrap(),
    );
    // A client that still has the old record builds for the old key.
    let (old_packet, old_state) = ping_at(s.ctx.clock.now(), 2, &[s.hop(old)]);
    let answer = s.relay.handle_packet(peer(), old_packet.clone()).await;
    assert!(matches!(
        destination_answer(&old_state, &answer),
        Response::Pong { .. }
    ));
    let (new_packet, new_state) = ping_at(s.ctx.clock.now(), 3, &[s.hop(new)]);
    let answer = s.relay.handle_packet(peer(), new_packet).await;
    assert!(matches!(
        destination_answer(&new_state, &answer),
        Response::Pong { .. }
    ));
    assert_eq!(s.relay.replay_tags(), 2);
    // A tag recorded under the old key still stops its replay.
    assert!(s.relay.handle_packet(peer(), old_packet).await.is_empty());
    assert_eq!(s.outcome("replayed"), 1);

    // Past the old key's window: its packets are refused. The tags went
    // minutes after their packets' validity (a replay is refused as expired).
    s.ctx.clock.set_offset(
        i64::try_from(s.params.onion_key_rotation_ms + s.params.onion_key_grace_ms + 1).unwrap(),
    );
    let (late, _) = ping_at(s.ctx.clock.now(), 4, &[s.hop(old)]);
    assert!(s.relay.handle_packet(peer(), late).await.is_empty());
    assert_eq!(s.outcome("malformed"), 1);
    assert_eq!(s.relay.replay_tags(), 0);
}

#[tokio::test]
async fn a_packet_past_its_validity_is_refused_and_its_tag_kept_only_until_then() {
    let s = setup(100);
    let key = s.current_key();
    let (packet, state) = ping(2, &[s.hop(key)]);
    let answer = s.relay.handle_packet(peer(), packet.clone()).await;
    assert!(matches!(
        destination_answer(&state, &answer),
        Response::Pong { .. }
    ));
    assert_eq!(s.relay.replay_tags(), 1);
    // Just inside what the relay accepts (the validity, rounded up to a
    // minute, and both clocks' tolerance), the tag still stops the replay.
    let tolerance = PEER_CLOCK_TOLERANCE_MS + ONION_VALIDITY_MS;
    s.ctx.clock.set_offset(i64::try_from(tolerance).unwrap());
    assert!(
        s.relay
            .handle_packet(peer(), packet.clone())
            .await
            .is_empty()
    );
    assert_eq!(s.outcome("replayed"), 1);
    // Past it the tag is gone and the replay is refused as expired: the
    // filter no longer needs it. Before packets carried a validity, the tag
    // stayed for the onion key's whole life (a day).
    s.ctx
        .clock
        .set_offset(i64::try_from(tolerance + 2 * MINUTE_MS).unwrap());
    assert!(s.relay.handle_packet(peer(), packet).await.is_empty());
    assert_eq!(s.outcome("expired"), 1);
    assert_eq!(s.ctx.metrics.rejected.get("onion", "expired"), 1);
    assert_eq!(s.relay.replay_tags(), 0);
    // A packet that claims to be valid for an hour (its tag would be kept
    // that long) is refused too, as is one built long ago.
    s.ctx.clock.set_offset(0);
    let now = s.ctx.clock.now();
    let (far, _) = ping_at(now + HOUR_MS, 3, &[s.hop(key)]);
    assert!(s.relay.handle_packet(peer(), far).await.is_empty());
    let (old, _) = ping_at(now - HOUR_MS, 4, &[s.hop(key)]);
    assert!(s.relay.handle_packet(peer(), old).await.is_empty());
    assert_eq!(s.outcome("expired"), 3);
    assert_eq!(s.relay.replay_tags(), 0);
    // A client whose clock is off by as much as the clock model allows still
    // gets through.
    let tolerance = i64::try_from(PEER_CLOCK_TOLERANCE_MS).unwrap();
    for (seed, off) in [(5, -tolerance), (6, tolerance)] {
        let (p, st) = ping_at(now.saturating_add_signed(off), seed, &[s.hop(key)]);
        let answer = s.relay.handle_packet(peer(), p).await;
        assert!(matches!(
            destination_answer(&st, &answer),
            Response::Pong { .. }
        ));
    }
}

#[tokio::test]
async fn a_full_replay_filter_refuses_new_packets() {
    let s = setup(1);
    let key = s.current_key();
    let (first, _) = ping(5, &[s.hop(key)]);
    assert!(
        !s.relay
            .handle_packet(peer(), first.clone())
            .await
            .is_empty()
    );
    let (second, _) = ping(6, &[s.hop(key)]);
    assert!(s.relay.handle_packet(peer(), second).await.is_empty());
    assert_eq!(s.outcome("busy"), 1);
    // The replay is still recognised as one, not merely refused as busy.
    assert!(s.relay.handle_packet(peer(), first).await.is_empty());
    assert_eq!(s.outcome("replayed"), 1);
    assert_eq!(s.relay.replay_tags(), 1);
}

#[tokio::test]
async fn an_unknown_next_hop_gets_a_sealed_relay_error() {
    let s = setup(100);
    let stranger = NodeKey::from_secret_bytes(&[9; 32]).node_id();
    let hops = [
        s.hop(s.current_key()),
        Hop {
            node: stranger,
            onion_key: OnionSecret::from_secret_bytes([8; 32]).public(),
        },
    ];
    let (packet, state) = ping(7, &hops);
    let answer = s.relay.handle_packet(peer(), packet).await;
    match open_response(&state, &answer).unwrap() {
        OpenedResponse::RelayError { hop: 0, body } => {
            match Response::decode(&body, s.ctx.clock.now()).unwrap() {
                Response::Error(e) => {
                    assert_eq!(e.kind, ErrorKind::Unavailable);
                    assert!(e.message.contains("next hop"), "{}", e.message);
                }
                other => panic!("expected an error, got {other:?}"),
            }
        }
        other => panic!("expected the relay's error, got {other:?}"),
    }
    assert_eq!(s.outcome("unreachable"), 1);
}

#[tokio::test]
async fn garbage_gets_an_empty_answer_and_leaves_no_tag() {
    let s = setup(100);
    for len in [0, 1, 100, 4095, 4097, 96 * 1024 + 1] {
        assert!(s.relay.handle_packet(peer(), vec![7; len]).await.is_empty());
    }
    assert_eq!(s.ctx.metrics.rejected.get("onion", "size_class"), 6);
    for seed in 0..4u8 {
        let mut noise = vec![0u8; 4096];
        rand::Rng::fill_bytes(&mut ChaCha20Rng::from_seed([seed; 32]), &mut noise);
        assert!(s.relay.handle_packet(peer(), noise).await.is_empty());
    }
    assert_eq!(s.outcome("malformed"), 10);
    assert_eq!(s.relay.replay_tags(), 0);
    // A request that peels but is not a request gets a sealed error.
    let (packet, state) = build_request(
        &mut ChaCha20Rng::from_seed([9; 32]),
        &[s.hop(s.current_key())],
        b"not a request",
        s.ctx.clock.now(),
    )
    .unwrap();
    let answer = s.relay.handle_packet(peer(), packet).await;
    match destination_answer(&state, &answer) {
        Response::Error(e) => assert_eq!(e.kind, ErrorKind::BadRequest),
        other => panic!("expected an error, got {other:?}"),
    }
}
