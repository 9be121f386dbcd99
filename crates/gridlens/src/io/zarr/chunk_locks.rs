//! Concurrency of partial chunk writes: one lock per stripe of storage chunks.
//!
//! Writing part of a compressed chunk is a read-modify-write of the whole chunk
//! (`zarrs`' `store_chunk_subset` decodes the chunk, pastes the part, encodes it again).
//! Two threads doing that to the same chunk at once would each write back the chunk
//! with only their own part, losing the other's. Output blocks never overlap, so a chunk
//! that a block covers completely is written by that block alone and needs no lock; only
//! chunks shared by several blocks are locked, while their read-modify-write runs.
//!
//! A fixed number of locks is shared by all chunks (lock striping): memory stays constant
//! for millions of chunks, and neighbouring chunks, which are written at about the same
//! time, fall on different stripes.

use std::sync::{Mutex, MutexGuard};

/// Number of stripes: more than the worker threads of any machine we run on.
const STRIPES: usize = 256;

/// Locks for read-modify-write of storage chunks, striped by linear chunk index.
#[derive(Debug)]
pub struct ChunkLocks {
    stripes: Vec<Mutex<()>>,
}

impl Default for ChunkLocks {
    fn default() -> ChunkLocks {
        ChunkLocks { stripes: (0..STRIPES).map(|_| Mutex::new(())).collect() }
    }
}

impl ChunkLocks {
    /// Holds the lock of the stripe of chunk number `linear` (C order over the chunk grid)
    /// until the guard is dropped. A thread must hold at most one stripe at a time.
    pub fn lock(&self, linear: u64) -> MutexGuard<'_, ()> {
        let stripe = &self.stripes[(linear % STRIPES as u64) as usize];
        // The guarded value is (), so a panic elsewhere cannot leave it inconsistent.
        stripe.lock().unwrap_or_else(|p| p.into_inner())
    }
}
