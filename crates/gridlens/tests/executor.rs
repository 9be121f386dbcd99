//! The executor's promises: cancellation, bounded memory, streamed output in the caller's
//! priority order, progress that adds up, and failures (errors and panics) reported, not crashed.

use gridlens::chunks::Region;
use gridlens::exec::compute_into;
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

/// A mean of 64 records with one output block: snapshots part-way come in order, approach
/// the final mean, and leave it exactly as a run without them computes it.
#[test]
fn snapshots_of_a_mean_converge_and_leave_the_result_unchanged() {
    let a = expr("nanmean(random.normal(10, 1, size=(64, 300, 400), chunks=(1, 300, 400), seed=9), axis=0)");
    let plan = Plan::build(&a, false).unwrap();
    let opts = ExecOptions { threads: 2, ..Default::default() };
    let run = |partials: Option<gridlens::exec::PartialsRequest<'_>>| {
        let out = Mutex::new(None);
        gridlens::exec::execute_progressively(
            &plan,
            None,
            &opts,
            &JobControl::new(),
            &|_, b| *out.lock().unwrap() = Some(b.clone()),
            partials,
        )
        .unwrap();
        out.into_inner().unwrap().expect("one output block")
    };
    let plain = run(None);
    let snaps = Mutex::new(Vec::new());
    let with = run(Some(gridlens::exec::PartialsRequest {
        every: Duration::ZERO,
        min_groups: 2,
        max_share: 1.0,
        on_partial: &|p| snaps.lock().unwrap().push(p),
    }));
    assert!(plain.data().as_bytes() == with.data().as_bytes(), "the final mean is the same bit for bit");
    let snaps = snaps.into_inner().unwrap();
    assert!(snaps.len() >= 3, "{} snapshots", snaps.len());
    let done: Vec<usize> = snaps.iter().map(|s| s.done).collect();
    assert!(done.windows(2).all(|w| w[0] < w[1]), "each snapshot covers more records: {done:?}");
    assert!(snaps.iter().all(|s| s.total == 64 && s.done <= 64 && s.index == 0 && s.func == "nanmean"));
    let error = |s: &gridlens::exec::PartialBlock| {
        let (a, b) = (s.block.to_ndarray::<f64>().unwrap(), plain.to_ndarray::<f64>().unwrap());
        (&a - &b).mapv(f64::abs).iter().copied().fold(0.0, f64::max)
    };
    // the mean of n draws of N(10, 1) is within 5 / sqrt(n) of 10 everywhere, so the largest
    // difference from the final shrinks as records come in
    let (first, last) = (error(&snaps[0]), error(snaps.last().unwrap()));
    assert!(last < first, "converges: {first} then {last}");
    for s in &snaps {
        let v = s.block.to_ndarray::<f64>().unwrap();
        assert!(v.iter().all(|x| (x - 10.0).abs() < 6.0 / (s.done as f64).sqrt()), "{} records", s.done);
    }
    // a mean (not nanmean) part-way is divided by the records in, not by all of them
    let a = expr("mean(random.normal(10, 1, size=(64, 300, 400), chunks=(1, 300, 400), seed=9), axis=0)");
    let plan = Plan::build(&a, false).unwrap();
    let snaps = Mutex::new(Vec::new());
    let request = gridlens::exec::PartialsRequest {
        every: Duration::ZERO,
        min_groups: 2,
        max_share: 1.0,
        on_partial: &|p| snaps.lock().unwrap().push(p),
    };
    gridlens::exec::execute_progressively(&plan, None, &opts, &JobControl::new(), &|_, _| {}, Some(request)).unwrap();
    let snaps = snaps.into_inner().unwrap();
    assert!(!snaps.is_empty() && snaps.iter().all(|s| s.func == "mean"));
    for s in &snaps {
        let v = s.block.to_ndarray::<f64>().unwrap();
        assert!(v.iter().all(|x| (x - 10.0).abs() < 6.0 / (s.done as f64).sqrt()), "mean of {} records", s.done);
    }
}

/// Once a job is cancelled, no snapshot follows.
#[test]
fn a_cancelled_job_sends_no_snapshot_after_the_cancel() {
    let a = expr("nanmean(random.normal(0, 1, size=(256, 400, 400), chunks=(1, 400, 400), seed=2), axis=0)");
    let plan = Plan::build(&a, false).unwrap();
    let control = JobControl::new();
    let after_cancel = AtomicUsize::new(0);
    let cancelled = std::sync::atomic::AtomicBool::new(false);
    let result = gridlens::exec::execute_progressively(
        &plan,
        None,
        &ExecOptions { threads: 2, ..Default::default() },
        &control,
        &|_, _| {},
        Some(gridlens::exec::PartialsRequest {
            every: Duration::ZERO,
            min_groups: 2,
            max_share: 1.0,
            on_partial: &|_| {
                if cancelled.swap(true, Ordering::SeqCst) {
                    after_cancel.fetch_add(1, Ordering::SeqCst);
                } else {
                    control.cancel.cancel();
                }
            },
        }),
    );
    assert_eq!(result, Err(ExecError::Cancelled));
    assert!(cancelled.load(Ordering::SeqCst), "a snapshot came before the cancel");
    assert_eq!(after_cancel.load(Ordering::SeqCst), 0);
}

/// A deflated HDF5 file of `records` fields of 200 × 300 float32, one record per chunk (as
/// netCDF-C stores a record variable), record k holding k + (row + col) % 7.
fn deflated_records(path: &std::path::Path, records: usize) -> Arc<dyn Source> {
    let values = ndarray::Array3::<f32>::from_shape_fn((records, 200, 300), |(k, r, c)| (k + (r + c) % 7) as f32);
    let f = hdf5::File::create(path).unwrap();
    f.new_dataset_builder().chunk([1, 200, 300]).deflate(1).with_data(&values).create("t2m").unwrap();
    drop(f);
    gridlens::io::open_file(path, Some("t2m"), &Default::default()).unwrap()
}

/// The decoded-block cache: a job over more data than its budget keeps at most the budget
/// (checked as every block arrives), a second job finds what the first decoded and gets the
/// same result, and a cleared cache is empty.
#[test]
fn the_block_cache_holds_its_budget_and_serves_the_next_job() {
    let tmp = tempfile::tempdir().unwrap();
    let source = deflated_records(&tmp.path().join("records.h5"), 40);
    let field = 200 * 300 * 4;
    let budget = 10 * field + field / 2;
    let cache = Arc::new(gridlens::exec::cache::BlockCache::new(budget));
    // one worker: records are decoded in order, so the last ten are the ones kept
    let opts = ExecOptions { threads: 1, cache: Some(gridlens::exec::cache::SharedCache::keeping(cache.clone())), ..Default::default() };
    let x = Array::from_source(source.clone());
    let run = |text: &str| {
        let a = evaluate(text, &HashMap::from([("x".to_string(), x.clone())])).unwrap();
        let plan = Plan::build(&a, false).unwrap();
        let out = Mutex::new(Block::zeros(plan.dtype, &plan.chunks.shape()));
        execute(&plan, None, &opts, &JobControl::new(), &|k, b| {
            assert!(cache.stats().bytes <= budget, "{} bytes held, budget {budget}", cache.stats().bytes);
            out.lock().unwrap().paste(&plan.chunks.block_region(&plan.chunks.block_index(k)).start, b);
        })
        .unwrap();
        let b = out.into_inner().unwrap();
        (0..b.len()).map(|i| b.data().get_f64(i)).collect::<Vec<f64>>()
    };
    let mean = run("nanmean(x, axis=0)");
    let s = cache.stats();
    assert!(s.bytes <= budget && s.blocks == 10, "{s:?}");
    // the mean of k + (r + c) % 7 over k = 0..40
    let expected: Vec<f64> = (0..200 * 300).map(|i| 19.5 + ((i / 300 + i % 300) % 7) as f64).collect();
    assert_eq!(mean, expected);
    // the last ten records were decoded last: a pixel's series over them is read from memory
    let hits = s.hits;
    let series = run("x[30:, 5, 6]");
    assert_eq!(series, (30..40).map(|k| (k + (5 + 6) % 7) as f64).collect::<Vec<_>>());
    assert_eq!(cache.stats().hits - hits, 10, "all ten records from the cache");
    cache.clear();
    assert_eq!((cache.stats().bytes, cache.stats().blocks), (0, 0));
    let misses = cache.stats().misses;
    run("x[30:, 5, 6]");
    assert_eq!(cache.stats().misses - misses, 10, "read again after the clear");
}

/// A job that only looks the cache up keeps nothing; the fill after it keeps every decoded
/// block of its plan (the same values a job that keeps them would), stops at the budget, skips
/// what is held already, and stops at a cancel; the next job reads them from memory.
#[test]
fn a_fill_after_a_looking_job_keeps_its_blocks_within_the_budget() {
    use gridlens::exec::cache::{BlockCache, SharedCache};
    use gridlens::exec::fill::{Filled, decoded_blocks, fill};
    let tmp = tempfile::tempdir().unwrap();
    let source = deflated_records(&tmp.path().join("records.h5"), 12);
    let field = 200 * 300 * 4;
    let x = Array::from_source(source.clone());
    let plan_of = |text: &str| Plan::build(&evaluate(text, &HashMap::from([("x".to_string(), x.clone())])).unwrap(), false).unwrap();
    let mean = plan_of("nanmean(x, axis=0)");
    assert_eq!(decoded_blocks(&mean).len(), 12);
    let cache = Arc::new(BlockCache::new(64 << 20));
    let looking = ExecOptions { cache: Some(SharedCache::looking(cache.clone())), ..Default::default() };
    let first = compute_into(&mean, &looking, &JobControl::new()).unwrap();
    assert_eq!(cache.stats().blocks, 0, "a looking job keeps nothing");
    let control = JobControl::new();
    assert_eq!(fill(&mean, &cache, 2, &control).unwrap(), Filled { blocks: 12, bytes: 12 * field });
    assert_eq!(control.progress.snapshot().state, gridlens::exec::JobState::Done);
    // what was kept is what the file holds: the mean from memory equals the first, bit for bit
    let hits = cache.stats().hits;
    let again = compute_into(&mean, &looking, &JobControl::new()).unwrap();
    assert_eq!(cache.stats().hits - hits, 12, "every record from memory");
    assert_eq!(again.to_f32_vec(), first.to_f32_vec());
    let series = compute_into(&plan_of("x[:, 5, 6]"), &looking, &JobControl::new()).unwrap();
    assert_eq!(series.to_f32_vec(), (0..12).map(|k| (k + (5 + 6) % 7) as f32).collect::<Vec<_>>());
    // held already: nothing to do
    assert_eq!(fill(&mean, &cache, 1, &JobControl::new()).unwrap().blocks, 0);
    // a budget of five and a half fields keeps five, the first five records of the plan
    let small = Arc::new(BlockCache::new(5 * field + field / 2));
    assert_eq!(fill(&mean, &small, 1, &JobControl::new()).unwrap().blocks, 5);
    let day = |k: usize| Region { start: vec![k, 0, 0], shape: vec![1, 200, 300] };
    assert!((0..5).all(|k| small.contains(&source, &day(k))) && !small.contains(&source, &day(5)));
    // cancelled before it starts: nothing kept, the state says so
    let none = Arc::new(BlockCache::new(64 << 20));
    let cancelled = JobControl::new();
    cancelled.cancel.cancel();
    assert_eq!(fill(&mean, &none, 2, &cancelled), Err(gridlens::exec::ExecError::Cancelled));
    assert_eq!(none.stats().blocks, 0);
    assert_eq!(cancelled.progress.snapshot().state, gridlens::exec::JobState::Cancelled);
}

/// A block cached from a file that was then rewritten is not used: the source says it
/// changed, and its blocks are forgotten.
#[test]
fn a_changed_file_is_noticed_and_its_blocks_forgotten() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("records.h5");
    let source = deflated_records(&path, 4);
    assert_eq!(source.changed(), None);
    let cache = Arc::new(gridlens::exec::cache::BlockCache::new(64 << 20));
    let opts = ExecOptions { cache: Some(gridlens::exec::cache::SharedCache::keeping(cache.clone())), ..Default::default() };
    let plan = Plan::build(
        &evaluate("nanmean(x, axis=0)", &HashMap::from([("x".to_string(), Array::from_source(source.clone()))])).unwrap(),
        false,
    )
    .unwrap();
    execute(&plan, None, &opts, &JobControl::new(), &|_, _| {}).unwrap();
    assert_eq!(cache.stats().blocks, 4);
    // another program replaces the file (a new inode), as writers that rename into place do
    std::thread::sleep(Duration::from_millis(20));
    deflated_records(&tmp.path().join("new.h5"), 5);
    std::fs::rename(tmp.path().join("new.h5"), &path).unwrap();
    let why = source.changed().expect("the file was replaced");
    assert!(why.contains("records.h5"), "{why}");
    cache.forget(&source);
    assert_eq!(cache.stats().blocks, 0);
}
