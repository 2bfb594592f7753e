//! The values of the store's trees and their byte layouts: the state of a hash
//! (`items`), a message with the owner's shortening (`messages`), and an owner's
//! signed delete or expiry change kept as proof (`proofs`).
//!
//! Protocol types are encoded with the protocol's one codec (postcard); the
//! store's own small records have fixed layouts, big-endian, written here.

use sotto_protocol::Namespace;
use sotto_protocol::codec;
use sotto_protocol::constants::{
    HASH_LEN, MAX_MESSAGE_DATA, MAX_OWNER_OP_LEN, STORED_MESSAGE_OVERHEAD,
};
use sotto_protocol::rpc::{DeleteRequest, DigestItem, ExpireRequest, MessageHash, StoredMessage};
use sotto_protocol::time::UnixMillis;

use super::error::{Result, StoreError};

/// The content address of a proof: `blake3::derive_key(PROOF_ID_CONTEXT, kind ‖
/// encoded request)`. One signed delete of 256 hashes is kept once, not 256
/// times.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProofId(pub [u8; HASH_LEN]);

/// blake3 `derive_key` context of [`ProofId`].
const PROOF_ID_CONTEXT: &str = "sotto node store proof id v1";

/// What a node holds for one hash of an account (the `items` tree).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemRecord {
    /// The message is held (in `messages`).
    Present(PresentItem),
    /// A tombstone: the owner deleted it.
    Deleted(Tombstone),
}

/// A held message's place and times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PresentItem {
    /// Its namespace.
    pub namespace: Namespace,
    /// Its timestamp (with the hash, its key in `messages`).
    pub timestamp: UnixMillis,
    /// Its own expiry.
    pub expiry: UnixMillis,
    /// The earliest owner-signed expiry change held for it, and that change.
    pub shortened: Option<(UnixMillis, ProofId)>,
}

/// A deleted message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tombstone {
    /// The namespace of the delete.
    pub namespace: Namespace,
    /// Kept until then ([`DeleteRequest::tombstone_expiry`]).
    pub until: UnixMillis,
    /// The owner's signed delete.
    pub proof: ProofId,
}

impl PresentItem {
    /// When the message stops being served: the earlier of its expiry and the
    /// owner's shortening.
    pub fn effective_expiry(&self) -> UnixMillis {
        self.shortened
            .map_or(self.expiry, |(s, _)| s.min(self.expiry))
    }
}

impl ItemRecord {
    /// When the purge removes it: the effective expiry of a message, the end of
    /// a tombstone. Its key in the `expiry` index.
    pub fn due(&self) -> UnixMillis {
        match self {
            ItemRecord::Present(p) => p.effective_expiry(),
            ItemRecord::Deleted(t) => t.until,
        }
    }

    /// Whether it still counts at `now` (is served, listed and digested).
    pub fn live_at(&self, now: UnixMillis) -> bool {
        self.due() > now
    }

    /// The anti-entropy item of `hash` in this state.
    pub fn digest_item(&self, hash: MessageHash) -> DigestItem {
        match self {
            ItemRecord::Present(p) => DigestItem {
                hash,
                namespace: p.namespace,
                state: sotto_protocol::rpc::ItemState::Present {
                    timestamp: p.timestamp,
                    expiry: p.expiry,
                    shortened: p.shortened.map(|(s, _)| s),
                },
            },
            ItemRecord::Deleted(t) => DigestItem::deleted(hash, t.namespace),
        }
    }

    /// Layout: present `0 ‖ namespace (2) ‖ timestamp (8) ‖ expiry (8)`, then,
    /// if shortened, `shortened expiry (8) ‖ proof id (32)`; tombstone `1 ‖
    /// namespace (2) ‖ until (8) ‖ proof id (32)`.
    pub fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(59);
        match self {
            ItemRecord::Present(p) => {
                v.push(0);
                v.extend_from_slice(&p.namespace.code().to_be_bytes());
                v.extend_from_slice(&p.timestamp.to_be_bytes());
                v.extend_from_slice(&p.expiry.to_be_bytes());
                if let Some((s, id)) = p.shortened {
                    v.extend_from_slice(&s.to_be_bytes());
                    v.extend_from_slice(&id.0);
                }
            }
            ItemRecord::Deleted(t) => {
                v.push(1);
                v.extend_from_slice(&t.namespace.code().to_be_bytes());
                v.extend_from_slice(&t.until.to_be_bytes());
                v.extend_from_slice(&t.proof.0);
            }
        }
        v
    }

    /// The record back from [`ItemRecord::encode`]; `key` names it in errors.
    pub fn decode(key: &[u8], bytes: &[u8]) -> Result<Self> {
        let bad = |reason: &str| StoreError::corrupt("items", key, reason);
        let mut r = Reader(bytes);
        let tag = r.u8().ok_or_else(|| bad("empty record"))?;
        let ns = r.u16().ok_or_else(|| bad("no namespace"))?;
        let namespace = Namespace::from_code(ns).map_err(|e| bad(&e.to_string()))?;
        let rec = match tag {
            0 => {
                let timestamp = r.u64().ok_or_else(|| bad("no timestamp"))?;
                let expiry = r.u64().ok_or_else(|| bad("no expiry"))?;
                let shortened = if r.0.is_empty() {
                    None
                } else {
                    let s = r.u64().ok_or_else(|| bad("truncated shortening"))?;
                    let id = r.id().ok_or_else(|| bad("truncated proof id"))?;
                    Some((s, id))
                };
                ItemRecord::Present(PresentItem {
                    namespace,
                    timestamp,
                    expiry,
                    shortened,
                })
            }
            1 => {
                let until = r.u64().ok_or_else(|| bad("no tombstone end"))?;
                let proof = r.id().ok_or_else(|| bad("no proof id"))?;
                ItemRecord::Deleted(Tombstone {
                    namespace,
                    until,
                    proof,
                })
            }
            other => return Err(bad(&format!("unknown record tag {other}"))),
        };
        if !r.0.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(rec)
    }
}

/// A held message (the `messages` tree): the message as replicated, the
/// owner's earliest shortening copied from its item so that a retrieve reads
/// one tree, and the sequence number this node gave it when it took it in (its
/// key in `seqs`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRecord {
    /// The owner's earliest signed expiry, if any.
    pub shortened: Option<UnixMillis>,
    /// This node's sequence number of the message (1 and up); 0 only in a record
    /// of on-disk format 1, before [`super::Store::open`] migrates it.
    pub seq: u64,
    /// The message.
    pub message: StoredMessage,
}

/// Longest encoded [`StoredMessage`].
const MAX_MESSAGE_RECORD: usize = MAX_MESSAGE_DATA + STORED_MESSAGE_OVERHEAD;

/// [`MessageRecord`] header flags: format 1 wrote 0 (no shortening) or 1, and no
/// sequence number; format 2 writes 2 or 3 and the sequence number.
const FLAG_SEQ: u8 = 2;

impl MessageRecord {
    /// Layout: `2 or 3 (3: shortened) ‖ shortened expiry (8, 0 when absent) ‖
    /// seq (8) ‖ postcard StoredMessage`.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let body =
            codec::encode("stored message", &self.message).map_err(|e| StoreError::Encode {
                what: "stored message",
                reason: e.to_string(),
            })?;
        let mut v = Vec::with_capacity(17 + body.len());
        v.push(FLAG_SEQ | u8::from(self.shortened.is_some()));
        v.extend_from_slice(&self.shortened.unwrap_or(0).to_be_bytes());
        v.extend_from_slice(&self.seq.to_be_bytes());
        v.extend_from_slice(&body);
        Ok(v)
    }

    /// The record back from [`MessageRecord::encode`], or from format 1's
    /// layout (`0 or 1 ‖ shortened (8) ‖ postcard`, read with `seq` 0); `key`
    /// names it in errors.
    pub fn decode(key: &[u8], bytes: &[u8]) -> Result<Self> {
        let bad = |reason: String| StoreError::corrupt("messages", key, reason);
        let mut r = Reader(bytes);
        let flag = r.u8().ok_or_else(|| bad("empty record".into()))?;
        if flag > (FLAG_SEQ | 1) {
            return Err(bad(format!("unknown header flag {flag}")));
        }
        let s = r.u64().ok_or_else(|| bad("truncated header".into()))?;
        let shortened = (flag & 1 == 1).then_some(s);
        let seq = if flag & FLAG_SEQ != 0 {
            let seq = r.u64().ok_or_else(|| bad("truncated header".into()))?;
            if seq == 0 {
                return Err(bad("sequence number 0".into()));
            }
            seq
        } else {
            0
        };
        let message: StoredMessage = codec::decode("stored message", r.0, MAX_MESSAGE_RECORD)
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self {
            shortened,
            seq,
            message,
        })
    }
}

/// An owner's signed request kept as proof for what it did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Proof {
    /// Behind tombstones.
    Delete(DeleteRequest),
    /// Behind shortenings.
    Expire(ExpireRequest),
}

impl Proof {
    fn kind(&self) -> u8 {
        match self {
            Proof::Delete(_) => 0,
            Proof::Expire(_) => 1,
        }
    }

    fn body(&self) -> Result<Vec<u8>> {
        let encoded = match self {
            Proof::Delete(d) => codec::encode("delete request", d),
            Proof::Expire(e) => codec::encode("expire request", e),
        };
        encoded.map_err(|e| StoreError::Encode {
            what: "owner proof",
            reason: e.to_string(),
        })
    }

    /// The proof's content address.
    pub fn id(&self) -> Result<ProofId> {
        let mut h = blake3::Hasher::new_derive_key(PROOF_ID_CONTEXT);
        h.update(&[self.kind()]);
        h.update(&self.body()?);
        Ok(ProofId(*h.finalize().as_bytes()))
    }
}

/// A kept proof and how many items refer to it (the `proofs` tree). It is
/// removed when the last item that refers to it goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProofRecord {
    /// Items (tombstones or shortened messages) referring to it.
    pub refs: u32,
    /// The signed request.
    pub proof: Proof,
}

impl ProofRecord {
    /// Layout: `refs (u32) ‖ kind (0 delete, 1 expire) ‖ postcard request`.
    pub fn encode(&self) -> Result<Vec<u8>> {
        let body = self.proof.body()?;
        let mut v = Vec::with_capacity(5 + body.len());
        v.extend_from_slice(&self.refs.to_be_bytes());
        v.push(self.proof.kind());
        v.extend_from_slice(&body);
        Ok(v)
    }

    /// The record back from [`ProofRecord::encode`]; `key` names it in errors.
    pub fn decode(key: &[u8], bytes: &[u8]) -> Result<Self> {
        let bad = |reason: String| StoreError::corrupt("proofs", key, reason);
        let mut r = Reader(bytes);
        let refs = r
            .u32()
            .ok_or_else(|| bad("truncated reference count".into()))?;
        let kind = r.u8().ok_or_else(|| bad("no kind".into()))?;
        let proof = match kind {
            0 => codec::decode("delete request", r.0, MAX_OWNER_OP_LEN).map(Proof::Delete),
            1 => codec::decode("expire request", r.0, MAX_OWNER_OP_LEN).map(Proof::Expire),
            other => return Err(bad(format!("unknown proof kind {other}"))),
        }
        .map_err(|e| bad(e.to_string()))?;
        Ok(Self { refs, proof })
    }
}

/// Reads big-endian fields off the front of a slice.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }
    fn u16(&mut self) -> Option<u16> {
        self.take().map(u16::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.take().map(u64::from_be_bytes)
    }
    fn id(&mut self) -> Option<ProofId> {
        self.take().map(ProofId)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sotto_protocol::AccountKey;

    #[test]
    fn items_round_trip_and_refuse_garbage() {
        let recs = [
            ItemRecord::Present(PresentItem {
                namespace: Namespace::INBOX,
                timestamp: 5,
                expiry: 50,
                shortened: None,
            }),
            ItemRecord::Present(PresentItem {
                namespace: Namespace::PUBLIC,
                timestamp: 5,
                expiry: 50,
                shortened: Some((20, ProofId([4; 32]))),
            }),
            ItemRecord::Deleted(Tombstone {
                namespace: Namespace::CONFIG,
                until: 99,
                proof: ProofId([9; 32]),
            }),
        ];
        for r in recs {
            let bytes = r.encode();
            assert_eq!(ItemRecord::decode(b"k", &bytes).unwrap(), r);
            for cut in 0..bytes.len() {
                if cut == 19 && matches!(r, ItemRecord::Present(_)) {
                    continue; // a present item without a shortening is 19 bytes
                }
                assert!(ItemRecord::decode(b"k", &bytes[..cut]).is_err(), "{cut}");
            }
            let mut long = bytes.clone();
            long.push(0);
            assert!(ItemRecord::decode(b"k", &long).is_err());
        }
        assert_eq!(recs[1].due(), 20);
        assert!(recs[1].live_at(19) && !recs[1].live_at(20));
        assert_eq!(recs[2].due(), 99);
        let err = ItemRecord::decode(b"\x01\x02", &[7, 0, 0]).unwrap_err();
        assert!(err.to_string().contains("0102"), "{err}");
    }

    #[test]
    fn messages_and_proofs_round_trip() {
        let k = AccountKey::from_entropy([1; 16]);
        let m = StoredMessage::new(k.account_id(), Namespace::INBOX, vec![1, 2, 3], 10, 20_000);
        for shortened in [None, Some(15)] {
            let r = MessageRecord {
                shortened,
                seq: 77,
                message: m.clone(),
            };
            let bytes = r.encode().unwrap();
            assert_eq!(MessageRecord::decode(b"k", &bytes).unwrap(), r);
            assert!(MessageRecord::decode(b"k", &bytes[..bytes.len() - 1]).is_err());
            // Format 1's layout (no sequence number) still reads, with seq 0,
            // for the migration at open.
            let mut v1 = vec![bytes[0] & 1];
            v1.extend_from_slice(&bytes[1..9]);
            v1.extend_from_slice(&bytes[17..]);
            let old = MessageRecord::decode(b"k", &v1).unwrap();
            assert_eq!(old, MessageRecord { seq: 0, ..r });
        }
        let mut zero = MessageRecord {
            shortened: None,
            seq: 1,
            message: m.clone(),
        }
        .encode()
        .unwrap();
        zero[9..17].copy_from_slice(&[0; 8]);
        assert!(MessageRecord::decode(b"k", &zero).is_err());
        assert!(MessageRecord::decode(b"k", &[4; 40]).is_err());
        let d = DeleteRequest::signed(&k, "test", Namespace::INBOX, vec![m.hash], 10).unwrap();
        let p = ProofRecord {
            refs: 3,
            proof: Proof::Delete(d.clone()),
        };
        let bytes = p.encode().unwrap();
        assert_eq!(ProofRecord::decode(b"k", &bytes).unwrap(), p);
        assert!(ProofRecord::decode(b"k", &bytes[..4]).is_err());
        let e = ExpireRequest::signed(&k, "test", Namespace::INBOX, vec![m.hash], 15, 10).unwrap();
        assert_ne!(
            Proof::Delete(d.clone()).id().unwrap(),
            Proof::Expire(e).id().unwrap()
        );
        assert_eq!(
            Proof::Delete(d.clone()).id().unwrap(),
            Proof::Delete(d).id().unwrap()
        );
    }
}
