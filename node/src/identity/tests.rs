use std::os::unix::fs::PermissionsExt;

use sotto_protocol::Position;

use super::*;
use crate::directory::peer_id_of;

fn devnet() -> NetworkParams {
    NetworkParams::devnet()
}

fn addr(s: &str) -> Multiaddr {
    s.parse().unwrap()
}

#[test]
fn init_then_load_gives_the_same_identity() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let a = Identity::init(&data, &devnet()).unwrap();
    let b = Identity::load(&data, &devnet()).unwrap();
    assert_eq!(a.node_id(), b.node_id());
    assert_eq!(a.admission(), b.admission());
    assert_eq!(b.network(), "devnet");
    let pa: Vec<_> = a.onion_secrets().iter().map(|k| k.entry).collect();
    let pb: Vec<_> = b.onion_secrets().iter().map(|k| k.entry).collect();
    assert_eq!(pa, pb);
    assert_eq!(pa.len(), 1);
    for f in [NODE_KEY_FILE, ONION_KEY_FILE] {
        let mode = std::fs::metadata(data.join(f))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{f}");
    }
    let mode = std::fs::metadata(&data).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    // The secret is not in the debug output.
    let secret = hex::encode(&a.node_key().to_secret_bytes()[..]);
    assert!(!format!("{a:?}").contains(&secret));
}

#[test]
fn init_refuses_to_overwrite_unless_replacing() {
    let dir = tempfile::tempdir().unwrap();
    let a = Identity::init(dir.path(), &devnet()).unwrap();
    let err = Identity::init(dir.path(), &devnet()).unwrap_err();
    assert!(matches!(err, IdentityError::Exists { .. }), "{err}");
    assert!(err.to_string().contains("--force"), "{err}");
    let b = Identity::init_replacing(dir.path(), &devnet()).unwrap();
    assert_ne!(a.node_id(), b.node_id());
    assert_eq!(
        Identity::load(dir.path(), &devnet()).unwrap().node_id(),
        b.node_id()
    );
}

#[test]
fn missing_and_corrupt_files_are_explained() {
    let dir = tempfile::tempdir().unwrap();
    let err = Identity::load(dir.path(), &devnet()).unwrap_err();
    assert!(matches!(err, IdentityError::Missing { .. }), "{err}");
    assert!(
        err.to_string().contains("sotto-node init --data-dir"),
        "{err}"
    );

    Identity::init(dir.path(), &devnet()).unwrap();
    let path = dir.path().join(NODE_KEY_FILE);
    std::fs::write(
        &path,
        "secret = \"zz\"\nnetwork = \"devnet\"\nadmission_nonce = 0\n",
    )
    .unwrap();
    let err = Identity::load(dir.path(), &devnet()).unwrap_err();
    assert!(matches!(err, IdentityError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("hex"), "{err}");

    std::fs::write(&path, "not toml at all [").unwrap();
    let err = Identity::load(dir.path(), &devnet()).unwrap_err();
    assert!(matches!(err, IdentityError::Corrupt { .. }), "{err}");

    std::fs::write(&path, vec![b'#'; 20_000]).unwrap();
    let err = Identity::load(dir.path(), &devnet()).unwrap_err();
    assert!(err.to_string().contains("more than a key file"), "{err}");
}

#[test]
fn key_files_readable_by_others_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    Identity::init(dir.path(), &devnet()).unwrap();
    let path = dir.path().join(NODE_KEY_FILE);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Identity::load(dir.path(), &devnet()).unwrap_err();
    assert!(
        matches!(err, IdentityError::Permissions { mode: 0o644, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("chmod 600"), "{err}");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let onion = dir.path().join(ONION_KEY_FILE);
    std::fs::set_permissions(&onion, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = Identity::load(dir.path(), &devnet()).unwrap_err();
    assert!(matches!(err, IdentityError::Permissions { .. }), "{err}");
}

#[test]
fn peer_id_follows_from_the_node_id() {
    let dir = tempfile::tempdir().unwrap();
    let id = Identity::init(dir.path(), &devnet()).unwrap();
    let expected = peer_id_of(&id.node_id()).unwrap();
    assert_eq!(id.keypair().public().to_peer_id(), expected);
    assert_eq!(id.peer_id(), expected);
    // Reloading keeps it.
    let again = Identity::load(dir.path(), &devnet()).unwrap();
    assert_eq!(again.peer_id(), expected);
}

#[test]
fn record_verifies_and_lists_only_dialable_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let params = devnet();
    let id = Identity::init(dir.path(), &params).unwrap();
    let now = id.onion_secrets()[0].entry.valid_from + 1_000;
    let addrs = [
        addr("/ip4/0.0.0.0/tcp/4600"),
        addr("/ip6/::/tcp/4600"),
        addr(&format!("/ip4/127.0.0.1/tcp/4600/p2p/{}", id.peer_id())),
        addr("/ip4/127.0.0.1/tcp/4600"),
        addr("/ip4/127.0.0.1/udp/4600/quic-v1"),
    ];
    let signed = id.record(&params, &addrs, now).unwrap();
    let rec = signed.verify(&params, now).unwrap();
    assert_eq!(rec.node, id.node_id());
    assert_eq!(
        rec.addrs,
        vec![
            "/ip4/127.0.0.1/tcp/4600".to_string(),
            "/ip4/127.0.0.1/udp/4600/quic-v1".to_string()
        ]
    );
    assert_eq!(rec.issued_at, now);
    assert_eq!(rec.expires_at, now + params.record_lifetime_ms);
    assert_eq!(rec.onion_keys.len(), 1);
    assert_eq!(rec.onion_keys[0].key, id.onion_secrets()[0].secret.public());
    assert_eq!(rec.network, "devnet");
    // Another network refuses it.
    assert!(signed.verify(&NetworkParams::public(), now).is_err());
    // Only unspecified addresses: nothing to announce.
    let err = id
        .record(&params, &[addr("/ip4/0.0.0.0/tcp/1")], now)
        .unwrap_err();
    assert!(matches!(err, IdentityError::NoAddresses), "{err}");
    // Never more than the protocol allows.
    let many: Vec<Multiaddr> = (1..20)
        .map(|p| addr(&format!("/ip4/10.0.0.1/tcp/{p}")))
        .collect();
    let rec = id
        .record(&params, &many, now)
        .unwrap()
        .verify(&params, now)
        .unwrap();
    assert_eq!(rec.addrs.len(), MAX_RECORD_ADDRS);
    // The position is what the directory computes from the record: the
    // node id and the admission proof.
    assert_eq!(rec.admission, id.admission());
    assert_eq!(
        Position::of_node(&rec.node, rec.admission).to_hex(),
        Position::of_node(&id.node_id(), id.admission()).to_hex()
    );
}

#[test]
fn onion_keys_rotate_keep_the_previous_one_and_persist() {
    let dir = tempfile::tempdir().unwrap();
    let params = devnet();
    let id = Identity::init(dir.path(), &params).unwrap();
    let first = id.onion_secrets()[0].clone();
    let t0 = first.entry.valid_from;
    let rot = params.onion_key_rotation_ms;
    let grace = params.onion_key_grace_ms;

    assert!(!id.rotate_if_due(t0 + rot - 1, &params).unwrap());
    let t1 = t0 + rot;
    assert!(id.rotate_if_due(t1, &params).unwrap());
    assert!(!id.rotate_if_due(t1 + 1, &params).unwrap());
    let keys = id.onion_secrets();
    assert_eq!(keys.len(), 2);
    assert_eq!(keys[0].entry.valid_from, t1);
    assert_eq!(keys[0].entry.valid_until, t1 + rot + grace);
    assert_eq!(keys[1].entry, first.entry);
    assert_ne!(keys[0].entry.key, first.entry.key);

    // During the grace period the record carries both keys and still verifies.
    let addrs = [addr("/ip4/127.0.0.1/tcp/1")];
    let rec = id.record(&params, &addrs, t1 + 10).unwrap();
    let rec = rec.verify(&params, t1 + 10).unwrap();
    assert_eq!(rec.onion_keys.len(), 2);
    assert_eq!(rec.current_onion_key(t1 + 10), Some(keys[0].entry.key));

    // Saved: a restart sees the same two keys.
    let again = Identity::load(dir.path(), &params).unwrap();
    let reloaded: Vec<_> = again.onion_secrets().iter().map(|k| k.entry).collect();
    assert_eq!(reloaded, keys.iter().map(|k| k.entry).collect::<Vec<_>>());

    // After the grace the old key leaves the record; after the next rotation
    // it is gone and there are still at most two.
    let t2 = t0 + rot + grace;
    let rec = id
        .record(&params, &addrs, t2)
        .unwrap()
        .verify(&params, t2)
        .unwrap();
    assert_eq!(rec.onion_keys.len(), 1);
    let t3 = t1 + rot;
    assert!(id.rotate_if_due(t3, &params).unwrap());
    let keys3 = id.onion_secrets();
    assert_eq!(keys3.len(), MAX_KEPT_ONION_KEYS);
    assert!(keys3.iter().all(|k| k.entry.key != first.entry.key));

    // A node that was off for days gets a fresh key at once.
    let late = t3 + 10 * rot;
    let rec = id
        .record(&params, &addrs, late)
        .unwrap()
        .verify(&params, late)
        .unwrap();
    assert_eq!(rec.onion_keys.len(), 1);
    assert_eq!(rec.onion_keys[0].valid_from, late);
}

#[test]
fn a_clock_stepped_back_keeps_the_published_onion_key() {
    let dir = tempfile::tempdir().unwrap();
    let params = devnet();
    let id = Identity::init(dir.path(), &params).unwrap();
    let key = id.onion_secrets()[0].entry;
    // The clock steps 4 minutes back, to before the key was made: the key is
    // kept (replacing it would withdraw what every directory knows while the
    // earlier-dated record is ignored), and the record still carries it.
    let back = key.valid_from - 4 * 60_000;
    assert!(!id.rotate_if_due(back, &params).unwrap());
    assert_eq!(id.onion_secrets()[0].entry, key);
    let rec = id
        .record(&params, &[addr("/ip4/127.0.0.1/tcp/1")], back)
        .unwrap();
    let rec = rec.verify(&params, back).unwrap();
    assert_eq!(
        rec.onion_keys.iter().map(|e| e.key).collect::<Vec<_>>(),
        vec![key.key]
    );
}

#[test]
fn admission_is_mined_again_for_another_network() {
    let dir = tempfile::tempdir().unwrap();
    let id = Identity::init(dir.path(), &devnet()).unwrap();
    let mut harder = devnet();
    harder.name = "testnet".into();
    harder.admission_difficulty = 8;
    let moved = Identity::load(dir.path(), &harder).unwrap();
    assert_eq!(moved.node_id(), id.node_id());
    assert_eq!(moved.network(), "testnet");
    check_admission(&moved.node_id(), moved.admission(), 8).unwrap();
    // Saved, so the next load does not mine again and agrees.
    let text = std::fs::read_to_string(dir.path().join(NODE_KEY_FILE)).unwrap();
    assert!(text.contains("testnet"), "{text}");
    let again = Identity::load(dir.path(), &harder).unwrap();
    assert_eq!(again.admission(), moved.admission());
    let now = again.onion_secrets()[0].entry.valid_from;
    let rec = again
        .record(&harder, &[addr("/ip4/127.0.0.1/tcp/1")], now)
        .unwrap();
    rec.verify(&harder, now).unwrap();
}

#[test]
fn missing_onion_key_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let id = Identity::init(dir.path(), &devnet()).unwrap();
    std::fs::remove_file(dir.path().join(ONION_KEY_FILE)).unwrap();
    let again = Identity::load(dir.path(), &devnet()).unwrap();
    assert_eq!(again.onion_secrets().len(), 1);
    assert_ne!(
        again.onion_secrets()[0].entry.key,
        id.onion_secrets()[0].entry.key
    );
    assert!(dir.path().join(ONION_KEY_FILE).exists());
}

#[test]
fn renewing_replaces_every_onion_key_and_saves_the_new_one() {
    let dir = tempfile::tempdir().unwrap();
    let params = devnet();
    let id = Identity::init(dir.path(), &params).unwrap();
    let t0 = id.onion_secrets()[0].entry.valid_from;
    assert!(
        id.rotate_if_due(t0 + params.onion_key_rotation_ms, &params)
            .unwrap()
    );
    let before: Vec<_> = id.onion_secrets().iter().map(|k| k.entry.key).collect();
    assert_eq!(before.len(), 2);
    let t1 = t0 + params.onion_key_rotation_ms + 5;
    id.renew_onion_keys(t1, &params).unwrap();
    let after = id.onion_secrets();
    assert_eq!(after.len(), 1);
    assert!(!before.contains(&after[0].entry.key));
    assert_eq!(after[0].entry.valid_from, t1);
    let reloaded = Identity::load(dir.path(), &params).unwrap().onion_secrets();
    assert_eq!(reloaded.len(), 1);
    assert_eq!(reloaded[0].entry, after[0].entry);
}

/// Issue 13: on a public network a node leaves its local addresses out of its
/// record (others would refuse the whole record for them).
#[test]
fn public_records_leave_local_addresses_out() {
    let dir = tempfile::tempdir().unwrap();
    let params = NetworkParams {
        admission_difficulty: 0,
        ..NetworkParams::public()
    };
    let id = Identity::init(dir.path(), &params).unwrap();
    let now = id.onion_secrets()[0].entry.valid_from + 1_000;
    let addrs = [
        addr("/ip4/127.0.0.1/tcp/4600"),
        addr("/ip4/192.168.1.20/tcp/4600"),
        addr("/ip4/8.8.8.8/tcp/4600"),
    ];
    let signed = id.record(&params, &addrs, now).unwrap();
    let rec = signed.verify(&params, now).unwrap();
    assert_eq!(rec.addrs, vec!["/ip4/8.8.8.8/tcp/4600".to_string()]);
    // Only local addresses: nothing this network could dial.
    let err = id.record(&params, &addrs[..2], now).unwrap_err();
    assert!(matches!(err, IdentityError::NoAddresses), "{err}");
}

/// Where positions rotate, the record carries the proof of the epoch due at
/// its time and expires with it; across the boundary the node has a new
/// proof and a new position, and only the current epoch's proof is saved.
#[test]
fn records_follow_the_position_epoch() {
    use sotto_protocol::position::epoch::{epoch_at, overlap, window};
    use sotto_protocol::time::HOUR_MS;
    let dir = tempfile::tempdir().unwrap();
    let params = NetworkParams {
        admission_difficulty: 6,
        position_period_ms: 8 * HOUR_MS,
        ..devnet()
    };
    let id = Identity::init(dir.path(), &params).unwrap();
    let node = id.node_id();
    let start = id.onion_secrets()[0].entry.valid_from;
    let period = params.position_period_ms;
    let e = epoch_at(&node, start, period);
    let (_, end) = window(&node, e, period).unwrap();
    let addrs = [addr("/ip4/127.0.0.1/tcp/4600")];

    // Early in the epoch (the first record, at init, or right after it).
    let early = end.saturating_sub(period / 2).max(start);
    if early < end - overlap(period) {
        let rec = id
            .record(&params, &addrs, early)
            .unwrap()
            .verify(&params, early)
            .unwrap();
        assert_eq!(rec.admission.epoch, e);
        assert!(rec.expires_at <= end + overlap(period));
        check_admission(&node, rec.admission, 6).unwrap();
    }
    // Just after the boundary: the next epoch's proof, a new position.
    let late = end + 1;
    let rec = id
        .record(&params, &addrs, late)
        .unwrap()
        .verify(&params, late)
        .unwrap();
    assert_eq!(rec.admission.epoch, e + 1);
    check_admission(&node, rec.admission, 6).unwrap();
    assert_ne!(
        Position::of_node(&node, rec.admission),
        Position::of_node(&node, Admission::new(e, rec.admission.nonce))
    );
    // A proof mined ahead is kept but not saved as the current one.
    id.add_admission(mine_admission(&node, e + 2, 6), false)
        .unwrap();
    let text = std::fs::read_to_string(dir.path().join(NODE_KEY_FILE)).unwrap();
    assert!(
        text.contains(&format!("admission_epoch = {}", e + 1)),
        "{text}"
    );
    assert_eq!(id.admission_for(e + 2).map(|p| p.epoch), Some(e + 2));
    assert!(id.admission_for(e).is_none(), "only two proofs are kept");
}
