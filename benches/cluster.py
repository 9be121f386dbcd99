#!/usr/bin/env python3
"""gridlens on a Dask cluster: a local cluster of 2 single-thread workers (`dask scheduler` +
`dask worker --nworkers 2 --nthreads 1`), the same workload three ways, medians of N runs:

  dask      dask.array's own graph on the cluster: one task per storage chunk reading it
            with h5py (as `da.from_array` does), then dask's mean tree
  gridlens  gridlens's graph on the cluster (`Array.to_dask()`): one task per output block,
            per reduction group of up to split_every chunks and per combine, computed by
            gridlens where it runs
  local     gridlens on this machine's two cores (`Array.compute()`), the cluster's floor

With --cli BIN, also the command line: `BIN eval EXPR -o OUT.npy --scheduler-file F` (through
the Python sidecar) beside the same command run locally.

Needs the Python package built in release mode (`cd python && maturin develop --release`)
and dask, distributed, h5py.

    python3 benches/cluster.py --weather DIR [--era5 DIR] [--runs 5] [--cli target/release/gridlens]
"""

import argparse
import glob
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np


def start_cluster(tmp):
    sf = os.path.join(tmp, "scheduler.json")
    sched = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", sf],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while not os.path.exists(sf):
        time.sleep(0.1)
    workers = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file", sf, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    from distributed import Client

    client = Client(scheduler_file=sf)
    client.wait_for_workers(2)
    return client, [workers, sched]


def read_chunk(path, dataset, region):
    """A chunk as xarray would decode it: NetCDF through netCDF4 (mask and scale, fill values
    to NaN), HDF5 through h5py."""
    if path.endswith(".nc"):
        import netCDF4

        with netCDF4.Dataset(path) as f:
            return np.ma.filled(f[dataset.lstrip("/")][region].astype(np.float32), np.nan)
    import h5py

    with h5py.File(path, "r") as f:
        return f[dataset][region]


def dask_stack(files, dataset):
    """dask.array's graph over the files: a task per storage chunk (h5py in the task)."""
    import dask
    import dask.array as da
    import h5py

    with h5py.File(files[0], "r") as f:
        d = f[dataset]
        shape, dtype, chunks = d.shape, d.dtype, d.chunks or d.shape
    blocks = []
    for path in files:
        rows = []
        for r in range(0, shape[-2], chunks[-2]):
            cols = []
            for c in range(0, shape[-1], chunks[-1]):
                region = tuple(slice(None) for _ in shape[:-2]) + (slice(r, min(r + chunks[-2], shape[-2])), slice(c, min(c + chunks[-1], shape[-1])))
                part_shape = tuple(shape[:-2]) + (min(chunks[-2], shape[-2] - r), min(chunks[-1], shape[-1] - c))
                kind = np.float32 if path.endswith(".nc") else dtype
                cols.append(da.from_delayed(dask.delayed(read_chunk)(path, dataset, region), part_shape, kind))
            rows.append(cols)
        blocks.append(da.block(rows))
    return da.stack(blocks) if len(shape) == 2 else da.concatenate(blocks)


def timed(f, runs):
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return statistics.median(times), min(times), max(times), out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--weather")
    ap.add_argument("--era5")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--cli", help="the gridlens binary, to time `eval --scheduler-file` too")
    a = ap.parse_args()
    import dask.array as da
    import gridlens as gl

    workloads = []
    if a.weather:
        workloads.append(("weather mean", sorted(glob.glob(f"{a.weather}/*.hdf5")), "/t2m", "nanmean(x, axis=0)"))
    if a.era5:
        workloads.append(("ERA5 month mean", sorted(glob.glob(f"{a.era5}/*.nc")), "/t2m", "nanmean(x, axis=0)"))
    with tempfile.TemporaryDirectory() as tmp:
        client, procs = start_cluster(tmp)
        scheduler_file = os.path.join(tmp, "scheduler.json")
        try:
            for label, files, dataset, expr in workloads:
                source = os.path.join(os.path.dirname(files[0]), "*" + os.path.splitext(files[0])[1]) + ":" + dataset
                g = gl.evaluate(expr, x=source)
                d = dask_stack(files, dataset)
                n_dask = len(da.nanmean(d, axis=0).__dask_graph__())
                n_gl = len(g.to_dask().__dask_graph__())
                # warm the page cache and the workers' imports
                g.compute()
                client.compute(g.to_dask()).result()
                local = timed(lambda: g.compute(), a.runs)
                gl_cluster = timed(lambda: client.compute(g.to_dask()).result(), a.runs)
                dk = timed(lambda: client.compute(da.nanmean(d, axis=0)).result(), a.runs)
                np.testing.assert_allclose(gl_cluster[3], dk[3], rtol=1e-5)  # dask folds float32 in float32
                assert np.array_equal(gl_cluster[3], local[3]), "cluster and local differ"
                cli = {}
                if a.cli:
                    out = os.path.join(tmp, "out.npy")
                    base = [a.cli, "eval", expr, "-i", f"x={source}", "-o", out, "--overwrite"]
                    env = dict(os.environ, GRIDLENS_PYTHON=sys.executable)
                    run = lambda extra: subprocess.run(base + extra, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                    run(["--scheduler-file", scheduler_file])
                    cli_cluster = timed(lambda: run(["--scheduler-file", scheduler_file]), a.runs)
                    cli_local = timed(lambda: run([]), a.runs)
                    cli = {"cli_cluster_s": round(cli_cluster[0], 3), "cli_local_s": round(cli_local[0], 3), "cli_cluster_over_local": round(cli_cluster[0] / cli_local[0], 2)}
                print(
                    json.dumps(
                        {
                            **cli,
                            "workload": label,
                            "bytes": sum(os.path.getsize(f) for f in files),
                            "dask_tasks": n_dask,
                            "gridlens_tasks": n_gl,
                            "dask_s": round(dk[0], 3),
                            "gridlens_cluster_s": round(gl_cluster[0], 3),
                            "gridlens_local_s": round(local[0], 3),
                            "dask_over_gridlens": round(dk[0] / gl_cluster[0], 2),
                            "cluster_over_local": round(gl_cluster[0] / local[0], 2),
                            "ranges": {"dask": [round(dk[1], 3), round(dk[2], 3)], "cluster": [round(gl_cluster[1], 3), round(gl_cluster[2], 3)], "local": [round(local[1], 3), round(local[2], 3)]},
                        }
                    ),
                    flush=True,
                )
        finally:
            client.close()
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(timeout=30)


if __name__ == "__main__":
    main()
