//! One Double Ratchet session (spec rev. 4 §3): its state, initialisation from
//! a PQXDH handshake (§3.7 with X3DH's place taken by PQXDH), `RatchetEncrypt`
//! (§3.4) and a transactional `RatchetDecrypt` (§3.5).
//!
//! Two departures from the spec's pseudocode, neither visible on the wire:
//!
//! - **The sending half of a DH ratchet step is deferred to the next send.**
//!   §3.5's `DHRatchet` derives the new receiving chain and, at once, a new key
//!   pair and sending chain. Here the receiving half runs on receipt and the
//!   sending half at the next [`Session::encrypt`]; `PN` is fixed at receipt as
//!   in the spec. The root-key sequence is the same, because the peer cannot
//!   start another step before it has seen our new key. Receiving then costs one
//!   X25519 agreement instead of two plus a key generation, and needs no
//!   randomness.
//! - **Decryption is transactional.** §3.5 says to discard state changes on an
//!   exception; [`Session::decrypt`] works on copies and commits only when the
//!   AEAD accepted the message, so a forged, replayed, or far-ahead message (a
//!   flood of huge `n`) leaves the session exactly as it was.

use std::fmt;

use rand_core::CryptoRng;
use serde::{Deserialize, Serialize};
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::constants::{HASH_LEN, KEY_LEN, MAX_SKIP};
use crate::crypto::{SymmetricKey, dh, open_in_place, seal_in_place};
use crate::error::{Error, Result};
use crate::id::AccountId;
use crate::pqxdh::{Handshake, InitHeader, Responded, SessionId};
use crate::ratchet::kdf::{kdf_ck, kdf_rk};
use crate::ratchet::message::{HEADER_AD_LEN, Header, RatchetMessage};
use crate::ratchet::skipped::SkippedKeys;
use crate::time::UnixMillis;

/// Length of the session's associated data: IK_A ‖ IK_B ‖ session id.
const SESSION_AD_LEN: usize = 2 * KEY_LEN + HASH_LEN;

/// A symmetric chain (§3.2 `CKs`/`CKr` with `Ns`/`Nr`).
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct Chain {
    key: [u8; KEY_LEN],
    n: u32,
}

/// The state of one session with one peer. Serialize it (postcard) into the
/// client's sealed home; write it back after every [`Session::encrypt`] (before
/// the envelope leaves) and every successful [`Session::decrypt`] (before the
/// message is marked seen). Wiped on drop; `Debug` shows no key.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct Session {
    #[zeroize(skip)]
    id: SessionId,
    #[zeroize(skip)]
    initiator: AccountId,
    #[zeroize(skip)]
    responder: AccountId,
    we_initiated: bool,
    /// The initiation, attached to every message until the peer answers (so a
    /// lost or late first message does not stop the later ones from opening).
    #[zeroize(skip)]
    pending_init: Option<InitHeader>,
    /// Whether any message from the peer decrypted on this session.
    received_any: bool,
    /// The newest peer-clock time of anything received on this session.
    latest_peer_time: Option<UnixMillis>,
    root: [u8; KEY_LEN],
    /// `DHs`: our current ratchet secret and its public key.
    dh_self: [u8; KEY_LEN],
    dh_self_public: [u8; KEY_LEN],
    /// `DHr`: the peer's current ratchet key.
    dh_remote: Option<[u8; KEY_LEN]>,
    send: Option<Chain>,
    recv: Option<Chain>,
    /// `PN`.
    pn: u32,
    skipped: SkippedKeys,
}

impl Session {
    /// The initiator's session (§3.7 `RatchetInitAlice`): a fresh ratchet key
    /// pair, the responder's signed prekey as its first ratchet key, and a
    /// first sending chain from `KDF_RK(SK, DH(DHs, SPK_B))`.
    pub fn initiator<R: CryptoRng + ?Sized>(
        handshake: Handshake,
        init: InitHeader,
        rng: &mut R,
    ) -> Result<Self> {
        let secret = StaticSecret::random_from_rng(rng);
        let dh_out = dh(&secret, &handshake.responder_ratchet_public)?;
        let (root, chain) = kdf_rk(&handshake.secret, &dh_out);
        Ok(Self {
            id: handshake.session_id,
            initiator: handshake.initiator,
            responder: handshake.responder,
            we_initiated: true,
            pending_init: Some(init),
            received_any: false,
            latest_peer_time: None,
            root: *root,
            dh_self: secret.to_bytes(),
            dh_self_public: PublicKey::from(&secret).to_bytes(),
            dh_remote: Some(handshake.responder_ratchet_public),
            send: Some(Chain { key: *chain, n: 0 }),
            recv: None,
            pn: 0,
            skipped: SkippedKeys::default(),
        })
    }

    /// The responder's session (§3.7 `RatchetInitBob`): the signed prekey pair
    /// as the first ratchet key pair and SK as the root key; chains come with
    /// the first message. `init` is the initiation it answers.
    pub fn responder(responded: Responded, init: &InitHeader) -> Self {
        let h = &responded.handshake;
        Self {
            id: h.session_id,
            initiator: h.initiator,
            responder: h.responder,
            we_initiated: false,
            pending_init: None,
            received_any: false,
            latest_peer_time: Some(init.created_at),
            root: *h.secret,
            dh_self: responded.ratchet_secret.to_bytes(),
            dh_self_public: h.responder_ratchet_public,
            dh_remote: None,
            send: None,
            recv: None,
            pn: 0,
            skipped: SkippedKeys::default(),
        }
    }

    /// The session's id (the hash of its initiation).
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// The other account.
    pub fn peer(&self) -> AccountId {
        if self.we_initiated {
            self.responder
        } else {
            self.initiator
        }
    }

    /// Our account.
    pub fn own(&self) -> AccountId {
        if self.we_initiated {
            self.initiator
        } else {
            self.responder
        }
    }

    /// Whether we started this session.
    pub fn we_initiated(&self) -> bool {
        self.we_initiated
    }

    /// Whether any message from the peer has decrypted on it.
    pub fn received_any(&self) -> bool {
        self.received_any
    }

    /// The initiation still attached to outgoing messages (until the peer's
    /// first message arrives).
    pub fn pending_init(&self) -> Option<&InitHeader> {
        self.pending_init.as_ref()
    }

    /// The newest peer-clock time seen on this session (the initiation's time,
    /// then the `sent_at` of every content read, see [`Session::note_peer_time`]).
    pub fn latest_peer_time(&self) -> Option<UnixMillis> {
        self.latest_peer_time
    }

    /// Records the peer-clock time of a content read on this session (the
    /// envelope v2 helpers do this).
    pub fn note_peer_time(&mut self, at: UnixMillis) {
        self.latest_peer_time = Some(self.latest_peer_time.map_or(at, |t| t.max(at)));
    }

    /// How many skipped message keys are kept.
    pub fn skipped_keys(&self) -> usize {
        self.skipped.len()
    }

    /// Drops skipped keys past their age at `now` (also done on every receipt).
    pub fn prune(&mut self, now: UnixMillis) {
        self.skipped.prune(now);
    }

    /// `RatchetEncrypt` (§3.4), after the deferred sending half of a DH ratchet
    /// step if one is due. Fails only if the chain is exhausted (2^32 messages).
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        plaintext: &[u8],
        rng: &mut R,
    ) -> Result<RatchetMessage> {
        if self.send.is_none() {
            let remote = self.dh_remote.ok_or(Error::OutOfRange {
                what: "ratchet session",
                reason: "nothing to send on before the peer's first message".into(),
            })?;
            // Second half of §3.5 `DHRatchet`: DHs = GENERATE_DH();
            // RK, CKs = KDF_RK(RK, DH(DHs, DHr)).
            let secret = StaticSecret::random_from_rng(rng);
            let dh_out = dh(&secret, &remote)?;
            let (root, chain) = kdf_rk(&self.root, &dh_out);
            self.root = *root;
            self.dh_self = secret.to_bytes();
            self.dh_self_public = PublicKey::from(&secret).to_bytes();
            self.send = Some(Chain { key: *chain, n: 0 });
        }
        let chain = self.send.as_mut().ok_or(Error::OutOfRange {
            what: "ratchet session",
            reason: "no sending chain".into(),
        })?;
        let n = chain.n;
        let next_n = n.checked_add(1).ok_or(Error::OutOfRange {
            what: "ratchet sending chain",
            reason: "2^32 messages on one chain".into(),
        })?;
        let (mk, next) = kdf_ck(&chain.key);
        chain.key = *next;
        chain.n = next_n;
        let header = Header {
            dh: self.dh_self_public,
            pn: self.pn,
            n,
        };
        let mut ciphertext = Zeroizing::new(plaintext.to_vec());
        let tag = seal_in_place(&mk, &self.ad(&header), &mut ciphertext)?;
        let mut out = Vec::with_capacity(ciphertext.len() + tag.len());
        out.extend_from_slice(&ciphertext);
        out.extend_from_slice(&tag);
        Ok(RatchetMessage {
            header,
            ciphertext: out,
        })
    }

    /// `RatchetDecrypt` (§3.5), transactional: on any error the session is
    /// unchanged. Refuses a message that would skip more than `MAX_SKIP` keys of
    /// a chain ([`Error::TooManySkipped`]), and one whose key is gone
    /// ([`Error::OldMessage`]). `now` dates newly skipped keys and drops old ones.
    pub fn decrypt(
        &mut self,
        message: &RatchetMessage,
        now: UnixMillis,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let header = &message.header;
        let ad = self.ad(header);
        // §3.5 TrySkippedMessageKeys.
        if let Some(i) = self.skipped.find(&header.dh, header.n) {
            let key = self.skipped.key(i).copied().map(Zeroizing::new);
            let key = key.ok_or(Error::OldMessage { n: header.n })?;
            let plaintext = open(&key, &ad, &message.ciphertext)?;
            self.skipped.remove(i);
            self.after_receive(now);
            return Ok(plaintext);
        }

        // Everything below works on copies until the AEAD accepts.
        let mut root = Zeroizing::new(self.root);
        let mut recv = self.recv.clone();
        let mut new_skipped = Vec::new();
        let new_remote = self.dh_remote != Some(header.dh);
        if new_remote {
            // §3.5: SkipMessageKeys(state, header.pn), then the receiving half
            // of DHRatchet: RK, CKr = KDF_RK(RK, DH(DHs, DHr)).
            if let (Some(chain), Some(old)) = (recv.as_mut(), self.dh_remote) {
                skip(chain, &old, header.pn, &mut new_skipped)?;
            }
            let dh_out = dh(&StaticSecret::from(self.dh_self), &header.dh)?;
            let (r, chain) = kdf_rk(&root, &dh_out);
            root = r;
            recv = Some(Chain { key: *chain, n: 0 });
        }
        let chain = recv.as_mut().ok_or(Error::OldMessage { n: header.n })?;
        if header.n < chain.n {
            return Err(Error::OldMessage { n: header.n });
        }
        skip(chain, &header.dh, header.n, &mut new_skipped)?;
        let (mk, next) = kdf_ck(&chain.key);
        chain.key = *next;
        chain.n = chain.n.saturating_add(1);
        let plaintext = open(&mk, &ad, &message.ciphertext)?;

        // Commit.
        self.root = *root;
        self.recv = recv;
        if new_remote {
            self.dh_remote = Some(header.dh);
            if let Some(send) = self.send.take() {
                self.pn = send.n;
            }
        }
        self.skipped.extend(new_skipped, now);
        self.after_receive(now);
        Ok(plaintext)
    }

    fn after_receive(&mut self, now: UnixMillis) {
        self.received_any = true;
        self.pending_init = None;
        self.skipped.prune(now);
    }

    /// `CONCAT(AD, header)` (§3.4) with AD = IK_A ‖ IK_B ‖ session id
    /// (PQXDH §3.3 plus the initiation's hash).
    fn ad(&self, header: &Header) -> [u8; SESSION_AD_LEN + HEADER_AD_LEN] {
        let mut ad = [0u8; SESSION_AD_LEN + HEADER_AD_LEN];
        let parts: [&[u8]; 4] = [
            self.initiator.as_bytes(),
            self.responder.as_bytes(),
            &self.id.0,
            &header.ad_bytes(),
        ];
        let mut at = 0;
        for p in parts {
            if let Some(slot) = ad.get_mut(at..at + p.len()) {
                slot.copy_from_slice(p);
            }
            at += p.len();
        }
        ad
    }
}

/// §3.5 `SkipMessageKeys`: advances `chain` to `until`, keeping the skipped
/// keys, refusing a jump over `MAX_SKIP` before deriving anything.
fn skip(
    chain: &mut Chain,
    dh: &[u8; KEY_LEN],
    until: u32,
    out: &mut Vec<(([u8; KEY_LEN], u32), SymmetricKey)>,
) -> Result<()> {
    let ahead = u64::from(until).saturating_sub(u64::from(chain.n));
    if ahead > u64::from(MAX_SKIP) {
        return Err(Error::TooManySkipped {
            skipped: ahead,
            max: MAX_SKIP,
        });
    }
    while chain.n < until {
        let (mk, next) = kdf_ck(&chain.key);
        out.push(((*dh, chain.n), mk));
        chain.key = *next;
        chain.n += 1;
    }
    Ok(())
}

/// Opens `ciphertext ‖ tag` under a single-use message key.
fn open(key: &[u8; KEY_LEN], ad: &[u8], ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    let (body, tag) = ciphertext.split_last_chunk::<16>().ok_or(Error::Decrypt {
        what: "ratchet message",
    })?;
    let mut plaintext = Zeroizing::new(body.to_vec());
    open_in_place("ratchet message", key, ad, &mut plaintext, tag)?;
    Ok(plaintext)
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("id", &self.id)
            .field("peer", &self.peer())
            .field("we_initiated", &self.we_initiated)
            .field("received_any", &self.received_any)
            .field("skipped_keys", &self.skipped.len())
            .finish_non_exhaustive()
    }
}
