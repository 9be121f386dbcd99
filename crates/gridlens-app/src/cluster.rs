//! Computing on a Dask cluster: through a Python process that owns the `distributed.Client`
//! (`python -m gridlens.sidecar`, in the Python package), spoken to over a pipe, so that this
//! binary never links libpython. The Python is `GRIDLENS_PYTHON`, or `python3` on PATH. The
//! protocol is written down in the sidecar's docstring: one JSON request line in; JSON event
//! lines out, a block's bytes after its event.

use anyhow::{Context, Result, anyhow, bail};
use gridlens::chunks::Chunks;
use gridlens::exec::CancelToken;
use gridlens::{Block, DType};
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where the cluster's scheduler is, as `dask worker` takes it.
#[derive(Clone, Debug, PartialEq)]
pub enum Scheduler {
    /// `tcp://HOST:PORT`
    Address(String),
    /// The JSON file `dask scheduler --scheduler-file` wrote.
    File(PathBuf),
}

impl std::fmt::Display for Scheduler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Scheduler::Address(a) => f.write_str(a),
            Scheduler::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One worker of the cluster, as its scheduler describes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Worker {
    pub address: String,
    pub threads: usize,
    pub memory: u64,
}

/// What the cluster reports while it computes.
#[derive(Debug)]
pub enum Event {
    /// Connected: the workers, and the Dask tasks and output blocks of the job.
    Connected { workers: Vec<Worker>, tasks: usize, blocks: usize },
    /// Output block `index` (linear, C order of the result's blocks), computed by `worker` on
    /// its thread `thread` from `start` to `stop` (seconds since the epoch, the worker's clock).
    Block { index: usize, block: Block, worker: String, thread: u64, start: f64, stop: f64 },
}

/// The Python that runs the sidecar.
pub fn python() -> OsString {
    std::env::var_os("GRIDLENS_PYTHON").unwrap_or_else(|| "python3".into())
}

/// Computes `expr` over `inputs` (name → SOURCE) on the cluster at `scheduler`; every output
/// block goes to `on_event` as it arrives (in C order of submission, a window at a time).
/// `chunks` and `dtype` are the result's, as planned here. Cancelling `cancel` cancels the
/// job on the cluster.
///
/// # Errors
/// A Python without the package or `distributed` (saying what to install), a scheduler that
/// cannot be reached, a failure on a worker (naming the worker), or `on_event`'s own error.
pub fn compute(
    scheduler: &Scheduler,
    expr: &str,
    inputs: &[(String, String)],
    chunks: &Chunks,
    dtype: DType,
    cancel: &CancelToken,
    on_event: &mut dyn FnMut(Event) -> Result<()>,
) -> Result<()> {
    let python = python();
    let shown = python.to_string_lossy().into_owned();
    let mut child = Command::new(&python)
        .args(["-m", "gridlens.sidecar"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| {
            format!("cannot run Python ({shown}) for the Dask cluster; set GRIDLENS_PYTHON to a Python with gridlens and distributed")
        })?;
    let (address, file) = match scheduler {
        Scheduler::Address(a) => (Some(a.clone()), None),
        Scheduler::File(p) => (None, Some(p.display().to_string())),
    };
    let request = serde_json::json!({ "expr": expr, "inputs": inputs, "scheduler": address, "scheduler_file": file });
    let stdin = Arc::new(Mutex::new(child.stdin.take()));
    if let Some(s) = stdin.lock().expect("stdin lock").as_mut() {
        // a sidecar that failed at once has closed its end: its stderr says why, below
        let _ = writeln!(s, "{request}").and_then(|()| s.flush());
    }
    // the last lines of the sidecar's stderr, for a failure before its first event
    let stderr = child.stderr.take().expect("piped");
    let tail = Arc::new(Mutex::new(Vec::<String>::new()));
    let tail_reader = {
        let tail = tail.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
                let mut t = tail.lock().expect("stderr lock");
                t.push(line);
                if t.len() > 20 {
                    t.remove(0);
                }
            }
        })
    };
    // cancel: one line to the sidecar, which cancels the futures on the cluster
    let finished = Arc::new(AtomicBool::new(false));
    let canceller = {
        let (finished, stdin, cancel) = (finished.clone(), stdin.clone(), cancel.clone());
        std::thread::spawn(move || {
            while !finished.load(Ordering::Relaxed) {
                if cancel.is_cancelled() {
                    if let Some(s) = stdin.lock().expect("stdin lock").as_mut() {
                        let _ = writeln!(s, "cancel").and_then(|()| s.flush());
                    }
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let result = read_events(&mut out, chunks, dtype, scheduler, on_event);
    finished.store(true, Ordering::Relaxed);
    // closing stdin ends the sidecar (it cancels whatever is left)
    stdin.lock().expect("stdin lock").take();
    let _ = canceller.join();
    let status = match &result {
        Ok(Outcome::Done) => child.wait().ok(),
        _ => {
            // give it a moment to cancel on the cluster and close the client, then stop it
            let deadline = std::time::Instant::now() + Duration::from_secs(5);
            loop {
                match child.try_wait() {
                    Ok(Some(s)) => break Some(s),
                    Ok(None) if std::time::Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
                    _ => {
                        let _ = child.kill();
                        break child.wait().ok();
                    }
                }
            }
        }
    };
    let _ = tail_reader.join();
    match result {
        Ok(Outcome::Done) => Ok(()),
        Ok(Outcome::Cancelled) => bail!("cancelled"),
        Ok(Outcome::Failed(message)) => bail!("on the Dask cluster at {scheduler}: {message}"),
        Err(e) if e.downcast_ref::<Silent>().is_some() => {
            let tail = tail.lock().expect("stderr lock").join("\n");
            if tail.contains("No module named gridlens") || tail.contains("No module named 'gridlens'") {
                bail!(
                    "the Python at {shown} lacks the gridlens package: install it with `pip install ./python distributed` from a gridlens checkout, or set GRIDLENS_PYTHON to a Python that has both"
                );
            }
            let last = tail.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
            let code = status.and_then(|s| s.code()).map_or_else(|| "a signal".to_string(), |c| format!("status {c}"));
            bail!("the Dask sidecar ({shown} -m gridlens.sidecar) stopped with {code}: {last}")
        }
        Err(e) => Err(e),
    }
}

enum Outcome {
    Done,
    Cancelled,
    Failed(String),
}

/// The sidecar ended without a word (it could not start): its stderr says why.
#[derive(Debug)]
struct Silent;

impl std::fmt::Display for Silent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the sidecar ended without an event")
    }
}

impl std::error::Error for Silent {}

fn read_events(
    out: &mut impl BufRead,
    chunks: &Chunks,
    dtype: DType,
    scheduler: &Scheduler,
    on_event: &mut dyn FnMut(Event) -> Result<()>,
) -> Result<Outcome> {
    let mut line = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line)? == 0 {
            return Err(Silent.into());
        }
        let event: serde_json::Value = serde_json::from_str(&line)
            .map_err(|e| anyhow!("the Dask sidecar wrote something that is not an event ({e}): {}", line.trim()))?;
        let text = |k: &str| event[k].as_str().unwrap_or_default().to_string();
        match event["event"].as_str() {
            Some("connected") => {
                let workers = event["workers"]
                    .as_array()
                    .map(|ws| {
                        ws.iter()
                            .map(|w| Worker {
                                address: w["address"].as_str().unwrap_or_default().to_string(),
                                threads: w["nthreads"].as_u64().unwrap_or(1) as usize,
                                memory: w["memory"].as_u64().unwrap_or(0),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let count = |k: &str| event[k].as_u64().unwrap_or(0) as usize;
                on_event(Event::Connected { workers, tasks: count("tasks"), blocks: count("blocks") })?;
            }
            Some("block") => {
                let index = event["index"].as_u64().ok_or_else(|| anyhow!("a block event without an index"))? as usize;
                if index >= chunks.num_blocks() {
                    bail!("the cluster sent block {index} of a result of {} blocks", chunks.num_blocks());
                }
                let shape = chunks.block_shape(&chunks.block_index(index));
                let nbytes = event["nbytes"].as_u64().unwrap_or(0) as usize;
                let want = shape.iter().product::<usize>() * dtype.size_bytes();
                if nbytes != want {
                    bail!(
                        "block {index} from the cluster has {nbytes} bytes; {want} were expected (is the cluster's gridlens another version?)"
                    );
                }
                let mut bytes = vec![0u8; nbytes];
                out.read_exact(&mut bytes).with_context(|| format!("reading block {index} from the Dask sidecar"))?;
                // (nbytes was checked above: whole elements)
                let data = gridlens::exec::piece::native(dtype, &bytes);
                drop(bytes);
                on_event(Event::Block {
                    index,
                    block: Block::new(shape, data),
                    worker: text("worker"),
                    thread: event["thread"].as_u64().unwrap_or(0),
                    start: event["start"].as_f64().unwrap_or(0.0),
                    stop: event["stop"].as_f64().unwrap_or(0.0),
                })?;
            }
            Some("done") => return Ok(Outcome::Done),
            Some("cancelled") => return Ok(Outcome::Cancelled),
            Some("error") => return Ok(Outcome::Failed(text("message"))),
            _ => bail!("the Dask sidecar for {scheduler} wrote an unknown event: {}", line.trim()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(text: &[u8]) -> (Result<Outcome>, Vec<Event>) {
        let chunks = Chunks::new(vec![vec![2, 1]]);
        let mut got = Vec::new();
        let r =
            read_events(&mut std::io::Cursor::new(text.to_vec()), &chunks, DType::F32, &Scheduler::Address("tcp://x:1".into()), &mut |e| {
                got.push(e);
                Ok(())
            });
        (r, got)
    }

    #[test]
    fn events_and_blocks_are_read_as_the_sidecar_writes_them() {
        let mut text =
            br#"{"event": "connected", "workers": [{"address": "tcp://a:1", "nthreads": 2, "memory": 10}], "tasks": 3, "blocks": 2}
{"event": "block", "index": 0, "nbytes": 8, "worker": "tcp://a:1", "thread": 7, "start": 1.0, "stop": 2.0}
"#
            .to_vec();
        text.extend(1.5f32.to_ne_bytes());
        text.extend((-2.0f32).to_ne_bytes());
        text.extend(b"{\"event\": \"done\"}\n");
        let (r, got) = events(&text);
        assert!(matches!(r.unwrap(), Outcome::Done));
        assert!(matches!(&got[0], Event::Connected { workers, tasks: 3, blocks: 2 } if workers[0].threads == 2));
        match &got[1] {
            Event::Block { index: 0, block, worker, .. } => {
                assert_eq!(block.to_f32_vec(), vec![1.5, -2.0]);
                assert_eq!(worker, "tcp://a:1");
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn a_wrong_block_size_and_a_silent_end_are_errors() {
        let (r, _) = events(b"{\"event\": \"block\", \"index\": 1, \"nbytes\": 8}\n");
        assert!(r.err().unwrap().to_string().contains("4 were expected"));
        let (r, _) = events(b"");
        assert!(r.err().unwrap().downcast_ref::<Silent>().is_some());
        let (r, _) = events(b"{\"event\": \"error\", \"message\": \"on worker tcp://a:1: gone\"}\n");
        assert!(matches!(r.unwrap(), Outcome::Failed(m) if m.contains("tcp://a:1")));
    }
}
