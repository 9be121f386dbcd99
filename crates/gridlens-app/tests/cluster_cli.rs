//! `gridlens eval --scheduler` on a Dask cluster started here (`dask scheduler` and two
//! single-thread `dask worker`s, as a user starts them), through the Python of
//! `GRIDLENS_PYTHON` with the gridlens package: the files written equal a local run's byte for
//! byte, and a Python without the package or a scheduler that is not there say so in one line.
//! Without that Python the tests say so and pass, unless `GRIDLENS_REQUIRE_PYTHON=1` (CI).

use assert_cmd::Command;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

fn weather() -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/weather-small");
    format!("x={}/*.hdf5:/t2m", dir.display())
}

fn gridlens() -> Command {
    Command::cargo_bin("gridlens").expect("binary built")
}

/// The Python with gridlens and distributed, or `None` (the test is skipped) outside CI.
fn python() -> Option<PathBuf> {
    let require = std::env::var_os("GRIDLENS_REQUIRE_PYTHON").is_some_and(|v| v == "1");
    let python = std::env::var_os("GRIDLENS_PYTHON").map(PathBuf::from);
    let ok = python.as_ref().is_some_and(|p| {
        std::process::Command::new(p).args(["-c", "import gridlens, distributed"]).output().is_ok_and(|o| o.status.success())
    });
    if !ok {
        assert!(!require, "GRIDLENS_REQUIRE_PYTHON=1 but GRIDLENS_PYTHON ({python:?}) lacks gridlens or distributed");
        eprintln!("note: no GRIDLENS_PYTHON with gridlens and distributed; the cluster tests are skipped");
        return None;
    }
    python
}

/// A local Dask cluster, stopped by its processes' ids when dropped.
struct Cluster {
    scheduler: Child,
    workers: Child,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl Cluster {
    fn start(python: &Path) -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("scheduler.json");
        let spawn = |args: &[&str]| {
            std::process::Command::new(python)
                .args(args)
                .env("DASK_DISTRIBUTED__WORKER__DAEMON", "False")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start dask")
        };
        let f = file.to_str().unwrap();
        let scheduler =
            spawn(&["-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", f]);
        let deadline = Instant::now() + Duration::from_secs(60);
        while !file.exists() {
            assert!(Instant::now() < deadline, "the scheduler did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let workers =
            spawn(&["-m", "distributed.cli.dask_worker", "--scheduler-file", f, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"]);
        let cluster = Cluster { scheduler, workers, file, _dir: dir };
        // wait for both workers, as a user would with client.wait_for_workers
        let wait = format!(
            "from distributed import Client; c = Client(scheduler_file={:?}, timeout=60); c.wait_for_workers(2, timeout=60); c.close()",
            cluster.file.to_str().unwrap()
        );
        let ok = std::process::Command::new(python).args(["-c", &wait]).status().expect("wait for workers");
        assert!(ok.success(), "the workers did not start");
        cluster
    }

    fn address(&self) -> String {
        let info: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&self.file).unwrap()).unwrap();
        info["address"].as_str().unwrap().to_string()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in [&mut self.workers, &mut self.scheduler] {
            // SAFETY: a signal to a child process this test started and has not reaped.
            unsafe { libc::kill(p.id() as i32, libc::SIGTERM) };
        }
        for p in [&mut self.workers, &mut self.scheduler] {
            let deadline = Instant::now() + Duration::from_secs(20);
            while p.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = p.kill();
                    let _ = p.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

fn eval_to(out: &Path, expr: &str, extra: &[&str], python: &Path) -> std::process::Output {
    let mut cmd = gridlens();
    cmd.env("GRIDLENS_PYTHON", python).args(["eval", expr, "-i", &weather(), "-o", out.to_str().unwrap()]).args(extra);
    cmd.output().expect("runs")
}

#[test]
fn the_cluster_writes_what_a_local_run_writes_byte_for_byte() {
    let Some(python) = python() else { return };
    let cluster = Cluster::start(&python);
    let dir = tempfile::tempdir().unwrap();
    let file = cluster.file.to_str().unwrap().to_string();
    let address = cluster.address();
    for (i, (expr, on)) in [
        ("x.mean(axis=0)", ["--scheduler-file", file.as_str()]),
        ("x[3] - nanmean(x, axis=0)", ["--scheduler", address.as_str()]),
        ("x[:, ::2, ::3].std(axis=0)", ["--scheduler", address.as_str()]),
    ]
    .into_iter()
    .enumerate()
    {
        let local = dir.path().join(format!("local{i}.npy"));
        let remote = dir.path().join(format!("cluster{i}.npy"));
        let out = eval_to(&local, expr, &[], &python);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let out = eval_to(&remote, expr, &on, &python);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{expr}: {stderr}");
        assert!(stderr.contains("2 workers, 2 threads"), "{stderr}");
        assert_eq!(std::fs::read(&local).unwrap(), std::fs::read(&remote).unwrap(), "{expr}: the cluster's file differs");
    }
    // and to Zarr, whose chunks the cluster's blocks fill in any order
    let zarr = dir.path().join("mean.zarr");
    let out = eval_to(&zarr, "x.mean(axis=0)", &["--scheduler", &address], &python);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let local = dir.path().join("mean.npy");
    assert!(eval_to(&local, "x.mean(axis=0)", &[], &python).status.success());
    let back = dir.path().join("back.npy");
    let out = gridlens().args(["eval", "y", "-i", &format!("y={}", zarr.display()), "-o", back.to_str().unwrap()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&local).unwrap(), std::fs::read(&back).unwrap());
}

#[test]
fn a_python_without_the_package_says_what_to_install() {
    // a Python that surely lacks the package: the interpreter in isolated mode (-I) would be
    // simplest, but the sidecar is started with `-m`; a tiny wrapper hides site-packages
    let Some(python) = python() else { return };
    let dir = tempfile::tempdir().unwrap();
    let wrapper = dir.path().join("python-without-gridlens");
    std::fs::write(&wrapper, format!("#!/bin/sh\nexec {:?} -I -S \"$@\"\n", python.to_str().unwrap())).unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let out = gridlens()
        .env("GRIDLENS_PYTHON", &wrapper)
        .args(["eval", "x.mean(axis=0)", "-i", &weather(), "--stats", "--scheduler", "tcp://127.0.0.1:1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("lacks the gridlens package") && stderr.contains("pip install"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
}

#[test]
fn a_scheduler_that_is_not_there_is_named() {
    let Some(python) = python() else { return };
    let out = gridlens()
        .env("GRIDLENS_PYTHON", &python)
        .env("GRIDLENS_CONNECT_TIMEOUT", "3")
        .args(["eval", "x.mean(axis=0)", "-i", &weather(), "--stats", "--scheduler", "tcp://127.0.0.1:9"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("cannot reach the Dask scheduler at tcp://127.0.0.1:9"), "{stderr}");
}

#[test]
fn a_killed_command_leaves_nothing_running_on_the_cluster() {
    use std::io::{BufRead, BufReader, Write};
    let Some(python) = python() else { return };
    let cluster = Cluster::start(&python);
    // a client of its own that watches the cluster from the moment it is told to
    let watch = format!(
        "import sys, time\nfrom distributed import Client\nc = Client(scheduler_file={:?}, timeout=60)\nprint('ready', flush=True)\nsys.stdin.readline()\nt = time.time()\nwhile time.time() - t < 30:\n    busy = sum(len(v) for v in c.processing().values()) + sum(len(v) for v in c.has_what().values())\n    if busy == 0:\n        break\n    time.sleep(0.05)\nprint(f'{{busy}} {{time.time() - t:.3f}}', flush=True)\n",
        cluster.file.to_str().unwrap()
    );
    let mut watcher =
        std::process::Command::new(&python).args(["-c", &watch]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut watched = BufReader::new(watcher.stdout.take().unwrap());
    let mut line = String::new();
    watched.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    // hundreds of blocks of some tens of milliseconds each: seconds on two workers
    let mut job = std::process::Command::new(assert_cmd::cargo::cargo_bin("gridlens"))
        .env("GRIDLENS_PYTHON", &python)
        .args([
            "eval",
            "(x + random.normal(0, 1, size=(31, 180, 360), chunks=(31, 10, 10), seed=7)).std(axis=0)",
            "-i",
            &weather(),
            "--stats",
        ])
        .args(["--scheduler-file", cluster.file.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(job.stderr.take().unwrap());
    let mut said = String::new();
    stderr.read_line(&mut said).unwrap();
    assert!(said.contains("on the Dask cluster"), "{said}");
    std::thread::sleep(Duration::from_millis(700));
    assert!(job.try_wait().unwrap().is_none(), "the job ended before the kill: make it longer");
    // the harshest end: no chance to say goodbye; the sidecar sees its pipes close
    job.kill().unwrap();
    job.wait().unwrap();
    writeln!(watcher.stdin.take().unwrap(), "go").unwrap();
    line.clear();
    watched.read_line(&mut line).unwrap();
    let _ = watcher.wait();
    let (busy, seconds) = line.trim().split_once(' ').unwrap();
    assert_eq!(busy, "0", "tasks still running or held on the cluster 30 s after the kill");
    let seconds: f64 = seconds.parse().unwrap();
    // about a second is the aim; a loaded CI machine gets some slack
    assert!(seconds < 5.0, "the cluster took {seconds} s to drop a killed job");
    eprintln!("the cluster was idle {seconds:.2} s after the kill");
}
