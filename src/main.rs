//! The `gridlens` binary: command-line subcommands, or the desktop app when none is given.

mod app;
mod ui;

use clap::Parser;
use gridlens::cli::{self, Cli, Command};
use std::process::ExitCode;

fn main() -> ExitCode {
    install_panic_hook();
    keep_block_memory();
    let cli = Cli::parse();
    let result = match &cli.command {
        Some(Command::Eval(a)) => cli::eval(a),
        Some(Command::Explain(a)) => cli::explain(a),
        Some(Command::Info(a)) => cli::info(a),
        Some(Command::DemoData(a)) => cli::demo_data(a),
        Some(Command::View(a)) => view(a.sources.clone(), a.frame_log.clone()),
        None => view(vec![], None),
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

/// Blocks are megabytes each and come and go by the thousand. glibc would map each one
/// afresh from the kernel and unmap it when freed (a page fault per 4 kB, and zeroing);
/// keeping freed memory in the heap lets the next block reuse it.
///
/// - 32 MiB is the largest mmap threshold glibc accepts on 64-bit systems (a larger value
///   is refused, and setting the trim threshold alone would pin the threshold at its 128 KiB
///   default); blocks larger than that are rare and still mapped.
/// - One arena for all threads: each worker thread would otherwise get an arena of 64 MiB
///   heaps, and a heap that empties is unmapped at once whatever the trim threshold says, so
///   a batch of decoded chunks (32 MiB) was faulted in afresh batch after batch (350,000 page
///   faults in a mean of a 1.4 GB month). Workers allocate a few large blocks per task, so
///   they hardly ever wait for the arena's lock.
fn keep_block_memory() {
    // SAFETY: mallopt only sets allocator parameters; called before any other thread starts.
    unsafe {
        let mapped = libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        let trimmed = libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
        let arenas = libc::mallopt(libc::M_ARENA_MAX, 1);
        debug_assert!(mapped == 1 && trimmed == 1 && arenas == 1, "glibc refused the allocator settings");
    }
}

/// Opens the desktop app.
fn view(sources: Vec<String>, frame_log: Option<std::path::PathBuf>) -> anyhow::Result<()> {
    let options = app::AppOptions { sources, demo: app::data::DemoSpec::default_location(), frame_log, reopen_last: true };
    app::run(options).map_err(|e| anyhow::anyhow!("cannot open a window: {e} (for the command line, see gridlens --help)"))
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
