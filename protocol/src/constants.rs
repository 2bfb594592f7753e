//! Wire constants and limits, derived from a few base values, each with the reason
//! it has its value. Everything that both sides of a connection must agree on lives
//! here; tunable network-wide numbers live in [`crate::params`].

use crate::time::{DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS};

/// Version of the wire formats defined by this crate (envelopes, onion packets,
/// node records, RPC). Bumped on any incompatible change.
pub const PROTOCOL_VERSION: u16 = 1;

// ---- keys and hashes -------------------------------------------------------------

/// Length of every public key on the wire (Ed25519 and X25519 alike).
pub const KEY_LEN: usize = 32;
/// Length of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;
/// Length of a blake3 hash as used for message hashes and positions.
pub const HASH_LEN: usize = 32;
/// Entropy behind an account: 128 bits, which is exactly 12 BIP-39 words
/// (the length Session and most wallets use for a phrase people can copy by hand).
pub const ACCOUNT_ENTROPY_LEN: usize = 16;
/// Length of a random content id inside an envelope (DESIGN §8).
pub const CONTENT_ID_LEN: usize = 16;
/// Poly1305 tag length.
pub const TAG_LEN: usize = 16;

// ---- stored messages -------------------------------------------------------------

/// Largest `data` a node stores for one message. 64 KiB: Session allows 76,800 B;
/// a power of two that still holds a long text or a small image thumbnail.
pub const MAX_MESSAGE_DATA: usize = 64 * 1024;
/// Default time a message lives in its swarm: 14 days (Session storage server).
pub const DEFAULT_TTL_MS: u64 = 14 * DAY_MS;
/// Longest TTL a node accepts: 30 days (Session storage server).
pub const MAX_TTL_MS: u64 = 30 * DAY_MS;
/// Shortest TTL a node accepts: 10 s (Session storage server); anything shorter
/// would expire before it replicated.
pub const MIN_TTL_MS: u64 = 10 * SECOND_MS;
/// Owner signatures are accepted within this much of the node's clock. Session's
/// ±60 s makes phones with a drifting clock fail to send (session-desktop#1524);
/// every error reply also carries the node's time so clients correct themselves.
pub const AUTH_CLOCK_WINDOW_MS: u64 = 5 * MINUTE_MS;
/// How far a node's clock may be off the network's time while the protocol
/// still works for it (wave 2): the clock model every time check below is
/// derived from. Servers keep NTP time to well under a second; this allows a
/// node whose time service broke to go on for hours before it matters.
/// Clients are not bound by it: they learn the network's time from the nodes.
pub const MAX_NODE_CLOCK_ERROR_MS: u64 = 5 * MINUTE_MS;
/// How far ahead of a node's clock a time that *another node's* clock made may
/// be (a message's timestamp, a record's `issued_at`): two nodes each up to
/// [`MAX_NODE_CLOCK_ERROR_MS`] off, in opposite directions. A client corrected
/// to the network's time uses it too, for times a node's clock made.
pub const PEER_CLOCK_TOLERANCE_MS: u64 = 2 * MAX_NODE_CLOCK_ERROR_MS;
/// How far ahead of a node's clock the timestamp of an owner's signed request
/// that arrives by replication may be: the signing client was within
/// [`AUTH_CLOCK_WINDOW_MS`] of the member that took it, which was up to
/// [`PEER_CLOCK_TOLERANCE_MS`] ahead of this one.
pub const REPLICATED_AUTH_TOLERANCE_MS: u64 = AUTH_CLOCK_WINDOW_MS + PEER_CLOCK_TOLERANCE_MS;
/// Longest a `Retrieve` may wait at a node for new messages (long poll). Under
/// the 30 s idle timeouts common in NATs and proxies.
pub const MAX_LONG_POLL_MS: u64 = 25 * SECOND_MS;
/// How far before the newest message a reader has seen its first retrieve from
/// a swarm member starts (that member has no sequence number of the reader's to
/// go on: [`crate::rpc::ReadCursor`]). It must cover the clock difference of two
/// members ([`PEER_CLOCK_TOLERANCE_MS`]) plus the
/// time a message takes to reach every member by push or anti-entropy (seconds
/// normally; this leaves most of an hour). A larger window only re-reads
/// messages the reader drops by hash, once per member.
pub const FIRST_READ_WINDOW_MS: u64 = HOUR_MS;
/// Most hashes one `Delete` or `Expire` may name.
pub const MAX_HASHES_PER_REQUEST: usize = 256;

// ---- node records ----------------------------------------------------------------

/// Longest validity of a node record: 2 h, so a dead node leaves every directory
/// within two hours even if nobody notices it is gone.
pub const MAX_RECORD_LIFETIME_MS: u64 = 2 * HOUR_MS;
/// How far in the future a record's `issued_at` may be: the clock difference
/// two nodes may have ([`PEER_CLOCK_TOLERANCE_MS`]).
pub const RECORD_CLOCK_SKEW_MS: u64 = PEER_CLOCK_TOLERANCE_MS;
/// Most listen addresses in one record.
pub const MAX_RECORD_ADDRS: usize = 8;
/// Longest listen address (a multiaddr in its text form).
pub const MAX_ADDR_LEN: usize = 256;
/// Most onion keys in one record: the current one, the next one and the previous
/// one during its grace period.
pub const MAX_ONION_KEYS: usize = 3;
/// Longest network name.
pub const MAX_NETWORK_NAME_LEN: usize = 32;
/// Largest encoded signed record. Derived from the fields above with room to spare.
pub const MAX_RECORD_LEN: usize = 64
    + MAX_NETWORK_NAME_LEN
    + KEY_LEN
    + MAX_RECORD_ADDRS * (MAX_ADDR_LEN + 2)
    + MAX_ONION_KEYS * (KEY_LEN + 20)
    + SIGNATURE_LEN
    + 64;

// ---- envelopes ---------------------------------------------------------------------

/// Size buckets of a sealed envelope on the wire: a storage node learns only which
/// bucket a message falls in. The largest equals [`MAX_MESSAGE_DATA`].
pub const ENVELOPE_BUCKETS: [usize; 5] = [512, 2 * 1024, 8 * 1024, 32 * 1024, MAX_MESSAGE_DATA];
/// Envelope header: version (1) and the ephemeral X25519 key (32).
pub const ENVELOPE_HEADER_LEN: usize = 1 + KEY_LEN;
/// Fixed part of the sealed plaintext: sender key, signature, content length (u32).
pub const ENVELOPE_INNER_FIXED_LEN: usize = KEY_LEN + SIGNATURE_LEN + 4;
/// Largest encoded content that fits in the largest bucket.
pub const MAX_CONTENT_LEN: usize =
    MAX_MESSAGE_DATA - ENVELOPE_HEADER_LEN - TAG_LEN - ENVELOPE_INNER_FIXED_LEN;
/// Every byte of a sealed envelope that is not content or padding: header, fixed
/// inner fields and tag.
pub const ENVELOPE_OVERHEAD_LEN: usize = ENVELOPE_HEADER_LEN + ENVELOPE_INNER_FIXED_LEN + TAG_LEN;
/// Version byte that opens every envelope. It is also the AEAD's associated data,
/// so a changed version can never decrypt under another version's rules.
pub const ENVELOPE_VERSION: u8 = 1;
/// Most content ids one receipt or delete-for-everyone may name: a screenful of
/// messages read at once. 64 ids of 16 bytes keep such an envelope in the 2 KiB
/// bucket; a longer batch is split over several envelopes.
pub const MAX_CONTENT_IDS: usize = 64;
/// Longest display name, in characters (Unicode scalar values): fits one line of a
/// terminal UI next to a timestamp, and at most 256 bytes of UTF-8.
pub const MAX_DISPLAY_NAME_CHARS: usize = 64;
/// Shortest disappearing-message timer. After-send uses the timer as the swarm TTL
/// (DESIGN §8), and nodes refuse TTLs under [`MIN_TTL_MS`].
pub const MIN_DISAPPEAR_TIMER_MS: u64 = MIN_TTL_MS;
/// Longest disappearing-message timer: the longest TTL a node accepts
/// ([`MAX_TTL_MS`]), for the same reason as [`MIN_DISAPPEAR_TIMER_MS`].
pub const MAX_DISAPPEAR_TIMER_MS: u64 = MAX_TTL_MS;

// ---- onion packets -----------------------------------------------------------------

/// Most layers a packet header has room for: 3 relays + destination (DESIGN §7)
/// and one spare, so a longer path is possible without a format change. Every packet
/// carries all slots, so a hop cannot tell from the header how many hops follow.
pub const ONION_MAX_LAYERS: usize = 5;
/// Length of the integrity digest in each hop's routing info: a keyed blake3 of
/// everything after the hop's slot, truncated to 128 bits. That is the strength of
/// the Poly1305 tags around it; the digest is secret (it is sealed in the slot) and
/// a wrong guess costs a packet the hop drops, so 32 bytes would only add size.
pub const ONION_DIGEST_LEN: usize = 16;
/// Plaintext routing information for one hop: command (1), next hop (32), integrity
/// digest ([`ONION_DIGEST_LEN`]), the packet's validity (4: the Unix minute after
/// which it is refused), reserved zeros (11) for a later command's arguments. 64
/// bytes in all.
pub const ONION_ROUTING_LEN: usize = 1 + KEY_LEN + ONION_DIGEST_LEN + 4 + 11;
/// How long a request packet is valid after the client builds it, before rounding
/// up to the next whole minute (so a packet is valid for 1 to 2 minutes of the
/// client's clock). A hop peels it within seconds; the validity exists so that a
/// relay keeps each replay tag only minutes (`not_after` plus
/// [`PEER_CLOCK_TOLERANCE_MS`]) instead of for its onion key's whole life.
pub const ONION_VALIDITY_MS: u64 = MINUTE_MS;
/// One header slot: the hop's ephemeral X25519 key, its sealed routing info and tag.
pub const ONION_SLOT_LEN: usize = KEY_LEN + ONION_ROUTING_LEN + TAG_LEN;
/// The fixed header of every onion packet.
pub const ONION_HEADER_LEN: usize = ONION_MAX_LAYERS * ONION_SLOT_LEN;
/// Request size classes. Every request packet on the wire is exactly one of these
/// sizes: 4 KiB for all small RPCs, 96 KiB for stores of up to [`MAX_MESSAGE_DATA`].
/// (Session's onion requests vary in size up to 10 MiB, which tells each hop more.)
pub const ONION_REQUEST_CLASSES: [usize; 2] = [4 * 1024, 96 * 1024];
/// Response size classes: small answers, a retrieve page, a directory page.
pub const ONION_RESPONSE_CLASSES: [usize; 3] = [4 * 1024, 96 * 1024, 1024 * 1024];
/// Framing inside an onion payload: a u32 length before the request or response.
pub const ONION_LEN_PREFIX: usize = 4;
/// Largest request an onion packet can carry.
pub const MAX_ONION_REQUEST: usize =
    ONION_REQUEST_CLASSES[1] - ONION_HEADER_LEN - TAG_LEN - ONION_LEN_PREFIX;
/// Largest response an onion packet can carry.
pub const MAX_ONION_RESPONSE: usize = ONION_RESPONSE_CLASSES[2] - TAG_LEN - ONION_LEN_PREFIX;

// ---- RPC -----------------------------------------------------------------------------

/// Largest encoded RPC request any node reads (direct or through an onion).
pub const MAX_RPC_REQUEST_LEN: usize = MAX_ONION_REQUEST;
/// Largest encoded RPC response any client or node reads.
pub const MAX_RPC_RESPONSE_LEN: usize = MAX_ONION_RESPONSE;
/// Most bytes of message data a single retrieve returns, so that a page fits in
/// the middle response class with room for the framing.
pub const MAX_RETRIEVE_BYTES: usize = 80 * 1024;
/// Most node records in one directory page (each at most [`MAX_RECORD_LEN`]).
pub const MAX_DIRECTORY_PAGE: usize = 256;
/// Largest held-records filter a directory pull carries
/// ([`crate::rpc::held::HeldFilter`]): 10 bits per record up to about 26,000
/// records.
pub const MAX_HELD_FILTER_BYTES: usize = 32 * 1024;
/// Most hash positions per record in a held-records filter.
pub const MAX_HELD_FILTER_HASHES: u8 = 16;
/// Most directory entries a node looks at for one delta page before it
/// answers with what it found, so that a filter holding everything costs the
/// answering node a bounded scan.
pub const MAX_DIRECTORY_SCAN: usize = 4096;
/// Most messages in one node-to-node replication batch.
pub const MAX_REPLICATION_BATCH: usize = 64;
/// Most digest buckets exchanged in one anti-entropy round.
pub const MAX_DIGEST_ENTRIES: usize = 1024;

// ---- RPC bounds added with `rpc` (requests, responses, replication) ---------------

/// Most node records in a `WrongSwarm` error or a `Swarm` answer: the largest
/// swarm [`crate::params::NetworkParams`] allows.
pub const MAX_SWARM_SIZE: usize = 20;
/// Longest human-readable message in an RPC error, in bytes. Enough for a
/// sentence; longer ones are cut on construction (at a character boundary).
pub const MAX_ERROR_MESSAGE_LEN: usize = 256;
/// Most messages in one retrieve page. Bounds the per-message overhead (hash,
/// timestamps, length: at most [`RETRIEVED_MESSAGE_OVERHEAD`] bytes each) so that a
/// full page of [`MAX_RETRIEVE_BYTES`] still fits the middle response class.
pub const MAX_RETRIEVE_MESSAGES: usize = 256;
/// Most bytes one retrieved message adds on the wire besides its data: hash (32),
/// data length (3), timestamp and expiry (10 each as varints).
pub const RETRIEVED_MESSAGE_OVERHEAD: usize = HASH_LEN + 3 + 10 + 10;
/// Most bytes one stored message adds on the wire besides its data: account (32),
/// namespace (3), data length (3), hash (32), timestamp and expiry (10 each), and
/// the owner's store proof (1 + TTL 10 + auth timestamp 10 + signature 65): 176,
/// with room to spare.
pub const STORED_MESSAGE_OVERHEAD: usize = 256;
/// Most items (hash, namespace, expiry, deleted flag) in one anti-entropy listing
/// page; each is under 50 bytes, so a page is about 50 KiB. Larger accounts take
/// several pages.
pub const MAX_LISTING_PAGE: usize = 1024;
/// Largest encoded node-to-node request: a full replication batch of the largest
/// messages, plus full lists of the owners' signed deletes and expiry changes
/// (each at most [`MAX_OWNER_OP_LEN`]), plus framing. About 5.3 MiB: replication
/// runs between nodes over libp2p, never through onions.
pub const MAX_NODE_REQUEST_LEN: usize = MAX_REPLICATION_BATCH
    * (MAX_MESSAGE_DATA + STORED_MESSAGE_OVERHEAD)
    + 2 * MAX_REPLICATION_BATCH * MAX_OWNER_OP_LEN
    + 1024;
/// Largest encoded node-to-node response: a fetched batch (same shape as a
/// replication push), or a listing page, whichever is larger.
pub const MAX_NODE_RESPONSE_LEN: usize = MAX_NODE_REQUEST_LEN;

// ---- RPC bounds added with signed replication --------------------------------------

/// Largest encoded owner-signed `Delete` or `Expire` as replication carries it:
/// account (32), namespace (3), hash count (2), [`MAX_HASHES_PER_REQUEST`] hashes,
/// expiry (10), auth timestamp (10) and signature (65), with 64 bytes to spare.
pub const MAX_OWNER_OP_LEN: usize =
    KEY_LEN + 3 + 2 + MAX_HASHES_PER_REQUEST * HASH_LEN + 10 + 10 + 1 + SIGNATURE_LEN + 64;
/// Longest `retry_after_ms` a `RateLimited` error may ask for: an hour. A peer
/// asking for longer is broken or hostile; a client would stall on it.
pub const MAX_RETRY_AFTER_MS: u64 = HOUR_MS;

// ---- messages v2 (PQXDH + Double Ratchet) ---------------------------------------

/// Version byte of an envelope v2 (sealed sender around a ratchet message, no
/// signature). [`ENVELOPE_VERSION`] stays 1, so old envelopes are still recognised.
pub const ENVELOPE_VERSION_V2: u8 = 2;
/// ML-KEM-768 encapsulation (public) key length (FIPS 203, table 3).
pub const MLKEM768_PUBLIC_KEY_LEN: usize = 1184;
/// ML-KEM-768 ciphertext length (FIPS 203, table 3).
pub const MLKEM768_CIPHERTEXT_LEN: usize = 1088;
/// ML-KEM key-generation seed (d ‖ z, FIPS 203 §7.1): what the secret store keeps
/// per KEM key instead of the 2,400-byte expanded decapsulation key.
pub const MLKEM_SEED_LEN: usize = 64;
/// A signed prekey (X25519 and ML-KEM alike) is replaced after 7 days (Signal's
/// clients rotate signed prekeys on the order of a week to a month).
pub const SIGNED_PREKEY_ROTATE_MS: u64 = 7 * DAY_MS;
/// How long an initiator may keep a fetched bundle before fetching it again
/// (a client rule that the retention periods below rely on).
pub const BUNDLE_CACHE_MS: u64 = DAY_MS;
/// How long a replaced signed prekey's secret is kept, to open initiations made
/// with the bundle just before it was replaced: a bundle is used at most
/// [`BUNDLE_CACHE_MS`] after it was fetched, and its initiation then waits in
/// the swarm at most [`MAX_TTL_MS`].
pub const OLD_SIGNED_PREKEY_KEEP_MS: u64 = MAX_TTL_MS + BUNDLE_CACHE_MS;
/// Oldest bundle an initiator accepts: a bundle message lives at most
/// [`MAX_TTL_MS`] in its swarm and an online owner republishes it every
/// [`SIGNED_PREKEY_ROTATE_MS`]; an older one can only come from a node that kept
/// it past its TTL.
pub const MAX_BUNDLE_AGE_MS: u64 = MAX_TTL_MS;
/// One-time prekeys of each kind (X25519, ML-KEM-768) a bundle offers when full.
/// 50 ML-KEM keys are 59 KB: with the rest the bundle fits one stored message.
pub const ONE_TIME_PREKEY_BATCH: usize = 50;
/// When fewer unused one-time prekeys of a kind than this remain, the owner makes
/// a new batch and republishes.
pub const ONE_TIME_PREKEY_LOW_WATER: usize = 20;
/// A one-time prekey used by a first initiation is kept this long after that use,
/// then deleted. There is no server to hand each one out once, so a second
/// initiator may have picked the same key from the same bundle before the owner
/// republished: the owner can still open its initiation for three days (a bundle
/// is cached at most [`BUNDLE_CACHE_MS`]; two days more cover an owner who went
/// offline in between). Reuse is safe: each initiation has its own ephemeral key,
/// so its secret differs; it only delays that key's extra forward secrecy.
pub const ONE_TIME_PREKEY_GRACE_MS: u64 = 3 * DAY_MS;
/// Largest encoded signed prekey bundle: account (32), time (10), signed X25519
/// and ML-KEM prekeys, full batches of one-time keys (each with a 5-byte id
/// and a length prefix), signature (64), with 256 bytes of framing to spare.
pub const MAX_BUNDLE_LEN: usize = KEY_LEN
    + 10
    + (KEY_LEN + 5)
    + (MLKEM768_PUBLIC_KEY_LEN + 8)
    + 2
    + ONE_TIME_PREKEY_BATCH * (KEY_LEN + 5)
    + ONE_TIME_PREKEY_BATCH * (MLKEM768_PUBLIC_KEY_LEN + 8)
    + 1
    + SIGNATURE_LEN
    + 256;
/// Most message keys a single received message may make the receiver skip
/// (Double Ratchet spec §3.2 `MAX_SKIP`, rev. 4): a message further ahead is
/// refused, the session unchanged. 1,000 lost messages in a row is far past what
/// a swarm loses; a forged jump of 2^32 never costs work or memory.
pub const MAX_SKIP: u32 = 1000;
/// Most skipped message keys a session keeps in all; the oldest go first.
pub const MAX_SKIPPED_KEYS: usize = 2000;
/// A skipped message key older than this is dropped: no message waits longer in
/// a swarm ([`MAX_TTL_MS`]) plus the clock difference of two peers.
pub const SKIPPED_KEY_MAX_AGE_MS: u64 = MAX_TTL_MS + PEER_CLOCK_TOLERANCE_MS;
/// Most archived sessions a client keeps per contact (read-only, after a
/// simultaneous initiation or a contact's restart): each holds at most
/// [`MAX_SKIPPED_KEYS`] keys, and two crossed initiations need only one.
pub const MAX_ARCHIVED_SESSIONS: usize = 4;
/// Largest encoded ratchet header: DH key (32), `pn` and `n` (5 each as varints).
pub const MAX_RATCHET_HEADER_LEN: usize = KEY_LEN + 5 + 5;
/// Largest encoded PQXDH initiation header: time (10), ephemeral key (32),
/// prekey ids (5 each, one optional), ML-KEM ciphertext (1,088 and its length).
pub const MAX_INIT_HEADER_LEN: usize = 10 + KEY_LEN + 5 + 5 + 6 + MLKEM768_CIPHERTEXT_LEN + 3;
/// Fixed part of an envelope v2's plaintext: sender account (32), kind (1), body
/// length (u32).
pub const ENVELOPE_V2_INNER_FIXED_LEN: usize = KEY_LEN + 1 + 4;
/// Everything of a v2 envelope carrying an initiation that is not content or
/// padding: outer header and tag, fixed inner fields, initiation header, ratchet
/// header, the ciphertext's length prefix and its tag.
pub const ENVELOPE_V2_INIT_OVERHEAD_LEN: usize = ENVELOPE_HEADER_LEN
    + TAG_LEN
    + ENVELOPE_V2_INNER_FIXED_LEN
    + MAX_INIT_HEADER_LEN
    + MAX_RATCHET_HEADER_LEN
    + 3
    + TAG_LEN;
/// Largest encoded content a v2 envelope carries (even one with an initiation).
pub const MAX_CONTENT_LEN_V2: usize = MAX_MESSAGE_DATA - ENVELOPE_V2_INIT_OVERHEAD_LEN;

// Derived values, checked at compile time: a change that breaks one does not build.
const _: () = {
    assert!(ONION_ROUTING_LEN == 64);
    assert!(ONION_SLOT_LEN == 112);
    assert!(ONION_HEADER_LEN == 560);
    // A store of the largest message, with its RPC framing, fits one request.
    assert!(MAX_ONION_REQUEST > MAX_MESSAGE_DATA + 1024);
    // A retrieve page fits the middle response class.
    assert!(MAX_RETRIEVE_BYTES + 4 * 1024 < ONION_RESPONSE_CLASSES[1]);
    // A directory page fits the largest response class.
    assert!(MAX_DIRECTORY_PAGE * MAX_RECORD_LEN < MAX_ONION_RESPONSE);
    // A delta pull with the largest filter fits one request.
    assert!(MAX_HELD_FILTER_BYTES + 1024 < MAX_RPC_REQUEST_LEN);
    assert!(MIN_TTL_MS < DEFAULT_TTL_MS && DEFAULT_TTL_MS < MAX_TTL_MS);
    // Long polls end before common 30 s idle timeouts.
    assert!(MAX_LONG_POLL_MS < 30 * SECOND_MS);
    // A full receipt (64 ids, plus 64 bytes for the content's id, time and
    // framing) fits the 2 KiB envelope bucket.
    assert!(MAX_CONTENT_IDS * CONTENT_ID_LEN + 64 + ENVELOPE_OVERHEAD_LEN <= ENVELOPE_BUCKETS[1]);
    assert!(MAX_CONTENT_LEN + ENVELOPE_OVERHEAD_LEN == MAX_MESSAGE_DATA);
    assert!(MIN_DISAPPEAR_TIMER_MS < MAX_DISAPPEAR_TIMER_MS);
    // A full retrieve page with the overhead of every message, and 1 KiB for the
    // rest of the response, fits the middle response class.
    assert!(
        MAX_RETRIEVE_BYTES + MAX_RETRIEVE_MESSAGES * RETRIEVED_MESSAGE_OVERHEAD + 1024
            <= ONION_RESPONSE_CLASSES[1] - TAG_LEN - ONION_LEN_PREFIX
    );
    // One message always fits a page, so a page can always make progress.
    assert!(MAX_MESSAGE_DATA <= MAX_RETRIEVE_BYTES);
    // A swarm answer fits the middle response class; a listing page and a digest
    // round fit node-to-node messages.
    assert!(MAX_SWARM_SIZE * MAX_RECORD_LEN < ONION_RESPONSE_CLASSES[1]);
    assert!(MAX_LISTING_PAGE * STORED_MESSAGE_OVERHEAD < MAX_NODE_RESPONSE_LEN);
    assert!(MAX_DIGEST_ENTRIES * (2 * HASH_LEN + 8) < MAX_NODE_REQUEST_LEN);
    // A full page of signed deletes fits a node-to-node message with the batch.
    assert!(MAX_OWNER_OP_LEN > MAX_HASHES_PER_REQUEST * HASH_LEN + KEY_LEN + SIGNATURE_LEN);
    // A full prekey bundle fits one stored message.
    assert!(MAX_BUNDLE_LEN <= MAX_MESSAGE_DATA);
    assert!(ONE_TIME_PREKEY_LOW_WATER < ONE_TIME_PREKEY_BATCH);
    assert!(ENVELOPE_VERSION_V2 != ENVELOPE_VERSION);
    // A first message with a receipt's worth of content fits the 2 KiB bucket.
    assert!(ENVELOPE_V2_INIT_OVERHEAD_LEN + 64 <= ENVELOPE_BUCKETS[1]);
    assert!(OLD_SIGNED_PREKEY_KEEP_MS > SIGNED_PREKEY_ROTATE_MS);
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_tables_are_increasing() {
        assert_eq!(ENVELOPE_BUCKETS.last().copied(), Some(MAX_MESSAGE_DATA));
        assert!(ENVELOPE_BUCKETS.windows(2).all(|w| w[0] < w[1]));
        assert!(ONION_REQUEST_CLASSES.windows(2).all(|w| w[0] < w[1]));
        assert!(ONION_RESPONSE_CLASSES.windows(2).all(|w| w[0] < w[1]));
    }
}
