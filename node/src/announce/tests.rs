use std::sync::{Arc, RwLock};
use std::time::Duration;

use libp2p::{Multiaddr, PeerId};
use sotto_protocol::constants::{MAX_RECORD_LEN, PROTOCOL_VERSION};
use sotto_protocol::record::{NodeRecord, OnionKeyEntry, SignedNodeRecord};
use sotto_protocol::rpc::{ErrorKind, Request, Response, RpcError};
use sotto_protocol::{NetworkParams, NodeId, NodeKey, OnionSecret};
use tokio::sync::{mpsc, watch};

use super::*;
use crate::clock::Clock;
use crate::config::NodeConfig;
use crate::context::{Context, Waiters};
use crate::directory::{Directory, VerifiedRecord, peer_id_of};
use crate::identity::Identity;
use crate::metrics::Metrics;
use crate::net::{Command, NetHandle};
use crate::store::{Store, StoreLimits};

struct Fixture {
    ctx: Arc<Context>,
    commands: mpsc::Receiver<Command>,
    _dir: tempfile::TempDir,
}

fn fixture_with(node_id: NodeId, config: NodeConfig) -> Fixture {
    fixture_for(node_id, config, NetworkParams::devnet())
}

fn fixture_for(node_id: NodeId, config: NodeConfig, params: NetworkParams) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (tx, rx) = mpsc::channel(8);
    let ctx = Context {
        directory: RwLock::new(Directory::new(params.clone(), 1_000)),
        params,
        config,
        node_id,
        // Announcing signs no receipt; a key of its own is enough here.
        node_key: Arc::new(NodeKey::from_secret_bytes(&[0x5e; 32])),
        peer_id: peer_id_of(&node_id).unwrap(),
        clock: Arc::new(Clock::system()),
        store: Store::open(dir.path().join("store"), StoreLimits::DEFAULT).unwrap(),
        metrics: Arc::new(Metrics::default()),
        net: NetHandle::new(tx, Duration::from_secs(5)),
        waiters: Waiters::default(),
    };
    Fixture {
        ctx: Arc::new(ctx),
        commands: rx,
        _dir: dir,
    }
}

fn fixture() -> Fixture {
    let own = NodeKey::from_secret_bytes(&[200; 32]).node_id();
    fixture_with(own, NodeConfig::default())
}

fn rng() -> rand::rngs::ChaCha20Rng {
    rand::SeedableRng::seed_from_u64(7)
}

/// A record of `key` issued at `issued_at` by the system clock's standards.
fn record_of(key: &NodeKey, issued_at: u64, port: u16) -> NodeRecord {
    let onion = OnionSecret::generate(&mut rng());
    NodeRecord {
        version: PROTOCOL_VERSION,
        network: "devnet".into(),
        node: key.node_id(),
        addrs: vec![format!("/ip4/127.0.0.1/tcp/{port}")],
        onion_keys: vec![OnionKeyEntry {
            key: onion.public(),
            valid_from: issued_at,
            valid_until: issued_at + 3_600_000,
        }],
        issued_at,
        expires_at: issued_at + 3_600_000,
        admission: sotto_protocol::record::admission::Admission::default(),
    }
}

fn signed(key: &NodeKey, issued_at: u64, port: u16) -> SignedNodeRecord {
    record_of(key, issued_at, port).sign(key).unwrap()
}

fn verified(key: &NodeKey, issued_at: u64, port: u16) -> VerifiedRecord {
    VerifiedRecord::verify(
        signed(key, issued_at, port),
        &NetworkParams::devnet(),
        issued_at,
    )
    .unwrap()
}

fn key(i: u8) -> NodeKey {
    NodeKey::from_secret_bytes(&[i; 32])
}

#[test]
fn valid_records_are_taken_counted_and_their_addresses_returned() {
    let f = fixture();
    let now = f.ctx.clock.now();
    let k = key(1);
    let forwarder = PeerId::random();
    let bytes = signed(&k, now, 4601).encode().unwrap();

    let (ins, learned) = on_record(&f.ctx, forwarder, &bytes).unwrap();
    assert_eq!(ins, Inserted::New);
    let (peer, addrs) = learned.unwrap();
    assert_eq!(peer, peer_id_of(&k.node_id()).unwrap());
    assert_eq!(
        addrs,
        vec!["/ip4/127.0.0.1/tcp/4601".parse::<Multiaddr>().unwrap()]
    );
    assert_eq!(f.ctx.metrics.directory_nodes.get(), 1);

    let (ins, learned) = on_record(&f.ctx, forwarder, &bytes).unwrap();
    assert_eq!(ins, Inserted::Unchanged);
    assert!(learned.is_none());

    let newer = signed(&k, now + 1, 4602).encode().unwrap();
    let (ins, learned) = on_record(&f.ctx, forwarder, &newer).unwrap();
    assert_eq!(ins, Inserted::Updated);
    assert_eq!(learned.unwrap().1[0].to_string(), "/ip4/127.0.0.1/tcp/4602");

    let m = &f.ctx.metrics;
    assert_eq!(m.records.get("new", ""), 1);
    assert_eq!(m.records.get("unchanged", ""), 1);
    assert_eq!(m.records.get("updated", ""), 1);
    assert_eq!(m.rejected.sum_first("gossip"), 0);
    assert_eq!(f.ctx.dir(|d| d.len()), 1);
}

#[test]
fn own_record_is_kept_but_not_learned() {
    let own = key(9);
    let f = fixture_with(own.node_id(), NodeConfig::default());
    let bytes = signed(&own, f.ctx.clock.now(), 1).encode().unwrap();
    let (ins, learned) = on_record(&f.ctx, PeerId::random(), &bytes).unwrap();
    assert_eq!(ins, Inserted::New);
    assert!(learned.is_none());
}

#[test]
fn garbage_oversized_forged_and_foreign_records_are_refused_and_counted() {
    let f = fixture();
    let now = f.ctx.clock.now();
    let p = PeerId::random();
    let m = &f.ctx.metrics;

    assert!(on_record(&f.ctx, p, b"\x00\xff garbage").is_err());
    assert!(on_record(&f.ctx, p, &[]).is_err());
    assert_eq!(m.rejected.get("gossip", "decode"), 2);

    assert!(on_record(&f.ctx, p, &vec![1u8; MAX_RECORD_LEN + 1]).is_err());
    assert_eq!(m.rejected.get("gossip", "too_large"), 1);

    let mut forged = signed(&key(2), now, 1);
    forged.signature[0] ^= 1;
    let err = on_record(&f.ctx, p, &forged.encode().unwrap()).unwrap_err();
    assert_eq!(err.reason(), "invalid");

    // Signed by one key but claiming another node.
    let mut stolen = record_of(&key(3), now, 1);
    stolen.node = key(4).node_id();
    let stolen = SignedNodeRecord {
        record: sotto_protocol::codec::encode("test", &stolen).unwrap(),
        signature: key(3).sign(b"whatever"),
    };
    assert!(on_record(&f.ctx, p, &stolen.encode().unwrap()).is_err());

    let mut foreign = record_of(&key(5), now, 1);
    foreign.network = "sotto".into();
    let foreign = foreign.sign(&key(5)).unwrap();
    assert!(on_record(&f.ctx, p, &foreign.encode().unwrap()).is_err());

    let expired = signed(&key(6), now - 4_000_000, 1);
    assert!(on_record(&f.ctx, p, &expired.encode().unwrap()).is_err());

    assert_eq!(m.rejected.get("gossip", "invalid"), 4);
    assert_eq!(m.records.get("invalid", ""), 4);
    assert_eq!(m.records.get("decode", ""), 2);
    assert_eq!(f.ctx.dir(|d| d.len()), 0);
    assert_eq!(m.directory_nodes.get(), 0);
}

/// Answers the fake network's commands: `GetDirectory` and
/// `GetDirectoryDelta` from `serve` (given the delta's filter), listen
/// addresses, and publications sent to `published`.
fn fake_net(
    mut commands: mpsc::Receiver<Command>,
    serve: impl Fn(Option<NodeId>, Option<&HeldFilter>) -> Response + Send + 'static,
    published: mpsc::Sender<Vec<u8>>,
    connected: Vec<PeerId>,
) -> tokio::task::JoinHandle<usize> {
    tokio::spawn(async move {
        let mut rpcs = 0;
        while let Some(cmd) = commands.recv().await {
            match cmd {
                Command::Rpc {
                    request: Request::GetDirectory { after, .. },
                    reply,
                    ..
                } => {
                    rpcs += 1;
                    let _ = reply.send(Ok(serve(after, None)));
                }
                Command::Rpc {
                    request: Request::GetDirectoryDelta { after, held, .. },
                    reply,
                    ..
                } => {
                    rpcs += 1;
                    let _ = reply.send(Ok(serve(after, Some(&held))));
                }
                Command::ListenAddrs { reply } => {
                    let _ = reply.send(vec![
                        "/ip4/0.0.0.0/tcp/4600".parse().unwrap(),
                        "/ip4/127.0.0.1/tcp/4600".parse().unwrap(),
                    ]);
                }
                Command::ConnectedPeers { reply } => {
                    let _ = reply.send(connected.clone());
                }
                Command::Publish { record, reply, .. } => {
                    let _ = published.try_send(record);
                    // A formed mesh: one publication is enough.
                    let _ = reply.send(6);
                }
                _ => {}
            }
        }
        rpcs
    })
}

/// A directory of `n` nodes with records made at `now`.
fn directory_of(n: u16, now: u64) -> Directory {
    let mut source = Directory::new(NetworkParams::devnet(), 1_000);
    for i in 0..n {
        let mut secret = [0u8; 32];
        secret[..2].copy_from_slice(&i.to_le_bytes());
        source
            .insert(verified(&NodeKey::from_secret_bytes(&secret), now, 1), now)
            .unwrap();
    }
    source
}

#[tokio::test]
async fn pull_directory_takes_every_page() {
    let f = fixture();
    let now = f.ctx.clock.now();
    let source = directory_of(300, now);
    let (tx, _rx) = mpsc::channel(8);
    let net = fake_net(
        f.commands,
        move |after, held: Option<&HeldFilter>| {
            let (records, next) = match held {
                Some(held) => source.page_missing(after, 256, held, 4096),
                None => source.page(after, 256),
            };
            Response::Directory { records, next }
        },
        tx,
        vec![],
    );
    let new = tokio::time::timeout(
        Duration::from_secs(30),
        pull_directory(&f.ctx, PeerId::random()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(new, 300);
    assert_eq!(f.ctx.dir(|d| d.len()), 300);
    assert_eq!(f.ctx.metrics.directory_nodes.get(), 300);
    assert_eq!(f.ctx.metrics.records.get("unchanged", ""), 0);
    // Pulling again asks for what is missing: one page, nothing new, and
    // not one held record sent again.
    let again = pull_directory(&f.ctx, PeerId::random()).await.unwrap();
    assert_eq!(again, 0);
    assert_eq!(f.ctx.metrics.records.get("unchanged", ""), 0);
    drop(f.ctx);
    assert_eq!(net.await.unwrap(), 3);
}

#[tokio::test]
async fn a_peer_that_refuses_delta_pulls_is_asked_for_everything() {
    let f = fixture();
    let now = f.ctx.clock.now();
    let source = directory_of(40, now);
    let (tx, _rx) = mpsc::channel(8);
    // A node from before delta pulls cannot decode one and answers an error.
    let net = fake_net(
        f.commands,
        move |after, held: Option<&HeldFilter>| match held {
            Some(_) => Response::Error(RpcError::new(ErrorKind::BadRequest, "undecodable", 0)),
            None => {
                let (records, next) = source.page(after, 256);
                Response::Directory { records, next }
            }
        },
        tx,
        vec![],
    );
    assert_eq!(pull_directory(&f.ctx, PeerId::random()).await.unwrap(), 40);
    assert_eq!(pull_directory(&f.ctx, PeerId::random()).await.unwrap(), 0);
    assert_eq!(f.ctx.metrics.rejected.get("pull", "no_delta"), 1);
    assert_eq!(f.ctx.metrics.rejected.get("pull", "bad_response"), 0);
    assert_eq!(f.ctx.metrics.records.get("unchanged", ""), 40);
    drop(f.ctx);
    // Full, refused delta, full.
    assert_eq!(net.await.unwrap(), 3);
}

#[tokio::test]
async fn pull_stops_on_a_page_that_does_not_move_and_on_errors() {
    let f = fixture();
    let now = f.ctx.clock.now();
    let good = signed(&key(1), now, 1);
    let mut bad = signed(&key(2), now, 1);
    bad.signature[5] ^= 0x40;
    let stuck = key(1).node_id();
    let (tx, _rx) = mpsc::channel(8);
    // Always the same page, naming the same next page: a loop an honest node
    // never makes.
    let net = fake_net(
        f.commands,
        move |_, _| Response::Directory {
            records: vec![good.clone(), bad.clone()],
            next: Some(stuck),
        },
        tx,
        vec![],
    );
    let new = tokio::time::timeout(
        Duration::from_secs(30),
        pull_directory(&f.ctx, PeerId::random()),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(new, 1);
    assert_eq!(f.ctx.metrics.rejected.get("pull", "invalid"), 2);
    drop(f.ctx);
    assert_eq!(net.await.unwrap(), 2);

    let f = fixture();
    let (tx, _rx) = mpsc::channel(8);
    let _net = fake_net(
        f.commands,
        |_, _| Response::Error(RpcError::new(ErrorKind::Unavailable, "busy", 0)),
        tx,
        vec![],
    );
    let err = pull_directory(&f.ctx, PeerId::random()).await.unwrap_err();
    assert!(matches!(err, AnnounceError::BadResponse { .. }), "{err}");
    assert_eq!(f.ctx.metrics.rejected.get("pull", "bad_response"), 1);
}

#[tokio::test]
async fn announcer_publishes_a_verifiable_record_and_stops_on_shutdown() {
    let data = tempfile::tempdir().unwrap();
    let identity = Arc::new(Identity::init(data.path(), &NetworkParams::devnet()).unwrap());
    let f = fixture_with(identity.node_id(), NodeConfig::default());
    let (tx, mut published) = mpsc::channel(8);
    let bootstrap = key(7);
    let now = f.ctx.clock.now();
    let boot_record = signed(&bootstrap, now, 4700);
    let _net = fake_net(
        f.commands,
        move |_, _| Response::Directory {
            records: vec![boot_record.clone()],
            next: None,
        },
        tx,
        vec![peer_id_of(&bootstrap.node_id()).unwrap()],
    );
    let (stop, stopped) = watch::channel(false);
    let task = spawn(f.ctx.clone(), identity.clone(), stopped);

    let bytes = tokio::time::timeout(Duration::from_secs(10), published.recv())
        .await
        .unwrap()
        .unwrap();
    let record = SignedNodeRecord::decode(&bytes)
        .unwrap()
        .verify(&f.ctx.params, f.ctx.clock.now())
        .unwrap();
    assert_eq!(record.node, identity.node_id());
    assert_eq!(record.addrs, vec!["/ip4/127.0.0.1/tcp/4600".to_string()]);
    // Its own record and the bootstrap peer's pulled one end up in the directory.
    tokio::time::timeout(Duration::from_secs(10), async {
        while f.ctx.dir(|d| d.len()) < 2 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap();
    assert!(f.ctx.dir(|d| d.get(&identity.node_id()).is_some()));
    assert!(f.ctx.dir(|d| d.get(&bootstrap.node_id()).is_some()));

    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn announce_once_waits_for_listen_addresses() {
    let data = tempfile::tempdir().unwrap();
    let identity = Identity::init(data.path(), &NetworkParams::devnet()).unwrap();
    let Fixture {
        ctx,
        mut commands,
        _dir,
    } = fixture_with(identity.node_id(), NodeConfig::default());
    let answer = tokio::spawn(async move {
        if let Some(Command::ListenAddrs { reply }) = commands.recv().await {
            let _ = reply.send(vec![]);
        }
        commands
    });
    let err = announce_once(&ctx, &identity).await.unwrap_err();
    assert!(matches!(err, AnnounceError::NoListenAddrs), "{err}");
    answer.await.unwrap();
    assert_eq!(ctx.dir(|d| d.len()), 0);
}

#[tokio::test]
async fn external_addresses_are_announced_first() {
    let data = tempfile::tempdir().unwrap();
    let identity = Identity::init(data.path(), &NetworkParams::devnet()).unwrap();
    let config = NodeConfig {
        external: vec!["/ip4/44.9.9.1/tcp/4600".into()],
        ..NodeConfig::default()
    };
    let Fixture {
        ctx,
        mut commands,
        _dir,
    } = fixture_with(identity.node_id(), config);
    tokio::spawn(async move {
        while let Some(c) = commands.recv().await {
            match c {
                Command::ListenAddrs { reply } => {
                    let _ = reply.send(vec!["/ip4/127.0.0.1/tcp/4600".parse().unwrap()]);
                }
                Command::Publish { reply, .. } => {
                    let _ = reply.send(0);
                }
                _ => {}
            }
        }
    });
    announce_once(&ctx, &identity).await.unwrap();
    let addrs = ctx.dir(|d| d.get(&identity.node_id()).unwrap().record.addrs.clone());
    assert_eq!(addrs, ["/ip4/44.9.9.1/tcp/4600", "/ip4/127.0.0.1/tcp/4600"]);
}

#[tokio::test]
async fn the_next_epoch_s_proof_is_mined_ahead_and_only_the_due_one_saved() {
    use sotto_protocol::position::epoch::{epoch_at, window};
    use sotto_protocol::record::admission::check_admission;
    let params = NetworkParams {
        admission_difficulty: 4,
        position_period_ms: 8 * 3_600_000,
        ..NetworkParams::devnet()
    };
    let data = tempfile::tempdir().unwrap();
    let identity = Arc::new(Identity::init(data.path(), &params).unwrap());
    let node = identity.node_id();
    let f = fixture_for(node, NodeConfig::default(), params.clone());
    // Early in an epoch well after the one init mined for: its proof is
    // due (and missing), and so is the next one's.
    let period = params.position_period_ms;
    let due = epoch_at(&node, f.ctx.clock.now(), period) + 5;
    let (start, _) = window(&node, due, period).unwrap();
    let now = start + 1;
    assert!(identity.admission_for(due).is_none());
    assert!(identity.admission_for(due + 1).is_none());
    super::task::mine_ahead(&f.ctx, &identity, now).await;
    for e in [due, due + 1] {
        let proof = identity.admission_for(e).expect("mined");
        assert_eq!(proof.epoch, e);
        check_admission(&node, proof, 4).unwrap();
    }
    // The due proof is the one a restart finds; the one mined ahead is not.
    let text = std::fs::read_to_string(data.path().join(crate::identity::NODE_KEY_FILE)).unwrap();
    assert!(
        text.contains(&format!("admission_epoch = {due}\n")),
        "{text}"
    );
    // A record made then carries the due proof, without mining it again.
    let record = identity
        .record(&params, &["/ip4/127.0.0.1/tcp/4600".parse().unwrap()], now)
        .unwrap()
        .verify(&params, now)
        .unwrap();
    assert_eq!(record.admission, identity.admission_for(due).unwrap());
}

/// Runs the announcer for 90 s of paused time against a network where
/// `takers(t)` peers take records `t` seconds after start, and returns when
/// (seconds after start) the record was published.
async fn publications(takers: fn(f64) -> usize) -> Vec<f64> {
    let data = tempfile::tempdir().unwrap();
    let identity = Arc::new(Identity::init(data.path(), &NetworkParams::devnet()).unwrap());
    let f = fixture_with(identity.node_id(), NodeConfig::default());
    let mut commands = f.commands;
    let started = tokio::time::Instant::now();
    let counted = tokio::spawn(async move {
        let mut publications = Vec::new();
        while let Some(cmd) = commands.recv().await {
            match cmd {
                Command::ListenAddrs { reply } => {
                    let _ = reply.send(vec!["/ip4/127.0.0.1/tcp/4600".parse().unwrap()]);
                }
                Command::ConnectedPeers { reply } => {
                    let _ = reply.send(Vec::new());
                }
                Command::Publish {
                    min_peers, reply, ..
                } => {
                    // What the event loop does: below `min_peers`, held back.
                    let t = (tokio::time::Instant::now() - started).as_secs_f64();
                    let peers = takers(t);
                    if peers >= min_peers {
                        publications.push(t);
                        let _ = reply.send(peers);
                    } else {
                        let _ = reply.send(0);
                    }
                }
                _ => {}
            }
        }
        publications
    });
    let (stop, stopped) = watch::channel(false);
    let task = spawn(f.ctx.clone(), identity, stopped);
    // Past the whole start-up window.
    tokio::time::sleep(Duration::from_secs(90)).await;
    stop.send(true).unwrap();
    task.await.unwrap();
    drop(f.ctx);
    counted.await.unwrap()
}

/// At start the record waits for peers that take it, and one publication to
/// them is all: none for 3 s, one until 8 s, then 3.
#[tokio::test(start_paused = true)]
async fn announcer_publishes_once_when_the_mesh_has_formed() {
    let published = publications(|t| match t {
        t if t < 3.0 => 0,
        t if t < 8.0 => 1,
        _ => 3,
    })
    .await;
    assert_eq!(published.len(), 1, "{published:?}");
    assert!((8.0..10.0).contains(&published[0]), "{published:?}");
}

/// Too few peers do not keep the record back for good: it goes
/// out when the hold ends, and again every 5 s until the start-up window
/// ends, as it reached too few peers.
#[tokio::test(start_paused = true)]
async fn announcer_publishes_after_the_hold_without_a_mesh_and_repeats_until_the_window_ends() {
    let published = publications(|_| 1).await;
    assert!((20.0..22.0).contains(&published[0]), "{published:?}");
    // 5 s apart (plus the announcer's one-second tick), none after 60 s.
    for pair in published.windows(2) {
        let gap = pair[1] - pair[0];
        assert!((5.0..=7.0).contains(&gap), "{published:?}");
    }
    assert!((6..=9).contains(&published.len()), "{published:?}");
    assert!(published.iter().all(|t| *t < 62.0), "{published:?}");
}
