//! What progressive results cost: the time mean of a record-chunked data set run with and
//! without snapshots (the app's rate, one every 250 ms), runs alternating, medians
//! compared. The two results are checked equal bit for bit on every run.
//!
//! ```sh
//! cargo bench --bench snapshot_cost -- "$PWD/target/bench-data/era5/*.nc" 9
//! ```
//!
//! Prints one JSON line: medians with and without, the overhead in percent, snapshots taken.

use gridlens::expr::parse::evaluate;
use gridlens::{ExecOptions, JobControl, Plan};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The allocator the gridlens binary runs with (see `src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let (source, runs) = match args.as_slice() {
        [s] => (s.clone(), 5),
        [s, n] => (s.clone(), n.parse().expect("RUNS is a number")),
        _ => {
            eprintln!("usage: snapshot_cost SOURCE [RUNS]   (SOURCE: a file, FILE:DATASET or a glob of files)");
            std::process::exit(2);
        }
    };
    let spec = gridlens::io::SourceSpec::parse(&source);
    let (src, _) = gridlens::io::open_sources(&[spec], &Default::default()).unwrap_or_else(|e| panic!("{e}"));
    let x = gridlens::Array::from_source(src);
    let mean = evaluate("nanmean(x, axis=0)", &HashMap::from([("x".to_string(), x)])).expect("a mean");
    let plan = Plan::build(&mean, false).expect("a plan");
    let opts = ExecOptions::default();
    let run = |partials: bool| -> (f64, Vec<u8>, usize) {
        let out = Mutex::new(Vec::new());
        let taken = Mutex::new(0usize);
        let on_partial = |_: gridlens::exec::PartialBlock| *taken.lock().unwrap() += 1;
        let request =
            gridlens::exec::PartialsRequest { every: Duration::from_millis(250), min_groups: 4, max_share: 0.05, on_partial: &on_partial };
        let t0 = Instant::now();
        gridlens::exec::execute_progressively(
            &plan,
            None,
            &opts,
            &JobControl::new(),
            &|k, b| out.lock().unwrap().push((k, b.data().as_bytes().to_vec())),
            partials.then_some(request),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let secs = t0.elapsed().as_secs_f64();
        let mut blocks = out.into_inner().unwrap();
        blocks.sort_by_key(|b| b.0);
        (secs, blocks.into_iter().flat_map(|b| b.1).collect(), taken.into_inner().unwrap())
    };
    let (mut with, mut without, mut snapshots) = (Vec::new(), Vec::new(), Vec::new());
    let (_, reference, _) = run(false); // warm the page cache
    for _ in 0..runs {
        let (s, bytes, _) = run(false);
        assert!(bytes == reference, "the mean differs between runs without snapshots");
        without.push(s);
        let (s, bytes, n) = run(true);
        assert!(bytes == reference, "snapshots changed the result");
        with.push(s);
        snapshots.push(n);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (w, wo) = (median(&mut with), median(&mut without));
    println!(
        "{{\"source\": {source:?}, \"runs\": {runs}, \"with_s\": {w:.3}, \"without_s\": {wo:.3}, \"overhead_percent\": {:.1}, \"snapshots\": {snapshots:?}}}",
        (w / wo - 1.0) * 100.0
    );
}
