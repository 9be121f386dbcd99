//! Engine jobs in the background: each runs on its own thread, streams finished output
//! blocks as tiles through a bounded channel (backpressure), and can be cancelled.
//! The UI polls the channel once per frame and never waits on it.

use crossbeam_channel::{Receiver, Sender, bounded};
use gridlens::exec::ExecError;
use gridlens::plan::Explain;
use gridlens::sink::{SinkSpec, WriteOptions};
use gridlens::{Array, Block, Chunks, ExecOptions, JobControl, Plan, execute};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// The whole result at full precision, when the job was asked to keep it.
    Kept(Arc<Block>),
    /// The job ended (with the sink committed, for an export), this long after it started:
    /// measured on the job's thread, so that it does not include the wait for the UI's next
    /// frame.
    Finished(Result<(), ExecError>, Duration),
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
    pub fn start(id: u64, label: String, array: Array, keep: bool, repaint: impl Fn() + Send + Sync + 'static) -> Job {
        let (go_tx, go_rx) = bounded::<()>(1);
        let mut job = Job::spawn(id, label, move |control, tx| display(id, array, keep, control, tx, &go_rx, &repaint));
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
    pub fn start_export(id: u64, label: String, array: Array, sink: SinkPlan, repaint: impl Fn() + Send + Sync + 'static) -> Job {
        Job::spawn(id, label, move |control, tx| {
            let started = Instant::now();
            let r = export(&array, &sink, control);
            let _ = tx.send(JobEvent::Finished(r, started.elapsed()));
            repaint();
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

fn display(
    id: u64,
    array: Array,
    keep: bool,
    control: &JobControl,
    tx: &Sender<JobEvent>,
    go: &Receiver<()>,
    repaint: &(dyn Fn() + Send + Sync),
) {
    let plan = match Plan::build(&array, false) {
        Ok(p) => p,
        Err(e) => {
            let _ = tx.send(JobEvent::Finished(Err(ExecError::Panic { stage: "plan", message: e.to_string() }), Duration::ZERO));
            repaint();
            return;
        }
    };
    let _ = tx.send(JobEvent::Planned { explain: Explain::of(&plan), chunks: plan.chunks.clone() });
    repaint();
    // a dropped job (cancelled, replaced) closes the channel and ends the wait
    let _ = go.recv_timeout(Duration::from_secs(1));
    // the job's time counts from here: planned and let run
    let started = Instant::now();
    let whole = std::sync::Mutex::new(keep.then(|| Block::zeros(plan.dtype, &plan.chunks.shape())));
    let result = execute(&plan, None, &ExecOptions { background: true, ..ExecOptions::default() }, control, &|k, block| {
        if let Some(w) = whole.lock().expect("kept result lock").as_mut() {
            let r = plan.chunks.block_region(&plan.chunks.block_index(k));
            w.paste(&r.start, block);
        }
        let tile = to_tile(id, k, block);
        // A full channel makes the worker wait: the UI draws at its own pace.
        let _ = tx.send(JobEvent::Tile(tile));
        repaint();
    });
    if result.is_ok()
        && let Some(w) = whole.into_inner().expect("kept result lock")
    {
        let _ = tx.send(JobEvent::Kept(Arc::new(w)));
    }
    let _ = tx.send(JobEvent::Finished(result, started.elapsed()));
    repaint();
}

fn export(array: &Array, sink: &SinkPlan, control: &JobControl) -> Result<(), ExecError> {
    let plan = Plan::build(array, true).map_err(|e| ExecError::Panic { stage: "plan", message: e.to_string() })?;
    let s = gridlens::io::create_sink(&sink.target, &sink.spec, &sink.options)?;
    match execute(&plan, Some(s.as_ref()), &ExecOptions { background: true, ..ExecOptions::default() }, control, &|_, _| {}) {
        Ok(()) => s.commit().map(|_| ()).map_err(ExecError::from),
        Err(e) => {
            s.abort();
            Err(e)
        }
    }
}

/// Converts an output block into a tile: its values as f32 (for display), range and a sample.
pub fn to_tile(job: u64, index: usize, block: &Block) -> Tile {
    let values: Vec<f32> = (0..block.len()).map(|i| block.data().get_f64(i) as f32).collect();
    let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
    for &v in &values {
        if v < min {
            min = v;
        }
        if v > max {
            max = v;
        }
    }
    if min > max {
        (min, max) = (f32::NAN, f32::NAN);
    }
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
    pub fn start(array: Array, repaint: impl Fn() + Send + 'static) -> Small {
        let control = Arc::new(JobControl::new());
        let (tx, rx) = bounded(1);
        let c = control.clone();
        std::thread::spawn(move || {
            let r = Plan::build(&array, false).map_err(|e| e.to_string()).and_then(|plan| {
                let out = std::sync::Mutex::new(Block::zeros(plan.dtype, &plan.chunks.shape()));
                execute(&plan, None, &ExecOptions { background: true, ..ExecOptions::default() }, &c, &|k, b| {
                    let r = plan.chunks.block_region(&plan.chunks.block_index(k));
                    out.lock().expect("series lock").paste(&r.start, b);
                })
                .map_err(|e| e.to_string())?;
                Ok(out.into_inner().expect("series lock"))
            });
            let _ = tx.send(r);
            repaint();
        });
        Small { control, result: rx }
    }
}
