//! Signature checks shared by every node and client of one process: for the
//! simulator, which runs a thousand nodes and dozens of clients on one
//! machine.
//!
//! Each real node checks the signature of each node record it takes in once
//! (about 40 µs: 40 ms for a directory of 1,000), and so does each client. A
//! thousand simulated nodes in one process check each record a thousand
//! times, which was a quarter of the simulator's CPU at 998 nodes and the
//! part of its directory phase that says nothing about a real node; its 64
//! clients, refreshing their directories while the nodes' directories grow,
//! were another 4.5 % of that phase. With [`share_in_process`] called (the
//! simulator's binary does, before it starts any node or client), a signature
//! found good is remembered by the exact bytes it covers, and every other node
//! or client of the process that meets the same bytes skips the curve
//! arithmetic; every other check of the record (network, expiry, bounds,
//! admission proof) still runs in each of them. A signature found bad is not
//! remembered: a forgery costs every checker its check, as it would on the
//! internet. Nothing else calls [`share_in_process`]: a node or client
//! process checks every signature itself.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use super::SignedNodeRecord;
use crate::NodeId;

/// Shards, so that the simulator's threads rarely wait for each other.
const SHARDS: usize = 16;
/// Most signatures a shard remembers; a full shard starts again empty (a
/// directory's records are a few thousand, so this is never reached by an
/// honest run and bounds memory when records churn).
const SHARD_CAPACITY: usize = 1 << 16;

static SHARED: OnceLock<Shared> = OnceLock::new();

struct Shared {
    shards: Vec<Mutex<HashSet<[u8; 32]>>>,
}

/// Makes every node and client of this process share the good record
/// signatures they find (see the module documentation). For the simulator
/// only; calling it again does nothing.
pub fn share_in_process() {
    let _ = SHARED.set(Shared {
        shards: (0..SHARDS).map(|_| Mutex::new(HashSet::new())).collect(),
    });
}

/// Whether [`share_in_process`] was called.
pub fn is_shared() -> bool {
    SHARED.get().is_some()
}

/// Checks `signed`'s signature by `node`, or finds that a node or client of
/// this process already did for exactly these bytes.
pub fn check_signature(signed: &SignedNodeRecord, node: &NodeId) -> crate::Result<()> {
    let Some(shared) = SHARED.get() else {
        return signed.check_signature(node);
    };
    let mut hasher = blake3::Hasher::new();
    hasher.update(node.as_bytes());
    hasher.update(&signed.signature);
    hasher.update(&signed.record);
    let key = *hasher.finalize().as_bytes();
    let Some(shard) = shared.shards.get(usize::from(key[0]) % SHARDS) else {
        return signed.check_signature(node);
    };
    let known = match shard.lock() {
        Ok(s) => s.contains(&key),
        Err(p) => p.into_inner().contains(&key),
    };
    if known {
        return Ok(());
    }
    signed.check_signature(node)?;
    let mut s = match shard.lock() {
        Ok(s) => s,
        Err(p) => p.into_inner(),
    };
    if s.len() >= SHARD_CAPACITY {
        s.clear();
    }
    s.insert(key);
    Ok(())
}
