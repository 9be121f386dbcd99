//! The executor's promises: cancellation, bounded memory, streamed output in the caller's
//! priority order, progress that adds up, and failures (errors and panics) reported, not crashed.

use gridlens::chunks::Region;
use gridlens::exec::{ExecError, JobState};
use gridlens::expr::parse::evaluate;
use gridlens::source::{Source, SourceError};
use gridlens::{Array, Block, Chunks, DType, ExecOptions, JobControl, Plan, execute};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn expr(text: &str) -> Array {
    evaluate(text, &HashMap::new()).expect("valid expression")
}

#[test]
fn cancel_stops_a_running_job_and_reports_cancelled() {
    let a = expr("random.normal(0, 1, size=(6000, 6000), chunks=(300, 300), seed=1) * 2 + 1");
    let plan = Plan::build(&a, false).unwrap();
    let control = JobControl::new();
    let arrived = AtomicUsize::new(0);
    let cancelled_at = Mutex::new(None);
    let result = execute(&plan, None, &ExecOptions { threads: 2, memory_limit: 0, ..Default::default() }, &control, &|_, _| {
        if arrived.fetch_add(1, Ordering::SeqCst) == 3 {
            *cancelled_at.lock().unwrap() = Some(Instant::now());
            control.cancel.cancel();
        }
    });
    let stopped_after = cancelled_at.lock().unwrap().expect("cancelled").elapsed();
    assert_eq!(result, Err(ExecError::Cancelled));
    assert!(arrived.load(Ordering::SeqCst) < plan.outputs.len(), "stopped early");
    assert!(stopped_after < Duration::from_secs(2), "stopped within {stopped_after:?}");
    let snap = control.progress.snapshot();
    assert_eq!(snap.state, JobState::Cancelled);
    assert_eq!(snap.held_bytes, 0, "memory returned");
}

#[test]
fn memory_stays_bounded_by_blocks_in_flight() {
    // 8000 x 8000 float64 = 512 MB of data reduced with a 24 MB budget (blocks are 2 MB).
    let a = expr("random.normal(0, 1, size=(8000, 8000), chunks=(500, 500), seed=3).mean(axis=0)");
    let plan = Plan::build(&a, false).unwrap();
    let control = JobControl::new();
    let limit = 24 << 20;
    execute(&plan, None, &ExecOptions { threads: 2, memory_limit: limit, ..Default::default() }, &control, &|_, _| {}).unwrap();
    let snap = control.progress.snapshot();
    assert!(snap.peak_held_bytes <= limit + (4 << 20), "peak {} with limit {limit}", snap.peak_held_bytes);
    assert_eq!(snap.tasks_done(), plan.tasks.len());
    assert_eq!(snap.tasks_total(), plan.tasks.len(), "per-stage totals add up to the task count");
}

#[test]
fn output_blocks_stream_in_the_callers_priority_order() {
    let a = expr("random.random(size=(40, 40), chunks=(10, 10), seed=5) + 1");
    let plan = Plan::build(&a, false).unwrap();
    let n = plan.outputs.len();
    let control = JobControl::new();
    // most urgent last block first, e.g. the tiles in view
    control.set_priorities((0..n as u32).rev().collect());
    let order = Mutex::new(Vec::new());
    execute(&plan, None, &ExecOptions { threads: 1, memory_limit: 0, ..Default::default() }, &control, &|k, _| {
        order.lock().unwrap().push(k)
    })
    .unwrap();
    let got = order.into_inner().unwrap();
    assert_eq!(got, (0..n).rev().collect::<Vec<_>>());
}

#[derive(Debug)]
struct Faulty {
    panic: bool,
}

impl Source for Faulty {
    fn describe(&self) -> String {
        "broken.h5:/t2m".into()
    }
    fn shape(&self) -> Vec<usize> {
        vec![4, 4]
    }
    fn dtype(&self) -> DType {
        DType::F64
    }
    fn chunks(&self) -> Chunks {
        Chunks::regular(&[4, 4], &[2, 2])
    }
    fn read(&self, region: &Region) -> Result<Block, SourceError> {
        if region.start == [2, 2] {
            if self.panic {
                panic!("a bug in a reader");
            }
            return Err(SourceError::new(self.describe(), "inflate failed: corrupt chunk").at(region));
        }
        Ok(Block::zeros(DType::F64, &region.shape))
    }
}

#[test]
fn a_failing_read_names_file_dataset_and_block() {
    let a = Array::from_source(Arc::new(Faulty { panic: false })).mean(None).unwrap();
    let err = gridlens::compute(&a, &ExecOptions::default()).unwrap_err();
    assert_eq!(err.to_string(), "broken.h5:/t2m, block [2:4, 2:4]: inflate failed: corrupt chunk");
}

#[test]
fn a_panic_in_a_task_becomes_an_error() {
    let a = Array::from_source(Arc::new(Faulty { panic: true })).sum(None).unwrap();
    let err = gridlens::compute(&a, &ExecOptions::default()).unwrap_err();
    assert!(err.to_string().contains("a bug in a reader"), "{err}");
    // and the engine still works afterwards
    let ok = gridlens::compute(&expr("random.random(size=(10,), seed=1).sum()"), &ExecOptions::default()).unwrap();
    assert!(ok.data().get_f64(0) > 0.0);
}

#[test]
fn spans_record_every_task_with_its_thread() {
    let a = expr("random.random(size=(100, 100), chunks=(25, 25), seed=2).sum(axis=1)");
    let plan = Plan::build(&a, false).unwrap();
    let control = JobControl::new();
    execute(&plan, None, &ExecOptions { threads: 2, memory_limit: 0, ..Default::default() }, &control, &|_, _| {}).unwrap();
    let spans = control.progress.spans_since(0);
    assert_eq!(spans.len(), plan.tasks.len());
    assert!(spans.iter().all(|s| s.end_us >= s.start_us && s.thread < 2));
}
