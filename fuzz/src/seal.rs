//! Sealing the fuzzer's bytes under fixed keys, so the decoders behind the
//! cryptography see arbitrary input with no seam in the production code.
//!
//! Anyone can do what these helpers do: a client seals any routing info to a
//! relay's public onion key, any sender seals any inner plaintext to a
//! recipient, and a relay or destination seals any response frame under the
//! reply key it was given. The harness plays that hostile party with keys it
//! chose, using only the public primitives of `sotto_protocol::crypto`.
//!
//! The onion layer keys are derived here the way `protocol/src/onion/layer.rs`
//! derives them (the context strings are copied). If that derivation changes,
//! the seeds sealed here stop opening, and the corpus replay tests (which insist
//! every seed is accepted) fail: the copy cannot drift unnoticed.
//!
//! Used by the `cargo fuzz` targets and by the corpus replay tests, which include
//! this file; it names nothing of the fuzz crate.

use sotto_protocol::constants::{
    ENVELOPE_BUCKETS, ENVELOPE_HEADER_LEN, ENVELOPE_VERSION, KEY_LEN, ONION_DIGEST_LEN,
    ONION_LEN_PREFIX, SIGNATURE_LEN, TAG_LEN,
};
use sotto_protocol::crypto::{SymmetricKey, dh, kdf, seal_in_place, xor_keystream};
use sotto_protocol::envelope::{ENVELOPE_KEY_CONTEXT, ENVELOPE_SIGNATURE_CONTEXT};
use sotto_protocol::{AccountId, AccountKey, OnionSecret};

/// The layer keys of one onion slot, as a hop derives them.
pub struct Layer {
    /// Seals the routing info in the slot.
    pub slot: SymmetricKey,
    /// Keys the digest of everything after the slot.
    pub integrity: SymmetricKey,
    /// Header keystream of a relay.
    pub header: SymmetricKey,
    /// Payload keystream (relay) or payload AEAD key (destination).
    pub payload: SymmetricKey,
    /// AEAD key the hop seals a response with.
    pub reply_seal: SymmetricKey,
    /// Keystream the hop wraps a response with on its way back.
    pub reply_stream: SymmetricKey,
}

impl Layer {
    /// The keys a hop with onion key `hop` derives for a slot whose ephemeral
    /// public key is `eph_pub`. `None` if `eph_pub` is a low-order point.
    pub fn at_hop(hop: &OnionSecret, eph_pub: &[u8; KEY_LEN]) -> Option<Self> {
        let shared = dh(hop.secret(), eph_pub).ok()?;
        let base = kdf(
            "sotto onion layer v1",
            &[&shared[..], eph_pub, &hop.public()],
        );
        let sub = |context| kdf(context, &[&base[..]]);
        Some(Self {
            slot: sub("sotto onion slot v1"),
            integrity: sub("sotto onion integrity v1"),
            header: sub("sotto onion header v1"),
            payload: sub("sotto onion payload v1"),
            reply_seal: sub("sotto onion reply seal v1"),
            reply_stream: sub("sotto onion reply stream v1"),
        })
    }

    /// The integrity digest of `rest` (everything after the slot) under this layer.
    pub fn digest(&self, rest: &[u8]) -> [u8; ONION_DIGEST_LEN] {
        let mut hasher = blake3::Hasher::new_keyed(&self.integrity);
        hasher.update(rest);
        let mut out = [0u8; ONION_DIGEST_LEN];
        hasher.finalize_xof().fill(&mut out);
        out
    }
}

/// Seals `plain` in place under a single-use `key` with no associated data and
/// appends the tag.
pub fn seal_append(key: &[u8; KEY_LEN], mut plain: Vec<u8>) -> Option<Vec<u8>> {
    let tag = seal_in_place(key, &[], &mut plain).ok()?;
    plain.extend_from_slice(&tag);
    Some(plain)
}

/// XORs a response with a relay's reply keystream (what `wrap_response` does).
pub fn wrap(layer: &Layer, packet: &mut [u8]) {
    xor_keystream(&layer.reply_stream, packet);
}

/// The reference reading of the frame inside an onion payload or response:
/// `u32 LE length ‖ body ‖ zero padding`, the body if that is what `buf` is.
/// The harness compares the decoder's answer with it.
pub fn reference_unframe(buf: &[u8]) -> Option<&[u8]> {
    let (len, rest) = buf.split_first_chunk::<ONION_LEN_PREFIX>()?;
    let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
    let (body, padding) = rest.split_at_checked(len)?;
    padding.iter().all(|b| *b == 0).then_some(body)
}

/// Pads `plain` with zeros to `len` bytes; `None` if it is longer.
pub fn zero_pad(plain: &[u8], len: usize) -> Option<Vec<u8>> {
    if plain.len() > len {
        return None;
    }
    let mut out = plain.to_vec();
    out.resize(len, 0);
    Some(out)
}

/// `inner` zero-padded to the size it has in the smallest envelope bucket that
/// holds it, skipping the `skip_buckets` smallest; `None` if none does.
pub fn pad_inner(inner: &[u8], skip_buckets: usize) -> Option<Vec<u8>> {
    let overhead = ENVELOPE_HEADER_LEN + TAG_LEN;
    let bucket = ENVELOPE_BUCKETS
        .iter()
        .copied()
        .skip(skip_buckets)
        .find(|b| inner.len() + overhead <= *b)?;
    zero_pad(inner, bucket - overhead)
}

/// The ephemeral key every envelope the harness seals comes from.
fn envelope_ephemeral() -> AccountKey {
    AccountKey::from_entropy([0xe5; 16])
}

/// An envelope to `recipient` holding `inner` (sender key ‖ signature ‖ length ‖
/// content ‖ padding, as the fuzzer wrote it) zero-padded to the smallest bucket
/// that holds it, skipping the `skip_buckets` smallest (a sender may pad more). `None` if no bucket does, or if the
/// recipient's key cannot be encrypted to.
pub fn seal_envelope(recipient: &AccountId, inner: &[u8], skip_buckets: usize) -> Option<Vec<u8>> {
    let mut plain = pad_inner(inner, skip_buckets)?;
    let bucket = plain.len() + ENVELOPE_HEADER_LEN + TAG_LEN;
    let recipient_x25519 = recipient.x25519_public().ok()?;
    let ephemeral = envelope_ephemeral();
    let eph_pub = ephemeral.x25519_public();
    let shared = dh(&ephemeral.x25519_secret(), &recipient_x25519).ok()?;
    let key = kdf(
        ENVELOPE_KEY_CONTEXT,
        &[&shared[..], &eph_pub[..], &recipient_x25519[..]],
    );
    let tag = seal_in_place(&key, &[ENVELOPE_VERSION], &mut plain).ok()?;
    let mut out = Vec::with_capacity(bucket);
    out.push(ENVELOPE_VERSION);
    out.extend_from_slice(&eph_pub);
    out.extend_from_slice(&plain);
    out.extend_from_slice(&tag);
    Some(out)
}

/// The content an inner plaintext declares: the bytes its length field names,
/// if they are there.
pub fn declared_content(inner: &[u8]) -> Option<&[u8]> {
    let rest = inner.get(KEY_LEN + SIGNATURE_LEN..)?;
    let (len, rest) = rest.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
    rest.get(..len)
}

/// An inner plaintext from `sender` to `recipient`, validly signed, around
/// `content` (whatever bytes they are): what a hostile but honest-keyed sender
/// can put in an envelope.
pub fn signed_inner(sender: &AccountKey, recipient: &AccountId, content: &[u8]) -> Vec<u8> {
    let mut inner = Vec::with_capacity(KEY_LEN + SIGNATURE_LEN + 4 + content.len());
    inner.extend_from_slice(sender.account_id().as_bytes());
    inner.extend_from_slice(&[0; SIGNATURE_LEN]);
    inner.extend_from_slice(
        &u32::try_from(content.len())
            .unwrap_or(u32::MAX)
            .to_le_bytes(),
    );
    inner.extend_from_slice(content);
    sign_inner(sender, recipient, &mut inner);
    inner
}

/// Puts `sender`'s key and a valid signature over the declared content into
/// `inner` (if the length field names bytes that are there; otherwise only the
/// key).
pub fn sign_inner(sender: &AccountKey, recipient: &AccountId, inner: &mut [u8]) {
    let sender_id = sender.account_id();
    if let Some(field) = inner.get_mut(..KEY_LEN) {
        field.copy_from_slice(sender_id.as_bytes());
    }
    let Some(content) = declared_content(inner) else {
        return;
    };
    let mut message = Vec::with_capacity(ENVELOPE_SIGNATURE_CONTEXT.len() + 64 + content.len());
    message.extend_from_slice(ENVELOPE_SIGNATURE_CONTEXT.as_bytes());
    message.extend_from_slice(sender_id.as_bytes());
    message.extend_from_slice(recipient.as_bytes());
    message.extend_from_slice(content);
    let signature = sender.sign(&message);
    if let Some(field) = inner.get_mut(KEY_LEN..KEY_LEN + SIGNATURE_LEN) {
        field.copy_from_slice(&signature);
    }
}
