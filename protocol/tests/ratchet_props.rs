//! Messages v2 under a swarm's delivery: property tests over out-of-order,
//! duplicated and lost messages with a restart (store and reload of both
//! sessions) between every step, and simultaneous initiation under every
//! delivery order, through `envelope::v2::Sessions` (the receive path and the
//! rule of `sotto_protocol::ratchet::choice`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use proptest::prelude::*;
use rand::SeedableRng;
use rand::rngs::ChaCha20Rng;
use sotto_protocol::envelope::v2::{self, Body, Sessions};
use sotto_protocol::envelope::{Content, ContentBody, ContentId};
use sotto_protocol::prekey::{PrekeySecrets, VerifiedBundle};
use sotto_protocol::ratchet::Session;
use sotto_protocol::time::UnixMillis;
use sotto_protocol::{AccountKey, Error, codec};

const NOW: UnixMillis = 1_750_000_000_000;

fn content(n: u32, at: UnixMillis) -> Content {
    let mut id = [0u8; 16];
    id[..4].copy_from_slice(&n.to_le_bytes());
    Content {
        id: ContentId(id),
        sent_at: at,
        body: ContentBody::Text {
            text: format!("message {n}"),
        },
    }
}

/// Stores and reloads, as a client restart does.
fn restart<T: serde::Serialize + serde::de::DeserializeOwned>(s: &T) -> T {
    let bytes = codec::encode("sessions", s).unwrap();
    codec::decode("sessions", &bytes, 1 << 20).unwrap()
}

/// An account with its prekeys, its [`Sessions`] with one peer (stored and
/// reloaded after every change, as a client restart does) and what it read.
struct Peer {
    key: AccountKey,
    prekeys: PrekeySecrets,
    sessions: Sessions,
    read: BTreeSet<ContentId>,
}

impl Peer {
    fn new(entropy: [u8; 16], rng: &mut ChaCha20Rng) -> Self {
        Self {
            key: AccountKey::from_entropy(entropy),
            prekeys: PrekeySecrets::generate(NOW, rng),
            sessions: Sessions::default(),
            read: BTreeSet::new(),
        }
    }

    fn bundle(&self) -> VerifiedBundle {
        self.prekeys
            .bundle(&self.key, NOW)
            .unwrap()
            .verify(&self.key.account_id(), NOW)
            .unwrap()
    }

    fn current(&self) -> Option<&Session> {
        self.sessions.current()
    }

    /// Sends on the current session, starting one with `to` if there is none.
    fn send(&mut self, to: &VerifiedBundle, c: &Content, rng: &mut ChaCha20Rng) -> Vec<u8> {
        if self.sessions.current().is_none() {
            self.sessions.start(&self.key, to, c.sent_at, rng).unwrap();
        }
        let env = self.sessions.seal(c, rng).unwrap();
        self.sessions = restart(&self.sessions);
        env
    }

    /// Receives like a client; on an error nothing may have changed.
    fn receive(&mut self, env: &[u8]) -> Result<Content, Error> {
        let u = v2::unseal(&self.key, env)?;
        let before = codec::encode("sessions", &self.sessions).unwrap();
        match self.sessions.receive(&self.key, &self.prekeys, &u, NOW) {
            Ok(r) => {
                self.sessions = restart(&self.sessions);
                if let Some(used) = r.used {
                    self.prekeys.mark_used(&used, NOW);
                }
                self.read.insert(r.content.id);
                Ok(r.content)
            }
            Err(e) => {
                assert_eq!(codec::encode("sessions", &self.sessions).unwrap(), before);
                Err(e)
            }
        }
    }
}

/// In-flight envelopes: (to Bob?, envelope, content id).
type Flight = Vec<(bool, Vec<u8>, ContentId)>;

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    /// Random sends both ways, deliveries in any order, duplicates and losses,
    /// a restart after every step: every delivered message opens exactly once
    /// (a duplicate is refused and changes nothing), losses never stop later
    /// messages, and whatever is delivered at the end opens.
    #[test]
    fn out_of_order_duplicated_and_lost(
        seed in any::<[u8; 32]>(),
        ops in proptest::collection::vec((0u8..6, any::<u16>()), 1..60),
    ) {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut alice = Peer::new([1; 16], &mut rng);
        let mut bob = Peer::new([2; 16], &mut rng);
        let (ab, bb) = (alice.bundle(), bob.bundle());
        let mut flight: Flight = Vec::new();
        let mut delivered: Vec<(bool, Vec<u8>)> = Vec::new();
        let mut n = 0u32;
        // Alice opens the conversation; Bob may only send after he read something.
        let c = content(n, NOW);
        flight.push((true, alice.send(&bb, &c, &mut rng), c.id));
        for (op, pick) in ops {
            n += 1;
            let at = NOW + u64::from(n);
            match op {
                0 | 1 => {
                    let c = content(n, at);
                    flight.push((true, alice.send(&bb, &c, &mut rng), c.id));
                }
                2 if bob.current().is_some() => {
                    let c = content(n, at);
                    flight.push((false, bob.send(&ab, &c, &mut rng), c.id));
                }
                3 | 4 if !flight.is_empty() => {
                    let (to_bob, env, id) = flight.remove(usize::from(pick) % flight.len());
                    let to = if to_bob { &mut bob } else { &mut alice };
                    let got = to.receive(&env);
                    // An init whose message was lost before: still opens.
                    prop_assert_eq!(got.map(|c| c.id), Ok(id));
                    delivered.push((to_bob, env));
                }
                5 if !delivered.is_empty() => {
                    // Duplicate delivery: refused, nothing read twice.
                    let (to_bob, env) = delivered[usize::from(pick) % delivered.len()].clone();
                    let to = if to_bob { &mut bob } else { &mut alice };
                    let before = to.read.len();
                    prop_assert!(to.receive(&env).is_err());
                    prop_assert_eq!(to.read.len(), before);
                }
                5 if !flight.is_empty() => {
                    // Lost in the swarm.
                    flight.remove(usize::from(pick) % flight.len());
                }
                _ => {}
            }
        }
        // Whatever is still in flight arrives, newest first.
        while let Some((to_bob, env, id)) = flight.pop() {
            let to = if to_bob { &mut bob } else { &mut alice };
            prop_assert_eq!(to.receive(&env).map(|c| c.id), Ok(id));
        }
        prop_assert!(alice.sessions.archived().is_empty() && bob.sessions.archived().is_empty());
        if let Some(b) = bob.current() {
            prop_assert_eq!(alice.current().map(Session::id), Some(b.id()));
        }
    }

    /// Both start a session at once; envelopes cross in any order, each side
    /// answers what it reads: both end on the same current session and every
    /// message is read.
    #[test]
    fn simultaneous_initiation_converges(
        seed in any::<[u8; 32]>(),
        picks in proptest::collection::vec(any::<u16>(), 40),
    ) {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut alice = Peer::new([1; 16], &mut rng);
        let mut bob = Peer::new([2; 16], &mut rng);
        let (ab, bb) = (alice.bundle(), bob.bundle());
        let mut clock = NOW;
        let mut n = 0u32;
        let mut next = |clock: &mut UnixMillis| { *clock += 1; n += 1; content(n, *clock) };
        let mut flight: Flight = Vec::new();
        let c = next(&mut clock);
        flight.push((true, alice.send(&bb, &c, &mut rng), c.id));
        let c = next(&mut clock);
        flight.push((false, bob.send(&ab, &c, &mut rng), c.id));
        let mut sent = 2;
        let mut picks = picks.into_iter();
        while let Some((to_bob, env, id)) = (!flight.is_empty()).then(|| {
            let i = usize::from(picks.next().unwrap_or(0)) % flight.len();
            flight.remove(i)
        }) {
            let (to, peer_bundle) = if to_bob { (&mut bob, &ab) } else { (&mut alice, &bb) };
            prop_assert_eq!(to.receive(&env).map(|c| c.id), Ok(id));
            if sent < 8 {
                // The reader answers on its current session.
                let c = next(&mut clock);
                flight.push((!to_bob, to.send(peer_bundle, &c, &mut rng), c.id));
                sent += 1;
            }
        }
        let a = alice.current().unwrap().id();
        let b = bob.current().unwrap().id();
        prop_assert_eq!(a, b, "both on one session");
        // And it works both ways from here.
        let c = next(&mut clock);
        let env = alice.send(&bb, &c, &mut rng);
        prop_assert_eq!(bob.receive(&env).map(|c| c.id), Ok(c.id));
        let c = next(&mut clock);
        let env = bob.send(&ab, &c, &mut rng);
        prop_assert_eq!(alice.receive(&env).map(|c| c.id), Ok(c.id));
        prop_assert_eq!(alice.read.len() + bob.read.len(), 10);
    }
}

#[test]
fn a_flood_of_far_ahead_messages_does_not_cost_the_session() {
    let mut rng = ChaCha20Rng::from_seed([9; 32]);
    let mut alice = Peer::new([1; 16], &mut rng);
    let mut bob = Peer::new([2; 16], &mut rng);
    let bb = bob.bundle();
    let c = content(0, NOW);
    let env = alice.send(&bb, &c, &mut rng);
    bob.receive(&env).unwrap();
    let before = codec::encode("session", bob.current().unwrap()).unwrap();
    // A valid message re-sealed with its counter pushed far ahead, many times:
    // each is refused before any key is derived, the session is untouched.
    let c = content(1, NOW + 1);
    let good = alice.send(&bb, &c, &mut rng);
    // Bob has not answered yet, so Alice's envelopes still carry the init.
    let u = v2::unseal(&bob.key, &good).unwrap();
    let Body::Init { init, message } = u.body else {
        panic!("expected an init envelope")
    };
    for n in [2_000u32, 1 << 20, u32::MAX] {
        let mut far = message.clone();
        far.header.n = n;
        let body = Body::Init {
            init: init.clone(),
            message: far,
        };
        let env = v2::seal(
            &alice.key.account_id(),
            &bob.key.account_id(),
            &body,
            &mut rng,
        )
        .unwrap();
        assert!(matches!(
            bob.receive(&env),
            Err(Error::TooManySkipped { .. })
        ));
    }
    assert_eq!(
        codec::encode("session", bob.current().unwrap()).unwrap(),
        before
    );
    assert_eq!(bob.receive(&good).unwrap(), c);
}

/// A contact restores its account while our first message to it is still
/// unanswered: its new prekeys do not open our initiation, so it starts a
/// session of its own (and again, if ours keeps arriving). Whichever session
/// id is lower, both end on one session (rule 4 of `ratchet::choice` when
/// ours would have won the tie).
#[test]
fn a_contact_restored_while_our_initiation_is_unanswered() {
    let mut tie_break_for_ours = 0;
    let mut tie_break_for_theirs = 0;
    for seed in 0..12u8 {
        let mut rng = ChaCha20Rng::from_seed([seed; 32]);
        let mut alice = Peer::new([1; 16], &mut rng);
        let old_bob = Peer::new([2; 16], &mut rng);
        let ab = alice.bundle();
        let mut clock = NOW;
        let mut n = 0u32;
        let mut next = |clock: &mut UnixMillis| {
            *clock += 1;
            n += 1;
            content(n, *clock)
        };
        let c = next(&mut clock);
        let a1 = alice.send(&old_bob.bundle(), &c, &mut rng);
        // Bob restores on a new machine: same words, new prekeys, no sessions.
        let mut bob = Peer::new([2; 16], &mut rng);
        let bb = bob.bundle();
        let mut to_bob = vec![a1];
        let mut converged = false;
        for _round in 0..4 {
            // Bob reads what Alice sent; an initiation he cannot read makes
            // him start over, as the client does.
            let mut unreadable = false;
            for env in to_bob.drain(..) {
                match bob.receive(&env) {
                    Ok(_) => {}
                    Err(Error::UnknownPrekey { .. }) => unreadable = true,
                    Err(e) => panic!("unexpected {e}"),
                }
            }
            if unreadable {
                bob.sessions.start(&bob.key, &ab, clock, &mut rng).unwrap();
            }
            if bob.current().is_none() {
                continue;
            }
            let c = next(&mut clock);
            let env = bob.send(&ab, &c, &mut rng);
            let before = alice.current().map(Session::id);
            assert_eq!(alice.receive(&env).unwrap().id, c.id);
            match (before, alice.current().map(Session::id)) {
                (Some(a), Some(b)) if a == b => tie_break_for_ours += 1,
                _ => tie_break_for_theirs += 1,
            }
            let c = next(&mut clock);
            to_bob.push(alice.send(&bb, &c, &mut rng));
            if alice.current().map(Session::id) == bob.current().map(Session::id) {
                let env = to_bob.pop().unwrap();
                assert_eq!(bob.receive(&env).unwrap().id, c.id);
                converged = true;
                break;
            }
        }
        assert!(converged, "seed {seed}: no common session");
    }
    // Both orders of the ids were exercised.
    assert!(tie_break_for_ours > 0 && tie_break_for_theirs > 0);
}
