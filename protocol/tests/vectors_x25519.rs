//! X25519 as the protocol computes it (aws-lc, `sotto_protocol::crypto`)
//! against RFC 7748's own vectors (`tests/vectors/x25519.json`, copied from
//! the RFC, never regenerated) and against `x25519-dalek`, which made every
//! key before aws-lc did the agreeing: both must be the same function, or
//! keys made by one would not agree under the other.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng};

fn random(rng: &mut ChaCha20Rng) -> [u8; 32] {
    let mut v = [0u8; 32];
    rng.fill_bytes(&mut v);
    v
}
use serde_json::Value;
use sotto_protocol::crypto::{DhKey, dh, ephemeral_dh};
use x25519_dalek::{PublicKey, StaticSecret};

const FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/x25519.json");

fn bytes(v: &Value) -> [u8; 32] {
    hex::decode(v.as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap()
}

fn vectors() -> Value {
    serde_json::from_str(&std::fs::read_to_string(FILE).unwrap()).unwrap()
}

#[test]
fn the_function_matches_rfc_7748() {
    for v in vectors()["function"].as_array().unwrap() {
        let (scalar, u, out) = (bytes(&v["scalar"]), bytes(&v["u"]), bytes(&v["out"]));
        assert_eq!(*DhKey::new(&scalar).unwrap().agree(&u).unwrap(), out);
        assert_eq!(*dh(&StaticSecret::from(scalar), &u).unwrap(), out);
        let dalek = StaticSecret::from(scalar).diffie_hellman(&PublicKey::from(u));
        assert_eq!(dalek.to_bytes(), out);
    }
}

#[test]
fn the_exchange_matches_rfc_7748() {
    let v = &vectors()["exchange"];
    let alice = DhKey::new(&bytes(&v["alice_private"])).unwrap();
    let bob = DhKey::new(&bytes(&v["bob_private"])).unwrap();
    assert_eq!(alice.public().unwrap(), bytes(&v["alice_public"]));
    assert_eq!(bob.public().unwrap(), bytes(&v["bob_public"]));
    let shared = bytes(&v["shared"]);
    assert_eq!(*alice.agree(&bytes(&v["bob_public"])).unwrap(), shared);
    assert_eq!(*bob.agree(&bytes(&v["alice_public"])).unwrap(), shared);
}

#[test]
fn aws_lc_and_dalek_agree_on_random_keys_and_points() {
    let mut rng = ChaCha20Rng::from_seed([11; 32]);
    for i in 0..200 {
        let a = random(&mut rng);
        let b = random(&mut rng);
        let b_public = PublicKey::from(&StaticSecret::from(b)).to_bytes();
        let ours = DhKey::new(&a).unwrap();
        assert_eq!(
            ours.public().unwrap(),
            PublicKey::from(&StaticSecret::from(a)).to_bytes()
        );
        let dalek = StaticSecret::from(a).diffie_hellman(&PublicKey::from(b_public));
        assert_eq!(*ours.agree(&b_public).unwrap(), dalek.to_bytes(), "key {i}");
        // Any 32 bytes as the point, high bit and non-canonical values
        // included: both reduce them the same way (RFC 7748 §5).
        let mut u = random(&mut rng);
        if i % 4 == 0 {
            u[31] |= 0x80;
        }
        let dalek = StaticSecret::from(a).diffie_hellman(&PublicKey::from(u));
        match ours.agree(&u) {
            Ok(shared) => assert_eq!(*shared, dalek.to_bytes(), "point {i}"),
            Err(_) => assert!(!dalek.was_contributory(), "point {i}"),
        }
    }
}

#[test]
fn an_ephemeral_agreement_is_the_one_the_other_side_computes() {
    let mut rng = ChaCha20Rng::from_seed([12; 32]);
    let hop = StaticSecret::from([9; 32]);
    let hop_public = PublicKey::from(&hop).to_bytes();
    let (eph_public, shared) = ephemeral_dh(&mut rng, &hop_public).unwrap();
    assert_eq!(*dh(&hop, &eph_public).unwrap(), *shared);
}

#[test]
fn low_order_points_are_refused() {
    let key = DhKey::new(&[5; 32]).unwrap();
    // 0, 1 and a point of order 8 (RFC 7748 §7's list of small-order points).
    let mut one = [0u8; 32];
    one[0] = 1;
    let order_8 = bytes(&Value::from(
        "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
    ));
    for point in [[0u8; 32], one, order_8] {
        assert!(key.agree(&point).is_err());
    }
}
