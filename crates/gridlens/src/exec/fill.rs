//! Filling the decoded-block cache after a job: the blocks a finished plan decoded, decoded
//! again and kept, at the lowest priority.
//!
//! Where fresh memory is slow ([`super::cache::fresh_memory_is_slow`]), a job that keeps every
//! block it decodes pays for gigabytes of new pages while the user waits for its result. The
//! app then runs the job looking up the cache only, and this fill afterwards, while the user
//! looks at the picture: the job is as fast as the command line's, and a second look (a
//! pixel's time series, another operation) still reads memory once the fill is through.

use super::cache::BlockCache;
use super::progress::JobState;
use super::{ExecError, JobControl};
use crate::chunks::Region;
use crate::plan::{Plan, Stage, Work};
use crate::source::{Payload, Source};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// What a fill did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Filled {
    /// Blocks decoded and kept.
    pub blocks: usize,
    /// Their bytes.
    pub bytes: usize,
}

/// The blocks `plan` reads that need a decode, each once, in the plan's task order.
pub fn decoded_blocks(plan: &Plan) -> Vec<(Arc<dyn Source>, Region)> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    let mut add = |source: &Arc<dyn Source>, region: &Region| {
        if source.needs_decode(region)
            && seen.insert((Arc::as_ptr(source) as *const () as usize, region.start.clone(), region.shape.clone()))
        {
            out.push((source.clone(), region.clone()));
        }
    };
    for task in &plan.tasks {
        match &task.work {
            Work::Read { source, region } => add(source, region),
            Work::ReduceRead { source, regions, .. } => regions.iter().for_each(|r| add(source, r)),
            _ => {}
        }
    }
    out
}

/// Decodes the blocks of `plan` that `cache` does not hold and keeps them, on `threads`
/// threads (0: one per core) at the lowest scheduling priority, until the cache's budget is
/// reached (a block more would push out one this fill kept). Progress counts as the decode
/// stage of `control`; a cancel stops it between blocks.
///
/// # Errors
/// A block that cannot be read or decoded, or [`ExecError::Cancelled`].
pub fn fill(plan: &Plan, cache: &Arc<BlockCache>, threads: usize, control: &JobControl) -> Result<Filled, ExecError> {
    let mut room = cache.budget().saturating_sub(cache.stats().bytes);
    let mut todo = Vec::new();
    for (source, region) in decoded_blocks(plan) {
        if cache.contains(&source, &region) {
            continue;
        }
        let bytes = region.len() * source.dtype().size_bytes();
        if bytes > room {
            break;
        }
        room -= bytes;
        todo.push((source, region));
    }
    let p = &control.progress;
    let stage = Stage::Decode as usize;
    p.total[stage].store(todo.len(), Ordering::Relaxed);
    let threads = if threads > 0 { threads } else { std::thread::available_parallelism().map_or(1, |n| n.get()) }.min(todo.len().max(1));
    p.threads.store(threads, Ordering::Relaxed);
    let next = AtomicUsize::new(0);
    let kept = AtomicUsize::new(0);
    let result = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|i| {
                let (todo, next, kept) = (&todo, &next, &kept);
                std::thread::Builder::new()
                    .name(format!("gridlens-fill-{i}"))
                    .spawn_scoped(s, move || -> Result<(), ExecError> {
                        // below the jobs' workers (nice 4): a job the user starts meanwhile goes first
                        super::set_niceness(19);
                        loop {
                            let k = next.fetch_add(1, Ordering::Relaxed);
                            let Some((source, region)) = todo.get(k) else { return Ok(()) };
                            if control.cancel.is_cancelled() {
                                return Err(ExecError::Cancelled);
                            }
                            // a job running meanwhile may have kept it
                            if !cache.contains(source, region) {
                                let f = source.fetch(region)?;
                                p.bytes_read.fetch_add(f.bytes_read, Ordering::Relaxed);
                                let block = match f.payload {
                                    Payload::Block(b) => b,
                                    Payload::Encoded(e) => source.decode(region, e)?,
                                };
                                kept.fetch_add(block.size_bytes(), Ordering::Relaxed);
                                cache.insert(source, region, Arc::new(block));
                            }
                            p.done[stage].fetch_add(1, Ordering::Relaxed);
                        }
                    })
                    .expect("spawn fill thread")
            })
            .collect();
        // every thread joined; the first error (a cancel is one) is the fill's
        let mut result = Ok(());
        for w in workers {
            let r = w.join().unwrap_or_else(|_| Err(ExecError::Panic { stage: "fill", message: "a fill thread panicked".into() }));
            if result.is_ok() {
                result = r;
            }
        }
        result
    });
    p.set_state(match &result {
        Ok(()) => JobState::Done,
        Err(ExecError::Cancelled) => JobState::Cancelled,
        Err(e) => JobState::Failed(e.to_string()),
    });
    result.map(|()| Filled { blocks: p.done[stage].load(Ordering::Relaxed), bytes: kept.load(Ordering::Relaxed) })
}
