//! What a caller holds to watch and steer a running job: the cancel flag, live counters
//! per stage, the task spans of the task-stream chart, and new priorities for the
//! output blocks (the app's visible tiles first).

use crate::plan::Stage;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A flag that stops a job: workers finish the task they are in and start no other.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// One task's run, for the task-stream chart.
#[derive(Copy, Clone, Debug, PartialEq)]
pub struct TaskSpan {
    pub task: u32,
    pub stage: Stage,
    /// Worker number, 0-based.
    pub thread: u16,
    /// Microseconds since the job started.
    pub start_us: u64,
    pub end_us: u64,
}

/// Where a job is.
#[derive(Clone, Debug, PartialEq)]
pub enum JobState {
    Running,
    Done,
    Cancelled,
    Failed(String),
}

/// Live counters of a job, shared with whoever watches it (the app's progress panel, the
/// command line's progress bar). Cheap to read at any time from any thread.
#[derive(Debug)]
pub struct Progress {
    pub(super) total: [AtomicUsize; Stage::COUNT],
    pub(super) running: [AtomicUsize; Stage::COUNT],
    pub(super) done: [AtomicUsize; Stage::COUNT],
    pub(super) bytes_read: AtomicU64,
    pub(super) held_bytes: AtomicUsize,
    pub(super) peak_held_bytes: AtomicUsize,
    pub(super) memory_limit: AtomicUsize,
    pub(super) threads: AtomicUsize,
    started: Instant,
    finished_us: AtomicU64,
    pub(super) spans: Mutex<Vec<TaskSpan>>,
    state: Mutex<JobState>,
}

impl Default for Progress {
    fn default() -> Progress {
        Progress {
            total: Default::default(),
            running: Default::default(),
            done: Default::default(),
            bytes_read: AtomicU64::new(0),
            held_bytes: AtomicUsize::new(0),
            peak_held_bytes: AtomicUsize::new(0),
            memory_limit: AtomicUsize::new(0),
            threads: AtomicUsize::new(0),
            started: Instant::now(),
            finished_us: AtomicU64::new(0),
            spans: Mutex::new(Vec::new()),
            state: Mutex::new(JobState::Running),
        }
    }
}

/// A copy of a job's counters at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct ProgressSnapshot {
    /// Per stage, in [`Stage::ALL`] order: tasks in total, running and done.
    pub total: [usize; Stage::COUNT],
    pub running: [usize; Stage::COUNT],
    pub done: [usize; Stage::COUNT],
    pub bytes_read: u64,
    pub held_bytes: usize,
    pub peak_held_bytes: usize,
    pub memory_limit: usize,
    pub threads: usize,
    pub elapsed: Duration,
    pub state: JobState,
}

impl ProgressSnapshot {
    pub fn tasks_total(&self) -> usize {
        self.total.iter().sum()
    }

    pub fn tasks_done(&self) -> usize {
        self.done.iter().sum()
    }

    /// Tasks waiting to run, per stage.
    pub fn queued(&self, stage: Stage) -> usize {
        let i = stage.index();
        self.total[i].saturating_sub(self.running[i] + self.done[i])
    }
}

impl Progress {
    pub fn new() -> Progress {
        Progress::default()
    }

    pub fn snapshot(&self) -> ProgressSnapshot {
        let load = |a: &[AtomicUsize; Stage::COUNT]| std::array::from_fn(|i| a[i].load(Ordering::Relaxed));
        let fin = self.finished_us.load(Ordering::Relaxed);
        ProgressSnapshot {
            total: load(&self.total),
            running: load(&self.running),
            done: load(&self.done),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            held_bytes: self.held_bytes.load(Ordering::Relaxed),
            peak_held_bytes: self.peak_held_bytes.load(Ordering::Relaxed),
            memory_limit: self.memory_limit.load(Ordering::Relaxed),
            threads: self.threads.load(Ordering::Relaxed),
            elapsed: if fin > 0 { Duration::from_micros(fin) } else { self.started.elapsed() },
            state: self.state.lock().expect("progress lock").clone(),
        }
    }

    /// Task spans recorded since span number `from` (for incremental drawing).
    pub fn spans_since(&self, from: usize) -> Vec<TaskSpan> {
        let s = self.spans.lock().expect("progress lock");
        s.get(from..).map(|x| x.to_vec()).unwrap_or_default()
    }

    pub fn span_count(&self) -> usize {
        self.spans.lock().expect("progress lock").len()
    }

    pub(super) fn micros(&self) -> u64 {
        self.started.elapsed().as_micros() as u64
    }

    pub(super) fn set_state(&self, s: JobState) {
        *self.state.lock().expect("progress lock") = s;
        self.finished_us.store(self.micros().max(1), Ordering::Relaxed);
    }
}

/// Everything a caller holds to watch and steer a running job.
#[derive(Debug, Default)]
pub struct JobControl {
    pub cancel: CancelToken,
    pub progress: Progress,
    /// New priorities per output block (lower first), picked up at the next scheduling step.
    pub(super) priorities: Mutex<Option<Vec<u32>>>,
    pub(super) priorities_changed: AtomicBool,
}

impl JobControl {
    pub fn new() -> JobControl {
        JobControl::default()
    }

    /// Asks the running job to compute output blocks in this order of urgency
    /// (one number per output block; lower first), e.g. visible tiles first.
    pub fn set_priorities(&self, per_output_block: Vec<u32>) {
        *self.priorities.lock().expect("priorities lock") = Some(per_output_block);
        self.priorities_changed.store(true, Ordering::Release);
    }
}
