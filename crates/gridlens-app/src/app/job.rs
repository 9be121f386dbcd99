//! Engine jobs in the background: each runs on its own thread, streams finished output
//! blocks as tiles through a bounded channel (backpressure), and can be cancelled.
//! The UI polls the channel once per frame and never waits on it.

use crossbeam_channel::{Receiver, Sender, bounded};
use gridlens::exec::cache::{BlockCache, SharedCache};
use gridlens::exec::{ExecError, Whole, compute_into, store};
use gridlens::plan::Explain;
use gridlens::sink::{SinkSpec, WriteOptions};
use gridlens::{Array, Block, Chunks, ExecOptions, JobControl, Plan};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a background thread asks the UI for a frame: `soon` for what streams (tiles,
/// snapshots: coalesced into one frame), `now` for what ends a wait (a job planned or
/// finished, a time series in).
#[derive(Clone)]
pub struct Wake {
    pub soon: Arc<dyn Fn() + Send + Sync>,
    pub now: Arc<dyn Fn() + Send + Sync>,
}

/// How the app's display jobs run: worker threads (0: one per core), how often a
/// reduction's snapshot part-way is taken, and when decoded blocks are kept for a second look.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JobTuning {
    pub threads: usize,
    pub partials_every: Duration,
    pub keep: KeepDecoded,
}

impl Default for JobTuning {
    fn default() -> JobTuning {
        JobTuning { threads: 0, partials_every: Duration::from_millis(250), keep: KeepDecoded::Auto }
    }
}

/// When a display job's decoded blocks go into the app's cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepDecoded {
    /// As the job decodes them.
    During,
    /// After the job, decoded again at the lowest priority ([`gridlens::exec::fill`]), so that
    /// the job does not pay for the fresh memory they take.
    After,
    /// `After` where fresh memory is slow ([`gridlens::exec::cache::fresh_memory_is_slow`]),
    /// else `During`.
    Auto,
}

impl KeepDecoded {
    /// Whether a job keeps what it decodes as it goes (measures the memory once, for `Auto`).
    pub fn during(self) -> bool {
        match self {
            KeepDecoded::During => true,
            KeepDecoded::After => false,
            KeepDecoded::Auto => !gridlens::exec::cache::fresh_memory_is_slow(),
        }
    }
}

/// One finished output block, ready to be drawn.
#[derive(Clone, Debug)]
pub struct Tile {
    pub job: u64,
    /// Output block number (C order).
    pub index: usize,
    pub values: Arc<Vec<f32>>,
    /// Smallest and largest non-NaN value (NaN when the tile has none).
    pub min: f32,
    pub max: f32,
    /// An evenly spaced sample of the non-NaN values, for percentiles and histograms.
    pub sample: Vec<f32>,
}

/// What a job reports to the UI.
pub enum JobEvent {
    /// The plan is built: its summary and the result's blocks.
    Planned {
        explain: Explain,
        chunks: Chunks,
    },
    Tile(Tile),
    /// A reduction's output block part-way: the tile as it stands, `done` of `total`
    /// records in, computed by `func` (see [`gridlens::exec::snapshot`]).
    Partial {
        tile: Tile,
        done: usize,
        total: usize,
        func: &'static str,
    },
    /// The whole result at full precision, when the job was asked to keep it.
    Kept(Arc<Block>),
    /// The files behind the data set changed since they were opened (why): nothing was
    /// computed, the app opens them again.
    Changed(String),
    /// The job ended (with the sink committed, for an export), this long after it started:
    /// measured on the job's thread, so that it does not include the wait for the UI's next
    /// frame.
    Finished(Result<(), ExecError>, Duration),
    /// Sent just before `Finished`: the job's thread goes on to fill the cache with the blocks
    /// it decoded ([`KeepDecoded::After`]), watched and cancelled through this control.
    Filling(Arc<JobControl>),
}

/// Where an export job writes: created on the job's thread, never on the UI thread.
pub struct SinkPlan {
    pub target: String,
    pub spec: SinkSpec,
    pub options: WriteOptions,
}

/// A running engine job.
pub struct Job {
    pub id: u64,
    pub control: Arc<JobControl>,
    pub events: Receiver<JobEvent>,
    pub started: Instant,
    /// What the job computes, for the progress panel.
    pub label: String,
    /// Lets a planned display job run (see [`Job::start`]); `None` once sent.
    go: Option<Sender<()>>,
}

impl Job {
    /// Plans and runs `array` on a background thread, sending its output blocks as tiles;
    /// with `keep`, the full-precision result is sent too before the job finishes. Once
    /// planned, the job waits for [`Job::go`] (at most a second): the app lets it run when
    /// the window has drawn the new job's panels, so the job's first moments are not spent
    /// competing with the frames that lay them out (which in software rendering cost tens
    /// of milliseconds of CPU each).
    pub fn start(id: u64, label: String, array: Array, keep: bool, cache: Arc<BlockCache>, tuning: JobTuning, wake: Wake) -> Job {
        let (go_tx, go_rx) = bounded::<()>(1);
        let mut job = Job::spawn(id, label, move |control, tx| display(id, array, keep, &cache, tuning, control, tx, &go_rx, &wake));
        job.go = Some(go_tx);
        job
    }

    /// Lets a planned display job run (once; later calls do nothing).
    pub fn go(&mut self) {
        if let Some(tx) = self.go.take() {
            let _ = tx.send(());
        }
    }

    /// Plans and runs `array` into a new sink (an export), committed on success and aborted
    /// after an error or a cancel, so nothing is left at the target.
    pub fn start_export(id: u64, label: String, array: Array, sink: SinkPlan, cache: Arc<BlockCache>, wake: Wake) -> Job {
        Job::spawn(id, label, move |control, tx| {
            let started = Instant::now();
            let r = export(&array, &sink, &cache, control);
            let _ = tx.send(JobEvent::Finished(r, started.elapsed()));
            (wake.now)();
        })
    }

    fn spawn(id: u64, label: String, body: impl FnOnce(&JobControl, &Sender<JobEvent>) + Send + 'static) -> Job {
        let control = Arc::new(JobControl::new());
        let (tx, rx) = bounded::<JobEvent>(1024);
        let c = control.clone();
        std::thread::Builder::new().name(format!("gridlens-job-{id}")).spawn(move || body(&c, &tx)).expect("spawn job thread");
        Job { id, control, events: rx, started: Instant::now(), label, go: None }
    }

    pub fn cancel(&self) {
        self.control.cancel.cancel();
    }
}

/// The engine's options for an app job: workers below the UI, blocks shared through the
/// app's cache (emptied of a source's blocks first when its files changed since), and kept
/// there as they are decoded when `keep`.
fn options(array: &Array, cache: &Arc<BlockCache>, keep: bool) -> ExecOptions {
    forget_changed(array, cache);
    let cache = if keep { SharedCache::keeping(cache.clone()) } else { SharedCache::looking(cache.clone()) };
    ExecOptions { background: true, cache: Some(cache), ..ExecOptions::default() }
}

/// Drops the cached blocks of every source of `array` whose files changed since they were
/// opened, and says why the first did (checked on the job's thread: a set of thousands of
/// files costs a stat each).
fn forget_changed(array: &Array, cache: &BlockCache) -> Option<String> {
    let mut why = None;
    for source in sources(array) {
        if let Some(w) = source.changed() {
            cache.forget(&source);
            why.get_or_insert(w);
        }
    }
    why
}

/// The sources an array reads.
fn sources(array: &Array) -> Vec<Arc<dyn gridlens::Source>> {
    let mut seen = std::collections::HashSet::new();
    let mut stack = vec![array.clone()];
    let mut out = Vec::new();
    while let Some(a) = stack.pop() {
        if !seen.insert(a.id()) {
            continue;
        }
        if let gridlens::expr::Op::Source(s) = a.op() {
            out.push(s.clone());
        }
        stack.extend(a.inputs());
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn display(
    id: u64,
    array: Array,
    keep: bool,
    cache: &Arc<BlockCache>,
    tuning: JobTuning,
    control: &JobControl,
    tx: &Sender<JobEvent>,
    go: &Receiver<()>,
    wake: &Wake,
) {
    // blocks decoded from files since rewritten must not be shown: the data set is reopened
    if let Some(why) = forget_changed(&array, cache) {
        let _ = tx.send(JobEvent::Changed(why));
        let _ = tx.send(JobEvent::Finished(Err(ExecError::Cancelled), Duration::ZERO));
        (wake.now)();
        return;
    }
    let plan = match Plan::build(&array, false) {
        Ok(p) => p,
        Err(e) => {
            let _ = tx.send(JobEvent::Finished(Err(ExecError::Plan(e)), Duration::ZERO));
            (wake.now)();
            return;
        }
    };
    let _ = tx.send(JobEvent::Planned { explain: Explain::of(&plan), chunks: plan.chunks.clone() });
    (wake.now)();
    // a dropped job (cancelled, replaced) closes the channel and ends the wait
    let _ = go.recv_timeout(Duration::from_secs(1));
    // the job's time counts from here: planned and let run
    let started = Instant::now();
    let whole = keep.then(|| Whole::new(&plan));
    // a picture while a reduction runs: snapshots of its output blocks four times a second
    let on_partial = |p: gridlens::exec::PartialBlock| {
        let tile = to_tile(id, p.index, &p.block);
        // a snapshot is worth nothing once a newer one or the block itself follows: never wait
        if tx.try_send(JobEvent::Partial { tile, done: p.done, total: p.total, func: p.func }).is_ok() {
            (wake.soon)();
        }
    };
    let partials =
        gridlens::exec::PartialsRequest { every: tuning.partials_every, min_groups: 4, max_share: 0.05, on_partial: &on_partial };
    let keep_during = tuning.keep.during();
    let shared = if keep_during { SharedCache::keeping(cache.clone()) } else { SharedCache::looking(cache.clone()) };
    let opts = ExecOptions { threads: tuning.threads, background: true, cache: Some(shared), ..ExecOptions::default() };
    let result = gridlens::exec::execute_progressively(
        &plan,
        None,
        &opts,
        control,
        &|k, block| {
            if let Some(w) = &whole {
                w.paste(k, block);
            }
            let tile = to_tile(id, k, block);
            // A full channel makes the worker wait: the UI draws at its own pace.
            let _ = tx.send(JobEvent::Tile(tile));
            (wake.soon)();
        },
        Some(partials),
    );
    if result.is_ok()
        && let Some(w) = whole
    {
        let _ = tx.send(JobEvent::Kept(Arc::new(w.into_block())));
    }
    let fill = result.is_ok() && !keep_during && !gridlens::exec::fill::decoded_blocks(&plan).is_empty();
    let fill_control = Arc::new(JobControl::new());
    if fill {
        let _ = tx.send(JobEvent::Filling(fill_control.clone()));
    }
    let _ = tx.send(JobEvent::Finished(result, started.elapsed()));
    (wake.now)();
    if fill {
        // what fails here only means a second look decodes again: the job itself is done
        let _ = gridlens::exec::fill::fill(&plan, cache, tuning.threads, &fill_control);
        (wake.now)();
    }
}

fn export(array: &Array, sink: &SinkPlan, cache: &Arc<BlockCache>, control: &JobControl) -> Result<(), ExecError> {
    let plan = Plan::build(array, true)?;
    let s = gridlens::io::create_sink(&sink.target, &sink.spec, &sink.options)?;
    // an export is waited for: it keeps blocks only where that costs little
    store(&plan, s.as_ref(), &options(array, cache, !gridlens::exec::cache::fresh_memory_is_slow()), control, &|_, _| {}).map(|_| ())
}

/// Converts an output block into a tile: its values as f32 (for display), range and a sample.
pub fn to_tile(job: u64, index: usize, block: &Block) -> Tile {
    let values = block.to_f32_vec();
    // the colour range: finite values only, NaN when there are none
    let (min, max) = gridlens::colormap::finite_range(&values).map_or((f32::NAN, f32::NAN), |(a, b)| (a as f32, b as f32));
    let step = (values.len() / 256).max(1);
    let sample: Vec<f32> = values.iter().step_by(step).copied().filter(|v| !v.is_nan()).collect();
    Tile { job, index, values: Arc::new(values), min, max, sample }
}

/// A small computation whose whole result is wanted at once (a time series at a point).
pub struct Small {
    pub control: Arc<JobControl>,
    pub result: Receiver<Result<Block, String>>,
}

impl Small {
    pub fn start(array: Array, cache: Arc<BlockCache>, wake: Wake) -> Small {
        let control = Arc::new(JobControl::new());
        let (tx, rx) = bounded(1);
        let c = control.clone();
        std::thread::spawn(move || {
            let r = Plan::build(&array, false)
                .map_err(ExecError::from)
                // a second look at the data: what it decodes is kept for the next
                .and_then(|plan| compute_into(&plan, &options(&array, &cache, true), &c))
                .map_err(|e| e.to_string());
            let _ = tx.send(r);
            (wake.now)();
        });
        Small { control, result: rx }
    }
}
