//! The `gridlens` binary: command-line subcommands, or the desktop app when none is given.

mod app;
mod cli;
mod cluster;
mod map;
mod ui;

use clap::Parser;
use cli::{Cli, Command};
use std::process::ExitCode;

/// mimalloc rather than glibc's allocator. Blocks are megabytes each and come and go by the
/// thousand, and glibc unmaps a thread arena's heap as soon as it empties, so a batch of
/// decoded chunks was faulted in afresh batch after batch (350,000 page faults in a mean of
/// a 1.4 GB month); one arena for all threads cured that but made the thousands of small
/// allocations of indexing a set of files wait on its lock (opening 10,958 files: 1.2 s,
/// against 0.7 s with mimalloc, which keeps freed memory per thread).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    install_panic_hook();
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Eval(a)) => cli::eval(a),
        Some(Command::Explain(a)) => cli::explain(a),
        Some(Command::Info(a)) => cli::info(a),
        Some(Command::DemoData(a)) => cli::demo_data(a),
        Some(Command::View(a)) => view(a),
        None => view(&cli::ViewArgs::default()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line: the causes joined, never a backtrace.
            let msg: Vec<String> = e.chain().map(|c| c.to_string()).collect();
            eprintln!("error: {}", msg.join(": "));
            ExitCode::FAILURE
        }
    }
}

/// Opens the desktop app.
fn view(args: &cli::ViewArgs) -> anyhow::Result<()> {
    let preset = match args.preset.as_deref() {
        None => None,
        Some(name) => Some((
            app::operation::Preset::parse(name)
                .ok_or_else(|| anyhow::anyhow!("--preset {name}: expected time-mean, day-mean, subsample or single-day"))?,
            args.day,
        )),
    };
    let keep = match args.keep_decoded.as_str() {
        "during" => app::job::KeepDecoded::During,
        "after" => app::job::KeepDecoded::After,
        "auto" => app::job::KeepDecoded::Auto,
        other => anyhow::bail!("--keep-decoded {other}: expected during, after or auto"),
    };
    limit_software_rasterizer();
    let options = app::AppOptions {
        sources: args.sources.clone(),
        demo: app::data::DemoSpec::default_location(),
        frame_log: args.frame_log.clone(),
        reopen_last: true,
        preset,
        tuning: app::job::JobTuning { keep, ..Default::default() },
        map: app::MapOptions {
            projection: args.projection.as_deref().map(cli::parse_projection).transpose()?,
            centre: args.centre.as_deref().map(|c| cli::parse_centre(Some(c))).transpose()?,
        },
    };
    app::run(options).map_err(|e| anyhow::anyhow!("cannot open a window: {e} (for the command line, see gridlens --help)"))
}

/// On a machine without a GPU, Mesa's llvmpipe draws the window with a thread per core at
/// normal priority, which took both cores from the engine's workers (the app's time mean of
/// a 1 GB stack took 23× the command line's). It reads its thread count once, when the
/// driver loads, so it is set before the window exists: none on up to three cores (the
/// window is then drawn on the UI thread), a quarter of the cores beyond. GPU drivers ignore
/// the variable; a value the user set is kept.
fn limit_software_rasterizer() {
    if std::env::var_os("LP_NUM_THREADS").is_none() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        // SAFETY: called before the window, the engine or any other thread starts.
        unsafe { std::env::set_var("LP_NUM_THREADS", (cores / 4).to_string()) };
    }
}

/// Panics inside engine workers become job errors; keep their default report off the terminal.
/// Anywhere else a panic is a bug: report it on one line.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let worker = std::thread::current().name().is_some_and(|n| n.starts_with("gridlens-worker"));
        if !worker {
            let msg = info
                .payload()
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| info.payload().downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown".into());
            eprintln!("error: internal error: {msg}");
        }
    }));
}
