//! The decoded-block cache: blocks that cost a decode (inflated chunks), kept for the jobs
//! that follow, within a memory budget, the least recently used going first.
//!
//! An app computes many things over one data set: a time mean, then a pixel's time series,
//! then a day minus the mean, an export. Over deflated files each of these decodes every
//! chunk it touches again (a month of ERA5 records: seconds each time). Jobs given the same
//! cache find the blocks an earlier job decoded and read them from memory. Only decoded
//! blocks are kept: data read as it is stored (uncompressed files) is in the page cache
//! already. Blocks are keyed by their source (held weakly, so a dropped source's address is
//! never taken for another's) and region.

use crate::block::Block;
use crate::chunks::Region;
use crate::source::Source;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};

#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    source: usize,
    start: Vec<usize>,
    shape: Vec<usize>,
}

struct Entry {
    source: Weak<dyn Source>,
    block: Arc<Block>,
    bytes: usize,
    used: u64,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<Key, Entry>,
    /// Keys by when they were last used, oldest first.
    order: BTreeMap<u64, Key>,
    bytes: usize,
    clock: u64,
    hits: u64,
    misses: u64,
}

/// A memory-bounded cache of decoded blocks shared by jobs (see the module docs).
pub struct BlockCache {
    budget: std::sync::atomic::AtomicUsize,
    lru: Mutex<Lru>,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.stats();
        f.debug_struct("BlockCache").field("bytes", &s.bytes).field("budget", &s.budget).field("blocks", &s.blocks).finish()
    }
}

/// What the cache holds now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct CacheStats {
    pub bytes: usize,
    pub budget: usize,
    pub blocks: usize,
    pub hits: u64,
    pub misses: u64,
}

fn key(source: &Arc<dyn Source>, region: &Region) -> Key {
    Key { source: Arc::as_ptr(source) as *const () as usize, start: region.start.clone(), shape: region.shape.clone() }
}

impl BlockCache {
    /// An empty cache that holds at most `budget` bytes of blocks.
    pub fn new(budget: usize) -> BlockCache {
        BlockCache { budget: budget.into(), lru: Mutex::new(Lru::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        self.lru.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The block of `region` of `source`, when a job decoded it before.
    pub fn get(&self, source: &Arc<dyn Source>, region: &Region) -> Option<Arc<Block>> {
        let mut lru = self.lock();
        let k = key(source, region);
        lru.clock += 1;
        let now = lru.clock;
        let found = match lru.entries.get_mut(&k) {
            // the same allocation: a weak reference keeps a dropped source's address from reuse
            Some(e) if e.source.strong_count() > 0 => {
                let old = std::mem::replace(&mut e.used, now);
                Some((e.block.clone(), old))
            }
            _ => None,
        };
        match found {
            Some((block, old)) => {
                lru.order.remove(&old);
                lru.order.insert(now, k);
                lru.hits += 1;
                Some(block)
            }
            None => {
                lru.misses += 1;
                None
            }
        }
    }

    /// Whether the block of `region` of `source` is held (without counting it as a use).
    pub fn contains(&self, source: &Arc<dyn Source>, region: &Region) -> bool {
        self.lock().entries.get(&key(source, region)).is_some_and(|e| e.source.strong_count() > 0)
    }

    /// Keeps a decoded block, making room by dropping the least recently used; a block larger
    /// than the whole budget is not kept.
    pub fn insert(&self, source: &Arc<dyn Source>, region: &Region, block: Arc<Block>) {
        let bytes = block.size_bytes();
        let budget = self.budget();
        if bytes > budget {
            return;
        }
        let mut lru = self.lock();
        let k = key(source, region);
        if let Some(old) = lru.entries.remove(&k) {
            lru.order.remove(&old.used);
            lru.bytes -= old.bytes;
        }
        Self::shrink(&mut lru, budget - bytes);
        lru.clock += 1;
        let used = lru.clock;
        lru.order.insert(used, k.clone());
        lru.bytes += bytes;
        lru.entries.insert(k, Entry { source: Arc::downgrade(source), block, bytes, used });
    }

    /// Drops the least recently used blocks until at most `room` bytes are held.
    fn shrink(lru: &mut Lru, room: usize) {
        while lru.bytes > room {
            let Some((_, k)) = lru.order.pop_first() else { break };
            if let Some(e) = lru.entries.remove(&k) {
                lru.bytes -= e.bytes;
            }
        }
    }

    /// Drops every block.
    pub fn clear(&self) {
        let mut lru = self.lock();
        lru.entries.clear();
        lru.order.clear();
        lru.bytes = 0;
    }

    /// Drops the blocks of `source` (its files changed).
    pub fn forget(&self, source: &Arc<dyn Source>) {
        let id = Arc::as_ptr(source) as *const () as usize;
        let mut lru = self.lock();
        let gone: Vec<(Key, u64, usize)> =
            lru.entries.iter().filter(|(k, _)| k.source == id).map(|(k, e)| (k.clone(), e.used, e.bytes)).collect();
        for (k, used, bytes) in gone {
            lru.entries.remove(&k);
            lru.order.remove(&used);
            lru.bytes -= bytes;
        }
    }

    pub fn budget(&self) -> usize {
        self.budget.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Sets the budget, dropping blocks at once if they exceed it.
    pub fn set_budget(&self, budget: usize) {
        self.budget.store(budget, std::sync::atomic::Ordering::Relaxed);
        Self::shrink(&mut self.lock(), budget);
    }

    pub fn stats(&self) -> CacheStats {
        let lru = self.lock();
        CacheStats { bytes: lru.bytes, budget: self.budget(), blocks: lru.entries.len(), hits: lru.hits, misses: lru.misses }
    }
}

/// A cache handle for [`super::ExecOptions`]: jobs given the same cache share blocks. A job
/// always looks there first; with `keep` it also keeps what it decodes, else it leaves the
/// filling to [`super::fill::fill`] once it is done (see [`fresh_memory_is_slow`]).
#[derive(Clone, Debug)]
pub struct SharedCache {
    pub cache: Arc<BlockCache>,
    pub keep: bool,
}

impl SharedCache {
    /// Looks blocks up and keeps those the job decodes.
    pub fn keeping(cache: Arc<BlockCache>) -> SharedCache {
        SharedCache { cache, keep: true }
    }

    /// Looks blocks up only.
    pub fn looking(cache: Arc<BlockCache>) -> SharedCache {
        SharedCache { cache, keep: false }
    }
}

/// Whether memory the process has not used before costs much more than it should here:
/// measured once per process by touching a fresh 32 MiB mapping.
///
/// Keeping decoded blocks takes fresh memory, a page fault and a zeroed page per 4 KiB. On a
/// desktop that costs ~0.1–0.3 s per GB, little beside decoding the blocks (~1.2 s per GB of
/// output on one core). In a virtual machine whose balloon driver hands freed pages back to
/// the host (free page reporting, as on this project's build machine) every such page is
/// also faulted in by the host: 1.3–1.6 s per GB measured, as much as the decode itself.
/// There a job that keeps what it decodes takes ~1.5× as long; the app then lets the job
/// run alone and fills the cache after it, at the lowest priority.
pub fn fresh_memory_is_slow() -> bool {
    static SLOW: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *SLOW.get_or_init(|| fresh_memory_seconds_per_gb().is_some_and(|s| s > SLOW_SECONDS_PER_GB))
}

/// Above this, keeping a decoded block costs more than a third of decoding it.
const SLOW_SECONDS_PER_GB: f64 = 0.4;

/// Seconds per GB to fault in and zero memory the process never used (`None`: no measure).
pub fn fresh_memory_seconds_per_gb() -> Option<f64> {
    const BYTES: usize = 32 << 20;
    // An anonymous mapping of its own: memory from the allocator may have been used before.
    // SAFETY: a private anonymous mapping, written within its length and unmapped after.
    unsafe {
        let p = libc::mmap(std::ptr::null_mut(), BYTES, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
        if p == libc::MAP_FAILED {
            return None;
        }
        let bytes = p as *mut u8;
        let t = std::time::Instant::now();
        for i in (0..BYTES).step_by(4096) {
            std::ptr::write_volatile(bytes.add(i), 1);
        }
        let seconds = t.elapsed().as_secs_f64();
        libc::munmap(p, BYTES);
        Some(seconds * 1e9 / BYTES as f64)
    }
}

impl PartialEq for SharedCache {
    fn eq(&self, other: &SharedCache) -> bool {
        Arc::ptr_eq(&self.cache, &other.cache) && self.keep == other.keep
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::from_ndarray_f64;

    fn block(n: usize) -> Arc<Block> {
        Arc::new(Block::from_vec(&[n], vec![1.0f64; n]))
    }

    #[test]
    fn the_least_recently_used_go_first_and_the_budget_holds() {
        let src = from_ndarray_f64("a", ndarray::ArrayD::zeros(ndarray::IxDyn(&[100])), &[10]);
        let r = |i: usize| Region { start: vec![i * 10], shape: vec![10] };
        let cache = BlockCache::new(3 * 80);
        for i in 0..3 {
            cache.insert(&src, &r(i), block(10));
        }
        assert!(cache.get(&src, &r(0)).is_some(), "0 is used now");
        cache.insert(&src, &r(3), block(10));
        assert!(cache.get(&src, &r(1)).is_none(), "1 was the least recently used");
        assert!(cache.get(&src, &r(0)).is_some() && cache.get(&src, &r(3)).is_some());
        assert_eq!(cache.stats().bytes, 240);
        cache.insert(&src, &r(4), block(100));
        assert!(cache.get(&src, &r(4)).is_none(), "larger than the budget: not kept");
        cache.set_budget(80);
        assert_eq!(cache.stats().blocks, 1);
        cache.forget(&src);
        assert_eq!(cache.stats(), CacheStats { bytes: 0, budget: 80, blocks: 0, ..cache.stats() });
    }

    #[test]
    fn a_dropped_source_is_never_found_again() {
        let cache = BlockCache::new(1 << 20);
        let r = Region { start: vec![0], shape: vec![10] };
        let a = from_ndarray_f64("a", ndarray::ArrayD::zeros(ndarray::IxDyn(&[10])), &[10]);
        cache.insert(&a, &r, block(10));
        drop(a);
        let b = from_ndarray_f64("b", ndarray::ArrayD::zeros(ndarray::IxDyn(&[10])), &[10]);
        assert!(cache.get(&b, &r).is_none());
    }
}
