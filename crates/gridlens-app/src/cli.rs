//! The `gridlens` command line: `eval`, `explain`, `info` and `demo-data` over the engine.
//!
//! Parsing is clap's; each subcommand is a function that returns `anyhow::Result`,
//! and `main` prints a failure as one `error: ...` line. The `view` subcommand
//! (and no subcommand at all) opens the desktop app, which lives in the binary.

use crate::cluster::{self, Scheduler};
use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, Parser, Subcommand};
use gridlens::chunks::{ChunkSpec, format_bytes, parse_size};
use gridlens::exec::{ExecOptions, JobControl, Whole, execute, store};
use gridlens::expr::Array;
use gridlens::expr::parse::evaluate;
use gridlens::io::{OpenOptions, SourceSpec};
use gridlens::plan::{Explain, Plan};
use gridlens::sink::provenance::{carried_attrs, history};
use gridlens::sink::{SinkSpec, WriteOptions};
use gridlens::source::fmt_shape;
use gridlens::{Block, Buffer, with_buffer};
use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod figure;
pub use figure::{parse_centre, parse_projection};

/// Explore gridded data too big for memory: a lazy, chunked, parallel array engine with a desktop viewer.
#[derive(Parser, Debug)]
#[command(name = "gridlens", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Compute an expression over files and print, summarise or store the result.
    Eval(EvalArgs),
    /// Show what an expression would compute (shape, chunks, tasks, stages) without computing.
    Explain(ExplainArgs),
    /// List groups, datasets, shapes, dtypes, chunks and attributes of files.
    Info(InfoArgs),
    /// Write synthetic daily 2-m temperature files (one HDF5 file per day).
    DemoData(DemoArgs),
    /// Open the desktop app on the given files (no files: the built-in demo data).
    View(ViewArgs),
}

/// Inputs and engine settings shared by `eval` and `explain`.
#[derive(Args, Debug, Clone)]
pub struct InputArgs {
    /// The expression, in NumPy syntax, e.g. 'x.mean(axis=0)' or 'x[0] - x.mean(axis=0)'.
    #[arg(allow_hyphen_values = true)]
    pub expr: String,
    /// Bind NAME to SOURCE = PATH_OR_GLOB[:DATASET]; a glob stacks its files along a new first axis.
    #[arg(short = 'i', long = "input", value_name = "NAME=SOURCE")]
    pub inputs: Vec<String>,
    /// Block layout for the inputs instead of their storage chunks: 'auto', a size ('64MiB'),
    /// or lengths per axis ('1,500,500'; -1 = whole axis).
    #[arg(long, value_name = "SPEC", allow_hyphen_values = true)]
    pub chunks: Option<String>,
    /// Show stored values as they are, without CF decoding (scale_factor, add_offset, _FillValue).
    #[arg(long)]
    pub raw: bool,
    /// Index every file of a set afresh, neither reading nor writing the index cache
    /// ($XDG_CACHE_HOME/gridlens/index).
    #[arg(long)]
    pub no_index_cache: bool,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    #[command(flatten)]
    pub input: InputArgs,
    /// Store the result: FILE.h5[:DATASET], FILE.hdf5[:DATASET], DIR.zarr, FILE.npy or FILE.png.
    #[arg(short = 'o', long = "output", value_name = "OUTPUT")]
    pub output: Option<String>,
    /// Print one JSON line: shape, dtype, sum, min, max, nan_count, first, last.
    #[arg(long)]
    pub stats: bool,
    /// Worker threads (default: one per core).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Memory for intermediate blocks, e.g. '2GiB' (default: a quarter of RAM).
    #[arg(long, value_name = "SIZE")]
    pub memory_limit: Option<String>,
    /// Replace an existing output.
    #[arg(long)]
    pub overwrite: bool,
    /// gzip level 0-9 for HDF5/Zarr output.
    #[arg(long, value_name = "LEVEL")]
    pub compression: Option<u32>,
    /// Storage chunk lengths of the output, e.g. '500,500'.
    #[arg(long, value_name = "LENGTHS")]
    pub out_chunks: Option<String>,
    /// Zarr format of the output (2 or 3).
    #[arg(long, default_value_t = 3)]
    pub zarr_version: u8,
    /// Colormap of PNG output.
    #[arg(long, default_value = "viridis")]
    pub colormap: String,
    /// Value range of PNG output, e.g. '250,310' (default: the data's min and max).
    #[arg(long, value_name = "MIN,MAX")]
    pub range: Option<String>,
    /// PNG output of a latitude/longitude field is a figure (map, coastlines, graticule,
    /// colorbar, title); --plain writes the bare colormapped array instead, one pixel per value.
    #[arg(long)]
    pub plain: bool,
    /// Figure: equirectangular (default), robinson, mollweide, north-polar or south-polar.
    #[arg(long, value_name = "NAME")]
    pub projection: Option<String>,
    /// Figure: the longitude in the middle of a globe-spanning map, or 'stored' (default 0).
    #[arg(long, value_name = "LON", allow_hyphen_values = true)]
    pub centre: Option<String>,
    /// Figure: width in pixels.
    #[arg(long, value_name = "PX", default_value_t = 1600)]
    pub width: u32,
    /// Figure: dots per inch (text and lines scale with it; written into the PNG).
    #[arg(long, default_value_t = 150.0)]
    pub dpi: f32,
    /// Figure: the title (default: the data's long_name and the expression).
    #[arg(long)]
    pub title: Option<String>,
    /// Figure: draw country borders too.
    #[arg(long)]
    pub borders: bool,
    /// Compute on the Dask cluster whose scheduler is at ADDRESS (tcp://HOST:PORT), through a
    /// Python with the gridlens package and distributed (GRIDLENS_PYTHON, or python3).
    #[arg(long, value_name = "ADDRESS", conflicts_with = "scheduler_file")]
    pub scheduler: Option<String>,
    /// Compute on the Dask cluster of FILE, as `dask scheduler --scheduler-file FILE` wrote it.
    #[arg(long, value_name = "FILE")]
    pub scheduler_file: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub input: InputArgs,
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    /// Files, globs, or FILE:DATASET.
    #[arg(required = true)]
    pub sources: Vec<String>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// Index every file of a set afresh, neither reading nor writing the index cache.
    #[arg(long)]
    pub no_index_cache: bool,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Directory to write the files into (created if missing).
    pub dir: PathBuf,
    /// Number of daily files.
    #[arg(long, default_value_t = 31)]
    pub days: usize,
    /// Grid shape, ROWSxCOLS.
    #[arg(long, default_value = "1440x2880")]
    pub shape: String,
    /// Element type: f8 or f4.
    #[arg(long, default_value = "f8")]
    pub dtype: String,
    /// Storage chunk lengths, ROWS,COLS.
    #[arg(long, default_value = "500,500")]
    pub chunks: String,
    /// Random seed of the weather.
    #[arg(long, default_value_t = 2014)]
    pub seed: u64,
    /// Replace existing files.
    #[arg(long)]
    pub overwrite: bool,
}

#[derive(Args, Debug, Default)]
pub struct ViewArgs {
    /// Files or globs to open (PATH_OR_GLOB[:DATASET]).
    pub sources: Vec<String>,
    /// Write each frame's duration and each tile's arrival time to FILE (CSV).
    #[arg(long, value_name = "FILE")]
    pub frame_log: Option<PathBuf>,
    /// Start with this operation: time-mean (the default), day-mean, subsample or single-day.
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,
    /// The day (index along the first axis) of day-mean, subsample and single-day.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub day: usize,
    /// Draw maps as equirectangular, robinson, mollweide, north-polar or south-polar
    /// (default: as last time).
    #[arg(long, value_name = "NAME")]
    pub projection: Option<String>,
    /// The longitude in the middle of a globe-spanning map, or 'stored' for the columns as
    /// stored (default: as last time, 0° at first).
    #[arg(long, value_name = "LON", allow_hyphen_values = true)]
    pub centre: Option<String>,
    /// When the decoded blocks of compressed data are kept for a second look (a pixel's time
    /// series, another operation): during (as the job decodes them), after (decoded again
    /// once the job is done, at the lowest priority) or auto (after where fresh memory is
    /// slow, as in a virtual machine that hands freed memory back to its host).
    #[arg(long, value_name = "WHEN", default_value = "auto")]
    pub keep_decoded: String,
}

/// Opens the inputs named by `-i NAME=SOURCE` arguments.
///
/// # Errors
/// A malformed binding, or a source that cannot be opened (the message names it).
pub fn open_inputs(input: &InputArgs) -> Result<(HashMap<String, Array>, Vec<(String, String)>)> {
    let chunks = match &input.chunks {
        Some(c) => Some(ChunkSpec::parse(c).map_err(|e| anyhow!("--chunks: {e}"))?),
        None => None,
    };
    let opts = OpenOptions { decode_cf: !input.raw, chunks, index_cache: !input.no_index_cache };
    let mut names = HashMap::new();
    let mut bound = Vec::new();
    for b in &input.inputs {
        let (name, src) = b.split_once('=').ok_or_else(|| anyhow!("-i {b}: expected NAME=SOURCE, e.g. -i x='data/*.hdf5:/t2m'"))?;
        let name = name.trim();
        if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') || name.starts_with(|c: char| c.is_ascii_digit()) {
            bail!("-i {b}: '{name}' is not a valid name (letters, digits and _)");
        }
        let spec = SourceSpec::parse(src);
        let source = gridlens::io::open(&spec, &opts)?;
        names.insert(name.to_string(), Array::from_source(source));
        bound.push((name.to_string(), src.to_string()));
    }
    Ok((names, bound))
}

/// Runs `eval`.
///
/// # Errors
/// Any bad input (expression, sources, output) or a failed computation.
pub fn eval(args: &EvalArgs) -> Result<()> {
    let (names, bound) = open_inputs(&args.input)?;
    let array = evaluate(&args.input.expr, &names).map_err(|e| anyhow!("{e}"))?;
    let memory_limit = match &args.memory_limit {
        Some(s) => parse_size(s).ok_or_else(|| anyhow!("--memory-limit {s}: expected a size such as 2GiB or 500MB"))?,
        None => 0,
    };
    let opts = ExecOptions { threads: args.threads, memory_limit, ..Default::default() };
    let cluster = match (&args.scheduler, &args.scheduler_file) {
        (Some(a), _) => Some(Scheduler::Address(a.clone())),
        (None, Some(f)) => Some(Scheduler::File(f.clone())),
        (None, None) => None,
    };
    if let Some(target) = &args.output
        && target.to_ascii_lowercase().ends_with(".png")
        && !args.plain
        && let Some(frame) = figure::frame_of(&array, &names, figure::parse_centre(args.centre.as_deref())?)
    {
        if cluster.is_some() {
            bail!("a figure is drawn here, not on a cluster: drop --scheduler, or add --plain for the bare colormapped array");
        }
        return figure::write(args, &array, &frame, &carried_attrs(&array), target);
    }
    if cluster.is_some() && (args.input.chunks.is_some() || args.input.raw) {
        bail!(
            "--chunks and --raw are not supported with --scheduler yet: the cluster opens the sources with their storage chunks, CF-decoded"
        );
    }
    let plan = Plan::build(&array, args.output.is_some())?;
    let sink = match &args.output {
        None => None,
        Some(target) => {
            let spec = SinkSpec {
                shape: array.shape(),
                dtype: array.dtype(),
                chunks: array.chunks().clone(),
                attrs: carried_attrs(&array),
                history: history(&args.input.expr, &bound),
            };
            let wopts = WriteOptions {
                chunk_shape: match &args.out_chunks {
                    Some(c) => Some(
                        c.split(',')
                            .map(|x| x.trim().parse::<usize>().map_err(|_| anyhow!("--out-chunks {c}: expected lengths such as 500,500")))
                            .collect::<Result<Vec<_>>>()?,
                    ),
                    None => None,
                },
                compression_level: args.compression,
                overwrite: args.overwrite,
                zarr_version: args.zarr_version,
                colormap: args.colormap.clone(),
                value_range: match &args.range {
                    Some(r) => {
                        let (a, b) = r.split_once(',').ok_or_else(|| anyhow!("--range {r}: expected MIN,MAX"))?;
                        Some((a.trim().parse()?, b.trim().parse()?))
                    }
                    None => None,
                },
            };
            Some(gridlens::io::create_sink(target, &spec, &wopts)?)
        }
    };
    let control = Arc::new(JobControl::new());
    let nblocks = plan.chunks.num_blocks();
    let stats: Mutex<Vec<Option<BlockStats>>> = Mutex::new(vec![None; if args.stats { nblocks } else { 0 }]);
    let small = array.len() <= 1000 && args.output.is_none() && !args.stats;
    let whole = small.then(|| Whole::new(&plan));
    // (on a cluster the events say what is done; the local counters stay at zero)
    let bar = if cluster.is_none() { progress_bar(&control, plan.tasks.len()) } else { None };
    let on_block = |k: usize, b: &Arc<Block>| {
        if args.stats {
            stats.lock().expect("stats lock")[k] = Some(BlockStats::of(b));
        }
        if let Some(w) = &whole {
            w.paste(k, b);
        }
    };
    let result = match (&cluster, &sink) {
        (Some(scheduler), sink) => {
            let on_cluster = on_cluster(scheduler, &args.input.expr, &bound, &plan, sink.as_deref(), &control, &on_block);
            match (on_cluster, sink) {
                (Ok(()), Some(s)) => s.commit().map(Some).map_err(anyhow::Error::from),
                (Ok(()), None) => Ok(None),
                (Err(e), s) => {
                    if let Some(s) = s {
                        s.abort();
                    }
                    Err(e)
                }
            }
        }
        (None, Some(s)) => store(&plan, s.as_ref(), &opts, &control, &on_block).map(Some).map_err(anyhow::Error::from),
        (None, None) => execute(&plan, None, &opts, &control, &on_block).map(|()| None).map_err(anyhow::Error::from),
    };
    if let Some((handle, stop)) = bar {
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let _ = handle.join();
    }
    if let Some(path) = result? {
        eprintln!("wrote {} {} to {}", fmt_shape(&array.shape()), array.dtype(), path.display());
    }
    if args.stats {
        let per_block: Vec<BlockStats> =
            stats.into_inner().expect("stats lock").into_iter().map(|s| s.expect("every block finished")).collect();
        println!("{}", stats_json(&array, &per_block));
    } else if let Some(w) = whole {
        println!("{}", format_block(&w.into_block()));
    } else if args.output.is_none() {
        println!(
            "{} {} ({}): too large to print; use --stats for a summary or -o FILE to store it",
            fmt_shape(&array.shape()),
            array.dtype(),
            format_bytes(array.nbytes())
        );
    }
    Ok(())
}

/// Computes `plan`'s blocks on a Dask cluster: each block the cluster sends back is written to
/// `sink` (when there is one) and handed to `on_block`, as a local run does.
fn on_cluster(
    scheduler: &Scheduler,
    expr: &str,
    bound: &[(String, String)],
    plan: &Plan,
    sink: Option<&dyn gridlens::Sink>,
    control: &JobControl,
    on_block: &dyn Fn(usize, &Arc<Block>),
) -> Result<()> {
    let chunks = &plan.chunks;
    let mut got = 0usize;
    let mut bar: Option<indicatif::ProgressBar> = None;
    // seconds each worker thread spent on output blocks (the last task of each)
    let mut busy: std::collections::BTreeMap<(String, u64), f64> = Default::default();
    let result = cluster::compute(scheduler, expr, bound, chunks, plan.dtype, &control.cancel, &mut |event| {
        match event {
            cluster::Event::Connected { workers, tasks, blocks } => {
                let threads: usize = workers.iter().map(|w| w.threads).sum();
                eprintln!(
                    "on the Dask cluster at {scheduler}: {} workers, {threads} threads; {tasks} tasks, {blocks} output blocks",
                    workers.len()
                );
                if std::io::stderr().is_terminal() {
                    let b = indicatif::ProgressBar::new(blocks as u64);
                    b.set_style(
                        indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} blocks {msg}")
                            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
                    );
                    bar = Some(b);
                }
            }
            cluster::Event::Block { index, block, worker, thread, start, stop } => {
                *busy.entry((worker.clone(), thread)).or_insert(0.0) += (stop - start).max(0.0);
                if let Some(s) = sink {
                    s.write(&chunks.block_region(&chunks.block_index(index)), &block)?;
                }
                on_block(index, &Arc::new(block));
                got += 1;
                if let Some(b) = &bar {
                    b.inc(1);
                    b.set_message(format!("last from {worker}"));
                }
            }
        }
        Ok(())
    });
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    result?;
    if !busy.is_empty() {
        let times: Vec<String> = busy.values().map(|s| format!("{s:.2} s")).collect();
        eprintln!("{got} blocks from {} worker threads (their output tasks took {})", busy.len(), times.join(", "));
    }
    if got != chunks.num_blocks() {
        bail!("the Dask cluster at {scheduler} sent {got} of {} blocks", chunks.num_blocks());
    }
    Ok(())
}

/// Runs `explain`.
///
/// # Errors
/// A bad expression or source.
pub fn explain(args: &ExplainArgs) -> Result<()> {
    let (names, bound) = open_inputs(&args.input)?;
    for (name, src) in &bound {
        let a = &names[name];
        println!(
            "input {name} = {src}: {} {}, chunks {}, {}",
            fmt_shape(&a.shape()),
            a.dtype(),
            fmt_shape(&a.chunks().max_block_shape()),
            format_bytes(a.nbytes())
        );
    }
    let array = evaluate(&args.input.expr, &names).map_err(|e| anyhow!("{e}"))?;
    let plan = Plan::build(&array, false)?;
    if !bound.is_empty() {
        println!();
    }
    print!("{}", Explain::of(&plan));
    Ok(())
}

/// Runs `info`. A set of files is described by its first file and the array they make
/// together (a set of 10,000 daily files is not 10,000 listings).
///
/// # Errors
/// A file that cannot be opened or read.
pub fn info(args: &InfoArgs) -> Result<()> {
    let opts = OpenOptions { index_cache: !args.no_index_cache, ..OpenOptions::default() };
    let mut json = Vec::new();
    for s in &args.sources {
        let spec = SourceSpec::parse(s);
        let files = gridlens::io::expand(&spec.pattern)?;
        let first = &files[0];
        match gridlens::io::Format::of(first) {
            Some(gridlens::io::Format::Hdf5) | None if spec.dataset.is_none() => {
                let tree = gridlens::io::hdf5::describe_file(first)?;
                if args.json {
                    json.push(serde_json::to_value(&tree)?);
                } else {
                    println!("{tree}");
                }
            }
            _ => {
                let src = gridlens::io::open_file(first, spec.dataset.as_deref(), &opts)?;
                let m = src.metadata();
                if args.json {
                    json.push(serde_json::json!({
                        "path": first.display().to_string(),
                        "shape": src.shape(),
                        "dtype": src.dtype().name(),
                        "chunks": src.chunks().max_block_shape(),
                        "attrs": m.attrs.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.to_string()))).collect::<serde_json::Map<_, _>>(),
                    }));
                } else {
                    println!("{}", src.describe());
                    println!("  shape {} {} chunks {}", fmt_shape(&src.shape()), src.dtype(), fmt_shape(&src.chunks().max_block_shape()));
                    for (k, v) in &m.attrs {
                        println!("  @{k} = {v}");
                    }
                }
            }
        }
        if files.len() < 2 {
            continue;
        }
        let total: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
        if !args.json {
            println!("… and {} more files ({} in all)", files.len() - 1, format_bytes(total as usize));
        }
        // what `-i x=PATTERN:DATASET` gives (the file's single data variable when none is named)
        let src = match gridlens::io::open(&spec, &opts) {
            Ok(s) => s,
            Err(e) if spec.dataset.is_none() => {
                if !args.json {
                    println!("(name a dataset, PATTERN:DATASET, to see the array the files make: {})", e.message);
                }
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let first_axis = src.metadata().coords.into_iter().next().flatten();
        let (axis, from, to) = match &first_axis {
            Some(c) if !c.labels.is_empty() => (c.name.clone(), c.labels[0].clone(), c.labels[c.labels.len() - 1].clone()),
            _ => ("file".into(), String::new(), String::new()),
        };
        if args.json {
            json.push(serde_json::json!({
                "stack": s,
                "files": files.len(),
                "size_bytes": total,
                "shape": src.shape(),
                "dtype": src.dtype().name(),
                "chunks": src.chunks().max_block_shape(),
                "first_axis": {"name": axis, "first": from, "last": to},
            }));
        } else {
            println!(
                "as one array: shape {} {} chunks {}, first axis {axis}{}",
                fmt_shape(&src.shape()),
                src.dtype(),
                fmt_shape(&src.chunks().max_block_shape()),
                if from.is_empty() { String::new() } else { format!(" {from} … {to}") }
            );
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::Value::Array(json))?);
    }
    Ok(())
}

/// Statistics of one output block, combined in block order for a deterministic result.
#[derive(Clone, Debug, PartialEq)]
pub struct BlockStats {
    pub sum: f64,
    pub min: f64,
    pub max: f64,
    pub nan_count: u64,
    pub first: f64,
    pub last: f64,
    pub len: usize,
}

impl BlockStats {
    pub fn of(b: &Block) -> BlockStats {
        let mut s = BlockStats {
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            nan_count: 0,
            first: f64::NAN,
            last: f64::NAN,
            len: b.len(),
        };
        if b.is_empty() {
            return s;
        }
        s.first = b.data().get_f64(0);
        s.last = b.data().get_f64(b.len() - 1);
        with_buffer!(b.data(), v => {
            let mut lanes = [0.0f64; 4];
            for (i, x) in v.iter().enumerate() {
                let x = gridlens::Element::to_f64(*x);
                if x.is_nan() {
                    s.nan_count += 1;
                    continue;
                }
                lanes[i % 4] += x;
                if x < s.min { s.min = x; }
                if x > s.max { s.max = x; }
            }
            s.sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
        });
        s
    }
}

/// A number in JSON, which has no infinities or NaN: those are the strings "inf", "-inf" and
/// "nan" (as Python's `float()` reads them back), so that a sign is not lost.
fn json_number(x: f64) -> serde_json::Value {
    match x {
        x if x.is_finite() => serde_json::json!(x),
        x if x.is_nan() => serde_json::json!("nan"),
        x if x > 0.0 => serde_json::json!("inf"),
        _ => serde_json::json!("-inf"),
    }
}

/// The `--stats` line for the whole result.
pub fn stats_json(array: &Array, blocks: &[BlockStats]) -> String {
    let sum: f64 = blocks.iter().map(|b| b.sum).sum();
    let min = blocks.iter().map(|b| b.min).fold(f64::INFINITY, f64::min);
    let max = blocks.iter().map(|b| b.max).fold(f64::NEG_INFINITY, f64::max);
    let nan_count: u64 = blocks.iter().map(|b| b.nan_count).sum();
    let numbers = blocks.iter().map(|b| b.len as u64).sum::<u64>() - nan_count;
    let first = blocks.iter().find(|b| b.len > 0).map_or(f64::NAN, |b| b.first);
    let last = blocks.iter().rev().find(|b| b.len > 0).map_or(f64::NAN, |b| b.last);
    let v = serde_json::json!({
        "shape": array.shape(),
        "dtype": array.dtype().name(),
        "sum": json_number(sum),
        // the extremes of the values that are not NaN (NaN when there are none), infinities kept
        "min": json_number(if numbers > 0 { min } else { f64::NAN }),
        "max": json_number(if numbers > 0 { max } else { f64::NAN }),
        "nan_count": nan_count,
        "first": json_number(first),
        "last": json_number(last),
    });
    v.to_string()
}

/// A small array printed the way NumPy's `print` shows it: nested brackets, aligned columns,
/// `83.` for integral floats.
pub fn format_block(b: &Block) -> String {
    let is_float = b.dtype().is_float();
    let texts: Vec<String> = (0..b.len())
        .map(|i| match b.data() {
            Buffer::Bool(v) => {
                if v[i] {
                    "True".into()
                } else {
                    "False".into()
                }
            }
            Buffer::F32(v) => float_text(v[i] as f64, true),
            Buffer::F64(v) => float_text(v[i], false),
            other => with_buffer!(other, v => format!("{:?}", v[i])),
        })
        .collect();
    let width = texts.iter().map(|t| t.len()).max().unwrap_or(0);
    let shape = b.shape().to_vec();
    if shape.is_empty() {
        return texts[0].clone();
    }
    fn rec(shape: &[usize], d: usize, offset: usize, texts: &[String], width: usize, pad_right: bool, out: &mut String) {
        let stride: usize = shape[d + 1..].iter().product();
        out.push('[');
        for i in 0..shape[d] {
            if i > 0 {
                if d + 1 == shape.len() {
                    out.push(' ');
                } else {
                    out.push_str(&"\n".repeat(shape.len() - d - 1));
                    out.push_str(&" ".repeat(d + 1));
                }
            }
            if d + 1 == shape.len() {
                let t = &texts[offset + i];
                if pad_right {
                    out.push_str(&format!("{t:<width$}"));
                } else {
                    out.push_str(&format!("{t:>width$}"));
                }
            } else {
                rec(shape, d + 1, offset + i * stride, texts, width, pad_right, out);
            }
        }
        out.push(']');
    }
    let mut s = String::new();
    rec(&shape, 0, 0, &texts, width, is_float, &mut s);
    s
}

fn float_text(x: f64, single: bool) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    let t = if single { format!("{}", x as f32) } else { format!("{x}") };
    if t.contains(['.', 'e']) { t } else { format!("{t}.") }
}

type BarHandle = (std::thread::JoinHandle<()>, Arc<std::sync::atomic::AtomicBool>);

/// A progress bar on stderr, when stderr is a terminal.
fn progress_bar(control: &Arc<JobControl>, total: usize) -> Option<BarHandle> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (c, s) = (control.clone(), stop.clone());
    let handle = std::thread::spawn(move || {
        let bar = indicatif::ProgressBar::new(total as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:40} {pos}/{len} tasks {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        while !s.load(std::sync::atomic::Ordering::Relaxed) {
            let snap = c.progress.snapshot();
            bar.set_position(snap.tasks_done() as u64);
            bar.set_message(format!("{} read", format_bytes(snap.bytes_read as usize)));
            std::thread::sleep(Duration::from_millis(100));
        }
        bar.finish_and_clear();
        let _ = std::io::stderr().flush();
    });
    Some((handle, stop))
}

/// Runs `demo-data`.
///
/// # Errors
/// A malformed option or a failed write.
pub fn demo_data(args: &DemoArgs) -> Result<()> {
    let shape = gridlens::io::demo::parse_shape(&args.shape).map_err(|e| anyhow!("--shape: {e}"))?;
    let chunks = gridlens::io::demo::parse_chunks(&args.chunks).map_err(|e| anyhow!("--chunks: {e}"))?;
    let dtype =
        gridlens::DType::parse(&args.dtype).filter(|d| d.is_float()).ok_or_else(|| anyhow!("--dtype {}: expected f8 or f4", args.dtype))?;
    let opts =
        gridlens::io::demo::DemoOptions { days: args.days, shape, dtype, chunks: Some(chunks), seed: args.seed, overwrite: args.overwrite };
    let [rows, cols] = shape;
    let files = gridlens::io::demo::write_demo(&args.dir, &opts, &|done, total| {
        if std::io::stderr().is_terminal() {
            eprint!("\rwriting day {done}/{total}");
        }
    })
    .with_context(|| format!("writing demo data to {}", args.dir.display()))?;
    if std::io::stderr().is_terminal() {
        eprintln!();
    }
    eprintln!("wrote {} files of {rows}x{cols} {dtype} to {}", files.len(), args.dir.display());
    Ok(())
}
