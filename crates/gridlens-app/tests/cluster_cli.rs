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
