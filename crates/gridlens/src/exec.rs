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
pub mod fill;
pub mod kernel;
pub mod lanes;
pub mod piece;
pub mod progress;
pub mod reduce;
mod run;
mod scheduler;
pub mod snapshot;
pub mod store;

use crate::block::Block;
use crate::plan::{Plan, TaskId};
use crate::sink::{Sink, SinkError};
use crate::source::SourceError;
pub use progress::{CancelToken, JobControl, JobState, Progress, ProgressSnapshot, TaskSpan};
use reduce::Partial;
use scheduler::{Memory, ReadyQueues, key, task_priorities};
pub use snapshot::PartialBlock;
use std::any::Any;
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
    /// decoded again, and kept there once decoded (unless the handle only looks).
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
enum Held {
    Block(Arc<Block>),
    Encoded(Mutex<Option<Box<dyn Any + Send + Sync>>>),
    Partial(Partial),
}

struct State {
    ready: ReadyQueues,
    waiting: Vec<u32>,
    consumers_left: Vec<u32>,
    values: Vec<Option<Arc<Held>>>,
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
    cache: Option<cache::SharedCache>,
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
        ready: ReadyQueues::default(),
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
        cache: opts.cache.clone(),
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
        st.ready.push(t as u32, key(st.priority[t], self.plan.order[t]), self.plan.tasks[t].deps.is_empty());
    }

    /// Recomputes every task's priority from the output blocks it feeds, then requeues.
    fn apply_priorities(&self, st: &mut State, per_output: &[u32]) {
        st.priority = task_priorities(&self.plan.outputs, &self.consumers, per_output);
        for t in st.ready.drain() {
            self.push_ready(st, t as usize);
        }
    }

    /// The next task to run, if one may start now (see [`ReadyQueues::pick`]).
    fn pick(&self, st: &mut State) -> Option<usize> {
        let memory = Memory { held: st.held_bytes, limit: self.memory_limit, running: st.running };
        st.ready.pick(memory, |t| self.plan.tasks[t as usize].out_bytes).map(|t| t as usize)
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
                        let inputs: Vec<Option<Arc<Held>>> = self.plan.tasks[t]
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
                && let Held::Block(b) = &**v
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
                        let bytes = run::value_bytes(&v);
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
    set_niceness(4);
}

/// Sets the calling thread's niceness; best effort.
fn set_niceness(nice: i32) {
    // SAFETY: plain system calls on the calling thread's id; failure leaves the priority as is.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice);
    }
}
