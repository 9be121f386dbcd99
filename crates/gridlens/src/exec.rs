//! Running a plan: worker threads, priorities, a memory budget, cancellation,
//! progress, and output blocks streamed to the caller as they finish (dask's
//! threaded scheduler and its dashboard's event stream).
//!
//! Workers on a rayon pool pull the most urgent ready task: lowest caller
//! priority of the output blocks it feeds, then the plan's depth-first order.
//! A task's result is freed as soon as its last consumer has run. Tasks that
//! bring new data in (reads, generators) wait while the bytes held exceed the
//! memory limit, so memory is bounded by blocks in flight, not by data size.

pub mod cache;
pub mod kernel;
pub mod progress;
pub mod reduce;
pub mod snapshot;
pub mod store;

use crate::block::{Block, Buffer, c_strides};
use crate::chunks::Region;
use crate::plan::{Plan, Task, TaskId, Work};
use crate::sink::{Sink, SinkError};
use crate::source::{Payload, SourceError};
pub use progress::{CancelToken, JobControl, JobState, Progress, ProgressSnapshot, TaskSpan};
use reduce::Partial;
pub use snapshot::PartialBlock;
use std::any::Any;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
pub use store::{Whole, compute_into, store};

/// Why a job stopped without finishing.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExecError {
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Sink(#[from] SinkError),
    /// A computation failed on the values of one block.
    #[error("block {region} of the result: {message}")]
    Compute { region: String, message: String },
    /// The plan could not be built (an array too large to index, say).
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    /// A task panicked: a bug, reported instead of crashing.
    #[error("internal error in a {stage} task: {message}")]
    Panic { stage: &'static str, message: String },
}

/// How to run a job.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct ExecOptions {
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Bytes of intermediate results a job may hold before it stops starting reads;
    /// 0 means a quarter of the machine's memory.
    pub memory_limit: usize,
    /// Run the workers at a lower scheduling priority, so that an interactive program
    /// (the app's UI thread) stays responsive while a job uses every core.
    pub background: bool,
    /// Decoded blocks shared with other jobs ([`cache::BlockCache`]): found there instead of
    /// decoded again, and kept there once decoded.
    pub cache: Option<cache::SharedCache>,
}

impl ExecOptions {
    pub fn thread_count(&self) -> usize {
        if self.threads > 0 { self.threads } else { std::thread::available_parallelism().map_or(1, |n| n.get()) }
    }

    pub fn memory_limit_bytes(&self) -> usize {
        if self.memory_limit > 0 { self.memory_limit } else { total_memory_bytes() / 4 }
    }
}

/// Total RAM from `/proc/meminfo` (8 GiB when it cannot be read).
pub fn total_memory_bytes() -> usize {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<usize>().ok()).map(|kb| kb * 1024))
        })
        .unwrap_or(8 << 30)
}

/// A task's result while it waits for its consumers.
enum Value {
    Block(Arc<Block>),
    Encoded(Mutex<Option<Box<dyn Any + Send + Sync>>>),
    Partial(Partial),
}

struct State {
    /// Ready tasks without dependencies (they bring new data in) and with dependencies.
    ready_new: BinaryHeap<Reverse<(u64, u32)>>,
    ready_deps: BinaryHeap<Reverse<(u64, u32)>>,
    waiting: Vec<u32>,
    consumers_left: Vec<u32>,
    values: Vec<Option<Arc<Value>>>,
    held: Vec<usize>,
    held_bytes: usize,
    running: usize,
    done: usize,
    priority: Vec<u32>,
    error: Option<ExecError>,
}

struct Scheduler<'a> {
    plan: &'a Plan,
    consumers: Vec<Vec<TaskId>>,
    state: Mutex<State>,
    wake: Condvar,
    control: &'a JobControl,
    sink: Option<&'a dyn Sink>,
    on_block: &'a (dyn Fn(usize, &Arc<Block>) + Sync),
    memory_limit: usize,
    cache: Option<Arc<cache::BlockCache>>,
    partials: Option<Partials<'a>>,
    /// Output blocks already streamed (their snapshots stop).
    output_done: Vec<AtomicBool>,
}

/// Progressive results of a job (see [`snapshot`]): every `every`, `on_partial` receives a
/// snapshot of each reduction output block of at least `min_groups` groups that has not
/// finished, when it covers more records than the last one; snapshots are spaced further
/// apart when taking them would cost more than `max_share` of the job's time.
pub struct PartialsRequest<'a> {
    pub every: Duration,
    pub min_groups: usize,
    /// The largest fraction of the workers' time snapshots may take (0.05: a twentieth).
    pub max_share: f64,
    pub on_partial: &'a (dyn Fn(PartialBlock) + Sync),
}

struct Partials<'a> {
    request: PartialsRequest<'a>,
    state: Mutex<(Vec<snapshot::Tree>, Instant)>,
}

fn key(priority: u32, order: u32) -> u64 {
    ((priority as u64) << 32) | order as u64
}

/// Runs `plan` to the end on `opts.threads` workers. `on_block(k, block)` is called from a
/// worker the moment output block `k` is finished (it may block to apply backpressure);
/// with a `sink`, write tasks store every output block in it. The sink is neither committed
/// nor aborted here; that is the caller's decision.
///
/// # Errors
/// The first failure of any task (naming file, dataset and block), or
/// [`ExecError::Cancelled`]. Either way every worker has stopped and all memory is released
/// when this returns.
pub fn execute(
    plan: &Plan,
    sink: Option<&dyn Sink>,
    opts: &ExecOptions,
    control: &JobControl,
    on_block: &(dyn Fn(usize, &Arc<Block>) + Sync),
) -> Result<(), ExecError> {
    execute_progressively(plan, sink, opts, control, on_block, None)
}

/// [`execute`], with snapshots of reductions part-way streamed as `partials` asks. The
/// result is the same as without them, bit for bit: snapshots read copies.
///
/// # Errors
/// As [`execute`].
pub fn execute_progressively(
    plan: &Plan,
    sink: Option<&dyn Sink>,
    opts: &ExecOptions,
    control: &JobControl,
    on_block: &(dyn Fn(usize, &Arc<Block>) + Sync),
    partials: Option<PartialsRequest<'_>>,
) -> Result<(), ExecError> {
    let n = plan.tasks.len();
    let mut consumers = vec![Vec::new(); n];
    let mut waiting = vec![0u32; n];
    for (i, t) in plan.tasks.iter().enumerate() {
        waiting[i] = t.deps.len() as u32;
        for d in &t.deps {
            consumers[d.index()].push(TaskId(i as u32));
        }
    }
    let threads = opts.thread_count();
    let p = &control.progress;
    for t in &plan.tasks {
        p.total[t.stage.index()].fetch_add(1, Ordering::Relaxed);
    }
    p.memory_limit.store(opts.memory_limit_bytes(), Ordering::Relaxed);
    p.threads.store(threads, Ordering::Relaxed);
    let consumers_left = consumers.iter().map(|c| c.len() as u32).collect();
    let state = State {
        ready_new: BinaryHeap::new(),
        ready_deps: BinaryHeap::new(),
        waiting,
        consumers_left,
        values: (0..n).map(|_| None).collect(),
        held: vec![0; n],
        held_bytes: 0,
        running: 0,
        done: 0,
        priority: vec![0; n],
        error: None,
    };
    let sched = Scheduler {
        plan,
        consumers,
        state: Mutex::new(state),
        wake: Condvar::new(),
        control,
        sink,
        on_block,
        memory_limit: opts.memory_limit_bytes(),
        cache: opts.cache.as_ref().map(|c| c.0.clone()),
        partials: partials.map(|request| {
            let trees = snapshot::trees(plan, request.min_groups);
            let first = Instant::now() + request.every;
            Partials { request, state: Mutex::new((trees, first)) }
        }),
        output_done: (0..plan.outputs.len()).map(|_| AtomicBool::new(false)).collect(),
    };
    {
        let mut st = sched.state.lock().expect("scheduler lock");
        for i in 0..n {
            if st.waiting[i] == 0 {
                sched.push_ready(&mut st, i);
            }
        }
        if let Some(pr) = control.priorities.lock().expect("priorities lock").take() {
            control.priorities_changed.store(false, Ordering::Relaxed);
            sched.apply_priorities(&mut st, &pr);
        }
    }
    if n == 0 {
        p.set_state(JobState::Done);
        return Ok(());
    }
    let background = opts.background;
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("gridlens-worker-{i}"))
        .start_handler(move |_| {
            if background {
                lower_priority();
            }
        })
        .build()
        .map_err(|e| ExecError::Panic { stage: "setup", message: format!("cannot start worker threads: {e}") })?;
    pool.scope(|s| {
        for w in 0..threads {
            let sched = &sched;
            s.spawn(move |_| sched.work(w as u16));
        }
    });
    let mut st = sched.state.lock().expect("scheduler lock");
    let result = match st.error.take() {
        Some(e) => Err(e),
        None if control.cancel.is_cancelled() && st.done < n => Err(ExecError::Cancelled),
        None => Ok(()),
    };
    // release everything still held
    st.values.iter_mut().for_each(|v| *v = None);
    p.held_bytes.store(0, Ordering::Relaxed);
    p.set_state(match &result {
        Ok(()) => JobState::Done,
        Err(ExecError::Cancelled) => JobState::Cancelled,
        Err(e) => JobState::Failed(e.to_string()),
    });
    result
}

impl Scheduler<'_> {
    fn push_ready(&self, st: &mut State, t: usize) {
        let k = Reverse((key(st.priority[t], self.plan.order[t]), t as u32));
        if self.plan.tasks[t].deps.is_empty() { st.ready_new.push(k) } else { st.ready_deps.push(k) }
    }

    /// Recomputes every task's priority from the output blocks it feeds, then rebuilds the queues.
    fn apply_priorities(&self, st: &mut State, per_output: &[u32]) {
        let n = self.plan.tasks.len();
        let mut prio = vec![u32::MAX; n];
        for (k, &t) in self.plan.outputs.iter().enumerate() {
            prio[t.index()] = per_output.get(k).copied().unwrap_or(u32::MAX - 1);
        }
        // tasks are created after their dependencies, so a reverse sweep sees consumers first
        for i in (0..n).rev() {
            for c in &self.consumers[i] {
                prio[i] = prio[i].min(prio[c.index()]);
            }
        }
        st.priority = prio;
        let ready: Vec<u32> = st.ready_new.drain().chain(st.ready_deps.drain()).map(|Reverse((_, t))| t).collect();
        for t in ready {
            self.push_ready(st, t as usize);
        }
    }

    /// The next task to run, if one may start now.
    fn pick(&self, st: &mut State) -> Option<usize> {
        let best_new = st.ready_new.peek().map(|r| r.0);
        let best_deps = st.ready_deps.peek().map(|r| r.0);
        let take_new = match (best_new, best_deps) {
            (None, None) => return None,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(a), Some(b)) => a < b,
        };
        if take_new {
            let t = best_new.expect("checked").1 as usize;
            let over = st.held_bytes + self.plan.tasks[t].out_bytes > self.memory_limit;
            if over && st.running > 0 {
                // hold back new data: run a consumer if there is one, else wait for memory
                return st.ready_deps.pop().map(|r| r.0.1 as usize);
            }
            st.ready_new.pop();
            return Some(t);
        }
        st.ready_deps.pop().map(|r| r.0.1 as usize)
    }

    fn work(&self, worker: u16) {
        let total = self.plan.tasks.len();
        loop {
            let (t, inputs) = {
                let mut st = self.state.lock().expect("scheduler lock");
                loop {
                    if st.error.is_some() || st.done == total || self.control.cancel.is_cancelled() {
                        self.wake.notify_all();
                        return;
                    }
                    if self.control.priorities_changed.swap(false, Ordering::AcqRel)
                        && let Some(p) = self.control.priorities.lock().expect("priorities lock").take()
                    {
                        self.apply_priorities(&mut st, &p);
                    }
                    if let Some(t) = self.pick(&mut st) {
                        // The last consumer of a value takes it, so it can reuse the memory
                        // (a fold chain updates its partial in place instead of copying it).
                        let inputs: Vec<Option<Arc<Value>>> = self.plan.tasks[t]
                            .deps
                            .iter()
                            .map(|d| {
                                let v = if st.consumers_left[d.index()] == 1 {
                                    st.values[d.index()].take()
                                } else {
                                    st.values[d.index()].clone()
                                };
                                Some(v.expect("dependency value present"))
                            })
                            .collect();
                        st.running += 1;
                        break (t, inputs);
                    }
                    st = self.wake.wait_timeout(st, Duration::from_millis(20)).expect("scheduler lock").0;
                }
            };
            let task = &self.plan.tasks[t];
            let p = &self.control.progress;
            p.running[task.stage.index()].fetch_add(1, Ordering::Relaxed);
            let start = p.micros();
            let result = catch_unwind(AssertUnwindSafe(|| self.run(task, inputs)));
            let result = match result {
                Ok(r) => r,
                Err(panic) => Err(ExecError::Panic { stage: task.stage.name(), message: panic_message(&panic) }),
            };
            // Stream the output block before taking the lock: the caller may block (backpressure).
            if let (Ok(Some(v)), Some(k)) = (&result, task.output_block)
                && let Value::Block(b) = &**v
            {
                self.output_done[k].store(true, Ordering::Release);
                (self.on_block)(k, b);
            }
            let end = p.micros();
            p.running[task.stage.index()].fetch_sub(1, Ordering::Relaxed);
            p.spans.lock().expect("progress lock").push(TaskSpan {
                task: t as u32,
                stage: task.stage,
                thread: worker,
                start_us: start,
                end_us: end,
            });
            let mut st = self.state.lock().expect("scheduler lock");
            st.running -= 1;
            match result {
                Err(ExecError::Cancelled) => {}
                Err(e) => {
                    if st.error.is_none() {
                        st.error = Some(e);
                    }
                    self.control.cancel.cancel();
                }
                Ok(value) => {
                    for d in &task.deps {
                        let d = d.index();
                        st.consumers_left[d] -= 1;
                        if st.consumers_left[d] == 0 {
                            st.values[d] = None;
                            st.held_bytes -= st.held[d];
                            st.held[d] = 0;
                        }
                    }
                    if let Some(v) = value
                        && st.consumers_left[t] > 0
                    {
                        let bytes = value_bytes(&v);
                        st.values[t] = Some(v);
                        st.held[t] = bytes;
                        st.held_bytes += bytes;
                    }
                    p.held_bytes.store(st.held_bytes, Ordering::Relaxed);
                    p.peak_held_bytes.fetch_max(st.held_bytes, Ordering::Relaxed);
                    for c in &self.consumers[t] {
                        let c = c.index();
                        st.waiting[c] -= 1;
                        if st.waiting[c] == 0 {
                            self.push_ready(&mut st, c);
                        }
                    }
                    st.done += 1;
                    p.done[task.stage.index()].fetch_add(1, Ordering::Relaxed);
                }
            }
            drop(st);
            self.wake.notify_all();
            self.snapshot_if_due();
        }
    }

    /// Takes the job's snapshots when they are due (one worker at a time; the others go on).
    fn snapshot_if_due(&self) {
        let Some(partials) = &self.partials else { return };
        let Ok(mut guard) = partials.state.try_lock() else { return };
        let (trees, next) = &mut *guard;
        let start = Instant::now();
        if trees.is_empty() || start < *next || self.cancelled() {
            return;
        }
        trees.retain(|t| !self.output_done[t.output()].load(Ordering::Acquire));
        let held: Vec<_> = {
            let st = self.state.lock().expect("scheduler lock");
            trees.iter().map(|t| snapshot::held(t, &st.values)).collect()
        };
        for (tree, held) in trees.iter_mut().zip(held) {
            if let Some(p) = snapshot::refresh(tree, held)
                && !self.cancelled()
                && !self.output_done[p.index].load(Ordering::Acquire)
            {
                (partials.request.on_partial)(p);
            }
        }
        // A snapshot is a merge and a finish of whole fields on a worker that would be folding:
        // the next waits long enough for snapshots to stay within their share of the job
        // (a twentieth: nineteen times this one's time; a month of 1 M-pixel fields costs
        // about 15 ms a snapshot, so every 300 ms rather than 250).
        let share = partials.request.max_share.clamp(1e-3, 1.0);
        let gap = start.elapsed().mul_f64((1.0 - share) / share);
        *next = Instant::now() + partials.request.every.max(gap);
    }

    fn cancelled(&self) -> bool {
        self.control.cancel.is_cancelled()
    }

    /// Runs one task on its inputs.
    fn run(&self, task: &Task, mut inputs: Vec<Option<Arc<Value>>>) -> Result<Option<Arc<Value>>, ExecError> {
        // a fold's previous partial, owned when this task is its only holder
        let prev_partial = match &task.work {
            Work::Fold { prev: true, .. } | Work::Combine { .. } => inputs[0].take(),
            _ => None,
        };
        let inputs = &inputs;
        let value_of = |i: usize| -> &Value { inputs[i].as_deref().expect("input present") };
        let block = |i: usize| -> &Block {
            match value_of(i) {
                Value::Block(b) => b,
                _ => unreachable!("dependency {i} of a {:?} task is not a block", task.stage),
            }
        };
        let is_cancelled = || self.cancelled();
        let value = match &task.work {
            Work::Fetch { source, region } => {
                match self.cached(source, region) {
                    // decoded by an earlier job: the decode task passes it on
                    Some(b) => Value::Block(b),
                    None => {
                        let f = source.fetch(region)?;
                        self.control.progress.bytes_read.fetch_add(f.bytes_read, Ordering::Relaxed);
                        match f.payload {
                            Payload::Block(b) => Value::Block(Arc::new(b)),
                            Payload::Encoded(e) => Value::Encoded(Mutex::new(Some(e))),
                        }
                    }
                }
            }
            Work::Decode { source, region } => match value_of(0) {
                Value::Encoded(e) => {
                    let payload = e.lock().expect("payload lock").take().expect("each payload is decoded once");
                    let block = Arc::new(source.decode(region, payload)?);
                    if let Some(c) = &self.cache {
                        c.insert(source, region, block.clone());
                    }
                    Value::Block(block)
                }
                Value::Block(b) => Value::Block(b.clone()),
                Value::Partial(_) => unreachable!("decode input is a fetched payload"),
            },
            Work::Map { kernel } => {
                let leaves: Vec<&Buffer> = kernel.leaves.iter().map(|l| block(l.dep).data()).collect();
                let dtype = self.node_dtype(task);
                match kernel::run_to_buffer(kernel, &leaves, dtype, &is_cancelled).map_err(|e| self.compute_error(task, e))? {
                    Some(buf) => Value::Block(Arc::new(Block::new(kernel.shape.clone(), buf))),
                    None => return Err(ExecError::Cancelled),
                }
            }
            Work::Fold { kernel, spec, prev, finalize, out_shape, origin } => {
                let len: usize = out_shape.iter().product();
                let mut partial = match prev_partial {
                    Some(arc) => match Arc::try_unwrap(arc) {
                        Ok(Value::Partial(p)) => p,
                        Ok(_) => unreachable!("fold input 0 is a partial"),
                        Err(shared) => match &*shared {
                            Value::Partial(p) => p.clone(),
                            _ => unreachable!("fold input 0 is a partial"),
                        },
                    },
                    None if *prev => unreachable!("a fold with a previous partial has it as input 0"),
                    None => reduce::init(spec, len),
                };
                let leaves: Vec<&Buffer> = kernel.leaves.iter().map(|l| block(l.dep).data()).collect();
                let acc_strides = fold_strides(&kernel.shape, &spec.axes, out_shape, spec.keepdims);
                if reduce::uses_moments(spec.func) || spec.func.is_arg() {
                    // whole-block folds: two passes (moments), or each element's position (arg)
                    let buf = kernel::run_to_buffer(kernel, &leaves, spec.input_dtype, &is_cancelled)
                        .map_err(|e| self.compute_error(task, e))?
                        .ok_or(ExecError::Cancelled)?;
                    if spec.func.is_arg() {
                        reduce::fold_arg(spec.func, &mut partial, &buf, &kernel.shape, &acc_strides, origin, &spec.arg_strides);
                    } else {
                        reduce::fold_moments(&mut partial, &buf, &kernel.shape, &acc_strides, spec.func.skips_nan());
                    }
                } else {
                    let mut sink = reduce::Fold::new(spec.func, &mut partial);
                    let done =
                        kernel::run(kernel, &leaves, &acc_strides, &mut sink, &is_cancelled).map_err(|e| self.compute_error(task, e))?;
                    if !done {
                        return Err(ExecError::Cancelled);
                    }
                }
                if *finalize { Value::Block(Arc::new(self.finalize(task, spec, partial, out_shape)?)) } else { Value::Partial(partial) }
            }
            Work::ReduceRead { load, source, regions, spec, finalize, out_shape, .. } => {
                let partial = self.reduce_read(load, source, regions, spec, out_shape)?;
                if *finalize { Value::Block(Arc::new(self.finalize(task, spec, partial, out_shape)?)) } else { Value::Partial(partial) }
            }
            Work::Combine { spec, finalize, out_shape } => {
                // the first partial is updated in place when this task is its last holder
                let mut acc = match Arc::try_unwrap(prev_partial.expect("combine has inputs")) {
                    Ok(Value::Partial(p)) => p,
                    Err(shared) => match &*shared {
                        Value::Partial(p) => p.clone(),
                        _ => unreachable!("combine inputs are partials"),
                    },
                    Ok(_) => unreachable!("combine inputs are partials"),
                };
                for i in 1..inputs.len() {
                    match value_of(i) {
                        Value::Partial(p) => reduce::merge(spec.func, &mut acc, p),
                        _ => unreachable!("combine inputs are partials"),
                    }
                }
                if *finalize { Value::Block(Arc::new(self.finalize(task, spec, acc, out_shape)?)) } else { Value::Partial(acc) }
            }
            Work::TopkChunk { kernel, k, axis } => {
                let leaves: Vec<&Buffer> = kernel.leaves.iter().map(|l| block(l.dep).data()).collect();
                let dtype = self.node_dtype(task);
                let buf = kernel::run_to_buffer(kernel, &leaves, dtype, &is_cancelled)
                    .map_err(|e| self.compute_error(task, e))?
                    .ok_or(ExecError::Cancelled)?;
                Value::Block(Arc::new(reduce::topk(&Block::new(kernel.shape.clone(), buf), *k, *axis)))
            }
            Work::TopkCombine { k, axis } => {
                let parts: Vec<&Block> = (0..inputs.len()).map(block).collect();
                Value::Block(Arc::new(reduce::topk_merge(&parts, *k, *axis)))
            }
            Work::Quantile { stat, axis } => {
                let parts: Vec<&Block> = (0..inputs.len()).map(block).collect();
                let lanes = if parts.len() == 1 { None } else { Some(reduce::concat_along(&parts, *axis)) };
                Value::Block(Arc::new(reduce::quantile_lanes(lanes.as_ref().unwrap_or(parts[0]), *stat, *axis)))
            }
            Work::Write { region } => {
                let sink = self.sink.expect("write tasks are planned only with a sink");
                sink.write(region, block(0))?;
                return Ok(None);
            }
        };
        Ok(Some(Arc::new(value)))
    }

    /// Reads a reduction group and folds it slab by slab, each slab while it is in the cache.
    /// Slabs run along the first kept axis longer than 1, so that the partial's rows for a slab
    /// stay in the cache while every region's slab is folded into them; when every such axis is
    /// reduced (a full reduction) the partial is small and regions go one after the other.
    ///
    /// Data that can be read in parts (uncompressed files, memory) is read a slab at a time.
    /// Compressed chunks must be decoded whole, so they are decoded a batch at a time and the
    /// batch is folded slab by slab: the partial (often larger than the data: a nanmean keeps
    /// 16 bytes per element of a float32 field) then passes through the cache once per batch
    /// instead of once per chunk. Either way each element meets the partial in region order,
    /// so the result is the same.
    fn reduce_read(
        &self,
        program: &Arc<crate::plan::kernel::Program>,
        source: &Arc<dyn crate::Source>,
        regions: &[Region],
        spec: &crate::plan::ReduceSpec,
        out_shape: &[usize],
    ) -> Result<Partial, ExecError> {
        const SLAB_BYTES: usize = 512 << 10;
        let len: usize = out_shape.iter().product();
        let mut partial = reduce::init(spec, len);
        let first = &regions[0];
        let nd = first.ndim();
        let item = source.dtype().size_bytes();
        let kept = (0..nd).find(|&d| !spec.axes.contains(&d) && first.shape[d] > 1);
        let axis = kept.or_else(|| (0..nd).find(|&d| first.shape[d] > 1)).unwrap_or(0);
        let row_bytes: usize = first.shape.iter().enumerate().filter(|&(d, _)| d != axis).map(|(_, &n)| n).product::<usize>() * item;
        let step = (SLAB_BYTES / row_bytes.max(1)).max(1);
        // folds rows s0..s1 along `axis` of `block`, which holds `region` whole (`whole`) or
        // only those rows
        let fold_rows = |partial: &mut Partial, block: &Block, region: &Region, s0: usize, s1: usize, whole: bool| {
            let mut sub = region.clone();
            sub.start[axis] += s0;
            sub.shape[axis] = s1 - s0;
            let strides = c_strides(block.shape());
            let kernel = crate::plan::kernel::Kernel {
                program: program.clone(),
                leaves: vec![crate::plan::kernel::Leaf {
                    dep: 0,
                    offset: if whole { (s0 * strides[axis]) as isize } else { 0 },
                    strides: strides.iter().map(|&x| x as isize).collect(),
                }],
                shape: sub.shape.clone(),
            };
            let acc_strides = fold_strides(&sub.shape, &spec.axes, out_shape, spec.keepdims);
            // where this slab's first element lands in the partial
            let offset = if spec.axes.contains(&axis) { 0 } else { s0 as isize * acc_strides[axis] };
            let mut sink = Offset { inner: reduce::Fold::new(spec.func, partial), offset };
            let done = kernel::run(&kernel, &[block.data()], &acc_strides, &mut sink, &|| self.cancelled())
                .map_err(|e| ExecError::Compute { region: sub.to_string(), message: e.to_string() })?;
            if done { Ok(()) } else { Err(ExecError::Cancelled) }
        };
        let slabs = move |extent: usize, step: usize| (0..extent.div_ceil(step)).map(move |i| (i * step, ((i + 1) * step).min(extent)));
        if !source.cheap_subregion() {
            // decoded blocks are in memory already: slabs sized so that the partial's part
            // stays in the L2 cache while each block of the batch folds into it
            const PARTIAL_SLAB_BYTES: usize = 256 << 10;
            let partial_row = (partial.size_bytes() / len.max(1)).max(1) * (row_bytes / item.max(1)).max(1);
            let step = (PARTIAL_SLAB_BYTES / partial_row).clamp(1, step);
            // a batch of decoded chunks held at once: up to 32 MB (with the stored bytes, it
            // stays inside one of the allocator's per-thread heaps of 64 MB, whose memory is
            // then reused batch after batch instead of mapped afresh)
            const BATCH_BYTES: usize = 32 << 20;
            let block_bytes = first.len() * item;
            let batch = (BATCH_BYTES / block_bytes.max(1)).clamp(1, regions.len());
            for group in regions.chunks(batch) {
                let mut blocks = Vec::with_capacity(group.len());
                for r in group {
                    if self.cancelled() {
                        return Err(ExecError::Cancelled);
                    }
                    if let Some(b) = self.cached(source, r) {
                        blocks.push(b);
                        continue;
                    }
                    let f = source.fetch(r)?;
                    self.control.progress.bytes_read.fetch_add(f.bytes_read, Ordering::Relaxed);
                    let block = Arc::new(match f.payload {
                        Payload::Block(b) => b,
                        Payload::Encoded(e) => {
                            let b = Arc::new(source.decode(r, e)?);
                            if let Some(c) = &self.cache {
                                c.insert(source, r, b.clone());
                            }
                            blocks.push(b);
                            continue;
                        }
                    });
                    blocks.push(block);
                }
                if kept.is_some() {
                    for (s0, s1) in slabs(first.shape[axis], step) {
                        for (r, b) in group.iter().zip(&blocks) {
                            fold_rows(&mut partial, b, r, s0, s1, true)?;
                        }
                    }
                } else {
                    for (r, b) in group.iter().zip(&blocks) {
                        for (s0, s1) in slabs(r.shape[axis], step) {
                            fold_rows(&mut partial, b, r, s0, s1, true)?;
                        }
                    }
                }
            }
            return Ok(partial);
        }
        let read_rows = |region: &Region, s0: usize, s1: usize| -> Result<Block, ExecError> {
            let mut sub = region.clone();
            sub.start[axis] += s0;
            sub.shape[axis] = s1 - s0;
            let block = source.read(&sub)?;
            self.control.progress.bytes_read.fetch_add(block.size_bytes() as u64, Ordering::Relaxed);
            Ok(block)
        };
        if kept.is_some() {
            for (s0, s1) in slabs(first.shape[axis], step) {
                for r in regions {
                    fold_rows(&mut partial, &read_rows(r, s0, s1)?, r, s0, s1, false)?;
                }
            }
        } else {
            for r in regions {
                for (s0, s1) in slabs(r.shape[axis], step) {
                    fold_rows(&mut partial, &read_rows(r, s0, s1)?, r, s0, s1, false)?;
                }
            }
        }
        Ok(partial)
    }

    /// The decoded block of `region` from the shared cache, when an earlier job decoded it
    /// (only blocks that need a decode are looked up: the rest are read as stored).
    fn cached(&self, source: &Arc<dyn crate::Source>, region: &Region) -> Option<Arc<Block>> {
        let c = self.cache.as_ref()?;
        if !source.needs_decode(region) {
            return None;
        }
        c.get(source, region)
    }

    /// The dtype a map or topk task produces: that of the kernel's program result, in storage form.
    fn node_dtype(&self, task: &Task) -> crate::DType {
        match &task.work {
            Work::Map { kernel } | Work::TopkChunk { kernel, .. } => program_dtype(kernel),
            _ => self.plan.dtype,
        }
    }

    /// Finishes a reduction's partial result into its output block.
    fn finalize(
        &self,
        task: &Task,
        spec: &crate::plan::ReduceSpec,
        partial: Partial,
        out_shape: &[usize],
    ) -> Result<crate::Block, ExecError> {
        reduce::finalize(spec, partial, out_shape).map_err(|message| ExecError::Compute { region: self.task_region(task), message })
    }

    /// The output block a task produces, for messages ("(intermediate)" for inner tasks).
    fn task_region(&self, task: &Task) -> String {
        task.output_block
            .map(|k| self.plan.chunks.block_region(&self.plan.chunks.block_index(k)).to_string())
            .unwrap_or_else(|| "(intermediate)".into())
    }

    fn compute_error(&self, task: &Task, e: kernel::KernelError) -> ExecError {
        ExecError::Compute { region: self.task_region(task), message: e.to_string() }
    }
}

/// The storage dtype of a kernel's result: planned per node and recorded in its program.
fn program_dtype(kernel: &crate::plan::kernel::Kernel) -> crate::DType {
    kernel.program.result_dtype
}

fn value_bytes(v: &Value) -> usize {
    match v {
        Value::Block(b) => b.size_bytes(),
        Value::Encoded(_) => 0,
        Value::Partial(p) => p.size_bytes(),
    }
}

/// Shifts every strip a sink receives by a fixed offset (a slab's place in the partial).
struct Offset<S> {
    inner: S,
    offset: isize,
}

impl<S: kernel::StripSink> kernel::StripSink for Offset<S> {
    fn strip(&mut self, values: kernel::StripRef<'_>, offset: isize, stride: isize) {
        self.inner.strip(values, offset + self.offset, stride);
    }
}

/// Element strides of a reduction's partial over a fold kernel's iteration space:
/// 0 along reduced axes, the output block's C strides elsewhere.
fn fold_strides(iter_shape: &[usize], axes: &[usize], out_shape: &[usize], keepdims: bool) -> Vec<isize> {
    let out_strides = c_strides(out_shape);
    let mut strides = Vec::with_capacity(iter_shape.len());
    let mut o = 0;
    for d in 0..iter_shape.len() {
        if axes.contains(&d) {
            strides.push(0);
            if keepdims {
                o += 1;
            }
        } else {
            strides.push(out_strides[o] as isize);
            o += 1;
        }
    }
    strides
}

fn panic_message(p: &Box<dyn Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".into()
    }
}

/// Computes a whole array into one in-memory block (for small results, tests and `--stats`).
///
/// # Errors
/// As [`execute`].
pub fn compute(array: &crate::expr::Array, opts: &ExecOptions) -> Result<Block, crate::Error> {
    let plan = Plan::build(array, false)?;
    Ok(compute_into(&plan, opts, &JobControl::new())?)
}

/// Lowers the calling thread's scheduling priority (nice +4); best effort.
fn lower_priority() {
    // SAFETY: plain system calls on the calling thread's id; failure leaves the priority as is.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 4);
    }
}
